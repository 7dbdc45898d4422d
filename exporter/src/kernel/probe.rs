//! Loads and attaches the kernel programs and reads and writes their maps. The only module
//! that touches aya: the rest of the exporter sees plain snapshots.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use aya::{
    maps::{
        lpm_trie::{Key, LpmTrie},
        Array, HashMap, MapData, MapError, PerCpuArray, PerCpuHashMap, PerCpuValues, Queue, RingBuf,
    },
    programs::{BtfTracePoint, RawTracePoint, TracePoint},
    Btf, Ebpf, EbpfLoader,
};
use exporter_ebpf::{
    names, ArgSpec, DropReason, FilterMasks, InodeKey, KernelOffsets, KernelRow, Needles, RuleHitKey, RuleHitValue,
    RuleMasks, SocketOffsets, SyscallRow, CGROUP_CONTAINER, CGROUP_HOST, INTERESTING_WORDS, MAX_PATH, MAX_SYSCALLS,
    OVERFLOW_SLOT,
};

use crate::kernel::{
    pin,
    prefilter::KernelTables,
    programs::{Interest, Programs},
    rings::{LifecycleEvents, LongPathRecords, NewCgroups, Records, SyscallEvents},
    throttle::EventThrottle,
};

/// The kernel object built from `exporter-ebpf` by build.rs.
static KERNEL_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracewarden"));

pub const DEFAULT_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Where the counting program attaches. Both see every syscall entry; they differ in cost and
/// in what they need (the BTF tracepoint needs kernel BTF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Hook {
    /// `tp_btf/sys_enter`.
    TpBtf,
    /// `raw_tracepoint/sys_enter`.
    RawTp,
}

impl Hook {
    /// The flag value, also the `hook` label of `tracewarden_build_info`.
    pub const fn name(self) -> &'static str {
        match self {
            Hook::TpBtf => "tp-btf",
            Hook::RawTp => "raw-tp",
        }
    }
}

/// What the programs on the hook do; `Empty` exists only to measure the cost floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Count,
    Empty,
}

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub max_slots: u32,
    pub btf_path: PathBuf,
    pub hook: Hook,
    pub workload: Workload,
    /// Events a second (and at once) each cgroup may send to user space; 0: unlimited.
    pub event_budget: u64,
    /// Where the counting maps are pinned (see `kernel::pin`); None: not pinned.
    pub pin_dir: Option<PathBuf>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            max_slots: exporter_ebpf::DEFAULT_MAX_SLOTS,
            btf_path: PathBuf::from(DEFAULT_BTF_PATH),
            hook: Hook::TpBtf,
            workload: Workload::Count,
            event_budget: crate::kernel::throttle::DEFAULT_EVENT_BUDGET,
            pin_dir: None,
        }
    }
}

/// Why the probe could not start: each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("missing capabilities {missing}: run as root, or grant CAP_BPF and CAP_PERFMON (see deploy/)")]
    Privileges { missing: String },
    #[error(
        "kernel BTF not readable at {path}: {cause}; the kernel needs CONFIG_DEBUG_INFO_BTF=y (or use --hook raw-tp)"
    )]
    NoBtf { path: String, cause: String },
    #[error("the kernel has no {hook} hook to attach to: {cause}; try --hook raw-tp, or a kernel >= 5.5 with BTF")]
    MissingHook { hook: &'static str, cause: String },
    #[error("loading the kernel programs failed: {0}")]
    Load(String),
    #[error("kernel map {map}: {cause}")]
    Map { map: &'static str, cause: String },
    #[error("pinned kernel maps at {path}: {cause} (remove it, or pass another --bpf.pin-dir)")]
    Pin { path: String, cause: String },
    #[error("rule '{0}' is tagged tracewarden.kill but the kernel's tables have no room to decide it alone (over 63 rules, or too many paths, ports, names or uids): remove the tag or rules")]
    Unkillable(String),
}

/// Syscall counters of one cgroup, summed over CPUs.
#[derive(Debug, Clone)]
pub struct CgroupCounts {
    pub cgroup_id: u64,
    pub syscalls: Box<SyscallRow>,
}

/// Everything /metrics needs from the kernel, read in one pass.
#[derive(Debug, Clone)]
pub struct KernelSnapshot {
    pub cgroups: Vec<CgroupCounts>,
    /// Syscalls of cgroups that found no free slot.
    pub overflow: Box<SyscallRow>,
    pub drops: Vec<(DropReason, u64)>,
    pub slots_used: u32,
    pub slot_capacity: u32,
    /// Events of interesting syscalls by what the prefilter did with them (`FilterOutcome`).
    pub filter_outcomes: [u64; 3],
}

impl KernelSnapshot {
    /// How many times the kernel dropped for `reason` (0 if it never did).
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n)
    }
}

