//! Profiles on disk: one pretty-printed JSON file per image in `--baseline.dir`, written
//! atomically (a temporary file in the same directory, synced, then renamed over the old one),
//! so a crash leaves the old file or the new one, never half of either.
//!
//! A file that does not parse, or has another schema version, is refused with one line naming
//! it and the cause, and moved aside to `<file>.corrupt` (kept for review); its image learns
//! again from scratch.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;

use super::profile::{Profile, SCHEMA_VERSION};

/// Suffix of profile files.
const EXTENSION: &str = "json";
/// Longest readable part of a file name (the hash keeps it unique).
const MAX_NAME: usize = 100;

/// The file name of `image`'s profile: the image with every character but letters, digits,
/// `.`, `-` and `_` as `_`, then the first 8 bytes of its SHA-256 (so two images that spell the
/// same way, `a/b:1` and `a_b_1`, stay apart).
pub fn file_name(image: &str) -> String {
    let readable: String = image
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(MAX_NAME)
        .collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, image.as_bytes());
    let hash: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}.{EXTENSION}", readable.trim_start_matches('.'))
}

/// Writes `profile` to its file in `dir`, atomically.
pub fn save(dir: &Path, profile: &Profile) -> anyhow::Result<PathBuf> {
    let path = dir.join(file_name(&profile.image));
    let mut text = serde_json::to_string_pretty(profile).context("serialising the profile")?;
    text.push('\n');
    let tmp = dir.join(format!(".{}.tmp", file_name(&profile.image)));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().with_context(|| format!("writing baseline profile {}", path.display()))?;
    Ok(path)
}

/// Parses one profile file's contents.
pub fn parse(text: &str) -> Result<Profile, String> {
    let profile: Profile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if profile.schema != SCHEMA_VERSION {
        return Err(format!("schema {} is not the supported {SCHEMA_VERSION}", profile.schema));
    }
    if profile.image.is_empty() {
        return Err("empty image".into());
    }
    Ok(profile)
}

/// Reads `path` as a profile; errors are one line naming the file, line and column.
pub fn load(path: &Path) -> anyhow::Result<Profile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("baseline profile {}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("baseline profile {}: {e}", path.display()))
}

/// Every profile in `dir` (created if missing). Each file that cannot be read is logged as an
/// error naming it and moved aside, and its image learns again.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Profile>> {
    std::fs::create_dir_all(dir).with_context(|| format!("--baseline.dir {}", dir.display()))?;
    let entries = std::fs::read_dir(dir).with_context(|| format!("--baseline.dir {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    let mut profiles = Vec::new();
    for path in paths {
        match load(&path) {
            Ok(profile) => profiles.push(profile),
            Err(e) => {
                let aside = path.with_extension(format!("{EXTENSION}.corrupt"));
                let moved = std::fs::rename(&path, &aside);
                tracing::error!(
                    "{e:#}; the image learns again (the file is kept as {}{})",
                    aside.display(),
                    moved.err().map(|e| format!(", but moving it failed: {e}")).unwrap_or_default()
                );
            }
        }
    }
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::item::Kind;

    #[test]
    fn file_names_are_safe_and_distinct() {
        let a = file_name("registry.test/app:1");
        assert!(a.starts_with("registry.test_app_1-") && a.ends_with(".json"), "{a}");
        assert_ne!(a, file_name("registry.test_app_1"));
        assert!(!file_name("../../etc/passwd").contains('/'));
        assert!(!file_name("..").starts_with('.'));
        assert!(file_name(&"x".repeat(1000)).len() < 130);
    }

    #[test]
    fn round_trip_sorted_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Profile::new("registry.test/app:1", "registry.test/app:1", 1000);
        p.observe(Kind::Write, "/tmp/b", 1001);
        p.observe(Kind::Write, "/tmp/a", 1002);
        let path = save(dir.path(), &p).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.find("/tmp/a").unwrap() < text.find("/tmp/b").unwrap(), "{text}");
        assert!(text.contains("\"schema\": 1") && text.contains("\"state\": \"learning\""), "{text}");
        assert_eq!(load_dir(dir.path()).unwrap(), vec![p.clone()]);
        // Saved again: still one file, no temporary left.
        save(dir.path(), &p).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn broken_files_are_named_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let good = Profile::new("good", "good", 1);
        save(dir.path(), &good).unwrap();
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{\n  \"schema\": 1,\n  \"image\": \n").unwrap();
        let e = load(&broken).unwrap_err().to_string();
        assert!(e.starts_with(&format!("baseline profile {}: ", broken.display())) && e.contains("line 4"), "{e}");
        let future = serde_json::to_string(&Profile { schema: 2, ..good.clone() }).unwrap();
        assert_eq!(parse(&future).unwrap_err(), "schema 2 is not the supported 1");
        assert_eq!(load_dir(dir.path()).unwrap(), vec![good]);
        assert!(!broken.exists() && dir.path().join("broken.json.corrupt").exists());
    }
}
