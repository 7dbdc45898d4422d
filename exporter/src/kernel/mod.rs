//! Everything that talks to the kernel programs and their maps: loading and attaching
//! ([`probe`] for the maps, [`programs`] for the programs and exit tracepoints: the only users of
//! aya; [`rings`] reads their ring buffers), the prefilter tables compiled
//! from the rules ([`prefilter`]), the syscalls whose events the rules need ([`interest`]), the
//! kernel struct layout read from BTF ([`layout`]), the watched files' inodes ([`watched`]), each
//! cgroup's share of the event ring ([`throttle`]) and the counters pinned across restarts
//! ([`pin`]).

pub mod interest;
pub mod layout;
pub mod pin;
pub mod prefilter;
pub mod probe;
pub mod programs;
pub mod rings;
pub mod throttle;
pub mod watched;

pub use interest::interest_of;
pub use probe::{
    CgroupCounts, Hook, KernelSnapshot, Probe, ProbeConfig, ProbeError, RuleHits, Workload, DEFAULT_BTF_PATH,
};
pub use programs::{Interest, Programs};
pub use rings::{LifecycleEvents, LongPathRecords, NewCgroups, SyscallEvents};
