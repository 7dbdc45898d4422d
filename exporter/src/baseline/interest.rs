//! The events a profile learns from that the kernel would otherwise drop: with the baseline on,
//! these filters join the rules' in the kernel prefilter, so the execs, opens for writing (and
//! for reading under the configured prefixes), connects and binds of processes in containers
//! reach user space, and host processes pay nothing more. The kernel knows cgroups, not images,
//! so every container's events come up (every image is profiled). Syscall sets come from the
//! per-container counts, which the kernel keeps anyway.

use crate::rules::{KernelFilter, KernelPredicate as P};

/// Prefilter entries for what a baseline learns (never counted as rule matches).
pub fn kernel_filters(read_prefixes: &[String]) -> Vec<KernelFilter> {
    let filter = |types: &[&str], predicates: Vec<P>| KernelFilter {
        event_types: Some(types.iter().map(|t| (*t).to_owned()).collect()),
        predicates,
        complete: false,
    };
    let mut filters = vec![
        filter(&["execve", "execveat"], vec![P::ContainerOnly, P::ResultZero]),
        filter(&["open", "openat", "openat2", "creat"], vec![P::ContainerOnly, P::OpenWrite, P::Success]),
        // Failed connects count too: the attempt is the behaviour.
        filter(&["connect"], vec![P::ContainerOnly]),
        filter(&["bind"], vec![P::ContainerOnly, P::ResultZero]),
    ];
    if !read_prefixes.is_empty() {
        let under = P::Path {
            fields: vec!["fd.name".into()],
            exact: vec![],
            prefixes: read_prefixes.to_vec(),
            basenames: vec![],
            contains: vec![],
            suffixes: vec![],
        };
        filters.push(filter(&["open", "openat", "openat2"], vec![P::ContainerOnly, P::OpenRead, P::Success, under]));
    }
    filters
}
