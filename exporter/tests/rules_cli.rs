//! `exporter rules check|list|test` through the built binary: golden outputs, exit codes, the
//! one-line error format.
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p exporter --test rules_cli`
//! (refused under `CI=true`: a check that rewrites what it compares with cannot fail).

use std::path::Path;
use std::process::{Command, Output};

fn exporter(args: &[&str]) -> Output {
    exporter_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// The binary run with `args` in the working directory `dir`.
fn exporter_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn golden(path: &str, actual: &str) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "UPDATE_GOLDEN is refused under CI=true");
        std::fs::write(&p, actual).unwrap();
    }
    let want = std::fs::read_to_string(&p).unwrap();
    assert_eq!(actual, want, "{path} differs (UPDATE_GOLDEN=1 to regenerate)");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn list_text_golden() {
    let out = exporter(&["rules", "list", "--rules-dir", "tests/data/rules/golden/rules"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    golden("tests/data/rules/golden/list.txt", &text(&out.stdout));
}

#[test]
fn list_json_golden() {
    let out = exporter(&["rules", "list", "--rules-dir", "tests/data/rules/golden/rules", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    golden("tests/data/rules/golden/list.json", &text(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
    assert_eq!(v[1]["tags"], serde_json::json!(["filesystem", "mitre_persistence"]));
}

/// `rules list` without `--rules-dir` reads `./rules`: in a directory without one it fails
/// naming it; once `./rules` is the golden rule set, it lists exactly the golden rules.
#[test]
fn list_defaults_to_rules_dir_and_fails_on_missing_dir() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = exporter_in(cwd.path(), &["rules", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "exporter: error: rules: cannot read rules directory: No such file or directory (os error 2)\n"
    );
    let golden_rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules/golden/rules");
    std::os::unix::fs::symlink(&golden_rules, cwd.path().join("rules")).expect("link ./rules");
    let out = exporter_in(cwd.path(), &["rules", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules/golden/list.txt"))
        .expect("golden list")
        .replace("tests/data/rules/golden/rules/", "rules/");
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn check_reports_every_error_one_line_each_and_exits_1() {
    let out = exporter(&["rules", "check", "--rules-dir", "tests/data/rules/bad"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    golden("tests/data/rules/bad/check.stderr", &stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"));
    for line in stderr.lines() {
        let rest = line.strip_prefix("exporter: error: ").or_else(|| line.strip_prefix("exporter: warning: "));
        let rest = rest.unwrap_or_else(|| panic!("bad prefix: {line}"));
        let mut parts = rest.splitn(4, ':');
        let (file, l, c) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        assert!(file.ends_with(".yaml"), "{line}");
        assert!(l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok(), "{line}");
    }
    for cause in [
        "rule 'unknown operator': unknown operator 'likes'",
        "rule 'wrong operand type': wrong operand type",
        "rule 'undefined macro': undefined macro 'not_defined_anywhere'",
        "macro 'loop_b': cyclic macro reference: loop_a -> loop_b -> loop_a",
        "rule 'missing list': undefined list 'no_such_list'",
        "rule 'bad regex': bad regex '^/etc/(shadow'",
        "rule 'wrong operand type': duplicate rule (first defined at line 10)",
        "rule 'not defined before': override/append of rule 'not defined before' which is not defined",
        "rule 'bad priority': unknown priority 'SEVERE'",
        "rule 'unknown field': unknown field 'proc.nmae'",
        "20-malformed.yaml:4:9: invalid YAML",
    ] {
        assert!(stderr.contains(cause), "missing {cause:?} in\n{stderr}");
    }
}

#[test]
fn check_passes_default_rules() {
    let out = exporter(&["rules", "check", "--rules-dir", "../rules"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(
        text(&out.stdout).contains("15 rules loaded (15 enabled, 0 skipped for unknown fields), 0 errors, 0 warnings")
    );
}

#[test]
fn check_exits_0_with_only_warnings() {
    let out = exporter(&["rules", "check", "--rules-dir", "tests/data/rules/falco"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.lines().all(|l| l.starts_with("exporter: warning: ")), "{stderr}");
    assert!(stderr.contains("macro 'interactive': unused macro"));
    assert!(stderr.contains("list 'coreutils_binaries': unused list"));
    assert!(!stderr.contains("Mount Launched in Privileged Container"), "skip-if-unknown-filter is silent");
    assert!(text(&out.stdout).contains("6 rules loaded (6 enabled, 1 skipped for unknown fields), 0 errors"));
    assert!(text(&out.stdout).contains("required plugin: k8saudit 0.7.0"));
}

#[test]
fn test_subcommand_reports_bad_event_lines() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    std::fs::write(
        &events,
        "# comment\n{\"type\":\"execve\",\"proc\":{\"name\":\"apk\"},\"container\":{\"id\":\"c\"}}\n{not json\n",
    )
    .unwrap();
    let out = exporter(&[
        "rules",
        "test",
        "--rules-dir",
        "../rules",
        "--events",
        events.to_str().unwrap(),
        "--hostname",
        "h",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("\"rule\":\"Package management process in container\""));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("e.jsonl:3:2: bad event: key must be a string"), "{stderr}");
    assert!(stderr.contains("2 events") || stderr.contains("1 events"), "{stderr}");
}

#[test]
fn test_subcommand_missing_events_file() {
    let out = exporter(&["rules", "test", "--rules-dir", "../rules", "--events", "/nonexistent.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("exporter: error: /nonexistent.jsonl: cannot open events file"));
}
