use super::*;
use crate::{
    container::runtime::ContainerMeta,
    rules::{ArgValue, Fd},
};

fn config(dir: &std::path::Path) -> Config {
    Config {
        dir: dir.to_owned(),
        windows: Windows { learn_secs: 100, stable_secs: 10 },
        read_prefixes: vec!["/etc/".into()],
        priority: Priority::Warning,
    }
}

fn container(id: &str, image: &str) -> Arc<Container> {
    let meta = ContainerMeta { name: format!("name-{id}"), image: image.into(), ..Default::default() };
    Arc::new(Container { id: id.into(), meta })
}

fn write(path: &str) -> Event {
    let mut ev = Event { evt_type: "openat".into(), res: 3, ..Event::default() };
    ev.fd = Some(Fd { name: path.into(), ..Fd::default() });
    ev.args.0.push(("flags".into(), ArgValue::Str("O_WRONLY|O_CREAT".into())));
    ev
}

#[test]
fn learns_enforces_and_alerts_once_per_item() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baseline::open(config(dir.path())).unwrap();
    let (one, two) = (container("c1", "app:1"), container("c2", "app:1"));
    assert!(b.observe_event(&write("/tmp/a"), &one, 1000).is_none());
    b.advance(1005);
    assert_eq!(b.list()[0].state, "learning");
    b.advance(1010);
    assert_eq!(b.list()[0].state, "enforcing");
    assert!(b.observe_event(&write("/tmp/a"), &two, 1011).is_none(), "another container of the image");
    let alert = b.observe_event(&write("/tmp/b"), &two, 1012).expect("a new written path alerts");
    assert_eq!((alert.rule.as_str(), alert.priority.as_str()), ("Baseline deviation: write", "warning"));
    assert_eq!((alert.container_id.as_str(), alert.image.as_str()), ("c2", "app:1"));
    assert_eq!(alert.output_fields["baseline.item"], "/tmp/b");
    assert!(b.observe_event(&write("/tmp/b"), &one, 1013).is_none(), "alerted once per image and item");
    let deviations: Vec<(Kind, String, u64)> =
        b.stats().deviations.iter().map(|(k, c, n)| (*k, c.id.clone(), *n)).collect();
    assert_eq!(deviations.len(), 2, "{deviations:?}");
    assert!(deviations.contains(&(Kind::Write, "c2".into(), 1)) && deviations.contains(&(Kind::Write, "c1".into(), 1)));
}

#[test]
fn host_and_unnamed_images_are_not_profiled() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baseline::open(config(dir.path())).unwrap();
    b.observe_event(&write("/tmp/a"), &Arc::new(Container::labelled(Container::HOST_ID)), 1000);
    b.observe_event(&write("/tmp/a"), &container("c1", ""), 1000);
    assert!(b.list().is_empty());
}

#[test]
fn the_digest_is_the_key_when_the_runtime_records_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baseline::open(config(dir.path())).unwrap();
    let meta = ContainerMeta { image: "app:1".into(), image_digest: "sha256:abc".into(), ..Default::default() };
    b.observe_event(&write("/tmp/a"), &Arc::new(Container { id: "c1".into(), meta }), 1000);
    assert_eq!(b.show("sha256:abc").map(|p| p.reference.as_str()), Some("app:1"));
}

#[test]
fn profiles_and_states_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baseline::open(config(dir.path())).unwrap();
    b.observe_event(&write("/tmp/a"), &container("c1", "app:1"), 1000);
    b.observe_event(&write("/tmp/a"), &container("c9", "other:2"), 1000);
    b.advance(1001);
    assert!(b.freeze("app:1", 1002));
    assert!(!b.freeze("nope", 1002));
    let restarted = Baseline::open(config(dir.path())).unwrap();
    assert_eq!(restarted.list(), b.list());
    assert_eq!(restarted.show("app:1").map(|p| p.state), Some(State::Enforcing));
    assert_eq!(restarted.show("other:2").map(|p| p.state), Some(State::Learning));
}

#[test]
fn syscall_sets_learn_and_prune_gone_containers() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Baseline::open(config(dir.path())).unwrap();
    let c1 = container("c1", "app:1");
    assert!(b.observe_syscalls(&[(c1.clone(), vec!["read", "write"])], 1000).is_empty());
    assert!(b.freeze("app:1", 1001));
    let alerts = b.observe_syscalls(&[(c1.clone(), vec!["read", "ptrace"])], 1002);
    assert_eq!(alerts.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(), ["Baseline deviation: syscall"]);
    assert!(b.observe_syscalls(&[(c1.clone(), vec!["ptrace"])], 1003).is_empty());
    assert_eq!(b.stats().deviations.len(), 1);
    // A container first seen while enforcing: what it started with is its runtime's start-up.
    let c2 = container("c2", "app:1");
    assert!(b.observe_syscalls(&[(c2.clone(), vec!["read", "sched_yield"])], 1003).is_empty());
    let alerts = b.observe_syscalls(&[(c2.clone(), vec!["read", "sched_yield", "mount"])], 1004);
    assert_eq!(alerts.iter().map(|a| a.output_fields["baseline.item"].as_str()).collect::<Vec<_>>(), [Some("mount")]);
    b.observe_syscalls(&[], 1004);
    assert!(b.stats().deviations.is_empty(), "a gone container's counters go with it");
    assert!(b.reset("app:1", 1005));
    assert_eq!(b.show("app:1").map(|p| (p.state, p.learned.len())), Some((State::Learning, 0)));
}
