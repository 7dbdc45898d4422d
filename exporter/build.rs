//! Builds the kernel programs (`exporter-ebpf`) for the BPF target with aya-build, so the
//! exporter embeds an object compiled from this very source tree. Needs the nightly toolchain
//! with rust-src and bpf-linker: `scripts/bootstrap.sh` installs both.
//!
//! aya-build relays every line of the inner cargo's output as a `cargo:warning`, hundreds on a
//! fresh build. They are caught in a file (this script's stdout is pointed there while it runs)
//! and shown only when the build fails; a success is one line.

use std::{
    fs::File,
    io::Write as _,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let ebpf_dir = Path::new(&manifest_dir).join("../exporter-ebpf");
    let root_dir = ebpf_dir.to_str().context("exporter-ebpf path is not UTF-8")?;
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    let package = aya_build::Package { name: "exporter-ebpf", root_dir, ..Default::default() };
    let log_path = out_dir.join("kernel-build.log");
    let built = with_stdout_to(&log_path, || aya_build::build_ebpf([package], aya_build::Toolchain::default()))?;
    let log = std::fs::read_to_string(&log_path).with_context(|| format!("reading {}", log_path.display()))?;
    let mut stdout = std::io::stdout().lock();
    let mut relayed = 0;
    for line in log.lines() {
        // Instructions to cargo (rerun-if-changed, ...) always pass; the relayed output only on failure.
        if !line.starts_with("cargo:warning=") || built.is_err() {
            writeln!(stdout, "{line}")?;
        } else {
            relayed += 1;
        }
    }
    match built {
        Ok(()) => {
            writeln!(
                stdout,
                "cargo:warning=kernel programs built ({relayed} lines of output in {})",
                log_path.display()
            )?;
            Ok(())
        }
        Err(e) => Err(e).context(
            "building the kernel programs failed; run scripts/bootstrap.sh to install nightly rust-src and bpf-linker",
        ),
    }
}

/// Runs `f` with this process's stdout (file descriptor 1) writing to `path`.
fn with_stdout_to<T>(path: &Path, f: impl FnOnce() -> T) -> anyhow::Result<T> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    std::io::stdout().flush()?;
    // SAFETY: dup and dup2 on valid descriptors; stdout is restored before returning.
    let saved = unsafe { libc::dup(1) };
    anyhow::ensure!(saved >= 0, "dup(stdout): {}", std::io::Error::last_os_error());
    anyhow::ensure!(unsafe { libc::dup2(file.as_raw_fd(), 1) } >= 0, "dup2: {}", std::io::Error::last_os_error());
    let result = f();
    std::io::stdout().flush()?;
    let restored = unsafe { libc::dup2(saved, 1) };
    unsafe { libc::close(saved) };
    anyhow::ensure!(restored >= 0, "restoring stdout: {}", std::io::Error::last_os_error());
    Ok(result)
}
