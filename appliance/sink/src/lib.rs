//! Rotating, Hive-partitioned Parquet tables.
//!
//! The only module of tapscope that knows Arrow and Parquet: its API takes
//! datapath types ([`FlowRecord`]) and plain Rust types ([`CaptureRow`]).
//!
//! ```text
//! <root>/flows/date=2024-05-01/flows-<tapid>-20240501T101500Z-<runid>-000003.parquet
//! <root>/capture/date=2024-05-01/capture-<tapid>-20240501T101500Z-<runid>-000002.parquet
//! <root>/.inprogress/<table>/...     files being written (hidden, same filesystem)
//! <root>/.tapscope.lock              held while a Sink is open on this root
//! ```
//!
//! - `writer`: one rotating writer per table. Files are renamed into
//!   their date folder (the UTC date of the rows' packet timestamps) only
//!   once complete; see its docs for the rotation rules.
//! - `retention`: a byte quota over all complete files, oldest deleted
//!   first, checked after every file close and every minute on [`Sink::tick`].
//! - [`tables`]: the schemas, with every column documented
//!   ([`flows_columns`], [`capture_columns`]).
//! - [`sketch_tables`]: the same for the sketch tables, one set of rows per
//!   window: `heavy_hitters`, `scans`, `flow_sizes` and `sketch_state`.
//! - [`traffic`]: the `traffic` table, per interval, device and service.
//! - [`probes`]: the `probes` table, one row per probe run, and the
//!   bounded buffer that keeps probe rows through a failing disk.
//!
//! Errors never panic; they are returned, and their damage (rows that will
//! not reach a complete file) is counted in [`SinkStats`].

pub mod probes;
mod retention;
pub mod sketch_tables;
pub mod tables;
pub mod traffic;
mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datapath::sketch::state::{FlowSizeRow, HeavyHitter, Scan};

pub use model::rows::{CaptureRow, FlowLabels, FlowRow, NicRow, SketchStateRow, TrafficRow};
pub use probes::{probes_columns, ProbeSpool, SpoolStats, PROBES};
pub use sketch_tables::{
    flow_sizes_columns, heavy_hitters_columns, scans_columns, sketch_state_columns, FLOW_SIZES,
    HEAVY_HITTERS, SCANS, SKETCH_STATE,
};
pub use tables::{capture_columns, flows_columns, ColumnDoc, CAPTURE, FLOWS};
pub use traffic::{traffic_columns, TRAFFIC};

use writer::{ClosedFile, TableWriter, WriterSettings};

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
    #[error("invalid sink configuration: {0}")]
    Config(String),
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing Parquet file {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("building a {table} batch: {source}")]
    Encode {
        table: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("sink root is in use by another tapscope process (lock {} is held)", path.display())]
    Locked { path: PathBuf },
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

/// Counters of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub table: &'static str,
    /// Rows in complete files (closed and renamed into place).
    pub rows: u64,
    /// Rows buffered in files still open.
    pub rows_pending: u64,
    /// Complete files written, and their total size.
    pub files: u64,
    pub bytes: u64,
    /// Rows that will never reach a complete file because a write, close or
    /// rename failed.
    pub rows_lost: u64,
    /// Failed writes, closes, renames and fsyncs.
    pub write_errors: u64,
}

/// Counters of the sink since [`Sink::open`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// One entry per table: `flows`, `capture`, `heavy_hitters`, `scans`,
    /// `flow_sizes`, `sketch_state`.
    pub tables: Vec<TableStats>,
    /// Complete files written, all tables, and their total size.
    pub files_written: u64,
    pub bytes_written: u64,
    /// Paths of the most recently written files, oldest first (at most
    /// [`RECENT_FILES`]; retention may have deleted some since).
    pub recent_files: Vec<PathBuf>,
    /// Complete files deleted by the retention quota, and their total size.
    pub files_deleted_by_retention: u64,
    pub bytes_deleted_by_retention: u64,
    /// Files of a killed run found in `.inprogress` and deleted at open.
    pub stale_inprogress_removed: u64,
    /// All failed writes, closes, renames, fsyncs and retention deletions.
    pub write_errors: u64,
    /// Rows lost to those errors, all tables.
    pub rows_lost: u64,
}

impl SinkStats {
    /// The counters of `table`.
    pub fn table(&self, table: &str) -> Option<&TableStats> {
        self.tables.iter().find(|t| t.table == table)
    }
}

/// The Parquet sink: one rotating writer per table, a retention quota over
/// all of them. Owned by the control core; not shared between threads.
pub struct Sink {
    cfg: SinkConfig,
    settings: Arc<WriterSettings>,
    flows: TableWriter,
    capture: TableWriter,
    heavy_hitters: TableWriter,
    scans: TableWriter,
    flow_sizes: TableWriter,
    traffic: TableWriter,
    sketch_state: TableWriter,
    probes: TableWriter,
    /// Rows of `probes` that a failed write counted as lost although the
    /// probe buffer kept them for a later write.
    probes_requeued: u64,
    /// Files closed by the current call, waiting to be accounted.
    closed: Vec<ClosedFile>,
    recent: VecDeque<PathBuf>,
    last_retention: Instant,
    files_deleted: u64,
    bytes_deleted: u64,
    stale_removed: u64,
    retention_errors: u64,
    /// Keeps the root's lock for the sink's life.
    _lock: File,
}

