//! SigmaHQ's Linux rules, read in place (never copied into the repository).

use std::path::{Path, PathBuf};

pub const SIGMA_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/sigma-linux");
/// The categories a syscall sensor serves.
const CATEGORIES: [&str; 3] = ["process_creation", "file_event", "network_connection"];

/// Every rule file of the served categories, sorted; empty when the corpus is not there.
pub fn sigma_rule_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = CATEGORIES
        .iter()
        .filter_map(|category| std::fs::read_dir(Path::new(SIGMA_RULES).join(category)).ok())
        .flat_map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())))
        .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}
