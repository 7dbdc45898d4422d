//! tracewarden's exporter: one module per concern, wired together by `main.rs`.
//!
//! - `probe`: loads and attaches the kernel programs, reads and writes their maps (the only
//!   user of aya).
//! - `container`: cgroup id -> container identity (path patterns, OCI runtime state, cache).
//! - `syscalls`: syscall number -> name for x86_64 and aarch64.
//! - `metrics`: renders the Prometheus text exposition from map snapshots.
//! - `server`: HTTP serving (the endpoints) and the HTTP client (the only user of hyper).
//! - `rules`: the Falco-compatible rule language (parse, compile, evaluate, lint).
//! - `cli`: command-line flags and their validation.

pub mod alerts;
pub mod cli;
pub mod collector;
pub mod container;
pub mod decode;
pub mod detect;
pub mod kernel_layout;
pub mod metrics;
pub mod prefilter;
pub mod privileges;
pub mod probe;
pub mod process;
pub mod reload;
pub mod rules;
pub mod server;
pub mod syscalls;
pub mod watched;
