//! A rules directory -> one [`RuleSet`]: each file goes to the front end its shape names (a
//! Falco file is a sequence of items, a Sigma rule a mapping), and their rules are merged with
//! unique names: Falco's first (its files share macros and lists), then Sigma's, in file order.

use super::diag::{Diagnostic, Severity, Subject};
use super::falco::{self, loader::Definitions};
use super::ir::RuleSet;
use super::sigma;
use super::yaml::{self, Pos};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The rules files of a directory (`*.yaml`, `*.yml`, not recursive), in name order.
fn rule_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    v.sort();
    Ok(v)
}

fn problem(severity: Severity, file: String, message: String) -> Diagnostic {
    Diagnostic { severity, file, pos: Pos::default(), subject: None, message }
}

/// Loads and compiles every rules file of `dir`, in name order.
pub fn load_dir(dir: &Path) -> RuleSet {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    let name = dir.display().to_string();
    match rule_files(dir) {
        Ok(paths) if paths.is_empty() => {
            diagnostics.push(problem(Severity::Warning, name, "no *.yaml or *.yml rules files".into()))
        }
        Ok(paths) => {
            for p in paths {
                match std::fs::read_to_string(&p) {
                    Ok(text) => files.push((p.display().to_string(), text)),
                    Err(e) => {
                        diagnostics.push(problem(Severity::Error, p.display().to_string(), format!("cannot read: {e}")))
                    }
                }
            }
        }
        Err(e) => diagnostics.push(problem(Severity::Error, name, format!("cannot read rules directory: {e}"))),
    }
    compile(files.iter().map(|(n, t)| (n.as_str(), t.as_str())), diagnostics)
}

/// Compiles in-memory files `(name, text)`, in the given order.
pub fn from_sources(files: &[(&str, &str)]) -> RuleSet {
    compile(files.iter().copied(), Vec::new())
}

fn compile<'a>(files: impl Iterator<Item = (&'a str, &'a str)>, mut diagnostics: Vec<Diagnostic>) -> RuleSet {
    let mut defs = Definitions::default();
    let mut sigma_rules = RuleSet::default();
    for (name, text) in files {
        match yaml::parse(text) {
            Err((pos, message)) => diagnostics.push(Diagnostic {
                severity: Severity::Error,
                file: name.into(),
                pos,
                subject: None,
                message,
            }),
            Ok(docs) if sigma::is_sigma(&docs) => sigma::compile_file(name, &docs, &mut sigma_rules),
            Ok(docs) => defs.add_docs(name, text, docs),
        }
    }
    let mut set = falco::compile_definitions(defs);
    diagnostics.append(&mut set.diagnostics);
    diagnostics.append(&mut sigma_rules.diagnostics);
    let mut seen: HashMap<String, (String, u32)> =
        set.rules.iter().map(|r| (r.name.clone(), (r.file.clone(), r.pos.line))).collect();
    for r in sigma_rules.rules {
        match seen.get(&r.name) {
            Some((file, line)) => diagnostics.push(Diagnostic {
                severity: Severity::Error,
                file: r.file.clone(),
                pos: r.pos,
                subject: Some(Subject { kind: "rule", name: r.name.clone() }),
                message: format!("a rule of this name is already defined at {file}:{line}"),
            }),
            None => {
                seen.insert(r.name.clone(), (r.file.clone(), r.pos.line));
                set.rules.push(r);
            }
        }
    }
    set.unsupported = sigma_rules.unsupported;
    // Files load in name order, so this keeps each file's problems together, in order.
    diagnostics.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    set.diagnostics = diagnostics;
    set
}
