//! The evaluator's operators and types, one test per operator and per field type.

use super::*;
use crate::rules::event::{Ancestor, Container, Fd};
use crate::rules::fields::resolve;

fn ev() -> Event {
    let mut e = Event::from_json(
        r#"{"type":"openat","res":3,"args":{"dirfd":-100,"name":"/etc/shadow","flags":"O_RDONLY","mode":0},
        "proc":{"pid":42,"name":"cat","exepath":"/usr/bin/cat","args":["/etc/shadow"],"cap_effective":["CAP_SYS_ADMIN","CAP_NET_RAW"],
          "is_exe_upper_layer":true},
        "user":{"uid":1000,"name":"bob"},
        "fd":{"type":"file","name":"/etc/shadow","num":3},
        "container":{"id":"abc123","name":"web","image":"nginx:1.25","privileged":true}}"#,
    )
    .unwrap();
    e.proc.ancestors = vec![
        Ancestor { name: "bash".into(), pid: 41, ..Ancestor::default() },
        Ancestor { name: "sshd".into(), pid: 1, ..Ancestor::default() },
    ];
    e
}

fn t(field: &str, op: Op, vals: &[&str]) -> bool {
    let (name, arg) = match field.split_once('[') {
        Some((n, a)) => (n, Some(a.trim_end_matches(']'))),
        None => (field, None),
    };
    let f = resolve(name, arg).unwrap();
    Pred::new(f, op, vals.iter().map(|s| s.to_string()).collect()).unwrap().eval(&ev())
}

fn err(field: &str, op: Op, vals: &[&str]) -> String {
    let f = resolve(field, None).unwrap();
    Pred::new(f, op, vals.iter().map(|s| s.to_string()).collect()).unwrap_err()
}

#[test]
fn op_eq() {
    assert!(t("proc.name", Op::Eq, &["cat"]));
    assert!(!t("proc.name", Op::Eq, &["ca"]));
    assert!(t("user.uid", Op::Eq, &["1000"]));
}
#[test]
fn op_ne() {
    assert!(t("proc.name", Op::Ne, &["bash"]));
    assert!(!t("proc.name", Op::Ne, &["cat"]));
    // Missing values match neither = nor !=.
    assert!(!t("k8s.pod.name", Op::Ne, &["x"]));
    assert!(!t("k8s.pod.name", Op::Eq, &["x"]));
}
#[test]
fn op_lt_le_gt_ge() {
    assert!(t("user.uid", Op::Lt, &["1001"]));
    assert!(!t("user.uid", Op::Lt, &["1000"]));
    assert!(t("user.uid", Op::Le, &["1000"]));
    assert!(t("user.uid", Op::Gt, &["999"]));
    assert!(!t("user.uid", Op::Gt, &["1000"]));
    assert!(t("user.uid", Op::Ge, &["1000"]));
    assert!(t("proc.name", Op::Gt, &["bash"]));
}
#[test]
fn op_contains() {
    assert!(t("fd.name", Op::Contains, &["shad"]));
    assert!(!t("fd.name", Op::Contains, &["SHAD"]));
    assert!(t("thread.cap_effective", Op::Contains, &["CAP_SYS_ADMIN"]));
    assert!(!t("thread.cap_effective", Op::Contains, &["CAP_SYS_ADMIN|CAP_SYS_MODULE"]));
}
#[test]
fn op_icontains() {
    assert!(t("fd.name", Op::IContains, &["SHAD"]));
    assert!(!t("fd.name", Op::IContains, &["passwd"]));
}
#[test]
fn op_bcontains_bstartswith() {
    assert!(t("fd.name", Op::BContains, &["736861"])); // "sha"
    assert!(!t("fd.name", Op::BContains, &["ffff"]));
    assert!(t("fd.name", Op::BStartsWith, &["2f657463"])); // "/etc"
    assert!(err("fd.name", Op::BContains, &["xyz"]).contains("hex bytes"));
}
#[test]
fn op_startswith_endswith() {
    assert!(t("fd.name", Op::StartsWith, &["/etc/"]));
    assert!(!t("fd.name", Op::StartsWith, &["/usr"]));
    assert!(t("fd.name", Op::EndsWith, &["shadow"]));
    assert!(!t("fd.name", Op::EndsWith, &["passwd"]));
}
#[test]
fn op_glob_iglob() {
    assert!(t("fd.name", Op::Glob, &["/etc/sha*"]));
    assert!(t("fd.name", Op::Glob, &["/etc/[sp]hado?"]));
    assert!(t("fd.name", Op::Glob, &["*"]));
    assert!(!t("fd.name", Op::Glob, &["/ETC/*"]));
    assert!(t("fd.name", Op::IGlob, &["/ETC/*"]));
    assert!(t("fd.name", Op::Glob, &["/etc/shadow"]));
}
#[test]
fn op_regex() {
    assert!(t("fd.name", Op::Regex, &["^/etc/(shadow|gshadow)$"]));
    assert!(!t("fd.name", Op::Regex, &["^/etc/passwd$"]));
    assert!(err("fd.name", Op::Regex, &["("]).starts_with("bad regex '('"));
}
#[test]
fn op_in() {
    assert!(t("proc.name", Op::In, &["sh", "cat"]));
    assert!(!t("proc.name", Op::In, &["sh", "bash"]));
    let many: Vec<String> = (0..50).map(|i| format!("p{i}")).chain(["cat".to_string()]).collect();
    let f = resolve("proc.name", None).unwrap();
    assert!(Pred::new(f, Op::In, many).unwrap().eval(&ev()));
    assert!(t("proc.aname", Op::In, &["sshd"]));
    assert!(t("user.uid", Op::In, &["0", "1000"]));
}
#[test]
fn op_intersects() {
    assert!(t("thread.cap_effective", Op::Intersects, &["CAP_SYS_MODULE", "CAP_NET_RAW"]));
    assert!(!t("thread.cap_effective", Op::Intersects, &["CAP_SYS_MODULE"]));
    assert!(t("proc.aname", Op::Intersects, &["x", "bash"]));
}
#[test]
fn op_pmatch() {
    assert!(t("fd.name", Op::PMatch, &["/usr", "/etc"]));
    assert!(t("fd.name", Op::PMatch, &["/etc/shadow"]));
    assert!(!t("fd.name", Op::PMatch, &["/etc/sha"]));
    assert!(t("fd.name", Op::PMatch, &["/etc/"]));
    assert!(err("fd.name", Op::PMatch, &["etc"]).contains("absolute paths"));
}
#[test]
fn op_exists() {
    assert!(t("fd.name", Op::Exists, &[]));
    assert!(!t("k8s.ns.name", Op::Exists, &[]));
    assert!(t("evt.arg.flags", Op::Exists, &[]));
    assert!(!t("evt.arg.nope", Op::Exists, &[]));
}

