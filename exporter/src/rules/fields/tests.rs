use super::*;
use crate::rules::event::{Ancestor, ArgValue, Container, Event, Fd};

fn ev() -> Event {
    let mut e = Event::from_json(
        r#"{"type":"connect","res":-115,"args":{"fd":3,"addr":"1.2.3.4"},
        "proc":{"pid":10,"name":"nc","args":["1.2.3.4","4444"],"cap_effective":3,
          "ancestors":[{"pid":9,"name":"bash"},{"pid":1,"name":"init"}]},
        "user":{"uid":1000,"name":"bob"}}"#,
    )
    .unwrap();
    e.fd = Some(Fd {
        kind: "ipv4".into(),
        lip: Some("10.0.0.2".parse().unwrap()),
        lport: Some(40000),
        rip: Some("1.2.3.4".parse().unwrap()),
        rport: Some(4444),
        l4proto: Some("tcp".into()),
        ..Fd::default()
    });
    e.normalize();
    e
}

fn get(name: &str, arg: Option<&str>, e: &Event) -> Option<String> {
    let f = resolve(name, arg).unwrap();
    f.get(e).map(|v| {
        let mut s = String::new();
        v.render(&mut s);
        s
    })
}

#[test]
fn every_listed_field_resolves() {
    for (name, ty, _) in FIELDS {
        let arg = match *name {
            "evt.arg" => Some("0"),
            "container.mount.dest" => Some("/proc*"),
            _ => None,
        };
        let f = resolve(name, arg).unwrap();
        assert_eq!(f.ty, *ty);
    }
    assert_eq!(resolve("proc.nme", None).unwrap_err(), "unknown field 'proc.nme'");
    assert!(resolve("proc.name", Some("1")).unwrap_err().contains("takes no argument"));
    assert!(resolve("proc.aname", Some("x")).unwrap_err().contains("number argument"));
}

#[test]
fn values() {
    let e = ev();
    assert_eq!(get("evt.res", None, &e).unwrap(), "EINPROGRESS");
    assert_eq!(get("evt.rawres", None, &e).unwrap(), "-115");
    assert_eq!(get("evt.arg.fd", None, &e).unwrap(), "3");
    assert_eq!(get("evt.arg", Some("1"), &e).unwrap(), "1.2.3.4");
    assert_eq!(get("proc.cmdline", None, &e).unwrap(), "nc 1.2.3.4 4444");
    assert_eq!(get("proc.args", None, &e).unwrap(), "1.2.3.4 4444");
    assert_eq!(get("proc.pname", None, &e).unwrap(), "bash");
    assert_eq!(get("proc.aname", Some("0"), &e).unwrap(), "nc");
    assert_eq!(get("proc.aname", Some("2"), &e).unwrap(), "init");
    assert_eq!(get("proc.aname", Some("3"), &e), None);
    assert_eq!(get("fd.sip", None, &e).unwrap(), "1.2.3.4");
    assert_eq!(get("fd.cip", None, &e).unwrap(), "10.0.0.2");
    assert_eq!(get("fd.sport", None, &e).unwrap(), "4444");
    assert_eq!(get("fd.cport", None, &e).unwrap(), "40000");
    assert_eq!(get("fd.typechar", None, &e).unwrap(), "4");
    assert_eq!(get("fd.name", None, &e).unwrap(), "10.0.0.2:40000->1.2.3.4:4444");
    assert_eq!(get("thread.cap_effective", None, &e).unwrap(), "CAP_CHOWN CAP_DAC_OVERRIDE");
    assert_eq!(get("container.id", None, &e).unwrap(), "host");
    assert_eq!(get("container.privileged", None, &e).unwrap(), "false");
    assert_eq!(get("k8s.pod.name", None, &e), None);
    let f = resolve("proc.aname", None).unwrap();
    assert!(f.any(&e, |v| v == Val::Str("init")));
    assert!(!f.any(&e, |v| v == Val::Str("nc")));
}

#[test]
fn file_and_container_values() {
    let mut e = Event { evt_type: "openat".into(), ..Event::default() };
    e.args.0.push(("flags".into(), ArgValue::Str("O_WRONLY|O_CREAT".into())));
    e.fd = Some(Fd { kind: "file".into(), name: "/etc/passwd".into(), ..Fd::default() });
    e.container = Some(Container {
        id: "abc".into(),
        image: "docker.io/library/nginx:1.25".into(),
        pod: Some("web-0".into()),
        ..Container::default()
    });
    e.proc.ancestors.push(Ancestor { name: "sh".into(), ..Ancestor::default() });
    assert_eq!(get("fd.directory", None, &e).unwrap(), "/etc");
    assert_eq!(get("fd.filename", None, &e).unwrap(), "passwd");
    assert_eq!(get("fd.nameraw", None, &e).unwrap(), "/etc/passwd");
    assert_eq!(get("evt.is_open_write", None, &e).unwrap(), "true");
    assert_eq!(get("evt.is_open_read", None, &e).unwrap(), "false");
    assert_eq!(get("evt.is_open_create", None, &e).unwrap(), "true");
    assert_eq!(get("container.image.repository", None, &e).unwrap(), "docker.io/library/nginx");
    assert_eq!(get("container.image.tag", None, &e).unwrap(), "1.25");
    assert_eq!(get("k8s.pod.name", None, &e).unwrap(), "web-0");
    assert_eq!(get("proc.pname", None, &e).unwrap(), "sh");
    e.args.0[0].1 = ArgValue::Int(0);
    assert_eq!(get("evt.is_open_read", None, &e).unwrap(), "true");
    assert_eq!(errno_name(-2), "ENOENT");
    assert_eq!(errno_name(0), "SUCCESS");
}

