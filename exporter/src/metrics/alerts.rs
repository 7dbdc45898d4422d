//! The alert outputs' and the `--record` file's counters, rendered from their snapshots.

use super::push_escaped;
use crate::alerts::{AlertStats, OutputStats, RecorderStats};

/// The alert counters' metric names.
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

/// Appends the alert counters in the Prometheus text format (0.0.4), under [`metric_names`]:
/// every configured output gets all three families (zeros included, so rate() works from
/// the first scrape); `suppressed` lists the rules that suppressed anything.
pub fn write_alert_stats(out: &mut String, stats: &AlertStats) {
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
        for o in &stats.outputs {
            let _ = writeln!(out, "{name}{{output=\"{}\"}} {}", o.output, value(o));
        }
    }
    let name = metric_names::SUPPRESSED;
    let _ = writeln!(out, "# HELP {name} Alerts held back by the per (rule, container) rate limit.");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (rule, n) in &stats.suppressed {
        out.push_str(name);
        out.push_str("{rule=\"");
        push_escaped(out, rule);
        let _ = writeln!(out, "\"}} {n}");
    }
}

/// The `--record` file's counters: events written, and dropped because it fell behind or failed.
pub fn write_record_stats(out: &mut String, stats: &RecorderStats) {
    use std::fmt::Write as _;
    out.push_str("# HELP tracewarden_record_events_total Events written to the --record file.\n");
    out.push_str("# TYPE tracewarden_record_events_total counter\n");
    let _ = writeln!(out, "tracewarden_record_events_total {}", stats.recorded);
    out.push_str("# HELP tracewarden_record_events_dropped_total Events the --record file lost, by reason.\n");
    out.push_str("# TYPE tracewarden_record_events_dropped_total counter\n");
    let _ = writeln!(out, "tracewarden_record_events_dropped_total{{reason=\"queue_full\"}} {}", stats.dropped);
    let _ = writeln!(out, "tracewarden_record_events_dropped_total{{reason=\"write_error\"}} {}", stats.failed);
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
        write_alert_stats(&mut out, &s);
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
