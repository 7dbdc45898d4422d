//! What a kernel prefilter can decide for a rule: the event types it needs and necessary
//! predicates over values the kernel has at the syscall (paths, ports, uid, comm, container).
//!
//! Every predicate returned is a *necessary* condition: an event failing it can never match the
//! rule, so the kernel may drop it. Events passing it still go through the full evaluator.

use super::diag::{Diagnostic, Severity, Subject};
use super::eval::{Expr, Pred};
use super::fields::FieldId;
use super::ir::Op;
use super::ir::Rule;
use serde::Serialize;
use std::collections::BTreeSet;

/// One kernel-decidable necessary condition. Within a predicate the alternatives are ORed;
/// the predicates of a rule are ANDed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelPredicate {
    /// The path in one of `fields` (`fd.name` or path arguments like `evt.arg.target`) is one
    /// of `exact`, or starts with one of `prefixes`, or its last component is one of `basenames`,
    /// or it contains one of `contains`, or ends with one of `suffixes`.
    Path {
        fields: Vec<String>,
        exact: Vec<String>,
        prefixes: Vec<String>,
        basenames: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        contains: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        suffixes: Vec<String>,
    },
    /// The path as the caller passed it (`fd.nameraw`) contains one of `needles`.
    RawPathContains {
        needles: Vec<String>,
    },
    /// The port in `field` (`fd.rport`, `fd.sport`, `fd.lport`, `fd.cport`) is one of `ports`.
    Port {
        field: String,
        ports: Vec<u16>,
    },
    /// `user.uid` is one of `any_of` (if non-empty) and none of `none_of`.
    Uid {
        any_of: Vec<i64>,
        none_of: Vec<i64>,
    },
    /// The process name (comm, up to 15 bytes in the kernel) is one of `names`.
    Comm {
        names: Vec<String>,
    },
    /// The process name is none of `names` (`not proc.name in (...)`, exceptions).
    NotComm {
        names: Vec<String>,
    },
    /// The task is in a container (not the host's cgroup).
    ContainerOnly,
    /// The syscall succeeded (`evt.rawres >= 0`).
    Success,
    /// The syscall returned exactly 0 (`evt.rawres = 0`, `evt.res = SUCCESS`).
    ResultZero,
    /// An open for reading / for writing (`evt.is_open_read = true`, `evt.is_open_write = true`).
    OpenRead,
    OpenWrite,
    /// An open for writing or with `O_CREAT`, or a syscall other than an open (Sigma's
    /// `file_event`: `evt.is_open_write = true or evt.is_open_create = true or evt.type in
    /// (creat, rename, link, ...)`).
    OpenWriteOrCreate,
    /// The process runs a memfd (`proc.is_exe_from_memfd = true`).
    ExeFromMemfd,
}

/// Per-rule prefilter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct KernelFilter {
    /// Syscall names the rule can match; `None` when the condition does not restrict `evt.type`.
    pub event_types: Option<Vec<String>>,
    pub predicates: Vec<KernelPredicate>,
    /// The condition is exactly the conjunction of `event_types` and `predicates` (each exact):
    /// the kernel can decide the rule alone when it can evaluate every predicate for an event.
    pub complete: bool,
}

/// Argument names that hold (normalised) paths.
pub const PATH_ARGS: &[&str] =
    &["name", "path", "pathname", "filename", "target", "linkpath", "oldpath", "newpath", "dir", "source", "dev"];