impl Sink {
    /// Creates the folders, takes the root's lock, deletes files a killed
    /// run left in `.inprogress` and applies the retention quota.
    pub fn open(cfg: SinkConfig) -> Result<Sink, SinkError> {
        if cfg.tap_id.is_empty() {
            return Err(SinkError::Config("tap_id is empty".into()));
        }
        if cfg.row_group_rows == 0 {
            return Err(SinkError::Config(
                "row_group_rows must be at least 1".into(),
            ));
        }
        writer::create_dir_all(&cfg.root)?;
        let lock = lock_root(&cfg.root)?;
        let stale_removed = writer::remove_stale_inprogress(&cfg.root)?;
        if stale_removed > 0 {
            tracing::warn!(
                files = stale_removed,
                root = %cfg.root.display(),
                "deleted incomplete Parquet files left by a previous run"
            );
        }
        let settings = Arc::new(WriterSettings {
            root: cfg.root.clone(),
            tap_id: cfg.tap_id.clone(),
            file_tap_id: file_safe(&cfg.tap_id),
            run_id: run_id(),
            rotate_ns: cfg.rotate_secs.saturating_mul(1_000_000_000),
            rotate_bytes: cfg.rotate_bytes,
            row_group_rows: cfg.row_group_rows,
        });
        let flows = TableWriter::new(FLOWS, tables::flows_schema(), settings.clone())?;
        let capture = TableWriter::new(CAPTURE, tables::capture_schema(), settings.clone())?;
        let heavy_hitters = TableWriter::new(
            HEAVY_HITTERS,
            sketch_tables::heavy_hitters_schema(),
            settings.clone(),
        )?;
        let scans = TableWriter::new(SCANS, sketch_tables::scans_schema(), settings.clone())?;
        let flow_sizes = TableWriter::new(
            FLOW_SIZES,
            sketch_tables::flow_sizes_schema(),
            settings.clone(),
        )?;
        let sketch_state = TableWriter::new(
            SKETCH_STATE,
            sketch_tables::sketch_state_schema(),
            settings.clone(),
        )?;
        let traffic = TableWriter::new(TRAFFIC, traffic::traffic_schema(), settings.clone())?;
        let probes = TableWriter::new(PROBES, probes::probes_schema(), settings.clone())?;
        tracing::info!(
            root = %cfg.root.display(),
            tap_id = %cfg.tap_id,
            run_id = %settings.run_id,
            "Parquet sink open"
        );
        let mut sink = Sink {
            cfg,
            settings,
            flows,
            capture,
            heavy_hitters,
            scans,
            flow_sizes,
            sketch_state,
            traffic,
            probes,
            probes_requeued: 0,
            closed: Vec::new(),
            recent: VecDeque::new(),
            last_retention: Instant::now(),
            files_deleted: 0,
            bytes_deleted: 0,
            stale_removed,
            retention_errors: 0,
            _lock: lock,
        };
        sink.retention()?;
        Ok(sink)
    }

    /// The configuration the sink was opened with.
    pub fn config(&self) -> &SinkConfig {
        &self.cfg
    }

    /// This run's id, part of every file name.
    pub fn run_id(&self) -> &str {
        &self.settings.run_id
    }

