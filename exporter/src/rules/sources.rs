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

/// The rules files of a directory (`*.yaml`, `*.yml`, not recursive), in name order, and a
/// warning for each such name that is not a readable regular file (a symlink loop, a dangling
/// link, a directory): skipped, but said.
fn rule_files(dir: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<Diagnostic>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())) {
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => files.push(path),
            Ok(_) => skipped.push(problem(
                Severity::Warning,
                path.display().to_string(),
                "skipped: not a regular file".into(),
            )),
            Err(e) => skipped.push(problem(Severity::Warning, path.display().to_string(), format!("skipped: {e}"))),
        }
    }
    files.sort();
    skipped.sort_by(|a, b| a.file.cmp(&b.file));
    Ok((files, skipped))
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
        Ok((paths, mut skipped)) if paths.is_empty() => {
            diagnostics.append(&mut skipped);
            diagnostics.push(problem(Severity::Warning, name, "no *.yaml or *.yml rules files".into()))
        }
        Ok((paths, mut skipped)) => {
            diagnostics.append(&mut skipped);
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
    diagnostics.append(&mut set.report.diagnostics);
    diagnostics.append(&mut sigma_rules.report.diagnostics);
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
    set.report.unsupported = sigma_rules.report.unsupported;
    // Files load in name order, so this keeps each file's problems together, in order.
    diagnostics.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    set.report.diagnostics = diagnostics;
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_readable_files_are_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("10-good.yaml"), "- list: l\n  items: [a]\n").unwrap();
        std::os::unix::fs::symlink("20-loop.yaml", dir.path().join("20-loop.yaml")).unwrap();
        std::os::unix::fs::symlink("nowhere.yaml", dir.path().join("30-dangling.yml")).unwrap();
        std::fs::create_dir(dir.path().join("40-dir.yaml")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rules file").unwrap();
        let set = load_dir(dir.path());
        let said: Vec<(String, Severity, String)> = set
            .report
            .diagnostics
            .iter()
            .map(|d| {
                (Path::new(&d.file).file_name().unwrap().to_string_lossy().into_owned(), d.severity, d.message.clone())
            })
            .collect();
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(said[0].0 == "20-loop.yaml" && said[0].2.contains("symbolic links"), "{said:?}");
        assert!(said[1].0 == "30-dangling.yml" && said[1].2.contains("No such file"), "{said:?}");
        assert_eq!(said[2], ("40-dir.yaml".into(), Severity::Warning, "skipped: not a regular file".into()));
        assert!(said.iter().all(|d| d.1 == Severity::Warning));
    }
}
