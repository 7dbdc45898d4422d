//! The response counters: the responder's decisions by action and result, and the processes the
//! kernel killed for `tracewarden.kill` rules.

use std::fmt::Write as _;

use super::push_escaped;

/// Counter, labels `action`, `result`: every decision of the response API.
pub const RESPONSES: &str = "tracewarden_responses_total";
/// Counter, labels `rule`, `priority`: processes killed in the kernel by a `tracewarden.kill` rule.
pub const KERNEL_KILLS: &str = "tracewarden_kernel_kills_total";

/// `tracewarden_responses_total{action,result}` from the responder's (action, result, count).
pub fn write_response_stats(out: &mut String, counts: &[(&str, &str, u64)]) {
    let _ =
        writeln!(out, "# HELP {RESPONSES} Response API decisions (actions taken and refusals), by action and result.");
    let _ = writeln!(out, "# TYPE {RESPONSES} counter");
    for (action, result, n) in counts {
        let _ = writeln!(out, "{RESPONSES}{{action=\"{action}\",result=\"{result}\"}} {n}");
    }
}

/// `tracewarden_kernel_kills_total{rule,priority}` from (rule, priority, kills).
pub fn write_kernel_kills(out: &mut String, kills: &[(&str, &str, u64)]) {
    let _ = writeln!(out, "# HELP {KERNEL_KILLS} Processes the kernel killed (SIGKILL in the offending syscall) for tracewarden.kill rules.");
    let _ = writeln!(out, "# TYPE {KERNEL_KILLS} counter");
    for (rule, priority, n) in kills {
        out.push_str(KERNEL_KILLS);
        out.push_str("{rule=\"");
        push_escaped(out, rule);
        let _ = writeln!(out, "\",priority=\"{priority}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let mut out = String::new();
        write_response_stats(&mut out, &[("freeze", "applied", 2), ("none", "refused_host", 1)]);
        write_kernel_kills(&mut out, &[("Read \"shadow\"", "critical", 3)]);
        assert!(out.contains("\ntracewarden_responses_total{action=\"freeze\",result=\"applied\"} 2\n"), "{out}");
        assert!(out.contains("\ntracewarden_responses_total{action=\"none\",result=\"refused_host\"} 1\n"), "{out}");
        assert!(
            out.contains("\ntracewarden_kernel_kills_total{rule=\"Read \\\"shadow\\\"\",priority=\"critical\"} 3\n"),
            "{out}"
        );
    }
}
