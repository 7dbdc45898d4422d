//! The checks of an attack and its benign twin: the attack's counter and alert line, with the
//! latency on the test's own clock, and the twin's silence, judged only once its whole action was
//! evaluated and every output had written what came before a later alert.

use std::time::{Duration, Instant};

use super::{Action, Opts, Target, ACTION_OK, DETECTION_DEADLINE};
use crate::common::{eventually, sample, Exporter};

/// What one attack produced: its container, the alert, and how long after the action was let go
/// ([`Action::release`]) the test saw the alert line and the counter (polled every 10 ms).
#[derive(Debug)]
pub struct Detection {
    pub target: Target,
    pub alert: serde_json::Value,
    pub alert_latency: Duration,
    pub counter_latency: Duration,
}

impl Detection {
    /// An output field of the alert (null when the rule's output has none).
    pub fn field(&self, name: &str) -> &serde_json::Value {
        &self.alert["output_fields"][name]
    }
}

/// An action the exporter has evaluated to its end ([`Action::wait_evaluated`]).
#[derive(Clone, Debug)]
pub struct Evaluated {
    pub target: Target,
    /// The pid of the shell that ran the action (the container's first process: the gate
    /// becomes it).
    pub shell_pid: i64,
}

impl Action {
    /// Lets the action go if not yet done, and waits until it has run and the exporter has
    /// evaluated all of it: once the script reports the action over, every syscall of it has
    /// been queued by the kernel, so the exporter's
    /// `tracewarden_events_evaluated_until_monotonic_seconds` passing that instant (on the same
    /// clock) means each of its events was evaluated, counted and its alerts handed to the
    /// outputs. Fails if the kernel lost events meanwhile: any of them may have been the action's.
    pub fn wait_evaluated(&mut self, exporter: &Exporter) -> Evaluated {
        let lost_before = ring_losses(exporter);
        self.wait_done();
        let over = monotonic_seconds();
        let gauge = "tracewarden_events_evaluated_until_monotonic_seconds";
        let mut until = 0.0;
        let caught_up = eventually(Duration::from_secs(10), || {
            until = sample(&exporter.metrics(), gauge, &[]).expect("the exporter evaluates events (rules loaded)");
            until >= over
        });
        assert!(
            caught_up,
            "{}: its action, over at {over:.6} s, was not evaluated within 10 s ({gauge} {until:.6}); events lost \
             to a full ring: {}",
            self.target.name,
            ring_losses(exporter)
        );
        let lost = ring_losses(exporter) - lost_before;
        assert_eq!(lost, 0.0, "{}: the kernel lost {lost} events while its action ran", self.target.name);
        Evaluated { target: self.target.clone(), shell_pid: self.init_pid() }
    }
}

