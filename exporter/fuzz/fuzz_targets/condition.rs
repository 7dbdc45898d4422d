//! Condition parser, compiler and evaluator: any text must give a rule or diagnostics, never a
//! panic. Run: `cargo +nightly fuzz run condition` (in exporter/).
#![no_main]

use exporter::rules::{falco::condition as parser, Engine, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cond) = std::str::from_utf8(data) else { return };
    let _ = parser::parse(cond);
    // The same text as a rule condition (a literal block keeps it verbatim).
    let mut yaml = String::from(
        "- list: l\n  items: [a, /b]\n- macro: m\n  condition: proc.name = x\n- rule: r\n  desc: d\n  condition: |-\n",
    );
    for line in cond.lines() {
        yaml.push_str("    ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml.push_str("  output: '%proc.name %fd.name'\n  priority: info\n");
    let engine = Engine::from_sources(&[("fuzz.yaml", &yaml)]);
    for d in &engine.diagnostics {
        let _ = d.to_string();
    }
    let ev = Event::from_json(
        r#"{"type":"openat","args":{"name":"/etc/shadow","flags":"O_RDONLY"},"proc":{"name":"cat","args":["x"],
        "ancestors":[{"name":"bash"}]},"fd":{"type":"file","name":"/etc/shadow"},"container":{"id":"c"}}"#,
    )
    .unwrap();
    let mut hits = Vec::new();
    engine.evaluate(&ev, &mut hits);
    for &h in &hits {
        let _ = engine.alert(h as usize, &ev);
    }
});
