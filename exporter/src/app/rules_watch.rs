//! Wakes the reload loop when the rules directory changes, through inotify (the `notify`
//! crate) on the directory itself: a file written, added, removed or renamed in it, and a
//! Kubernetes ConfigMap's update, which swaps the `..data` symlink by a rename in the directory.
//! A change inotify cannot see (a symlinked file edited in another directory) is caught by the
//! reload loop's slower fingerprint poll.

use std::{path::Path, sync::Arc};

use notify::{RecursiveMode, Watcher as _};

/// Watches `dir` and wakes `changed` on every event in it; the watcher stops when dropped.
/// None (logged) when inotify is not available: the reload loop then polls often.
pub fn watch(dir: &Path, changed: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
    let wake = move |event: notify::Result<notify::Event>| match event {
        Ok(_) => changed.notify_one(),
        // An overflowed queue or a failed read: look anyway, the fingerprint tells.
        Err(e) => {
            tracing::debug!(error = %e, "rules watch event error");
            changed.notify_one();
        }
    };
    let watched = notify::recommended_watcher(wake).and_then(|mut watcher| {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    });
    match watched {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the rules directory: polling it every 500 ms instead");
            None
        }
    }
}
