//! Sigma front end: any text as one Sigma rule file must give a rule, an unsupported rule or
//! diagnostics, never a panic; a rule that compiles is evaluated on an event of each category.
//! Run: `cargo +nightly fuzz run sigma` (in exporter/).
#![no_main]

use exporter::rules::{ir::RuleSet, sigma, yaml, Engine, Event};
use libfuzzer_sys::fuzz_target;

/// An exec, a file created and a connection: one event of each log source.
const EVENTS: [&str; 3] = [
    r#"{"type":"execve","res":0,"proc":{"pid":2,"ppid":1,"name":"cat","exepath":"/bin/cat","cmdline":"cat /etc/shadow",
    "cwd":"/","ancestors":[{"pid":1,"name":"sh","exepath":"/bin/sh","cmdline":"sh"}]},"user":{"uid":0,"name":"root"}}"#,
    r#"{"type":"openat","res":3,"args":{"name":"/etc/cron.d/x","flags":"O_WRONLY|O_CREAT"},"proc":{"name":"sh"},
    "fd":{"type":"file","name":"/etc/cron.d/x"}}"#,
    r#"{"type":"connect","res":0,"proc":{"name":"nc"},"fd":{"type":"ipv4","l4proto":"tcp","lip":"10.0.0.1",
    "lport":40000,"rip":"198.51.100.7","rport":4444,"role":"client"}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Straight to the Sigma front end, whatever the text looks like.
    let Ok(docs) = yaml::parse(text) else { return };
    let mut set = RuleSet::default();
    sigma::compile_file("fuzz.yml", &docs, &mut set);
    let engine = Engine::from_rule_set(set);
    for d in &engine.diagnostics {
        let _ = d.to_string();
    }
    for (i, _) in engine.rules().iter().enumerate() {
        let _ = engine.kernel_filter(i);
    }
    let mut hits = Vec::new();
    for json in EVENTS {
        let Ok(mut ev) = Event::from_json(json) else { return };
        ev.normalize();
        hits.clear();
        engine.evaluate(&ev, &mut hits);
        for &h in &hits {
            let _ = engine.alert(h as usize, &ev);
        }
    }
});
