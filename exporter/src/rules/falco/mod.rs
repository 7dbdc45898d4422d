//! The Falco front end: rules files -> definitions ([`loader`]: rules, macros and lists with
//! `append`/`override` applied in order) -> condition text -> untyped AST ([`condition`]) ->
//! the rule IR ([`compile`]: exceptions expanded as Falco does, macros and lists resolved,
//! fields typed, operators and operands type-checked).

pub mod compile;
pub mod condition;
pub mod loader;

use std::path::Path;

use super::ir::RuleSet;
use loader::Definitions;

/// Loads and compiles every rules file of `dir`, in name order.
pub fn load_dir(dir: &Path) -> RuleSet {
    compile_definitions(Definitions::load_dir(dir))
}

/// Compiles in-memory files `(name, text)`, in the given order.
pub fn from_sources(files: &[(&str, &str)]) -> RuleSet {
    let mut defs = Definitions::default();
    for (name, text) in files {
        defs.add_file(name, text);
    }
    compile_definitions(defs)
}

fn compile_definitions(defs: Definitions) -> RuleSet {
    let mut set = compile::compile(&defs);
    let mut diagnostics = defs.diagnostics;
    diagnostics.append(&mut set.diagnostics);
    // Files load in name order, so this keeps each file's problems together, in order.
    diagnostics.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    RuleSet {
        diagnostics,
        required_engine_version: defs.required_engine_version,
        required_plugins: defs.required_plugins,
        ..set
    }
}