#[test]
fn type_string() {
    assert!(t("container.image.repository", Op::Eq, &["nginx"]));
    assert!(err("proc.name", Op::Eq, &["a", "b"]).contains("needs one value"));
}
#[test]
fn type_number() {
    assert!(t("proc.pid", Op::Eq, &["0x2a"]));
    assert_eq!(
        err("proc.pid", Op::Eq, &["abc"]),
        "wrong operand type: field 'proc.pid' (number) needs a number, got 'abc'"
    );
    assert_eq!(
        err("proc.pid", Op::Contains, &["1"]),
        "operator 'contains' is not supported by field 'proc.pid' (number)"
    );
}
#[test]
fn type_port() {
    let mut e = ev();
    e.fd = Some(Fd {
        kind: "ipv4".into(),
        rport: Some(4444),
        rip: "1.2.3.4".parse().ok(),
        lip: "10.0.0.1".parse().ok(),
        lport: Some(5),
        ..Fd::default()
    });
    let f = resolve("fd.rport", None).unwrap();
    assert!(Pred::new(f.clone(), Op::In, vec!["4444".into(), "80".into()]).unwrap().eval(&e));
    assert!(!Pred::new(f, Op::Eq, vec!["80".into()]).unwrap().eval(&e));
    assert!(err("fd.rport", Op::Eq, &["70000"]).contains("port number"));
}
#[test]
fn type_ip_and_cidr() {
    let mut e = ev();
    e.fd = Some(Fd {
        kind: "ipv4".into(),
        rport: Some(4444),
        rip: "10.1.2.3".parse().ok(),
        lip: "192.168.0.1".parse().ok(),
        lport: Some(5),
        ..Fd::default()
    });
    let p = |f: &str, op, v: &[&str]| {
        Pred::new(resolve(f, None).unwrap(), op, v.iter().map(|s| s.to_string()).collect()).unwrap().eval(&e)
    };
    assert!(p("fd.sip", Op::Eq, &["10.1.2.3"]));
    assert!(p("fd.snet", Op::In, &["10.0.0.0/8"]));
    assert!(!p("fd.snet", Op::In, &["172.16.0.0/12"]));
    assert!(p("fd.cip", Op::Ne, &["10.1.2.3"]));
    assert!(p("fd.rip", Op::In, &["::1", "10.1.0.0/16"]));
    assert!(err("fd.sip", Op::Eq, &["nope"]).contains("IP address or CIDR"));
    assert!(err("fd.sip", Op::Contains, &["1"]).contains("not supported"));
}
#[test]
fn type_flags() {
    assert!(t("thread.cap_effective", Op::Contains, &["sys_admin"]));
    assert!(t("thread.cap_effective", Op::Eq, &["CAP_SYS_ADMIN CAP_NET_RAW"]));
    assert!(!t("thread.cap_permitted", Op::Contains, &["CAP_SYS_ADMIN"]));
    // Falco's capability fields are strings: other text operators match the rendering.
    assert!(err("thread.cap_effective", Op::Contains, &["CAP_NOPE"]).contains("capability names"));
    assert!(t("thread.cap_effective", Op::IContains, &["sys_adm"]));
    assert!(!t("thread.cap_effective", Op::IContains, &["sys_module"]));
    assert!(t("thread.cap_effective", Op::StartsWith, &["CAP_"]));
}
#[test]
fn type_bool() {
    assert!(t("container.privileged", Op::Eq, &["true"]));
    assert!(t("proc.is_exe_upper_layer", Op::Eq, &["TRUE"]));
    assert!(t("proc.is_exe_from_memfd", Op::Eq, &["false"]));
    assert!(err("container.privileged", Op::Eq, &["yes"]).contains("true or false"));
    assert!(err("container.privileged", Op::StartsWith, &["t"]).contains("not supported"));
}
#[test]
fn type_arg() {
    assert!(t("evt.arg.flags", Op::Contains, &["O_RDONLY"]));
    assert!(t("evt.arg.dirfd", Op::Eq, &["-100"]));
    assert!(t("evt.arg.dirfd", Op::Lt, &["0"]));
    assert!(t("evt.arg[1]", Op::Eq, &["/etc/shadow"]));
    assert!(t("evt.arg.dirfd", Op::StartsWith, &["-10"]));
    assert!(err("evt.arg.flags", Op::Lt, &["x"]).contains("needs a number"));
}

