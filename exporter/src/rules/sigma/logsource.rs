//! Sigma log sources and fields -> the syscall events and event fields that serve them. The
//! one table of what a Sigma rule may name on this sensor.

use super::Problem;
use crate::rules::eval::{Expr, Pred};
use crate::rules::fields::resolve;
use crate::rules::ir::Op;
use crate::rules::yaml::Node;

/// The log source categories a syscall sensor serves (product `linux`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Successful execs.
    ProcessCreation,
    /// Files created or written: opens for writing or creating, `creat`, and the new names of
    /// `rename`, `link` and `symlink`.
    FileEvent,
    /// Outbound connections (`connect`): inbound ones are not decoded yet.
    NetworkConnection,
}

/// Why a rule cannot run here: a stable key, counted by `rules check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A product other than linux.
    Product,
    /// `service:` logs (auditd, syslog, sshd, ...): records of another log, not syscalls.
    Service,
    /// A category no syscall serves here, or none (a search over log lines).
    Category,
    /// A host name pattern: names are known only by resolving complete names forward.
    HostnamePattern,
    /// `Initiated: 'false'`: accepted connections are not decoded.
    InboundConnection,
    /// A correlation rule: it relates matches of other rules over time.
    Correlation,
    /// Several documents in one file (a rule collection with `action: global`).
    RuleCollection,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Product => "product",
            Reason::Service => "service",
            Reason::Category => "category",
            Reason::HostnamePattern => "hostname-pattern",
            Reason::InboundConnection => "inbound-connection",
            Reason::Correlation => "correlation",
            Reason::RuleCollection => "rule-collection",
        }
    }
}

const PROC: &[Category] = &[Category::ProcessCreation, Category::FileEvent, Category::NetworkConnection];
const FILE: &[Category] = &[Category::FileEvent];
const NET: &[Category] = &[Category::NetworkConnection];

/// Sigma field -> our field, and the categories that have it. The process fields are those of
/// the process that made the syscall, in every category.
pub const FIELDS: &[(&str, &str, &[Category])] = &[
    ("Image", "proc.exec_path", PROC),
    ("CommandLine", "proc.cmdline", PROC),
    ("ParentImage", "proc.pexec_path", PROC),
    ("ParentCommandLine", "proc.pcmdline", PROC),
    ("CurrentDirectory", "proc.cwd", PROC),
    ("User", "user.name", PROC),
    ("LogonId", "user.loginuid", PROC),
    ("ProcessId", "proc.pid", PROC),
    ("ParentProcessId", "proc.ppid", PROC),
    ("TargetFilename", "fd.name", FILE),
    ("DestinationIp", "fd.rip", NET),
    ("DestinationPort", "fd.rport", NET),
    ("DestinationHostname", "fd.sip.name", NET),
    ("SourceIp", "fd.lip", NET),
    ("SourcePort", "fd.lport", NET),
    ("Protocol", "fd.l4proto", NET),
    ("Initiated", "", NET),
];

/// What a Sigma field name stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Field(&'static str),
    /// `Initiated`: which end opened the connection; every served event is initiated here.
    Initiated,
}

fn category_name(c: Category) -> &'static str {
    match c {
        Category::ProcessCreation => "process_creation",
        Category::FileEvent => "file_event",
        Category::NetworkConnection => "network_connection",
    }
}

/// The field `name` maps to in `cat`'s events; `Err` names the field and what is wrong.
pub fn field(cat: Category, name: &str) -> Result<Target, String> {
    let Some((_, ours, cats)) = FIELDS.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("field '{name}' has no mapping to a syscall event field"));
    };
    if !cats.contains(&cat) {
        let names: Vec<&str> = cats.iter().map(|c| category_name(*c)).collect();
        return Err(format!("field '{name}' is not in {} events (only in {})", category_name(cat), names.join(", ")));
    }
    Ok(if ours.is_empty() { Target::Initiated } else { Target::Field(ours) })
}

/// Fields every alert of the category shows, besides those the rule tests.
pub fn shown_fields(cat: Category) -> &'static [&'static str] {
    match cat {
        Category::ProcessCreation => &["Image", "CommandLine", "ParentImage", "User"],
        Category::FileEvent => &["TargetFilename", "Image", "CommandLine", "User"],
        Category::NetworkConnection => &["DestinationIp", "DestinationPort", "Image", "CommandLine", "User"],
    }
}

/// The category of a `logsource` mapping, or why it cannot be served.
pub fn category(logsource: &Node) -> Result<Category, Problem> {
    let pos = logsource.pos();
    if !matches!(logsource, Node::Map { .. }) {
        return Err(Problem::Error(pos, format!("'logsource' must be a mapping, found {}", logsource.kind())));
    }
    let get = |key: &str| logsource.get_str(key).map_err(|(pos, msg)| Problem::Error(pos, msg));
    if let Some((product, pos)) = get("product")? {
        if product != "linux" {
            return Err(Problem::Unsupported(
                pos,
                Reason::Product,
                format!("product '{product}': this sensor sees Linux syscalls"),
            ));
        }
    }
    if let Some((service, pos)) = get("service")? {
        return Err(Problem::Unsupported(
            pos,
            Reason::Service,
            format!("service '{service}' logs are records of another log source, not syscall events"),
        ));
    }
    match get("category")? {
        Some(("process_creation", _)) => Ok(Category::ProcessCreation),
        Some(("file_event", _)) => Ok(Category::FileEvent),
        Some(("network_connection", _)) => Ok(Category::NetworkConnection),
        Some((other, pos)) => Err(Problem::Unsupported(
            pos,
            Reason::Category,
            format!("category '{other}' is not served (process_creation, file_event and network_connection are)"),
        )),
        None => Err(Problem::Unsupported(
            pos,
            Reason::Category,
            "no category: a search over log lines, not syscall events".into(),
        )),
    }
}

fn check(field: &str, op: Op, values: &[&str]) -> Result<Expr, String> {
    let values = values.iter().map(|v| v.to_string()).collect();
    Ok(Expr::Check(Box::new(Pred::new(resolve(field, None)?, op, values)?)))
}

const EXECS: &[&str] = &["execve", "execveat"];
const OPENS: &[&str] = &["open", "openat", "openat2"];
/// Calls that always create (or replace) the name they are given.
const CREATES: &[&str] = &["creat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat"];

/// The events a category stands for, as a condition the rule's detection is ANDed with.
pub fn events(cat: Category) -> Result<Expr, String> {
    Ok(match cat {
        Category::ProcessCreation => {
            Expr::And(vec![check("evt.type", Op::In, EXECS)?, check("evt.rawres", Op::Eq, &["0"])?])
        }
        Category::FileEvent => {
            let all: Vec<&str> = OPENS.iter().chain(CREATES).copied().collect();
            Expr::And(vec![
                check("evt.type", Op::In, &all)?,
                check("evt.rawres", Op::Ge, &["0"])?,
                Expr::Or(vec![
                    check("evt.is_open_write", Op::Eq, &["true"])?,
                    check("evt.is_open_create", Op::Eq, &["true"])?,
                    check("evt.type", Op::In, CREATES)?,
                ]),
            ])
        }
        // A non-blocking connect is under way with EINPROGRESS: it is an attempt all the same.
        Category::NetworkConnection => Expr::And(vec![
            check("evt.type", Op::Eq, &["connect"])?,
            check("fd.typechar", Op::In, &["4", "6"])?,
            Expr::Or(vec![check("evt.rawres", Op::Ge, &["0"])?, check("evt.res", Op::Eq, &["EINPROGRESS"])?]),
        ]),
    })
}
