//! The loaded programs and the exit tracepoints of the syscalls the rules need events of.
//!
//! Attaching or detaching a tracepoint costs milliseconds to tens of milliseconds (a detach
//! waits for the kernel's RCU grace period): a rule on every event type means about 350 of
//! each. So they live apart from the maps the scrape and the detector read ([`super::Probe`]):
//! a reload attaches the new exits and detaches the old ones holding only this, and takes the
//! shared locks just for the map writes in between.

use std::collections::{HashMap, HashSet};

use aya::{
    programs::{trace_point::TracePointLinkId, TracePoint},
    Ebpf,
};
use exporter_ebpf::{names, ArgSpec, MAX_SYSCALLS};

use super::probe::{error_chain, ProbeError};

/// The kernel object (its maps taken out by the probe) and the exit links it holds.
pub struct Programs {
    // Owns the programs and their links: dropping it detaches everything.
    pub(super) ebpf: Ebpf,
    /// Exit tracepoints attached, by tracepoint name.
    exit_links: HashMap<String, TracePointLinkId>,
}

/// The syscalls a rule set needs events of, split by whether the kernel can send them.
#[derive(Debug, Default, Clone)]
pub struct Interest {
    /// Number, name and arguments to copy of each syscall whose events can be sent.
    pub traced: Vec<(usize, String, ArgSpec)>,
    /// Names without an exit tracepoint: rules on them cannot match.
    pub untraceable: Vec<String>,
    /// The exit tracepoints `traced` needs.
    exits: HashSet<String>,
}

impl Programs {
    pub(super) fn new(ebpf: Ebpf) -> Programs {
        Programs { ebpf, exit_links: HashMap::new() }
    }

    fn exit_program(&mut self) -> Result<&mut TracePoint, ProbeError> {
        self.ebpf
            .program_mut(names::PROG_SYS_EXIT)
            .ok_or_else(|| ProbeError::Load(format!("program {} not loaded", names::PROG_SYS_EXIT)))?
            .try_into()
            .map_err(|e| ProbeError::Load(error_chain(&e)))
    }

    /// Attaches the exit tracepoint of each of `syscalls` (number, name, arguments to copy) not
    /// attached yet. A syscall without one may be one this kernel does not implement: its
    /// result is then known at entry (-ENOSYS), and rules on failed calls can still match, as
    /// Falco's (which reads every syscall's exit) do; the others are `untraceable`.
    pub fn attach_exits(&mut self, syscalls: &[(usize, &str, ArgSpec)]) -> Result<Interest, ProbeError> {
        let mut interest = Interest::default();
        let mut untraceable = Vec::new();
        for &(nr, name, spec) in syscalls.iter().filter(|(nr, _, _)| *nr < MAX_SYSCALLS) {
            // Keyed by tracepoint: the exec family shares its two exits.
            for tracepoint in crate::syscalls::exit_tracepoints(name) {
                if !self.exit_links.contains_key(tracepoint) {
                    match self.exit_program()?.attach("syscalls", &format!("sys_exit_{tracepoint}")) {
                        Ok(link) => {
                            self.exit_links.insert(tracepoint.to_owned(), link);
                        }
                        Err(e) => tracing::debug!(tracepoint, error = %error_chain(&e), "no exit tracepoint"),
                    }
                }
            }
            if !self.exit_links.contains_key(crate::syscalls::tracepoint_name(name)) {
                untraceable.push((nr, name, spec));
                continue;
            }
            interest.exits.extend(crate::syscalls::exit_tracepoints(name).into_iter().map(str::to_owned));
            interest.traced.push((nr, name.to_owned(), spec));
        }
        if !untraceable.is_empty() {
            let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
            let names: Vec<&str> = untraceable.iter().map(|&(_, name, _)| name).collect();
            let stubs = crate::syscalls::not_implemented(&kallsyms, crate::syscalls::Arch::host(), &names);
            for &(nr, name, spec) in untraceable.iter() {
                if stubs.contains(&name) {
                    tracing::info!(
                        syscall = name,
                        "not implemented by this kernel: its events fail with ENOSYS at entry"
                    );
                    interest.traced.push((nr, name.to_owned(), ArgSpec { enosys: 1, ..spec }));
                } else {
                    interest.untraceable.push(name.to_owned());
                }
            }
        }
        Ok(interest)
    }

    /// Detaches the exits `interest` does not need. Only once the kernel no longer marks their
    /// syscalls, so no entry record is ever stashed without an exit to send it. Each detach
    /// waits for an RCU grace period; done from several threads at once they share them.
    pub fn detach_exits_except(&mut self, interest: &Interest) -> Result<(), ProbeError> {
        let stale: Vec<String> = self.exit_links.keys().filter(|n| !interest.exits.contains(*n)).cloned().collect();
        let mut links = Vec::with_capacity(stale.len());
        for name in stale {
            if let Some(id) = self.exit_links.remove(&name) {
                links.push(self.exit_program()?.take_link(id).map_err(|e| ProbeError::Load(error_chain(&e)))?);
            }
        }
        let per_thread = links.len().div_ceil(DETACH_THREADS).max(1);
        std::thread::scope(|scope| {
            while !links.is_empty() {
                let batch: Vec<_> = links.drain(..per_thread.min(links.len())).collect();
                // Dropping a link detaches it.
                scope.spawn(move || drop(batch));
            }
        });
        Ok(())
    }
}

/// Threads that detach exit tracepoints together (see `detach_exits_except`).
const DETACH_THREADS: usize = 16;
