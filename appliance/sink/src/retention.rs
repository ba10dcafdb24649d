//! Retention: a byte quota over the complete files of every table.
//!
//! The complete files are the `*.parquet` files in `<root>/<table>/date=*/`
//! for every non-hidden `<table>` folder under the root (in-progress files,
//! in the hidden `.inprogress` folder, do not count and are never deleted).
//! When their total size exceeds the quota, the oldest are deleted — oldest
//! by the timestamp in the file name (the data time of the file's first
//! row), then by modification time — until the total is at most the quota.
//! Date folders left empty are removed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::files::{self, Walk};
use crate::writer::file_name_time;
use crate::SinkError;

/// What one retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RetentionOutcome {
    /// Complete files found, and their total size before deletion.
    pub files_seen: u64,
    pub bytes_seen: u64,
    /// Files deleted, oldest first, and their total size.
    pub deleted: Vec<PathBuf>,
    pub bytes_deleted: u64,
}

/// Brings the complete files under `root` within `quota` bytes
/// (0 = unlimited: nothing is scanned or deleted).
pub(crate) fn enforce(root: &Path, quota: u64) -> Result<RetentionOutcome, SinkError> {
    let mut out = RetentionOutcome::default();
    if quota == 0 {
        return Ok(out);
    }
    let mut files = complete_files(root)?;
    out.files_seen = files.len() as u64;
    out.bytes_seen = files.iter().map(|f| f.bytes).sum();
    if out.bytes_seen <= quota {
        return Ok(out);
    }
    files.sort_by(|a, b| (a.name_time, a.mtime, &a.path).cmp(&(b.name_time, b.mtime, &b.path)));
    let mut total = out.bytes_seen;
    let mut first_err = None;
    for f in files {
        if total <= quota {
            break;
        }
        match fs::remove_file(&f.path) {
            Ok(()) => {
                total -= f.bytes;
                out.bytes_deleted += f.bytes;
                if let Some(dir) = f.path.parent() {
                    // Fails, as it should, while the folder still has files.
                    let _ = fs::remove_dir(dir);
                }
                out.deleted.push(f.path);
            }
            // Deleted by someone else meanwhile: no longer counts.
            Err(e) if e.kind() == io::ErrorKind::NotFound => total -= f.bytes,
            Err(e) => {
                first_err.get_or_insert(SinkError::io("deleting", &f.path, e));
            }
        }
    }
    if !out.deleted.is_empty() {
        tracing::info!(
            files = out.deleted.len(),
            bytes = out.bytes_deleted,
            quota,
            "retention deleted the oldest complete files"
        );
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A complete file and its age key.
#[derive(Clone, Debug)]
struct CompleteFile {
    path: PathBuf,
    bytes: u64,
    /// Unix seconds of the name's timestamp, or of the mtime if the name
    /// has none.
    name_time: u64,
    mtime: SystemTime,
}

/// Every complete file under `root`, with its age key.
fn complete_files(root: &Path) -> Result<Vec<CompleteFile>, SinkError> {
    Ok(files::complete_files(root, Walk::Strict)?
        .into_iter()
        .map(|f| CompleteFile {
            name_time: file_name_time(&f.name).unwrap_or_else(|| files::unix_s(f.mtime)),
            path: f.path,
            bytes: f.bytes,
            mtime: f.mtime,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, table: &str, date: &str, stamp: &str, size: usize) -> PathBuf {
        let dir = root.join(table).join(format!("date={date}"));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{table}-tap-{stamp}-1p1-000001.parquet"));
        fs::write(&path, vec![0u8; size]).unwrap();
        path
    }

    #[test]
    fn deletes_oldest_first_until_under_quota() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let a = put(root, "flows", "2024-01-01", "20240101T000000Z", 100);
        let b = put(root, "capture", "2024-01-01", "20240101T120000Z", 100);
        let c = put(root, "flows", "2024-01-02", "20240102T000000Z", 100);
        let d = put(root, "capture", "2024-01-03", "20240103T000000Z", 100);
        // In-progress files are neither counted nor deleted.
        let ip = root.join(".inprogress/flows");
        fs::create_dir_all(&ip).unwrap();
        fs::write(ip.join("x.parquet"), vec![0u8; 1000]).unwrap();
        // Non-Parquet files and non-partition folders are left alone.
        fs::write(root.join("flows/README"), b"hi").unwrap();

        assert_eq!(enforce(root, 0).unwrap(), RetentionOutcome::default());
        let none = enforce(root, 400).unwrap();
        assert!(none.deleted.is_empty());
        assert_eq!(none.bytes_seen, 400);

        let out = enforce(root, 250).unwrap();
        assert_eq!(out.deleted, vec![a.clone(), b.clone()]);
        assert_eq!(out.bytes_deleted, 200);
        assert!(!a.exists() && !b.exists() && c.exists() && d.exists());
        // Both date=2024-01-01 folders were emptied and removed.
        assert!(!root.join("flows/date=2024-01-01").exists());
        assert!(!root.join("capture/date=2024-01-01").exists());
        assert!(root.join("flows/date=2024-01-02").exists());
        assert!(ip.join("x.parquet").exists());
        assert!(root.join("flows/README").exists());

        let out = enforce(root, 150).unwrap();
        assert_eq!(out.deleted, vec![c]);
        assert_eq!(out.bytes_seen - out.bytes_deleted, 100);
    }
}
