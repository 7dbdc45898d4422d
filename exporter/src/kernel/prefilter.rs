//! Compiles the rules' kernel predicates (`rules::kernel`) into the tables the kernel's
//! prefilter reads: one bit per rule in masks, per-syscall rule bits, a path trie, and port,
//! comm and uid maps. Pure data: `probe` writes it, tests check it without a kernel.
//!
//! Every table entry only ever *removes* rules an event cannot match, so anything the kernel
//! cannot express (a basename test, a port on a syscall whose address is not the remote one, a
//! full table) is simply left out: the rule is then checked in user space only.

use std::{collections::HashMap, sync::Arc};

use exporter_ebpf::{
    FilterMasks, Needles, RuleMasks, KERNEL_RULE_BITS, MAX_NEEDLE, MAX_NEEDLES, MAX_PATH, MAX_SYSCALLS, OTHER_RULES,
};

use crate::{
    rules::{
        kernel::{KernelPredicate, KILL_TAG},
        Engine, KernelFilter,
    },
    syscalls::SyscallNames,
};

/// A rule set as the kernel's prefilter runs it: the generation stamped on its events and the
/// rule behind each bit, so the detector knows which matches the kernel already counted.
#[derive(Debug, Clone, Default)]
pub struct KernelRuleSet {
    pub generation: u32,
    pub bits: Vec<Option<Arc<str>>>,
}

/// Capacities of the kernel maps (see exporter-ebpf's prefilter.rs and path_rules.rs).
pub const MAX_PATH_ENTRIES: usize = 4096;
pub const MAX_PORT_ENTRIES: usize = 1024;
pub const MAX_COMM_ENTRIES: usize = 1024;
pub const MAX_UID_ENTRIES: usize = 256;

/// Syscalls whose copied socket address is the remote end.
const REMOTE_ADDRESS_SYSCALLS: &[&str] = &["connect", "sendto"];
/// Syscalls whose `fd.nameraw` is their first path argument as passed (the kernel's raw copy).
const RAW_NAME_SYSCALLS: &[&str] = &["open", "openat", "openat2", "creat"];

/// A `NEEDLES` entry: a substring of paths and the rules it satisfies in a file's name and in
/// the path argument as passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedleEntry {
    pub bytes: Vec<u8>,
    pub path_rules: u64,
    pub raw_rules: u64,
}

/// A `PATHS` entry: key bytes (`prefix_bits / 8` of them are significant) and rule bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    pub key: Vec<u8>,
    pub prefix_bits: u32,
    pub rules: u64,
}

/// Everything the kernel prefilter needs for one rule set.
#[derive(Debug, Clone)]
pub struct KernelTables {
    pub masks: FilterMasks,
    /// Rule bits per syscall number (only syscalls some rule names).
    pub syscall_rules: Vec<(usize, u64)>,
    pub paths: Vec<PathEntry>,
    pub needles: Vec<NeedleEntry>,
    pub ports: Vec<(u16, u64)>,
    pub comms: Vec<([u8; 16], RuleMasks)>,
    pub uids: Vec<(u32, RuleMasks)>,
    /// The rule behind each bit (`None` for unused bits and `OTHER_RULES`).
    pub bits: Vec<Option<RuleId>>,
    /// Rules tagged `tracewarden.kill` the tables could not decide alone (no bit left, or a
    /// table full): the set must not run, since they would never kill.
    pub unkillable: Vec<Arc<str>>,
}

impl KernelTables {
    /// No rules: nothing to send.
    pub fn empty() -> KernelTables {
        Tables::default().finish()
    }

    /// The `NEEDLES` map's value.
    pub fn needle_table(&self) -> Needles {
        let mut t = Needles::NONE;
        for (j, n) in self.needles.iter().enumerate() {
            t.first[n.bytes[0] as usize] |= 1 << j;
            t.bytes[j][..n.bytes.len()].copy_from_slice(&n.bytes);
            t.masks[j][..n.bytes.len()].fill(0xff);
            t.lens[j] = n.bytes.len() as u8;
            t.path_rules[j] = n.path_rules;
            t.raw_rules[j] = n.raw_rules;
            t.path_any |= n.path_rules;
            if n.path_rules != 0 {
                t.path_needles |= 1 << j;
            }
            if n.raw_rules != 0 {
                t.raw_needles |= 1 << j;
            }
        }
        t
    }

