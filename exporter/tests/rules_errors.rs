//! One test per diagnostic the loader and compiler can produce: the exact one-line text with
//! file:line:column, subject and cause (and that nothing else is reported).

use exporter::rules::{Engine, Severity};

fn diags(files: &[(&str, &str)]) -> Vec<String> {
    let e = Engine::from_sources(files);
    e.report
        .diagnostics
        .iter()
        .map(|d| format!("{}: {d}", if d.severity == Severity::Error { "error" } else { "warning" }))
        .collect()
}

/// A complete rule whose condition starts at line 3, column 14.
fn rule(cond: &str) -> String {
    format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: info\n")
}

macro_rules! diag_test {
    ($name:ident, $text:expr, $($want:expr),+ $(,)?) => {
        #[test]
        fn $name() {
            let text: String = $text;
            assert_eq!(diags(&[("t.yaml", &text)]), vec![$($want.to_string()),+]);
        }
    };
}

// YAML structure.
diag_test!(
    malformed_yaml,
    "- rule: a\n  desc: [x\n".into(),
    "error: t.yaml:3:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"
);
diag_test!(
    not_a_sequence,
    "rule: a\n".into(),
    "error: t.yaml:1:1: a rules file must be a sequence of items, found a mapping"
);
diag_test!(item_not_a_mapping, "- just text\n".into(), "error: t.yaml:1:3: an item must be a mapping, found a scalar");
diag_test!(item_without_name, "- rule:\n  desc: d\n".into(), "error: t.yaml:1:3: 'rule' needs a name");
diag_test!(unknown_item, "- frobnicate: 1\n".into(), "warning: t.yaml:1:3: unknown item 'frobnicate' ignored");
diag_test!(
    unknown_rule_key,
    format!("{}  colour: red\n", rule("evt.type = open")),
    "warning: t.yaml:6:3: rule 'r': unknown key 'colour' ignored"
);

// Keys and their types.
diag_test!(
    missing_keys,
    "- rule: r\n  condition: evt.type = open\n".into(),
    "error: t.yaml:1:3: rule 'r': missing required keys 'output', 'desc', 'priority'"
);
diag_test!(
    missing_one_key,
    "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n".into(),
    "error: t.yaml:1:3: rule 'r': missing required key 'priority'"
);
diag_test!(unknown_priority, rule("evt.type = open").replace("info", "LOUD"), "error: t.yaml:5:13: rule 'r': unknown priority 'LOUD' (expected one of EMERGENCY ALERT CRITICAL ERROR WARNING NOTICE INFORMATIONAL DEBUG)");
diag_test!(
    string_key_not_string,
    rule("evt.type = open").replace("output: o", "output: [o]"),
    "error: t.yaml:4:11: rule 'r': 'output' must be a string, found a sequence"
);
diag_test!(
    condition_not_string,
    rule("[a]"),
    "error: t.yaml:3:14: rule 'r': 'condition' must be a string, found a sequence"
);
diag_test!(
    bool_key_not_bool,
    format!("{}  enabled: maybe\n", rule("evt.type = open")),
    "error: t.yaml:6:12: rule 'r': 'enabled' must be true or false"
);
diag_test!(
    tags_not_list,
    format!("{}  tags: a\n", rule("evt.type = open")),
    "error: t.yaml:6:9: rule 'r': 'tags' must be a list, found a scalar"
);
diag_test!(
    list_items_not_list,
    "- list: l\n  items: a\n".into(),
    "error: t.yaml:2:10: list 'l': 'items' must be a list, found a scalar"
);
diag_test!(list_without_items, "- list: l\n".into(), "error: t.yaml:1:3: list 'l': missing required key 'items'");
diag_test!(
    macro_without_condition,
    "- macro: m\n".into(),
    "error: t.yaml:1:3: macro 'm': missing required key 'condition'"
);

