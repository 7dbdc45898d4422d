use super::*;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

/// A synthetic /proc: one directory per pid with the files the loader reads.
struct FakeProc {
    dir: tempfile::TempDir,
}

struct P<'a> {
    pid: i32,
    ppid: i32,
    comm: &'a str,
    start: u64,
    argv: &'a [&'a str],
    exe: &'a str,
    cwd: &'a str,
    uid: u32,
    /// `/proc/<pid>/stat`'s state and flags.
    state: &'a str,
    flags: u64,
}

impl<'a> P<'a> {
    fn new(pid: i32, ppid: i32, comm: &'a str, start: u64) -> P<'a> {
        P { pid, ppid, comm, start, argv: &[], exe: "", cwd: "/", uid: 0, state: "S", flags: 0 }
    }
}

impl FakeProc {
    fn new() -> FakeProc {
        FakeProc { dir: tempfile::tempdir().unwrap() }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn table(&self, capacity: usize) -> ProcessTable {
        ProcessTable::new(self.root(), capacity).with_exit_grace(Duration::from_secs(3600))
    }

    fn pid_dir(&self, pid: i32) -> PathBuf {
        self.dir.path().join(pid.to_string())
    }

    fn add(&self, p: &P) {
        let d = self.pid_dir(p.pid);
        fs::create_dir_all(&d).unwrap();
        // pid (comm) state ppid pgrp session tty_nr tpgid flags ... starttime (22)
        let stat = format!(
            "{} ({}) {} {} {} {} 34816 -1 {} 0 0 0 0 0 0 0 0 20 0 1 0 {} 0 0\n",
            p.pid, p.comm, p.state, p.ppid, p.pid, p.ppid, p.flags, p.start
        );
        fs::write(d.join("stat"), stat).unwrap();
        let status = format!(
            "Name:\t{}\nTgid:\t{}\nPPid:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t7\t8\t8\t8\nNSpid:\t{}\t2\nNSpgid:\t{}\t3\n\
             CapPrm:\t00000000a80425fb\nCapEff:\t0000000000200000\n",
            p.comm,
            p.pid,
            p.ppid,
            p.pid,
            p.pid,
            u = p.uid
        );
        fs::write(d.join("status"), status).unwrap();
        let mut cmdline = Vec::new();
        for a in p.argv {
            cmdline.extend_from_slice(a.as_bytes());
            cmdline.push(0);
        }
        fs::write(d.join("cmdline"), cmdline).unwrap();
        fs::write(d.join("loginuid"), "1000").unwrap();
        fs::write(d.join("environ"), b"HOME=/root\0LANG=C\0").unwrap();
        let _ = fs::remove_file(d.join("exe"));
        let _ = fs::remove_file(d.join("cwd"));
        if !p.exe.is_empty() {
            symlink(p.exe, d.join("exe")).unwrap();
        }
        symlink(p.cwd, d.join("cwd")).unwrap();
        if fs::symlink_metadata(d.join("root")).is_err() {
            symlink("/", d.join("root")).unwrap();
        }
    }

    /// Gives the process its own root directory with this `/etc/passwd`; returns the root.
    fn own_root(&self, pid: i32, passwd: &str) -> PathBuf {
        let root = self.pid_dir(pid).join("root");
        fs::remove_file(&root).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), passwd).unwrap();
        root
    }

    fn remove(&self, pid: i32) {
        fs::remove_dir_all(self.pid_dir(pid)).unwrap();
    }
}

fn loaded(t: &mut ProcessTable, pid: i32) -> &ProcessInfo {
    t.get_or_load(pid).unwrap_or_else(|| panic!("pid {pid} not loaded"))
}

