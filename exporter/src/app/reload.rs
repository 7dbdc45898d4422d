//! Loading and live reload of the rules: what changed is told by a fingerprint of the rules
//! files (names and contents, read through symlinks, so a Kubernetes ConfigMap's `..data` swap
//! counts as a change). The reload loop checks it when inotify reports a change (see
//! `rules_watch`), on a slower timer as a fallback, and on SIGHUP;
//! [`reload_rules`] compiles the whole new set and only swaps when it has no errors.

use std::{
    hash::{Hash, Hasher},
    path::Path,
    sync::Mutex,
    time::Instant,
};

use anyhow::Context as _;
use exporter_ebpf::ArgSpec;

use super::Shared;
use crate::{
    kernel::{Interest, Programs},
    rules::{Engine, Severity},
    syscalls::SyscallNames,
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

/// Loads and checks the rules: warnings are logged, errors are printed one line each
/// (`file:line:col: rule 'name': cause`) and stop the start.
pub fn load_rules(dir: &Path) -> anyhow::Result<Engine> {
    std::fs::read_dir(dir).with_context(|| format!("cannot read rules directory {}", dir.display()))?;
    let engine = Engine::load_dir(dir);
    let mut errors = 0;
    for diagnostic in &engine.report.diagnostics {
        match diagnostic.severity {
            Severity::Error => {
                errors += 1;
                eprintln!("exporter: error: {diagnostic}");
            }
            Severity::Warning => tracing::warn!("{diagnostic}"),
        }
    }
    if errors > 0 {
        anyhow::bail!(
            "{errors} error(s) in the rules under {}: fix them (exporter rules check --rules-dir {0})",
            dir.display()
        );
    }
    let enabled = engine.rules().iter().filter(|r| r.enabled).count();
    if enabled == 0 {
        tracing::warn!(dir = %dir.display(), "no enabled rule: detection is off until rules come (alert TracewardenNoRulesLoaded)");
    } else {
        tracing::info!(rules = enabled, dir = %dir.display(), "rules loaded");
    }
    Ok(engine)
}

/// Makes the kernel run a rule set: attaches the exit tracepoints of the syscalls it needs
/// (`wanted`, from `Collector::interest`), has `apply` write
/// the maps (under whatever locks the caller takes there), then detaches the exits no longer
/// needed. Attaching and detaching are the slow part (up to tens of seconds for a rule on every
/// event type) and hold only `programs`, so scrapes and detection go on meanwhile.
pub fn install<T>(
    programs: &Mutex<Programs>,
    wanted: &[(usize, &str, ArgSpec)],
    apply: impl FnOnce(&Interest) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut programs = programs.lock().map_err(|_| anyhow::anyhow!("kernel programs poisoned"))?;
    let interest = programs.attach_exits(wanted)?;
    let applied = apply(&interest)?;
    // Only once the new set is marked; after a failure both sets' exits stay attached (an
    // exit without a stashed entry costs one failed look-up).
    programs.detach_exits_except(&interest)?;
    Ok(applied)
}

/// Compiles the whole new rule set; on any error keeps the running one (each error logged with
/// file:line:col). On success the kernel is told the new syscalls first, then the engine swaps.
pub fn reload_rules(shared: &Shared, dir: &Path, names: &SyscallNames) {
    let Some(detector) = &shared.detector else { return };
    let engine = Engine::load_dir(dir);
    if engine.has_errors() {
        for diagnostic in engine.report.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
            tracing::error!("rules reload refused: {diagnostic}");
        }
        if let Ok(mut detector) = detector.lock() {
            detector.reload_failed();
        }
        return;
    }
    for diagnostic in engine.report.diagnostics.iter().filter(|d| d.severity == Severity::Warning) {
        tracing::warn!("{diagnostic}");
    }
    let (programs, wanted) = match shared.collector.lock() {
        Ok(collector) => (collector.programs(), collector.interest(&engine, names)),
        Err(_) => return tracing::error!("rules reload refused: collector poisoned"),
    };
    let started = Instant::now();
    let installed = install(&programs, &wanted, |interest| {
        // The detector is held while the maps switch, so the first events of the new
        // generation are read with its rule bits (lock order: detector, then collector).
        let mut detector = detector.lock().map_err(|_| anyhow::anyhow!("detector poisoned"))?;
        let mut collector = shared.collector.lock().map_err(|_| anyhow::anyhow!("collector poisoned"))?;
        let kernel_rules = collector.apply_rules(&engine, names, interest)?;
        detector.replace_engine(engine, kernel_rules);
        detector.set_rule_files(file_digests(dir));
        Ok(detector.rules_status().loaded)
    });
    match installed {
        Ok(0) => tracing::warn!(
            seconds = started.elapsed().as_secs_f64(),
            "rules reloaded with no enabled rule: detection is off until rules come back (alert TracewardenNoRulesLoaded)"
        ),
        Ok(loaded) => tracing::info!(rules = loaded, seconds = started.elapsed().as_secs_f64(), "rules reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "rules reload refused: the kernel did not take the new rules");
            if let Ok(mut detector) = detector.lock() {
                detector.reload_failed();
            }
        }
    }
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
