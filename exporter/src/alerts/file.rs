//! A JSON-lines file with size-based rotation (`path` -> `path.1` -> ... -> `path.N`) that
//! notices when someone else moved, deleted or truncated it (logrotate) and reopens.

use super::AlertsError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a busy writer checks that `path` still is the file it writes to; an idle writer
/// checks before its next write.
const REOPEN_CHECK: Duration = Duration::from_secs(1);

/// An append-only line file with rotation.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: u32,
    file: Option<File>,
    size: u64,
    last_check: Option<Instant>,
}

impl RotatingFile {
    /// Opens (creating) `path` for appending. `max_bytes` 0: never rotate.
    pub fn open(path: impl Into<PathBuf>, max_bytes: u64, backups: u32) -> Result<Self, AlertsError> {
        let mut f = RotatingFile { path: path.into(), max_bytes, backups, file: None, size: 0, last_check: None };
        f.reopen()?;
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Name of backup `n` (1 = newest): `path.n`.
    pub fn backup_path(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn io_err(&self, source: std::io::Error) -> AlertsError {
        AlertsError::Io { path: self.path.display().to_string(), source }
    }

    fn reopen(&mut self) -> Result<(), AlertsError> {
        self.file = None;
        // 0600: alerts name processes, files and containers of the whole node.
        let f =
            OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path).map_err(|e| self.io_err(e))?;
        self.size = f.metadata().map_err(|e| self.io_err(e))?.len();
        self.file = Some(f);
        self.last_check = Some(Instant::now());
        Ok(())
    }

    /// Reopens when `path` no longer names the open file (renamed or deleted by someone else),
    /// and re-reads the size (truncated by `copytruncate`).
    fn check_reopen(&mut self) -> Result<(), AlertsError> {
        if self.last_check.is_some_and(|t| t.elapsed() < REOPEN_CHECK) && self.file.is_some() {
            return Ok(());
        }
        self.last_check = Some(Instant::now());
        let Some(f) = &self.file else { return self.reopen() };
        let ours = f.metadata().map_err(|e| self.io_err(e))?;
        match std::fs::metadata(&self.path) {
            Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => {
                self.size = ours.len();
                Ok(())
            }
            _ => {
                tracing::info!(path = %self.path.display(), "alerts file was moved or removed; reopening");
                self.reopen()
            }
        }
    }

    /// Forces the next write to check whether the file was moved (after an idle spell).
    pub fn mark_idle(&mut self) {
        self.last_check = None;
    }

    /// Shifts `path.{n-1}` -> `path.n` .. `path` -> `path.1`, dropping the oldest, and starts a
    /// new empty `path`. With 0 backups the file is truncated.
    pub fn rotate(&mut self) -> Result<(), AlertsError> {
        if let Some(mut f) = self.file.take() {
            let _ = f.flush();
        }
        if self.backups == 0 {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_err(e)),
            }
        } else {
            for n in (1..self.backups).rev() {
                let from = self.backup_path(n);
                match std::fs::rename(&from, self.backup_path(n + 1)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io_err(e)),
                }
            }
            match std::fs::rename(&self.path, self.backup_path(1)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
        self.reopen()
    }

    /// Appends `line` and a newline, rotating first if the file would grow past `max_bytes`
    /// (a line longer than `max_bytes` still goes whole into a fresh file).
    pub fn write_line(&mut self, line: &str) -> Result<(), AlertsError> {
        self.check_reopen()?;
        let len = line.len() as u64 + 1;
        if self.max_bytes > 0 && self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let Some(f) = self.file.as_mut() else { return Err(self.io_err(std::io::ErrorKind::NotFound.into())) };
        // One write call per line: with O_APPEND a line is never interleaved with another
        // writer's, and a full disk loses whole lines rather than leaving half a line.
        if let Err(e) = f.write_all(&buf) {
            // The next write reopens: the descriptor may be what went bad.
            self.file = None;
            return Err(self.io_err(e));
        }
        self.size += len;
        Ok(())
    }