/// Hits of a kernel-decided rule in one cgroup, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleHits {
    pub cgroup_id: u64,
    pub rule_id: u32,
    pub hits: u64,
}

pub struct Probe {
    programs: Arc<Mutex<Programs>>,
    counts: PerCpuArray<MapData, KernelRow>,
    slots: HashMap<MapData, u64, u32>,
    free: Queue<MapData, u32>,
    drops: PerCpuArray<MapData, u64>,
    new_cgroups: Option<NewCgroups>,
    events: Option<SyscallEvents>,
    long_paths: Option<LongPathRecords>,
    interesting: Array<MapData, u64>,
    arg_specs: Array<MapData, Plain<ArgSpec>>,
    prefilter: PrefilterMaps,
    throttle: EventThrottle,
    /// Held for the lock on the pin directory (None: not pinned).
    _pins: Option<pin::Pins>,
    max_slots: u32,
    cpus: usize,
}

/// The prefilter's maps, and what was last written to the keyed ones (to remove stale keys).
struct PrefilterMaps {
    masks: Array<MapData, Plain<FilterMasks>>,
    syscall_rules: Array<MapData, u64>,
    paths: LpmTrie<MapData, [u8; MAX_PATH], u64>,
    needles: Array<MapData, Plain<Needles>>,
    ports: HashMap<MapData, u16, u64>,
    comms: HashMap<MapData, [u8; 16], Plain<RuleMasks>>,
    uids: HashMap<MapData, u32, Plain<RuleMasks>>,
    cgroup_kind: HashMap<MapData, u64, u8>,
    rule_hits: PerCpuHashMap<MapData, Plain<RuleHitKey>, Plain<RuleHitValue>>,
    rule_kills: PerCpuHashMap<MapData, u32, u64>,
    outcomes: PerCpuArray<MapData, u64>,
    inodes: HashMap<MapData, Plain<InodeKey>, u64>,
    /// The watched inodes last written.
    inodes_written: Vec<(Plain<InodeKey>, u64)>,
    /// Written once at load; held so the map outlives the programs' loading.
    _offsets: OffsetMaps,
    written: Option<KernelTables>,
    generation: u32,
}

/// A shared `#[repr(C)]` type as a map key or value (aya's `Pod` is implemented here, not in
/// the no_std crate). Only used with types made of integers and integer arrays, whose padding
/// is explicit.
#[derive(Clone, Copy, PartialEq)]
#[repr(transparent)]
struct Plain<T>(T);

// SAFETY: see `Plain`: every `T` used is `#[repr(C)]` plain data, valid for any bit pattern.
unsafe impl<T: Copy + 'static> aya::Pod for Plain<T> {}

