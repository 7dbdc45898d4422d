use super::*;

fn load(files: &[(&str, &str)]) -> Definitions {
    let mut d = Definitions::default();
    for (n, t) in files {
        d.add_file(n, t);
    }
    d
}

fn errors(d: &Definitions) -> Vec<String> {
    d.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect()
}

const BASE: &str = "
- list: shells
  items: [sh, bash]
- macro: spawned
  condition: evt.type = execve
- rule: shell
  desc: a shell
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: info
  tags: [a]
  exceptions:
    - name: ok
      fields: [proc.pname]
      values: [[cron]]
";

#[test]
fn priorities_any_case() {
    assert_eq!(Priority::parse("INFORMATIONAL"), Some(Priority::Informational));
    assert_eq!(Priority::parse("Info"), Some(Priority::Informational));
    assert_eq!(Priority::parse("wArNiNg"), Some(Priority::Warning));
    assert_eq!(Priority::parse("EMERGENCY"), Some(Priority::Emergency));
    assert_eq!(Priority::parse("loud"), None);
}

#[test]
fn loads_items() {
    let d = load(&[("a.yaml", BASE)]);
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(d.rules[0].priority, Priority::Informational);
    assert_eq!(d.rules[0].loc.pos, Pos { line: 6, col: 3 });
    assert_eq!(d.lists[0].items.len(), 2);
    assert_eq!(d.rules[0].exceptions[0].values.len(), 1);
}

#[test]
fn override_and_append_across_files() {
    let d = load(&[
        ("a.yaml", BASE),
        (
            "b.yaml",
            "
- list: shells
  items: [zsh]
  override:
    items: append
- macro: spawned
  condition: and evt.dir = <
  append: true
- rule: shell
  condition: and user.uid = 0
  tags: [b]
  exceptions:
    - name: ok
      values: [[sshd]]
  override:
    condition: append
    tags: append
    exceptions: append
- rule: shell
  priority: CRITICAL
  override:
    priority: replace
",
        ),
    ]);
    assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    assert_eq!(d.lists[0].items.iter().map(|i| i.0.as_str()).collect::<Vec<_>>(), ["sh", "bash", "zsh"]);
    assert_eq!(d.macros[0].condition.text, "evt.type = execve and evt.dir = <");
    let r = &d.rules[0];
    assert_eq!(r.condition.text, "spawned and proc.name in (shells) and user.uid = 0");
    assert_eq!(r.tags, ["a", "b"]);
    assert_eq!(r.exceptions[0].values.len(), 2);
    assert_eq!(r.priority, Priority::Critical);
}

#[test]
fn enabled_only_item_toggles() {
    let d = load(&[("a.yaml", BASE), ("b.yaml", "- rule: shell\n  enabled: false\n")]);
    assert!(errors(&d).is_empty());
    assert!(!d.rules[0].enabled);
}

#[test]
fn error_override_missing() {
    let d = load(&[("a.yaml", "- rule: nope\n  condition: x\n  override:\n    condition: append\n")]);
    assert_eq!(errors(&d), ["a.yaml:1:3: rule 'nope': override/append of rule 'nope' which is not defined"]);
    let d = load(&[("a.yaml", "- list: l\n  items: [a]\n  append: true\n")]);
    assert_eq!(errors(&d), ["a.yaml:1:3: list 'l': override/append of list 'l' which is not defined"]);
}

#[test]
fn error_duplicate_rule_same_file() {
    let text = format!("{BASE}{}", BASE.split("- rule:").nth(1).map(|r| format!("- rule:{r}")).unwrap());
    let d = load(&[("a.yaml", &text)]);
    assert_eq!(errors(&d).len(), 1);
    assert!(errors(&d)[0].contains("rule 'shell': duplicate rule (first defined at line 6)"), "{:?}", errors(&d));
}

#[test]
fn redefinition_in_later_file_replaces_with_warning() {
    let d = load(&[("a.yaml", BASE), ("b.yaml", &BASE.replace("sh, bash", "ksh"))]);
    let warn: Vec<_> = d.diagnostics.iter().filter(|d| d.severity == Severity::Warning).collect();
    assert!(warn.iter().any(|w| w.message.contains("redefines the rule first defined at a.yaml:6")), "{warn:?}");
    assert_eq!(d.rules.len(), 1);
}

#[test]
fn error_malformed_yaml() {
    let d = load(&[("bad.yaml", "- rule: a\n  condition: [oops\n")]);
    let e = errors(&d);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("bad.yaml:") && e[0].contains("invalid YAML"), "{e:?}");
}

#[test]
fn error_missing_keys_and_bad_priority_all_reported() {
    let d = load(&[(
        "a.yaml",
        "- rule: a\n  condition: x\n- rule: b\n  desc: d\n  condition: x\n  output: o\n  priority: LOUD\n- macro: m\n",
    )]);
    let e = errors(&d);
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!(e[0], "a.yaml:1:3: rule 'a': missing required keys 'output', 'desc', 'priority'");
    assert!(e[1].starts_with("a.yaml:7:13: rule 'b': unknown priority 'LOUD'"));
    assert_eq!(e[2], "a.yaml:8:3: macro 'm': missing required key 'condition'");
}

#[test]
fn error_bad_override_mode() {
    let d =
        load(&[("a.yaml", BASE), ("b.yaml", "- rule: shell\n  priority: debug\n  override:\n    priority: append\n")]);
    assert_eq!(errors(&d), ["b.yaml:4:5: rule 'shell': key 'priority' cannot be appended to, only replaced"]);
}

#[test]
fn plugin_versions_and_engine_version() {
    let d = load(&[(
        "a.yaml",
        "- required_engine_version: 0.31.0\n- required_plugin_versions:\n  - name: k8saudit\n    version: 0.7.0\n",
    )]);
    assert_eq!(d.required_engine_version.as_deref(), Some("0.31.0"));
    assert_eq!(d.required_plugins, [("k8saudit".to_owned(), "0.7.0".to_owned())]);
}
