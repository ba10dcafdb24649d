//! The sink's on-disk layout, read back: which files are complete, what
//! they hold, and the listing `tapscope files` shows.
//!
//! The complete files are the `*.parquet` files in `<root>/<table>/date=*/`
//! for every non-hidden `<table>` folder under the root; files being
//! written live in the hidden `.inprogress` folder and are never listed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::table::data_time_column;
use crate::SinkError;

/// One complete Parquet file, for `tapscope files`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The table (its folder under the output folder).
    pub table: String,
    /// Relative to the output folder, e.g. `flows/date=2024-05-01/flows-....parquet`.
    pub path: String,
    /// Size of the file.
    pub bytes: u64,
    /// When it was closed (moved into its table folder), Unix seconds.
    pub modified_unix_s: u64,
    /// UTC date of its rows (the Hive partition).
    pub date: String,
    /// Earliest data time of its rows (Unix seconds, from the file's
    /// footer); absent if the footer has no statistics.
    #[serde(default)]
    pub first_unix_s: Option<u64>,
    /// Latest data time of its rows, as `first_unix_s`.
    #[serde(default)]
    pub last_unix_s: Option<u64>,
}

/// The complete files under `root`, oldest first (by modification time,
/// then path), those modified at or after `since` only if given. Folders
/// that cannot be read are skipped.
pub fn list_files(root: &Path, since: Option<u64>) -> Vec<FileEntry> {
    let files = complete_files(root, Walk::Lenient).unwrap_or_default();
    let mut out: Vec<FileEntry> = files
        .into_iter()
        .filter_map(|f| {
            let modified = unix_s(f.mtime);
            if since.is_some_and(|s| modified < s) {
                return None;
            }
            let range = file_time_range(&f.table, &f.path);
            Some(FileEntry {
                path: format!("{}/date={}/{}", f.table, f.date, f.name),
                table: f.table,
                bytes: f.bytes,
                modified_unix_s: modified,
                date: f.date,
                first_unix_s: range.map(|r| (r.0 / 1_000_000) as u64),
                last_unix_s: range.map(|r| (r.1 / 1_000_000) as u64),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.modified_unix_s, &a.path).cmp(&(b.modified_unix_s, &b.path)));
    out
}

/// Bytes the complete files under `root` take (their sizes only: no footer
/// is read). Folders that cannot be read are skipped.
pub fn disk_used_bytes(root: &Path) -> u64 {
    complete_files(root, Walk::Lenient)
        .unwrap_or_default()
        .iter()
        .map(|f| f.bytes)
        .sum()
}

/// The earliest and latest data time (Unix µs) of a complete file of
/// `table`, from its footer's column statistics (no data is read).
pub fn file_time_range(table: &str, path: &Path) -> Option<(i64, i64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let col = data_time_column(table)?;
    let reader = SerializedFileReader::new(fs::File::open(path).ok()?).ok()?;
    let meta = reader.metadata();
    let idx = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == col)?;
    let mut range: Option<(i64, i64)> = None;
    for rg in meta.row_groups() {
        let st = rg.column(idx).statistics()?;
        let le = |b: &[u8]| b.try_into().ok().map(i64::from_le_bytes);
        let (lo, hi) = (le(st.min_bytes_opt()?)?, le(st.max_bytes_opt()?)?);
        range = Some(match range {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
    range
}

/// A complete file found under the root.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) table: String,
    /// The partition's date, `YYYY-MM-DD` (after `date=`).
    pub(crate) date: String,
    /// The file's name.
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) mtime: SystemTime,
}

/// What a walk does with a folder or entry it cannot read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Returns the error (retention must not think it freed space).
    Strict,
    /// Skips it (listings).
    Lenient,
}

/// Every complete file under `root`. Entries that vanish while scanning
/// are skipped.
pub(crate) fn complete_files(root: &Path, walk: Walk) -> Result<Vec<Found>, SinkError> {
    let mut out = Vec::new();
    for (table, table_dir) in subdirs(root, walk)? {
        if table.starts_with('.') {
            continue;
        }
        table_files(&table, &table_dir, walk, &mut out)?;
    }
    Ok(out)
}

/// The complete files of one table under `root`, by path (none when the
/// table has no folder). Folders that cannot be read are skipped.
pub(crate) fn complete_table_files(root: &Path, table: &str) -> Vec<Found> {
    let mut out = Vec::new();
    if table.starts_with('.') {
        return out;
    }
    let _ = table_files(table, &root.join(table), Walk::Lenient, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Appends the complete files of `table` (in `table_dir`) to `out`.
fn table_files(
    table: &str,
    table_dir: &Path,
    walk: Walk,
    out: &mut Vec<Found>,
) -> Result<(), SinkError> {
    for (part, date_dir) in subdirs(table_dir, walk)? {
        let Some(date) = part.strip_prefix("date=") else {
            continue;
        };
        let entries = match fs::read_dir(&date_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => match walk {
                Walk::Strict => return Err(SinkError::io("reading", &date_dir, e)),
                Walk::Lenient => continue,
            },
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if walk == Walk::Strict => {
                    return Err(SinkError::io("reading", &date_dir, e))
                }
                Err(_) => continue,
            };
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !name.ends_with(".parquet") {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if walk == Walk::Strict => {
                    return Err(SinkError::io("inspecting", &path, e))
                }
                Err(_) => continue,
            };
            out.push(Found {
                table: table.to_string(),
                date: date.to_string(),
                name: name.to_string(),
                bytes: meta.len(),
                mtime: meta.modified().unwrap_or(UNIX_EPOCH),
                path,
            });
        }
    }
    Ok(())
}

/// The sub-folders of `dir` (name, path); none if `dir` does not exist.
fn subdirs(dir: &Path, walk: Walk) -> Result<Vec<(String, PathBuf)>, SinkError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => match walk {
            Walk::Strict => return Err(SinkError::io("reading", dir, e)),
            Walk::Lenient => return Ok(Vec::new()),
        },
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if walk == Walk::Strict => return Err(SinkError::io("reading", dir, e)),
            Err(_) => continue,
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Ok(name) = entry.file_name().into_string() {
                out.push((name, entry.path()));
            }
        }
    }
    Ok(out)
}

/// Unix seconds of a file time (0 before 1970).
pub(crate) fn unix_s(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_lists_complete_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("flows/date=2024-05-01")).unwrap();
        fs::create_dir_all(root.join(".inprogress/flows")).unwrap();
        fs::write(root.join("flows/date=2024-05-01/a.parquet"), b"PAR1").unwrap();
        fs::write(root.join(".inprogress/flows/b.parquet"), b"PAR1").unwrap();
        // Not a partition, not Parquet: neither listed nor counted.
        fs::write(root.join("flows/README"), b"hi").unwrap();
        fs::write(root.join("flows/date=2024-05-01/notes.txt"), b"hi").unwrap();
        let f = list_files(root, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, "flows/date=2024-05-01/a.parquet");
        assert_eq!(
            (f[0].table.as_str(), f[0].date.as_str(), f[0].bytes),
            ("flows", "2024-05-01", 4)
        );
        // Not Parquet inside: no data time range.
        assert_eq!((f[0].first_unix_s, f[0].last_unix_s), (None, None));
        let later = unix_s(SystemTime::now()) + 3600;
        assert!(list_files(root, Some(later)).is_empty());
        assert_eq!(disk_used_bytes(root), 4);
        assert!(list_files(&root.join("missing"), None).is_empty());
        assert_eq!(disk_used_bytes(&root.join("missing")), 0);
    }
}
