//! One tenant cannot blind another: while a neighbour container floods the event ring with
//! chmods the kernel cannot settle alone (a relative path), every `/bin/cat /etc/shadow` of a
//! victim container is still alerted on, and the flood's excess is counted under the flooder's
//! own labels (`tracewarden_events_throttled_total`). Measured with `--events.cgroup-budget 0`
//! (no budget) the same run alerted 0 of the 10 reads: the flood kept the ring full.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::attack::{alerts_of, Action, Opts, Target};
use common::{sample, Exporter, SHIPPED_RULES};

const RULE: &str = "Read sensitive file untrusted";
/// The victim's reads, spaced by more than the kernel's one-alert-event-per-second sampling of a
/// rule it counts itself, so each read is its own alert event.
const READS: usize = 10;
/// Writes below /etc by the flooder itself, mid-flood: a rule the kernel decides and counts
/// before the ring, so throttling its events cannot lose them.
const OWN_WRITES: usize = 5;
const OWN_RULE: (&str, &str) = ("Write below etc", "error");

fn container_labels(target: &Target) -> Vec<(&str, &str)> {
    vec![
        ("container_id", target.short_id()),
        ("container_name", &target.name),
        ("image", &target.image),
        ("pod", ""),
        ("namespace", &target.namespace),
    ]
}

/// Every exporter sees every syscall: one test's flood crowds the other test's ring, so the two
/// take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lost(metrics: &str, reason: &str) -> f64 {
    sample(metrics, "tracewarden_events_lost_total", &[("reason", reason)]).unwrap_or(0.0)
}

#[test]
fn a_flooding_neighbour_cannot_hide_a_victims_reads() {
    kernel_test!(a_flooding_neighbour_cannot_hide_a_victims_reads);
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // The default budget (2048 events a second per cgroup).
    let exporter = Exporter::start(&["--rules-dir", SHIPPED_RULES, "--alerts.rate", "0"]);
    let before = exporter.metrics();
    let flood_seconds = READS as u64 * 11 / 10 + 6;
    let flooder = Target::new("flooder");
    let flood_script = format!(
        "cd /tmp && touch f && {{ /bin/tw-helper chmod-flood f {flood_seconds} & }} && usleep 3000000 \
         && for i in $(seq {OWN_WRITES}); do echo x > /etc/tw-own-$i; done && wait"
    );
    let mut flood = Action::start(&flooder, &flood_script, &Opts::writable());
    let victim = Target::new("victim");
    let reads = format!("for i in $(seq {READS}); do /bin/cat /etc/shadow > /dev/null; usleep 1100000; done");
    let mut victim_run = Action::start(&victim, &reads, &Opts::default());
    flood.release();
    // The ring is full within milliseconds of an unthrottled flood.
    std::thread::sleep(Duration::from_secs(2));
    victim_run.wait_done();
    flood.wait_done();
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = loop {
        let seen = alerts_of(&exporter, victim.short_id()).iter().filter(|a| a["rule"] == RULE).count();
        if seen >= READS || Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let metrics = exporter.metrics();
    let throttled = |t: &Target| sample(&metrics, "tracewarden_events_throttled_total", &container_labels(t));
    let ring_full = lost(&metrics, "event_ring_full") - lost(&before, "event_ring_full");
    let over_budget = lost(&metrics, "cgroup_event_budget_exceeded");
    let own = sample(&metrics, "tracewarden_rule_matches_total", &flooder.match_labels(OWN_RULE.0, OWN_RULE.1));
    eprintln!(
        "FLOOD: victim reads alerted {seen}/{READS}; flooder throttled {:?}, its own writes counted {own:?}/{OWN_WRITES}; ring full +{ring_full}; over budget {over_budget}",
        throttled(&flooder)
    );
    assert_eq!(seen, READS, "every read of the victim is alerted while the neighbour floods");
    let hits = sample(&metrics, "tracewarden_rule_matches_total", &victim.match_labels(RULE, "warning"));
    assert!(hits.is_some_and(|n| n >= READS as f64), "the victim's reads are counted: {hits:?}");
    assert!(throttled(&flooder).is_some_and(|n| n > 1000.0), "the flood's excess is counted under the flooder");
    assert_eq!(own, Some(OWN_WRITES as f64), "the kernel counts the flooder's own writes below /etc exactly");
    assert_eq!(throttled(&victim), None, "the victim stayed within its share");
    assert!(over_budget >= throttled(&flooder).unwrap_or(0.0), "every throttled event is an event lost");
}

/// The budget is a share of a crowded ring, not a rate limit: a container sending several times
/// its budget while the ring stays nearly empty loses nothing (a busy build with many rules may
/// send more than the default budget, and must not be blinded for it).
#[test]
fn over_budget_events_are_sent_while_the_ring_has_room() {
    kernel_test!(over_budget_events_are_sent_while_the_ring_has_room);
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const BUDGET: usize = 10;
    const CHMODS: usize = 200;
    let budget = BUDGET.to_string();
    let exporter = Exporter::start(&["--rules-dir", SHIPPED_RULES, "--events.cgroup-budget", &budget]);
    let before = exporter.metrics();
    let busy = Target::new("busy");
    // Relative paths: the kernel cannot settle these chmods, so each one is sent.
    let script = format!("cd /tmp && touch f && for i in $(seq {CHMODS}); do chmod 600 f; done");
    let mut run = Action::start(&busy, &script, &Opts::writable());
    let started = Instant::now();
    run.release();
    run.wait_done();
    let seconds = started.elapsed().as_secs_f64();
    let evaluated = |m: &str| sample(m, "tracewarden_events_total", &[("source", "userspace")]).unwrap_or(0.0);
    // Evaluation trails the action: wait until the chmods' events were taken.
    let mut metrics = exporter.metrics();
    common::eventually(Duration::from_secs(5), || {
        metrics = exporter.metrics();
        evaluated(&metrics) - evaluated(&before) >= CHMODS as f64
    });
    let sent = evaluated(&metrics) - evaluated(&before);
    let over_budget = lost(&metrics, "cgroup_event_budget_exceeded") - lost(&before, "cgroup_event_budget_exceeded");
    eprintln!("BUDGET: {CHMODS} chmods in {seconds:.2} s (budget {BUDGET}/s); {sent} events evaluated, {over_budget} over budget");
    assert!(
        (CHMODS as f64) > 2.0 * BUDGET as f64 * (seconds + 1.0),
        "the container sent well over its budget ({CHMODS} in {seconds:.2} s)"
    );
    assert!(sent >= CHMODS as f64, "every chmod was evaluated: {sent} events");
    assert_eq!(sample(&metrics, "tracewarden_events_throttled_total", &container_labels(&busy)), None);
    assert_eq!(over_budget, 0.0, "nothing was held back while the ring had room");
}
