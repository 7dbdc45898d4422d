//! The default rules shipped in `rules/`: each one matches its recorded attack events and not
//! their benign twins (`exporter/tests/data/rules/events/*.jsonl`, one Event a line, with the
//! test-only annotation `_expect`: the rule that must fire, or null).

use exporter::rules::lint::lint;
use exporter::rules::{Engine, Event, MatchMode};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn default_rules() -> Engine {
    let mut e = Engine::load_dir(&root().join("../rules"));
    let problems: Vec<String> = e.report.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(problems.is_empty(), "default rules have problems: {problems:#?}");
    e.mode = MatchMode::All;
    e
}

/// (file, line, event, expected rule)
fn recorded() -> Vec<(String, usize, Event, Option<String>)> {
    let dir = root().join("tests/data/rules/events");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let expect = v["_expect"].as_str().map(str::to_owned);
            let ev = Event::from_json(line).unwrap_or_else(|e| panic!("{}:{}: {e}", f.display(), i + 1));
            out.push((f.file_name().unwrap().to_string_lossy().into_owned(), i + 1, ev, expect));
        }
    }
    out
}

#[test]
fn default_rules_load_without_errors_or_lint_warnings() {
    let e = default_rules();
    assert_eq!(e.rules().len(), 15);
    let l: Vec<String> = lint(&e).iter().map(|d| d.to_string()).collect();
    assert!(l.is_empty(), "{l:#?}");
}

#[test]
fn every_default_rule_has_desc_priority_and_mitre_tags() {
    let e = default_rules();
    for r in e.rules() {
        assert!(r.desc.len() > 20, "{}: desc", r.name);
        assert!(r.tags.iter().any(|t| t.starts_with("mitre_")), "{}: no mitre_ tactic tag", r.name);
        assert!(
            r.tags.iter().any(|t| t.len() >= 5 && t.starts_with('T') && t[1..5].chars().all(|c| c.is_ascii_digit())),
            "{}: no ATT&CK technique id tag",
            r.name
        );
        assert!(r.enabled);
        // Every default rule names its syscalls, so the kernel can filter by event type.
        assert!(e.kernel_filter(e.rules().iter().position(|x| x.name == r.name).unwrap()).event_types.is_some());
    }
}

