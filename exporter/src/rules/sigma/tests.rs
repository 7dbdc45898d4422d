//! Sigma rules end to end: files -> engine -> events, the spec's semantics table-driven, and
//! the errors and unsupported rules as `rules check` reports them.

use crate::rules::{Engine, Event, Priority, Severity};

fn rule(logsource: &str, detection: &str) -> String {
    format!("title: T\nid: 1\nlogsource:\n    product: linux\n    {logsource}\ndetection:\n{detection}\nlevel: high\n")
}

fn engine(text: &str) -> Engine {
    Engine::from_sources(&[("r.yml", text)])
}

fn exec(exe: &str, cmdline: &str) -> Event {
    let v = serde_json::json!({"type": "execve", "res": 0,
        "proc": {"pid": 42, "ppid": 7, "name": exe.rsplit('/').next(), "exepath": exe, "cmdline": cmdline,
                 "cwd": "/root", "ancestors": [{"pid": 7, "name": "bash", "exepath": "/usr/bin/bash", "cmdline": "bash -i"}]},
        "user": {"uid": 0, "name": "root", "loginuid": 1000}});
    Event::from_json(&v.to_string()).unwrap()
}

/// Whether a process_creation rule with `detection` matches `ev`.
fn fires(detection: &str, ev: &Event) -> bool {
    let e = engine(&rule("category: process_creation", detection));
    assert!(!e.has_errors(), "{detection}\n{:?}", e.report.diagnostics);
    assert_eq!(e.rules().len(), 1, "{detection}");
    e.first_match(ev).is_some()
}

#[test]
fn spec_semantics_table() {
    let cat = exec("/usr/bin/cat", "cat /etc/shadow -n");
    // (detection, matches `cat /etc/shadow -n` run as /usr/bin/cat)
    let table: &[(&str, bool)] = &[
        // Maps AND, lists OR, list of maps OR.
        ("  sel:\n    Image: /usr/bin/cat\n    CommandLine|contains: shadow\n  condition: sel", true),
        ("  sel:\n    Image: /usr/bin/cat\n    CommandLine|contains: passwd\n  condition: sel", false),
        ("  sel:\n    Image:\n      - /bin/sh\n      - /usr/bin/cat\n  condition: sel", true),
        ("  sel:\n    - Image: /bin/sh\n    - CommandLine|endswith: ' -n'\n  condition: sel", true),
        ("  sel:\n    - Image: /bin/sh\n    - CommandLine|endswith: ' -x'\n  condition: sel", false),
        // Case-insensitive unless cased.
        ("  sel:\n    Image: /USR/BIN/CAT\n  condition: sel", true),
        ("  sel:\n    Image|cased: /USR/BIN/CAT\n  condition: sel", false),
        ("  sel:\n    CommandLine|contains|cased: SHADOW\n  condition: sel", false),
        ("  sel:\n    CommandLine|startswith: 'CAT '\n  condition: sel", true),
        // Wildcards and escapes.
        ("  sel:\n    Image: /usr/*/c?t\n  condition: sel", true),
        ("  sel:\n    Image: /usr/*/c??t\n  condition: sel", false),
        ("  sel:\n    CommandLine: 'cat /etc/*'\n  condition: sel", true),
        ("  sel:\n    CommandLine: 'cat /etc/\\*'\n  condition: sel", false),
        ("  sel:\n    Image: '*'\n  condition: sel", true),
        // all: every value.
        ("  sel:\n    CommandLine|contains|all: [cat, shadow]\n  condition: sel", true),
        ("  sel:\n    CommandLine|contains|all: [cat, passwd]\n  condition: sel", false),
        // Keywords search the command line; '|all' ANDs them.
        ("  keywords:\n    - passwd\n    - SHADOW\n  condition: keywords", true),
        ("  keywords:\n    '|all':\n      - shadow\n      - passwd\n  condition: keywords", false),
        // null: the field is absent; '' is the empty value.
        ("  sel:\n    Image: /usr/bin/cat\n  f:\n    ParentImage: null\n  condition: sel and not f", true),
        ("  sel:\n    CommandLine: ''\n  condition: sel", false),
        ("  sel:\n    CurrentDirectory: '/root'\n    User|contains: ''\n  condition: sel", true),
        // Modifiers.
        ("  sel:\n    CommandLine|re: '^cat /etc/[a-z]+ -n$'\n  condition: sel", true),
        ("  sel:\n    CommandLine|re: '^CAT'\n  condition: sel", false),
        ("  sel:\n    CommandLine|re|i: '^CAT'\n  condition: sel", true),
        ("  sel:\n    CommandLine|windash|contains: ' /n'\n  condition: sel", true),
        ("  sel:\n    ParentCommandLine|exists: true\n  condition: sel", true),
        ("  sel:\n    ParentCommandLine|exists: false\n  condition: sel", false),
        ("  sel:\n    ProcessId|gt: 41\n  condition: sel", true),
        ("  sel:\n    ProcessId|lt: 42\n  condition: sel", false),
        ("  sel:\n    ProcessId|lte: 42\n    ParentProcessId|gte: 7\n  condition: sel", true),
        ("  sel:\n    LogonId: 1000\n    User: ROOT\n  condition: sel", true),
        ("  sel:\n    Image|neq: /usr/bin/cat\n  condition: sel", false),
        ("  sel:\n    CurrentDirectory|fieldref: CurrentDirectory\n  condition: sel", true),
        ("  sel:\n    Image|fieldref: ParentImage\n  condition: sel", false),
        // Conditions.
        ("  a:\n    Image|endswith: /cat\n  b:\n    Image|endswith: /sh\n  condition: a and not b", true),
        ("  sel_a:\n    Image|endswith: /cat\n  sel_b:\n    Image|endswith: /sh\n  condition: all of sel_*", false),
        ("  sel_a:\n    Image|endswith: /cat\n  sel_b:\n    Image|endswith: /sh\n  condition: 1 of sel_*", true),
        ("  sel:\n    Image|endswith: /cat\n  _x:\n    Image|endswith: /sh\n  condition: all of them", true),
        ("  a:\n    Image|endswith: /sh\n  b:\n    Image|endswith: /cat\n  condition:\n    - a\n    - b", true),
    ];
    for (detection, want) in table {
        assert_eq!(fires(detection, &cat), *want, "{detection}");
    }
}

