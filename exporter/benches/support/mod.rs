//! What the benches share: the release exporter on a free port, plain HTTP to it, the sum of a
//! family's samples, medians, and a one-line failure; runc containers, SigmaHQ's rule files and
//! per-program kernel time in submodules.
#![allow(dead_code)] // each bench uses its own subset

pub mod bpf_stats;
pub mod runc;
pub mod sigma;

use std::{
    io::{Read, Write},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The release exporter with `extra` flags on a free port, once /healthz answers. Its alerts
/// (stdout) are discarded.
pub fn start_exporter(extra: &[&str]) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_exporter"))
        // Unpinned: each setup counts from zero.
        .args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--log-level", "warn", "--bpf.pin-dir", ""])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("starting the exporter: {e}")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while http(port, "GET", "/healthz").is_err() {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            fail("the exporter did not come up");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

/// A workload's command with the environment runc gives a container's process (PATH and TERM
/// only), not the bench's: `cargo bench` sets `LD_LIBRARY_PATH` to its build directories, and
/// each dynamic program would try every one of them for each library it loads (`cat` + `ls`: 838
/// syscalls instead of 374, the difference failed opens).
pub fn plain_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TERM", "xterm");
    command
}

/// One request to 127.0.0.1:`port`; the whole response, head included.
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The sum of the samples in `body` whose line starts with `prefix`.
pub fn sum_of(body: &str, prefix: &str) -> f64 {
    body.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

pub fn fail(message: &str) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(1);
}