/// The event types a condition can match (`None`: unrestricted).
pub fn event_types(e: &Expr) -> Option<BTreeSet<String>> {
    match e {
        Expr::Const(true) => None,
        Expr::Const(false) => Some(BTreeSet::new()),
        Expr::Check(p) if p.field.id == FieldId::EvtType => match p.op {
            Op::Eq | Op::In | Op::Intersects => Some(p.values.iter().cloned().collect()),
            _ => None,
        },
        Expr::Check(_) | Expr::Not(_) => None,
        Expr::And(v) => v.iter().fold(None, |acc, x| match (acc, event_types(x)) {
            (None, s) => s,
            (a, None) => a,
            (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
        }),
        Expr::Or(v) => {
            let mut all = BTreeSet::new();
            for x in v {
                all.extend(event_types(x)?);
            }
            Some(all)
        }
    }
}

fn is_path_field(p: &Pred) -> bool {
    match &p.field.id {
        FieldId::FdName => true,
        FieldId::EvtArgName(n) => PATH_ARGS.contains(&&**n),
        _ => false,
    }
}

/// The literal part of a glob before its first wildcard.
fn glob_prefix(g: &str) -> &str {
    &g[..g.find(['*', '?', '[']).unwrap_or(g.len())]
}

fn is_true(p: &Pred) -> bool {
    p.op == Op::Eq && p.values == ["true"]
}

/// An `fd.name` path predicate with these prefixes and basenames.
fn fd_name_path(prefixes: Vec<String>, basenames: Vec<String>) -> KernelPredicate {
    KernelPredicate::Path {
        fields: vec!["fd.name".into()],
        exact: vec![],
        prefixes,
        basenames,
        contains: vec![],
        suffixes: vec![],
    }
}

fn leaf(p: &Pred, negated: bool) -> Option<KernelPredicate> {
    use KernelPredicate as K;
    let id = &p.field.id;
    if negated {
        return match (id, p.op) {
            (FieldId::ContainerId, Op::Eq) if p.values == ["host"] => Some(K::ContainerOnly),
            (FieldId::UserUid, Op::Eq | Op::In) => {
                Some(K::Uid { any_of: vec![], none_of: p.values.iter().filter_map(|v| v.parse().ok()).collect() })
            }
            (FieldId::ProcName, Op::Eq | Op::In) => Some(K::NotComm { names: p.values.clone() }),
            _ => None,
        };
    }
    match id {
        FieldId::EvtRawres if p.op == Op::Ge && p.values == ["0"] => Some(K::Success),
        FieldId::EvtRawres if p.op == Op::Eq && p.values == ["0"] => Some(K::ResultZero),
        FieldId::EvtRes if p.op == Op::Eq && p.values == ["SUCCESS"] => Some(K::ResultZero),
        FieldId::EvtIsOpenRead if is_true(p) => Some(K::OpenRead),
        FieldId::EvtIsOpenWrite if is_true(p) => Some(K::OpenWrite),
        FieldId::ProcIsExeFromMemfd if is_true(p) => Some(K::ExeFromMemfd),
        _ if is_path_field(p) => {
            let f = vec![p.field.text.clone()];
            let (mut exact, mut prefixes, mut contains, mut suffixes) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            match p.op {
                Op::Eq | Op::In | Op::Intersects => exact = p.values.clone(),
                Op::StartsWith => prefixes = p.values.clone(),
                Op::Contains => contains = p.values.clone(),
                Op::EndsWith => suffixes = p.values.clone(),
                Op::PMatch => {
                    for v in &p.values {
                        let v = v.trim_end_matches('/');
                        exact.push(v.to_owned());
                        prefixes.push(format!("{v}/"));
                    }
                }
                Op::Glob => {
                    let g = &p.values[0];
                    let pre = glob_prefix(g);
                    if pre.len() == g.len() {
                        exact.push(g.clone());
                    } else if pre.len() > 1 {
                        prefixes.push(pre.to_owned());
                    } else {
                        return None;
                    }
                }
                _ => return None,
            }
            Some(K::Path { fields: f, exact, prefixes, basenames: vec![], contains, suffixes })
        }
        FieldId::FdNameraw if p.op == Op::Contains => Some(K::RawPathContains { needles: p.values.clone() }),
        FieldId::FdFilename if matches!(p.op, Op::Eq | Op::In) => Some(fd_name_path(vec![], p.values.clone())),
        FieldId::FdDirectory if matches!(p.op, Op::Eq | Op::In) => {
            Some(fd_name_path(p.values.iter().map(|d| format!("{}/", d.trim_end_matches('/'))).collect(), vec![]))
        }
        FieldId::FdRport | FieldId::FdSport | FieldId::FdLport | FieldId::FdCport
            if matches!(p.op, Op::Eq | Op::In | Op::Intersects) =>
        {
            Some(K::Port {
                field: p.field.text.clone(),
                ports: p.values.iter().filter_map(|v| v.parse().ok()).collect(),
            })
        }
        FieldId::UserUid => match p.op {
            Op::Eq | Op::In => {
                Some(K::Uid { any_of: p.values.iter().filter_map(|v| v.parse().ok()).collect(), none_of: vec![] })
            }
            Op::Ne => {
                Some(K::Uid { any_of: vec![], none_of: p.values.iter().filter_map(|v| v.parse().ok()).collect() })
            }
            _ => None,
        },
        FieldId::ProcName if matches!(p.op, Op::Eq | Op::In) => Some(K::Comm { names: p.values.clone() }),
        FieldId::ContainerId if p.op == Op::Ne && p.values == ["host"] => Some(K::ContainerOnly),
        _ => None,
    }
}

/// Same kind (and port field): can be merged by union in an `or`.
fn key(k: &KernelPredicate) -> (u8, &str) {
    match k {
        KernelPredicate::Path { .. } => (0, ""),
        KernelPredicate::Port { field, .. } => (1, field),
        KernelPredicate::Uid { .. } => (2, ""),
        KernelPredicate::Comm { .. } => (3, ""),
        KernelPredicate::ContainerOnly => (4, ""),
        KernelPredicate::NotComm { .. } => (5, ""),
        KernelPredicate::Success => (6, ""),
        KernelPredicate::ResultZero => (7, ""),
        KernelPredicate::OpenRead => (8, ""),
        KernelPredicate::OpenWrite => (9, ""),
        KernelPredicate::ExeFromMemfd => (10, ""),
        KernelPredicate::RawPathContains { .. } => (11, ""),
        KernelPredicate::OpenWriteOrCreate => (12, ""),
    }
}

fn union(a: &KernelPredicate, b: &KernelPredicate) -> Option<KernelPredicate> {
    use KernelPredicate as K;
    fn cat<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
        let mut v = a.to_vec();
        v.extend(b.iter().filter(|x| !a.contains(x)).cloned());
        v
    }
    Some(match (a, b) {
        (
            K::Path { fields: f1, exact: e1, prefixes: p1, basenames: b1, contains: c1, suffixes: s1 },
            K::Path { fields: f2, exact: e2, prefixes: p2, basenames: b2, contains: c2, suffixes: s2 },
        ) => K::Path {
            fields: cat(f1, f2),
            exact: cat(e1, e2),
            prefixes: cat(p1, p2),
            basenames: cat(b1, b2),
            contains: cat(c1, c2),
            suffixes: cat(s1, s2),
        },
        (K::RawPathContains { needles: n1 }, K::RawPathContains { needles: n2 }) => {
            K::RawPathContains { needles: cat(n1, n2) }
        }
        (K::Port { field, ports: p1 }, K::Port { ports: p2, .. }) => {
            K::Port { field: field.clone(), ports: cat(p1, p2) }
        }
        (K::Uid { any_of: a1, none_of: n1 }, K::Uid { any_of: a2, none_of: n2 }) => {
            if a1.is_empty() || a2.is_empty() {
                // "none of" sets only survive an `or` where both sides exclude the same uid.
                let none: Vec<i64> = n1.iter().filter(|x| n2.contains(x)).copied().collect();
                if !a1.is_empty() || !a2.is_empty() || none.is_empty() {
                    return None;
                }
                K::Uid { any_of: vec![], none_of: none }
            } else {
                K::Uid { any_of: cat(a1, a2), none_of: vec![] }
            }
        }
        (K::Comm { names: n1 }, K::Comm { names: n2 }) => K::Comm { names: cat(n1, n2) },
        (K::NotComm { names: n1 }, K::NotComm { names: n2 }) => {
            // Excluded on both sides of the `or` only.
            let both: Vec<String> = n1.iter().filter(|n| n2.contains(n)).cloned().collect();
            if both.is_empty() {
                return None;
            }
            K::NotComm { names: both }
        }
        (a, b) if a == b => a.clone(),
        _ => return None,
    })
}

