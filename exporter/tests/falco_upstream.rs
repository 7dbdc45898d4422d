//! falcosecurity/rules' own files, unmodified (from ../shared/data, never copied here): each
//! loads with no error, no warning and no skipped rule, alone (the stable file) or after the
//! stable file (the incubating and sandbox files), as a Falco user runs them.

mod common;

use exporter::rules::Engine;

fn upstream(name: &str) -> (String, String) {
    let path = common::shared_data("falcosecurity-rules").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (name.to_owned(), text)
}

/// Loads the files in order and returns the engine, failing on any diagnostic.
fn load(names: &[&str]) -> Engine {
    let files: Vec<(String, String)> = names.iter().map(|n| upstream(n)).collect();
    let sources: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let engine = Engine::from_sources(&sources);
    let problems: Vec<String> = engine.report.diagnostics.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{names:?}:\n{}", problems.join("\n"));
    assert!(engine.report.skipped_unknown.is_empty(), "skipped: {:?}", engine.report.skipped_unknown);
    engine
}

#[test]
fn the_stable_file_loads_every_rule() {
    assert_eq!(load(&["falco_rules.yaml"]).rules().len(), 25);
}

#[test]
fn the_incubating_file_loads_every_rule_after_the_stable_one() {
    assert_eq!(load(&["falco_rules.yaml", "falco-incubating_rules.yaml"]).rules().len(), 25 + 31);
}

#[test]
fn the_sandbox_file_loads_every_rule_after_the_stable_one() {
    let engine = load(&["falco_rules.yaml", "falco-sandbox_rules.yaml"]);
    assert_eq!(engine.rules().len(), 25 + 37);
}
