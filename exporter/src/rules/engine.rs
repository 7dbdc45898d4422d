//! The loaded rule set: rules indexed by event type, evaluation, alerts.

use super::candidates::{Candidates, Merged};
use super::diag::Severity;
use super::event::Event;
use super::ir::{LoadReport, Rule, RuleSet};
use super::kernel::{self, KernelFilter};
use super::output::{render_time, Alert};
use super::plan::Plans;
use super::sources;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

/// FNV-1a: event type names are short, so this beats SipHash on the hot path.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Which rules fire for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// Stop at the first matching rule, in load order (Falco's default).
    #[default]
    First,
    /// Every matching rule.
    All,
}

/// A compiled, indexed rule set.
pub struct Engine {
    rules: Vec<Rule>,
    /// How each rule's condition is evaluated: the same verdicts, checks merged and shared
    /// conjuncts evaluated once per event.
    plans: Plans,
    filters: Vec<KernelFilter>,
    /// Event type -> enabled rules that can match it, incl. unrestricted rules, filed by the
    /// executable they need.
    by_type: FastMap<Box<str>, Candidates>,
    /// Enabled rules without an event-type restriction (for types no rule names).
    any_type: Candidates,
    pub mode: MatchMode,
    pub hostname: String,
    /// Everything found while loading and compiling: diagnostics, unused definitions, rules
    /// left out and why.
    pub report: LoadReport,
}

impl Engine {
    /// Loads and compiles every rules file of `dir` (Falco and Sigma). Returns the engine even with errors (the
    /// failing rules are left out); check [`Engine::has_errors`].
    pub fn load_dir(dir: &Path) -> Engine {
        Engine::from_rule_set(sources::load_dir(dir))
    }

    /// Compiles in-memory files `(name, text)`, in the given order.
    pub fn from_sources(files: &[(&str, &str)]) -> Engine {
        Engine::from_rule_set(sources::from_sources(files))
    }

    /// Indexes a front end's rules for evaluation and derives their kernel filters.
    pub fn from_rule_set(set: RuleSet) -> Engine {
        let RuleSet { rules, mut report } = set;
        let filters: Vec<KernelFilter> = rules.iter().map(|r| kernel::filter(&r.condition)).collect();
        let plans = Plans::new(&rules.iter().map(|r| r.condition.fused()).collect::<Vec<_>>());
        report.diagnostics.extend(kernel::kill_refusals(&rules, &filters));
        let mut by_type: FastMap<Box<str>, Vec<u32>> = FastMap::default();
        let mut any_type = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            if !rules[i].enabled {
                continue;
            }
            match &f.event_types {
                Some(types) => {
                    for t in types {
                        by_type.entry(t.as_str().into()).or_default().push(i as u32);
                    }
                }
                None => any_type.push(i as u32),
            }
        }
        // Unrestricted rules join every per-type list, keeping load order.
        let file = |indices: &[u32]| Candidates::new(indices.iter().map(|&i| (i, &rules[i as usize].condition)));
        let by_type = by_type
            .into_iter()
            .map(|(k, mut v)| {
                v.extend(&any_type);
                v.sort_unstable();
                v.dedup();
                let candidates = file(&v);
                (k, candidates)
            })
            .collect();
        let any_type = file(&any_type);
        let hostname = hostname();
        Engine { rules, plans, filters, by_type, any_type, mode: MatchMode::First, hostname, report }
    }

    /// How many rules were left out as unsupported, by reason key.
    pub fn unsupported_by_reason(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut by_reason = std::collections::BTreeMap::new();
        for u in &self.report.unsupported {
            *by_reason.entry(u.reason).or_default() += 1;
        }
        by_reason
    }

    pub fn has_errors(&self) -> bool {
        self.report.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// All compiled rules (enabled or not), in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The kernel prefilter of rule `i` (same index as [`Engine::rules`]).
    pub fn kernel_filter(&self, i: usize) -> &KernelFilter {
        &self.filters[i]
    }

    /// `(index, rule, filter)` of every enabled rule: what a kernel prefilter compiles from.
    pub fn kernel_filters(&self) -> impl Iterator<Item = (usize, &Rule, &KernelFilter)> {
        self.rules.iter().zip(&self.filters).enumerate().filter(|(_, (r, _))| r.enabled).map(|(i, (r, f))| (i, r, f))
    }

    /// The union of the event types the enabled rules need; `None` if one rule needs all.
    pub fn event_types(&self) -> Option<Vec<String>> {
        if !self.any_type.is_empty() {
            return None;
        }
        let mut v: Vec<String> = self.by_type.keys().map(|k| k.to_string()).collect();
        v.sort();
        Some(v)
    }

    /// The rules that can match events of type `evt_type` by a process running `exepath`
    /// exec'd as `exec_path`, in load order (indices into `rules()`).
    #[inline]
    pub fn candidates<'a>(&'a self, evt_type: &str, exepath: &str, exec_path: &str) -> Merged<'a> {
        self.by_type.get(evt_type).unwrap_or(&self.any_type).for_exe(exepath, exec_path)
    }

    /// Indices of the rules `ev` matches (per [`Engine::mode`]) appended to `out`; returns how
    /// many. Allocates nothing once `out` has capacity.
    #[inline]
    pub fn evaluate(&self, ev: &Event, out: &mut Vec<u32>) -> usize {
        let mut n = 0;
        let mut on_event = self.plans.on(ev);
        for i in self.candidates(&ev.evt_type, &ev.proc.exepath, &ev.proc.exec_path) {
            if on_event.matches(i as usize) {
                out.push(i);
                n += 1;
                if self.mode == MatchMode::First {
                    break;
                }
            }
        }
        n
    }

    /// The first matching rule, if any.
    #[inline]
    pub fn first_match(&self, ev: &Event) -> Option<&Rule> {
        let mut on_event = self.plans.on(ev);
        let i = self
            .candidates(&ev.evt_type, &ev.proc.exepath, &ev.proc.exec_path)
            .find(|&i| on_event.matches(i as usize))?;
        Some(&self.rules[i as usize])
    }

    /// The alert for rule `i` on `ev`.
    pub fn alert(&self, i: usize, ev: &Event) -> Alert {
        let r = &self.rules[i];
        let mut time = String::new();
        render_time(ev.time, &mut time);
        let mut output = String::new();
        r.output.render(ev, &mut output);
        let c = ev.container.as_ref();
        Alert {
            time,
            rule: r.name.clone(),
            priority: r.priority.as_str().to_owned(),
            output,
            output_fields: r.output.fields(ev),
            tags: r.tags.clone(),
            source: r.source.clone(),
            hostname: self.hostname.clone(),
            container_id: c.map(|c| c.id.clone()).unwrap_or_else(|| "host".into()),
            container_name: c.map(|c| c.name.clone()).unwrap_or_else(|| "host".into()),
            image: c.map(|c| c.image.clone()).unwrap_or_default(),
            pod: c.and_then(|c| c.pod.clone()).unwrap_or_default(),
            namespace: c.and_then(|c| c.namespace.clone()).unwrap_or_default(),
            sigma: r.sigma.clone(),
        }
    }
}

