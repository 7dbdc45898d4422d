//! Falco's own rules files (falcosecurity/rules, kept outside the repository in
//! `../shared/data/falcosecurity-rules`) are YAML that yaml-cpp accepts; they must load with no
//! YAML error. Their rules may still use fields or keys this engine lacks: that is not checked
//! here.

use std::path::PathBuf;

use exporter::rules::{falco::loader::Definitions, yaml};

const FILES: [&str; 3] = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"];

/// `(path, text)` of each file, in the order Falco loads them.
fn upstream_files() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/falcosecurity-rules");
    assert!(
        dir.is_dir(),
        "{} is missing: it holds falcosecurity/rules' rules/*.yaml, which this test loads",
        dir.display()
    );
    FILES
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), text)
        })
        .collect()
}

#[test]
fn each_file_parses_as_yaml() {
    for (path, text) in upstream_files() {
        if let Err((pos, message)) = yaml::parse(&text) {
            panic!("{path}:{}:{}: {message}", pos.line, pos.col);
        }
    }
}

#[test]
fn falco_loader_reports_no_yaml_error() {
    let mut defs = Definitions::default();
    for (path, text) in upstream_files() {
        defs.add_file(&path, &text);
    }
    let yaml_errors: Vec<String> =
        defs.diagnostics.iter().filter(|d| d.message.starts_with("invalid YAML")).map(|d| d.to_string()).collect();
    assert!(yaml_errors.is_empty(), "{yaml_errors:#?}");
    // A YAML error ends a file's loading: each got as far as its rules.
    for (i, file) in defs.files.iter().enumerate() {
        assert!(defs.rules.iter().any(|r| r.loc.file == i), "no rule loaded from {}", file.name);
    }
}
