//! When a test that needs something of this machine (root, kernel BTF, cgroup v2, runc, the
//! kernel's UAPI headers) may skip instead of failing. Shared by the integration tests and the
//! crate's unit tests (lib.rs includes this file under `cfg(test)`), so both follow one policy.
//!
//! A missing prerequisite fails the test. A developer without one can opt out with
//! `TRACEWARDEN_SKIP_KERNEL_TESTS=1`; the test is then skipped, and the skip is appended to the
//! file `$TRACEWARDEN_SKIP_LOG` names (`make test` counts them). Under `CI=true` the opt-out is
//! ignored: CI machines have everything, so a missing piece there is a broken machine.

/// The opt-out: set to `1` to skip tests whose prerequisite this machine lacks.
pub const OPT_OUT: &str = "TRACEWARDEN_SKIP_KERNEL_TESTS";

/// The file each skip is appended to, one line per skipped test.
pub const SKIP_LOG: &str = "TRACEWARDEN_SKIP_LOG";

/// `found` when the prerequisite is there; otherwise `None` when `test` may skip (logged), or a
/// panic naming what is missing.
pub fn needs<T>(test: &str, found: Result<T, String>) -> Option<T> {
    let missing = match found {
        Ok(value) => return Some(value),
        Err(missing) => missing,
    };
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let opted_out = std::env::var(OPT_OUT).as_deref() == Ok("1");
    if ci {
        panic!("{test}: cannot run under CI=true: {missing} ({OPT_OUT} is ignored under CI)");
    }
    if !opted_out {
        panic!("{test}: cannot run: {missing} (set {OPT_OUT}=1 to skip it, counted by make test)");
    }
    eprintln!("SKIP {test}: {missing}");
    if let Ok(log) = std::env::var(SKIP_LOG) {
        use std::io::Write;
        // One append per line: test binaries running at the same time do not interleave lines.
        let line = format!("{test}: {missing}\n");
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            panic!("{test}: skipped, but the skip could not be logged to {log}: {e}");
        }
    }
    None
}