/// Now on CLOCK_MONOTONIC (the kernel's `bpf_ktime_get_ns`), in seconds.
fn monotonic_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec; the clock always exists on Linux.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) }, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Runs the benign twin's action, then the attack's, each in a container of its own (named
/// after the rule) with its own options; asserts the attack is detected by `exporter` and the twin
/// is not ([`check_twins_of`]). The exporter must write its outputs ([`Exporter::outputs`]).
pub fn check_twins(
    exporter: &Exporter,
    rule: &str,
    priority: &str,
    attack: (&str, &Opts),
    benign: (&str, &Opts),
) -> (Detection, Evaluated) {
    let slug = slug(rule);
    let (attacker, twin) = (Target::new(&format!("attack-{slug}")), Target::new(&format!("benign-{slug}")));
    check_twins_of(exporter, rule, priority, (&attacker, attack.0, attack.1), (&twin, benign.0, benign.1))
}

/// [`check_twins`], and the twin must have fired no rule at all: for suites whose rules are all
/// under test, so that any alert of the twin's is a false positive of theirs.
pub fn check_silent_twins(
    exporter: &Exporter,
    rule: &str,
    priority: &str,
    attack: (&str, &Opts),
    benign: (&str, &Opts),
) -> Detection {
    let (detection, twin) = check_twins(exporter, rule, priority, attack, benign);
    expect_no_detection(exporter, &twin, &detection, None);
    detection
}

/// The twin's action runs first and is evaluated to its end ([`Action::wait_evaluated`]); only
/// then is the attack's container made, and the attack must be detected (counter under its exact
/// labels and alert line, within [`DETECTION_DEADLINE`] of its action's start). The attack's alert
/// is then the marker [`expect_no_detection`] judges the twin by. One action, one detection: a
/// miss fails, with the events lost meanwhile in the message. Returns the detection and the twin.
pub fn check_twins_of(
    exporter: &Exporter,
    rule: &str,
    priority: &str,
    (attacker, attack, attack_opts): (&Target, &str, &Opts),
    (twin, benign, benign_opts): (&Target, &str, &Opts),
) -> (Detection, Evaluated) {
    // Kept until the end, as the attack's container is: both are judged while they live.
    let mut twin_run = Action::start(twin, benign, benign_opts);
    let twin_done = twin_run.wait_evaluated(exporter);
    let mut attack_run = Action::start(attacker, attack, attack_opts);
    let detection = expect_detection(exporter, &mut attack_run, rule, priority);
    expect_no_detection(exporter, &twin_done, &detection, Some(rule));
    drop(twin_run);
    (detection, twin_done)
}

/// Asserts that the evaluated action `quiet` fired nothing of `rule` (of any rule with `None`):
/// no counter in its container, no alert line naming its container on stdout or in the alerts
/// file, and, when the exporter keeps a record, no recorded event of its shell in another
/// container (its action taken for someone else's would make the silence meaningless).
///
/// `marker` is a detection whose container was made after `quiet` was evaluated, so any alert
/// of `quiet`'s was handed to the outputs before the marker's. Each output writes in order: once
/// the marker's line is on stdout and in the alerts file (and its events in the record, under its
/// container id), one of `quiet`'s would be there too. The counters are final as soon as `quiet`
/// is evaluated.
pub fn expect_no_detection(exporter: &Exporter, quiet: &Evaluated, marker: &Detection, rule: Option<&str>) {
    let outputs = exporter.outputs.as_ref().expect("an exporter started with outputs (an alerts file)");
    let (id, name) = (quiet.target.short_id(), &quiet.target.name);
    let marker_id = marker.target.short_id();
    let marker_rule = marker.alert["rule"].as_str().unwrap_or_default();
    let written = eventually(DETECTION_DEADLINE, || {
        outputs.file_alerts(marker_id).iter().any(|a| a["rule"] == marker_rule && a["container_id"] == marker_id)
            && outputs.recorded(|r| r.container == marker_id).is_none_or(|events| !events.is_empty())
    });
    assert!(
        written,
        "{marker_rule}: the marker (container {marker_id}) has no line in the alerts file or no event in the record"
    );
    let of_rule = |alert: &serde_json::Value| rule.is_none_or(|rule| alert["rule"] == rule);
    let stdout: Vec<serde_json::Value> = alerts_of(exporter, id).into_iter().filter(of_rule).collect();
    assert!(stdout.is_empty(), "{rule:?}: the benign twin {name} fired on stdout: {stdout:?}");
    let in_file: Vec<serde_json::Value> =
        outputs.file_alerts(id).into_iter().filter(|a| a["container_id"] == id).filter(of_rule).collect();
    assert!(in_file.is_empty(), "{rule:?}: the benign twin {name} fired in the alerts file: {in_file:?}");
    let metrics = exporter.metrics();
    let series = match rule {
        Some(rule) => format!("tracewarden_rule_matches_total{{rule=\"{rule}\""),
        None => "tracewarden_rule_matches_total{".to_owned(),
    };
    let counted: Vec<&str> =
        metrics.lines().filter(|l| l.starts_with(&series) && l.contains(&format!("container_id=\"{id}\""))).collect();
    assert!(counted.is_empty(), "{rule:?}: the benign twin {name} was counted: {counted:?}");
    let elsewhere =
        outputs.recorded(|r| r.pid == quiet.shell_pid && r.container != id && r.cmdline.contains(ACTION_OK));
    let elsewhere = elsewhere.unwrap_or_default();
    assert!(elsewhere.is_empty(), "{name}: its shell was evaluated as another container's (not {id}): {elsewhere:?}");
}

/// Every alert line on stdout of the container whose short id is `short_id`, whatever the rule.
pub fn alerts_of(exporter: &Exporter, short_id: &str) -> Vec<serde_json::Value> {
    alert_lines(exporter, short_id).into_iter().filter(|alert| alert["container_id"] == short_id).collect()
}

/// The alert lines that mention `needle` (checked as text first: the suite's exporter collects
/// every alert of the machine).
fn alert_lines(exporter: &Exporter, needle: &str) -> Vec<serde_json::Value> {
    exporter
        .stdout_lines()
        .iter()
        .filter(|line| line.contains(needle))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .collect()
}

/// A rule name as a container name: lower case, dashes, at most 24 characters.
fn slug(rule: &str) -> String {
    rule.chars().take(24).map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// The alert lines for `rule` that mention `needle`.
pub fn alerts_matching(exporter: &Exporter, rule: &str, needle: &str) -> Vec<serde_json::Value> {
    alert_lines(exporter, needle).into_iter().filter(|alert| alert["rule"] == rule).collect()
}

/// The first alert line for `rule` whose container_id is `short_id`, if any.
pub fn find_alert(exporter: &Exporter, rule: &str, short_id: &str) -> Option<serde_json::Value> {
    alerts_matching(exporter, rule, short_id).into_iter().find(|alert| alert["container_id"] == short_id)
}

/// Lets `action` go, then waits for the alert line for `rule` in its container (the container id
/// is the action's alone) and for its counter under the exact labels; both must come within
/// [`DETECTION_DEADLINE`] of the release, on the test's clock. Checks that the action succeeded.
pub fn expect_detection(exporter: &Exporter, action: &mut Action, rule: &str, priority: &str) -> Detection {
    let target = action.target.clone();
    let labels = target.match_labels(rule, priority);
    let lost_before = ring_losses(exporter);
    let released = action.release();
    // Past the deadline, so a late detection fails with its latency rather than as a miss.
    let until = released + DETECTION_DEADLINE + Duration::from_secs(3);
    // The rule counters and the loss counters (a lost event explains a missed detection).
    let counters = || {
        let wanted = ["rule_matches_total{", "events_lost_total", "kernel_dropped_total"];
        let lines =
            exporter.metrics().lines().filter(|l| wanted.iter().any(|w| l.contains(w))).collect::<Vec<_>>().join("\n");
        format!("events lost to a full ring since the release: {}\n{lines}", ring_losses(exporter) - lost_before)
    };
    let alert = loop {
        if let Some(alert) = find_alert(exporter, rule, target.short_id()) {
            break alert;
        }
        if Instant::now() > until {
            action.wait_done();
            panic!(
                "{rule}: no alert line for container {} ({}) within {:?} of its action\n{}",
                target.short_id(),
                target.name,
                until - released,
                counters()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let alert_latency = released.elapsed();
    let counter_latency = loop {
        if sample(&exporter.metrics(), "tracewarden_rule_matches_total", &labels).is_some_and(|n| n >= 1.0) {
            break released.elapsed();
        }
        if Instant::now() > until {
            panic!("{rule}: alert seen but no counter under exactly {labels:?}:\n{}", counters());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    for (key, want) in [
        ("container_name", target.name.as_str()),
        ("image", target.image.as_str()),
        ("namespace", target.namespace.as_str()),
    ] {
        assert_eq!(alert[key], want, "{rule}: alert {key}: {alert}");
    }
    action.wait_done();
    eprintln!(
        "LATENCY {rule} [{}]: alert {:.1} ms, counter {:.1} ms",
        target.name,
        alert_latency.as_secs_f64() * 1e3,
        counter_latency.as_secs_f64() * 1e3
    );
    assert!(
        alert_latency <= DETECTION_DEADLINE && counter_latency <= DETECTION_DEADLINE,
        "{rule}: alert {alert_latency:?} and counter {counter_latency:?} after the action (max {DETECTION_DEADLINE:?})"
    );
    Detection { target, alert, alert_latency, counter_latency }
}

/// Events the exporter lost to a full ring buffer so far.
pub fn ring_losses(exporter: &Exporter) -> f64 {
    sample(&exporter.metrics(), "tracewarden_events_lost_total", &[("reason", "event_ring_full")]).unwrap_or(0.0)
}
