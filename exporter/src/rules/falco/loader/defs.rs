//! What the rules files define, as the loader leaves it for compilation.

use crate::rules::diag::{Diagnostic, SourceFile, SourceText};
use crate::rules::ir::Priority;
use crate::rules::yaml::{Node, Pos};

/// Where a definition is: file index and position of its item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: usize,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub struct ListDef {
    pub name: String,
    pub loc: Loc,
    /// Items with their location.
    pub items: Vec<(String, Loc)>,
}

#[derive(Clone, Debug)]
pub struct MacroDef {
    pub name: String,
    pub loc: Loc,
    pub condition: SourceText,
}

/// `fields`/`comps` of an exception: one name or a list.
#[derive(Clone, Debug, PartialEq)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct ExceptionDef {
    pub name: String,
    pub loc: Loc,
    pub fields: Option<OneOrMany>,
    pub comps: Option<OneOrMany>,
    pub values: Vec<Node>,
}

#[derive(Clone, Debug)]
pub struct RuleDef {
    pub name: String,
    pub loc: Loc,
    pub desc: String,
    pub condition: SourceText,
    pub output: String,
    pub output_loc: Loc,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub source: String,
    pub exceptions: Vec<ExceptionDef>,
    pub skip_if_unknown_filter: bool,
}

/// Everything the files define, before compilation.
#[derive(Debug, Default)]
pub struct Definitions {
    pub files: Vec<SourceFile>,
    pub lists: Vec<ListDef>,
    pub macros: Vec<MacroDef>,
    pub rules: Vec<RuleDef>,
    pub required_engine_version: Option<String>,
    /// `(name, version)` of `required_plugin_versions`.
    pub required_plugins: Vec<(String, String)>,
    pub diagnostics: Vec<Diagnostic>,
}