#[test]
fn only_successful_execs_are_process_creation() {
    let d = "  sel:\n    Image|endswith: /cat\n  condition: sel";
    assert!(fires(d, &exec("/usr/bin/cat", "cat")));
    let mut failed = exec("/usr/bin/cat", "cat");
    failed.res = -2;
    assert!(!fires(d, &failed));
    let mut open = exec("/usr/bin/cat", "cat");
    open.evt_type = "openat".into();
    assert!(!fires(d, &open));
}

#[test]
fn rule_identity_priority_tags_output() {
    let text = "title: Cat Shadow\nid: x\ndescription: reads\nlogsource:\n  product: linux\n  category: process_creation\n\
                detection:\n  sel:\n    CommandLine|contains: shadow\n  condition: sel\nlevel: low\ntags:\n  - attack.t1003\n";
    let e = engine(text);
    let r = &e.rules()[0];
    assert_eq!((r.name.as_str(), r.priority, r.desc.as_str()), ("Cat Shadow", Priority::Notice, "reads"));
    assert_eq!(r.tags, ["attack.t1003"]);
    assert_eq!(e.kernel_filter(0).event_types, Some(vec!["execve".into(), "execveat".into()]));
    let a = e.alert(0, &exec("/usr/bin/cat", "cat /etc/shadow"));
    assert_eq!(a.output, "Image=/usr/bin/cat CommandLine=cat /etc/shadow ParentImage=/usr/bin/bash User=root");
    for (level, p) in [
        ("informational", Priority::Informational),
        ("medium", Priority::Warning),
        ("high", Priority::Error),
        ("critical", Priority::Critical),
    ] {
        let e = engine(&text.replace("level: low", &format!("level: {level}")));
        assert_eq!(e.rules()[0].priority, p);
    }
}