#[test]
fn loads_every_field_from_a_synthetic_proc() {
    let fp = FakeProc::new();
    let p = P {
        argv: &["/usr/bin/my prog", "-c", "x y"],
        exe: "/usr/bin/my prog (deleted)",
        cwd: "/srv",
        uid: 1000,
        ..P::new(1234, 1, "my (weird) proc", 987654)
    };
    fp.add(&p);
    let cg = tempfile::tempdir().unwrap();
    fs::create_dir_all(cg.path().join("system.slice/x.scope")).unwrap();
    fs::write(fp.pid_dir(1234).join("cgroup"), "0::/system.slice/x.scope\n").unwrap();
    let want_cg = fs::metadata(cg.path().join("system.slice/x.scope")).unwrap().ino();

    let mut t = fp.table(16).with_cgroup_root(Some(cg.path().to_path_buf()));
    let i = loaded(&mut t, 1234).clone();
    assert_eq!((i.pid, i.tgid, i.ppid, i.start_time), (1234, 1234, 1, Some(987654)));
    assert_eq!(i.comm, "my (weird) proc");
    assert_eq!(i.exe, "/usr/bin/my prog");
    assert_eq!(i.exepath, "/usr/bin/my prog (deleted)");
    assert_eq!(i.args, vec!["-c", "x y"]);
    assert_eq!(i.cmdline, "my (weird) proc -c x y");
    assert_eq!((i.cwd.as_str(), i.root.as_str()), ("/srv", "/"));
    assert_eq!((i.tty, i.sid, i.pgid, i.vpgid, i.vpid), (34816, 1, 1234, 3, Some(2)));
    assert_eq!(&i.env[..], ["HOME=/root", "LANG=C"]);
    assert_eq!((i.exe_ctime, i.exe_mtime), (0, 0), "the executable is deleted: no times");
    assert_eq!((i.uid, i.gid, i.loginuid), (1000, 8, 1000));
    assert_eq!((i.cap_effective, i.cap_permitted), (1 << 21, 0xa80425fb));
    assert!(!i.is_exe_from_memfd && !i.is_exe_upper_layer && !i.exited);
    assert_eq!(i.cgroup_id, want_cg);
    assert_eq!(i.origin, Origin::Proc);
}

#[test]
fn memfd_exe_and_missing_files() {
    let fp = FakeProc::new();
    fp.add(&P { exe: "/memfd:payload (deleted)", argv: &["x"], ..P::new(10, 1, "x", 5) });
    // Only stat: a kernel thread, or everything else unreadable.
    let d = fp.pid_dir(11);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("stat"), "11 (kworker/0:1) I 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0").unwrap();
    // Broken stat: not loadable.
    fs::create_dir_all(fp.pid_dir(12)).unwrap();
    fs::write(fp.pid_dir(12).join("stat"), "12 (x) S").unwrap();

    let mut t = fp.table(16);
    assert!(loaded(&mut t, 10).is_exe_from_memfd);
    let k = loaded(&mut t, 11).clone();
    assert_eq!((k.comm.as_str(), k.exe.as_str(), k.exepath.as_str()), ("kworker/0:1", "kworker/0:1", ""));
    assert_eq!((k.cwd.as_str(), k.loginuid, k.uid, k.cgroup_id), ("", -1, 0, 0));
    assert!(k.args.is_empty());
    assert_eq!(k.cmdline, "kworker/0:1");
    assert!(t.get_or_load(12).is_none());
    assert!(t.get_or_load(13).is_none());
    assert_eq!(t.stats().load_failures, 1, "a parse error counts, a missing process does not");
}

