//! The rule IR every front end produces and every back end reads: a [`Rule`] with its typed
//! condition ([`crate::rules::eval::Expr`], matchers precompiled), its priority and output.
//! Front ends (Falco YAML in `falco/`) build it; the evaluator ([`crate::rules::Engine`]), the
//! kernel predicates ([`crate::rules::kernel`]), the lints and the `rules` CLI only read it.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::diag::Diagnostic;
use super::eval::Expr;
use super::output::Template;
use super::yaml::Pos;

/// What a front end gives the back ends: the rules, and everything found on the way.
#[derive(Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub report: LoadReport,
}

/// Everything found while reading and compiling rules files, besides the rules: what `rules
/// check` and the lints print, and what the exporter logs and counts at each (re)load.
#[derive(Default)]
pub struct LoadReport {
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Macros and lists nothing uses: (file, name, position).
    pub unused_macros: Vec<(String, String, Pos)>,
    pub unused_lists: Vec<(String, String, Pos)>,
    /// Rules left out because they use fields this engine does not have.
    pub skipped_unknown: Vec<String>,
    pub required_engine_version: Option<String>,
    pub required_plugins: Vec<(String, String)>,
    /// Rules read but left out because they cannot run on syscall events.
    pub unsupported: Vec<Unsupported>,
}

/// A rule a front end read and cannot run here, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub file: String,
    pub pos: Pos,
    pub rule: String,
    /// A stable key (`service`, `hostname-pattern`, ...), counted by `rules check`.
    pub reason: &'static str,
    pub detail: String,
}

/// A rule ready to evaluate.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub source: String,
    /// The rule language it was written in: `falco` or `sigma`.
    pub format: &'static str,
    pub enabled: bool,
    /// File name and position of the `- rule:` item.
    pub file: String,
    pub pos: Pos,
    /// The typed condition (exceptions included).
    pub condition: Expr,
    pub output: Template,
    /// The Sigma rule's own identity, for its alerts; `None` for Falco rules.
    pub sigma: Option<Arc<SigmaIdentity>>,
}

/// How a Sigma rule names itself, so an alert leads back to the rule a SIEM knows: its `id`,
/// `title`, `level` (as written, before mapping to a priority) and `references`. Its `tags` are
/// the alert's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SigmaIdentity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub references: Vec<String>,
}

/// Falco priorities, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "info" | "informational" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return None,
        })
    }
    /// Lower-case Falco name, as in alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "emergency",
            Priority::Alert => "alert",
            Priority::Critical => "critical",
            Priority::Error => "error",
            Priority::Warning => "warning",
            Priority::Notice => "notice",
            Priority::Informational => "informational",
            Priority::Debug => "debug",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison operator of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    PMatch,
    Exists,
    /// Case-insensitive `=`, `startswith`, `endswith` (Sigma's default matching; not words of
    /// Falco's condition language).
    IEq,
    IStartsWith,
    IEndsWith,
    /// The field's value equals another field's (Sigma's `fieldref`); the operand is that
    /// field's name.
    FieldEq,
}

impl Op {
    /// Falco's operators: the words and symbols its conditions may use.
    pub const ALL: [Op; 19] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::Contains,
        Op::IContains,
        Op::BContains,
        Op::StartsWith,
        Op::BStartsWith,
        Op::EndsWith,
        Op::Glob,
        Op::IGlob,
        Op::Regex,
        Op::In,
        Op::Intersects,
        Op::PMatch,
        Op::Exists,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::Regex => "regex",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
            Op::Exists => "exists",
            Op::IEq => "ieq",
            Op::IStartsWith => "istartswith",
            Op::IEndsWith => "iendswith",
            Op::FieldEq => "eqfield",
        }
    }

    pub fn from_word(w: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|o| o.as_str() == w && o.is_word())
    }

    fn is_word(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// Takes a list operand.
    pub fn is_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
