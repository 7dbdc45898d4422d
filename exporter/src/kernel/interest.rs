//! Which syscalls the kernel sends events of, and which of their arguments it copies: the event
//! types the running rules need.

use exporter_ebpf::ArgSpec;

use crate::{
    rules::{Engine, KernelFilter},
    syscalls::{arg_spec, SyscallNames},
};

/// The syscalls `engine`'s enabled rules and the `watch` filters (see `prefilter::compile`) need
/// events of, with the arguments to copy: every event type that is a syscall on this
/// architecture. A rule that does not narrow its event types makes every syscall interesting
/// (as in Falco, and as costly).
pub fn interest_of<'a>(
    engine: &Engine,
    names: &'a SyscallNames,
    watch: &[KernelFilter],
) -> Vec<(usize, &'a str, ArgSpec)> {
    let watched = watch.iter().flat_map(|f| f.event_types.iter().flatten().cloned());
    let wanted: Vec<String> = match engine.event_types() {
        Some(mut types) => {
            for w in watched {
                if !types.contains(&w) {
                    types.push(w);
                }
            }
            types
        }
        None => {
            tracing::warn!("a rule matches every event type: every syscall will be sent to user space");
            (0..exporter_ebpf::MAX_SYSCALLS).map(|nr| names.name(nr).to_owned()).collect()
        }
    };
    // A successful execveat exits as execve: the exit program needs both members' specs.
    let mut wanted = wanted;
    for (a, b) in [("execve", "execveat"), ("execveat", "execve")] {
        if wanted.iter().any(|w| w == a) && !wanted.iter().any(|w| w == b) {
            wanted.push(b.to_owned());
        }
    }
    wanted
        .iter()
        .filter_map(|name| {
            let nr = names.number(name)?;
            Some((nr, names.name(nr), arg_spec(name)))
        })
        .collect()
}
