//! The rules engine: front ends -> one IR -> back ends.
//!
//! - Front ends parse a rule format into the IR ([`ir::RuleSet`]): [`falco`] and [`sigma`];
//!   [`sources`] sends each file of a directory to its front end and merges the rules.
//! - Back ends read only the IR: the evaluator ([`Engine`]), the kernel predicates
//!   ([`kernel`]), the lints ([`lint`]) and the `rules` CLI ([`cli`]).
//!
//! Falco pipeline: [`falco::loader::Definitions`] reads every `*.yaml`/`*.yml` of a directory in name order
//! (items `rule`, `macro`, `list`, `required_engine_version`, `required_plugin_versions`, with
//! `override`/`append` applied in order); [`falco::compile`] expands exceptions into conditions as Falco
//! does, resolves macros and lists, types every field and type-checks operators and operands,
//! producing a typed [`eval::Expr`] per rule with precompiled matchers (regex, glob, string sets,
//! CIDRs); [`Engine`] indexes enabled rules by event type and evaluates [`Event`]s without
//! allocating. Problems come back as [`Diagnostic`]s printed `file:line:col: rule 'name': cause`.
//!
//! # For the kernel prefilter
//! - [`Engine::event_types`]: the syscalls any enabled rule needs (`None`: some rule needs all).
//! - [`Engine::kernel_filters`]: `(index, rule, filter)` for every enabled rule.
//! - [`Engine::kernel_filter`]`(i)` -> [`KernelFilter`] for rule `i` of [`Engine::rules`]:
//!   `event_types` (syscall names, or `None`) and `predicates`, a list of ANDed, kernel-decidable
//!   *necessary* conditions ([`KernelPredicate`]): `Path { fields, exact, prefixes, basenames,
//!   contains, suffixes }` over `fd.name` or path arguments (`evt.arg.target`, ...),
//!   `RawPathContains { needles }` (`fd.nameraw`), `Port { field, ports }`,
//!   `Uid { any_of, none_of }`, `Comm { names }` and `ContainerOnly`. An event failing any
//!   predicate of a rule cannot match that rule; an event that passes is still fully evaluated
//!   in user space, so the kernel may drop events that fail the filters of *every* rule of
//!   their type.
//! - [`Event`] is what the kernel side fills: see its docs for the JSON form. Paths must be
//!   normalised absolute paths; `fd.name` holds the object path of path syscalls too.
//!
//! # Semantics worth knowing
//! - A missing value (no container, no fd) matches neither `=` nor `!=`; `exists` tests it.
//! - `proc.aname`/`proc.aexe`/`proc.apid` without `[N]` match any ancestor (parent upwards);
//!   `[0]` is the process itself.
//! - `pmatch` matches a path equal to or below one of the listed paths; `glob` is fnmatch
//!   without `FNM_PATHNAME` (`*` crosses `/`); `intersects` is `in` over multi-valued fields
//!   and any-bit for flags; `contains` on flags means all bits.
//! - `evt.arg.*` values are numbers or strings: compared numerically when both sides are
//!   numbers, as text otherwise.
//! - Rules with `source` other than `syscall` are skipped with a warning; rules using fields
//!   this engine lacks are skipped with a warning (silently under `skip-if-unknown-filter`).
//! - A rule defined again in a later file replaces the earlier one (warning); in the same file
//!   it is an error. `rule: X` with only `enabled:` toggles an existing rule.

pub mod candidates;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod eval;
pub mod event;
pub mod falco;
pub mod fields;
pub mod ir;
pub mod kernel;
pub mod lint;
pub mod names;
pub mod output;
pub mod plan;
pub mod sigma;
pub mod sources;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use engine::{Engine, MatchMode};
pub use event::{Ancestor, ArgValue, Args, Container, Direction, Event, Fd, Process, Role, User};
pub use fields::glob_matches;
pub use ir::{Priority, Rule, RuleSet};
pub use kernel::{KernelFilter, KernelPredicate};
pub use output::Alert;