impl Probe {
    /// Loads the object, sizes the slot maps, fills the free-slot queue and attaches.
    pub fn load(config: &ProbeConfig) -> Result<Probe, ProbeError> {
        check_capabilities()?;
        let btf = match config.hook {
            Hook::TpBtf => Some(read_btf(&config.btf_path)?),
            Hook::RawTp => None,
        };
        let max_slots = config.max_slots;
        let pins =
            config.pin_dir.as_deref().map(|dir| pin::prepare(dir, max_slots, KERNEL_OBJECT)).transpose()?.flatten();
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(names::SYSCALL_COUNTS, max_slots)
            .map_max_entries(names::CGROUP_SLOTS, max_slots)
            .map_max_entries(names::FREE_SLOTS, max_slots);
        if let Some(pins) = &pins {
            for name in pin::PINNED_MAPS {
                loader.map_pin_path(name, pins.dir.join(name));
            }
        }
        let mut ebpf = loader.load(KERNEL_OBJECT).map_err(|e| ProbeError::Load(error_chain(&e)))?;

        let counts = PerCpuArray::try_from(take_map(&mut ebpf, names::SYSCALL_COUNTS)?)
            .map_err(map_error(names::SYSCALL_COUNTS))?;
        let slots =
            HashMap::try_from(take_map(&mut ebpf, names::CGROUP_SLOTS)?).map_err(map_error(names::CGROUP_SLOTS))?;
        let mut free: Queue<MapData, u32> =
            Queue::try_from(take_map(&mut ebpf, names::FREE_SLOTS)?).map_err(map_error(names::FREE_SLOTS))?;
        let drops = PerCpuArray::try_from(take_map(&mut ebpf, names::DROPS)?).map_err(map_error(names::DROPS))?;
        let new_cgroups =
            RingBuf::try_from(take_map(&mut ebpf, names::NEW_CGROUPS)?).map_err(map_error(names::NEW_CGROUPS))?;
        let events = RingBuf::try_from(take_map(&mut ebpf, names::EVENTS)?).map_err(map_error(names::EVENTS))?;
        let long_paths =
            RingBuf::try_from(take_map(&mut ebpf, names::LONG_PATHS)?).map_err(map_error(names::LONG_PATHS))?;
        let interesting =
            Array::try_from(take_map(&mut ebpf, names::INTERESTING)?).map_err(map_error(names::INTERESTING))?;
        let arg_specs = Array::try_from(take_map(&mut ebpf, names::ARG_SPECS)?).map_err(map_error(names::ARG_SPECS))?;
        let prefilter = PrefilterMaps::take(&mut ebpf, &config.btf_path)?;
        let throttle = EventThrottle::take(&mut ebpf, config.event_budget)?;
        // Slot 0 is the overflow row and never handed out. Continued pins keep their queue.
        if !pins.as_ref().is_some_and(|p| p.continued) {
            for slot in (OVERFLOW_SLOT + 1)..max_slots {
                free.push(slot, 0).map_err(map_error(names::FREE_SLOTS))?;
            }
        }

        attach(&mut ebpf, config, btf.as_ref())?;
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| ProbeError::Load(format!("counting CPUs: {e}")))?;
        if config.workload == Workload::Count {
            let exit: &mut TracePoint = ebpf
                .program_mut(names::PROG_SYS_EXIT)
                .ok_or_else(|| ProbeError::Load(format!("program {} missing from the object", names::PROG_SYS_EXIT)))?
                .try_into()
                .map_err(|e| ProbeError::Load(error_chain(&e)))?;
            exit.load().map_err(|e| ProbeError::Load(error_chain(&e)))?;
        }
        Ok(Probe {
            programs: Arc::new(Mutex::new(Programs::new(ebpf))),
            counts,
            slots,
            free,
            drops,
            new_cgroups: Some(Records::new(new_cgroups)),
            events: Some(Records::new(events)),
            long_paths: Some(Records::new(long_paths)),
            interesting,
            arg_specs,
            prefilter,
            throttle,
            _pins: pins,
            max_slots,
            cpus,
        })
    }

    /// Reads every cgroup's counters, the overflow row and the drop counters.
    pub fn snapshot(&self) -> Result<KernelSnapshot, ProbeError> {
        let mut cgroups = Vec::new();
        for entry in self.slots.iter() {
            let (cgroup_id, slot) = entry.map_err(map_error(names::CGROUP_SLOTS))?;
            cgroups.push(CgroupCounts { cgroup_id, syscalls: self.row(slot)? });
        }
        let drops = DropReason::ALL
            .iter()
            .map(|&reason| {
                let per_cpu = self.drops.get(&(reason as u32), 0).map_err(map_error(names::DROPS))?;
                Ok((reason, per_cpu.iter().sum()))
            })
            .collect::<Result<_, ProbeError>>()?;
        let mut filter_outcomes = [0u64; 3];
        for (i, total) in filter_outcomes.iter_mut().enumerate() {
            let per_cpu = self.prefilter.outcomes.get(&(i as u32), 0).map_err(map_error(names::FILTER_STATS))?;
            *total = per_cpu.iter().sum();
        }
        Ok(KernelSnapshot {
            filter_outcomes,
            slots_used: cgroups.len() as u32,
            cgroups,
            overflow: self.row(OVERFLOW_SLOT)?,
            drops,
            slot_capacity: self.max_slots - 1,
        })
    }

    /// The cgroups that hold a slot (no counters read).
    pub fn cgroup_ids(&self) -> Result<Vec<u64>, ProbeError> {
        self.slots.keys().collect::<Result<_, _>>().map_err(map_error(names::CGROUP_SLOTS))
    }

    /// One cgroup's counters, summed over CPUs (None if it holds no slot).
    pub fn cgroup_row(&self, cgroup_id: u64) -> Result<Option<Box<SyscallRow>>, ProbeError> {
        match self.slots.get(&cgroup_id, 0) {
            Ok(slot) => self.row(slot).map(Some),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(map_error(names::CGROUP_SLOTS)(e)),
        }
    }

    fn row(&self, slot: u32) -> Result<Box<SyscallRow>, ProbeError> {
        let per_cpu = self.counts.get(&slot, 0).map_err(map_error(names::SYSCALL_COUNTS))?;
        let mut sum = Box::new([0u64; MAX_SYSCALLS]);
        for row in per_cpu.iter() {
            // The zip stops before the row's trailing owner field.
            for (total, count) in sum.iter_mut().zip(row.iter()) {
                *total += count;
            }
        }
        Ok(sum)
    }

    /// The new-cgroup notices, for the one task that waits on them (None after the first call).
    pub fn take_new_cgroups(&mut self) -> Option<NewCgroups> {
        self.new_cgroups.take()
    }

    /// The syscall events, for the one task that evaluates them (None after the first call).
    pub fn take_events(&mut self) -> Option<SyscallEvents> {
        self.events.take()
    }

    /// The programs and their exit links, for a reload to attach and detach exits without
    /// holding the probe (see `Programs`).
    pub fn programs(&self) -> Arc<Mutex<Programs>> {
        self.programs.clone()
    }

    /// The whole of path arguments too long for their events, for the task that evaluates the
    /// events (None after the first call).
    pub fn take_long_paths(&mut self) -> Option<LongPathRecords> {
        self.long_paths.take()
    }

    /// Makes the kernel send events for exactly these syscalls (number, name, arguments to
    /// copy): attaches their exits, marks them, detaches the others. Returns the names that get
    /// no events (see `Programs::attach_exits`).
    pub fn set_interest(&mut self, syscalls: &[(usize, &str, ArgSpec)]) -> Result<Vec<String>, ProbeError> {
        let programs = self.programs();
        let mut programs = programs.lock().map_err(|_| ProbeError::Load("programs poisoned".into()))?;
        let interest = programs.attach_exits(syscalls)?;
        self.mark_interest(&interest)?;
        programs.detach_exits_except(&interest)?;
        Ok(interest.untraceable)
    }

    /// Marks the syscalls of `interest` (whose exits are attached) as the ones to send, with
    /// their arguments to copy. Map writes only: fast.
    fn mark_interest(&mut self, interest: &Interest) -> Result<(), ProbeError> {
        let mut words = [0u64; INTERESTING_WORDS as usize];
        for &(nr, _, spec) in &interest.traced {
            self.arg_specs.set(nr as u32, Plain(spec), 0).map_err(map_error(names::ARG_SPECS))?;
            words[nr / 64] |= 1 << (nr % 64);
        }
        for (i, word) in words.iter().enumerate() {
            self.interesting.set(i as u32, word, 0).map_err(map_error(names::INTERESTING))?;
        }
        Ok(())
    }

    /// Installs a rule set: the syscalls to send (`interest`, whose exits the caller attached
    /// with `Programs::attach_exits`, and detaches the stale ones after) and the prefilter's
    /// tables. While the tables change the kernel sends every event unfiltered (generation 0),
    /// so nothing is dropped on half-written tables; the new generation goes live last.
    pub fn apply_rules(&mut self, interest: &Interest, tables: KernelTables) -> Result<u32, ProbeError> {
        let f = &mut self.prefilter;
        f.masks.set(0, Plain(FilterMasks::NONE), 0).map_err(map_error(names::FILTER))?;
        self.mark_interest(interest)?;
        let f = &mut self.prefilter;
        let mut per_syscall = vec![0u64; MAX_SYSCALLS];
        for &(nr, bits) in &tables.syscall_rules {
            per_syscall[nr] = bits;
        }
        for (nr, bits) in per_syscall.iter().enumerate() {
            f.syscall_rules.set(nr as u32, bits, 0).map_err(map_error(names::SYSCALL_RULES))?;
        }
        let old = f.written.take().unwrap_or_else(KernelTables::empty);
        for e in old.paths.iter().filter(|e| !tables.paths.iter().any(|n| n.key == e.key)) {
            ignore_missing(f.paths.remove(&path_key(&e.key, e.prefix_bits)), names::PATHS)?;
        }
        for e in &tables.paths {
            f.paths.insert(&path_key(&e.key, e.prefix_bits), e.rules, 0).map_err(map_error(names::PATHS))?;
        }
        f.needles.set(0, Plain(tables.needle_table()), 0).map_err(map_error(names::NEEDLES))?;
        replace_entries(&mut f.ports, names::PORTS, &old.ports, &tables.ports, |&bits| bits)?;
        replace_entries(&mut f.comms, names::COMMS, &old.comms, &tables.comms, |&m| Plain(m))?;
        replace_entries(&mut f.uids, names::UIDS, &old.uids, &tables.uids, |&m| Plain(m))?;
        // Generation 0 means "unfiltered"; live generations are 1, 2, ...
        f.generation = f.generation.checked_add(1).filter(|&g| g != 0).unwrap_or(1);
        let masks = FilterMasks { generation: f.generation, self_tgid: std::process::id(), ..tables.masks };
        f.masks.set(0, Plain(masks), 0).map_err(map_error(names::FILTER))?;
        let generation = f.generation;
        f.written = Some(tables);
        Ok(generation)
    }

    /// Makes these files (by device and inode) count as their watched paths in the prefilter.
    pub fn set_watched_inodes(&mut self, files: &[crate::kernel::watched::WatchedFile]) -> Result<(), ProbeError> {
        let f = &mut self.prefilter;
        let entries: Vec<(Plain<InodeKey>, u64)> =
            files.iter().map(|w| (Plain(InodeKey { dev: w.dev, ino: w.ino }), w.rules)).collect();
        replace_entries(&mut f.inodes, names::INODES, &f.inodes_written, &entries, |&bits| bits)?;
        f.inodes_written = entries;
        Ok(())
    }

    /// Tells the prefilter whether a cgroup is the host's or a container's.
    pub fn set_cgroup_kind(&mut self, cgroup_id: u64, host: bool) -> Result<(), ProbeError> {
        let kind = if host { CGROUP_HOST } else { CGROUP_CONTAINER };
        self.prefilter.cgroup_kind.insert(cgroup_id, kind, 0).map_err(map_error(names::CGROUP_KIND))
    }

    /// Hits of kernel-decided rules, per (cgroup, rule id), summed over CPUs.
    pub fn rule_hits(&self) -> Result<Vec<RuleHits>, ProbeError> {
        let mut out = Vec::new();
        for entry in self.prefilter.rule_hits.iter() {
            let (Plain(key), per_cpu) = entry.map_err(map_error(names::RULE_HITS))?;
            let hits = per_cpu.iter().map(|Plain(v)| v.hits).sum();
            out.push(RuleHits { cgroup_id: key.cgroup_id, rule_id: key.rule_id, hits });
        }
        Ok(out)
    }

    /// Processes killed by `tracewarden.kill` rules, per rule id, summed over CPUs.
    pub fn rule_kills(&self) -> Result<Vec<(u32, u64)>, ProbeError> {
        let kills = self.prefilter.rule_kills.iter().map(|entry| {
            let (rule_id, per_cpu) = entry.map_err(map_error(names::RULE_KILLS))?;
            Ok((rule_id, per_cpu.iter().sum()))
        });
        kills.collect()
    }

    /// Forgets a vanished cgroup's prefilter state (kind and rule hits; read them first).
    fn release_prefilter_state(&mut self, cgroup_id: u64) -> Result<(), ProbeError> {
        let f = &mut self.prefilter;
        ignore_missing(f.cgroup_kind.remove(&cgroup_id), names::CGROUP_KIND)?;
        let keys: Vec<Plain<RuleHitKey>> =
            f.rule_hits.keys().filter_map(Result::ok).filter(|Plain(k)| k.cgroup_id == cgroup_id).collect();
        for key in keys {
            ignore_missing(f.rule_hits.remove(&key), names::RULE_HITS)?;
        }
        Ok(())
    }

    /// Forgets a vanished cgroup: unpublishes it, then zeroes every CPU's row, which also clears
    /// the row's owner so every CPU's cached copy of the slot stops matching, and frees the slot.
    pub fn release_cgroup(&mut self, cgroup_id: u64) -> Result<(), ProbeError> {
        let slot = match self.slots.get(&cgroup_id, 0) {
            Ok(slot) => slot,
            Err(MapError::KeyNotFound) => return Ok(()),
            Err(e) => return Err(map_error(names::CGROUP_SLOTS)(e)),
        };
        self.slots.remove(&cgroup_id).map_err(map_error(names::CGROUP_SLOTS))?;
        let zeros = PerCpuValues::try_from(vec![[0u64; MAX_SYSCALLS + 1]; self.cpus])
            .map_err(|e| map_error(names::SYSCALL_COUNTS)(MapError::from(e)))?;
        self.counts.set(slot, zeros, 0).map_err(map_error(names::SYSCALL_COUNTS))?;
        self.free.push(slot, 0).map_err(map_error(names::FREE_SLOTS))?;
        self.throttle.release(cgroup_id)?;
        self.release_prefilter_state(cgroup_id)
    }

    /// Events each cgroup had held back for exceeding its share of the ring, summed over CPUs.
    pub fn events_throttled(&self) -> Result<Vec<(u64, u64)>, ProbeError> {
        self.throttle.throttled()
    }

    /// The same for one cgroup.
    pub fn events_throttled_of(&self, cgroup_id: u64) -> Result<u64, ProbeError> {
        self.throttle.throttled_of(cgroup_id)
    }

    /// Attaches the process-lifecycle programs (new process, exec, process exit), has the
    /// counting program keep each exec's arguments, and hands over their ring. Once only: the map leaves the object. Classic tracepoints, so this works on
    /// every kernel the exit tracepoints do.
    pub fn attach_lifecycle(&mut self) -> Result<LifecycleEvents, ProbeError> {
        use exporter_ebpf::lifecycle_names as lc;
        let mut programs = self.programs.lock().map_err(|_| ProbeError::Load("programs poisoned".into()))?;
        let ebpf = &mut programs.ebpf;
        for (program, category, name) in [
            (lc::PROG_FORK, "task", "task_newtask"),
            (lc::PROG_EXEC, "sched", "sched_process_exec"),
            (lc::PROG_EXIT, "sched", "sched_process_exit"),
        ] {
            let tp: &mut TracePoint = ebpf
                .program_mut(program)
                .ok_or_else(|| ProbeError::Load(format!("program {program} missing from the object")))?
                .try_into()
                .map_err(|e| ProbeError::Load(error_chain(&e)))?;
            tp.load().map_err(|e| ProbeError::Load(format!("{program}: {}", error_chain(&e))))?;
            tp.attach(category, name).map_err(|e| ProbeError::MissingHook {
                hook: "a process-lifecycle tracepoint",
                cause: format!("{category}/{name}: {}", error_chain(&e)),
            })?;
        }
        // The programs hold the map: this handle can go once the flag is set.
        let mut argv_on: Array<MapData, u32> =
            Array::try_from(take_map(ebpf, lc::ARGV_ON)?).map_err(map_error(lc::ARGV_ON))?;
        argv_on.set(0, 1, 0).map_err(map_error(lc::ARGV_ON))?;
        let ring = RingBuf::try_from(take_map(ebpf, lc::LIFECYCLE)?).map_err(map_error(lc::LIFECYCLE))?;
        Ok(Records::new(ring))
    }
}

