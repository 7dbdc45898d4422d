//! `--response.config`: which alerts may act on a container, and how hard. Read once at start;
//! every problem is one line `--response.config FILE:LINE:COL: cause`.
//!
//! ```yaml
//! dry_run: false                  # decide and audit, but touch no cgroup
//! cooldown_seconds: 600           # a container acted on is left alone this long
//! max_containers_per_minute: 5    # across all policies; past it, alerts are refused
//! policies:                       # the first that matches an alert decides
//!   - name: freeze credential readers
//!     action: freeze              # freeze | kill | log
//!     rules: [Read sensitive file untrusted]   # rule label (or alertname); absent = any
//!     priorities: [critical, error, warning]   # absent = any
//!     namespaces: [payments]                   # the container's, as resolved; absent = any
//!     images: ["registry.example.com/*"]       # globs (* and ?); absent = any
//! ```

use std::{path::Path, time::Duration};

use crate::rules::{
    glob_matches,
    yaml::{self, Node, Pos},
    Priority,
};

/// What a policy does to a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// cgroup v2 `cgroup.freeze` (v1 `freezer.state` where only that exists): reversible.
    Freeze,
    /// `cgroup.kill`: every process of the container, at once.
    Kill,
    /// Only the audit line.
    Log,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Freeze => "freeze",
            Action::Kill => "kill",
            Action::Log => "log",
        }
    }
}

/// One entry of `policies`: the alerts it covers and its action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    pub name: String,
    pub action: Action,
    /// Each list empty = any value.
    pub rules: Vec<String>,
    pub priorities: Vec<Priority>,
    pub namespaces: Vec<String>,
    pub images: Vec<String>,
}

/// What one alert is about, as the policy compares it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub rule: &'a str,
    pub priority: Option<Priority>,
    pub namespace: &'a str,
    pub image: &'a str,
}

impl PolicyRule {
    fn covers(&self, s: &Subject) -> bool {
        let any_or = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        any_or(&self.rules, s.rule)
            && (self.priorities.is_empty() || s.priority.is_some_and(|p| self.priorities.contains(&p)))
            && any_or(&self.namespaces, s.namespace)
            && (self.images.is_empty() || self.images.iter().any(|g| glob_matches(g, s.image)))
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub dry_run: bool,
    pub cooldown: Duration,
    pub max_per_minute: u32,
    pub rules: Vec<PolicyRule>,
}

impl Policy {
    /// The first policy that covers `subject`.
    pub fn decide(&self, subject: &Subject) -> Option<&PolicyRule> {
        self.rules.iter().find(|r| r.covers(subject))
    }

    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| PolicyError::at(path, None, format!("cannot read: {e}")))?;
        Policy::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let err = |pos: Pos, msg: String| PolicyError::at(path, Some(pos), msg);
        let docs = yaml::parse(text).map_err(|(pos, msg)| err(pos, msg))?;
        let root = match docs.as_slice() {
            [root @ Node::Map { .. }] => root,
            [] => return Err(PolicyError::at(path, None, "empty: it needs at least one entry under policies".into())),
            [other] => return Err(err(other.pos(), format!("expected a mapping, found {}", other.kind()))),
            [_, second, ..] => return Err(err(second.pos(), "expected one YAML document".into())),
        };
        check_keys(root, TOP_KEYS).map_err(|(pos, msg)| err(pos, msg))?;
        let dry_run = root.get_bool("dry_run").map_err(|(pos, msg)| err(pos, msg))?.unwrap_or(false);
        let cooldown = Duration::from_secs(number(root, "cooldown_seconds", 0).map_err(|(pos, msg)| err(pos, msg))?);
        let max_per_minute = number(root, "max_containers_per_minute", 1).map_err(|(pos, msg)| err(pos, msg))?;
        let max_per_minute = u32::try_from(max_per_minute).map_err(|_| {
            err(root.get("max_containers_per_minute").map_or(root.pos(), Node::pos), "too large".into())
        })?;
        let items = root.get_seq("policies").map_err(|(pos, msg)| err(pos, msg))?.unwrap_or_default();
        if items.is_empty() {
            return Err(err(
                root.key("policies").map_or(root.pos(), Node::pos),
                "policies: at least one is needed".into(),
            ));
        }
        let rules = items.iter().map(policy_rule).collect::<Result<_, _>>().map_err(|(pos, msg)| err(pos, msg))?;
        Ok(Policy { dry_run, cooldown, max_per_minute, rules })
    }
}

