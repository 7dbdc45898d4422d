use crate::detect::decode::fixtures::*;
use crate::detect::decode::{Decoder, AT_EMPTY_PATH};
use crate::detect::process::ProcessTable;
use crate::rules::{Container, Engine, Event};
use crate::syscalls::Arch;
use std::path::{Path, PathBuf};

#[test]
fn a_known_process_comes_from_the_table_but_the_record_uid_wins() {
    let me = std::process::id();
    let mut table = ProcessTable::new(PathBuf::from("/proc"), 16);
    let known = table.get_or_load(me as i32).expect("own process").clone();
    let mut r = rec("setuid", 0);
    r.tgid = me;
    comm(&mut r, &known.comm);
    r.uid = known.uid.wrapping_add(1);
    let mut ev = Event::default();
    let c = Container { id: "abc".into(), ..Container::default() };
    Decoder::new(Arch::X86_64).decode(&r, 1, 0, &table, Some(c.clone()), &mut ev);
    assert_eq!(ev.proc.name, known.comm);
    assert_eq!(ev.proc.cwd, known.cwd);
    assert_eq!(ev.user.uid, known.uid as i64 + 1);
    assert_eq!(ev.user.name, "", "the table's name is for another uid");
    assert_eq!(ev.container, Some(c));
}

/// runc's init mounts in the container's cgroup, then execs the container's program; a
/// detection thread running behind loads the pid from /proc as that program. The record's
/// comm says runc:[2:INIT], and runc's own setup must not be "Mount in container".
#[test]
fn the_records_comm_names_the_process_at_the_syscall_except_for_exec() {
    let me = std::process::id();
    let mut table = ProcessTable::new(PathBuf::from("/proc"), 16);
    let known = table.get_or_load(me as i32).expect("own process").clone();
    let engine = Engine::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"));
    let c = Container { id: "abc".into(), ..Container::default() };
    let mut mount = rec("mount", 0);
    mount.tgid = me;
    path(&mut mount, 0, "proc");
    path(&mut mount, 1, "/proc");
    let mut ev = Event::default();
    let dec = Decoder::new(Arch::X86_64);
    comm(&mut mount, "runc:[2:INIT]");
    dec.decode(&mount, 1, 0, &table, Some(c.clone()), &mut ev);
    assert_eq!(ev.proc.name, "runc:[2:INIT]");
    assert_eq!(ev.proc.pid, me as i64, "the rest is the table's");
    assert_eq!(engine.first_match(&ev).map(|r| r.name.as_str()), None);
    // The same mount by the program itself is one.
    comm(&mut mount, &known.comm);
    dec.decode(&mount, 2, 0, &table, Some(c.clone()), &mut ev);
    assert_eq!(engine.first_match(&ev).map(|r| r.name.as_str()), Some("Mount in container"));
    // A successful exec's record has the old image's comm; the table has the new one.
    let mut exec = rec("execve", 0);
    exec.tgid = me;
    path(&mut exec, 0, "/bin/true");
    comm(&mut exec, "sh");
    dec.decode(&exec, 3, 0, &table, Some(c), &mut ev);
    assert_eq!(ev.proc.name, known.comm);
}

#[test]
fn exec_family() {
    let mut r = rec("execve", 0);
    path(&mut r, 0, "/usr//bin/../bin/nc");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("filename", s("/usr/bin/nc"))]);
    assert_eq!(fd(&ev).name, "/usr/bin/nc");

    let fake = Fake::new().fd(3, "/memfd:payload (deleted)");
    let mut r = rec("execveat", 0);
    r.args[0] = 3;
    r.args[4] = AT_EMPTY_PATH;
    path(&mut r, 0, "");
    let ev = decode_with(&fake, &r);
    assert_eq!(args(&ev), [("dirfd", i(3)), ("pathname", s("")), ("flags", s("AT_EMPTY_PATH"))]);
    assert_eq!((fd(&ev).num, fd(&ev).name.as_str()), (3, "/memfd:payload (deleted)"));
}