impl PrefilterMaps {
    fn take(ebpf: &mut Ebpf, btf_path: &Path) -> Result<PrefilterMaps, ProbeError> {
        macro_rules! take {
            ($kind:ident, $name:expr) => {
                $kind::try_from(take_map(ebpf, $name)?).map_err(map_error($name))?
            };
        }
        Ok(PrefilterMaps {
            masks: take!(Array, names::FILTER),
            syscall_rules: take!(Array, names::SYSCALL_RULES),
            paths: take!(LpmTrie, names::PATHS),
            needles: take!(Array, names::NEEDLES),
            ports: take!(HashMap, names::PORTS),
            comms: take!(HashMap, names::COMMS),
            uids: take!(HashMap, names::UIDS),
            cgroup_kind: take!(HashMap, names::CGROUP_KIND),
            rule_hits: take!(PerCpuHashMap, names::RULE_HITS),
            rule_kills: take!(PerCpuHashMap, names::RULE_KILLS),
            outcomes: take!(PerCpuArray, names::FILTER_STATS),
            inodes: take!(HashMap, names::INODES),
            inodes_written: Vec::new(),
            _offsets: write_offsets(take!(Array, names::OFFSETS), take!(Array, names::SOCKET_OFFSETS), btf_path)?,
            written: None,
            generation: 0,
        })
    }
}