/// A Sigma rule's alert carries its identity, so a SIEM finds the rule by id; a Falco rule's
/// alert keeps Falco's shape.
#[test]
fn alert_json_carries_the_sigma_identity() {
    let text = "title: Cat Shadow\nid: 0e1f\nlogsource:\n  product: linux\n  category: process_creation\n\
                detection:\n  sel:\n    CommandLine|contains: shadow\n  condition: sel\nlevel: medium\n\
                tags:\n  - attack.t1003\nreferences:\n  - https://example.test/a\n  - https://example.test/b\n";
    let falco = "- rule: F\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: info\n";
    let e = Engine::from_sources(&[("a.yml", text), ("b.yaml", falco)]);
    assert!(!e.has_errors(), "{:?}", e.report.diagnostics);
    let ev = exec("/usr/bin/cat", "cat /etc/shadow");
    // Falco's rules load first.
    let json = |format| {
        let i = e.rules().iter().position(|r| r.format == format).unwrap();
        serde_json::to_value(e.alert(i, &ev)).unwrap()
    };
    let sigma = json("sigma");
    let want = serde_json::json!({"id": "0e1f", "title": "Cat Shadow", "level": "medium",
        "references": ["https://example.test/a", "https://example.test/b"]});
    assert_eq!(sigma["sigma"], want);
    assert_eq!(
        (&sigma["rule"], &sigma["priority"], &sigma["tags"]),
        (&"Cat Shadow".into(), &"warning".into(), &serde_json::json!(["attack.t1003"]))
    );
    let falco = json("falco");
    assert!(falco.get("sigma").is_none(), "{falco}");
    // Without id, level and references: only what the rule says.
    let bare = text.replace("id: 0e1f\n", "").replace("level: medium\n", "");
    let bare = bare.split("references:").next().unwrap_or_default();
    let e = engine(bare);
    let sigma = serde_json::to_value(e.alert(0, &ev)).unwrap();
    assert_eq!(sigma["sigma"], serde_json::json!({"title": "Cat Shadow", "references": []}));
}

fn diagnostics(text: &str) -> Vec<String> {
    engine(text).report.diagnostics.iter().map(|d| format!("{:?}: {d}", d.severity)).collect()
}

#[test]
fn errors_are_one_line_with_position() {
    let unknown = rule("category: process_creation", "  sel:\n    Hashes: abc\n  condition: sel");
    assert_eq!(
        diagnostics(&unknown),
        ["Error: r.yml:8:5: rule 'T': field 'Hashes' has no mapping to a syscall event field"]
    );
    let wrong_cat = rule("category: process_creation", "  sel:\n    TargetFilename: /x\n  condition: sel");
    assert_eq!(
        diagnostics(&wrong_cat),
        ["Error: r.yml:8:5: rule 'T': field 'TargetFilename' is not in process_creation events (only in file_event)"]
    );
    let agg = rule("category: process_creation", "  sel:\n    Image: /x\n  condition: sel | count() by User > 3");
    assert_eq!(
        diagnostics(&agg),
        ["Error: r.yml:9:18: rule 'T': aggregations ('| count() ...') need correlation across events, which a syscall sensor does not do"]
    );
    let expand = rule("category: process_creation", "  sel:\n    User|expand: '%Admins%'\n  condition: sel");
    assert!(diagnostics(&expand)[0].contains("8:5: rule 'T': modifier 'expand'"), "{:?}", diagnostics(&expand));
    let port = rule("category: network_connection", "  sel:\n    DestinationPort|contains: 44\n  condition: sel");
    assert!(diagnostics(&port)[0]
        .ends_with("'DestinationPort': a number matches exactly (wildcards and contains are for text)"));
    let bad = "title: T\nlogsource:\n  category: process_creation\n";
    assert_eq!(
        diagnostics(bad),
        ["Error: r.yml:1:1: rule 'T': a Sigma rule needs 'title', 'logsource' and 'detection'"]
    );
    let level = rule("category: process_creation", "  sel:\n    Image: /x\n  condition: sel").replace("high", "severe");
    assert!(diagnostics(&level)[0].contains("unknown level 'severe'"));
}

