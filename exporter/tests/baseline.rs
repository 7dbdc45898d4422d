//! The behaviour baseline end to end: real runc containers, the real exporter with short
//! learning windows, its state read through the control API and /metrics.
//!
//! Every container runs the same benign loop (an exec of cat writing a file, a connection
//! attempt to one port); files in a control directory bound into the container switch on new
//! behaviour: `exec` (an exec of ls), `write` (a new file written), `connect` (another port).

#[macro_use]
mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
    time::Duration,
};

use common::{
    attack::{attack_rootfs, Target},
    eventually, http_get, Exporter, Rootfs, RuncContainer, SHIPPED_RULES,
};
use exporter::baseline::store::file_name;

/// One exporter at a time: each evaluates every container event of the machine.
static SERIAL: Mutex<()> = Mutex::new(());

const WINDOWS: [&str; 4] = ["--baseline.learn", "10s", "--baseline.stable", "5s"];

const LOOP: &str = r#"
while [ ! -e /ctl/stop ]; do
  /bin/cat /etc/hostname > /tmp/out.log
  /bin/nc -w 1 127.0.0.1 8081 < /tmp/out.log 2> /tmp/nc.log
  [ -e /ctl/exec ] && /bin/ls /etc > /tmp/out.log
  [ -e /ctl/write ] && /bin/cat /etc/hostname > /tmp/new.log
  [ -e /ctl/connect ] && /bin/nc -w 1 127.0.0.1 9999 < /tmp/out.log 2> /tmp/nc.log
  /bin/usleep 200000
done
"#;

fn start_exporter(dir: &Path) -> Exporter {
    let dir = dir.to_str().expect("utf-8 temp dir");
    let mut args = vec!["--rules-dir", SHIPPED_RULES, "--baseline.dir", dir, "--alerts.rate", "0"];
    args.extend(WINDOWS);
    Exporter::start(&args)
}

/// A container of `target`'s image running [`LOOP`], with its control directory.
struct Looping {
    container: RuncContainer,
    control: tempfile::TempDir,
}

impl Looping {
    fn start(target: &Target, rootfs: &Rootfs) -> Looping {
        let control = tempfile::tempdir().expect("control dir");
        let container = target.container(rootfs, LOOP, &common::attack::Opts { writable: true, ..Default::default() });
        let config_path = container.bundle().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).expect("config.json")).expect("parse config.json");
        let mount = serde_json::json!({
            "destination": "/ctl", "type": "bind", "source": control.path(), "options": ["rbind", "rw"]
        });
        config["mounts"].as_array_mut().expect("mounts").push(mount);
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).expect("serialise")).expect("config.json");
        // Not `start_detached`: that waits for runc's output, which the looping process inherits.
        let log = control.path().join("runc.log");
        let status = Command::new("runc")
            .args(["run", "--detach", "--bundle"])
            .arg(container.bundle())
            .arg(&container.id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("runc log"))
            .status()
            .expect("runc run");
        let why = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "runc run {} failed: {why}", container.id);
        Looping { container, control }
    }

    fn switch_on(&self, behaviour: &str) {
        std::fs::write(self.control.path().join(behaviour), "").expect("control file");
    }
}

impl Drop for Looping {
    fn drop(&mut self) {
        self.switch_on("stop");
        self.container.wait_stopped(Duration::from_secs(10));
    }
}

/// Another container of `target`'s image.
fn replica(target: &Target) -> Target {
    Target { id: Target::new(&target.name).id, ..target.clone() }
}

