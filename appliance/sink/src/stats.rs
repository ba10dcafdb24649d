//! The sink's counters: per table and in all.

use std::path::PathBuf;

use crate::SpoolStats;

/// Counters of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// The table's name.
    pub table: &'static str,
    /// Rows in complete files (closed and renamed into place).
    pub rows: u64,
    /// Rows buffered in files still open.
    pub rows_pending: u64,
    /// Complete files written.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Rows that will never reach a complete file because a write, close or
    /// rename failed.
    pub rows_lost: u64,
    /// Failed writes, closes, renames and fsyncs.
    pub write_errors: u64,
    /// Rows the control core could not hand to the sink thread because its
    /// queue was full (the sink fell behind; live capture only, replay
    /// waits): they never reach the table.
    pub rows_dropped: u64,
}

/// Counters of the sink since it was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// One entry per table, in [`crate::TABLES`] order.
    pub tables: Vec<TableStats>,
    /// Complete files written, all tables.
    pub files_written: u64,
    /// Their total size.
    pub bytes_written: u64,
    /// Paths of the most recently written files, oldest first (at most
    /// [`crate::RECENT_FILES`]; retention may have deleted some since).
    pub recent_files: Vec<PathBuf>,
    /// Complete files deleted by the retention quota.
    pub files_deleted_by_retention: u64,
    /// Their total size.
    pub bytes_deleted_by_retention: u64,
    /// Files of a killed run found in `.inprogress` and deleted at open.
    pub stale_inprogress_removed: u64,
    /// All failed writes, closes, renames, fsyncs and retention deletions.
    pub write_errors: u64,
    /// Rows lost to those errors, all tables.
    pub rows_lost: u64,
    /// Rows dropped because the sink thread's queue was full, all tables
    /// (the sum of [`TableStats::rows_dropped`]).
    pub rows_dropped: u64,
    /// Data-clock ticks not handed to the sink thread because its queue was
    /// full (the next tick carries a later time; no rows are lost).
    pub ticks_dropped: u64,
    /// The sink thread's latest error, if any since it started.
    pub last_error: Option<String>,
    /// The probe buffer in front of the `probes` table.
    pub probe_spool: SpoolStats,
    /// The probe buffer's last write error, while rows wait because of it.
    pub probe_write_error: Option<String>,
}

impl SinkStats {
    /// The counters of `table`.
    pub fn table(&self, table: &str) -> Option<&TableStats> {
        self.tables.iter().find(|t| t.table == table)
    }
}
