//! The running exporter's shared state and its loops: what the server, the timers and the
//! detection thread share ([`Shared`]), the loops that keep containers named and the rules
//! current ([`loops`]), and the one place that swaps a rule set ([`reload`]).
//!
//! Lock order, everywhere: the detector, then the collector. A scrape releases the detector
//! before it takes the collector, and a reload holds the detector while the kernel switches.

pub mod collector;
pub mod loops;
pub mod reload;
pub mod rules_watch;

use std::sync::{Arc, Mutex};

pub use collector::{Collector, REFRESH_INTERVAL};

use crate::{
    alerts::Dispatcher,
    detect::Detector,
    metrics::{write_alert_stats, write_connection_stats, write_record_stats, RulesStatus},
    server::{connections::ConnectionStats, MetricsSource},
};

/// What the server, the timers and the detection thread share.
pub struct Shared {
    pub collector: Mutex<Collector>,
    pub detector: Option<Arc<Mutex<Detector>>>,
    pub alerts: Option<Arc<Dispatcher>>,
}

impl MetricsSource for Shared {
    fn render(&self, connections: &ConnectionStats) -> Result<String, String> {
        let (rules, evaluated, recorded) = match &self.detector {
            Some(detector) => {
                let detector = detector.lock().map_err(|_| "detector poisoned".to_owned())?;
                (detector.rules_status(), Some(detector.evaluated()), detector.record_stats())
            }
            None => (RulesStatus::default(), None, None),
        };
        let mut text = {
            let mut collector = self.collector.lock().map_err(|_| "collector poisoned".to_owned())?;
            collector.scrape(rules, evaluated).map_err(|e| e.to_string())?
        };
        if let Some(alerts) = &self.alerts {
            write_alert_stats(&mut text, &alerts.stats());
        }
        if let Some(stats) = recorded {
            write_record_stats(&mut text, &stats);
        }
        write_connection_stats(&mut text, connections);
        Ok(text)
    }
}

/// glibc gives each thread that allocates its own arena (up to 8 per core) and keeps each
/// arena's high-water mark; scrapes run on rotating blocking threads, so without a cap the
/// resident size grows with the thread count rather than with the work. Two arenas suffice.
pub fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only adjusts allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
