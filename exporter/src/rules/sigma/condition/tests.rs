//! Conditions: every form the spec defines, its precedence, and what is refused.

use super::*;
use crate::rules::eval::Pred;
use crate::rules::fields::resolve;
use crate::rules::ir::Op;

fn ids(names: &[&str]) -> Vec<(String, Expr)> {
    let pred = |n: &str| {
        let p = Pred::new(resolve("proc.name", None).unwrap(), Op::Eq, vec![n.to_owned()]).unwrap();
        Expr::Check(Box::new(p))
    };
    names.iter().map(|n| (n.to_string(), pred(n))).collect()
}

/// The condition as text over the identifiers' names.
fn show(cond: &str) -> String {
    let names = ["sel", "sel_a", "sel_b", "filter_x", "filter_y", "_hidden", "kw"];
    let e = compile(cond, &ids(&names)).unwrap_or_else(|e| panic!("{cond}: {e:?}"));
    e.to_text().replace("proc.name = ", "").replace('"', "")
}

fn err(cond: &str) -> CondError {
    compile(cond, &ids(&["sel", "sel_a", "_hidden"])).unwrap_err()
}

#[test]
fn and_or_not_parentheses() {
    assert_eq!(show("sel"), "sel");
    assert_eq!(show("sel and not kw"), "(sel and not kw)");
    assert_eq!(show("sel or kw and filter_x"), "(sel or (kw and filter_x))");
    assert_eq!(show("(sel or kw) and filter_x"), "((sel or kw) and filter_x)");
    assert_eq!(show("not sel or kw"), "(not sel or kw)");
    assert_eq!(show("not not sel"), "not not sel");
    assert_eq!(show("sel AND NOT kw"), "(sel and not kw)");
}

#[test]
fn one_of_all_of_patterns_and_them() {
    assert_eq!(show("1 of sel_*"), "(sel_a or sel_b)");
    assert_eq!(show("all of sel_*"), "(sel_a and sel_b)");
    assert_eq!(show("all of sel*"), "(sel and sel_a and sel_b)");
    assert_eq!(show("1 of *_x"), "(filter_x)");
    // `them` leaves out names starting with `_`; a pattern names them explicitly.
    assert_eq!(show("1 of them"), "(sel or sel_a or sel_b or filter_x or filter_y or kw)");
    assert_eq!(show("1 of _*"), "(_hidden)");
    // `x of` binds tighter than `not`, `not` tighter than `and`.
    assert_eq!(show("sel and not 1 of filter_*"), "(sel and not (filter_x or filter_y))");
    assert_eq!(show("all of sel_* or kw"), "((sel_a and sel_b) or kw)");
}

#[test]
fn refused_with_offsets() {
    assert_eq!(err("sel and nope"), (8, "unknown search identifier 'nope'".into()));
    assert_eq!(err("1 of filter*"), (5, "'filter*' matches no search identifier".into()));
    assert_eq!(err("2 of sel*"), (0, "'2 of': only '1 of' and 'all of' are defined".into()));
    assert_eq!(err("(sel"), (4, "missing ')'".into()));
    assert_eq!(err("sel and"), (7, "condition ends where a search identifier is expected".into()));
    assert_eq!(err("sel sel_a"), (4, "unexpected 'sel_a' in condition".into()));
    assert_eq!(err("sel = 1"), (4, "unexpected '=' in condition".into()));
    assert_eq!(err("and sel"), (0, "'and' where a search identifier is expected".into()));
    let (at, msg) = err("sel | count() by User > 5");
    assert_eq!(at, 4);
    assert!(msg.starts_with("aggregations"), "{msg}");
    let (at, msg) = err("sel and near sel_a");
    assert_eq!(at, 8);
    assert!(msg.starts_with("'near' needs correlation"), "{msg}");
}
