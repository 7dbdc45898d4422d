//! Helpers for the alert-output tests.

use std::time::{Duration, Instant};

use exporter::alerts::Dispatcher;

/// Polls `check` every 5 ms until it holds; fails the test after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// (sent, failed, dropped) of one output.
pub fn counts(dispatcher: &Dispatcher, output: &str) -> (u64, u64, u64) {
    let stats = dispatcher.stats();
    let o = stats.output(output).unwrap_or_else(|| panic!("no output {output}"));
    (o.sent, o.failed, o.dropped)
}