/// This machine's host name, as alerts carry it.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "
- macro: container
  condition: container.id != host
- rule: open etc
  desc: d
  condition: evt.type in (open, openat) and fd.name startswith /etc/
  output: open %fd.name by %proc.name
  priority: WARNING
  tags: [T1]
- rule: any shell
  desc: d
  condition: proc.name = sh and container
  output: sh in %container.id
  priority: notice
- rule: off
  desc: d
  condition: evt.type = openat
  output: o
  priority: debug
  enabled: false
";

    #[test]
    fn index_and_modes() {
        let mut e = Engine::from_sources(&[("r.yaml", RULES)]);
        assert!(!e.has_errors(), "{:?}", e.report.diagnostics);
        assert_eq!(e.candidates("openat", "/bin/sh", "/bin/sh").collect::<Vec<_>>(), [0, 1]);
        assert_eq!(e.candidates("execve", "/bin/sh", "/bin/sh").collect::<Vec<_>>(), [1]);
        assert_eq!(e.event_types(), None);
        let enabled: Vec<usize> = e.kernel_filters().map(|(i, _, _)| i).collect();
        assert_eq!(enabled, [0, 1]);
        assert_eq!(e.kernel_filters().next().unwrap().2.event_types, Some(vec!["open".into(), "openat".into()]));
        let ev = Event::from_json(
            r#"{"type":"openat","proc":{"name":"sh"},"fd":{"type":"file","name":"/etc/x"},"container":{"id":"c1","name":"web"}}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(e.evaluate(&ev, &mut out), 1);
        assert_eq!(out, [0]);
        e.mode = MatchMode::All;
        out.clear();
        assert_eq!(e.evaluate(&ev, &mut out), 2);
        assert_eq!(e.first_match(&ev).unwrap().name, "open etc");
        let a = e.alert(0, &ev);
        assert_eq!(a.output, "open /etc/x by sh");
        assert_eq!(a.priority, "warning");
        assert_eq!(a.container_id, "c1");
        assert_eq!(a.output_fields["fd.name"], "/etc/x");
    }
}