/// Two predicates of one kind ANDed, as one (exclusion lists add up), if they combine.
fn both(a: &KernelPredicate, b: &KernelPredicate) -> Option<KernelPredicate> {
    use KernelPredicate as K;
    fn cat<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
        let mut v = a.to_vec();
        v.extend(b.iter().filter(|x| !a.contains(x)).cloned());
        v
    }
    Some(match (a, b) {
        _ if a == b => a.clone(),
        (K::NotComm { names: n1 }, K::NotComm { names: n2 }) => K::NotComm { names: cat(n1, n2) },
        (K::Uid { any_of: a1, none_of: n1 }, K::Uid { any_of: a2, none_of: n2 }) if a1.is_empty() && a2.is_empty() => {
            K::Uid { any_of: vec![], none_of: cat(n1, n2) }
        }
        _ => return None,
    })
}

/// Necessary kernel predicates of a condition.
pub fn necessary(e: &Expr) -> Vec<KernelPredicate> {
    match e {
        Expr::Check(p) => leaf(p, false).into_iter().collect(),
        Expr::Not(inner) => match &**inner {
            Expr::Check(p) => leaf(p, true).into_iter().collect(),
            // not (a or b) = not a and not b: exceptions compile to this.
            Expr::Or(v) => v
                .iter()
                .filter_map(|x| match x {
                    Expr::Check(p) => leaf(p, true),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        Expr::And(v) => {
            let mut out: Vec<KernelPredicate> = Vec::new();
            for k in v.iter().flat_map(necessary) {
                match out.iter_mut().find_map(|o| both(o, &k).map(|merged| (o, merged))) {
                    Some((o, merged)) => *o = merged,
                    None => out.push(k),
                }
            }
            out
        }
        Expr::Or(v) if v.iter().all(writes_or_creates) => vec![KernelPredicate::OpenWriteOrCreate],
        Expr::Or(v) => {
            let mut iter = v.iter().map(necessary);
            let Some(mut acc) = iter.next() else { return Vec::new() };
            for next in iter {
                acc = acc
                    .iter()
                    .filter_map(|a| {
                        // Union with every same-key predicate of the other side (one suffices).
                        next.iter().filter(|b| key(b) == key(a)).find_map(|b| union(a, b))
                    })
                    .collect();
            }
            acc
        }
        Expr::Const(_) => Vec::new(),
    }
}

/// Syscalls whose flags say how a file is opened: for any other, the kernel's open-mode tests
/// pass.
const OPEN_FAMILY: [&str; 5] = ["open", "openat", "openat2", "open_by_handle_at", "creat"];

/// Whether `e` holds only for an open for writing or with `O_CREAT`, or for a syscall outside
/// the open family (see [`KernelPredicate::OpenWriteOrCreate`]).
fn writes_or_creates(e: &Expr) -> bool {
    let Expr::Check(p) = e else { return false };
    match p.field.id {
        FieldId::EvtIsOpenWrite | FieldId::EvtIsOpenCreate => is_true(p),
        // `creat` always creates: it is in the family, and passes the test.
        FieldId::EvtType => {
            matches!(p.op, Op::Eq | Op::In)
                && p.values.iter().all(|t| t == "creat" || !OPEN_FAMILY.contains(&t.as_str()))
        }
        _ => false,
    }
}

/// Whether a leaf's kernel predicate says exactly what the leaf says (not just a necessary
/// condition): `fd.name` only (other path fields depend on which argument the kernel sees), no
/// wildcard or directory match, names that fit the kernel's comm.
fn exact(p: &Pred, negated: bool) -> bool {
    use KernelPredicate as K;
    match (leaf(p, negated), &p.field.id) {
        (Some(K::Path { .. }), FieldId::FdName) => match p.op {
            Op::Eq | Op::In | Op::StartsWith | Op::PMatch => true,
            Op::Glob => glob_prefix(&p.values[0]).len() == p.values[0].len(),
            _ => false,
        },
        // The remote port as the kernel copies it (prefilter applies it to connect/sendto only).
        (Some(K::Port { .. }), FieldId::FdRport) => true,
        // Needles may be cut to the kernel's length, and apply to the open family only.
        (Some(K::Path { .. } | K::Port { .. } | K::RawPathContains { .. }), _) => false,
        (Some(_), _) => true,
        (None, FieldId::EvtType) => !negated && matches!(p.op, Op::Eq | Op::In),
        // Every event the evaluator sees is an exit event.
        (None, FieldId::EvtDir) => !negated && p.op == Op::Eq && p.values == ["<"],
        (None, _) => false,
    }
}

/// Whether `e` is a conjunction of exact leaves (see [`KernelFilter::complete`]).
fn complete(e: &Expr) -> bool {
    match e {
        Expr::Const(true) => true,
        Expr::Check(p) => exact(p, false),
        Expr::Not(inner) => match &**inner {
            Expr::Check(p) => exact(p, true),
            Expr::Or(v) => v.iter().all(|x| matches!(x, Expr::Check(p) if exact(p, true))),
            _ => false,
        },
        Expr::And(v) => v.iter().all(complete),
        Expr::Or(v) => v.len() == 1 && complete(&v[0]),
        Expr::Const(false) => false,
    }
}

/// The prefilter of one condition.
pub fn filter(e: &Expr) -> KernelFilter {
    let predicates = necessary(e);
    // One predicate of each kind per rule in the kernel's tables; two (say, two path tests
    // ANDed) keep the first as a filter and leave the decision to user space.
    let mut kinds: Vec<(u8, &str)> = predicates.iter().map(key).collect();
    kinds.sort_unstable();
    let distinct = kinds.windows(2).all(|w| w[0] != w[1]);
    KernelFilter {
        event_types: event_types(e).map(|s| s.into_iter().collect()),
        complete: complete(e) && distinct && event_types(e).is_some(),
        predicates,
    }
}

/// The tag that has the kernel kill the process in the very syscall that matches the rule
/// (a tag, so the rules file still loads in Falco).
pub const KILL_TAG: &str = "tracewarden.kill";

/// An error for each enabled rule tagged [`KILL_TAG`] that the kernel cannot decide alone: a
/// kill must never wait for user space, nor act on a necessary condition only.
pub fn kill_refusals(rules: &[Rule], filters: &[KernelFilter]) -> Vec<Diagnostic> {
    rules
        .iter()
        .zip(filters)
        .filter(|(r, f)| r.enabled && !f.complete && r.tags.iter().any(|t| t == KILL_TAG))
        .map(|(r, _)| Diagnostic {
            severity: Severity::Error,
            file: r.file.clone(),
            pos: r.pos,
            subject: Some(Subject { kind: "rule", name: r.name.clone() }),
            message: format!(
                "tagged {KILL_TAG}, but the kernel cannot decide this rule alone: its condition must be evt.type tests ANDed with exact tests of paths (=, in, startswith), remote ports, uid, proc.name, container, result or open mode; remove the tag or simplify the condition"
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Engine;

    fn kf(cond: &str) -> KernelFilter {
        let engine = Engine::from_sources(&[("t.yaml", &format!("- macro: container\n  condition: container.id != host\n- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: info\n"))]);
        assert!(engine.report.diagnostics.is_empty(), "{:?}", engine.report.diagnostics);
        engine.kernel_filter(0).clone()
    }

    #[test]
    fn kill_tag_only_on_rules_the_kernel_decides_alone() {
        let rule = |name: &str, cond: &str| {
            format!("- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: critical\n  tags: [T1, tracewarden.kill]\n")
        };
        let text = [
            rule("shadow", "evt.type = openat and evt.is_open_read = true and fd.name = /etc/shadow and container.id != host"),
            rule("cmdline", "evt.type = execve and proc.cmdline contains nc"),
            "- rule: off\n  desc: d\n  condition: proc.cmdline contains x\n  output: o\n  priority: debug\n  enabled: false\n  tags: [tracewarden.kill]\n".to_owned(),
        ]
        .concat();
        let engine = Engine::from_sources(&[("k.yaml", &text)]);
        let errors: Vec<String> = engine.report.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "k.yaml:7:3: rule 'cmdline': tagged tracewarden.kill, but the kernel cannot decide this rule alone"
            ),
            "{errors:?}"
        );
        assert!(!errors[0].contains('\n'));
    }

    #[test]
    fn written_or_created_files_are_told_apart_in_the_kernel() {
        // Sigma's file_event guard: only opens for writing or creating, and the other calls.
        let guard = "evt.type in (openat, creat, rename) and evt.rawres >= 0 and (evt.is_open_write = true or evt.is_open_create = true or evt.type in (creat, rename))";
        assert_eq!(kf(guard).predicates, [KernelPredicate::Success, KernelPredicate::OpenWriteOrCreate]);
        // An alternative that an open for reading can pass keeps every open.
        let reads_too = "evt.type = openat and (evt.is_open_write = true or evt.type = openat)";
        assert!(!kf(reads_too).predicates.contains(&KernelPredicate::OpenWriteOrCreate));
        let read = "evt.type = openat and (evt.is_open_write = true or evt.is_open_read = true)";
        assert!(kf(read).predicates.is_empty());
    }

    #[test]
    fn event_types_and_paths() {
        let k = kf("evt.type in (open, openat) and fd.name in (/etc/shadow, /etc/sudoers) and container");
        assert_eq!(k.event_types, Some(vec!["open".into(), "openat".into()]));
        assert_eq!(k.predicates.len(), 2);
        assert!(matches!(&k.predicates[0], KernelPredicate::Path { exact, .. } if exact.len() == 2));
        assert_eq!(k.predicates[1], KernelPredicate::ContainerOnly);
    }

    #[test]
    fn or_merges_same_kind_and_drops_others() {
        let k = kf("(evt.type = openat and fd.name startswith /etc/) or (evt.type = unlinkat and fd.name pmatch (/root) and user.uid = 0)");
        assert_eq!(k.event_types, Some(vec!["openat".into(), "unlinkat".into()]));
        assert_eq!(
            k.predicates,
            [KernelPredicate::Path {
                fields: vec!["fd.name".into()],
                exact: vec!["/root".into()],
                prefixes: vec!["/etc/".into(), "/root/".into()],
                basenames: vec![],
                contains: vec![],
                suffixes: vec![]
            }]
        );
    }

    #[test]
    fn or_over_different_path_fields_keeps_a_path_predicate() {
        let k = kf("(evt.type = symlinkat and evt.arg.target = /etc/shadow) or (evt.type = linkat and evt.arg.oldpath pmatch (/root))");
        assert_eq!(
            k.predicates,
            [KernelPredicate::Path {
                fields: vec!["evt.arg.target".into(), "evt.arg.oldpath".into()],
                exact: vec!["/etc/shadow".into(), "/root".into()],
                prefixes: vec!["/root/".into()],
                basenames: vec![],
                contains: vec![],
                suffixes: vec![]
            }]
        );
    }

    #[test]
    fn ports_uid_comm() {
        let k = kf("evt.type = connect and fd.rport in (4444, 1337) and user.uid != 0 and proc.name in (nc, ncat)");
        assert_eq!(k.predicates.len(), 3);
        assert!(k.predicates.contains(&KernelPredicate::Port { field: "fd.rport".into(), ports: vec![4444, 1337] }));
        assert!(k.predicates.contains(&KernelPredicate::Uid { any_of: vec![], none_of: vec![0] }));
        assert!(k.predicates.contains(&KernelPredicate::Comm { names: vec!["nc".into(), "ncat".into()] }));
    }

    #[test]
    fn unrestricted_and_impossible() {
        assert_eq!(kf("proc.name = sh").event_types, None);
        assert_eq!(kf("evt.type = open and evt.type = execve").event_types, Some(vec![]));
        assert_eq!(kf("not evt.type = open").event_types, None);
        let k = kf("fd.name glob '/etc/*.conf' and fd.filename = shadow");
        assert_eq!(k.predicates.len(), 2);
    }

    #[test]
    fn raw_path_substrings_and_path_needles() {
        let k = kf("evt.type in (open, openat) and fd.nameraw contains \"../\" and (fd.name startswith /etc/ or fd.name contains id_rsa or fd.name endswith .pem or fd.filename in (syslog))");
        assert_eq!(
            k.predicates,
            [
                KernelPredicate::RawPathContains { needles: vec!["../".into()] },
                KernelPredicate::Path {
                    fields: vec!["fd.name".into()],
                    exact: vec![],
                    prefixes: vec!["/etc/".into()],
                    basenames: vec!["syslog".into()],
                    contains: vec!["id_rsa".into()],
                    suffixes: vec![".pem".into()]
                }
            ]
        );
        assert!(!k.complete, "needles may be cut to the kernel's length: user space decides");
        // An alternative without a path test leaves no path predicate (the `or` needs both).
        let k = kf("evt.type = openat and (fd.name contains x or proc.name = sh)");
        assert!(k.predicates.is_empty(), "{:?}", k.predicates);
        // Only `contains` on the raw name: a prefix of what the caller typed says nothing.
        assert!(kf("evt.type = openat and fd.nameraw startswith /etc").predicates.is_empty());
    }
}
