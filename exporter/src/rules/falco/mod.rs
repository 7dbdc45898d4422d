//! The Falco front end: rules files -> definitions ([`loader`]: rules, macros and lists with
//! `append`/`override` applied in order) -> condition text -> untyped AST ([`condition`]) ->
//! the rule IR ([`compile`]: exceptions expanded as Falco does, macros and lists resolved,
//! fields typed, operators and operands type-checked).

pub mod compile;
pub mod condition;
pub mod loader;

use super::ir::RuleSet;
use loader::Definitions;

/// Compiles the definitions of every Falco file read, diagnostics in file order.
pub fn compile_definitions(defs: Definitions) -> RuleSet {
    let mut set = compile::compile(&defs);
    set.report.diagnostics.splice(0..0, defs.diagnostics);
    set.report.required_engine_version = defs.required_engine_version;
    set.report.required_plugins = defs.required_plugins;
    set
}