// Duplicates and overrides.
diag_test!(
    duplicate_rule,
    format!("{}{}", rule("evt.type = open"), rule("evt.type = openat")),
    "error: t.yaml:6:3: rule 'r': duplicate rule (first defined at line 1)"
);
diag_test!(
    duplicate_macro,
    "- macro: m\n  condition: evt.type = open\n- macro: m\n  condition: evt.type = open\n".into(),
    "error: t.yaml:3:3: macro 'm': duplicate macro (first defined at line 1)"
);
diag_test!(
    duplicate_list,
    "- list: l\n  items: [a]\n- list: l\n  items: [b]\n".into(),
    "error: t.yaml:3:3: list 'l': duplicate list (first defined at line 1)"
);
diag_test!(
    override_missing_rule,
    "- rule: r\n  condition: and x\n  override:\n    condition: append\n".into(),
    "error: t.yaml:1:3: rule 'r': override/append of rule 'r' which is not defined"
);
diag_test!(
    append_missing_macro,
    "- macro: m\n  condition: and x\n  append: true\n".into(),
    "error: t.yaml:1:3: macro 'm': override/append of macro 'm' which is not defined"
);
diag_test!(
    append_missing_list,
    "- list: l\n  items: [a]\n  append: true\n".into(),
    "error: t.yaml:1:3: list 'l': override/append of list 'l' which is not defined"
);
diag_test!(
    enable_missing_rule,
    "- rule: r\n  enabled: false\n".into(),
    "error: t.yaml:1:3: rule 'r': override/append of rule 'r' which is not defined"
);
diag_test!(
    override_and_append,
    format!(
        "{}- rule: r\n  condition: and x\n  append: true\n  override:\n    condition: append\n",
        rule("evt.type = open")
    ),
    "error: t.yaml:9:3: rule 'r': 'override' and 'append' cannot be used together"
);
diag_test!(
    override_not_mapping,
    format!("{}- rule: r\n  condition: and x\n  override: append\n", rule("evt.type = open")),
    "error: t.yaml:8:13: rule 'r': 'override' must be a mapping, found a scalar"
);
diag_test!(
    override_bad_mode,
    format!("{}- rule: r\n  condition: and x\n  override:\n    condition: merge\n", rule("evt.type = open")),
    "error: t.yaml:9:16: rule 'r': override of 'condition' must be 'append' or 'replace'"
);
diag_test!(
    override_key_not_allowed,
    format!("{}- rule: r\n  rule2: x\n  override:\n    rule2: replace\n", rule("evt.type = open")),
    "warning: t.yaml:7:3: rule 'r': unknown key 'rule2' ignored",
    "error: t.yaml:9:5: rule 'r': key 'rule2' cannot be overridden"
);
diag_test!(
    override_append_not_allowed,
    format!("{}- rule: r\n  priority: debug\n  override:\n    priority: append\n", rule("evt.type = open")),
    "error: t.yaml:9:5: rule 'r': key 'priority' cannot be appended to, only replaced"
);
diag_test!(
    override_key_absent,
    format!("{}- rule: r\n  desc: x\n  override:\n    desc: replace\n    output: replace\n", rule("evt.type = open")),
    "error: t.yaml:10:5: rule 'r': override of 'output' but the item has no 'output'"
);
diag_test!(
    override_key_without_mode,
    format!("{}- rule: r\n  desc: x\n  output: y\n  override:\n    desc: replace\n", rule("evt.type = open")),
    "error: t.yaml:8:11: rule 'r': key 'output' has no override mode (append or replace)"
);

// Exceptions.
diag_test!(
    exceptions_not_list,
    format!("{}  exceptions: x\n", rule("evt.type = open")),
    "error: t.yaml:6:15: rule 'r': 'exceptions' must be a list, found a scalar"
);
diag_test!(
    exception_without_name,
    format!("{}  exceptions:\n    - fields: [proc.name]\n", rule("evt.type = open")),
    "error: t.yaml:7:7: rule 'r': an exception needs a 'name'"
);
diag_test!(
    exception_bad_fields,
    format!("{}  exceptions:\n    - name: e\n      fields: {{a: b}}\n", rule("evt.type = open")),
    "error: t.yaml:8:15: rule 'r': exception 'e': 'fields' must be a name or a list of names"
);
diag_test!(
    exception_bad_comps,
    format!(
        "{}  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: {{a: b}}\n",
        rule("evt.type = open")
    ),
    "error: t.yaml:9:14: rule 'r': exception 'e': 'comps' must be an operator or a list of operators"
);
diag_test!(
    exception_values_not_list,
    format!("{}  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: x\n", rule("evt.type = open")),
    "error: t.yaml:9:15: rule 'r': exception 'e': 'values' must be a list"
);
diag_test!(
    exception_without_fields,
    format!("{}  exceptions:\n    - name: e\n      values: [[a]]\n", rule("evt.type = open")),
    "error: t.yaml:7:7: rule 'r': exception 'e' has no 'fields'"
);
diag_test!(
    exception_unknown_comp,
    format!(
        "{}  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [like]\n      values: [[a]]\n",
        rule("evt.type = open")
    ),
    "error: t.yaml:7:7: rule 'r': exception 'e': unknown operator 'like'"
);
diag_test!(exception_comps_count, format!("{}  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n      values: [[a, b]]\n", rule("evt.type = open")), "error: t.yaml:7:7: rule 'r': exception 'e': 2 fields but 1 comps");
diag_test!(
    exception_value_arity,
    format!(
        "{}  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      values: [[a]]\n",
        rule("evt.type = open")
    ),
    "error: t.yaml:7:7: rule 'r': exception 'e': a value has 1 items but there are 2 fields"
);
diag_test!(
    exception_value_not_tuple,
    format!(
        "{}  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      values: [a]\n",
        rule("evt.type = open")
    ),
    "error: t.yaml:7:7: rule 'r': exception 'e': each value must be a list with one item per field"
);
diag_test!(
    exception_one_field_nested_values,
    format!("{}  exceptions:\n    - name: e\n      fields: proc.name\n      values: [[a]]\n", rule("evt.type = open")),
    "error: t.yaml:7:7: rule 'r': exception 'e': with one field, 'values' must be a list of strings"
);
diag_test!(
    exception_one_field_many_comps,
    format!(
        "{}  exceptions:\n    - name: e\n      fields: proc.name\n      comps: [in, in]\n      values: [a]\n",
        rule("evt.type = open")
    ),
    "error: t.yaml:7:7: rule 'r': exception 'e': 'comps' must be one operator when 'fields' is one field"
);
diag_test!(
    exception_unknown_field,
    format!("{}  exceptions:\n    - name: e\n      fields: [proc.nam]\n      values: [[a]]\n", rule("evt.type = open")),
    "error: t.yaml:8:16: rule 'r': unknown field 'proc.nam'"
);

