//! Rotating, Hive-partitioned Parquet tables, written on a thread of their
//! own.
//!
//! The only crate of tapscope that knows Arrow and Parquet: its API takes
//! datapath types and the rows of [`model::rows`].
//!
//! ```text
//! <root>/flows/date=2024-05-01/flows-<tapid>-20240501T101500Z-<runid>-000003.parquet
//! <root>/capture/date=2024-05-01/capture-<tapid>-20240501T101500Z-<runid>-000002.parquet
//! <root>/.inprogress/<table>/...     files being written (hidden, same filesystem)
//! <root>/.tapscope.lock              held while a Sink is open on this root
//! ```
//!
//! - [`table`]: what the sink knows of a table ([`Table`]: name, documented
//!   columns, data-time column, rows to columns) and the registry of every
//!   table ([`TABLES`]).
//! - [`tables`]: the tables, one file each (`flows`, `capture`, `traffic`,
//!   `probes` and the sketch tables `heavy_hitters`, `scans`, `flow_sizes`,
//!   `sketch_state`).
//! - `columns`: the column builders the tables share (addresses, MAC
//!   addresses, protocol names, timestamps).
//! - [`Sink`]: one rotating writer per table and the one generic write path
//!   ([`Sink::write`]). `writer`: the rotating writer; files are renamed
//!   into their date folder (the UTC date of the rows' data time) only once
//!   complete. `retention`: a byte quota over all complete files, oldest
//!   deleted first, checked after every file close and every minute on
//!   [`Sink::tick`].
//! - [`SinkThread`]: the sink on a thread of its own, fed by a bounded
//!   queue; what the queue cannot take is counted per table
//!   ([`TableStats::rows_dropped`]). The thread also owns the
//!   [`ProbeSpool`], the buffer that keeps probe rows through a failing
//!   disk.
//! - [`files`]: the complete files read back (`tapscope files`).
//! - [`read`]: the tables read back batch by batch, for views that
//!   aggregate them in bounded memory (`tapscope report`).
//!
//! Errors never panic; they are returned, and their damage (rows that will
//! not reach a complete file) is counted in [`SinkStats`].

#![warn(missing_docs)]

mod columns;
pub mod files;
pub mod read;
mod retention;
mod spool;
mod stats;
mod store;
pub mod table;
pub mod tables;
mod thread;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use model::rows::{
    CaptureRow, FlowLabels, FlowRow, NicRow, SegmentRow, SketchStateRow, TrafficRow,
};
pub use spool::{ProbeSpool, SpoolStats, FLUSH_ROWS};
pub use stats::{SinkStats, TableStats};
pub use store::Sink;
pub use table::{data_time_column, ColumnDoc, Table, TableInfo, LAB_TABLES, TABLES};
pub use tables::key_text;
pub use thread::{SinkStall, SinkThread, SinkThreadConfig};

/// How often [`Sink::tick`] re-checks the retention quota when no file was
/// closed (wall-clock time: the files' size on disk does not follow data time).
pub const RETENTION_PERIOD: Duration = Duration::from_secs(60);
/// How many recently closed paths [`SinkStats::recent_files`] keeps.
pub const RECENT_FILES: usize = 1024;
/// Lock file held while a [`Sink`] is open on a root.
pub const LOCK_FILE: &str = ".tapscope.lock";

/// Where and how the sink writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkConfig {
    /// Root folder of the tables.
    pub root: PathBuf,
    /// The tap's id, written in every row and in the file names.
    pub tap_id: String,
    /// A file is closed once the data time passed its opening data time plus
    /// this many seconds (0 = no time-based rotation).
    pub rotate_secs: u64,
    /// A file is closed once its size reaches this many bytes (0 = no limit).
    pub rotate_bytes: u64,
    /// Total size of complete files above which the oldest are deleted
    /// (0 = unlimited).
    pub quota_bytes: u64,
    /// Maximum rows per Parquet row group (> 0); bounds the writer's memory.
    pub row_group_rows: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            root: PathBuf::from("/var/lib/tapscope"),
            tap_id: default_tap_id(),
            rotate_secs: 300,
            rotate_bytes: 128 << 20,
            quota_bytes: 0,
            row_group_rows: 65_536,
        }
    }
}

/// The host name, or `tap` when it cannot be read.
fn default_tap_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tap".to_string())
}

/// Errors of the sink, with the path involved.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration cannot be used.
    #[error("invalid sink configuration: {0}")]
    Config(String),
    /// A file or folder operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`creating`, `renaming`, ...).
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// Encoding or writing a Parquet file failed.
    #[error("writing Parquet file {}: {source}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// Parquet's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Rows could not become a batch (the schema and builder disagree).
    #[error("building a {table} batch: {source}")]
    Encode {
        /// The table.
        table: &'static str,
        /// Arrow's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another sink holds the root's lock.
    #[error("sink root is in use by another tapscope process (lock {} is held)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A table was written that is not in [`TABLES`].
    #[error("table {table} is not registered in the sink")]
    Unregistered {
        /// The table's name.
        table: &'static str,
    },
    /// The sink thread could not be started, or stopped before it was
    /// closed.
    #[error("the sink thread {0}")]
    Thread(String),
}

impl SinkError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> SinkError {
        SinkError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> SinkError {
        SinkError::Parquet {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}
