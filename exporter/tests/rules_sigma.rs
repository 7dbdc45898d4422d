//! SigmaHQ's Linux rules (`../shared/data/sigma-linux`, used where they are, never copied):
//! every file loads or is unsupported for a stated reason, corpus rules fire on hand-made events
//! and not on their benign twins, and `rules check`/`rules test` serve Sigma files.

mod common;

use exporter::rules::{Engine, Event, MatchMode, Severity};
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    common::shared_data("sigma-linux")
}

fn yml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yml"))
        .count()
}

#[test]
fn every_corpus_rule_loads_or_is_unsupported_for_a_stated_reason() {
    // (category directory, files, rules loaded, unsupported (reason, file))
    type Expected<'a> = (&'a str, usize, usize, &'a [(&'a str, &'a str)]);
    let want: [Expected; 3] = [
        ("process_creation", 122, 122, &[]),
        ("file_event", 8, 8, &[]),
        // `DestinationHostname|endswith: .localto.net`: a suffix names no host to resolve.
        ("network_connection", 5, 4, &[("hostname-pattern", "net_connection_lnx_domain_localtonet_tunnel.yml")]),
    ];
    for (dir, files, loaded, unsupported) in want {
        let path = corpus().join(dir);
        assert_eq!(yml_files(&path), files, "{dir}");
        let e = Engine::load_dir(&path);
        let errors: Vec<String> =
            e.report.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
        assert!(errors.is_empty(), "{dir}: {errors:#?}");
        assert_eq!(e.rules().len(), loaded, "{dir}");
        let got: Vec<(&str, String)> = e
            .report
            .unsupported
            .iter()
            .map(|u| (u.reason, Path::new(&u.file).file_name().unwrap().to_string_lossy().into_owned()))
            .collect();
        let want: Vec<(&str, String)> = unsupported.iter().map(|(r, f)| (*r, f.to_string())).collect();
        assert_eq!(got, want, "{dir}");
        assert_eq!(loaded + unsupported.len(), files, "{dir}: every file is accounted for");
    }
}

/// A directory holding links to some corpus files.
fn linked(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let src = corpus().join(f);
        let name = Path::new(f).file_name().unwrap();
        std::os::unix::fs::symlink(&src, dir.path().join(name)).unwrap();
    }
    dir
}

fn exec(exe: &str, cmdline: &str) -> Event {
    let v = serde_json::json!({"type": "execve", "res": 0,
        "proc": {"pid": 42, "ppid": 7, "exepath": exe, "cmdline": cmdline, "name": exe.rsplit('/').next()},
        "user": {"uid": 0, "name": "root"}});
    Event::from_json(&v.to_string()).unwrap()
}

fn open_write(path: &str) -> Event {
    let v = serde_json::json!({"type": "openat", "res": 3, "args": {"flags": "O_WRONLY|O_CREAT|O_TRUNC"},
        "proc": {"exepath": "/usr/bin/tee", "cmdline": "tee x"}, "fd": {"type": "file", "name": path}});
    Event::from_json(&v.to_string()).unwrap()
}

fn connect(ip: &str, port: u16) -> Event {
    let v = serde_json::json!({"type": "connect", "res": 0, "proc": {"exepath": "/tmp/x", "cmdline": "/tmp/x"},
        "fd": {"type": "ipv4", "l4proto": "tcp", "lip": "10.0.0.2", "lport": 40000, "rip": ip, "rport": port,
               "role": "client"}});
    Event::from_json(&v.to_string()).unwrap()
}

fn matched(e: &Engine, ev: &Event) -> Vec<String> {
    let mut hits = Vec::new();
    e.evaluate(ev, &mut hits);
    hits.iter().map(|&i| e.rules()[i as usize].name.clone()).collect()
}

#[test]
fn corpus_rules_fire_and_their_benign_twins_do_not() {
    let dir = linked(&[
        "process_creation/proc_creation_lnx_python_base64_encoded_execution.yml",
        "process_creation/proc_creation_lnx_susp_history_delete.yml",
        "file_event/file_event_lnx_susp_cron_file_created.yml",
        "network_connection/net_connection_lnx_susp_malware_callback_port.yml",
    ]);
    let mut e = Engine::load_dir(dir.path());
    assert!(e.report.diagnostics.is_empty(), "{:?}", e.report.diagnostics);
    e.mode = MatchMode::All;
    let python = "Python One-Liners with Base64 Decoding - Linux";
    let cases: &[(Event, &[&str])] = &[
        // contains|all: every piece, in any order.
        (exec("/usr/bin/python3", "python3 -c import base64;exec(base64.b64decode('cHJpbnQoMSk='))"), &[python]),
        (exec("/usr/bin/python3", "python3 -c import json;print(json.dumps({}))"), &[]),
        (exec("/usr/bin/rm", "rm -f /root/.bash_history"), &["History File Deletion"]),
        (exec("/usr/bin/rm", "rm -f /root/notes.txt"), &[]),
        (open_write("/etc/cron.d/backdoor"), &["New Cron File Created"]),
        (open_write("/etc/cron.daily/apt"), &[]),
        // cidr filter: a private destination is not a callback.
        (connect("203.0.113.9", 4444), &["Potentially Suspicious Malware Callback Communication - Linux"]),
        (connect("192.168.1.9", 4444), &[]),
    ];
    for (ev, want) in cases {
        assert_eq!(matched(&e, ev), *want, "{ev:?}");
    }
}

fn exporter(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_exporter")).args(args).output().unwrap()
}

#[test]
fn rules_check_counts_unsupported_rules_by_reason() {
    let dir = corpus().join("network_connection");
    let out = exporter(&["rules", "check", "--rules-dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("4 rules loaded (4 enabled, 0 skipped for unknown fields), 0 errors, 1 warnings"),
        "{stdout}"
    );
    assert!(stdout.contains("1 rules unsupported on syscall events: hostname-pattern 1"), "{stdout}");
    assert!(
        stderr.contains("net_connection_lnx_domain_localtonet_tunnel.yml:23:9: rule 'Communication To LocaltoNet Tunneling Service Initiated - Linux': not loaded, unsupported (hostname-pattern)"),
        "{stderr}"
    );
}

#[test]
fn rules_test_replays_events_through_sigma_rules() {
    let dir = linked(&["process_creation/proc_creation_lnx_susp_history_delete.yml"]);
    let events = dir.path().join("events.jsonl");
    let lines = [exec("/usr/bin/shred", "shred -u /home/a/.zsh_history"), exec("/usr/bin/shred", "shred -u /tmp/x")]
        .map(|e| serde_json::to_string(&e).unwrap());
    std::fs::write(&events, lines.join("\n")).unwrap();
    let out = exporter(&[
        "rules",
        "test",
        "--rules-dir",
        dir.path().to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--hostname",
        "h",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let alerts: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 1, "{stdout}");
    assert_eq!(alerts[0]["rule"], "History File Deletion");
    assert_eq!(alerts[0]["priority"], "error");
    assert_eq!(alerts[0]["output_fields"]["proc.cmdline"], "shred -u /home/a/.zsh_history");
    assert!(alerts[0]["tags"].as_array().unwrap().iter().any(|t| t == "attack.impact"), "{stdout}");
}