    /// The exact paths the rules watch (not prefixes), with the rule bits a file there matches.
    pub fn exact_paths(&self) -> Vec<(String, u64)> {
        self.paths
            .iter()
            .filter_map(|e| {
                let path = e.key.strip_suffix(&[0])?;
                Some((String::from_utf8_lossy(path).into_owned(), e.rules))
            })
            .collect()
    }
}

/// A rule as the kernel's hit counters know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleId {
    pub id: u32,
    pub name: Arc<str>,
    /// Lower-case Falco priority name.
    pub priority: &'static str,
}

/// Stable ids for rule names, so kernel hit counters keyed by id keep their meaning across
/// reloads (bits are reassigned on every reload; ids never are) and across restarts, whose
/// pinned counters outlive the process: an id is a hash of the rule's name (FNV-1a), the next
/// free one on the rare collision.
#[derive(Debug, Default)]
pub struct RuleIds {
    by_name: HashMap<Arc<str>, RuleId>,
    by_id: HashMap<u32, Arc<str>>,
}

impl RuleIds {
    fn get_or_assign(&mut self, name: &str, priority: &'static str) -> RuleId {
        if let Some(known) = self.by_name.get_mut(name) {
            // A reload may change a rule's priority; its counter follows the rule.
            known.priority = priority;
            return known.clone();
        }
        let mut id = name_hash(name);
        // u32::MAX marks a bit without a rule in `FilterMasks::rule_ids`.
        while id == u32::MAX || self.by_id.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        let name: Arc<str> = Arc::from(name);
        let rule = RuleId { id, name: name.clone(), priority };
        self.by_id.insert(id, name.clone());
        self.by_name.insert(name, rule.clone());
        rule
    }

    /// The rule behind a kernel hit counter's id.
    pub fn rule(&self, id: u32) -> Option<&RuleId> {
        self.by_name.get(self.by_id.get(&id)?)
    }
}

/// 32-bit FNV-1a: the same for a name in every process and build.
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// Builds the tables for `engine`'s enabled rules, after `watch`: filters without a rule whose
/// events must reach user space (a behaviour baseline's), which get the first bits so a large
/// rule set cannot push them to `OTHER_RULES`. Their bits name no rule, so the kernel never
/// counts them and the detector never reads them as matches. The first 63 filters with event
/// types get a bit; later ones, and rules matching every event type, share `OTHER_RULES` (no
/// kernel test).
pub fn compile(engine: &Engine, names: &SyscallNames, ids: &mut RuleIds, watch: &[KernelFilter]) -> KernelTables {
    let mut t = Tables::default();
    let mut next_bit = 0u32;
    let rules = engine.kernel_filters().map(|(_, rule, filter)| (Some(rule), filter));
    for (rule, filter) in watch.iter().map(|f| (None, f)).chain(rules) {
        let Some(types) = &filter.event_types else {
            // Matches any event type: every syscall is interesting, and nothing is filtered.
            for nr in 0..MAX_SYSCALLS {
                t.add_syscall(nr, 1 << OTHER_RULES);
            }
            continue;
        };
        let bit = next_bit.min(OTHER_RULES);
        for nr in types.iter().filter_map(|name| names.number(name)) {
            t.add_syscall(nr, 1 << bit);
        }
        // The rule's name when it asks the kernel to kill (a baseline's filter never does).
        let kill = rule.filter(|rule| rule.tags.iter().any(|tag| tag == KILL_TAG)).map(|rule| rule.name.as_str());
        if bit == OTHER_RULES {
            t.unkillable.extend(kill.map(Arc::from));
            continue;
        }
        next_bit += 1;
        t.bits[bit as usize] = rule.map(|rule| ids.get_or_assign(&rule.name, rule.priority.as_str()));
        let mut expressible = true;
        let mut kinds = Vec::new();
        for predicate in &filter.predicates {
            // One table entry set per kind and rule: a second (two path tests ANDed) would be
            // ORed with the first by the shared bit, so only the first filters.
            let kind = std::mem::discriminant(predicate);
            if kinds.contains(&kind) {
                continue;
            }
            kinds.push(kind);
            expressible &= t.add(1 << bit, predicate, types);
        }
        if filter.complete && expressible && rule.is_some() {
            t.masks.complete |= 1 << bit;
            if kill.is_some() {
                t.masks.kill |= 1 << bit;
            }
        } else {
            t.unkillable.extend(kill.map(Arc::from));
        }
    }
    t.finish()
}

