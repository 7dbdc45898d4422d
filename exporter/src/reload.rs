//! Live reload of the rules: what changed is told by a fingerprint of the rules files (names and
//! contents, read through symlinks, so a Kubernetes ConfigMap's `..data` swap counts as a change).
//! The caller checks it on a short timer and on SIGHUP, compiles the whole new set, and only
//! swaps when it has no errors.

use std::{
    hash::{Hash, Hasher},
    path::Path,
};

/// The rules files of `dir` (`*.yaml`, `*.yml`), sorted.
fn rules_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Each rules file's name and the SHA-256 of its contents (`rules_file_info`), so a fleet can
/// tell which version of the rules each node runs.
pub fn file_digests(dir: &Path) -> Vec<(String, String)> {
    rules_files(dir)
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).ok()?;
            let name = path.file_name()?.to_string_lossy().into_owned();
            let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
            Some((name, digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()))
        })
        .collect()
}

/// Changes whenever a rules file is added, removed, renamed or edited.
pub fn fingerprint(dir: &Path) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in rules_files(dir) {
        file.hash(&mut hasher);
        match std::fs::read(&file) {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(e) => e.kind().hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// The rules' state as /metrics shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RulesStatus {
    pub loaded: usize,
    pub reloads_succeeded: u64,
    pub reloads_failed: u64,
    /// Unix time of the last successful load (the initial one included).
    pub last_success_unix: Option<f64>,
    /// The running rules' files and their SHA-256 (see [`file_digests`]).
    pub files: std::sync::Arc<[(String, String)]>,
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_name_each_rules_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "abc").unwrap();
        std::fs::write(dir.path().join("a.yml"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert_eq!(
            file_digests(dir.path()),
            [
                ("a.yml".to_owned(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned()),
                ("b.yaml".to_owned(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_owned()),
            ]
        );
    }

    #[test]
    fn fingerprint_sees_edits_additions_and_removals_only_of_rules_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "- list: x\n  items: [a]\n").unwrap();
        let first = fingerprint(dir.path());
        assert_eq!(fingerprint(dir.path()), first, "stable");
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert_eq!(fingerprint(dir.path()), first, "other files do not count");
        std::fs::write(dir.path().join("a.yaml"), "- list: x\n  items: [b]\n").unwrap();
        let edited = fingerprint(dir.path());
        assert_ne!(edited, first);
        std::fs::write(dir.path().join("b.yml"), "").unwrap();
        let added = fingerprint(dir.path());
        assert_ne!(added, edited);
        std::fs::remove_file(dir.path().join("b.yml")).unwrap();
        assert_eq!(fingerprint(dir.path()), edited);
    }
}