    /// Every table's writer, with its name.
    fn writers(&self) -> [(&'static str, &TableWriter); 8] {
        [
            (FLOWS, &self.flows),
            (CAPTURE, &self.capture),
            (HEAVY_HITTERS, &self.heavy_hitters),
            (SCANS, &self.scans),
            (FLOW_SIZES, &self.flow_sizes),
            (SKETCH_STATE, &self.sketch_state),
            (TRAFFIC, &self.traffic),
            (PROBES, &self.probes),
        ]
    }

    fn writers_mut(&mut self) -> [&mut TableWriter; 8] {
        [
            &mut self.flows,
            &mut self.capture,
            &mut self.heavy_hitters,
            &mut self.scans,
            &mut self.flow_sizes,
            &mut self.sketch_state,
            &mut self.traffic,
            &mut self.probes,
        ]
    }

    /// In-progress paths of the files currently open, all tables.
    pub fn open_files(&self) -> Vec<PathBuf> {
        self.writers()
            .iter()
            .flat_map(|(_, w)| w.open_paths())
            .collect()
    }

    /// Appends finished flows to `flows`. A row's data time is its
    /// `last_ns` (flow_end).
    pub fn write_flows(&mut self, rows: &[FlowRow]) -> Result<(), SinkError> {
        let mut result = Ok(());
        for (day, group) in by_day(rows, |r| r.rec.last_ns) {
            let (first, last) = span(&group, |r| r.rec.last_ns);
            let batch = tables::flows_batch(self.flows.schema(), &self.settings.tap_id, &group);
            let w = &mut self.flows;
            let r = write_group(
                w,
                FLOWS,
                day,
                (first, last),
                group.len(),
                batch,
                &mut self.closed,
            );
            keep_first(&mut result, r);
        }
        keep_first(&mut result, self.after_closes());
        result
    }

    /// Appends per-worker epoch counters to `capture`. A row's data time is
    /// its `end_ns` (epoch_end).
    pub fn write_capture(&mut self, rows: &[CaptureRow]) -> Result<(), SinkError> {
        let mut result = Ok(());
        for (day, group) in by_day(rows, |r| r.end_ns) {
            let (first, last) = span(&group, |r| r.end_ns);
            let batch = tables::capture_batch(self.capture.schema(), &self.settings.tap_id, &group);
            let w = &mut self.capture;
            let r = write_group(
                w,
                CAPTURE,
                day,
                (first, last),
                group.len(),
                batch,
                &mut self.closed,
            );
            keep_first(&mut result, r);
        }
        keep_first(&mut result, self.after_closes());
        result
    }

    /// Appends a window's heavy hitters to `heavy_hitters`. A row's data
    /// time is its window end.
    pub fn write_heavy_hitters(&mut self, rows: &[HeavyHitter]) -> Result<(), SinkError> {
        let r = write_rows(
            &mut self.heavy_hitters,
            HEAVY_HITTERS,
            &self.settings.tap_id,
            &mut self.closed,
            rows,
            |r| r.end_ns,
            sketch_tables::heavy_hitters_batch,
        );
        self.finish_write(r)
    }

    /// Appends scan rows to `scans`. A row's data time is its window end.
    pub fn write_scans(&mut self, rows: &[Scan]) -> Result<(), SinkError> {
        let r = write_rows(
            &mut self.scans,
            SCANS,
            &self.settings.tap_id,
            &mut self.closed,
            rows,
            |r| r.end_ns,
            sketch_tables::scans_batch,
        );
        self.finish_write(r)
    }

    /// Appends flow-size buckets to `flow_sizes`. A row's data time is its
    /// window end.
    pub fn write_flow_sizes(&mut self, rows: &[FlowSizeRow]) -> Result<(), SinkError> {
        let r = write_rows(
            &mut self.flow_sizes,
            FLOW_SIZES,
            &self.settings.tap_id,
            &mut self.closed,
            rows,
            |r| r.end_ns,
            sketch_tables::flow_sizes_batch,
        );
        self.finish_write(r)
    }

    /// Appends serialized window states to `sketch_state`. A row's data
    /// time is its window end.
    pub fn write_sketch_state(&mut self, rows: &[SketchStateRow]) -> Result<(), SinkError> {
        let r = write_rows(
            &mut self.sketch_state,
            SKETCH_STATE,
            &self.settings.tap_id,
            &mut self.closed,
            rows,
            |r| r.end_ns,
            sketch_tables::sketch_state_batch,
        );
        self.finish_write(r)
    }

    /// Appends per-interval device x service rows to `traffic`. A row's
    /// data time is its interval end.
    pub fn write_traffic(&mut self, rows: &[TrafficRow]) -> Result<(), SinkError> {
        let r = write_rows(
            &mut self.traffic,
            TRAFFIC,
            &self.settings.tap_id,
            &mut self.closed,
            rows,
            |r| r.end_ns,
            traffic::traffic_batch,
        );
        self.finish_write(r)
    }

    /// Writes probe rows (all of one UTC day of `started_at`) as one
    /// complete file: written, closed and renamed into place at once.
    /// Returns whether the rows reached a complete file, and the error if
    /// any. Rows that did not are left to the caller (the probe buffer
    /// keeps them) and not counted as lost.
    pub fn write_probes(
        &mut self,
        rows: &[model::probe::ProbeResult],
    ) -> (bool, Option<SinkError>) {
        if rows.is_empty() {
            return (true, None);
        }
        let before = self.probes.counters();
        let mut r = write_rows(
            &mut self.probes,
            PROBES,
            &self.settings.tap_id,
            &mut self.closed,
            rows,
            |r| r.started_ns,
            probes::probes_batch,
        );
        let mut closed = std::mem::take(&mut self.closed);
        keep_first(&mut r, self.probes.close_all(&mut closed));
        self.closed = closed;
        let after = self.probes.counters();
        let placed = after.rows - before.rows >= rows.len() as u64;
        if !placed {
            self.probes_requeued += after.rows_lost - before.rows_lost;
        }
        (placed, self.finish_write(r).err())
    }

    fn finish_write(&mut self, mut result: Result<(), SinkError>) -> Result<(), SinkError> {
        keep_first(&mut result, self.after_closes());
        result
    }

    /// Moves the data clock to `data_now_ns` (Unix ns of packet time),
    /// closing files whose rotate interval passed, and applies retention
    /// after a close or every [`RETENTION_PERIOD`].
    pub fn tick(&mut self, data_now_ns: u64) -> Result<(), SinkError> {
        let mut result = Ok(());
        let mut closed = std::mem::take(&mut self.closed);
        for w in self.writers_mut() {
            keep_first(&mut result, w.advance(data_now_ns, &mut closed));
        }
        self.closed = closed;
        if self.closed.is_empty() && self.last_retention.elapsed() >= RETENTION_PERIOD {
            keep_first(&mut result, self.retention());
        }
        keep_first(&mut result, self.after_closes());
        result
    }

    /// Closes every open file and renames it into place (on shutdown and at
    /// the end of a replay). The sink stays usable: later rows open new files.
    pub fn close(&mut self) -> Result<(), SinkError> {
        let mut result = Ok(());
        let mut closed = std::mem::take(&mut self.closed);
        for w in self.writers_mut() {
            keep_first(&mut result, w.close_all(&mut closed));
        }
        self.closed = closed;
        keep_first(&mut result, self.after_closes());
        result
    }

    /// The sink's counters.
    pub fn stats(&self) -> SinkStats {
        let tables: Vec<TableStats> = self
            .writers()
            .into_iter()
            .map(|(table, w)| {
                let mut c = w.counters();
                if table == PROBES {
                    c.rows_lost -= self.probes_requeued.min(c.rows_lost);
                }
                TableStats {
                    table,
                    rows: c.rows,
                    rows_pending: w.pending_rows(),
                    files: c.files,
                    bytes: c.bytes,
                    rows_lost: c.rows_lost,
                    write_errors: c.write_errors,
                }
            })
            .collect();
        SinkStats {
            files_written: tables.iter().map(|t| t.files).sum(),
            bytes_written: tables.iter().map(|t| t.bytes).sum(),
            rows_lost: tables.iter().map(|t| t.rows_lost).sum(),
            write_errors: tables.iter().map(|t| t.write_errors).sum::<u64>()
                + self.retention_errors,
            tables,
            recent_files: self.recent.iter().cloned().collect(),
            files_deleted_by_retention: self.files_deleted,
            bytes_deleted_by_retention: self.bytes_deleted,
            stale_inprogress_removed: self.stale_removed,
        }
    }

    /// Accounts files closed by the current call and applies retention.
    fn after_closes(&mut self) -> Result<(), SinkError> {
        if self.closed.is_empty() {
            return Ok(());
        }
        for f in self.closed.drain(..) {
            if self.recent.len() == RECENT_FILES {
                self.recent.pop_front();
            }
            self.recent.push_back(f.path);
        }
        self.retention()
    }

    fn retention(&mut self) -> Result<(), SinkError> {
        self.last_retention = Instant::now();
        match retention::enforce(&self.cfg.root, self.cfg.quota_bytes) {
            Ok(out) => {
                self.files_deleted += out.deleted.len() as u64;
                self.bytes_deleted += out.bytes_deleted;
                Ok(())
            }
            Err(e) => {
                self.retention_errors += 1;
                Err(e)
            }
        }
    }
}

impl Drop for Sink {
    /// Closes open files so that rows written before an early return or a
    /// panic still reach complete files; [`Sink::close`] is the way to see
    /// the errors.
    fn drop(&mut self) {
        if self.writers().iter().any(|(_, w)| w.pending_rows() > 0) {
            if let Err(e) = self.close() {
                tracing::error!(error = %e, "closing Parquet files on drop");
            }
        }
    }
}

/// Writes one day's batch, counting its rows as lost if it could not be built.
fn write_group(
    w: &mut TableWriter,
    table: &'static str,
    day: u64,
    (first, last): (u64, u64),
    rows: usize,
    batch: Result<RecordBatch, arrow::error::ArrowError>,
    closed: &mut Vec<ClosedFile>,
) -> Result<(), SinkError> {
    match batch {
        Ok(b) => w.write(day, first, last, &b, closed),
        Err(e) => {
            // Only a bug can get here (the schema and builders disagree).
            let _ = w.advance(last, closed);
            tracing::error!(table, error = %e, "building a record batch");
            w.count_lost(rows as u64);
            Err(SinkError::Encode {
                table,
                source: Box::new(e),
            })
        }
    }
}

/// Writes `rows` to one table, a batch per UTC day of their data time.
fn write_rows<T>(
    w: &mut TableWriter,
    table: &'static str,
    tap_id: &str,
    closed: &mut Vec<ClosedFile>,
    rows: &[T],
    time: impl Fn(&T) -> u64 + Copy,
    build: impl Fn(&SchemaRef, &str, &[&T]) -> Result<RecordBatch, ArrowError>,
) -> Result<(), SinkError> {
    let mut result = Ok(());
    for (day, group) in by_day(rows, time) {
        let (first, last) = span(&group, time);
        let batch = build(w.schema(), tap_id, &group);
        let r = write_group(w, table, day, (first, last), group.len(), batch, closed);
        keep_first(&mut result, r);
    }
    result
}

/// Rows grouped by the UTC day of their data time, days ascending, rows in
/// input order.
fn by_day<T>(rows: &[T], time: impl Fn(&T) -> u64) -> BTreeMap<u64, Vec<&T>> {
    let mut out: BTreeMap<u64, Vec<&T>> = BTreeMap::new();
    for r in rows {
        out.entry(writer::day_of(time(r))).or_default().push(r);
    }
    out
}

/// Earliest and latest data time of a non-empty group.
fn span<T>(rows: &[&T], time: impl Fn(&T) -> u64) -> (u64, u64) {
    rows.iter().fold((u64::MAX, 0), |(lo, hi), r| {
        let t = time(r);
        (lo.min(t), hi.max(t))
    })
}

/// The column holding a table's data time (it picks the date partition).
pub fn data_time_column(table: &str) -> Option<&'static str> {
    Some(match table {
        FLOWS => "flow_end",
        CAPTURE => "epoch_end",
        TRAFFIC => "interval_end",
        PROBES => "started_at",
        HEAVY_HITTERS | SCANS | FLOW_SIZES | SKETCH_STATE => "window_end",
        _ => return None,
    })
}

