//! Wakes a loop when a directory changes, through inotify (the `notify` crate): the rules
//! directory (a file written, added, removed or renamed in it, and a Kubernetes ConfigMap's
//! update, which swaps the `..data` symlink by a rename there) and the container runtimes'
//! state directories (a container's `state.json` written). What inotify cannot see (a
//! symlinked rules file edited in another directory) is left to the loops' slower polls.

use std::{path::Path, sync::Arc};

use notify::{RecursiveMode, Watcher as _};

/// Watches `dir` (and its subdirectories with `recursive`) and wakes `changed` on every event
/// there; the watcher stops when dropped. None (logged) when it cannot be watched.
pub fn watch(dir: &Path, recursive: bool, changed: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
    let wake = move |event: notify::Result<notify::Event>| {
        if let Err(e) = event {
            // An overflowed queue or a failed read: look anyway.
            tracing::debug!(error = %e, "directory watch event error");
        }
        changed.notify_one();
    };
    let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    let watched = notify::recommended_watcher(wake).and_then(|mut watcher| {
        watcher.watch(dir, mode)?;
        Ok(watcher)
    });
    match watched {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the directory: polling it instead");
            None
        }
    }
}
