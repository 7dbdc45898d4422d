//! The exporter's loops: naming new cgroups, refreshing containers, reloading rules, and
//! waiting for a shutdown signal.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::io::unix::AsyncFd;

use super::{reload, rules_watch, Shared, REFRESH_INTERVAL};
use crate::{kernel::NewCgroups, syscalls::SyscallNames};

/// Names new cgroups while they exist and frees the kernel slots of vanished ones.
pub async fn refresh_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(REFRESH_INTERVAL);
    loop {
        tick.tick().await;
        let shared = shared.clone();
        let result = tokio::task::spawn_blocking(move || match shared.collector.lock() {
            Ok(mut c) => c.refresh(Instant::now()).map_err(|e| e.to_string()),
            Err(_) => Err("collector poisoned".to_owned()),
        })
        .await;
        if let Ok(Err(e)) | Err(e) = result.map_err(|e| e.to_string()) {
            tracing::warn!(error = %e, "refreshing containers failed");
        }
    }
}

/// Names each cgroup as soon as the kernel gives it a slot (a container may live for
/// milliseconds). While a runtime has not yet written a container's state, retries with a
/// backoff from 2 ms to 100 ms: the state usually appears within milliseconds.
pub async fn new_cgroup_loop(shared: Arc<Shared>, mut notices: AsyncFd<NewCgroups>) {
    const FIRST_RETRY: Duration = Duration::from_millis(2);
    const LAST_RETRY: Duration = Duration::from_millis(100);
    let mut retry = FIRST_RETRY;
    loop {
        let provisional = shared.collector.lock().map(|c| c.has_provisional()).unwrap_or(false);
        if !provisional {
            retry = FIRST_RETRY;
        }
        let ids = tokio::select! {
            ready = notices.readable_mut() => match ready {
                Ok(mut guard) => {
                    let mut ids = Vec::new();
                    guard.get_inner_mut().drain(|id| ids.push(*id));
                    guard.clear_ready();
                    ids
                }
                Err(e) => {
                    tracing::error!(error = %e, "polling new-cgroup notices failed; the periodic refresh still names cgroups");
                    return;
                }
            },
            () = tokio::time::sleep(retry), if provisional => {
                retry = (retry * 2).min(LAST_RETRY);
                Vec::new()
            }
        };
        let shared = shared.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            if let Ok(mut c) = shared.collector.lock() {
                c.resolve_new(ids, Instant::now());
            }
        })
        .await;
        if let Err(e) = resolved {
            tracing::warn!(error = %e, "resolving new cgroups failed");
        }
    }
}

/// How often the rules files are compared when inotify watches them (a fallback for what it
/// cannot see), and when it cannot.
const RULES_FALLBACK_POLL: Duration = Duration::from_secs(10);
const RULES_POLL_UNWATCHED: Duration = Duration::from_millis(500);
/// A change is several events (a ConfigMap update: new directory, symlink, rename, removal):
/// the loop looks once they have settled.
const RULES_SETTLE: Duration = Duration::from_millis(50);

/// Reloads the rules when their files change (told by inotify, checked by their fingerprint;
/// see `rules_watch`) or on SIGHUP (always). `loaded` is the fingerprint of the files the
/// running rules came from, taken before they were read; the first look is at once, so a change
/// made before the watch began is not missed.
pub async fn reload_loop(shared: Arc<Shared>, dir: PathBuf, loaded: u64, names: SyscallNames) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => Some(hangup),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: rules reload on file changes only");
            None
        }
    };
    let changed = Arc::new(tokio::sync::Notify::new());
    let watcher = rules_watch::watch(&dir, changed.clone());
    let mut tick = tokio::time::interval(if watcher.is_some() { RULES_FALLBACK_POLL } else { RULES_POLL_UNWATCHED });
    let mut last = loaded;
    let names = Arc::new(names);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            () = changed.notified() => {
                tokio::time::sleep(RULES_SETTLE).await;
                false
            }
            Some(()) = async { hangup.as_mut()?.recv().await } => true,
        };
        let current = reload::fingerprint(&dir);
        if current == last && !forced {
            continue;
        }
        last = current;
        let (shared, dir, names) = (shared.clone(), dir.clone(), names.clone());
        if let Err(e) = tokio::task::spawn_blocking(move || reload::reload_rules(&shared, &dir, &names)).await {
            tracing::error!(error = %e, "rules reload task failed");
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
