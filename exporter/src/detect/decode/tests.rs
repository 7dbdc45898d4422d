use super::fixtures::*;
use super::*;
use crate::detect::process::paths::AT_FDCWD;
use crate::rules::{ArgValue, Engine};
use std::net::IpAddr;
use std::path::Path;

#[test]
fn header_process_and_user_of_an_unknown_process() {
    let mut r = rec("openat", 3);
    r.args[0] = AT_FDCWD as u64;
    path(&mut r, 0, "/etc/passwd");
    r.cgroup_id = 99;
    let ev = decode(&r);
    assert_eq!((ev.num, ev.time, ev.evt_type.as_str(), ev.dir.as_str(), ev.res), (7, 1_005_000, "openat", "<", 3));
    assert_eq!((ev.proc.pid, ev.proc.name.as_str(), ev.proc.cmdline.as_str()), (4242, "tester", "tester"));
    assert_eq!((ev.user.uid, ev.user.gid, ev.user.loginuid), (1000, 1001, -1));
    assert!(ev.container.is_none());
    // A long comm is cut at 15 bytes by the kernel: the record's 16th byte is the NUL.
    comm(&mut r, "systemd-modules-load");
    assert_eq!(decode(&r).proc.name, "systemd-modules");
}

#[test]
fn aarch64_numbers_and_flag_values() {
    let fake = Fake::new();
    let dec = Decoder::with_proc_root(Arch::Aarch64, fake.dir.path().to_path_buf());
    let mut r = rec("openat", 3);
    r.nr = 56; // openat on aarch64 (257 on x86_64)
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = 0o40000 | 1; // O_DIRECTORY|O_WRONLY on aarch64 (O_DIRECT on x86_64)
    path(&mut r, 0, "/etc/x");
    let mut ev = Event::default();
    dec.decode(&r, 1, 0, &fake.table(), None, &mut ev);
    assert_eq!(ev.evt_type, "openat");
    assert_eq!(ev.args.get("flags"), Some(&s("O_WRONLY|O_DIRECTORY")));
    assert_eq!(fd(&ev).kind, "directory");
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Decoder>();
}

#[test]
fn process_credential_namespace_module_memfd_bpf() {
    let mut r = rec("ptrace", 0);
    r.args = [16, 1234, 0, 0, 0, 0];
    assert_eq!(args(&decode(&r)), [("request", s("PTRACE_ATTACH")), ("pid", i(1234)), ("addr", i(0)), ("data", i(0))]);
    r.args[0] = 0x4206;
    assert_eq!(decode(&r).args.get("request"), Some(&s("PTRACE_SEIZE")));
    r.args[0] = 0;
    assert_eq!(decode(&r).args.get("request"), Some(&s("PTRACE_TRACEME")));
    r.args[0] = 0x7777;
    assert_eq!(decode(&r).args.get("request"), Some(&s("PTRACE_UNKNOWN")), "as Falco's driver names it");
    let mut r = rec("setuid", 0);
    assert_eq!(args(&decode(&r)), [("uid", i(0))]);
    r = rec("setreuid", 0);
    r.args[0] = u32::MAX as u64;
    assert_eq!(args(&decode(&r)), [("ruid", i(4294967295)), ("euid", i(0))]);
    r = rec("setresuid", 0);
    r.args[..3].copy_from_slice(&[1, 2, 3]);
    assert_eq!(args(&decode(&r)), [("ruid", i(1)), ("euid", i(2)), ("suid", i(3))]);
    r = rec("setresgid", 0);
    assert_eq!(args(&decode(&r)).len(), 3);
    r = rec("setns", 0);
    r.args[..2].copy_from_slice(&[3, 0x20000]);
    assert_eq!(args(&decode(&r)), [("fd", i(3)), ("nstype", s("CLONE_NEWNS"))]);
    r = rec("unshare", 0);
    r.args[0] = 0x10020000;
    assert_eq!(args(&decode(&r)), [("flags", s("CLONE_NEWNS|CLONE_NEWUSER"))]);
    r = rec("init_module", 0);
    r.args[1] = 12345;
    assert_eq!(args(&decode(&r)), [("len", i(12345))]);
    r = rec("finit_module", 0);
    r.args[0] = 3;
    r.args[2] = 2;
    let ev = decode_with(&Fake::new().fd(3, "/tmp/rootkit.ko"), &r);
    assert_eq!(args(&ev), [("fd", i(3)), ("flags", s("MODULE_INIT_IGNORE_VERMAGIC"))]);
    assert_eq!(fd(&ev).name, "/tmp/rootkit.ko");
    r = rec("memfd_create", 4);
    r.args[1] = 1;
    path(&mut r, 0, "payload");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("name", s("payload")), ("flags", s("MFD_CLOEXEC"))]);
    assert_eq!((fd(&ev).num, fd(&ev).kind.as_str(), fd(&ev).name.as_str()), (4, "memfd", "/memfd:payload"));
    r = rec("bpf", 7);
    r.args[0] = 5;
    r.args[2] = 144;
    assert_eq!(args(&decode(&r)), [("cmd", s("BPF_PROG_LOAD")), ("size", i(144))]);
    r.args[0] = 999;
    assert_eq!(decode(&r).args.get("cmd"), Some(&s("999")));
}