const TOP_KEYS: &[&str] = &["dry_run", "cooldown_seconds", "max_containers_per_minute", "policies"];
const RULE_KEYS: &[&str] = &["name", "action", "rules", "priorities", "namespaces", "images"];

type Located<T> = Result<T, (Pos, String)>;

/// `node` is a mapping whose keys are each one of `known`, once.
fn check_keys(node: &Node, known: &[&str]) -> Located<()> {
    let Node::Map { entries, .. } = node else {
        return Err((node.pos(), format!("expected a mapping, found {}", node.kind())));
    };
    let mut seen = Vec::new();
    for (key, _) in entries {
        let name = key.as_str().unwrap_or_default();
        if !known.contains(&name) {
            return Err((key.pos(), format!("unknown key '{name}'; known: {}", known.join(", "))));
        }
        if seen.contains(&name) {
            return Err((key.pos(), format!("'{name}' given twice")));
        }
        seen.push(name);
    }
    Ok(())
}

/// A whole number of at least `min` (required: a limit left out is a limit forgotten).
fn number(node: &Node, key: &str, min: u64) -> Located<u64> {
    let (text, pos) = node.get_str(key)?.ok_or_else(|| (node.pos(), format!("'{key}' is required")))?;
    text.parse::<u64>()
        .ok()
        .filter(|&n| n >= min)
        .ok_or_else(|| (pos, format!("'{key}' must be a whole number of at least {min}, found '{text}'")))
}

/// A list of non-empty strings; absent or empty = any.
fn strings(node: &Node, key: &str) -> Located<Vec<(String, Pos)>> {
    let items = node.get_seq(key)?.unwrap_or_default();
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(s) if !s.is_empty() => Ok((s.to_owned(), item.pos())),
            _ => Err((item.pos(), format!("'{key}' items must be non-empty strings"))),
        })
        .collect()
}

fn policy_rule(node: &Node) -> Located<PolicyRule> {
    check_keys(node, RULE_KEYS)?;
    let (name, _) = node.get_str("name")?.ok_or_else(|| (node.pos(), "a policy needs a name".to_owned()))?;
    let (action, pos) =
        node.get_str("action")?.ok_or_else(|| (node.pos(), format!("policy '{name}' needs an action")))?;
    let action = match action {
        "freeze" => Action::Freeze,
        "kill" => Action::Kill,
        "log" => Action::Log,
        other => return Err((pos, format!("policy '{name}': action '{other}': use freeze, kill or log"))),
    };
    let priorities = strings(node, "priorities")?
        .into_iter()
        .map(|(p, pos)| Priority::parse(&p).ok_or_else(|| (pos, format!("policy '{name}': unknown priority '{p}'"))))
        .collect::<Result<_, _>>()?;
    let plain = |key: &str| -> Located<Vec<String>> { Ok(strings(node, key)?.into_iter().map(|(s, _)| s).collect()) };
    Ok(PolicyRule {
        name: name.to_owned(),
        action,
        rules: plain("rules")?,
        priorities,
        namespaces: plain("namespaces")?,
        images: plain("images")?,
    })
}

/// A `--response.config` problem, one line: `--response.config FILE[:LINE:COL]: cause`.
#[derive(Debug, thiserror::Error)]
#[error("--response.config {location}: {message}")]
pub struct PolicyError {
    location: String,
    message: String,
}

