use super::*;
use crate::rules::{Ancestor, ArgValue, Fd};

#[test]
fn pids_and_random_names_are_collapsed() {
    for (path, want) in [
        ("/proc/4242/status", "/proc/self/status"),
        ("/proc/4242/task/4243/comm", "/proc/self/task/*/comm"),
        ("/proc/self/mounts", "/proc/self/mounts"),
        ("/tmp/tmp.X3k9", "/tmp/tmp.*"),
        ("/tmp/tmp.aB3dE9fG1h/out.log", "/tmp/tmp.*/out.log"),
        ("/tmp/tmp.IVrHml", "/tmp/tmp.*"),
        ("/tmp/tmp.4tfcgq", "/tmp/tmp.*"),
        ("/tmp/tmpk3j_2x9a", "/tmp/tmp*"),
        ("/run/1P7OV3.pid", "/run/*.pid"),
        ("/etc/tmpfiles.d/x.conf", "/etc/tmpfiles.d/x.conf"),
        ("/tmp/template.txt", "/tmp/template.txt"),
        ("/app/README", "/app/README"),
        ("/var/cache/3f9a2c1e7b/data", "/var/cache/*/data"),
        ("/var/log/app-1765012345.log", "/var/log/app-*.log"),
        ("/usr/bin/python3.11", "/usr/bin/python3.11"),
        ("/usr/bin/sha256sum", "/usr/bin/sha256sum"),
        ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
        ("/etc/deadbeef", "/etc/deadbeef"),
        ("/data/12345", "/data/12345"),
    ] {
        assert_eq!(normalise_path(path), want, "{path}");
    }
}

#[test]
fn addresses_are_grouped_by_prefix() {
    assert_eq!(network_of("10.1.2.77".parse().unwrap()), "10.1.2.0/24");
    assert_eq!(network_of("2001:db8:1:2:3::9".parse().unwrap()), "[2001:db8:1:2::]/64");
}

fn event(evt_type: &str, res: i64) -> Event {
    Event { evt_type: evt_type.into(), res, ..Event::default() }
}

#[test]
fn items_of_events() {
    let mut exec = event("execve", 0);
    exec.proc.exepath = "/bin/busybox".into();
    exec.proc.ancestors = vec![Ancestor { exepath: "/bin/busybox".into(), ..Ancestor::default() }];
    exec.fd = Some(Fd { name: "/bin/cat".into(), ..Fd::default() });
    assert_eq!(item_of(&exec, &[]), Some((Kind::Exec, "/bin/busybox > /bin/cat".into())));
    exec.fd = Some(Fd { name: "/bin/busybox".into(), nameraw: Some("/bin/cat".into()), ..Fd::default() });
    assert_eq!(item_of(&exec, &[]), Some((Kind::Exec, "/bin/busybox > /bin/cat".into())), "as named, not resolved");
    exec.proc.vpid = Some(1);
    assert_eq!(item_of(&exec, &[]), Some((Kind::Exec, "<entrypoint> > /bin/cat".into())), "started by the runtime");
    exec.proc.vpid = Some(7);
    exec.proc.ancestors.clear();
    assert_eq!(item_of(&exec, &[]), Some((Kind::Exec, "<unknown> > /bin/cat".into())));
    exec.res = -2;
    assert_eq!(item_of(&exec, &[]), None, "a failed exec ran nothing");

    let mut open = event("openat", 3);
    open.fd = Some(Fd { name: "/tmp/tmp.X3k9".into(), ..Fd::default() });
    open.args.0.push(("flags".into(), ArgValue::Str("O_WRONLY|O_CREAT".into())));
    assert_eq!(item_of(&open, &[]), Some((Kind::Write, "/tmp/tmp.*".into())));
    open.args.0[0].1 = ArgValue::Str("O_RDONLY".into());
    assert_eq!(item_of(&open, &[]), None, "reads are learned only under the prefixes");
    assert_eq!(item_of(&open, &["/tmp/".into()]), Some((Kind::Read, "/tmp/tmp.*".into())));
    open.proc.name = "runc:[2:INIT]".into();
    assert_eq!(item_of(&open, &["/tmp/".into()]), None, "the runtime's set-up");
    open.proc.name = "cat".into();
    open.res = -13;
    assert_eq!(item_of(&open, &["/tmp/".into()]), None);

    let mut connect = event("connect", -111);
    connect.fd = Some(Fd { rip: Some("127.0.0.1".parse().unwrap()), rport: Some(8080), ..Fd::default() });
    assert_eq!(item_of(&connect, &[]), Some((Kind::Connect, "127.0.0.0/24:8080".into())), "attempts count");
    connect.fd = Some(Fd { kind: "unix".into(), name: "/run/app.sock".into(), ..Fd::default() });
    assert_eq!(item_of(&connect, &[]), Some((Kind::Connect, "unix /run/app.sock".into())));

    let mut bind = event("bind", 0);
    bind.fd = Some(Fd { l4proto: Some("tcp".into()), lport: Some(8080), ..Fd::default() });
    assert_eq!(item_of(&bind, &[]), Some((Kind::Listen, "tcp:8080".into())));
    bind.fd = Some(Fd { l4proto: Some("udp".into()), lport: Some(0), ..Fd::default() });
    assert_eq!(item_of(&bind, &[]), None);

    assert_eq!(item_of(&event("getppid", 1), &[]), None);
}

#[test]
fn kinds_round_trip_by_name() {
    for kind in Kind::ALL {
        assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
    }
    assert_eq!("nope".parse::<Kind>().unwrap_err(), "unknown baseline kind 'nope'");
}