#[test]
fn unknown_syscalls_get_positional_arguments_and_the_engine_reads_them() {
    let mut r = rec("getppid", 1);
    r.args = [11, 22, 33, 44, 55, u64::MAX];
    let ev = decode(&r);
    assert_eq!(ev.evt_type, "getppid");
    let names: Vec<_> = ev.args.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"]);
    assert_eq!((ev.args.nth(0), ev.args.nth(5)), (Some(&i(11)), Some(&i(-1))));
    let e = Engine::from_sources(&[(
        "r.yaml",
        "- rule: a\n  desc: d\n  condition: evt.type = getppid and evt.arg[0] = 11\n  output: o\n  priority: INFO\n",
    )]);
    assert!(!e.has_errors());
    assert_eq!(e.first_match(&ev).map(|r| r.name.as_str()), Some("a"));
    // A number without a name on this architecture.
    r.nr = 511;
    assert_eq!(decode(&r).evt_type, "syscall_511");
    r.nr = 100_000;
    assert_eq!(decode(&r).evt_type, "syscall_100000");
}

#[test]
fn reused_event_keeps_nothing_stale() {
    let fake = Fake::new();
    let (dec, table) = (fake.decoder(), fake.table());
    let mut ev = Event::default();
    let mut a = rec("connect", 0);
    sockaddr_v4(&mut a, [1, 2, 3, 4], 4444);
    let c = Container { id: "c1".into(), pod: Some("p".into()), ..Container::default() };
    dec.decode(&a, 1, 0, &table, Some(c.clone()), &mut ev);
    assert_eq!(ev.container.as_ref(), Some(&c));
    let c2 = Container { id: "c2".into(), ..Container::default() };
    dec.decode(&a, 1, 0, &table, Some(c2.clone()), &mut ev);
    assert_eq!(ev.container.as_ref(), Some(&c2));
    let mut b = rec("openat", 3);
    b.args[0] = AT_FDCWD as u64;
    path(&mut b, 0, "/etc/hosts");
    dec.decode(&b, 2, 0, &table, None, &mut ev);
    let fresh = decode_with(&fake, &b);
    assert_eq!(ev.args, fresh.args);
    assert_eq!(ev.fd, fresh.fd);
    assert!(ev.container.is_none());
    assert_eq!(fd(&ev).rport, None);
    dec.decode(&rec("ptrace", 0), 3, 0, &table, None, &mut ev);
    assert!(ev.fd.is_none());
    assert_eq!(ev.args.0.len(), 4);
}

// ---- Round trip: each default rule's recorded events, rebuilt as kernel records. ----

fn bits(text: &str, table: &[(&str, u64)]) -> u64 {
    text.split('|').filter(|t| !t.is_empty()).map(|t| table.iter().find(|(n, _)| *n == t).unwrap().1).sum()
}

fn num_or_bits(v: Option<&ArgValue>, table: &[(&str, u64)]) -> u64 {
    match v {
        Some(ArgValue::Int(n)) => *n as u64,
        Some(ArgValue::Str(t)) => bits(t, table),
        None => 0,
    }
}

