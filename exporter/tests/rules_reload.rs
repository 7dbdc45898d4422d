//! Reloads never stall scraping: a rule without `evt.type` needs every syscall's exit
//! tracepoint, hundreds of attaches when it comes and as many detaches when it goes (a few
//! tenths of a second and tens of seconds on this kernel). Scraping back to back meanwhile, some
//! scrapes must begin and end while the tracepoints are still changing: answered during the
//! change, not after it (a scrape the reload blocked would end only once the count settled).

#[macro_use]
mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{eventually, sample, Exporter, SHIPPED_RULES};

const EVERY_EVENT_RULE: &str = "- rule: Every event type\n  desc: matches no process, on every event type\n  \
     condition: proc.name = tw_no_such_process\n  output: o\n  priority: debug\n";

/// The exporter's BPF links: one per attached program (each tracepoint among them).
fn bpf_links(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:bpf_link"))
                .count()
        })
        .unwrap_or(0)
}

fn rules_loaded(exporter: &Exporter) -> f64 {
    sample(&exporter.metrics(), "tracewarden_rules_loaded", &[]).expect("tracewarden_rules_loaded")
}

/// One scrape, with the exporter's BPF link count just before and just after it.
struct Scrape {
    links_before: usize,
    links_after: usize,
    took: Duration,
}

/// Scrapes back to back from now until `done` (checked between scrapes; at most a minute): a
/// reload that attaches or detaches hundreds of tracepoints takes many scrapes' time even on an
/// idle machine, so some scrapes begin and end while the count is moving.
fn scrape_until(exporter: &Exporter, done: impl Fn() -> bool) -> Vec<Scrape> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut scrapes = Vec::new();
    while !done() && Instant::now() < deadline {
        let links_before = bpf_links(exporter.pid());
        let started = Instant::now();
        exporter.metrics();
        scrapes.push(Scrape { links_before, took: started.elapsed(), links_after: bpf_links(exporter.pid()) });
    }
    scrapes
}

/// The scrapes answered while the link count was strictly between `from` and `to` (either
/// order) both when they began and when they ended: answered during the change, not after it.
fn during(scrapes: &[Scrape], from: usize, to: usize) -> Vec<&Scrape> {
    let (low, high) = (from.min(to), from.max(to));
    let moving = |n: usize| low < n && n < high;
    scrapes.iter().filter(|s| moving(s.links_before) && moving(s.links_after)).collect()
}

fn longest(scrapes: &[&Scrape]) -> f64 {
    scrapes.iter().map(|s| s.took.as_secs_f64()).fold(0.0, f64::max)
}

/// The BPF link count once it has not changed for a second.
fn settled_bpf_links(pid: u32) -> usize {
    let mut last = bpf_links(pid);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = bpf_links(pid);
        if now == last {
            return now;
        }
        last = now;
    }
}

fn copy_shipped_rules(to: &Path) {
    for entry in std::fs::read_dir(SHIPPED_RULES).expect("rules").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy rules");
    }
}

#[test]
fn adding_and_removing_a_rule_on_every_event_type_never_stalls_a_scrape() {
    kernel_test!(adding_and_removing_a_rule_on_every_event_type_never_stalls_a_scrape);
    let dir = tempfile::tempdir().expect("tempdir");
    copy_shipped_rules(dir.path());
    let exporter = Exporter::start(&["--rules-dir", dir.path().to_str().expect("utf-8"), "--names.resolve", "off"]);
    let shipped = rules_loaded(&exporter);
    let base = settled_bpf_links(exporter.pid());

    let every = dir.path().join("99-every-event.yaml");
    std::fs::write(&every, EVERY_EVENT_RULE).expect("write rule");
    // The rule set is swapped once the new tracepoints are attached.
    let adding = scrape_until(&exporter, || rules_loaded(&exporter) == shipped + 1.0);
    let all = settled_bpf_links(exporter.pid());
    assert!(all > base + 100, "the rule brought the exits of every syscall ({base} -> {all} BPF links)");
    let while_attaching = during(&adding, base, all);
    assert!(
        !while_attaching.is_empty(),
        "no scrape was answered while the tracepoints were attached ({} scrapes)",
        adding.len()
    );

    std::fs::remove_file(&every).expect("remove rule");
    let removing = scrape_until(&exporter, || bpf_links(exporter.pid()) <= base);
    assert_eq!(rules_loaded(&exporter), shipped);
    assert_eq!(settled_bpf_links(exporter.pid()), base);
    let while_detaching = during(&removing, all, base);
    assert!(
        !while_detaching.is_empty(),
        "no scrape was answered while the tracepoints were detached ({} scrapes)",
        removing.len()
    );
    println!(
        "BPF links: {base} shipped, {all} with the rule; {} scrapes answered while attaching (longest {:.3} s), {} while detaching (longest {:.3} s)",
        while_attaching.len(),
        longest(&while_attaching),
        while_detaching.len(),
        longest(&while_detaching)
    );
}