#[test]
fn attack_events_match_and_benign_twins_do_not() {
    let e = default_rules();
    let mut covered: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut hits = Vec::new();
    for (file, line, ev, expect) in recorded() {
        hits.clear();
        e.evaluate(&ev, &mut hits);
        let got: BTreeSet<&str> = hits.iter().map(|&i| e.rules()[i as usize].name.as_str()).collect();
        let want: BTreeSet<&str> = expect.iter().map(String::as_str).collect();
        if got != want {
            failures.push(format!("{file}:{line}: expected {want:?}, got {got:?}"));
        }
        let rule_of_file = recorded_rule(&file);
        let entry = covered.entry(rule_of_file).or_default();
        if expect.is_some() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    for r in e.rules() {
        let key = slug(&r.name);
        let (attacks, benign) = covered.get(&key).copied().unwrap_or_default();
        assert!(attacks >= 1 && benign >= 1, "rule '{}' needs attack and benign events in {key}.jsonl", r.name);
    }
}

fn recorded_rule(file: &str) -> String {
    file.trim_end_matches(".jsonl").to_owned()
}

/// The event file name of a rule.
fn slug(rule: &str) -> String {
    match rule {
        "Write below etc" => "write_below_etc",
        "Read sensitive file untrusted" => "read_sensitive_file",
        "Change permissions of sensitive file" => "chmod_sensitive_file",
        "Link to sensitive file" => "link_sensitive_file",
        "Terminal shell in container" => "terminal_shell_in_container",
        "Fileless execution via memfd" => "fileless_memfd_exec",
        "Netcat or socat remote shell" => "netcat_remote_shell",
        "Package management process in container" => "package_manager_in_container",
        "Setuid to root by non-root" => "setuid_root_by_non_root",
        "Ptrace attach to process" => "ptrace_attach",
        "Outbound connection to suspicious port" => "outbound_suspicious_port",
        "Outbound connection to crypto-miner pool port" => "crypto_miner_pool_port",
        "Kernel module load" => "kernel_module_load",
        "Mount in container" => "mount_in_container",
        "Namespace change in container" => "namespace_change_in_container",
        other => panic!("no event file for new rule '{other}': add one"),
    }
    .to_owned()
}

/// What the kernel's test of one predicate says about a recorded event.
fn holds(p: &exporter::rules::KernelPredicate, ev: &exporter::rules::Event) -> bool {
    use exporter::rules::KernelPredicate as K;
    // (read, write, create)
    let open_flags = || match ev.args.get("flags") {
        Some(exporter::rules::ArgValue::Str(s)) => {
            let has = |n: &str| s.split('|').any(|p| p == n);
            let rdwr = has("O_RDWR");
            Some((rdwr || !has("O_WRONLY"), has("O_WRONLY") || rdwr, has("O_CREAT")))
        }
        Some(exporter::rules::ArgValue::Int(f)) => {
            Some((f & 3 == 0 || f & 3 == 2, f & 3 == 1 || f & 3 == 2, f & 0o100 != 0))
        }
        _ if ev.evt_type == "creat" => Some((false, true, true)),
        _ => None,
    };
    let is_open = ["open", "openat", "openat2", "open_by_handle_at", "creat"].contains(&ev.evt_type.as_str());
    match p {
        K::Path { fields, exact, prefixes, basenames, contains, suffixes } => fields.iter().any(|field| {
            let path = if field == "fd.name" {
                ev.fd.as_ref().map(|f| f.name.clone()).unwrap_or_default()
            } else {
                match ev.args.get(field.trim_start_matches("evt.arg.")) {
                    Some(exporter::rules::ArgValue::Str(s)) => s.clone(),
                    _ => String::new(),
                }
            };
            exact.contains(&path)
                || prefixes.iter().any(|p| path.starts_with(p))
                || basenames.iter().any(|b| path.rsplit('/').next() == Some(b))
                || contains.iter().any(|c| path.contains(c.as_str()))
                || suffixes.iter().any(|s| path.ends_with(s.as_str()))
        }),
        K::RawPathContains { needles } => {
            let raw = ev.fd.as_ref().map(|f| f.nameraw.clone().unwrap_or_else(|| f.name.clone())).unwrap_or_default();
            needles.iter().any(|n| raw.contains(n.as_str()))
        }
        K::Port { ports, .. } => ev.fd.as_ref().and_then(|f| f.rport).is_some_and(|p| ports.contains(&p)),
        K::Uid { any_of, none_of } => {
            (any_of.is_empty() || any_of.contains(&ev.user.uid)) && !none_of.contains(&ev.user.uid)
        }
        K::Comm { names } => names.contains(&ev.proc.name),
        K::NotComm { names } => !names.contains(&ev.proc.name),
        K::ContainerOnly => ev.container.is_some(),
        K::Success => ev.res >= 0,
        K::ResultZero => ev.res == 0,
        K::OpenRead => open_flags().is_some_and(|(read, _, _)| read),
        K::OpenWrite => open_flags().is_some_and(|(_, write, _)| write),
        K::OpenWriteOrCreate => !is_open || open_flags().is_some_and(|(_, write, create)| write || create),
        K::ExeFromMemfd => ev.proc.is_exe_from_memfd,
    }
}

#[test]
fn kernel_predicates_of_default_rules_hold_on_attack_events() {
    // A necessary condition must never reject an event the rule matches.
    let e = default_rules();
    let mut hits = Vec::new();
    for (file, line, ev, _) in recorded() {
        hits.clear();
        e.evaluate(&ev, &mut hits);
        for &i in &hits {
            let kf = e.kernel_filter(i as usize);
            if let Some(t) = &kf.event_types {
                assert!(t.contains(&ev.evt_type), "{file}:{line}");
            }
            for p in &kf.predicates {
                assert!(holds(p, &ev), "{file}:{line}: kernel predicate {p:?} rejects a matching event");
            }
        }
    }
}

#[test]
fn complete_kernel_filters_decide_exactly_what_the_rule_decides() {
    // For a rule the kernel counts alone, its predicates must also be sufficient: on every
    // recorded event, attack or benign, the kernel's verdict is the evaluator's.
    let e = default_rules();
    let mut complete = 0;
    for (_, rule, kf) in e.kernel_filters() {
        if !kf.complete {
            continue;
        }
        complete += 1;
        for (file, line, ev, _) in recorded() {
            let types = kf.event_types.as_ref().expect("complete filters name their event types");
            let kernel = types.contains(&ev.evt_type) && kf.predicates.iter().all(|p| holds(p, &ev));
            // This rule alone (first-match mode may report an earlier rule for the event).
            let matches = rule.condition.eval(&ev);
            assert_eq!(kernel, matches, "{file}:{line}: rule '{}' (kernel {kernel}, evaluator {matches})", rule.name);
        }
    }
    assert!(complete >= 3, "the shipped rules have kernel-decided rules ({complete})");
}

/// `exporter rules test` of the default rules on one events file.
fn replay(events: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["rules", "test", "--rules-dir"])
        .arg(root().join("../rules"))
        .arg("--events")
        .arg(events)
        .args(["--hostname", "node-1"])
        .output()
        .unwrap()
}

#[test]
fn cli_rules_test_replays_every_event_file() {
    let dir = root().join("tests/data/rules/events");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 15);
    for f in files {
        let out = replay(&f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", f.display());
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["_expect"].as_str().map(str::to_owned))
            .collect();
        let alerts: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let got: Vec<String> = alerts.iter().map(|a| a["rule"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, expected, "{}", f.display());
        for a in &alerts {
            for key in ["time", "rule", "priority", "output", "output_fields", "tags", "source", "hostname"] {
                assert!(a.get(key).is_some(), "alert lacks {key}: {a}");
            }
            assert_eq!(a["hostname"], "node-1");
            assert_eq!(a["source"], "syscall");
            assert!(!a["output"].as_str().unwrap().contains("%"), "{a}");
            assert!(a["priority"].as_str().unwrap().chars().all(|c| c.is_ascii_lowercase()));
        }
    }
}

#[test]
fn cli_alert_carries_container_labels() {
    let f = root().join("tests/data/rules/events/terminal_shell_in_container.jsonl");
    let out = replay(&f);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["container_id"], "3ad7b2c1e0f4");
    assert_eq!(first["container_name"], "web");
    assert_eq!(first["image"], "docker.io/library/nginx:1.25");
    assert_eq!(first["pod"], "web-7d9f");
    assert_eq!(first["namespace"], "shop");
    assert_eq!(first["priority"], "notice");
    assert_eq!(first["output_fields"]["proc.cmdline"], "bash -i");
    assert!(first["output"].as_str().unwrap().starts_with("A shell was spawned in a container with an attached terminal (proc=bash cmdline=bash -i parent=containerd-shim user=root container=3ad7b2c1e0f4 name=web image=docker.io/library/nginx pod=web-7d9f ns=shop)"), "{first}");
    assert_eq!(first["time"], "2025-11-28T20:20:00.000025000Z");
    assert_eq!(first["tags"][0], "container");
}
