//! Kernel time per BPF program of one process (`kernel.bpf_stats_enabled`): run_time_ns and
//! run_cnt from the fdinfo of its program file descriptors, named by `bpftool`.

use std::collections::BTreeMap;

/// Per program name: (ns run, runs).
pub type ProgramTimes = BTreeMap<String, (u64, u64)>;

/// Turns the kernel's per-program accounting on (it stays on; it costs a clock read per run).
pub fn enable() {
    if std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").is_err() {
        super::fail("cannot enable kernel.bpf_stats_enabled");
    }
}

/// The totals so far of every program `pid` holds.
pub fn program_times(pid: u32) -> ProgramTimes {
    let names = program_names();
    let mut times = ProgramTimes::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return times;
    };
    for info in fds.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()) {
        let field = |key: &str| info.lines().find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok());
        if let (Some(id), Some(ns), Some(runs)) = (field("prog_id:"), field("run_time_ns:"), field("run_cnt:")) {
            let name = names.get(&id).cloned().unwrap_or_else(|| format!("prog {id}"));
            let entry = times.entry(name).or_default();
            (entry.0, entry.1) = (entry.0 + ns, entry.1 + runs);
        }
    }
    times
}

/// `after - before`, per program.
pub fn difference(before: &ProgramTimes, after: &ProgramTimes) -> ProgramTimes {
    after
        .iter()
        .map(|(name, (ns, runs))| {
            let (ns0, runs0) = before.get(name).copied().unwrap_or_default();
            (name.clone(), (ns - ns0.min(*ns), runs - runs0.min(*runs)))
        })
        .collect()
}

/// Program names by id, from `bpftool prog show -j`.
fn program_names() -> BTreeMap<u64, String> {
    let out = std::process::Command::new("bpftool").args(["prog", "show", "-j"]).output();
    let list: serde_json::Value =
        out.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or(serde_json::Value::Null);
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_u64()?, p["name"].as_str()?.to_owned())))
        .collect()
}
