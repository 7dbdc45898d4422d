//! Rules-file loader: any bytes must load into rules and diagnostics, never a panic.
//! Run: `cargo +nightly fuzz run loader` (in exporter/).
#![no_main]

use exporter::rules::lint::lint;
use exporter::rules::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Split into two files at a NUL, to exercise override/append across files.
    let (a, b) = text.split_once('\0').unwrap_or((text, ""));
    let engine = Engine::from_sources(&[("a.yaml", a), ("b.yaml", b)]);
    for d in engine.diagnostics.iter().chain(lint(&engine).iter()) {
        let _ = d.to_string();
    }
    for (i, _) in engine.rules().iter().enumerate() {
        let _ = engine.kernel_filter(i);
    }
});