#[test]
fn ancestors_and_containers() {
    let mut e = ev();
    assert!(t("proc.aname[2]", Op::Eq, &["sshd"]));
    assert!(t("proc.apid[1]", Op::Eq, &["41"]));
    e.container = Some(Container::default());
    assert!(!t("proc.aname", Op::Eq, &["cat"]));
}

#[test]
fn simplify_folds() {
    let p = Expr::Check(Box::new(Pred::new(resolve("proc.name", None).unwrap(), Op::Eq, vec!["x".into()]).unwrap()));
    assert!(matches!(Expr::And(vec![p.clone(), Expr::Const(false)]).simplify(), Expr::Const(false)));
    assert!(matches!(Expr::Or(vec![p.clone(), Expr::Const(false)]).simplify(), Expr::Check(_)));
    assert!(matches!(Expr::Not(Box::new(Expr::Const(true))).simplify(), Expr::Const(false)));
}

#[test]
fn glob_translation() {
    assert_eq!(glob_to_regex("/a/*.sh", false), "(?s)^/a/.*\\.sh$");
    assert!(Regex::new(&glob_to_regex("[!a]b[", false)).is_ok());
}

#[test]
fn op_case_insensitive_eq_prefix_suffix() {
    assert!(t("proc.exepath", Op::IEq, &["/USR/bin/CAT"]));
    assert!(!t("proc.exepath", Op::IEq, &["/usr/bin/ca"]));
    assert!(t("proc.exepath", Op::IStartsWith, &["/USR/"]));
    assert!(!t("proc.exepath", Op::IStartsWith, &["/usr/bin/cat/"]));
    assert!(t("proc.exepath", Op::IEndsWith, &["/CAT"]));
    assert!(!t("proc.exepath", Op::IEndsWith, &["/dog"]));
    // A non-ASCII operand folds case as Unicode does.
    assert!(!t("proc.exepath", Op::IEq, &["/usr/bin/çat"]));
    let mut e = ev();
    e.proc.exepath = "/tmp/ÇA".into();
    let p = Pred::new(resolve("proc.exepath", None).unwrap(), Op::IEndsWith, vec!["/ça".into()]).unwrap();
    assert!(p.eval(&e));
    assert!(err("proc.pid", Op::IEq, &["1"]).contains("not supported"));
}

#[test]
fn op_field_eq_compares_two_fields() {
    let mut e = ev();
    let p = |f: &str, other: &str| Pred::new(resolve(f, None).unwrap(), Op::FieldEq, vec![other.into()]).unwrap();
    assert!(!p("proc.name", "proc.exe").eval(&e));
    e.proc.exe = "cat".into();
    assert!(p("proc.name", "proc.exe").eval(&e));
    assert!(p("proc.pid", "proc.pid").eval(&e));
    assert!(p("proc.aname", "proc.aname[1]").eval(&e));
    assert!(!p("proc.name", "k8s.pod.name").eval(&e));
    assert!(err("proc.name", Op::FieldEq, &["proc.nope"]).contains("unknown field"));
}