/// The profile of `image` as the control API shows it.
fn profile(exporter: &Exporter, image: &str) -> Option<serde_json::Value> {
    let query = exporter::server::percent_encode(image);
    match http_get(exporter.port, &format!("/api/v1/baseline/profile?image={query}")) {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

fn state(exporter: &Exporter, image: &str) -> Option<String> {
    profile(exporter, image).and_then(|p| p["state"].as_str().map(str::to_owned))
}

fn wait_enforcing(exporter: &Exporter, image: &str) {
    assert!(
        eventually(Duration::from_secs(40), || state(exporter, image).as_deref() == Some("enforcing")),
        "{image} did not start enforcing: {:?}",
        profile(exporter, image)
    );
}

/// The baseline alerts of a container so far.
fn baseline_alerts(exporter: &Exporter, short_id: &str) -> Vec<serde_json::Value> {
    common::attack::alerts_of(exporter, short_id)
        .into_iter()
        .filter(|a| a["rule"].as_str().is_some_and(|r| r.starts_with("Baseline deviation: ")))
        .collect()
}

/// The baseline alerts of a container so far, as (rule, item).
fn deviations(exporter: &Exporter, short_id: &str) -> Vec<(String, String)> {
    baseline_alerts(exporter, short_id)
        .into_iter()
        .map(|a| {
            let rule = a["rule"].as_str().unwrap_or_default().to_owned();
            (rule, a["output_fields"]["baseline.item"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The sum of `tracewarden_baseline_deviations_total` for a kind and container.
fn deviation_count(exporter: &Exporter, kind: &str, short_id: &str) -> f64 {
    let needle = format!("kind=\"{kind}\",container_id=\"{short_id}\"");
    exporter
        .metrics()
        .lines()
        .filter(|l| l.starts_with("tracewarden_baseline_deviations_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn cli(exporter: &Exporter, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .arg("baseline")
        .args(args)
        .args(["--url", &format!("http://127.0.0.1:{}", exporter.port)])
        .output()
        .expect("run exporter baseline");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn learns_stays_quiet_on_the_same_behaviour_and_alerts_once_per_new_item() {
    kernel_test!(learns_stays_quiet_on_the_same_behaviour_and_alerts_once_per_new_item);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("baseline dir");
    let exporter = start_exporter(dir.path());
    let rootfs = attack_rootfs();
    let first = Target::new("baseline-loop");
    let a = Looping::start(&first, &rootfs);
    assert!(
        eventually(Duration::from_secs(20), || state(&exporter, &first.image).as_deref() == Some("learning")),
        "the image never started learning"
    );
    wait_enforcing(&exporter, &first.image);
    let learned = profile(&exporter, &first.image).expect("profile");
    let execs: Vec<&str> =
        learned["learned"]["exec"].as_array().expect("execs").iter().filter_map(|v| v.as_str()).collect();
    assert!(
        execs.iter().any(|e| e.ends_with(" > /bin/cat")) && execs.iter().any(|e| e.ends_with(" > /bin/nc")),
        "{learned}"
    );
    assert!(learned["learned"]["write"].as_array().expect("writes").iter().any(|w| w == "/tmp/out.log"), "{learned}");
    assert!(
        learned["learned"]["connect"].as_array().expect("connects").iter().any(|c| c == "127.0.0.0/24:8081"),
        "{learned}"
    );
    assert!(learned["learned"]["syscall"].as_array().is_some_and(|s| !s.is_empty()), "{learned}");

    // The same loop, in the same container and in a new one of the image: quiet.
    let b_target = replica(&first);
    let b = Looping::start(&b_target, &rootfs);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        baseline_alerts(&exporter, first.short_id()),
        Vec::<serde_json::Value>::new(),
        "the learned loop alerted"
    );
    let quiet = baseline_alerts(&exporter, b_target.short_id());
    assert_eq!(quiet, Vec::<serde_json::Value>::new(), "a new container alerted; {}", learned["learned"]);

    for behaviour in ["exec", "write", "connect"] {
        a.switch_on(behaviour);
    }
    let short = first.short_id();
    let wanted = [
        ("Baseline deviation: exec", " > /bin/ls"),
        ("Baseline deviation: write", "/tmp/new.log"),
        ("Baseline deviation: connect", "127.0.0.0/24:9999"),
    ];
    let all_seen = || {
        let seen = deviations(&exporter, short);
        wanted.iter().all(|(rule, item)| seen.iter().any(|(r, i)| r == rule && i.ends_with(item)))
    };
    assert!(eventually(Duration::from_secs(15), all_seen), "{:?}", deviations(&exporter, short));
    // Repeats count, but never alert again.
    assert!(eventually(Duration::from_secs(10), || ["exec", "write", "connect"]
        .iter()
        .all(|kind| deviation_count(&exporter, kind, short) >= 3.0)));
    let seen = deviations(&exporter, short);
    for (rule, item) in wanted {
        let n = seen.iter().filter(|(r, i)| r == rule && i.ends_with(item)).count();
        assert_eq!(n, 1, "{rule} {item}: {seen:?}");
    }
    let text = exporter.metrics();
    // Other containers on the machine (other tests') have profiles of their own.
    let enforcing = common::sample(&text, "tracewarden_baseline_profiles", &[("state", "enforcing")]);
    assert!(enforcing.is_some_and(|n| n >= 1.0), "{text}");
    let execs = common::sample(&text, "tracewarden_baseline_items", &[("image", &first.image), ("kind", "exec")]);
    assert!(execs.is_some_and(|n| n >= 2.0), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("tracewarden_baseline") && l.contains("/tmp/")),
        "item values in labels"
    );
    drop((a, b));
}

#[test]
fn a_restart_reloads_profiles_and_states_and_images_learn_apart() {
    kernel_test!(a_restart_reloads_profiles_and_states_and_images_learn_apart);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("baseline dir");
    let rootfs = attack_rootfs();
    let first = Target::new("baseline-restart");
    let before = {
        let exporter = start_exporter(dir.path());
        let _a = Looping::start(&first, &rootfs);
        wait_enforcing(&exporter, &first.image);
        let (ok, out, err) = cli(&exporter, &["list"]);
        assert!(ok && out.contains(&first.image) && out.contains("enforcing"), "{out}{err}");
        profile(&exporter, &first.image).expect("profile")
    };
    assert!(dir.path().join(file_name(&first.image)).exists());
    // The learned profile as a rules file the project's own checker loads.
    let exporter_bin = env!("CARGO_BIN_EXE_exporter");
    let baseline_dir = dir.path().to_str().expect("utf-8 temp dir");
    let export = Command::new(exporter_bin)
        .args(["baseline", "export", &first.image, "--baseline.dir", baseline_dir])
        .output()
        .expect("baseline export");
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let rules = tempfile::tempdir().expect("rules dir");
    std::fs::write(rules.path().join("baseline.yaml"), &export.stdout).expect("write the exported rules");
    let check = Command::new(exporter_bin)
        .args(["rules", "check", "--rules-dir"])
        .arg(rules.path())
        .output()
        .expect("rules check");
    let text = String::from_utf8_lossy(&export.stdout);
    assert!(
        check.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(text.contains("- rule: Baseline exec outside profile (") && text.contains("/bin/cat"), "{text}");

    let exporter = start_exporter(dir.path());
    let after = profile(&exporter, &first.image).expect("the profile after a restart");
    assert_eq!(after["state"], "enforcing");
    assert_eq!(after["learned"], before["learned"]);

    // A second image learns on its own while the first enforces.
    let second = Target::new("baseline-second");
    let a_target = replica(&first);
    let a = Looping::start(&a_target, &rootfs);
    let b = Looping::start(&second, &rootfs);
    assert!(eventually(Duration::from_secs(20), || state(&exporter, &second.image).as_deref() == Some("learning")));
    a.switch_on("write");
    assert!(eventually(Duration::from_secs(15), || deviations(&exporter, a_target.short_id())
        .iter()
        .any(|(r, i)| r == "Baseline deviation: write" && i == "/tmp/new.log")));
    wait_enforcing(&exporter, &second.image);
    assert_eq!(deviations(&exporter, second.short_id()), vec![], "the second image's own loop alerted");

    // reset and freeze through the CLI.
    let (ok, out, err) = cli(&exporter, &["reset", &second.image]);
    assert!(ok && out.contains("learning"), "{out}{err}");
    let (ok, out, err) = cli(&exporter, &["freeze", &second.image]);
    assert!(ok && out.contains("enforcing"), "{out}{err}");
    let (ok, _, err) = cli(&exporter, &["show", "registry.test/nope:1"]);
    assert!(!ok && err.contains("no profile for image 'registry.test/nope:1'"), "{err}");
    drop((a, b));
}

#[test]
fn a_broken_profile_is_named_and_relearned() {
    kernel_test!(a_broken_profile_is_named_and_relearned);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("baseline dir");
    let target = Target::new("baseline-broken");
    let file: PathBuf = dir.path().join(file_name(&target.image));
    std::fs::write(&file, "{\"schema\": 1, \"image\": oops}\n").expect("write a broken profile");
    let exporter = start_exporter(dir.path());
    let error =
        exporter.stderr_lines().into_iter().find(|l| l.contains("ERROR") && l.contains(&file.display().to_string()));
    let error = error.unwrap_or_else(|| panic!("no error naming {}: {:?}", file.display(), exporter.stderr_lines()));
    assert!(error.contains("line 1 column") && error.contains("learns again"), "{error}");
    assert!(file.with_extension("json.corrupt").exists());
    let rootfs = attack_rootfs();
    let _a = Looping::start(&target, &rootfs);
    wait_enforcing(&exporter, &target.image);
    assert!(file.exists(), "relearned and written again");
}

#[test]
fn several_containers_of_one_image_share_a_profile() {
    kernel_test!(several_containers_of_one_image_share_a_profile);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("baseline dir");
    let exporter = start_exporter(dir.path());
    let rootfs = attack_rootfs();
    let target = Target::new("baseline-many");
    let replicas: Vec<(Target, Looping)> = (0..3)
        .map(|_| {
            let replica = replica(&target);
            let looping = Looping::start(&replica, &rootfs);
            (replica, looping)
        })
        .collect();
    wait_enforcing(&exporter, &target.image);
    let list: serde_json::Value =
        serde_json::from_str(&http_get(exporter.port, "/api/v1/baseline/profiles").expect("list").1).expect("json");
    assert_eq!(list.as_array().map(|l| l.iter().filter(|p| p["image"] == target.image.as_str()).count()), Some(1));
    for (_, looping) in &replicas {
        looping.switch_on("write");
    }
    let alerted = |r: &Target| {
        deviations(&exporter, r.short_id()).iter().filter(|(rule, _)| rule == "Baseline deviation: write").count()
    };
    assert!(eventually(Duration::from_secs(15), || replicas.iter().all(|(r, _)| deviation_count(
        &exporter,
        "write",
        r.short_id()
    ) >= 1.0)));
    std::thread::sleep(Duration::from_secs(2));
    let total: usize = replicas.iter().map(|(r, _)| alerted(r)).sum();
    assert_eq!(total, 1, "one alert for the image's new item, whichever container did it first");
}
