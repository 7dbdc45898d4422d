//! Builds the kernel programs (`exporter-ebpf`) for the BPF target with aya-build, so the
//! exporter embeds an object compiled from this very source tree. Needs the nightly toolchain
//! with rust-src and bpf-linker: `scripts/bootstrap.sh` installs both.

use std::path::Path;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let ebpf_dir = Path::new(&manifest_dir).join("../exporter-ebpf");
    let root_dir = ebpf_dir.to_str().context("exporter-ebpf path is not UTF-8")?;
    let package = aya_build::Package { name: "exporter-ebpf", root_dir, ..Default::default() };
    aya_build::build_ebpf([package], aya_build::Toolchain::default()).context(
        "building the kernel programs failed; run scripts/bootstrap.sh to install nightly rust-src and bpf-linker",
    )
}