#[test]
fn seed_counts_processes_and_skips_the_rest() {
    let fp = FakeProc::new();
    for pid in [1, 2, 30] {
        fp.add(&P::new(pid, 0, "p", pid as u64));
    }
    fs::create_dir_all(fp.root().join("self")).unwrap();
    fs::create_dir_all(fp.root().join("31")).unwrap(); // vanished mid-walk: no stat
    fs::write(fp.root().join("uptime"), "1 1").unwrap();
    let mut t = fp.table(16);
    assert_eq!(t.seed_from_proc().unwrap(), 3);
    assert_eq!(t.len(), 3);
    assert_eq!(t.get(30).map(|p| p.start_time), Some(Some(30)));
    assert!(ProcessTable::new(fp.root().join("nope"), 4).seed_from_proc().is_err());
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let fp = FakeProc::new();
    fp.add(&P { exe: "/bin/old", ..P::new(100, 1, "old", 10) });
    let mut t = fp.table(16);
    assert_eq!(loaded(&mut t, 100).comm, "old");
    // The old process dies unseen and the pid comes back with a later start time.
    fp.remove(100);
    fp.add(&P { exe: "/bin/new", ..P::new(100, 1, "new", 20) });
    t.on_exec(100, "/bin/new");
    let cur = t.get(100).unwrap();
    assert_eq!((cur.comm.as_str(), cur.start_time, cur.exited), ("new", Some(20), false));
    let old = t.get_exact(100, 10).unwrap();
    assert_eq!((old.comm.as_str(), old.exited), ("old", true));
    // An event queued by the old process is still enriched as the old process.
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process_at(100, 10, &mut proc, &mut user));
    assert_eq!(proc.name, "old");
    assert!(t.fill_event_process_at(100, 20, &mut proc, &mut user));
    assert_eq!(proc.name, "new");
    assert!(!t.fill_event_process_at(100, 15, &mut proc, &mut user), "no such incarnation");
    t.on_fork(1, 102, None); // child already gone: no start time
    assert!(t.fill_event_process_at(102, 77, &mut proc, &mut user), "start unknown: the newest is used");
    assert_eq!(t.get_exact(100, 20).map(|p| p.comm.as_str()), Some("new"));

    // An exec event whose start time does not match /proc: /proc describes another process.
    fp.remove(100);
    fp.add(&P { exe: "/bin/third", ..P::new(100, 1, "third", 30) });
    t.on_exec_event(100, &ExecEvent { filename: "/bin/sh", start_time: Some(20), ..ExecEvent::default() });
    let p = t.get(100).unwrap();
    assert_eq!((p.comm.as_str(), p.start_time, p.origin), ("sh", Some(20), Origin::Exec));

    // A fork whose child pid is reused: the child is keyed by its own start time.
    t.on_fork(1, 100, Some(40));
    assert_eq!(t.get(100).map(|p| p.start_time), Some(Some(40)));
    assert!(t.get_exact(100, 20).unwrap().exited);
}

#[test]
fn fills_start_time_session_leader_pid_in_namespace_environment_and_group() {
    let fp = FakeProc::new();
    fp.add(&P { uid: 1000, ..P::new(40, 1, "sshd", 100) });
    // FakeProc makes the parent the session leader.
    fp.add(&P { uid: 1000, ..P::new(41, 40, "bash", 250) });
    let root = fp.own_root(41, "u:x:1000:1000::/:\n");
    fs::write(root.join("etc/group"), "g:x:8:\n").unwrap();
    let mut t = fp.table(16);
    loaded(&mut t, 40);
    loaded(&mut t, 41);
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process(41, &mut proc, &mut user));
    assert_eq!((proc.vpid, proc.sname.as_str()), (Some(2), "sshd"));
    assert_eq!(&proc.env[..], ["HOME=/root", "LANG=C"]);
    assert_eq!((user.name.as_str(), user.group_name.as_str()), ("u", "g"));
    // 250 ticks after boot, on the wall clock.
    let want = StartClock::now().epoch_ns(Some(250)) as i64;
    assert!((proc.start_time as i64 - want).abs() < 5_000_000, "{} vs {want}", proc.start_time);

    // A fork is not its parent in its namespace (it stays in its session), and a leader
    // younger than the process is a reused pid, not its leader.
    t.on_fork(41, 42, Some(300));
    t.fill_event_process(42, &mut proc, &mut user);
    assert_eq!((proc.vpid, proc.sname.as_str()), (None, "sshd"));
    fp.add(&P { exe: "/bin/other", ..P::new(40, 1, "other", 400) });
    t.on_exec(40, "/bin/other");
    t.fill_event_process(41, &mut proc, &mut user);
    assert_eq!(proc.sname, "", "pid 40 is no longer the session's leader");
}

