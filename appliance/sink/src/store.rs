//! The [`Sink`]: one rotating writer per registered table, a retention
//! quota over all of them, and the one generic write path
//! ([`Sink::write`]). Synchronous: the sink thread ([`crate::SinkThread`])
//! owns it in a run; tests and tools may use it directly.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::retention;
use crate::table::{self, Table, TableInfo, TABLES};
use crate::tables::Probes;
use crate::writer::{self, ClosedFile, TableWriter, WriterSettings};
use crate::RETENTION_PERIOD;
use crate::{SinkConfig, SinkError, SinkStats, TableStats, LOCK_FILE, RECENT_FILES};

/// The Parquet sink: one rotating writer per table, a retention quota over
/// all of them. Not shared between threads: in a run the sink thread owns
/// it.
pub struct Sink {
    cfg: SinkConfig,
    settings: Arc<WriterSettings>,
    /// The tables this sink writes ([`TABLES`] unless opened with
    /// [`Sink::open_tables`]).
    tables: &'static [TableInfo],
    /// One per table of `tables`, in its order.
    writers: Vec<TableWriter>,
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
    /// Creates the folders of the appliance's tables ([`TABLES`]), takes
    /// the root's lock, deletes files a killed run left in `.inprogress`
    /// and applies the retention quota.
    pub fn open(cfg: SinkConfig) -> Result<Sink, SinkError> {
        Sink::open_tables(cfg, TABLES)
    }

    /// [`Sink::open`] for another set of tables (the video lab's
    /// [`crate::LAB_TABLES`]): only these get folders and writers.
    pub fn open_tables(cfg: SinkConfig, tables: &'static [TableInfo]) -> Result<Sink, SinkError> {
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
        let writers = tables
            .iter()
            .map(|t| TableWriter::new(t.name, t.schema(), settings.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(
            root = %cfg.root.display(),
            tap_id = %cfg.tap_id,
            run_id = %settings.run_id,
            "Parquet sink open"
        );
        let mut sink = Sink {
            cfg,
            settings,
            tables,
            writers,
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

    /// In-progress paths of the files currently open, all tables.
    pub fn open_files(&self) -> Vec<PathBuf> {
        self.writers.iter().flat_map(|w| w.open_paths()).collect()
    }

    /// Appends `rows` to table `T`, a batch per UTC day of their data time
    /// ([`Table::data_time`]); the data time picks the date partition and
    /// drives rotation. Rows that will not reach a complete file because of
    /// an error are counted in [`TableStats::rows_lost`].
    pub fn write<T: Table>(&mut self, rows: &[T::Row]) -> Result<(), SinkError> {
        let r = self.write_rows::<T>(rows);
        self.finish_write(r)
    }

    fn write_rows<T: Table>(&mut self, rows: &[T::Row]) -> Result<(), SinkError> {
        let i = self.index_of(T::NAME)?;
        let w = &mut self.writers[i];
        let mut result = Ok(());
        for (day, group) in by_day(rows, T::data_time) {
            let (first, last) = span(&group, T::data_time);
            let batch = table::batch::<T>(w.schema(), &self.settings.tap_id, &group);
            let r = match batch {
                Ok(b) => w.write(day, first, last, &b, &mut self.closed),
                Err(e) => {
                    // Only a bug can get here (the schema and builder disagree).
                    let _ = w.advance(last, &mut self.closed);
                    tracing::error!(table = T::NAME, error = %e, "building a record batch");
                    w.count_lost(group.len() as u64);
                    Err(SinkError::Encode {
                        table: T::NAME,
                        source: Box::new(e),
                    })
                }
            };
            keep_first(&mut result, r);
        }
        result
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
        let i = match self.index_of(Probes::NAME) {
            Ok(i) => i,
            Err(e) => return (false, Some(e)),
        };
        let before = self.writers[i].counters();
        let mut r = self.write_rows::<Probes>(rows);
        keep_first(&mut r, self.writers[i].close_all(&mut self.closed));
        let after = self.writers[i].counters();
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
        for w in &mut self.writers {
            keep_first(&mut result, w.advance(data_now_ns, &mut self.closed));
        }
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
        for w in &mut self.writers {
            keep_first(&mut result, w.close_all(&mut self.closed));
        }
        keep_first(&mut result, self.after_closes());
        result
    }

    /// The sink's counters.
    pub fn stats(&self) -> SinkStats {
        let tables: Vec<TableStats> = self
            .writers
            .iter()
            .zip(self.tables)
            .map(|(w, t)| {
                let mut c = w.counters();
                if t.name == Probes::NAME {
                    c.rows_lost -= self.probes_requeued.min(c.rows_lost);
                }
                TableStats {
                    table: t.name,
                    rows: c.rows,
                    rows_pending: w.pending_rows(),
                    files: c.files,
                    bytes: c.bytes,
                    rows_lost: c.rows_lost,
                    write_errors: c.write_errors,
                    rows_dropped: 0,
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
            ..SinkStats::default()
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
        if self.writers.iter().any(|w| w.pending_rows() > 0) {
            if let Err(e) = self.close() {
                tracing::error!(error = %e, "closing Parquet files on drop");
            }
        }
    }
}

impl Sink {
    /// Where table `name`'s writer is.
    fn index_of(&self, name: &'static str) -> Result<usize, SinkError> {
        self.tables
            .iter()
            .position(|t| t.name == name)
            .ok_or(SinkError::Unregistered { table: name })
    }
}

/// Rows grouped by the UTC day of their data time, days ascending, rows in
/// input order.
fn by_day<R>(rows: &[R], time: impl Fn(&R) -> u64) -> BTreeMap<u64, Vec<&R>> {
    let mut out: BTreeMap<u64, Vec<&R>> = BTreeMap::new();
    for r in rows {
        out.entry(writer::day_of(time(r))).or_default().push(r);
    }
    out
}

/// Earliest and latest data time of a non-empty group.
fn span<R>(rows: &[&R], time: impl Fn(&R) -> u64) -> (u64, u64) {
    rows.iter().fold((u64::MAX, 0), |(lo, hi), r| {
        let t = time(r);
        (lo.min(t), hi.max(t))
    })
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
mod tests;
