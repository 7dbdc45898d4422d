use super::*;
use crate::rules::{Engine, Event};

const IMAGE: &str = "registry.test/app:1";

fn learned() -> Profile {
    let mut p = Profile::new(IMAGE, IMAGE, 1_765_000_000);
    for (kind, item) in [
        (Kind::Exec, "/bin/busybox > /bin/cat"),
        (Kind::Exec, "/bin/busybox > /bin/sleep"),
        (Kind::Exec, "<entrypoint> > /bin/sh"),
        (Kind::Write, "/tmp/out.log"),
        (Kind::Write, "/tmp/tmp.*"),
        (Kind::Read, "/proc/self/status"),
        (Kind::Connect, "10.1.2.0/24:443"),
        (Kind::Connect, "[2001:db8::]/64:53"),
        (Kind::Connect, "unix /run/app.sock"),
        (Kind::Listen, "tcp:8080"),
        (Kind::Syscall, "read"),
    ] {
        p.observe(kind, item, 1_765_000_001);
    }
    p
}

fn event(json: &str) -> Event {
    let mut ev = Event::from_json(json).unwrap();
    ev.container = Some(crate::rules::Container { id: "abc".into(), image: IMAGE.into(), ..Default::default() });
    ev.normalize();
    ev
}

/// Names of the rules `json` matches.
fn matches(engine: &Engine, json: &str) -> Vec<String> {
    let mut out = Vec::new();
    engine.evaluate(&event(json), &mut out);
    out.iter().map(|&i| engine.rules()[i as usize].name.clone()).collect()
}

#[test]
fn exported_rules_load_and_allow_exactly_the_learned_set() {
    let text = rules_file(&learned(), "WARNING");
    let engine = Engine::from_sources(&[("baseline.yaml", &text)]);
    assert!(!engine.has_errors(), "{:?}\n{text}", engine.report.diagnostics);
    assert_eq!(engine.rules().iter().filter(|r| r.enabled).count(), 5, "{text}");
    let exec = |parent: &str, child: &str| {
        format!(
            r#"{{"type":"execve","res":0,"fd":{{"name":"/bin/busybox","nameraw":"{child}"}},"proc":{{"exepath":"/bin/busybox","ancestors":[{{"exepath":"{parent}"}}]}}}}"#
        )
    };
    assert!(matches(&engine, &exec("/bin/busybox", "/bin/cat")).is_empty());
    assert_eq!(
        matches(&engine, &exec("/bin/busybox", "/bin/nc")),
        [format!("Baseline exec outside profile ({IMAGE})")]
    );
    assert_eq!(matches(&engine, &exec("/usr/bin/env", "/bin/cat")).len(), 1, "another parent");
    let entrypoint = r#"{"type":"execve","res":0,"fd":{"name":"/bin/sh"},"proc":{"vpid":1,"ancestors":[{"exepath":"/usr/sbin/runc"}]}}"#;
    assert_eq!(matches(&engine, entrypoint), Vec::<String>::new(), "{text}");
    assert_eq!(matches(&engine, &exec("/bin/busybox", "/bin/sh")).len(), 1, "/bin/sh only as the entrypoint");
    let open = |path: &str, flags: &str| {
        format!(r#"{{"type":"openat","res":3,"fd":{{"name":"{path}"}},"args":{{"flags":"{flags}"}}}}"#)
    };
    for allowed in ["/tmp/out.log", "/tmp/tmp.aB3dE9"] {
        assert!(matches(&engine, &open(allowed, "O_WRONLY|O_CREAT")).is_empty(), "{allowed}");
    }
    assert_eq!(matches(&engine, &open("/etc/passwd", "O_WRONLY")).len(), 1);
    assert!(matches(&engine, &open("/proc/4242/status", "O_RDONLY")).is_empty());
    assert_eq!(matches(&engine, &open("/proc/4242/environ", "O_RDONLY")).len(), 1);
    let connect = |ip: &str, port: u16| {
        format!(r#"{{"type":"connect","res":0,"fd":{{"type":"ipv4","rip":"{ip}","rport":{port}}}}}"#)
    };
    assert!(matches(&engine, &connect("10.1.2.9", 443)).is_empty());
    assert_eq!(matches(&engine, &connect("10.1.2.9", 4444)).len(), 1);
    assert_eq!(matches(&engine, &connect("10.1.3.9", 443)).len(), 1);
    let other_image = r#"{"type":"openat","res":3,"fd":{"name":"/etc/passwd"},"args":{"flags":"O_WRONLY"}}"#;
    let mut ev = event(other_image);
    ev.container.as_mut().unwrap().image = "other:1".into();
    let mut out = Vec::new();
    engine.evaluate(&ev, &mut out);
    assert!(out.is_empty(), "another image's containers are not this profile's");
}