/// Whether `condition` matches `e` (compiled as a one-rule Falco file).
fn holds(condition: &str, e: &Event) -> bool {
    let yaml = format!("- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: info\n");
    let engine = crate::rules::Engine::from_sources(&[("t.yaml", &yaml)]);
    assert!(engine.report.diagnostics.is_empty(), "{condition}: {:?}", engine.report.diagnostics);
    engine.first_match(e).is_some()
}

#[test]
fn either_end_fields_match_either_end_and_differ_from_both() {
    let e = ev(); // 10.0.0.2:40000 -> 1.2.3.4:4444
    assert!(holds("fd.ip = 1.2.3.4", &e));
    assert!(holds("fd.ip = 10.0.0.2", &e));
    assert!(!holds("fd.ip != 10.0.0.2", &e));
    assert!(holds("fd.ip != 9.9.9.9", &e));
    assert!(holds("fd.net = \"10.0.0.0/8\"", &e));
    assert!(!holds("fd.net != \"10.0.0.0/8\"", &e));
    assert!(holds("fd.port in (4444, 53)", &e));
    assert!(holds("fd.sockfamily = ip", &e));
    assert!(!holds("fd.port = 80", &Event::default()));
}

#[test]
fn process_fields_from_the_table() {
    let mut e = ev();
    e.time = 10_000_000_000;
    e.proc.start_time = 4_000_000_000;
    e.proc.exe_ctime = 3_000_000_000;
    e.proc.env = vec!["HOME=/root".into(), "HTTP_PROXY=http://evil:3128".into()].into();
    e.proc.vpid = Some(1);
    e.proc.vpgid = 1;
    assert_eq!(get("proc.duration", None, &e).unwrap(), "6000000000");
    assert_eq!(get("proc.exe_ino.ctime_duration_proc_start", None, &e).unwrap(), "1000000000");
    assert_eq!(get("proc.env", Some("HTTP_PROXY"), &e).unwrap(), "http://evil:3128");
    assert_eq!(get("proc.env", Some("HOM"), &e), None);
    assert!(holds("proc.env icontains http_proxy", &e));
    assert!(holds("proc.vpid = 1 and proc.is_vpgid_leader = true", &e));
    e.proc.start_time = 0;
    assert_eq!(get("proc.duration", None, &e), None, "an unknown start has no duration");
    assert!(!holds("proc.duration <= 5000000000", &e));
}

#[test]
fn event_arguments_and_buffer() {
    let mut e = ev();
    assert!(holds("evt.args contains \"addr=1.2.3.4\"", &e));
    let f = resolve("evt.args", None).unwrap();
    let mut out = String::new();
    f.render(&e, &mut out);
    assert_eq!(out, "fd=3 addr=1.2.3.4");
    e.buffer = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0x41];
    assert!(holds("evt.buffer bcontains cafebabe", &e));
    assert!(!holds("evt.buffer bcontains cafebabf", &e));
    out.clear();
    resolve("evt.buffer", None).unwrap().render(&e, &mut out);
    assert_eq!(out, ".....A");
}

#[test]
fn container_mounts_and_start() {
    use crate::rules::event::Mount;
    let mut e = ev();
    let mount = |source: &str, dest: &str| Mount {
        source: source.into(),
        dest: dest.into(),
        mode: "rw".into(),
        ..Mount::default()
    };
    e.container = Some(Container {
        id: "c1".into(),
        start_ts: Some(7),
        mounts: vec![mount("/var/run/docker.sock", "/var/run/docker.sock"), mount("/srv", "/data")],
        ..Container::default()
    });
    assert_eq!(get("container.mount.dest", Some("/var/run/docker.sock"), &e).unwrap(), "/var/run/docker.sock");
    assert_eq!(get("container.mount.dest", Some("/proc*"), &e).unwrap(), "<NA>");
    assert!(holds("not container.mount.dest[/var/run/docker.sock] in (\"<NA>\",\"N/A\")", &e));
    assert!(!holds("not container.mount.dest[/proc*] in (\"<NA>\",\"N/A\")", &e));
    assert_eq!(get("container.start_ts", None, &e).unwrap(), "7");
    let mut out = String::new();
    resolve("container.mounts", None).unwrap().render(&e, &mut out);
    assert_eq!(out, "/var/run/docker.sock:/var/run/docker.sock:rw:true:,/srv:/data:rw:true:");
}

#[test]
fn address_names_come_from_the_resolved_names_rules_mention() {
    crate::rules::names::set_resolution(
        crate::rules::names::Resolution::Hosts,
        std::path::Path::new(crate::rules::names::HOSTS_FILE),
    );
    let mut e = ev();
    if let Some(fd) = e.fd.as_mut() {
        fd.rip = Some("127.0.0.1".parse().unwrap());
    }
    // Compiling the condition asks for the name; the lookup runs in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !holds("fd.sip.name = localhost", &e) {
        assert!(std::time::Instant::now() < deadline, "localhost was never resolved from /etc/hosts");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!holds("fd.cip.name = localhost", &e));
}