/// The earliest and latest data time (Unix µs) of a complete file of
/// `table`, from its footer's column statistics (no data is read).
pub fn file_time_range(table: &str, path: &std::path::Path) -> Option<(i64, i64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let col = data_time_column(table)?;
    let reader = SerializedFileReader::new(std::fs::File::open(path).ok()?).ok()?;
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

fn keep_first(result: &mut Result<(), SinkError>, r: Result<(), SinkError>) {
    if let (Ok(()), Err(e)) = (&*result, r) {
        *result = Err(e);
    }
}

/// Makes names unique across runs: the sink's open time in ms and the pid, plus a
/// counter for further sinks opened by the same process.
fn run_id() -> String {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let pid = std::process::id();
    match OPENED.fetch_add(1, Ordering::Relaxed) {
        0 => format!("{ms}p{pid}"),
        n => format!("{ms}p{pid}.{n}"),
    }
}

/// `tap_id` with every character other than ASCII letters, digits, `.`, `_`
/// and `-` replaced by `_`.
fn file_safe(tap_id: &str) -> String {
    tap_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Takes an exclusive, non-blocking `flock` on `<root>/.tapscope.lock`, so a
/// second sink on the same root (say a replay while the daemon runs) fails
/// instead of deleting the first one's in-progress files.
fn lock_root(root: &Path) -> Result<File, SinkError> {
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| SinkError::io("opening", &path, e))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::WouldBlock {
            SinkError::Locked { path }
        } else {
            SinkError::io("locking", &path, e)
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datapath::epoch::FlowRecord;

    fn rows_of(recs: impl IntoIterator<Item = FlowRecord>) -> Vec<FlowRow> {
        recs.into_iter().map(FlowRow::from).collect()
    }
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType, UInt16Type};
    use datapath::epoch::{CaptureCounters, DirCounters, EndReason, TcpDirStats};
    use datapath::parse::{ip_proto, Tunnel};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::fs;

    const SEC: u64 = 1_000_000_000;
    /// 2024-05-01T00:00:00Z.
    const D0: u64 = 1_714_521_600 * SEC;
    const DAY: u64 = 86_400 * SEC;

    fn cfg(root: &Path) -> SinkConfig {
        SinkConfig {
            root: root.to_path_buf(),
            tap_id: "tap-test".into(),
            rotate_secs: 300,
            rotate_bytes: 128 << 20,
            quota_bytes: 0,
            row_group_rows: 1000,
        }
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
    }

    fn flow(end_ns: u64) -> FlowRecord {
        FlowRecord {
            first_ns: end_ns - 2 * SEC,
            last_ns: end_ns,
            end_reason: EndReason::Fin,
            worker: 1,
            ip_version: 4,
            protocol: ip_proto::TCP,
            client_mac: [2, 0, 0, 0, 0, 1],
            server_mac: [2, 0, 0, 0, 0, 2],
            client_ip: v4([10, 1, 2, 3]),
            server_ip: v4([93, 184, 216, 34]),
            client_port: 40000,
            server_port: 443,
            c2s: DirCounters {
                packets: 5,
                bytes: 600,
                payload_bytes: 300,
            },
            s2c: DirCounters {
                packets: 4,
                bytes: 4000,
                payload_bytes: 3800,
            },
            tcp_c2s: TcpDirStats {
                syn: 1,
                fin: 1,
                mss: 1460,
                wscale: 7,
                ..Default::default()
            },
            tcp_s2c: TcpDirStats {
                syn: 1,
                fin: 1,
                ..Default::default()
            },
            rtt_syn_synack_ns: 20_000_000,
            rtt_synack_ack_ns: 1_500_000,
            ..Default::default()
        }
    }

    fn capture_row(worker: u16, end_ns: u64) -> CaptureRow {
        let mut counters = CaptureCounters {
            packets: 1000,
            bytes: 640_000,
            ip_packets: 990,
            busy_polls: 1,
            idle_polls: 3,
            ..Default::default()
        };
        counters.parse_errors[16] = 10;
        CaptureRow {
            worker,
            source: "pcap:test.pcap".into(),
            capture_mode: "pcap".into(),
            start_ns: end_ns - SEC,
            end_ns,
            counters,
            nic: None,
        }
    }

    /// Every `.parquet` file under `dir`, sorted.
    fn parquet_files(dir: &Path) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in fs::read_dir(d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, &mut out);
        out.sort();
        out
    }

    fn read(path: &Path) -> RecordBatch {
        let file = File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    fn rows_in(dir: &Path) -> usize {
        parquet_files(dir).iter().map(|p| read(p).num_rows()).sum()
    }

    #[test]
    fn writes_readable_tables() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        let t = D0 + 3_600 * SEC + 123_456_789;
        let tcp = flow(t);
        let mut ip6 = [0u8; 16];
        ip6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        ip6[15] = 0x53;
        let mut ip6c = ip6;
        ip6c[15] = 0x10;
        ip6c[8] = 0xab;
        let udp = FlowRecord {
            first_ns: t,
            last_ns: t,
            end_reason: EndReason::Idle,
            worker: 0,
            vlan: 100,
            tunnel: Tunnel::SixInFour,
            ip_version: 6,
            protocol: ip_proto::UDP,
            client_ip: ip6c,
            server_ip: ip6,
            client_port: 5353,
            server_port: 53,
            c2s: DirCounters {
                packets: 1,
                bytes: 90,
                payload_bytes: 40,
            },
            ..Default::default()
        };
        let icmp = FlowRecord {
            first_ns: t,
            last_ns: t,
            ip_version: 4,
            protocol: ip_proto::ICMP,
            client_ip: v4([192, 0, 2, 1]),
            server_ip: v4([192, 0, 2, 255]),
            end_reason: EndReason::EndOfCapture,
            ..Default::default()
        };
        sink.write_flows(&rows_of([tcp, udp, icmp])).unwrap();
        sink.write_flows(&[]).unwrap();
        sink.write_capture(&[capture_row(0, t), capture_row(1, t)])
            .unwrap();
        sink.write_capture(&[capture_row(0, t + SEC)]).unwrap();
        sink.close().unwrap();

        let st = sink.stats();
        assert_eq!(st.files_written, 2);
        assert_eq!(st.table(FLOWS).unwrap().rows, 3);
        assert_eq!(st.table(CAPTURE).unwrap().rows, 3);
        assert_eq!(st.write_errors, 0);
        assert_eq!(st.recent_files.len(), 2);
        assert!(st.bytes_written > 0);

        let flows = parquet_files(&root.join("flows"));
        assert_eq!(flows.len(), 1);
        let name = flows[0].file_name().unwrap().to_str().unwrap();
        assert!(
            flows[0]
                .parent()
                .unwrap()
                .ends_with("flows/date=2024-05-01"),
            "{flows:?}"
        );
        assert!(
            name.starts_with("flows-tap-test-20240501T010000Z-")
                && name.ends_with("-000001.parquet"),
            "{name}"
        );
        assert!(name.contains(sink.run_id()));
        let b = read(&flows[0]);
        assert_eq!(b.num_rows(), 3);
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let doc_names: Vec<String> = flows_columns().into_iter().map(|d| d.name).collect();
        assert_eq!(names, doc_names);
        assert_eq!(
            schema.field_with_name("flow_end").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            schema.field_with_name("worker").unwrap().data_type(),
            &DataType::UInt16
        );
        let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
        assert_eq!(s("tap_id").value(0), "tap-test");
        assert_eq!(s("client_ip").value(0), "10.1.2.3");
        assert_eq!(s("server_ip").value(0), "93.184.216.34");
        assert_eq!(s("client_ip").value(1), "2001:db8::ab00:0:0:10");
        assert_eq!(s("server_ip").value(1), "2001:db8::53");
        assert_eq!(s("client_mac").value(0), "02:00:00:00:00:01");
        assert!(s("client_mac").is_null(1));
        assert_eq!(s("end_reason").value(2), "end_of_capture");
        assert_eq!(s("tunnel").value(1), "6in4");
        assert!(s("tunnel").is_null(0));
        let end = b
            .column_by_name("flow_end")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(end.value(0), (t / 1_000) as i64);
        let start = b
            .column_by_name("flow_start")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(start.value(0), ((t - 2 * SEC) / 1_000) as i64);
        let vlan = b
            .column_by_name("vlan")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert!(vlan.is_null(0));
        assert_eq!(vlan.value(1), 100);
        let port = b
            .column_by_name("client_port")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert_eq!(port.value(0), 40000);
        assert!(port.is_null(2), "ICMP has no ports");
        let rtt = b
            .column_by_name("tcp_rtt_syn_ms")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!((rtt.value(0) - 20.0).abs() < 1e-9);
        assert!(rtt.is_null(1) && rtt.is_null(2));
        let mss = b
            .column_by_name("c2s_mss")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert_eq!(mss.value(0), 1460);
        assert!(b.column_by_name("s2c_mss").unwrap().is_null(0));
        assert!(b.column_by_name("s2c_wscale").unwrap().is_null(0));
        assert!(b.column_by_name("c2s_retrans_packets").unwrap().is_null(1));
        assert!(!b.column_by_name("c2s_retrans_packets").unwrap().is_null(0));

        let cap = parquet_files(&root.join("capture"));
        assert_eq!(cap.len(), 1);
        let c = read(&cap[0]);
        assert_eq!(c.num_rows(), 3);
        let cap_names: Vec<String> = c
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let doc_names: Vec<String> = capture_columns().into_iter().map(|d| d.name).collect();
        assert_eq!(cap_names, doc_names);
        let u = |n: &str| {
            c.column_by_name(n)
                .unwrap()
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .value(0)
        };
        assert_eq!(u("packets"), 1000);
        assert_eq!(u("parse_non_ip"), 10);
        assert_eq!(u("parse_errors_total"), 10);
        let util = c
            .column_by_name("busy_poll_utilisation")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!((util.value(0) - 0.25).abs() < 1e-12);
        assert_eq!(
            c.column_by_name("source")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "pcap:test.pcap"
        );

        // Nothing is left in progress.
        assert!(parquet_files(&root.join(writer::INPROGRESS_DIR)).is_empty());
    }

    #[test]
    fn files_appear_only_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        sink.write_flows(&rows_of([flow(D0 + SEC)])).unwrap();
        sink.write_capture(&[capture_row(0, D0 + SEC)]).unwrap();
        assert!(parquet_files(&root.join("flows")).is_empty());
        assert!(parquet_files(&root.join("capture")).is_empty());
        let open = parquet_files(&root.join(".inprogress"));
        assert_eq!(open.len(), 2);
        let mut listed = sink.open_files();
        listed.sort();
        assert_eq!(listed, open);
        assert_eq!(sink.stats().table(FLOWS).unwrap().rows_pending, 1);
        sink.close().unwrap();
        assert!(parquet_files(&root.join(".inprogress")).is_empty());
        assert_eq!(parquet_files(&root.join("flows")).len(), 1);
        assert_eq!(parquet_files(&root.join("capture")).len(), 1);
        assert!(sink.open_files().is_empty());
    }

    #[test]
    fn empty_tables_create_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        sink.write_flows(&[]).unwrap();
        sink.write_capture(&[]).unwrap();
        sink.tick(D0).unwrap();
        sink.close().unwrap();
        assert!(parquet_files(root).is_empty());
        assert_eq!(sink.stats().files_written, 0);
    }

    #[test]
    fn rotates_by_data_time() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        let t = D0 + 10 * SEC;
        sink.write_flows(&rows_of([flow(t)])).unwrap();
        sink.write_flows(&rows_of([flow(t + 299 * SEC)])).unwrap();
        assert!(parquet_files(&root.join("flows")).is_empty());
        // The interval passes with this row: the first file closes, the row
        // opens the second.
        sink.write_flows(&rows_of([flow(t + 300 * SEC)])).unwrap();
        let files = parquet_files(&root.join("flows"));
        assert_eq!(files.len(), 1);
        assert_eq!(read(&files[0]).num_rows(), 2);
        // A tick alone rotates too, with no new rows.
        sink.tick(t + 600 * SEC).unwrap();
        assert_eq!(parquet_files(&root.join("flows")).len(), 2);
        assert!(sink.open_files().is_empty());
        sink.close().unwrap();
        assert_eq!(parquet_files(&root.join("flows")).len(), 2);
        assert_eq!(rows_in(&root.join("flows")), 3);
    }

    #[test]
    fn rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(SinkConfig {
            rotate_bytes: 1,
            ..cfg(root)
        })
        .unwrap();
        for i in 0..3 {
            sink.write_capture(&[capture_row(0, D0 + i * SEC)]).unwrap();
        }
        // Each write passes the limit and closes its file right away.
        assert!(sink.open_files().is_empty());
        let files = parquet_files(&root.join("capture"));
        assert_eq!(files.len(), 3);
        assert_eq!(rows_in(&root.join("capture")), 3);

        // With a realistic limit, a big write is split across files.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(SinkConfig {
            rotate_bytes: 20_000,
            row_group_rows: 100,
            ..cfg(root)
        })
        .unwrap();
        let rows: Vec<FlowRecord> = (0..2_000u64)
            .map(|i| {
                let mut f = flow(D0 + SEC + i * 1_000);
                f.client_port = i as u16;
                f.c2s.bytes = i * 7919;
                f
            })
            .collect();
        sink.write_flows(&rows_of(rows.clone())).unwrap();
        sink.close().unwrap();
        let files = parquet_files(&root.join("flows"));
        assert!(files.len() > 2, "{} files", files.len());
        assert_eq!(rows_in(&root.join("flows")), 2_000);
        assert_eq!(sink.stats().table(FLOWS).unwrap().files, files.len() as u64);
    }

    #[test]
    fn splits_by_date_without_flapping() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        let before = D0 + DAY - SEC; // 2024-05-01T23:59:59Z
        let after = D0 + DAY + SEC; // 2024-05-02T00:00:01Z
        sink.write_flows(&rows_of([flow(after), flow(before)]))
            .unwrap();
        // Late rows of the first date, interleaved with the second.
        sink.write_flows(&rows_of([flow(before - SEC)])).unwrap();
        sink.write_flows(&rows_of([flow(after + SEC), flow(before - 2 * SEC)]))
            .unwrap();
        sink.close().unwrap();
        let d1 = parquet_files(&root.join("flows/date=2024-05-01"));
        let d2 = parquet_files(&root.join("flows/date=2024-05-02"));
        assert_eq!((d1.len(), d2.len()), (1, 1));
        assert_eq!(read(&d1[0]).num_rows(), 3);
        assert_eq!(read(&d2[0]).num_rows(), 2);
        assert!(d1[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains("-20240501T235959Z-"));
        assert!(d2[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains("-20240502T000001Z-"));
        let ends = read(&d1[0]);
        let ends = ends
            .column_by_name("flow_end")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert!(ends
            .values()
            .iter()
            .all(|&us| (us as u64) < (D0 + DAY) / 1_000));
    }

    #[test]
    fn reopen_removes_stale_inprogress_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        sink.write_flows(&rows_of([flow(D0 + SEC)])).unwrap();
        // What a killed run leaves behind: a partial file (no footer), and
        // the same in another table's folder.
        let open = sink.open_files();
        assert_eq!(open.len(), 1);
        let stale = root.join(".inprogress/flows/flows-x-20240501T000000Z-1p1-000001.parquet");
        fs::copy(&open[0], &stale).unwrap();
        fs::write(
            root.join(".inprogress/capture/partial.parquet"),
            b"PAR1garbage",
        )
        .unwrap();
        sink.close().unwrap();
        assert_eq!(sink.stats().stale_inprogress_removed, 0);
        drop(sink);

        let sink = Sink::open(cfg(root)).unwrap();
        assert_eq!(sink.stats().stale_inprogress_removed, 2);
        assert!(parquet_files(&root.join(".inprogress")).is_empty());
        // The complete file of the first run is untouched.
        assert_eq!(rows_in(&root.join("flows")), 1);
    }

    #[test]
    fn retention_keeps_the_newest_files_under_quota() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // One file per write.
        let mut sink = Sink::open(SinkConfig {
            rotate_bytes: 1,
            ..cfg(root)
        })
        .unwrap();
        sink.write_flows(&rows_of([flow(D0 + SEC)])).unwrap();
        let one = sink.stats().bytes_written;
        drop(sink);
        fs::remove_dir_all(root.join("flows")).unwrap();

        let quota = one * 5 / 2; // room for two files
        let mut sink = Sink::open(SinkConfig {
            rotate_bytes: 1,
            quota_bytes: quota,
            ..cfg(root)
        })
        .unwrap();
        // Ten files over ten days; every close applies the quota.
        for i in 0..10 {
            sink.write_flows(&rows_of([flow(D0 + i * DAY + SEC)]))
                .unwrap();
            let total: u64 = parquet_files(root)
                .iter()
                .map(|p| fs::metadata(p).unwrap().len())
                .sum();
            assert!(total <= quota, "{total} > {quota} after file {i}");
        }
        let st = sink.stats();
        assert_eq!(st.files_written, 10);
        assert_eq!(st.files_deleted_by_retention, 8);
        let left = parquet_files(&root.join("flows"));
        assert_eq!(left.len(), 2);
        assert!(left[0].to_str().unwrap().contains("date=2024-05-09"));
        assert!(left[1].to_str().unwrap().contains("date=2024-05-10"));
        // Emptied date folders are gone.
        let dates = fs::read_dir(root.join("flows")).unwrap().count();
        assert_eq!(dates, 2);
    }

    #[test]
    fn second_sink_on_a_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let sink = Sink::open(cfg(root)).unwrap();
        assert!(matches!(
            Sink::open(cfg(root)),
            Err(SinkError::Locked { .. })
        ));
        drop(sink);
        Sink::open(cfg(root)).unwrap();
    }

    #[test]
    fn bad_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Sink::open(SinkConfig {
            row_group_rows: 0,
            ..cfg(dir.path())
        });
        assert!(matches!(e, Err(SinkError::Config(_))));
        let e = Sink::open(SinkConfig {
            tap_id: String::new(),
            ..cfg(dir.path())
        });
        assert!(matches!(e, Err(SinkError::Config(_))));
        // A root that cannot be created: an error naming the path, no panic.
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let e = Sink::open(cfg(&file.join("root"))).err().unwrap();
        assert!(e.to_string().contains("file/root"), "{e}");
    }

    #[test]
    fn drop_closes_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        sink.write_flows(&rows_of([flow(D0 + SEC)])).unwrap();
        drop(sink);
        assert_eq!(rows_in(&root.join("flows")), 1);
        assert!(parquet_files(&root.join(".inprogress")).is_empty());
    }

    #[test]
    fn file_safe_tap_ids() {
        assert_eq!(file_safe("edge-01.lab"), "edge-01.lab");
        assert_eq!(file_safe("a/b c"), "a_b_c");
    }

    #[test]
    fn a_files_data_time_range_comes_from_its_footer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut sink = Sink::open(cfg(root)).unwrap();
        sink.write_flows(&rows_of([flow(D0 + 5 * SEC), flow(D0 + 65 * SEC)]))
            .unwrap();
        sink.close().unwrap();
        let files = parquet_files(&root.join("flows"));
        assert_eq!(files.len(), 1);
        let (lo, hi) = file_time_range(FLOWS, &files[0]).unwrap();
        assert_eq!(
            (lo, hi),
            (
                ((D0 + 5 * SEC) / 1000) as i64,
                ((D0 + 65 * SEC) / 1000) as i64
            )
        );
        assert_eq!(file_time_range("nonsense", &files[0]), None);
    }
}
