//! tracewarden's exporter, one module per stage; `main.rs` only wires them. Arrows point down
//! the stages (kernel -> detect -> metrics and alerts); nothing calls back up.
//!
//! - `kernel`: loads and attaches the kernel programs, reads and writes their maps, compiles
//!   the rules' prefilter tables (the only user of aya).
//! - `container`: cgroup id -> container identity (path patterns, OCI runtime state, cache).
//! - `rules`: rule front ends (Falco YAML) -> one rule IR -> evaluator, kernel predicates,
//!   lints and the `rules` CLI.
//! - `detect`: decodes the kernel's records into rule events, keeps the process table,
//!   resolves paths and evaluates the rules.
//! - `metrics`: the Prometheus text exposition and the counters it shows.
//! - `baseline`: a learned behaviour profile per container image, deviations as alerts.
//! - `alerts`: alert events, rate limits and outputs (file, syslog, webhook, Alertmanager, Kafka).
//! - `server`: HTTP serving and the HTTP client (the only user of hyper).
//! - `response`: Alertmanager notifications -> freeze, kill or log a container, by policy.
//! - `app`: the running exporter's shared state, loops and rule reloads.
//! - `syscalls`: syscall number <-> name for x86_64 and aarch64, and their arguments.
//! - `privileges`: the capabilities the exporter needs and the ones it keeps.
//! - `cli`: command-line flags and their validation.

pub mod alerts;
pub mod app;
pub mod baseline;
pub mod cli;
pub mod container;
pub mod detect;
pub mod kernel;
pub mod metrics;
pub mod privileges;
pub mod response;
pub mod rules;
pub mod server;
pub mod syscalls;

// The skip policy of tests that need this machine's kernel, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/prerequisite.rs"]
mod prerequisite;