#[derive(Debug)]
struct Tables {
    masks: FilterMasks,
    syscalls: Vec<u64>,
    /// (key, prefix_bits) -> rule bits, before prefix propagation.
    paths: HashMap<(Vec<u8>, u32), u64>,
    /// In first-seen order: the kernel's table is indexed.
    needles: Vec<NeedleEntry>,
    ports: HashMap<u16, u64>,
    comms: HashMap<[u8; 16], RuleMasks>,
    uids: HashMap<u32, RuleMasks>,
    bits: Vec<Option<RuleId>>,
    unkillable: Vec<Arc<str>>,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            masks: FilterMasks::NONE,
            syscalls: vec![0; MAX_SYSCALLS],
            paths: HashMap::new(),
            needles: Vec::new(),
            ports: HashMap::new(),
            comms: HashMap::new(),
            uids: HashMap::new(),
            bits: vec![None; KERNEL_RULE_BITS],
            unkillable: Vec::new(),
        }
    }
}

impl Tables {
    fn add_syscall(&mut self, nr: usize, bits: u64) {
        if let Some(word) = self.syscalls.get_mut(nr) {
            *word |= bits;
        }
    }

    /// Adds one predicate of the rule with bit `bit`, which matches syscalls `types`; false if
    /// the kernel cannot apply it.
    fn add(&mut self, bit: u64, predicate: &KernelPredicate, types: &[String]) -> bool {
        use KernelPredicate as K;
        let only = |set: &[&str]| types.iter().all(|ty| set.contains(&ty.as_str()));
        let m = &mut self.masks;
        match predicate {
            K::Success => m.success |= bit,
            K::ResultZero => m.res_zero |= bit,
            K::ContainerOnly => m.container_only |= bit,
            K::OpenRead => m.open_read |= bit,
            K::OpenWrite => m.open_write |= bit,
            K::OpenWriteOrCreate => m.open_write_or_create |= bit,
            K::ExeFromMemfd => m.memfd_exe |= bit,
            K::Path { exact, prefixes, basenames, contains, suffixes, .. } => {
                // Every alternative as a substring: `endswith s` is `s` then the NUL, a basename
                // `b` is `/b` then the NUL (the kernel's paths are absolute).
                let needles: Vec<Vec<u8>> = contains
                    .iter()
                    .map(|c| c.as_bytes().to_vec())
                    .chain(suffixes.iter().map(|s| [s.as_bytes(), b"\0"].concat()))
                    .chain(basenames.iter().map(|b| [b"/", b.as_bytes(), b"\0"].concat()))
                    .collect();
                // Needles first: a failed one leaves the path mask unset, so no alternative is lost.
                return self.add_needles(&needles, bit, Found::Path) && self.add_paths(bit, exact, prefixes);
            }
            K::RawPathContains { needles } => {
                let needles: Vec<Vec<u8>> = needles.iter().map(|n| n.as_bytes().to_vec()).collect();
                if !only(RAW_NAME_SYSCALLS) || !self.add_needles(&needles, bit, Found::Raw) {
                    return false;
                }
                self.masks.raw_needles |= bit;
            }
            K::Port { field, ports } => {
                // Only the remote port of connect/sendto is in the kernel's copy of the address.
                let fits = self.ports.len() + ports.len() <= MAX_PORT_ENTRIES;
                if field != "fd.rport" || !only(REMOTE_ADDRESS_SYSCALLS) || !fits {
                    return false;
                }
                for &port in ports {
                    *self.ports.entry(port).or_default() |= bit;
                }
                self.masks.rport |= bit;
            }
            K::Uid { any_of, none_of } => {
                let valid = |v: &i64| u32::try_from(*v).ok();
                if self.uids.len() + any_of.len() + none_of.len() > MAX_UID_ENTRIES {
                    return false;
                }
                if !any_of.is_empty() {
                    // A listed uid outside u32 can never match: leaving it out is exact.
                    for uid in any_of.iter().filter_map(valid) {
                        self.uids.entry(uid).or_default().any |= bit;
                    }
                    self.masks.uid_any |= bit;
                }
                for uid in none_of.iter().filter_map(valid) {
                    self.uids.entry(uid).or_default().none |= bit;
                }
                if !none_of.is_empty() {
                    self.masks.uid_none |= bit;
                }
            }
            K::Comm { names } | K::NotComm { names } => {
                if self.comms.len() + names.len() > MAX_COMM_ENTRIES {
                    return false;
                }
                let listed = matches!(predicate, K::Comm { .. });
                // Names longer than the kernel's comm never equal a process name: left out.
                for key in names.iter().filter_map(|n| comm_key(n)) {
                    let entry = self.comms.entry(key).or_default();
                    if listed {
                        entry.any |= bit;
                    } else {
                        entry.none |= bit;
                    }
                }
                if listed {
                    self.masks.comm_any |= bit;
                } else {
                    self.masks.comm_none |= bit;
                }
            }
        }
        true
    }