#[test]
fn an_exec_seen_after_the_process_is_gone_takes_start_time_and_capabilities_from_the_kernel() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["sh"], exe: "/bin/sh", ..P::new(50, 1, "sh", 7) });
    let mut t = fp.table(16);
    loaded(&mut t, 50);
    // The child was gone before its fork was applied: its start is unknown until the exec says.
    t.on_fork(50, 51, None);
    let exec = ExecEvent {
        filename: "/bin/httpd",
        start_time: Some(9),
        caps: Some((1 << 21, 1 << 21 | 1)),
        vpid: Some(4),
        ..ExecEvent::default()
    };
    t.on_exec_event(51, &exec);
    let c = t.get(51).unwrap();
    assert_eq!((c.start_time, c.ppid, c.exepath.as_str(), c.vpid), (Some(9), 50, "/bin/httpd", Some(4)));
    assert_eq!((c.cap_effective, c.cap_permitted), (1 << 21, 1 << 21 | 1));
    assert!(c.env.is_empty(), "the new image's environment was never read");
    // Without the kernel's capabilities, the creator's are not claimed for the new image.
    t.on_fork(50, 52, Some(11));
    t.on_exec(52, "/bin/true");
    assert_eq!(t.get(52).map(|c| c.cap_effective), Some(0));
    // A live process: /proc gives the rest, the kernel the capabilities the exec gave.
    fp.add(&P { exe: "/bin/ls", ..P::new(53, 50, "ls", 12) });
    t.on_exec_event(
        53,
        &ExecEvent { filename: "/bin/ls", start_time: Some(12), caps: Some((1, 3)), ..ExecEvent::default() },
    );
    let l = t.get(53).unwrap();
    assert_eq!((l.origin, l.cap_effective, l.cap_permitted), (Origin::Proc, 1, 3));
}

/// busybox's dd cuts each `if=/dev/zero` at its `=` in its own argument area: /proc read after
/// that shows `if /dev/zero`, the exec record what the exec was given. A record that may have
/// been cut (eight arguments or more) leaves /proc's.
#[test]
fn exec_takes_the_arguments_the_exec_was_given() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["sh"], exe: "/bin/sh", ..P::new(80, 1, "sh", 7) });
    let mut t = fp.table(16);
    t.on_fork(80, 81, Some(9));
    fp.add(&P {
        argv: &["/bin/dd", "if", "/dev/zero", "of", "/tmp/z"],
        exe: "/bin/busybox",
        ..P::new(81, 80, "dd", 9)
    });
    let argv: Vec<String> = ["/bin/dd", "if=/dev/zero", "of=/tmp/z"].map(String::from).to_vec();
    let exec = ExecEvent { filename: "/bin/dd", argv: Some(&argv), start_time: Some(9), ..ExecEvent::default() };
    t.on_exec_event(81, &exec);
    let c = t.get(81).unwrap();
    assert_eq!((c.origin, c.exe.as_str(), c.cmdline.as_str()), (Origin::Proc, "/bin/dd", "dd if=/dev/zero of=/tmp/z"));

    let long: Vec<&str> = std::iter::once("/bin/echo").chain(["word"; 9]).collect();
    fp.add(&P { argv: &long, exe: "/bin/busybox", ..P::new(82, 80, "echo", 10) });
    let kept: Vec<String> = long[..MAX_EXEC_ARGS].iter().map(|a| a.to_string()).collect();
    t.on_exec_event(
        82,
        &ExecEvent { filename: "/bin/echo", argv: Some(&kept), start_time: Some(10), ..ExecEvent::default() },
    );
    assert_eq!(t.get(82).unwrap().args.len(), 9, "the record may have been cut: /proc's arguments");
}

#[test]
fn exec_of_a_process_already_exiting_keeps_event_data() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["sh"], exe: "/bin/sh", ..P::new(60, 1, "sh", 7) });
    let mut t = fp.table(16);
    t.on_fork(60, 61, Some(9));
    // A zombie: /proc/61 is there with the right start time, but without exe or command line.
    fp.add(&P { state: "Z", flags: PF_EXITING, ..P::new(61, 60, "grep", 9) });
    let argv = vec!["grep".to_owned(), "-ri".to_owned(), "aws_secret_access_key".to_owned()];
    let exec = ExecEvent { filename: "/bin/grep", argv: Some(&argv), start_time: Some(9), ..ExecEvent::default() };
    t.on_exec_event(61, &exec);
    let c = t.get(61).unwrap();
    assert_eq!((c.exepath.as_str(), c.cmdline.as_str()), ("/bin/grep", "grep -ri aws_secret_access_key"));
    assert_eq!(c.origin, Origin::Exec);
}

/// `task->flags`'s bit for a task inside `do_exit`.
const PF_EXITING: u64 = 0x4;

