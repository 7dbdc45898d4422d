//! A realistic Falco-syntax rules directory (lists that nest, macros, exceptions, `override`,
//! `append: true`, a plugin source, fields this engine lacks) loads and matches as Falco would.

use exporter::rules::{Engine, Event, MatchMode, Severity};
use std::path::Path;

fn engine() -> Engine {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules/falco");
    let mut e = Engine::load_dir(&dir);
    e.mode = MatchMode::All;
    e
}

#[test]
fn loads_with_unsupported_rules_reported_and_skipped() {
    let e = engine();
    let errors: Vec<String> =
        e.report.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let names: Vec<&str> = e.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Read sensitive file untrusted",
            "Terminal shell in container",
            "Clear Log Activities",
            "Run shell untrusted",
            "Netcat Remote Code Execution in Container",
            "Disallowed SSH Connection"
        ]
    );
    let warnings: Vec<String> =
        e.report.diagnostics.iter().map(|d| format!("{}: {}", d.subject.as_ref().unwrap().name, d.message)).collect();
    assert_eq!(warnings, ["Attach/Exec Pod: source 'k8s_audit' is not supported by this engine; rule skipped"]);
    // skip-if-unknown-filter: skipped without a word, but still counted.
    assert_eq!(e.report.skipped_unknown, ["Mount Launched in Privileged Container"]);
    assert_eq!(e.report.required_engine_version.as_deref(), Some("0.31.0"));
    assert_eq!(e.report.required_plugins, [("k8saudit".to_owned(), "0.7.0".to_owned())]);
}

#[test]
fn overrides_and_appends_apply() {
    let e = engine();
    let term = e.rules().iter().find(|r| r.name == "Terminal shell in container").unwrap();
    assert_eq!(term.priority.as_str(), "critical");
    assert!(term.condition.to_text().contains("registry.local/debug-tools"));
    let ssh = e.rules().iter().find(|r| r.name == "Disallowed SSH Connection").unwrap();
    assert!(ssh.enabled, "enabled: true in the local file turns it on");
}

#[test]
fn events_match_as_falco_would() {
    let e = engine();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules/falco/events.jsonl"))
            .unwrap();
    let mut failures = Vec::new();
    let mut hits = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut ev = Event::from_json(line).unwrap();
        ev.num = i as u64 + 1;
        hits.clear();
        e.evaluate(&ev, &mut hits);
        let got: Vec<&str> = hits.iter().map(|&h| e.rules()[h as usize].name.as_str()).collect();
        let want: Vec<&str> = v["_expect"].as_str().into_iter().collect();
        if got != want {
            failures.push(format!("line {}: {}: want {want:?} got {got:?}", i + 1, v["_note"]));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn container_info_placeholder_renders() {
    let e = engine();
    let i = e.rules().iter().position(|r| r.name == "Netcat Remote Code Execution in Container").unwrap();
    let ev = Event::from_json(
        r#"{"type":"execve","proc":{"name":"nc","args":["-e","sh"]},"container":{"id":"abc","name":"web"}}"#,
    )
    .unwrap();
    let a = e.alert(i, &ev);
    assert!(a.output.ends_with("(user=<NA> command=nc -e sh container_id=abc container_name=web)"), "{}", a.output);
}