    /// Adds path needles (`Found::Path`, alternatives of the path predicate) or raw ones; false
    /// when the table has no room or a needle is empty (it would hold for every path). A needle
    /// longer than the kernel's is cut to a part of it, which every path containing it contains
    /// too: the end of one ending with the NUL, the start of the others.
    fn add_needles(&mut self, needles: &[Vec<u8>], bit: u64, found: Found) -> bool {
        let cut = |n: &[u8]| -> Vec<u8> {
            let keep = n.len().min(MAX_NEEDLE);
            if n.last() == Some(&0) {
                n[n.len() - keep..].to_vec()
            } else {
                n[..keep].to_vec()
            }
        };
        let needles: Vec<Vec<u8>> = needles.iter().map(|n| cut(n)).collect();
        let new = needles.iter().filter(|n| !self.needles.iter().any(|e| &e.bytes == *n)).count();
        if needles.iter().any(|n| n.is_empty()) || self.needles.len() + new > MAX_NEEDLES {
            return false;
        }
        for bytes in needles {
            let at = match self.needles.iter().position(|e| e.bytes == bytes) {
                Some(at) => at,
                None => {
                    self.needles.push(NeedleEntry { bytes, path_rules: 0, raw_rules: 0 });
                    self.needles.len() - 1
                }
            };
            let e = &mut self.needles[at];
            match found {
                Found::Path => e.path_rules |= bit,
                Found::Raw => e.raw_rules |= bit,
            }
        }
        true
    }

    fn add_paths(&mut self, bit: u64, exact: &[String], prefixes: &[String]) -> bool {
        let fits = |p: &String| p.len() < MAX_PATH;
        let room = self.paths.len() + exact.len() + prefixes.len() <= MAX_PATH_ENTRIES;
        if !exact.iter().chain(prefixes).all(fits) || !room {
            return false;
        }
        for p in exact {
            let mut key = p.as_bytes().to_vec();
            key.push(0);
            let bits = (key.len() * 8) as u32;
            *self.paths.entry((key, bits)).or_default() |= bit;
        }
        for p in prefixes {
            let key = p.as_bytes().to_vec();
            let bits = (key.len() * 8) as u32;
            *self.paths.entry((key, bits)).or_default() |= bit;
        }
        self.masks.path |= bit;
        true
    }

    fn finish(self) -> KernelTables {
        // The trie returns only the longest matching entry, so each entry carries the bits of
        // every entry that is a prefix of it.
        let entries: Vec<(&(Vec<u8>, u32), &u64)> = self.paths.iter().collect();
        let mut paths: Vec<PathEntry> = entries
            .iter()
            .map(|&((key, prefix_bits), _)| {
                let rules = entries
                    .iter()
                    .filter(|((k, b), _)| *b <= *prefix_bits && key.starts_with(&k[..(*b / 8) as usize]))
                    .fold(0, |acc, (_, &r)| acc | r);
                PathEntry { key: key.clone(), prefix_bits: *prefix_bits, rules }
            })
            .collect();
        paths.sort_by(|a, b| a.key.cmp(&b.key));
        let mut masks = self.masks;
        for (bit, rule) in self.bits.iter().enumerate() {
            masks.rule_ids[bit] = rule.as_ref().map_or(u32::MAX, |r| r.id);
        }
        KernelTables {
            masks,
            syscall_rules: self.syscalls.iter().enumerate().filter(|(_, &b)| b != 0).map(|(nr, &b)| (nr, b)).collect(),
            paths,
            needles: self.needles,
            ports: sorted(self.ports),
            comms: sorted(self.comms),
            uids: sorted(self.uids),
            bits: self.bits,
            unkillable: self.unkillable,
        }
    }
}

