//! What happens to an [`Alert`](crate::rules::Alert) after a rule matched: rate limiting and
//! delivery to every configured output, plus the `--record` event recorder.
//!
//! ```text
//! detection ── Dispatcher::submit(&Alert) ── token bucket per (rule, container_id)
//!                 (never waits)                │ suppressed: counted per rule, carried as
//!                                              │ "suppressed": N by the next alert that passes
//!                                              ├─ try_send ─> [queue] ─> stdout     (thread)
//!                                              ├─ try_send ─> [queue] ─> file       (thread, rotation)
//!                                              ├─ try_send ─> [queue] ─> syslog     (task, UDP/TCP)
//!                                              ├─ try_send ─> [queue] ─> webhook    (task, retries)
//!                                              ├─ try_send ─> [queue] ─> alertmanager (task, batches)
//!                                              └─ try_send ─> [queue] ─> kafka    (task, batches, keyed)
//! ```
//!
//! Every output has its own bounded queue and its own worker, so a slow or dead receiver only
//! fills its own queue; a full queue drops the alert and counts it (`dropped`). An alert the
//! worker could not deliver after its retries is counted `failed`; a delivered one `sent`.
//! [`Dispatcher::stats`] returns the counters as a plain [`AlertStats`] snapshot, to be rendered
//! under the names in `metrics::alerts`.
//!
//! File and stdout writers run on their own OS threads (plain blocking writes); the network
//! outputs run as tokio tasks, so [`Dispatcher::new`] must be called inside a tokio runtime.
//!
//! The JSON line of an alert is the [`Alert`](crate::rules::Alert) serialised as
//! `exporter rules test` prints it, plus `"suppressed": N` at the end when N > 0.

mod bucket;
mod config;
mod dispatcher;
mod file;
mod http;
mod kafka;
mod recorder;
mod syslog;

pub use bucket::{Clock, ManualClock, MonotonicClock, RateLimiter, Verdict};
pub use config::{
    AlertmanagerConfig, AlertsConfig, Backoff, FileConfig, KafkaConfig, KafkaSasl, KafkaSaslMechanism, SyslogConfig,
    SyslogTransport, WebhookConfig, DEFAULT_QUEUE_CAPACITY,
};
pub use dispatcher::{alert_json, Delivery, Dispatcher, DispatcherOptions, SubmitOutcome};
pub use file::RotatingFile;
pub use http::{alertmanager_body, severity_for_priority};
pub use kafka::{murmur2, partition_for};
pub use recorder::{Recorder, RecorderStats};
pub use syslog::{facility_from_name, frame_octet_counting, rfc5424, severity_from_priority, syslog_pri};

use crate::rules::Alert;
use std::collections::BTreeMap;

/// What identifies an alert's rule and workload, as (name, value): the syslog structured data
/// and the Alertmanager labels both carry these (empty values are left out by both).
///
/// The values are those of the same series on /metrics, so one silence or route matches both
/// paths: a host process is `container_id="host"` with no `container_name` (the alert JSON keeps
/// Falco's `container.name` "host", which is a field value, not a label).
pub(crate) fn identity_labels(a: &Alert) -> [(&'static str, &str); 7] {
    let container_name = if is_host(a) { "" } else { &a.container_name };
    [
        ("rule", &a.rule),
        ("priority", &a.priority),
        ("container_id", &a.container_id),
        ("container_name", container_name),
        ("image", &a.image),
        ("pod", &a.pod),
        ("namespace", &a.namespace),
    ]
}

/// An alert of a process outside any container (the engine says `host`; an empty id is
/// treated alike).
pub(crate) fn is_host(a: &Alert) -> bool {
    a.container_id == crate::container::Container::HOST_ID || a.container_id.is_empty()
}

/// Where an alert happened, for annotations: `on host node-1, outside any container`, or
/// `in container web (id 3ad7, image nginx:1.25, pod shop/web-0) on node-1`, leaving out what
/// the runtime did not say (a plain Docker container has no pod).
pub(crate) fn where_text(a: &Alert) -> String {
    if is_host(a) {
        return format!("on host {}, outside any container", a.hostname);
    }
    let name = if a.container_name.is_empty() { "(unnamed)" } else { &a.container_name };
    let mut text = format!("in container {name} (id {}", a.container_id);
    if !a.image.is_empty() {
        text.push_str(&format!(", image {}", a.image));
    }
    if !a.pod.is_empty() {
        text.push_str(&format!(", pod {}/{}", a.namespace, a.pod));
    }
    text.push(')');
    if !a.hostname.is_empty() {
        text.push_str(&format!(" on {}", a.hostname));
    }
    text
}

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// A configuration value that cannot work; the message names the setting.
    #[error("invalid alert configuration: {0}")]
    Config(String),
    /// A file could not be opened, written or rotated.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Outputs need a tokio runtime to run their tasks.
    #[error("alert outputs need a tokio runtime: {0}")]
    NoRuntime(String),
}

/// Counters of one output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// `stdout`, `file`, `syslog`, `webhook`, `alertmanager` or `kafka`: the `output` label.
    pub output: &'static str,
    /// Alerts delivered (written, sent, accepted with 2xx).
    pub sent: u64,
    /// Alerts given up after all retries.
    pub failed: u64,
    /// Alerts refused because the queue was full or the output had stopped.
    pub dropped: u64,
}

/// A snapshot of every alert counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertStats {
    /// One entry per configured output, in the order stdout, file, syslog, webhook, alertmanager,
    /// kafka.
    pub outputs: Vec<OutputStats>,
    /// Rule name -> alerts suppressed by the token bucket since start.
    pub suppressed: BTreeMap<String, u64>,
    /// Alerts handed to [`Dispatcher::submit`].
    pub submitted: u64,
}

impl AlertStats {
    /// The counters of output `name`, if configured.
    pub fn output(&self, name: &str) -> Option<&OutputStats> {
        self.outputs.iter().find(|o| o.output == name)
    }
}