/// A process that is exiting still shows its executable and command line until it frees its
/// memory, and its root until a little later: the user name read through a root that vanished
/// mid-read would be empty. The exec record and the fork's entry are used instead.
#[test]
fn exec_of_a_process_exiting_while_read_keeps_the_forks_user() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["timeout"], exe: "/bin/timeout", uid: 1, ..P::new(70, 1, "timeout", 7) });
    fp.own_root(70, "root:x:0:0::/:\ndaemon:x:1:1::/:\n");
    let mut t = fp.table(16);
    t.on_fork(70, 71, Some(9));
    fp.add(&P {
        argv: &["login"],
        exe: "/bin/login",
        uid: 1,
        state: "R",
        flags: PF_EXITING,
        ..P::new(71, 70, "login", 9)
    });
    // Its root is gone already (the host's /etc/passwd, behind "/", names uid 1 too).
    fs::remove_file(fp.pid_dir(71).join("root")).unwrap();
    symlink("/nonexistent-root", fp.pid_dir(71).join("root")).unwrap();
    let argv = vec!["/bin/login".to_owned()];
    let exec = ExecEvent {
        filename: "/bin/login",
        argv: Some(&argv),
        start_time: Some(9),
        uid: Some(1),
        ..ExecEvent::default()
    };
    t.on_exec_event(71, &exec);
    let c = t.get(71).unwrap();
    assert_eq!((c.origin, c.exepath.as_str(), c.comm.as_str()), (Origin::Exec, "/bin/login", "login"));
    assert_eq!((c.uid, c.user_name.as_str()), (1, "daemon"));
}

#[test]
fn fork_copies_the_parent_and_exec_after_proc_is_gone_keeps_event_data() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["bash", "-i"], exe: "/usr/bin/bash", cwd: "/home/u", uid: 1000, ..P::new(50, 1, "bash", 7) });
    fp.own_root(50, "u:x:1000:1000::/:\n");
    let mut t = fp.table(16);
    // The child never appears in /proc: it forked, exec'd and exited before we looked.
    t.on_fork(50, 51, Some(9));
    let c = t.get(51).unwrap().clone();
    assert_eq!((c.pid, c.ppid, c.start_time, c.origin), (51, 50, Some(9), Origin::Fork));
    assert_eq!(
        (c.comm.as_str(), c.exepath.as_str(), c.cwd.as_str(), c.uid),
        ("bash", "/usr/bin/bash", "/home/u", 1000)
    );
    assert_eq!(c.user_name, "u");

    let argv = vec!["./evil".to_owned(), "-x".to_owned()];
    t.on_exec_event(51, &ExecEvent { filename: "./bin/../evil", argv: Some(&argv), ..ExecEvent::default() });
    let c = t.get(51).unwrap().clone();
    assert_eq!(c.origin, Origin::Exec);
    assert_eq!(c.exepath, "/home/u/evil");
    assert_eq!((c.exe.as_str(), c.comm.as_str(), c.cmdline.as_str()), ("./evil", "evil", "evil -x"));
    assert_eq!((c.ppid, c.uid, c.cwd.as_str(), c.start_time), (50, 1000, "/home/u", Some(9)));

    // Exec of a memfd, reported with the kernel's exe path.
    t.on_fork(50, 52, Some(11));
    t.on_exec_event(
        52,
        &ExecEvent {
            filename: "/dev/fd/3",
            exepath: Some("/memfd:x (deleted)"),
            comm: Some("3"),
            uid: Some(0),
            ..Default::default()
        },
    );
    let m = t.get(52).unwrap();
    assert!(m.is_exe_from_memfd);
    assert_eq!(m.user_name, "", "uid changed by the exec: the old name no longer applies");
    assert_eq!((m.comm.as_str(), m.exe.as_str(), m.uid, m.cmdline.as_str()), ("3", "/dev/fd/3", 0, "3"));

    // Only the exec event: no fork seen, no /proc.
    t.on_exec(60, "/usr/local/bin/a-very-long-program-name");
    let a = t.get(60).unwrap();
    assert_eq!(
        (a.comm.as_str(), a.exepath.as_str(), a.start_time),
        ("a-very-long-pro", "/usr/local/bin/a-very-long-program-name", None)
    );
}

