//! The Sigma front end: one rule file (a YAML mapping with `logsource` and `detection`) -> one
//! IR [`Rule`]. The log source picks the syscall events ([`logsource`]), each search identifier
//! becomes a condition ([`detection`], values through [`modifiers`] and [`pattern`]), and the
//! `condition` joins them ([`condition`]). The rule's name is its `title`, its priority follows
//! `level`, its tags are kept; what cannot run on syscall events is an [`Unsupported`] with a
//! reason, never silently dropped.

pub mod condition;
pub mod detection;
pub mod logsource;
pub mod modifiers;
pub mod pattern;

use super::diag::{Diagnostic, Severity, Subject};
use super::eval::Expr;
use super::ir::{Priority, Rule, RuleSet, SigmaIdentity, Unsupported};
use super::output::Template;
use super::yaml::{Node, Pos};
use detection::Cx;
use logsource::Reason;
use std::sync::Arc;

/// Why a rule did not compile: an error, or something this sensor cannot serve.
#[derive(Debug, PartialEq)]
pub enum Problem {
    Error(Pos, String),
    Unsupported(Pos, Reason, String),
}

/// Whether a file's documents are a Sigma rule (a mapping with a Sigma rule's keys) rather than
/// Falco items (a sequence; any other mapping is a Falco file gone wrong).
pub fn is_sigma(docs: &[Node]) -> bool {
    let first = docs.iter().find(|d| !d.is_null());
    first.is_some_and(|d| ["detection", "logsource", "correlation"].iter().any(|k| d.get(k).is_some()))
}

/// Compiles the Sigma rule in `docs` (the documents of file `file`) into `out`.
pub fn compile_file(file: &str, docs: &[Node], out: &mut RuleSet) {
    let docs: Vec<&Node> = docs.iter().filter(|d| !d.is_null()).collect();
    let Some(doc) = docs.first() else { return };
    let title = match doc.get_str("title") {
        Ok(Some((t, _))) => t.to_owned(),
        Ok(None) => String::new(),
        Err((pos, msg)) => return error(out, file, pos, None, msg),
    };
    let subject = || (!title.is_empty()).then(|| Subject { kind: "rule", name: title.clone() });
    let problem = if docs.len() > 1 {
        Problem::Unsupported(
            docs[1].pos(),
            Reason::RuleCollection,
            "several documents: a rule collection, which Sigma 2 replaced by single rules".into(),
        )
    } else if doc.get("correlation").is_some() {
        Problem::Unsupported(doc.pos(), Reason::Correlation, "a correlation rule relates matches over time".into())
    } else if title.is_empty() || doc.get("logsource").is_none() || doc.get("detection").is_none() {
        let msg = "a Sigma rule needs 'title', 'logsource' and 'detection'";
        return error(out, file, doc.pos(), subject(), msg.into());
    } else {
        match rule(file, doc, &title) {
            Ok(r) => return out.rules.push(r),
            Err(p) => p,
        }
    };
    match problem {
        Problem::Error(pos, msg) => error(out, file, pos, subject(), msg),
        Problem::Unsupported(pos, reason, detail) => {
            let message = format!("not loaded, unsupported ({}): {detail}", reason.as_str());
            let subject = subject();
            out.report.diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                file: file.into(),
                pos,
                subject,
                message,
            });
            let reason = reason.as_str();
            out.report.unsupported.push(Unsupported { file: file.into(), pos, rule: title, reason, detail });
        }
    }
}

fn error(out: &mut RuleSet, file: &str, pos: Pos, subject: Option<Subject>, message: String) {
    out.report.diagnostics.push(Diagnostic { severity: Severity::Error, file: file.into(), pos, subject, message });
}

