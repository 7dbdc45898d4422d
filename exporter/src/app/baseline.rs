//! The behaviour baseline in the running exporter: the loop that feeds it the containers'
//! syscall sets and advances its profiles, and the control API `exporter baseline` talks to.
//!
//! ```text
//! GET  /api/v1/baseline/profiles              every profile: image, state, items per kind
//! GET  /api/v1/baseline/profile?image=IMAGE   one profile, as its file holds it
//! POST /api/v1/baseline/reset?image=IMAGE     forget it and learn again
//! POST /api/v1/baseline/freeze?image=IMAGE    end its learning now
//! ```
//!
//! The API is served behind the same `--web.config.file` TLS and basic auth as /metrics.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use super::Shared;
use crate::{
    baseline::{unix_now, Baseline},
    server::{query_value, ApiRequest, ApiResponse},
    syscalls::SyscallNames,
};

/// How often syscall sets are read and learning windows checked.
pub const BASELINE_INTERVAL: Duration = Duration::from_secs(1);

/// Reads each container's syscall set into the baseline, alerts on new deviations, moves
/// profiles whose window passed to enforcing and writes changed profiles.
pub async fn baseline_loop(shared: Arc<Shared>, baseline: Arc<Mutex<Baseline>>, names: SyscallNames) {
    let mut tick = tokio::time::interval(BASELINE_INTERVAL);
    loop {
        tick.tick().await;
        let (shared, baseline, names) = (shared.clone(), baseline.clone(), names.clone());
        let result = tokio::task::spawn_blocking(move || {
            // The collector is released before the baseline is taken (it is a leaf lock).
            let live = match shared.collector.lock() {
                Ok(mut c) => c.container_syscalls().map_err(|e| e.to_string())?,
                Err(_) => return Err("collector poisoned".to_owned()),
            };
            let named: Vec<_> =
                live.iter().map(|(c, nrs)| (c.clone(), nrs.iter().map(|&nr| names.name(nr)).collect())).collect();
            let mut baseline = baseline.lock().map_err(|_| "baseline poisoned".to_owned())?;
            let now = unix_now();
            let alerts = baseline.observe_syscalls(&named, now);
            baseline.advance(now);
            drop(baseline);
            if let Some(dispatcher) = &shared.alerts {
                for alert in &alerts {
                    dispatcher.submit(alert);
                }
            }
            Ok(())
        })
        .await;
        if let Ok(Err(e)) | Err(e) = result.map_err(|e| e.to_string()) {
            tracing::warn!(error = %e, "baseline update failed");
        }
    }
}

/// Answers one control API request.
pub fn answer(baseline: Option<&Mutex<Baseline>>, request: &ApiRequest) -> ApiResponse {
    let Some(route) = request.path.strip_prefix("/api/v1/baseline/") else {
        return ApiResponse::error(404, "not found: see /");
    };
    let Some(baseline) = baseline else {
        return ApiResponse::error(404, "the baseline is off: start the exporter with --baseline.dir");
    };
    let Ok(mut baseline) = baseline.lock() else {
        return ApiResponse::error(500, "baseline poisoned");
    };
    let image = query_value(&request.query, "image");
    match (route, request.post, image) {
        ("profiles", false, _) => ApiResponse::json(&baseline.list()),
        ("profile", false, Some(image)) => match baseline.show(&image) {
            Some(profile) => ApiResponse::json(profile),
            None => unknown(&image),
        },
        ("reset" | "freeze", true, Some(image)) => {
            let now = unix_now();
            let done = if route == "reset" { baseline.reset(&image, now) } else { baseline.freeze(&image, now) };
            match (done, baseline.show(&image)) {
                (true, Some(profile)) => ApiResponse::json(profile),
                _ => unknown(&image),
            }
        }
        ("profile" | "reset" | "freeze", _, None) => ApiResponse::error(400, "missing ?image=IMAGE"),
        ("reset" | "freeze", false, _) | ("profiles" | "profile", true, _) => {
            ApiResponse::error(405, "GET reads (profiles, profile), POST changes (reset, freeze)")
        }
        _ => ApiResponse::error(404, "not found: profiles, profile, reset, freeze"),
    }
}

fn unknown(image: &str) -> ApiResponse {
    ApiResponse::error(404, &format!("no profile for image '{image}' (see `exporter baseline list`)"))
}