#[test]
fn exec_reloads_from_proc_when_it_is_there() {
    let fp = FakeProc::new();
    fp.add(&P { argv: &["sh"], exe: "/bin/sh", ..P::new(70, 1, "sh", 3) });
    let mut t = fp.table(16);
    t.on_fork(70, 71, None);
    assert_eq!(t.get(71).map(|p| p.start_time), Some(None), "child gone: no start time known");
    fp.add(&P { argv: &["cat", "/etc/shadow"], exe: "/usr/bin/cat", ..P::new(72, 70, "cat", 4) });
    t.on_fork(70, 72, None);
    assert_eq!(t.get(72).map(|p| (p.start_time, p.origin, p.comm.as_str())), Some((Some(4), Origin::Fork, "sh")));
    t.on_exec(72, "/usr/bin/cat");
    let c = t.get(72).unwrap();
    assert_eq!((c.comm.as_str(), c.cmdline.as_str(), c.origin), ("cat", "cat /etc/shadow", Origin::Proc));
    // A fork event processed after the child was loaded does not overwrite fresher data.
    t.on_fork(70, 72, Some(4));
    assert_eq!(t.get(72).map(|p| p.comm.as_str()), Some("cat"));
}

#[test]
fn exit_keeps_the_process_for_its_grace_then_drops_it() {
    let fp = FakeProc::new();
    fp.add(&P::new(5, 1, "x", 1));
    let mut t = fp.table(16);
    loaded(&mut t, 5);
    t.on_exit(5);
    assert!(t.get(5).unwrap().exited);
    t.on_exit(5); // twice is harmless
    assert_eq!(t.stats().exited, 1);
    let mut proc = Process::default();
    assert!(t.fill_event_process(5, &mut proc, &mut User::default()));
    t.expire(Instant::now() + Duration::from_secs(1800));
    assert!(t.get(5).is_some());
    t.expire(Instant::now() + Duration::from_secs(3601));
    assert!(t.get(5).is_none());
    assert!(t.is_empty());
    t.on_exit(6); // unknown: ignored
}

#[test]
fn capacity_evicts_exited_first_then_least_recently_used() {
    let fp = FakeProc::new();
    for pid in 1..=6 {
        fp.add(&P::new(pid, 0, &format!("p{pid}"), pid as u64));
    }
    let mut t = fp.table(4);
    for pid in 1..=4 {
        loaded(&mut t, pid);
    }
    t.on_exit(3);
    loaded(&mut t, 5);
    assert_eq!(t.len(), 4);
    assert!(t.get(3).is_none(), "the exited process goes first");
    assert_eq!(t.stats().evicted_exited, 1);
    // No exited ones left: the least recently used goes. Touch 1, so 2 is the oldest.
    assert!(t.get(1).is_some());
    loaded(&mut t, 6);
    assert_eq!(t.len(), 4);
    assert!(t.get(2).is_none());
    for pid in [1, 4, 5, 6] {
        assert!(t.get(pid).is_some(), "pid {pid}");
    }
    assert_eq!(t.stats().evicted_live, 1);
    // Capacity 0 means 1.
    let mut one = fp.table(0);
    loaded(&mut one, 1);
    loaded(&mut one, 2);
    assert_eq!((one.len(), one.capacity()), (1, 1));
}