/// The kernel record a real syscall behind `e` would produce (libc constants, not the
/// decoder's tables), plus the fake /proc it needs (cwd, descriptors).
fn encode(e: &Event, note: &str) -> (SyscallEvent, Fake) {
    let open: &[(&str, u64)] = &[
        ("O_RDONLY", libc::O_RDONLY as u64),
        ("O_WRONLY", libc::O_WRONLY as u64),
        ("O_RDWR", libc::O_RDWR as u64),
        ("O_CREAT", libc::O_CREAT as u64),
        ("O_TRUNC", libc::O_TRUNC as u64),
        ("O_APPEND", libc::O_APPEND as u64),
        ("O_CLOEXEC", libc::O_CLOEXEC as u64),
    ];
    let clone: &[(&str, u64)] = &[("CLONE_NEWNS", 0x20000), ("CLONE_NEWUSER", 0x10000000)];
    let at: &[(&str, u64)] = &[("AT_EMPTY_PATH", AT_EMPTY_PATH)];
    let ptrace: &[(&str, u64)] = &[("PTRACE_POKETEXT", 4), ("PTRACE_ATTACH", 16)];
    let mut r = rec(&e.evt_type, e.res);
    comm(&mut r, &e.proc.name);
    r.uid = e.user.uid as u32;
    r.gid = e.user.gid as u32;
    let a = |n: &str| e.args.get(n);
    let int = |n: &str| match a(n) {
        Some(ArgValue::Int(v)) => *v as u64,
        _ => 0,
    };
    let text = |n: &str| match a(n) {
        Some(ArgValue::Str(v)) => v.clone(),
        other => panic!("{n}: {other:?}"),
    };
    let mut fake = Fake::new();
    match e.evt_type.as_str() {
        "openat" | "open" => {
            let p = if e.evt_type == "openat" { 1 } else { 0 };
            if p == 1 {
                r.args[0] = int("dirfd");
            }
            let name = text("name");
            path(&mut r, 0, &name);
            r.args[p] = 0x7fff_0000; // the user pointer: meaningless to the decoder
            r.args[p + 1] = num_or_bits(a("flags"), open);
            r.args[p + 2] = int("mode");
            // A relative path is resolved against the process's cwd.
            if !e.proc.cwd.is_empty() {
                fake = fake.cwd(&e.proc.cwd);
            }
        }
        "fchmodat" => {
            r.args[0] = int("dirfd");
            path(&mut r, 0, &text("filename"));
            r.args[2] = int("mode");
        }
        "fchmod" => {
            r.args[0] = int("fd");
            r.args[1] = int("mode");
            fake = fake.fd(int("fd") as i64, &e.fd.as_ref().unwrap().name);
        }
        "chown" => {
            path(&mut r, 0, &text("path"));
            r.args[1] = int("uid");
            r.args[2] = int("gid");
        }
        "symlinkat" | "symlink" => {
            let target = text("target");
            // "relative target ../../etc/passwd arrives normalised"
            let raw = if note.contains("relative target") { "../../etc/passwd".to_owned() } else { target };
            path(&mut r, 0, &raw);
            path(&mut r, 1, &text("linkpath"));
            if e.evt_type == "symlinkat" {
                r.args[1] = int("linkdirfd");
            }
        }
        "linkat" => {
            r.args[0] = int("olddir");
            r.args[2] = int("newdir");
            r.args[4] = int("flags");
            path(&mut r, 0, &text("oldpath"));
            path(&mut r, 1, &text("newpath"));
        }
        "execve" => path(&mut r, 0, &text("filename")),
        "execveat" => {
            r.args[0] = int("dirfd");
            r.args[4] = num_or_bits(a("flags"), at);
            path(&mut r, 0, &text("pathname"));
            fake = fake.fd(int("dirfd") as i64, "/memfd:payload (deleted)");
        }
        "mount" => {
            path(&mut r, 0, &text("dev"));
            path(&mut r, 1, &text("dir"));
            r.args[3] = int("flags");
        }
        "umount2" => {
            path(&mut r, 0, &text("name"));
            r.args[1] = int("flags");
        }
        "setns" => {
            r.args[0] = int("fd");
            r.args[1] = num_or_bits(a("nstype"), clone);
        }
        "unshare" => r.args[0] = num_or_bits(a("flags"), clone),
        "connect" => {
            r.args[0] = int("fd");
            let f = e.fd.as_ref().unwrap();
            match f.rip.unwrap() {
                IpAddr::V4(ip) => sockaddr_v4(&mut r, ip.octets(), f.rport.unwrap()),
                IpAddr::V6(ip) => sockaddr_v6(&mut r, ip, f.rport.unwrap()),
            }
        }
        "ptrace" => {
            r.args[0] = num_or_bits(a("request"), ptrace);
            r.args[1] = int("pid");
            r.args[2] = int("addr");
            r.args[3] = int("data");
        }
        "setuid" => r.args[0] = int("uid"),
        "setresuid" => {
            r.args[0] = int("ruid");
            r.args[1] = int("euid");
            r.args[2] = int("suid");
        }
        "finit_module" => {
            r.args[0] = int("fd");
            r.args[2] = int("flags");
        }
        "init_module" => r.args[1] = int("len"),
        other => panic!("no kernel record for {other}: add it"),
    }
    (r, fake)
}

/// The process fields a recorded event sets, for comparison.
fn process_fields(p: &crate::rules::Process) -> String {
    let ancestors: Vec<_> = p.ancestors.iter().map(|a| (a.pid, &a.name, &a.exepath, &a.cmdline)).collect();
    let own = (p.pid, p.ppid, &p.name, &p.exe, &p.exepath, &p.args, &p.cwd, p.tty, p.sid, p.is_exe_from_memfd);
    format!("{own:?} {ancestors:?}")
}