    /// Current size as this writer counts it.
    pub fn size(&self) -> u64 {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn rotates_by_size_and_keeps_n_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        // 10-byte lines (9 + newline), 25-byte limit: two lines a file.
        let mut f = RotatingFile::open(&path, 25, 2).unwrap();
        for i in 0..7 {
            f.write_line(&format!("line-{i:04}")).unwrap();
        }
        assert_eq!(read(&path), "line-0006\n");
        assert_eq!(read(&f.backup_path(1)), "line-0004\nline-0005\n");
        assert_eq!(read(&f.backup_path(2)), "line-0002\nline-0003\n");
        assert!(!f.backup_path(3).exists(), "only 2 backups kept");
        assert_eq!(f.backup_path(1).file_name().unwrap(), "alerts.jsonl.1");
        for p in [&path, &f.backup_path(1), &f.backup_path(2)] {
            assert!(std::fs::metadata(p).unwrap().len() <= 25);
        }
    }

    #[test]
    fn exact_fit_does_not_rotate_and_long_line_goes_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let mut f = RotatingFile::open(&path, 20, 1).unwrap();
        f.write_line("123456789").unwrap();
        f.write_line("123456789").unwrap();
        assert_eq!(f.size(), 20);
        assert!(!f.backup_path(1).exists(), "exactly max_bytes fits");
        let long = "x".repeat(50);
        f.write_line(&long).unwrap();
        assert_eq!(read(&path), format!("{long}\n"));
        assert_eq!(read(&f.backup_path(1)), "123456789\n123456789\n");
        f.write_line("y").unwrap();
        assert_eq!(read(&path), "y\n");
        assert_eq!(read(&f.backup_path(1)), format!("{long}\n"));
    }

    #[test]
    fn zero_backups_truncates_and_zero_size_never_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let mut f = RotatingFile::open(&path, 10, 0).unwrap();
        f.write_line("aaaaaaa").unwrap();
        f.write_line("bbbbbbb").unwrap();
        assert_eq!(read(&path), "bbbbbbb\n");
        assert!(!f.backup_path(1).exists());
        let path2 = dir.path().join("b");
        let mut g = RotatingFile::open(&path2, 0, 3).unwrap();
        for _ in 0..100 {
            g.write_line("0123456789").unwrap();
        }
        assert_eq!(std::fs::metadata(&path2).unwrap().len(), 1100);
        assert!(!g.backup_path(1).exists());
    }

    #[test]
    fn appends_to_existing_file_and_counts_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, "old-line-1\n").unwrap();
        let mut f = RotatingFile::open(&path, 15, 1).unwrap();
        assert_eq!(f.size(), 11);
        f.write_line("new").unwrap();
        assert_eq!(read(&path), "old-line-1\nnew\n");
        f.write_line("next").unwrap();
        assert_eq!(read(&f.backup_path(1)), "old-line-1\nnew\n");
        assert_eq!(read(&path), "next\n");
    }

    #[test]
    fn reopens_after_external_move_delete_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let mut f = RotatingFile::open(&path, 1000, 1).unwrap();
        f.write_line("one").unwrap();
        // logrotate-style move: the next write must go to a new file at `path`.
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        f.mark_idle();
        f.write_line("two").unwrap();
        assert_eq!(read(&dir.path().join("moved")), "one\n");
        assert_eq!(read(&path), "two\n");
        std::fs::remove_file(&path).unwrap();
        f.mark_idle();
        f.write_line("three").unwrap();
        assert_eq!(read(&path), "three\n");
        // copytruncate: the size must be re-read so rotation stays right.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        f.mark_idle();
        f.write_line("four").unwrap();
        assert_eq!(read(&path), "four\n");
        assert_eq!(f.size(), 5);
    }

    #[test]
    fn new_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        RotatingFile::open(&path, 0, 0).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }
}
