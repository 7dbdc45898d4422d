//! Reads each runtime state file the moment the runtime writes it, on a thread of its own, and
//! keeps it (`remembered`): a container that exits at once has its state file for a few
//! milliseconds only (runc writes it by rename just before the first exec and deletes it with the
//! container), less than a resolver behind the evaluator, the scrapes and a retry backoff can
//! count on, and less still under CPU load. The thread does nothing but this, so it is woken
//! straight from the rename and holds no lock the other stages hold.
//!
//! inotify on every state root (`RuntimeSources::state_dirs`) and on the directories below it
//! down to `<root>/<namespace>/<id>` (containerd's layout): a new directory is watched when it
//! is created and then looked into, so a state file written between its creation and the watch
//! is read too. A root that does not exist yet is watched once it does (checked every
//! `ROOT_RETRY`).

use std::{
    collections::HashMap,
    ffi::OsString,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::{
    remembered::RememberedRecords,
    runtime::{read_state, RuntimeSources, STATE_FILE},
};

/// How often state roots that do not exist (yet) are looked for.
const ROOT_RETRY: Duration = Duration::from_secs(1);

/// Depth of the deepest watched directory below a root: `<root>/<namespace>/<id>`.
const DEEPEST: usize = 2;

/// Starts the thread that remembers every state file written under `sources`' state roots.
pub fn spawn(sources: RuntimeSources, cgroup_root: PathBuf, remembered: Arc<RememberedRecords>) -> std::io::Result<()> {
    let watcher = StateWatcher { inotify: Inotify::init()?, sources, cgroup_root, remembered, dirs: HashMap::new() };
    std::thread::Builder::new().name("runtime-states".into()).spawn(move || watcher.run())?;
    Ok(())
}

struct StateWatcher {
    inotify: Inotify,
    sources: RuntimeSources,
    cgroup_root: PathBuf,
    remembered: Arc<RememberedRecords>,
    /// Each watched directory and its depth below its state root (0: the root).
    dirs: HashMap<WatchDescriptor, (PathBuf, usize)>,
}

impl StateWatcher {
    fn run(mut self) {
        let mut buffer = vec![0u8; 64 * 1024];
        self.watch_missing_roots();
        loop {
            let mut poll = libc::pollfd { fd: self.inotify.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, ROOT_RETRY.as_millis() as libc::c_int) };
            if ready == 0 {
                self.watch_missing_roots();
                continue;
            }
            let events: Vec<(WatchDescriptor, EventMask, Option<OsString>)> = match self
                .inotify
                .read_events(&mut buffer)
            {
                Ok(events) => events.map(|e| (e.wd, e.mask, e.name.map(|n| n.to_owned()))).collect(),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading runtime state events failed; containers are named by scans only");
                    return;
                }
            };
            for (wd, mask, name) in events {
                self.handle(wd, mask, name);
            }
        }
    }

    fn handle(&mut self, wd: WatchDescriptor, mask: EventMask, name: Option<OsString>) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            tracing::debug!("runtime state events overflowed; looking at every state root again");
            let roots: Vec<PathBuf> = self.dirs.values().filter(|(_, d)| *d == 0).map(|(p, _)| p.clone()).collect();
            roots.into_iter().for_each(|root| self.watch(root, 0));
            return;
        }
        if mask.contains(EventMask::IGNORED) {
            self.dirs.remove(&wd);
            return;
        }
        let (Some((dir, depth)), Some(name)) = (self.dirs.get(&wd).cloned(), name) else { return };
        let path = dir.join(name);
        if mask.contains(EventMask::ISDIR) {
            if depth < DEEPEST {
                self.watch(path, depth + 1);
            }
        } else if path.file_name().is_some_and(|n| n == STATE_FILE) {
            self.remember(&path);
        }
    }

    fn watch_missing_roots(&mut self) {
        let missing: Vec<PathBuf> = (self.sources.state_dirs.iter())
            .filter(|root| !self.dirs.values().any(|(p, d)| *d == 0 && p == *root))
            .cloned()
            .collect();
        missing.into_iter().for_each(|root| self.watch(root, 0));
    }

    /// Watches `dir`, then reads what it already holds: whatever is written after the watch is
    /// an event, whatever was written before is found here.
    fn watch(&mut self, dir: PathBuf, depth: usize) {
        let mask = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE | WatchMask::ONLYDIR;
        match self.inotify.watches().add(&dir, mask) {
            Ok(wd) => {
                self.dirs.insert(wd, (dir.clone(), depth));
            }
            Err(e) => {
                // A root not made yet, or a container directory already deleted.
                tracing::trace!(dir = %dir.display(), error = %e, "runtime state directory not watched");
                return;
            }
        }
        if depth > 0 {
            self.remember(&dir.join(STATE_FILE));
        }
        if depth < DEEPEST {
            let Ok(children) = std::fs::read_dir(&dir) else { return };
            for child in children.flatten().filter(|c| c.file_type().is_ok_and(|t| t.is_dir())) {
                self.watch(child.path(), depth + 1);
            }
        }
    }

    fn remember(&self, state_file: &Path) {
        if let Some(record) = read_state(state_file, &self.sources, &self.cgroup_root) {
            tracing::trace!(container = %record.id, "runtime state read as written");
            self.remembered.remember(record, &self.cgroup_root, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> String {
        format!(
            r#"{{"id":"{id}","config":{{"labels":["io.kubernetes.cri.container-name=name-of-{id}"]}},"cgroup_paths":{{"":"/cg/docker/{id}"}}}}"#
        )
    }

    /// Writes a state file as runc does: a temporary file renamed into place.
    fn write_state(dir: &Path, id: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let temporary = dir.join("state-1234");
        std::fs::write(&temporary, state(id)).unwrap();
        std::fs::rename(&temporary, dir.join(STATE_FILE)).unwrap();
    }

    fn names(remembered: &RememberedRecords) -> Vec<String> {
        let mut names: Vec<String> =
            remembered.placed(Path::new("/cg"), Instant::now()).into_iter().map(|r| r.meta.name).collect();
        names.sort();
        names
    }

    fn eventually(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn state_files_are_remembered_as_written_and_after_they_are_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let (runc, containerd, later) =
            (tmp.path().join("runc"), tmp.path().join("containerd"), tmp.path().join("crun"));
        // Present before the watch starts: found by looking.
        write_state(&runc.join("before"), "before");
        std::fs::create_dir_all(&containerd).unwrap();
        let sources = RuntimeSources {
            state_dirs: vec![runc.clone(), containerd.clone(), later.clone()],
            docker_containers: tmp.path().join("none"),
            host_capabilities: u64::MAX,
        };
        let remembered = Arc::new(RememberedRecords::default());
        spawn(sources, PathBuf::from("/cg"), remembered.clone()).unwrap();
        assert!(eventually(|| names(&remembered) == ["name-of-before"]), "{:?}", names(&remembered));
        // Written later, in runc's and in containerd's nested layout, then deleted with their
        // containers; and in a root that did not exist when the watch started.
        write_state(&runc.join("runc1"), "runc1");
        write_state(&containerd.join("k8s.io/ctrd1"), "ctrd1");
        write_state(&later.join("crun1"), "crun1");
        let all = ["name-of-before", "name-of-crun1", "name-of-ctrd1", "name-of-runc1"];
        assert!(eventually(|| names(&remembered) == all), "{:?}", names(&remembered));
        std::fs::remove_dir_all(&runc).unwrap();
        std::fs::remove_dir_all(&containerd).unwrap();
        assert_eq!(names(&remembered), all, "kept after the runtime deleted them");
    }
}