/// A rule, or its first problem: an unsupported log source, else the detection's errors before
/// its unsupported constructs, so a rule that is wrong is fixed rather than counted.
fn rule(file: &str, doc: &Node, title: &str) -> Result<Rule, Problem> {
    let (Some(logsource), Some(detection)) = (doc.get("logsource"), doc.get("detection")) else {
        return Err(Problem::Error(doc.pos(), "a Sigma rule needs 'logsource' and 'detection'".into()));
    };
    let cat = logsource::category(logsource)?;
    let Node::Map { entries, pos } = detection else {
        return Err(Problem::Error(detection.pos(), "'detection' must be a mapping".into()));
    };
    let mut cx = Cx::new(cat);
    let (mut ids, mut problems, mut cond) = (Vec::new(), Vec::new(), None);
    for (k, v) in entries {
        match k.as_str() {
            Some("condition") => cond = Some(v),
            Some("timeframe") => problems.push(Problem::Error(
                k.pos(),
                "'timeframe' needs correlation across events, which a syscall sensor does not do".into(),
            )),
            Some(name) => match detection::search(&mut cx, v) {
                Ok(e) => ids.push((name.to_owned(), e)),
                Err(p) => problems.push(p),
            },
            None => problems.push(Problem::Error(k.pos(), "a search identifier must be a string".into())),
        }
    }
    problems.sort_by_key(|p| !matches!(p, Problem::Error(..)));
    if let Some(p) = problems.into_iter().next() {
        return Err(p);
    }
    let cond = cond.ok_or_else(|| Problem::Error(*pos, "'detection' has no 'condition'".into()))?;
    let matched = condition_expr(cond, &ids)?;
    let events = logsource::events(cat).map_err(|m| Problem::Error(*pos, m))?;
    let text = |key: &str| match doc.get_str(key) {
        Ok(v) => Ok(v),
        Err((pos, msg)) => Err(Problem::Error(pos, msg)),
    };
    let level = text("level")?;
    let priority = match level {
        None => Priority::Warning,
        Some((level, pos)) => priority(level).ok_or_else(|| {
            Problem::Error(pos, format!("unknown level '{level}' (informational, low, medium, high, critical)"))
        })?,
    };
    let strings = |key: &str| match doc.get_seq(key) {
        Ok(items) => Ok(items.unwrap_or_default().iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()),
        Err((pos, msg)) => Err(Problem::Error(pos, msg)),
    };
    let identity = SigmaIdentity {
        id: text("id")?.map(|(id, _)| id.to_owned()),
        title: title.to_owned(),
        level: level.map(|(level, _)| level.to_owned()),
        references: strings("references")?,
    };
    Ok(Rule {
        name: title.to_owned(),
        desc: text("description")?.map(|(d, _)| d.trim().to_owned()).unwrap_or_default(),
        priority,
        tags: strings("tags")?,
        source: "syscall".into(),
        format: "sigma",
        enabled: true,
        file: file.to_owned(),
        pos: doc.get("title").map_or(doc.pos(), Node::pos),
        condition: Expr::And(vec![events, matched]).simplify(),
        output: output(&cx),
        sigma: Some(Arc::new(identity)),
    })
}

/// Sigma's levels on Falco's priorities.
fn priority(level: &str) -> Option<Priority> {
    Some(match level {
        "informational" => Priority::Informational,
        "low" => Priority::Notice,
        "medium" => Priority::Warning,
        "high" => Priority::Error,
        "critical" => Priority::Critical,
        _ => return None,
    })
}

/// The `condition`: one expression, or a list of them (ORed).
fn condition_expr(cond: &Node, ids: &[(String, Expr)]) -> Result<Expr, Problem> {
    let one = |n: &Node| {
        let text = n.as_str().ok_or_else(|| Problem::Error(n.pos(), "a condition must be a string".into()))?;
        condition::compile(text, ids).map_err(|(offset, msg)| {
            let (start, before) = (n.text_pos(), text.get(..offset).unwrap_or(""));
            let col = start.col + before.chars().count() as u32;
            Problem::Error(if before.contains('\n') { start } else { Pos { col, ..start } }, msg)
        })
    };
    match cond {
        Node::Seq { items, .. } => Ok(Expr::Or(items.iter().map(one).collect::<Result<_, _>>()?)),
        n => one(n),
    }
}

/// `Sigma=%field` for the fields every alert of the category shows and those the rule tests.
fn output(cx: &Cx) -> Template {
    let mut shown: Vec<(String, &str)> = Vec::new();
    let base = logsource::shown_fields(cx.cat).iter().filter_map(|s| match logsource::field(cx.cat, s) {
        Ok(logsource::Target::Field(f)) => Some((s.to_string(), f)),
        _ => None,
    });
    for (s, f) in base.chain(cx.used.iter().cloned()) {
        if !shown.iter().any(|(n, _)| *n == s) {
            shown.push((s, f));
        }
    }
    let text: Vec<String> = shown.iter().map(|(s, f)| format!("{s}=%{f}")).collect();
    Template::parse(&text.join(" ")).0
}

#[cfg(test)]
mod tests;