/// The structure offsets the kernel programs read: files and tasks, sockets.
type OffsetMaps = (Array<MapData, Plain<KernelOffsets>>, Array<MapData, Plain<SocketOffsets>>);

/// Gives the exit program the kernel's structure offsets so it can name opened files and
/// describe sockets. Without them (no BTF) it still runs; opened files are then judged by their
/// path argument, and events name no socket's family or ends beyond the address passed.
fn write_offsets(
    mut map: Array<MapData, Plain<KernelOffsets>>,
    mut socket_map: Array<MapData, Plain<SocketOffsets>>,
    btf_path: &Path,
) -> Result<OffsetMaps, ProbeError> {
    let btf = std::fs::read(btf_path).map_err(|e| e.to_string());
    let offsets = match &btf {
        Ok(btf) => crate::kernel::layout::offsets(btf).map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let offsets = offsets.unwrap_or_else(|cause| {
        tracing::warn!(path = %btf_path.display(), %cause, "no kernel structure offsets: opened files are judged by the path argument");
        KernelOffsets::default()
    });
    let socket = btf.and_then(|btf| crate::kernel::layout::socket_offsets(&btf).map_err(|e| e.to_string()));
    let socket = socket.unwrap_or_else(|cause| {
        tracing::warn!(path = %btf_path.display(), %cause, "no socket structure offsets: a descriptor's socket is not described (fd.type of dup, fd.connected)");
        SocketOffsets::default()
    });
    map.set(0, Plain(offsets), 0).map_err(map_error(names::OFFSETS))?;
    socket_map.set(0, Plain(socket), 0).map_err(map_error(names::SOCKET_OFFSETS))?;
    Ok((map, socket_map))
}

fn path_key(key: &[u8], prefix_bits: u32) -> Key<[u8; MAX_PATH]> {
    let mut data = [0u8; MAX_PATH];
    let n = key.len().min(MAX_PATH);
    data[..n].copy_from_slice(&key[..n]);
    Key::new(prefix_bits, data)
}

/// Makes a hash map that held `old` hold `new`: keys no longer there are removed, the rest
/// written (`value` makes each map value).
fn replace_entries<K: aya::Pod + PartialEq, V: aya::Pod, T>(
    map: &mut HashMap<MapData, K, V>,
    name: &'static str,
    old: &[(K, T)],
    new: &[(K, T)],
    value: impl Fn(&T) -> V,
) -> Result<(), ProbeError> {
    for (key, _) in old.iter().filter(|(k, _)| !new.iter().any(|(n, _)| n == k)) {
        ignore_missing(map.remove(key), name)?;
    }
    for (key, v) in new {
        map.insert(key, value(v), 0).map_err(map_error(name))?;
    }
    Ok(())
}

/// A removal of a key that is already gone is not an error.
pub(super) fn ignore_missing(result: Result<(), MapError>, map: &'static str) -> Result<(), ProbeError> {
    match result {
        Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(map_error(map)(e)),
    }
}

fn attach(ebpf: &mut Ebpf, config: &ProbeConfig, btf: Option<&Btf>) -> Result<(), ProbeError> {
    let program_name = match (config.hook, config.workload) {
        (Hook::TpBtf, Workload::Count) => names::PROG_SYS_ENTER,
        (Hook::TpBtf, Workload::Empty) => names::PROG_SYS_ENTER_EMPTY,
        (Hook::RawTp, Workload::Count) => names::PROG_SYS_ENTER_RAW,
        (Hook::RawTp, Workload::Empty) => names::PROG_SYS_ENTER_RAW_EMPTY,
    };
    let program = ebpf
        .program_mut(program_name)
        .ok_or_else(|| ProbeError::Load(format!("program {program_name} missing from the object")))?;
    let missing_hook = |hook: &'static str| {
        move |e: aya::programs::ProgramError| ProbeError::MissingHook { hook, cause: error_chain(&e) }
    };
    match (config.hook, btf) {
        (Hook::TpBtf, Some(btf)) => {
            let program: &mut BtfTracePoint = program.try_into().map_err(|e| ProbeError::Load(error_chain(&e)))?;
            program.load("sys_enter", btf).map_err(|e| match e {
                // The kernel's BTF has no such tracepoint; anything else is a rejected program.
                aya::programs::ProgramError::Btf(_) => missing_hook("tp_btf/sys_enter")(e),
                e => ProbeError::Load(error_chain(&e)),
            })?;
            program.attach().map_err(missing_hook("tp_btf/sys_enter"))?;
        }
        _ => {
            let program: &mut RawTracePoint = program.try_into().map_err(|e| ProbeError::Load(error_chain(&e)))?;
            program.load().map_err(|e| ProbeError::Load(error_chain(&e)))?;
            program.attach("sys_enter").map_err(missing_hook("raw_tracepoint/sys_enter"))?;
        }
    }
    Ok(())
}

fn read_btf(path: &Path) -> Result<Btf, ProbeError> {
    Btf::parse_file(path, aya::Endianness::default())
        .map_err(|e| ProbeError::NoBtf { path: path.display().to_string(), cause: error_chain(&e) })
}

pub(super) fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, ProbeError> {
    ebpf.take_map(name).ok_or(ProbeError::Map { map: name, cause: "missing from the object".into() })
}

pub(super) fn map_error<E: std::error::Error>(map: &'static str) -> impl Fn(E) -> ProbeError {
    move |e| ProbeError::Map { map, cause: error_chain(&e) }
}

/// "outer: inner: root" on one line.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Fails early, with a fix, when the process lacks what loading BPF programs needs.
fn check_capabilities() -> Result<(), ProbeError> {
    let missing = crate::privileges::missing_for_loading();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ProbeError::Privileges { missing: missing.join("+") })
    }
}