// Condition syntax.
diag_test!(empty_condition, rule("''"), "error: t.yaml:3:15: rule 'r': empty condition");
diag_test!(unknown_operator, rule("proc.name like sh"), "error: t.yaml:3:24: rule 'r': unknown operator 'like'");
diag_test!(unknown_symbol_operator, rule("proc.name ~ sh"), "error: t.yaml:3:24: rule 'r': unknown operator '~'");
diag_test!(
    field_without_operator,
    rule("proc.name"),
    "error: t.yaml:3:14: rule 'r': field 'proc.name' needs an operator"
);
diag_test!(missing_value, rule("proc.name ="), "error: t.yaml:3:25: rule 'r': operator '=' needs a value");
diag_test!(
    value_is_paren,
    rule("'proc.name = )'"),
    "error: t.yaml:3:27: rule 'r': operator '=' needs a value, found ')'"
);
diag_test!(
    in_without_list,
    rule("proc.name in 'a'"),
    "error: t.yaml:3:27: rule 'r': operator 'in' needs a list '( ... )' or a list name"
);
diag_test!(unbalanced_paren, rule("(evt.type = open"), "error: t.yaml:3:14: rule 'r': unbalanced '(': missing ')'");
diag_test!(
    unbalanced_list,
    rule("proc.name in (a, b"),
    "error: t.yaml:3:27: rule 'r': unbalanced '(': missing ')' in list"
);
diag_test!(empty_list_item, rule("proc.name in (, a)"), "error: t.yaml:3:28: rule 'r': empty list item");
diag_test!(unterminated_string, rule("'proc.name = \"sh'"), "error: t.yaml:3:27: rule 'r': unterminated quoted string");
diag_test!(
    unbalanced_bracket,
    rule("proc.aname[2 = sh"),
    "error: t.yaml:3:24: rule 'r': unbalanced '[' in field argument"
);
diag_test!(
    trailing_garbage,
    rule("evt.type = open junk"),
    "error: t.yaml:3:30: rule 'r': unexpected 'junk' after a complete expression"
);
diag_test!(dangling_and, rule("evt.type = open and"), "error: t.yaml:3:33: rule 'r': unexpected end of condition");
diag_test!(
    expected_name,
    rule("evt.type = open and = x"),
    "error: t.yaml:3:34: rule 'r': expected a field or macro name, found '='"
);
diag_test!(
    nested_too_deeply,
    rule(&format!("{}a{}", "(".repeat(300), ")".repeat(300))),
    "error: t.yaml:3:214: rule 'r': condition nested too deeply"
);

