//! The running exporter's shared state and its loops: what the server, the timers and the
//! detection thread share ([`Shared`]), the loops that keep containers named and the rules
//! current ([`loops`]), and the one place that swaps a rule set ([`reload`]).
//!
//! Lock order, everywhere: the detector, then the collector. A scrape releases the detector
//! before it takes the collector, and a reload holds the detector while the kernel switches.

pub mod baseline;
pub mod collector;
pub mod loops;
pub mod reload;
pub mod rules_watch;

use std::sync::{Arc, Mutex};

pub use collector::{Collector, REFRESH_INTERVAL};

use crate::{
    alerts::Dispatcher,
    baseline::Baseline,
    detect::Detector,
    metrics::{
        write_alert_stats, write_baseline_stats, write_connection_stats, write_kernel_kills, write_record_stats,
        write_response_stats, RulesStatus,
    },
    response::{Containers, Lookup, Responder},
    server::{connections::ConnectionStats, ApiRequest, ApiResponse, MetricsSource},
};

/// What the server, the timers and the detection thread share.
pub struct Shared {
    pub collector: Arc<Mutex<Collector>>,
    pub detector: Option<Arc<Mutex<Detector>>>,
    pub alerts: Option<Arc<Dispatcher>>,
    pub responder: Option<Arc<Responder>>,
    /// `--baseline.dir`; a leaf lock, taken after the detector or the collector is released.
    pub baseline: Option<Arc<Mutex<Baseline>>>,
}

/// The response API's view of the containers: the collector's resolver.
pub struct ResolvedContainers(pub Arc<Mutex<Collector>>);

impl Containers for ResolvedContainers {
    fn find(&self, container_id: &str) -> Lookup {
        self.0.lock().map(|c| c.find_container(container_id)).unwrap_or(Lookup::Unknown)
    }
}

impl MetricsSource for Shared {
    fn render(&self, connections: &ConnectionStats) -> Result<String, String> {
        let (rules, progress, recorded) = match &self.detector {
            Some(detector) => {
                let detector = detector.lock().map_err(|_| "detector poisoned".to_owned())?;
                (detector.rules_status(), Some(detector.progress()), detector.record_stats())
            }
            None => (RulesStatus::default(), None, None),
        };
        let (mut text, kills) = {
            let mut collector = self.collector.lock().map_err(|_| "collector poisoned".to_owned())?;
            let text = collector.scrape(rules, progress).map_err(|e| e.to_string())?;
            (text, collector.kernel_kills().map_err(|e| e.to_string())?)
        };
        let kills: Vec<(&str, &str, u64)> = kills.iter().map(|(rule, n)| (&*rule.name, rule.priority, *n)).collect();
        write_kernel_kills(&mut text, &kills);
        if let Some(alerts) = &self.alerts {
            write_alert_stats(&mut text, &alerts.stats());
        }
        if let Some(stats) = recorded {
            write_record_stats(&mut text, &stats);
        }
        if let Some(responder) = &self.responder {
            write_response_stats(&mut text, &responder.stats());
        }
        if let Some(baseline) = &self.baseline {
            let stats = baseline.lock().map_err(|_| "baseline poisoned".to_owned())?.stats();
            write_baseline_stats(&mut text, &stats);
        }
        write_connection_stats(&mut text, connections);
        Ok(text)
    }

    fn api(&self, request: &ApiRequest) -> ApiResponse {
        baseline::answer(self.baseline.as_deref(), request)
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
