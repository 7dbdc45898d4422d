//! The HTTP server's connection counters, rendered from their snapshot.

use std::fmt::Write as _;

use crate::server::connections::ConnectionStats;

/// Appends the connection gauges and counters in the Prometheus text format (0.0.4); every
/// reason is listed from the start, zeros included, so rate() works from the first scrape.
pub fn write_connection_stats(out: &mut String, stats: &ConnectionStats) {
    out.push_str(
        "# HELP tracewarden_http_connections_open HTTP connections open now, the one of this scrape included.\n",
    );
    out.push_str("# TYPE tracewarden_http_connections_open gauge\n");
    let _ = writeln!(out, "tracewarden_http_connections_open {}", stats.open);
    out.push_str("# HELP tracewarden_http_connections_max Most HTTP connections open at once: --web.max-connections, lowered to what RLIMIT_NOFILE allows.\n");
    out.push_str("# TYPE tracewarden_http_connections_max gauge\n");
    let _ = writeln!(out, "tracewarden_http_connections_max {}", stats.max);
    out.push_str(
        "# HELP tracewarden_http_connections_accepted_total HTTP connections accepted, refused ones included.\n",
    );
    out.push_str("# TYPE tracewarden_http_connections_accepted_total counter\n");
    let _ = writeln!(out, "tracewarden_http_connections_accepted_total {}", stats.accepted);
    out.push_str("# HELP tracewarden_http_connections_rejected_total HTTP connections the server refused or closed, by reason.\n");
    out.push_str("# TYPE tracewarden_http_connections_rejected_total counter\n");
    for (reason, n) in &stats.rejected {
        let _ = writeln!(out, "tracewarden_http_connections_rejected_total{{reason=\"{}\"}} {n}", reason.label());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::connections::Rejection;

    #[test]
    fn prometheus_text() {
        let stats = ConnectionStats {
            open: 3,
            max: 512,
            accepted: 40,
            rejected: Rejection::ALL.iter().zip(1..).map(|(&r, n)| (r, n)).collect(),
        };
        let mut out = String::new();
        write_connection_stats(&mut out, &stats);
        assert!(out.contains("\ntracewarden_http_connections_open 3\n"), "{out}");
        assert!(out.contains("\ntracewarden_http_connections_max 512\n"), "{out}");
        assert!(out.contains("\ntracewarden_http_connections_accepted_total 40\n"), "{out}");
        for (reason, n) in [("max_connections", 1), ("evicted", 2), ("header_timeout", 3), ("tls_handshake_timeout", 4)]
        {
            let line = format!("\ntracewarden_http_connections_rejected_total{{reason=\"{reason}\"}} {n}\n");
            assert!(out.contains(&line), "{line} in {out}");
        }
    }
}