#[test]
fn ancestors_are_filled_parent_first_and_bounded() {
    let fp = FakeProc::new();
    // A chain 1 <- 2 <- ... <- 30, each started after its parent.
    for pid in 1..=30 {
        let comm = format!("p{pid}");
        let exe = format!("/bin/p{pid}");
        let argv = [exe.as_str(), "arg"];
        fp.add(&P { argv: &argv, exe: &exe, ..P::new(pid, pid - 1, &comm, pid as u64) });
    }
    let mut t = fp.table(64);
    assert_eq!(t.seed_from_proc().unwrap(), 30);
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process(30, &mut proc, &mut user));
    assert_eq!(proc.ancestors.len(), DEFAULT_ANCESTOR_DEPTH);
    let a = &proc.ancestors[0];
    assert_eq!(
        (a.pid, a.name.as_str(), a.exe.as_str(), a.exepath.as_str(), a.cmdline.as_str()),
        (29, "p29", "/bin/p29", "/bin/p29", "p29 arg")
    );
    assert_eq!(proc.ancestors[15].pid, 14);
    // The chain ends at init (ppid 0).
    t.fill_event_process(5, &mut proc, &mut user);
    assert_eq!(proc.ancestors.iter().map(|a| a.pid).collect::<Vec<_>>(), vec![4, 3, 2, 1]);
    let mut short = fp.table(64).with_ancestor_depth(3);
    short.seed_from_proc().unwrap();
    short.fill_event_process(30, &mut proc, &mut user);
    assert_eq!(proc.ancestors.iter().map(|a| a.pid).collect::<Vec<_>>(), vec![29, 28, 27]);
    // A reused event whose ancestors were longer: no stale entries remain.
    t.fill_event_process(2, &mut proc, &mut user);
    assert_eq!(
        proc.ancestors,
        vec![Ancestor {
            pid: 1,
            name: "p1".into(),
            exe: "/bin/p1".into(),
            exepath: "/bin/p1".into(),
            exec_path: "/bin/p1".into(),
            cmdline: "p1 arg".into()
        }]
    );
}

#[test]
fn ancestor_chain_stops_at_a_parent_pid_reused_by_a_younger_process() {
    let fp = FakeProc::new();
    fp.add(&P::new(1, 0, "init", 1));
    fp.add(&P::new(20, 1, "child", 50));
    fp.add(&P::new(10, 1, "impostor", 99)); // pid 10 was the parent, reused later
    let mut t = fp.table(16);
    t.seed_from_proc().unwrap();
    let mut c = t.get(20).unwrap().clone();
    c.ppid = 10;
    t.insert(c);
    let mut proc = Process::default();
    t.fill_event_process(20, &mut proc, &mut User::default());
    assert!(proc.ancestors.is_empty(), "{:?}", proc.ancestors);
}

#[test]
fn fill_uses_the_table_only() {
    let fp = FakeProc::new();
    fp.add(&P::new(1, 0, "init", 1));
    fp.add(&P { argv: &["cat", "/etc/shadow"], exe: "/usr/bin/cat", cwd: "/root", uid: 33, ..P::new(2, 1, "cat", 2) });
    // The process's root has its own passwd: uid 33 is "www" there.
    fp.own_root(2, "root:x:0:0::/:\nwww:x:33:33::/:\nalice:x:1000:1000::/:\n");
    let mut t = fp.table(16);
    t.seed_from_proc().unwrap();
    fp.remove(2);
    fp.remove(1);
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process(2, &mut proc, &mut user));
    assert_eq!(
        (proc.pid, proc.ppid, proc.name.as_str(), proc.exe.as_str(), proc.exepath.as_str()),
        (2, 1, "cat", "cat", "/usr/bin/cat")
    );
    assert_eq!(
        (proc.cmdline.as_str(), proc.cwd.as_str(), proc.args.clone()),
        ("cat /etc/shadow", "/root", vec!["/etc/shadow".to_owned()])
    );
    assert_eq!(
        (proc.tty, proc.sid, proc.vpgid, proc.cap_effective, proc.cap_permitted),
        (34816, 1, 3, 1 << 21, 0xa80425fb)
    );
    assert_eq!(proc.ancestors.len(), 1);
    assert_eq!(
        (user.uid, user.gid, user.name.as_str(), user.loginuid, user.loginname.as_str()),
        (33, 8, "www", 1000, "alice")
    );
    assert!(!t.fill_event_process(3, &mut proc, &mut user));
    assert_eq!(proc.pid, 2, "untouched on a miss");
}

