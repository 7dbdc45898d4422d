//! A profile as a Falco rules file: one list per learned kind and one rule per kind that fires
//! on behaviour of the image's containers outside the list, so a learned profile becomes an
//! ordinary rule anyone can audit, edit and reload (`exporter rules check` loads it).
//!
//! How items map to conditions:
//! - exec `parent > child`: `proc.pexepath = parent and fd.nameraw in (children)` (the path
//!   the exec named); `<entrypoint>` is `proc.vpid = 1`, and `<unknown>`
//!   any parent;
//! - write/read: `fd.name in (paths)`, and `fd.name glob` for items with `*`; `/proc/self/`
//!   items match any `/proc/<pid>/`;
//! - connect: `fd.rnet in (net) and fd.rport = port`, or `fd.name` for a unix socket;
//! - listen: `fd.lport in (ports)` (the rule language has no protocol field here, so a learned
//!   `tcp:53` also allows `udp:53`);
//! - syscall: `evt.type in (names)`. That rule is disabled: a rule on every event type makes every
//!   syscall of every process go to user space. Enable it where that cost is acceptable.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    item::{Kind, ENTRYPOINT, EXEC_SEPARATOR, UNKNOWN_PARENT},
    profile::Profile,
};
use crate::rules::output::render_time;

/// The rules file for `profile`, with `priority` (a Falco priority name) on every rule.
pub fn rules_file(profile: &Profile, priority: &str) -> String {
    let slug = slug(&profile.reference);
    let image = quote(&profile.reference);
    let mut out = String::new();
    let mut started = String::new();
    render_time(profile.learning_started.saturating_mul(1_000_000_000), &mut started);
    let _ =
        writeln!(out, "# Behaviour baseline of image {}, exported by `exporter baseline export`.", profile.reference);
    let _ =
        writeln!(out, "# Profile key {}; learning started {started}; state {}.", profile.image, profile.state.as_str());
    out.push_str("# Each rule fires on behaviour of the image's containers outside the learned set.\n\n");
    let _ = writeln!(out, "- macro: baseline_{slug}_container\n  condition: container.image = {image}\n");
    for kind in Kind::ALL {
        let Some(items) = profile.learned.get(&kind).filter(|s| !s.is_empty()) else { continue };
        let allowed = match kind {
            Kind::Exec => exec_condition(items.iter()),
            Kind::Write | Kind::Read => path_condition(items.iter(), &format!("baseline_{slug}_{kind}"), &mut out),
            Kind::Connect => connect_condition(items.iter()),
            Kind::Listen => {
                let ports: Vec<&str> = items.iter().filter_map(|i| i.rsplit_once(':').map(|(_, p)| p)).collect();
                format!("fd.lport in ({})", ports.join(", "))
            }
            Kind::Syscall => {
                let list = format!("baseline_{slug}_syscall");
                write_list(&mut out, &list, items.iter());
                format!("evt.type in ({list})")
            }
        };
        let (events, enabled) = match kind {
            Kind::Exec => ("evt.type in (execve, execveat) and evt.dir = < and evt.rawres = 0", true),
            Kind::Write => ("evt.type in (open, openat, openat2, creat) and evt.is_open_write = true and evt.rawres >= 0", true),
            Kind::Read => ("evt.type in (open, openat, openat2) and evt.is_open_read = true and evt.is_open_write = false and evt.rawres >= 0 and fd.name startswith /", true),
            Kind::Connect => ("evt.type = connect and evt.dir = <", true),
            Kind::Listen => ("evt.type = bind and evt.dir = < and evt.rawres = 0 and fd.lport != 0", true),
            Kind::Syscall => ("evt.dir = <", false),
        };
        let _ = writeln!(out, "- rule: Baseline {kind} outside profile ({})", profile.reference);
        let _ = writeln!(out, "  desc: {kind} not in the learned behaviour of {}", profile.reference);
        let _ =
            writeln!(out, "  condition: >\n    {events}\n    and baseline_{slug}_container\n    and not ({allowed})");
        let _ = writeln!(
            out,
            "  output: Baseline {kind} outside profile (image=%container.image container=%container.name proc=%proc.exepath parent=%proc.pexepath fd=%fd.name evt=%evt.type)"
        );
        let _ = writeln!(out, "  priority: {priority}\n  tags: [baseline]");
        if !enabled {
            out.push_str("  enabled: false\n");
        }
        out.push('\n');
    }
    out
}

/// Exec items grouped by parent: `(proc.pexepath = P and fd.name in (C...)) or ...`.
fn exec_condition<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let mut by_parent: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for item in items {
        let (parent, child) = item.split_once(EXEC_SEPARATOR).unwrap_or(("", item));
        by_parent.entry(parent).or_default().push(quote(child));
    }
    let alternatives: Vec<String> = by_parent
        .into_iter()
        .map(|(parent, children)| {
            let children = format!("fd.nameraw in ({})", children.join(", "));
            match parent {
                ENTRYPOINT => format!("(proc.vpid = 1 and {children})"),
                UNKNOWN_PARENT => format!("({children})"),
                parent => format!("(proc.pexepath = {} and {children})", quote(parent)),
            }
        })
        .collect();
    alternatives.join(" or ")
}

/// Exact paths in a list named `list` (written to `out`), the rest as globs.
fn path_condition<'a>(items: impl Iterator<Item = &'a String>, list: &str, out: &mut String) -> String {
    let (globs, exact): (Vec<String>, Vec<String>) =
        items.map(|i| i.replacen("/proc/self/", "/proc/*/", 1)).partition(|i| i.contains('*'));
    let mut alternatives = Vec::new();
    if !exact.is_empty() {
        write_list(out, list, exact.iter());
        alternatives.push(format!("fd.name in ({list})"));
    }
    alternatives.extend(globs.iter().map(|g| format!("fd.name glob {}", quote(g))));
    alternatives.join(" or ")
}

/// `(fd.rnet in (net) and fd.rport = port)` per item, `fd.name = path` for unix sockets.
fn connect_condition<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let alternatives: Vec<String> = items
        .filter_map(|item| {
            if let Some(path) = item.strip_prefix("unix ") {
                return Some(format!("fd.name = {}", quote(path)));
            }
            let (net, port) = item.rsplit_once(':')?;
            let net = net.replace(['[', ']'], "");
            Some(format!("(fd.rnet in ({}) and fd.rport = {port})", quote(&net)))
        })
        .collect();
    alternatives.join(" or ")
}

fn write_list<'a>(out: &mut String, name: &str, items: impl Iterator<Item = &'a String>) {
    let quoted: Vec<String> = items.map(|i| quote(i)).collect();
    let _ = writeln!(out, "- list: {name}\n  items: [{}]\n", quoted.join(", "));
}

/// A double-quoted string, valid both in YAML flow sequences and in conditions.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// An identifier from an image reference: letters and digits, the rest as `_`.
fn slug(image: &str) -> String {
    image.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
