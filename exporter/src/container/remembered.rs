//! Runtime records read the moment a runtime wrote them (see `state_watch`), kept after the
//! runtime deletes them. A container that runs for milliseconds (a short job, a crash-looping
//! pod) has its state file for about as long: runc writes it just before the container's first
//! exec and deletes it as soon as the last process exits, often before its events are evaluated
//! or any periodic scan looked. The resolver adds these records to what it finds on disk.
//!
//! A remembered record still places its container only at the cgroup it named while it existed:
//! once that directory is gone or is another cgroup (a new inode, made after the record was
//! read), the record says nothing of it.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{runtime::RuntimeRecord, SETTLE_GRACE};

/// How long a record is kept after it was read: a new cgroup waits `SETTLE_GRACE` at most for
/// its record, and its first sight may come up to a refresh later than the record.
pub const REMEMBER_FOR: Duration = Duration::from_secs(2 * SETTLE_GRACE.as_secs());

/// Records kept at most (the oldest go first): a bound for a flood of short-lived containers.
pub const MAX_REMEMBERED: usize = 4096;

struct Remembered {
    record: RuntimeRecord,
    /// The inode of the record's cgroup directory when the record was read.
    cgroup_ino: Option<u64>,
    read_at: Instant,
}

/// Shared between the thread that reads state files as they are written and the resolver.
#[derive(Default)]
pub struct RememberedRecords {
    records: Mutex<HashMap<String, Remembered>>,
}

impl RememberedRecords {
    /// Keeps `record`, read at `now`, replacing an older record of the same container.
    pub fn remember(&self, record: RuntimeRecord, cgroup_root: &Path, now: Instant) {
        let cgroup_ino = record.cgroup_path.as_deref().and_then(|p| cgroup_ino(cgroup_root, p));
        let Ok(mut records) = self.records.lock() else { return };
        records.retain(|_, r| now.duration_since(r.read_at) < REMEMBER_FOR);
        if records.len() >= MAX_REMEMBERED && !records.contains_key(&record.id) {
            if let Some(oldest) = records.iter().min_by_key(|(_, r)| r.read_at).map(|(id, _)| id.clone()) {
                records.remove(&oldest);
            }
        }
        records.insert(record.id.clone(), Remembered { record, cgroup_ino, read_at: now });
    }

    /// The records read within `REMEMBER_FOR` of `now` whose cgroup is still the one they named
    /// (or is gone).
    pub fn placed(&self, cgroup_root: &Path, now: Instant) -> Vec<RuntimeRecord> {
        let Ok(records) = self.records.lock() else { return Vec::new() };
        records
            .values()
            .filter(|r| now.duration_since(r.read_at) < REMEMBER_FOR)
            .filter(|r| match r.record.cgroup_path.as_deref().map(|p| cgroup_ino(cgroup_root, p)) {
                Some(Some(now_ino)) => r.cgroup_ino == Some(now_ino),
                Some(None) | None => true,
            })
            .map(|r| r.record.clone())
            .collect()
    }
}

/// The inode of the cgroup directory at `path` (relative to `cgroup_root`), if it exists.
fn cgroup_ino(cgroup_root: &Path, path: &str) -> Option<u64> {
    std::fs::metadata(cgroup_root.join(path.trim_start_matches('/'))).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::runtime::ContainerMeta;

    fn record(id: &str, path: &str) -> RuntimeRecord {
        RuntimeRecord {
            id: id.into(),
            cgroup_path: Some(path.into()),
            meta: ContainerMeta { name: format!("name-of-{id}"), ..ContainerMeta::default() },
        }
    }

    fn ids(records: Vec<RuntimeRecord>) -> Vec<String> {
        let mut ids: Vec<String> = records.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_record_outlives_its_container_until_its_cgroup_is_another() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path();
        for dir in ["docker/a", "docker/gone"] {
            std::fs::create_dir_all(cg.join(dir)).unwrap();
        }
        let remembered = RememberedRecords::default();
        let t0 = Instant::now();
        for id in ["a", "gone", "never-made"] {
            remembered.remember(record(id, &format!("/docker/{id}")), cg, t0);
        }
        assert_eq!(ids(remembered.placed(cg, t0)), ["a", "gone", "never-made"]);
        // A new cgroup at a record's path is not the container the record was about (made
        // while the old one exists, so its inode differs); a gone one still has the record's word.
        std::fs::create_dir(cg.join("docker/new")).unwrap();
        std::fs::rename(cg.join("docker/new"), cg.join("docker/a")).unwrap();
        std::fs::remove_dir(cg.join("docker/gone")).unwrap();
        assert_eq!(ids(remembered.placed(cg, t0)), ["gone", "never-made"]);
        assert!(remembered.placed(cg, t0 + REMEMBER_FOR).is_empty(), "forgotten after REMEMBER_FOR");
    }

    #[test]
    fn the_oldest_record_goes_when_full() {
        let tmp = tempfile::tempdir().unwrap();
        let remembered = RememberedRecords::default();
        let t0 = Instant::now();
        for n in 0..=MAX_REMEMBERED {
            let id = format!("c{n}");
            remembered.remember(
                record(&id, &format!("/docker/{id}")),
                tmp.path(),
                t0 + Duration::from_micros(n as u64),
            );
        }
        let kept = remembered.placed(tmp.path(), t0 + Duration::from_secs(1));
        assert_eq!(kept.len(), MAX_REMEMBERED);
        assert!(!kept.iter().any(|r| r.id == "c0"), "the first one read went");
    }
}