// Names, fields and types.
diag_test!(undefined_macro, rule("evt.type = open and nope"), "error: t.yaml:3:34: rule 'r': undefined macro 'nope'");
diag_test!(
    cyclic_macro,
    format!("- macro: a\n  condition: b\n- macro: b\n  condition: a\n{}", rule("a")),
    "error: t.yaml:4:14: macro 'b': cyclic macro reference: a -> b -> a"
);
diag_test!(
    self_cyclic_macro,
    format!("- macro: a\n  condition: a\n{}", rule("a")),
    "error: t.yaml:2:14: macro 'a': cyclic macro reference: a -> a"
);
diag_test!(undefined_list, rule("proc.name in nope"), "error: t.yaml:3:27: rule 'r': undefined list 'nope'");
diag_test!(
    unknown_field,
    rule("evt.type = open and proc.nam = sh"),
    "error: t.yaml:3:34: rule 'r': unknown field 'proc.nam'"
);
diag_test!(
    field_takes_no_argument,
    rule("proc.name[1] = sh"),
    "error: t.yaml:3:14: rule 'r': field 'proc.name' takes no argument"
);
diag_test!(
    field_needs_number_argument,
    rule("proc.aname[x] = sh"),
    "error: t.yaml:3:14: rule 'r': field 'proc.aname' needs a number argument, got 'x'"
);
diag_test!(
    evt_arg_needs_argument,
    rule("evt.arg = sh"),
    "error: t.yaml:3:14: rule 'r': field 'evt.arg' needs an argument: evt.arg.NAME or evt.arg[N]"
);
diag_test!(
    evt_arg_double_argument,
    rule("evt.arg.flags[1] = sh"),
    "error: t.yaml:3:14: rule 'r': bad field argument for 'evt.arg.flags'"
);
diag_test!(
    operator_not_supported,
    rule("proc.pid contains 1"),
    "error: t.yaml:3:23: rule 'r': operator 'contains' is not supported by field 'proc.pid' (number)"
);
diag_test!(
    wrong_operand_number,
    rule("proc.pid = one"),
    "error: t.yaml:3:25: rule 'r': wrong operand type: field 'proc.pid' (number) needs a number, got 'one'"
);
diag_test!(wrong_operand_port, rule("fd.rport in (80, 70000)"), "error: t.yaml:3:26: rule 'r': wrong operand type: field 'fd.rport' (port) needs a port number 0-65535, got '70000'");
diag_test!(wrong_operand_ip, rule("fd.sip = 10.0.0.300"), "error: t.yaml:3:23: rule 'r': wrong operand type: field 'fd.sip' (ip) needs an IP address or CIDR network, got '10.0.0.300'");
diag_test!(wrong_operand_flags, rule("thread.cap_effective contains CAP_NOPE"), "error: t.yaml:3:44: rule 'r': wrong operand type: field 'thread.cap_effective' (flags) needs capability names, got 'CAP_NOPE'");
diag_test!(wrong_operand_bool, rule("container.privileged = maybe"), "error: t.yaml:3:37: rule 'r': wrong operand type: field 'container.privileged' (bool) needs true or false, got 'maybe'");
diag_test!(
    wrong_operand_hex,
    rule("fd.name bcontains zz"),
    "error: t.yaml:3:32: rule 'r': wrong operand type: field 'fd.name' (string) needs hex bytes, got 'zz'"
);
diag_test!(
    wrong_operand_pmatch,
    rule("fd.name pmatch (etc)"),
    "error: t.yaml:3:29: rule 'r': wrong operand type: field 'fd.name' (string) needs absolute paths, got 'etc'"
);
diag_test!(
    wrong_operand_arg_order,
    rule("evt.arg.flags > big"),
    "error: t.yaml:3:30: rule 'r': wrong operand type: field 'evt.arg.flags' (argument) needs a number, got 'big'"
);
diag_test!(bad_regex, rule("proc.name regex 'a('"), "error: t.yaml:3:30: rule 'r': bad regex 'a(': unclosed group");

#[test]
fn unclosed_glob_class_is_literal() {
    assert!(diags(&[("t.yaml", &rule("evt.type = open and fd.name glob '/a/[b'"))]).is_empty());
}

// Sources and outputs.
diag_test!(
    unsupported_source,
    format!("{}  source: aws_cloudtrail\n", rule("ct.name = x")),
    "warning: t.yaml:1:3: rule 'r': source 'aws_cloudtrail' is not supported by this engine; rule skipped"
);
#[test]
fn unknown_field_skipped_on_request() {
    let text = rule("evt.type = open and proc.nam = sh").replace("output: o", "output: o %proc.nope");
    let engine = Engine::from_sources(&[("t.yaml", &format!("{text}  skip-if-unknown-filter: true\n"))]);
    assert!(engine.report.diagnostics.is_empty(), "{:?}", engine.report.diagnostics);
    assert_eq!(engine.report.skipped_unknown, ["r"]);
    assert!(engine.rules().is_empty());
}
diag_test!(
    output_unknown_field,
    rule("evt.type = open").replace("output: o", "output: o %proc.nope"),
    "error: t.yaml:4:11: rule 'r': output: unknown field 'proc.nope'"
);