/// Which rule bits of a needle a predicate sets.
#[derive(Clone, Copy)]
enum Found {
    Path,
    Raw,
}

fn sorted<K: Ord, V>(map: HashMap<K, V>) -> Vec<(K, V)> {
    let mut v: Vec<(K, V)> = map.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The kernel's comm for a name: NUL-padded, `None` if longer than 15 bytes.
pub fn comm_key(name: &str) -> Option<[u8; 16]> {
    let bytes = name.as_bytes();
    if bytes.len() > 15 {
        return None;
    }
    let mut key = [0u8; 16];
    key[..bytes.len()].copy_from_slice(bytes);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::Arch;

    fn tables(rules: &str) -> (KernelTables, Engine) {
        let engine = Engine::from_sources(&[("t.yaml", rules)]);
        assert!(!engine.has_errors(), "{:?}", engine.report.diagnostics);
        let t = compile(&engine, &SyscallNames::new(Arch::X86_64), &mut RuleIds::default(), &[]);
        (t, engine)
    }

    fn rule(name: &str, condition: &str) -> String {
        format!("- rule: {name}\n  desc: d\n  condition: {condition}\n  output: o\n  priority: warning\n")
    }

    #[test]
    fn open_rule_is_complete_with_paths_and_comm_exclusions() {
        let src = rule(
            "etc write",
            "evt.type in (open, openat) and evt.is_open_write = true and evt.rawres >= 0 and fd.name pmatch (/etc) and not proc.name in (dpkg, containerd-shim-runc-v2) and container.id != host",
        );
        let (t, _) = tables(&src);
        let m = t.masks;
        assert_eq!((m.open_write, m.success, m.path, m.container_only, m.complete), (1, 1, 1, 1, 1));
        assert_eq!((m.open_read, m.res_zero, m.comm_any, m.rport), (0, 0, 0, 0));
        assert_eq!(t.syscall_rules, vec![(2, 1), (257, 1)]);
        let keys: Vec<(&[u8], u32)> = t.paths.iter().map(|p| (p.key.as_slice(), p.prefix_bits)).collect();
        assert_eq!(keys, [(&b"/etc\0"[..], 40), (&b"/etc/"[..], 40)]);
        // Only the name that fits a comm is a kernel exclusion.
        assert_eq!(t.comms, vec![(comm_key("dpkg").unwrap(), RuleMasks { any: 0, none: 1 })]);
        assert_eq!(t.bits[0].as_ref().map(|r| (&*r.name, r.priority)), Some(("etc write", "warning")));
    }

    #[test]
    fn kill_tagged_rules_get_the_kill_bit() {
        let kill = |name: &str, cond: &str| format!("{}  tags: [tracewarden.kill]\n", rule(name, cond));
        let src = format!(
            "{}{}",
            rule("count only", "evt.type = ptrace"),
            kill("kill", "evt.type = openat and fd.name = /etc/shadow and container.id != host")
        );
        let (t, _) = tables(&src);
        assert_eq!((t.masks.complete, t.masks.kill), (0b11, 0b10));
        assert!(t.unkillable.is_empty());
        // Beyond the table's room the rule cannot be decided in the kernel: it is reported.
        let names: Vec<String> = (0..MAX_PATH_ENTRIES + 1).map(|i| format!("/f{i}")).collect();
        let (t, _) = tables(&kill("too many", &format!("evt.type = openat and fd.name in ({})", names.join(", "))));
        assert_eq!((t.masks.kill, t.unkillable.iter().map(|n| &**n).collect::<Vec<_>>()), (0, vec!["too many"]));
    }

    #[test]
    fn path_entries_carry_the_bits_of_their_prefixes() {
        let src = format!(
            "{}{}",
            rule("a", "evt.type = openat and fd.name startswith /etc/"),
            rule("b", "evt.type = openat and fd.name in (/etc/shadow, /root)")
        );
        let (t, _) = tables(&src);
        let get = |k: &[u8]| t.paths.iter().find(|p| p.key == k).map(|p| p.rules);
        assert_eq!(get(b"/etc/"), Some(0b01));
        assert_eq!(get(b"/etc/shadow\0"), Some(0b11));
        assert_eq!(get(b"/root\0"), Some(0b10));
        assert_eq!(t.masks.path, 0b11);
    }

    #[test]
    fn what_the_kernel_cannot_express_stays_in_user_space() {
        let src = format!(
            "{}{}{}{}",
            // A basename is a needle (`/shadow` and the NUL): a path test, never a complete one.
            rule("base", "evt.type = openat and fd.filename = shadow"),
            // The remote port of bind is not the copied address.
            rule("bind port", "evt.type in (bind, connect) and fd.rport = 4444"),
            rule("conn port", "evt.type = connect and fd.rport in (4444, 1337) and user.uid != 0"),
            // Any event type: every syscall, no bit of its own.
            rule("any", "proc.name = nc"),
        );
        let (t, _) = tables(&src);
        assert_eq!(t.masks.path, 0b1);
        assert_eq!(t.masks.complete & 0b1, 0);
        assert_eq!(t.masks.rport, 0b100);
        assert_eq!(t.ports, vec![(1337, 0b100), (4444, 0b100)]);
        assert_eq!(t.uids, vec![(0, RuleMasks { any: 0, none: 0b100 })]);
        assert_eq!(t.masks.complete, 0b100, "connect + port list + uid exclusion is decided in the kernel");
        assert_eq!(t.syscall_rules.len(), MAX_SYSCALLS);
        assert!(t.syscall_rules.iter().all(|(_, b)| b & (1 << OTHER_RULES) != 0));
        assert!(t.bits[3].is_none());
    }

    #[test]
    fn ids_survive_reloads_and_bits_do_not() {
        let names = SyscallNames::new(Arch::X86_64);
        let mut ids = RuleIds::default();
        let first = Engine::from_sources(&[(
            "t.yaml",
            &format!("{}{}", rule("a", "evt.type = ptrace"), rule("b", "evt.type = mount")),
        )]);
        let t1 = compile(&first, &names, &mut ids, &[]);
        let second = Engine::from_sources(&[("t.yaml", &rule("b", "evt.type = mount"))]);
        let t2 = compile(&second, &names, &mut ids, &[]);
        assert_eq!(t1.masks.rule_ids[1], t2.masks.rule_ids[0], "rule b keeps its id at another bit");
        assert_eq!(ids.rule(t2.masks.rule_ids[0]).map(|r| &*r.name), Some("b"));
        assert_eq!(t2.masks.rule_ids[1], u32::MAX);
        // A new process (a restart) gives the same names the same ids, in any order.
        let t3 = compile(&second, &names, &mut RuleIds::default(), &[]);
        assert_eq!(t3.masks.rule_ids[0], t2.masks.rule_ids[0]);
        assert_eq!(name_hash("a"), 0xe40c_292c, "FNV-1a of \"a\"");
    }

    #[test]
    fn watch_filters_take_the_first_bits_and_are_never_counted() {
        let names = SyscallNames::new(Arch::X86_64);
        let engine = Engine::from_sources(&[("t.yaml", &rule("p", "evt.type = ptrace and container.id != host"))]);
        let watch = [KernelFilter {
            event_types: Some(vec!["openat".into()]),
            predicates: vec![KernelPredicate::ContainerOnly, KernelPredicate::OpenWrite],
            complete: true,
        }];
        let t = compile(&engine, &names, &mut RuleIds::default(), &watch);
        assert_eq!(t.bits[0], None, "a watch filter names no rule");
        assert_eq!(t.bits[1].as_ref().map(|r| &*r.name), Some("p"));
        assert_eq!(t.masks.rule_ids[0], u32::MAX);
        assert_eq!((t.masks.container_only & 0b11, t.masks.open_write & 0b11), (0b11, 0b01));
        assert_eq!(t.masks.complete & 1, 0, "its events always reach user space");
        let openat = names.number("openat").unwrap();
        assert!(t.syscall_rules.contains(&(openat, 1)));
    }

    #[test]
    fn shipped_rules_compile_to_tables_that_fit() {
        let engine = Engine::load_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../rules")));
        let t = compile(&engine, &SyscallNames::new(Arch::X86_64), &mut RuleIds::default(), &[]);
        let named = t.bits.iter().filter(|b| b.is_some()).count();
        assert_eq!(named, engine.rules().iter().filter(|r| r.enabled).count());
        let complete: Vec<&str> = t
            .bits
            .iter()
            .enumerate()
            .filter(|(bit, _)| t.masks.complete >> bit & 1 == 1)
            .filter_map(|(_, r)| r.as_ref().map(|r| &*r.name))
            .collect();
        assert!(complete.contains(&"Write below etc"), "{complete:?}");
        assert!(t.paths.iter().any(|p| p.key == b"/etc/shadow\0"));
    }

    #[test]
    fn needles_from_substrings_suffixes_and_basenames() {
        let src = format!(
            "{}{}{}",
            rule(
                "traversal",
                "evt.type in (open, openat) and fd.nameraw contains \"../\" and (fd.name startswith /etc/ or fd.name contains id_rsa)"
            ),
            rule("logs", "evt.type = openat and (fd.directory = /var/log or fd.filename in (syslog) or fd.name endswith a-very-long-suffix.log)"),
            // The raw name of a chmod is not `fd.nameraw`'s kernel copy: no raw test.
            rule("chmod raw", "evt.type = chmod and fd.nameraw contains \"../\""),
        );
        let (t, _) = tables(&src);
        let needle = |b: &[u8]| t.needles.iter().find(|n| n.bytes == b).map(|n| (n.path_rules, n.raw_rules));
        assert_eq!(needle(b"../"), Some((0, 0b001)));
        assert_eq!(needle(b"id_rsa"), Some((0b001, 0)));
        assert_eq!(needle(b"/syslog\0"), Some((0b010, 0)));
        // Cut to its last MAX_NEEDLE bytes, NUL included: still a substring of every match.
        assert_eq!(needle(b"long-suffix.log\0"), Some((0b010, 0)));
        assert_eq!((t.masks.raw_needles, t.masks.path), (0b001, 0b011));
        let k = t.needle_table();
        assert_eq!(k.first[b'.' as usize], 0b1, "needle 0 starts with a dot");
        assert_eq!((k.lens[0], &k.masks[0][..4]), (3, &[0xff, 0xff, 0xff, 0][..]));
        assert_eq!(k.path_any, 0b011);
        let index = |b: &[u8]| t.needles.iter().position(|n| n.bytes == b).expect("needle");
        assert_eq!(k.raw_needles, 1 << index(b"../"), "only `../` is searched in the path as passed");
        let named = [index(b"id_rsa"), index(b"/syslog\0"), index(b"long-suffix.log\0")];
        assert_eq!(k.path_needles, named.iter().fold(0, |bits, j| bits | 1 << j));
    }

    #[test]
    fn a_table_without_room_keeps_the_rule_untested() {
        let names: Vec<String> = (0..MAX_NEEDLES + 1).map(|i| format!("n{i}")).collect();
        let src = rule("many", &format!("evt.type = openat and fd.filename in ({})", names.join(", ")));
        let (t, _) = tables(&src);
        assert_eq!(t.masks.path, 0, "a path predicate missing alternatives would drop matches");
        assert!(t.needles.is_empty());
        // An empty substring holds for every path: no test either.
        let (t, _) = tables(&rule("empty", "evt.type = openat and fd.name contains ''"));
        assert_eq!(t.masks.path, 0);
        // Two path tests ANDed: the first filters alone (in one bit's entries they would be ORed).
        let (t, _) = tables(&rule("two", "evt.type = openat and fd.name startswith /srv/ and fd.name contains /f"));
        assert_eq!(t.masks.path, 1);
        assert!(t.needles.is_empty(), "{:?}", t.needles);
    }
}