#[test]
fn unsupported_sources_are_counted_with_reasons() {
    let det = "  sel:\n    type: EXECVE\n  condition: sel";
    let files = [
        ("a.yml", rule("service: auditd", det)),
        ("b.yml", rule("category: process_creation", det).replace("product: linux", "product: windows")),
        ("c.yml", rule("category: registry_event", det)),
        (
            "d.yml",
            rule(
                "category: network_connection",
                "  sel:\n    DestinationHostname|endswith: .ngrok.io\n  condition: sel",
            ),
        ),
        ("e.yml", rule("category: network_connection", "  sel:\n    Initiated: 'false'\n  condition: sel")),
        ("f.yml", "title: C\ncorrelation:\n  type: event_count\n".to_owned()),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let e = Engine::from_sources(&files);
    assert!(!e.has_errors(), "{:?}", e.report.diagnostics);
    let reasons: Vec<&str> = e.report.unsupported.iter().map(|u| u.reason).collect();
    assert_eq!(reasons, ["service", "product", "category", "hostname-pattern", "inbound-connection", "correlation"]);
    assert!(e.report.diagnostics.iter().all(|d| d.severity == Severity::Warning));
    assert_eq!(
        e.report.diagnostics[0].to_string(),
        "a.yml:5:14: rule 'T': not loaded, unsupported (service): service 'auditd' logs are records of another log source, not syscall events"
    );
}

#[test]
fn sigma_and_falco_files_load_side_by_side_with_unique_names() {
    let falco = "- rule: T\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: info\n";
    let sigma = rule("category: process_creation", "  sel:\n    Image: /x\n  condition: sel");
    let e = Engine::from_sources(&[("a.yaml", falco), ("b.yml", &sigma)]);
    assert_eq!(e.rules().len(), 1);
    assert_eq!(
        e.report.diagnostics[0].to_string(),
        "b.yml:1:8: rule 'T': a rule of this name is already defined at a.yaml:1"
    );
    let e = Engine::from_sources(&[("a.yaml", &falco.replace("rule: T", "rule: F")), ("b.yml", &sigma)]);
    assert!(e.report.diagnostics.is_empty(), "{:?}", e.report.diagnostics);
    assert_eq!(
        e.rules().iter().map(|r| (r.name.as_str(), r.format)).collect::<Vec<_>>(),
        [("F", "falco"), ("T", "sigma")]
    );
}

fn file_event(call: &str, path: &str, flags: &str) -> Event {
    let v = serde_json::json!({"type": call, "res": 3, "args": {"flags": flags},
        "proc": {"exepath": "/usr/bin/wget", "cmdline": "wget x"}, "fd": {"type": "file", "name": path}});
    Event::from_json(&v.to_string()).unwrap()
}

#[test]
fn file_events_are_creations_and_writes() {
    let e =
        engine(&rule("category: file_event", "  sel:\n    TargetFilename|startswith: /etc/cron.d/\n  condition: sel"));
    assert!(!e.has_errors(), "{:?}", e.report.diagnostics);
    let hit = |ev: &Event| e.first_match(ev).is_some();
    assert!(hit(&file_event("openat", "/etc/cron.d/x", "O_WRONLY|O_CREAT")));
    assert!(hit(&file_event("renameat2", "/etc/cron.d/x", "")));
    assert!(!hit(&file_event("openat", "/etc/cron.d/x", "O_RDONLY")));
    assert!(!hit(&file_event("openat", "/etc/passwd", "O_WRONLY")));
}

fn connect(ip: &str, port: u16, res: i64) -> Event {
    let v = serde_json::json!({"type": "connect", "res": res,
        "proc": {"exepath": "/usr/bin/bash", "cmdline": "bash -i"},
        "fd": {"type": if ip.contains(':') { "ipv6" } else { "ipv4" }, "l4proto": "tcp", "lip": "10.0.0.2", "lport": 40000,
               "rip": ip, "rport": port, "role": "client"}});
    Event::from_json(&v.to_string()).unwrap()
}

#[test]
fn network_connections_with_cidr_and_ports() {
    let det = "  selection:\n    Initiated: 'true'\n    DestinationPort:\n      - 4444\n      - 2222\n  \
               filter_main_local_ranges:\n    DestinationIp|cidr:\n      - '10.0.0.0/8'\n      - 'fc00::/7'\n  \
               condition: selection and not 1 of filter_main_*";
    let e = engine(&rule("category: network_connection", det));
    assert!(!e.has_errors(), "{:?}", e.report.diagnostics);
    let hit = |ev: &Event| e.first_match(ev).is_some();
    assert!(hit(&connect("203.0.113.9", 4444, 0)));
    assert!(hit(&connect("203.0.113.9", 2222, -115)), "EINPROGRESS is an attempt");
    assert!(!hit(&connect("10.1.2.3", 4444, 0)));
    assert!(!hit(&connect("fd00::1", 4444, 0)));
    assert!(!hit(&connect("203.0.113.9", 80, 0)));
    assert!(!hit(&connect("203.0.113.9", 4444, -111)));
    let prefix =
        engine(&rule("category: network_connection", "  s:\n    DestinationIp|startswith: '172.16.'\n  condition: s"));
    assert!(prefix.first_match(&connect("172.16.3.4", 1, 0)).is_some());
    assert!(prefix.first_match(&connect("172.17.3.4", 1, 0)).is_none());
}

#[test]
fn base64offset_finds_a_value_at_every_offset() {
    let det = "  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel";
    for (cmd, want) in [
        ("echo aHR0cDovL2V2aWw= | base64 -d", true),
        ("echo eCBodHRwOi8vZXZpbA== | base64 -d", true),
        ("echo eHggaHR0cDovL2V2aWw= | base64 -d", true),
        ("echo ZnRwOi8vZXZpbA== | base64 -d", false),
    ] {
        assert_eq!(fires(det, &exec("/usr/bin/sh", cmd)), want, "{cmd}");
    }
}