#[test]
fn recorded_rule_events_round_trip_through_kernel_records() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = Engine::load_dir(&root.join("../rules"));
    assert!(!engine.has_errors());
    let dir = root.join("tests/data/rules/events");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let (mut attacks, mut benign, mut rules_seen) = (0, 0, std::collections::BTreeSet::new());
    for file in &files {
        for (n, line) in std::fs::read_to_string(file).unwrap().lines().enumerate() {
            let at = format!("{}:{}", file.display(), n + 1);
            let meta: serde_json::Value = serde_json::from_str(line).unwrap();
            let expect = meta["_expect"].as_str();
            let note = meta["_note"].as_str().unwrap_or("");
            let want = Event::from_json(line).unwrap();
            if want.dir == crate::rules::Direction::Enter {
                continue; // the kernel reports exits only
            }
            // The recorded event matches as recorded (the test data is sound) ...
            assert_eq!(engine.first_match(&want).map(|r| r.name.as_str()), expect, "{at}: recorded");
            let (raw, fake) = encode(&want, note);
            // The process as /proc shows it, loaded by the table as the detector loads it.
            let fake = fake.process(&want.proc, &want.user);
            let mut table = fake.table();
            for pid in want.proc.ancestors.iter().rev().map(|a| a.pid).chain([PID as i64]) {
                assert!(table.get_or_load(pid as i32).is_some(), "{at}: the table cannot load pid {pid}");
            }
            let mut got = Event::default();
            let offset = want.time as i64 - raw.ktime_ns as i64;
            fake.decoder().decode(&raw, 1, offset, &table, want.container.clone(), &mut got);
            assert_eq!(got.evt_type, want.evt_type, "{at}");
            assert_eq!((got.time, got.res, got.dir), (want.time, want.res, want.dir), "{at}");
            let comm: String = want.proc.name.chars().take(15).collect();
            assert_eq!((got.proc.pid, got.proc.name.as_str()), (PID as i64, comm.as_str()), "{at}");
            assert_eq!((got.user.uid, got.user.gid), (want.user.uid, want.user.gid), "{at}");
            // Every recorded argument the decoder renders the same way has the same value;
            // flags recorded as numbers are rendered as text.
            for (k, v) in &want.args.0 {
                match (v, got.args.get(k)) {
                    (ArgValue::Int(_), Some(ArgValue::Str(_))) if k == "flags" || k == "nstype" => {}
                    // A relative path argument is recorded raw; decoded, it is the object path.
                    (ArgValue::Str(w), Some(ArgValue::Str(g)))
                        if !w.is_empty() && !w.starts_with('/') && k == "name" =>
                    {
                        assert_eq!(Some(g), want.fd.as_ref().map(|f| &f.name), "{at}: argument {k}");
                    }
                    // A ptrace request recorded as a number is rendered as its name.
                    (ArgValue::Int(_), Some(ArgValue::Str(_))) if k == "request" => {}
                    // Flag names in any order.
                    (ArgValue::Str(w), Some(ArgValue::Str(g))) if k == "flags" || k == "nstype" => {
                        let set = |t: &str| t.split('|').map(str::to_owned).collect::<std::collections::BTreeSet<_>>();
                        assert_eq!(set(g), set(w), "{at}: argument {k}");
                    }
                    // Not copied by the kernel (documented).
                    (_, None) if k == "uargs" || (k == "type" && want.evt_type == "mount") => {}
                    (_, g) => assert_eq!(g, Some(v), "{at}: argument {k}"),
                }
            }
            if let Some(wf) = &want.fd {
                let gf = got.fd.as_ref().unwrap_or_else(|| panic!("{at}: no fd"));
                assert_eq!((&gf.kind, gf.rip, gf.rport), (&wf.kind, wf.rip, wf.rport), "{at}");
                if wf.kind == "file" {
                    assert_eq!(gf.name, wf.name, "{at}");
                }
            }
            // The process and user as the decoder reported them (the table's part: ancestors,
            // tty, args, exe path; the record's: name, ids) ...
            // The record's pid, and the kernel keeps 15 bytes of a process's name.
            let recorded = crate::rules::Process { pid: PID as i64, name: comm.clone(), ..want.proc.clone() };
            assert_eq!(process_fields(&got.proc), process_fields(&recorded), "{at}: process");
            let user = |u: &crate::rules::User| (u.uid, u.gid, u.name.clone(), u.loginuid);
            assert_eq!(user(&got.user), user(&want.user), "{at}: user");
            // ... and the decoded event matches the same rule.
            assert_eq!(engine.first_match(&got).map(|r| r.name.as_str()), expect, "{at}: decoded");
            match expect {
                Some(rule) => {
                    attacks += 1;
                    rules_seen.insert(rule.to_owned());
                }
                None => benign += 1,
            }
        }
    }
    assert_eq!(rules_seen.len(), files.len(), "one rule per file: {rules_seen:?}");
    assert!(attacks >= 25 && benign >= 25, "{attacks} attack and {benign} benign events");
}