#[test]
fn chdir_resolves_relative_dotdot_and_symlinks_in_the_root() {
    let fp = FakeProc::new();
    fp.add(&P { cwd: "/", ..P::new(8, 1, "sh", 1) });
    let root = fp.own_root(8, "");
    fs::create_dir_all(root.join("tmp")).unwrap();
    symlink("/etc", root.join("tmp/e")).unwrap();
    let mut t = fp.table(16);
    loaded(&mut t, 8);
    let cwd = |t: &ProcessTable| t.get(8).unwrap().cwd.clone();
    t.on_chdir(8, "tmp");
    assert_eq!(cwd(&t), "/tmp");
    t.on_chdir(8, "e");
    assert_eq!(cwd(&t), "/etc");
    t.on_chdir(8, "..//tmp/./../etc");
    assert_eq!(cwd(&t), "/etc");
    t.on_chdir(8, "/var/../../tmp");
    assert_eq!(cwd(&t), "/tmp");
    // Then `cat shadow` is /etc/shadow.
    t.on_chdir(8, "/etc");
    assert_eq!(super::super::paths::resolve(&cwd(&t), "shadow"), "/etc/shadow");
    // Unknown process: loaded from /proc, whose cwd already is the new one.
    fp.add(&P { cwd: "/srv", ..P::new(9, 1, "sh", 2) });
    t.on_chdir(9, "/srv");
    assert_eq!(t.get(9).unwrap().cwd, "/srv");
}

fn read_stat_start(pid: u32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    super::super::procfs::parse_stat(&text).unwrap().start_time
}

#[test]
fn real_proc_of_the_test_process() {
    let me = std::process::id() as i32;
    let mut t = ProcessTable::system();
    let p = t.get_or_load(me).unwrap().clone();
    assert_eq!(p.start_time, Some(read_stat_start(me as u32)));
    let comm = fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(p.comm, comm.trim_end());
    assert_eq!(Path::new(&p.exepath), std::env::current_exe().unwrap());
    assert_eq!(Path::new(&p.cwd), std::env::current_dir().unwrap());
    assert_eq!(p.ppid as u32, std::os::unix::process::parent_id());
    assert_eq!(p.uid, unsafe { libc::geteuid() });
    assert_eq!(p.root, "/");
    assert_eq!(p.args, std::env::args().skip(1).collect::<Vec<_>>());
    if crate::container::detect_cgroup2_root().is_some() {
        assert_ne!(p.cgroup_id, 0);
    }
    assert!(t.get_or_load(p.ppid).is_some());
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process(me, &mut proc, &mut user));
    assert_eq!(proc.ancestors.first().map(|a| a.pid), Some(p.ppid as i64));
    assert_eq!(user.uid, unsafe { libc::geteuid() } as i64);
}

#[test]
fn real_proc_of_a_spawned_child() {
    let mut child = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    let pid = child.id() as i32;
    let mut t = ProcessTable::system().with_exit_grace(Duration::from_secs(3600));
    assert!(t.seed_from_proc().unwrap() >= 2);
    // sleep may still be the forked test binary for an instant; wait for the exec by polling /proc.
    let mut tries = 0;
    while fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim() != "sleep" {
        tries += 1;
        assert!(tries < 10_000, "sleep never exec'd");
        std::thread::sleep(Duration::from_millis(1));
    }
    t.on_exec(pid, "/usr/bin/sleep");
    let c = t.get(pid).unwrap().clone();
    assert_eq!((c.comm.as_str(), c.args.clone(), c.cmdline.as_str()), ("sleep", vec!["300".to_owned()], "sleep 300"));
    assert_eq!(c.ppid as u32, std::process::id());
    assert_eq!(c.start_time, Some(read_stat_start(pid as u32)));
    assert!(c.exepath.ends_with("/sleep"), "{}", c.exepath);
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(t.fill_event_process(pid, &mut proc, &mut user));
    assert_eq!(proc.ancestors.first().map(|a| a.pid), Some(std::process::id() as i64));

    child.kill().unwrap();
    child.wait().unwrap();
    t.on_exit(pid);
    assert!(t.get(pid).unwrap().exited);
    assert!(t.fill_event_process(pid, &mut proc, &mut user), "still enriched during the grace");
    t.expire(Instant::now() + Duration::from_secs(7200));
    assert!(t.get(pid).is_none());
    assert!(t.get_or_load(pid).is_none(), "reaped: /proc/{pid} is gone");
}

#[test]
fn boot_ns_to_clock_ticks() {
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert_eq!(start_time_from_boot_ns(3 * 1_000_000_000), 3 * hz);
    assert_eq!(start_time_from_boot_ns(1_000_000_000 / hz - 1), 0);
}

#[test]
fn the_table_can_be_shared_between_threads() {
    fn is_sync<T: Sync + Send>() {}
    is_sync::<ProcessTable>();
}

mod lifecycle_records;