/// Deleting every rules file is a reload to no rules (kept: an emptied ConfigMap is a valid
/// state), counted as a success; the shipped alert TracewardenNoRulesLoaded watches for it
/// (its firing is tested by tests/alerting/rules_test.yml).
#[test]
fn deleting_every_rules_file_reloads_to_no_rules() {
    kernel_test!(deleting_every_rules_file_reloads_to_no_rules);
    let dir = tempfile::tempdir().expect("tempdir");
    copy_shipped_rules(dir.path());
    let exporter = Exporter::start(&["--rules-dir", dir.path().to_str().expect("utf-8"), "--names.resolve", "off"]);
    assert!(rules_loaded(&exporter) > 0.0);
    for entry in std::fs::read_dir(dir.path()).expect("rules dir").flatten() {
        std::fs::remove_file(entry.path()).expect("remove rules file");
    }
    let reloaded = |m: &str| sample(m, "tracewarden_rules_reloads_total", &[("result", "success")]) == Some(1.0);
    assert!(
        eventually(Duration::from_secs(10), || rules_loaded(&exporter) == 0.0 && reloaded(&exporter.metrics())),
        "{}",
        exporter.metrics()
    );
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../alertmanager/tracewarden-alerts.yml"))
            .expect("shipped alert rules");
    assert!(shipped.contains("alert: TracewardenNoRulesLoaded\n        expr: tracewarden_rules_loaded == 0\n"));
}

fn rule(name: &str) -> String {
    format!("- rule: {name}\n  desc: d\n  condition: evt.type = openat and proc.name = tw_none\n  output: o\n  priority: debug\n")
}

/// A ConfigMap update as the kubelet makes it: the rules files are symlinks through `..data`,
/// which a rename points at a new timestamped directory. inotify on the rules directory sees the
/// rename; the fingerprint poll behind it runs every 10 s, so a reload within 5 s was told.
#[test]
fn a_configmap_data_swap_is_reloaded_when_it_happens() {
    kernel_test!(a_configmap_data_swap_is_reloaded_when_it_happens);
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (dir.path().join("..2026_12_06_01"), dir.path().join("..2026_12_06_02"));
    std::fs::create_dir(&old).expect("mkdir");
    std::fs::write(old.join("rules.yaml"), rule("One")).expect("write");
    std::os::unix::fs::symlink("..2026_12_06_01", dir.path().join("..data")).expect("link ..data");
    std::os::unix::fs::symlink("..data/rules.yaml", dir.path().join("rules.yaml")).expect("link rules.yaml");
    let exporter = Exporter::start(&["--rules-dir", dir.path().to_str().expect("utf-8"), "--names.resolve", "off"]);
    assert_eq!(rules_loaded(&exporter), 1.0);

    std::fs::create_dir(&new).expect("mkdir");
    std::fs::write(new.join("rules.yaml"), rule("One") + &rule("Two")).expect("write");
    std::os::unix::fs::symlink("..2026_12_06_02", dir.path().join("..data_tmp")).expect("link ..data_tmp");
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).expect("swap ..data");
    std::fs::remove_dir_all(&old).expect("remove the old data");
    assert!(eventually(Duration::from_secs(5), || rules_loaded(&exporter) == 2.0), "the swap was not reloaded");
}

/// A rules file changed after the exporter read the rules and before it watches them (while
/// the kernel programs load, a second or so) is reloaded as soon as it serves.
#[test]
fn a_change_during_start_up_is_reloaded() {
    kernel_test!(a_change_during_start_up_is_reloaded);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, rule("One")).expect("write");
    let mut exporter = Exporter::spawn(&["--rules-dir", dir.path().to_str().expect("utf-8"), "--names.resolve", "off"]);
    let read = || exporter.stderr_lines().iter().any(|l| l.contains("rules loaded"));
    assert!(eventually(Duration::from_secs(20), read), "the exporter never loaded its rules");
    assert!(
        !exporter.stderr_lines().iter().any(|l| l.contains("serving /metrics")),
        "the exporter served before the change: the test did not change the rules during start-up"
    );
    std::fs::write(&file, rule("One") + &rule("Two")).expect("write");
    exporter.wait_until(common::healthy);
    assert!(eventually(Duration::from_secs(5), || rules_loaded(&exporter) == 2.0), "the change was not reloaded");
}
