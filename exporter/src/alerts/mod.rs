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
//!                                              └─ try_send ─> [queue] ─> alertmanager (task, batches)
//! ```
//!
//! Every output has its own bounded queue and its own worker, so a slow or dead receiver only
//! fills its own queue; a full queue drops the alert and counts it (`dropped`). An alert the
//! worker could not deliver after its retries is counted `failed`; a delivered one `sent`.
//! [`Dispatcher::stats`] returns the counters as a plain [`AlertStats`] snapshot, to be rendered
//! under the names in [`metric_names`].
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
mod recorder;
mod syslog;

pub use bucket::{Clock, ManualClock, MonotonicClock, RateLimiter, Verdict};
pub use config::{
    AlertmanagerConfig, AlertsConfig, Backoff, FileConfig, SyslogConfig, SyslogTransport, WebhookConfig,
    DEFAULT_QUEUE_CAPACITY,
};
pub use dispatcher::{alert_json, Delivery, Dispatcher, DispatcherOptions, SubmitOutcome};
pub use file::RotatingFile;
pub use http::{alertmanager_body, severity_for_priority};
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

/// Names the lead renders the counters under on /metrics.
pub mod metric_names {
    /// Counter, label `output`: alerts delivered.
    pub const SENT: &str = "tracewarden_alert_outputs_sent_total";
    /// Counter, label `output`: alerts given up after all retries (receiver down, rejected).
    pub const FAILED: &str = "tracewarden_alert_outputs_failed_total";
    /// Counter, label `output`: alerts refused because the output's queue was full.
    pub const DROPPED: &str = "tracewarden_alert_outputs_dropped_total";
    /// Counter, label `rule`: alerts held back by the per (rule, container) token bucket.
    pub const SUPPRESSED: &str = "tracewarden_alerts_suppressed_total";
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
    /// `stdout`, `file`, `syslog`, `webhook` or `alertmanager`: the `output` label.
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
    /// One entry per configured output, in the order stdout, file, syslog, webhook, alertmanager.
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

    /// Appends the counters in the Prometheus text format (0.0.4), under [`metric_names`]:
    /// every configured output gets all three families (zeros included, so rate() works from
    /// the first scrape); `suppressed` lists the rules that suppressed anything.
    pub fn write_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        // (metric, help, which counter)
        type Family = (&'static str, &'static str, fn(&OutputStats) -> u64);
        let families: [Family; 3] = [
            (metric_names::SENT, "Alerts delivered by each output.", |o| o.sent),
            (metric_names::FAILED, "Alerts an output gave up on after its retries.", |o| o.failed),
            (metric_names::DROPPED, "Alerts refused because the output's queue was full.", |o| o.dropped),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for o in &self.outputs {
                let _ = writeln!(out, "{name}{{output=\"{}\"}} {}", o.output, value(o));
            }
        }
        let name = metric_names::SUPPRESSED;
        let _ = writeln!(out, "# HELP {name} Alerts held back by the per (rule, container) rate limit.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (rule, n) in &self.suppressed {
            out.push_str(name);
            out.push_str("{rule=\"");
            for c in rule.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            let _ = writeln!(out, "\"}} {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let mut s = AlertStats {
            outputs: vec![
                OutputStats { output: "stdout", sent: 3, failed: 0, dropped: 1 },
                OutputStats { output: "webhook", sent: 0, failed: 2, dropped: 7 },
            ],
            ..AlertStats::default()
        };
        s.suppressed.insert("Shell \"quoted\" \\ rule\n".into(), 5);
        let mut out = String::new();
        s.write_prometheus(&mut out);
        let want = r#"# HELP tracewarden_alert_outputs_sent_total Alerts delivered by each output.
# TYPE tracewarden_alert_outputs_sent_total counter
tracewarden_alert_outputs_sent_total{output="stdout"} 3
tracewarden_alert_outputs_sent_total{output="webhook"} 0
# HELP tracewarden_alert_outputs_failed_total Alerts an output gave up on after its retries.
# TYPE tracewarden_alert_outputs_failed_total counter
tracewarden_alert_outputs_failed_total{output="stdout"} 0
tracewarden_alert_outputs_failed_total{output="webhook"} 2
# HELP tracewarden_alert_outputs_dropped_total Alerts refused because the output's queue was full.
# TYPE tracewarden_alert_outputs_dropped_total counter
tracewarden_alert_outputs_dropped_total{output="stdout"} 1
tracewarden_alert_outputs_dropped_total{output="webhook"} 7
# HELP tracewarden_alerts_suppressed_total Alerts held back by the per (rule, container) rate limit.
# TYPE tracewarden_alerts_suppressed_total counter
tracewarden_alerts_suppressed_total{rule="Shell \"quoted\" \\ rule\n"} 5
"#;
        assert_eq!(out, want);
    }
}