impl PolicyError {
    fn at(file: &Path, pos: Option<Pos>, message: String) -> PolicyError {
        let location = match pos {
            Some(p) => format!("{}:{}:{}", file.display(), p.line, p.col),
            None => file.display().to_string(),
        };
        PolicyError { location, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
dry_run: true
cooldown_seconds: 60
max_containers_per_minute: 2
policies:
  - name: creds
    action: freeze
    rules: [Read sensitive file untrusted]
    priorities: [warning, critical]
    images: ['busybox*']
  - name: audit the rest
    action: log
";

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(Path::new("r.yml"), text).map_err(|e| e.to_string())
    }

    fn subject<'a>(rule: &'a str, priority: &str, image: &'a str) -> Subject<'a> {
        Subject { rule, priority: Priority::parse(priority), namespace: "", image }
    }

    #[test]
    fn first_covering_policy_decides() {
        let p = parse(GOOD).unwrap();
        assert!(p.dry_run);
        assert_eq!((p.cooldown, p.max_per_minute), (Duration::from_secs(60), 2));
        let name = |s: Subject| p.decide(&s).map(|r| (r.name.as_str(), r.action));
        let creds = Some(("creds", Action::Freeze));
        assert_eq!(name(subject("Read sensitive file untrusted", "warning", "busybox:1.36")), creds);
        assert_eq!(
            name(subject("Read sensitive file untrusted", "notice", "busybox")),
            Some(("audit the rest", Action::Log))
        );
        assert_eq!(name(subject("Read sensitive file untrusted", "warning", "nginx")).map(|n| n.1), Some(Action::Log));
        assert_eq!(name(subject("Other", "critical", "busybox")).map(|n| n.1), Some(Action::Log));
        let only = parse("cooldown_seconds: 0\nmax_containers_per_minute: 1\npolicies:\n  - {name: n, action: kill, namespaces: [prod]}\n").unwrap();
        assert!(only.decide(&subject("x", "debug", "")).is_none(), "namespace '' is not prod");
    }

    #[test]
    fn errors_are_one_line_with_file_line_and_column() {
        let head = "cooldown_seconds: 1\nmax_containers_per_minute: 1\n";
        for (text, want) in [
            ("policies: [\n", "r.yml:2:1: invalid YAML"),
            ("- a\n", "r.yml:1:1: expected a mapping, found a sequence"),
            ("dryrun: true\n", "r.yml:1:1: unknown key 'dryrun'; known: dry_run,"),
            ("dry_run: maybe\n", "r.yml:1:10: 'dry_run' must be true or false"),
            ("max_containers_per_minute: 1\npolicies: []\n", "r.yml:1:1: 'cooldown_seconds' is required"),
            (
                "cooldown_seconds: -1\n",
                "r.yml:1:19: 'cooldown_seconds' must be a whole number of at least 0, found '-1'",
            ),
            (
                "cooldown_seconds: 1\nmax_containers_per_minute: 0\n",
                "r.yml:2:28: 'max_containers_per_minute' must be a whole number of at least 1",
            ),
        ] {
            let got = parse(text).unwrap_err();
            assert!(got.starts_with("--response.config ") && got.contains(want), "{text:?}: {got}");
            assert!(!got.contains('\n'), "{got}");
        }
        for (rest, want) in [
            ("policies: []\n", "r.yml:3:1: policies: at least one is needed"),
            (
                "policies:\n  - name: a\n    action: quarantine\n",
                "r.yml:5:13: policy 'a': action 'quarantine': use freeze, kill or log",
            ),
            (
                "policies:\n  - name: a\n    action: log\n    priorities: [urgent]\n",
                "r.yml:6:18: policy 'a': unknown priority 'urgent'",
            ),
            ("policies:\n  - name: a\n    action: log\n    image: [x]\n", "r.yml:6:5: unknown key 'image'"),
            ("policies:\n  - action: log\n", "r.yml:4:5: a policy needs a name"),
            (
                "policies:\n  - name: a\n    action: log\n    rules: ['']\n",
                "r.yml:6:13: 'rules' items must be non-empty strings",
            ),
        ] {
            let got = parse(&format!("{head}{rest}")).unwrap_err();
            assert!(got.contains(want), "{rest:?}: {got}");
        }
        let missing = Policy::load(Path::new("/nonexistent/r.yml")).unwrap_err().to_string();
        assert!(missing.starts_with("--response.config /nonexistent/r.yml: cannot read:"), "{missing}");
    }
}
