//! The modifiers appendix, one modifier at a time, with its examples.

use super::*;

fn text(v: &[&str]) -> Vec<Raw> {
    v.iter().map(|s| Raw::Text(s.to_string())).collect()
}

fn run(key: &str, v: &[&str]) -> Result<Values, String> {
    let (_, mods) = parse_key(key)?;
    apply(&mods, text(v))
}

fn patterns(key: &str, v: &[&str]) -> Vec<Pattern> {
    run(key, v)
        .unwrap()
        .values
        .into_iter()
        .map(|v| match v {
            Value::Pattern(p) => p,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn keys_and_their_errors() {
    assert_eq!(parse_key("CommandLine|contains|all"), Ok(("CommandLine", vec![Modifier::Contains, Modifier::All])));
    assert_eq!(parse_key("|all"), Ok(("", vec![Modifier::All])));
    assert_eq!(parse_key("Image|wide|base64").map(|k| k.1), Ok(vec![Modifier::Utf16le, Modifier::Base64]));
    assert_eq!(parse_key("Image|contans").unwrap_err(), "unknown modifier 'contans'");
    assert!(parse_key("Image|expand").unwrap_err().contains("processing pipeline"));
    assert!(parse_key("Image|hour").unwrap_err().contains("date field"));
    assert!(parse_key("Image|re|cidr").unwrap_err().contains("each decide what the value is"));
    assert!(parse_key("Image|i").unwrap_err().contains("belong to 're'"));
}

#[test]
fn contains_startswith_endswith_put_wildcards_around() {
    assert_eq!(patterns("F|contains", &["x"]), [Pattern::parse("*x*")]);
    assert_eq!(patterns("F|startswith", &["x"]), [Pattern::parse("x*")]);
    assert_eq!(patterns("F|endswith", &["x", "y"]), [Pattern::parse("*x"), Pattern::parse("*y")]);
    assert_eq!(patterns("F", &["a*b"]), [Pattern::parse("a*b")]);
}

#[test]
fn all_cased_neq_are_how_values_combine() {
    let v = run("F|contains|all", &["a", "b"]).unwrap();
    assert!(v.all && !v.negate && !v.cased);
    assert_eq!(run("F|all", &["a"]).unwrap_err(), "modifier 'all' needs a list of values");
    assert!(run("F|cased", &["a"]).unwrap().cased);
    assert!(run("F|neq", &["a"]).unwrap().negate);
}

#[test]
fn windash_spells_every_dash_five_ways() {
    let v = patterns("F|windash|contains", &["-foo"]);
    let lits: Vec<String> = v.iter().map(|p| p.0.iter().map(|x| format!("{x:?}")).collect()).collect();
    assert_eq!(v.len(), 5, "{lits:?}");
    assert_eq!(v[1], Pattern::literal("/foo").wrap(true, true));
    assert_eq!(v[4], Pattern::literal("―foo").wrap(true, true));
    assert_eq!(patterns("F|windash", &["-a -b"]).len(), 25);
    assert!(run("F|windash", &["-a-b-c-d-e-f"]).unwrap_err().contains("6 dashes"));
}

#[test]
fn base64_and_base64offset() {
    assert_eq!(patterns("F|base64", &["/bin/bash"]), [Pattern::literal("L2Jpbi9iYXNo")]);
    assert_eq!(
        patterns("F|base64offset|contains", &["/bin/bash"]),
        ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"].map(|s| Pattern::literal(s).wrap(true, true))
    );
    assert_eq!(patterns("F|base64offset", &["http://"]), ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"].map(Pattern::literal));
    assert_eq!(patterns("F|utf16le|base64", &["cmd"]), [Pattern::literal("YwBtAGQA")]);
    assert_eq!(patterns("F|wide|base64", &["cmd"]), [Pattern::literal("YwBtAGQA")]);
    assert_eq!(patterns("F|utf16be|base64", &["cmd"]), [Pattern::literal("AGMAbQBk")]);
    assert_eq!(patterns("F|utf16|base64", &["cmd"]), [Pattern::literal("//5jAG0AZAA=")]);
    assert_eq!(run("F|base64", &["a*"]).unwrap_err(), "base64 of a value with wildcards");
}

#[test]
fn type_modifiers() {
    assert_eq!(run("F|re", &["^a.*b$"]).unwrap().values, [Value::Regex("^a.*b$".into())]);
    assert_eq!(run("F|re|i|s", &["a.b"]).unwrap().values, [Value::Regex("(?is)a.b".into())]);
    assert_eq!(run("F|cidr", &["10.0.0.0/8"]).unwrap().values, [Value::Cidr("10.0.0.0/8".into())]);
    assert_eq!(run("F|exists", &["false"]).unwrap().values, [Value::Exists(false)]);
    assert!(run("F|exists", &["maybe"]).unwrap_err().contains("true or false"));
    assert_eq!(run("F|gte", &["5"]).unwrap().values, [Value::Cmp(Op::Ge, "5".into())]);
    assert_eq!(run("F|fieldref", &["Image"]).unwrap().values, [Value::FieldRef("Image".into())]);
    assert_eq!(run("F|re|contains", &["x"]).unwrap_err(), "modifier 'contains' does not combine with 're'");
    assert_eq!(apply(&[Modifier::Cidr], vec![Raw::Null]).unwrap_err(), "null is not a value for this modifier");
}

#[test]
fn null_stays_null() {
    assert_eq!(apply(&[], vec![Raw::Null]).unwrap().values, [Value::Null]);
    assert!(apply(&[Modifier::Contains], vec![Raw::Null]).unwrap_err().contains("null"));
}
