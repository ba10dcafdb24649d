//! A rotating, Hive-partitioned Parquet writer for one table.
//!
//! Layout under the sink root:
//!
//! ```text
//! <root>/<table>/date=YYYY-MM-DD/<table>-<tapid>-<YYYYMMDDTHHMMSSZ>-<runid>-<seq>.parquet   complete
//! <root>/.inprogress/<table>/<same name>                                                      being written
//! ```
//!
//! A file is written in the hidden in-progress folder (same filesystem) and,
//! once closed, fsynced, renamed into its date folder and the folder fsynced:
//! a file in a table folder is always complete. The date is the UTC date of
//! the rows' *data* time (packet timestamps), not of the wall clock, and the
//! name's timestamp is the data time of the file's first row.
//!
//! A file is closed (rotated) when
//! - the data clock (the latest data time seen, from rows or
//!   [`TableWriter::advance`]) reaches the data clock at its opening plus the
//!   rotate interval;
//! - its size (bytes written plus the estimated encoded size of the buffered
//!   row group) reaches the size limit;
//! - more than [`MAX_OPEN_PARTITIONS`] dates are open at once (the oldest date
//!   is closed).
//!
//! Rows of another date than an open file's go to a file of their own date.
//! Up to [`MAX_OPEN_PARTITIONS`] dates stay open at once, so records that
//! arrive late across midnight (an idle flow's `flow_end` is its last packet)
//! do not make files flap between two dates.
//!
//! A file that fails to write or close is abandoned (its in-progress file is
//! removed); its rows are counted as lost and the error is returned.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::SinkError;

/// Hidden folder of in-progress files, directly under the root.
pub(crate) const INPROGRESS_DIR: &str = ".inprogress";
/// Dates of one table that may have a file open at once.
pub(crate) const MAX_OPEN_PARTITIONS: usize = 3;
/// Upper bound of a row group's estimated encoded size: with the row count
/// limit, bounds the memory a writer buffers.
const ROW_GROUP_MAX_BYTES: usize = 64 << 20;
/// zstd's own default level: a good ratio at a small CPU cost.
const ZSTD_LEVEL: i32 = 3;

use model::time::{civil_from_days, days_from_civil, NS_PER_SEC, SECS_PER_DAY};

/// Settings shared by the table writers of one sink.
#[derive(Clone, Debug)]
pub(crate) struct WriterSettings {
    pub root: PathBuf,
    /// The `tap_id` as written in rows and in the files' key-value metadata.
    pub tap_id: String,
    /// The `tap_id` made safe for file names.
    pub file_tap_id: String,
    /// Unique per run (see `Sink::open`); never contains `-`.
    pub run_id: String,
    /// Rotate interval in ns of data time; 0 = no time-based rotation.
    pub rotate_ns: u64,
    /// Size limit per file; 0 = none.
    pub rotate_bytes: u64,
    /// Maximum rows per row group (> 0).
    pub row_group_rows: usize,
}

/// A file that was closed and renamed into its table folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClosedFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// Running totals of one table writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WriterCounters {
    /// Rows in files closed and renamed into place.
    pub rows: u64,
    pub files: u64,
    /// Size of those files.
    pub bytes: u64,
    /// Rows that will never reach a complete file (write or close failed).
    pub rows_lost: u64,
    /// Failed writes, closes and renames.
    pub write_errors: u64,
}

struct OpenFile {
    writer: ArrowWriter<File>,
    tmp_path: PathBuf,
    name: String,
    day: u64,
    /// Data clock when the file was opened.
    opened_ns: u64,
    rows: u64,
}

impl OpenFile {
    fn size_estimate(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }
}

/// The rotating writer of one table.
pub(crate) struct TableWriter {
    table: &'static str,
    schema: SchemaRef,
    settings: Arc<WriterSettings>,
    props: WriterProperties,
    inprogress_dir: PathBuf,
    seq: u64,
    clock_ns: u64,
    open: Vec<OpenFile>,
    counters: WriterCounters,
}

impl TableWriter {
    /// Creates the table's folder and its in-progress folder.
    pub(crate) fn new(
        table: &'static str,
        schema: SchemaRef,
        settings: Arc<WriterSettings>,
    ) -> Result<TableWriter, SinkError> {
        let inprogress_dir = settings.root.join(INPROGRESS_DIR).join(table);
        create_dir_all(&inprogress_dir)?;
        create_dir_all(&settings.root.join(table))?;
        let compression = Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("zstd level 3 is within 1..=22"),
        );
        let props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(settings.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("tapscope.table".to_string(), table.to_string()),
                KeyValue::new("tapscope.tap_id".to_string(), settings.tap_id.clone()),
                KeyValue::new("tapscope.run_id".to_string(), settings.run_id.clone()),
            ]))
            .build();
        Ok(TableWriter {
            table,
            schema,
            settings,
            props,
            inprogress_dir,
            seq: 0,
            clock_ns: 0,
            open: Vec::new(),
            counters: WriterCounters::default(),
        })
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(crate) fn counters(&self) -> WriterCounters {
        self.counters
    }

    /// Rows in files still open.
    pub(crate) fn pending_rows(&self) -> u64 {
        self.open.iter().map(|f| f.rows).sum()
    }

    /// In-progress paths of the files still open.
    pub(crate) fn open_paths(&self) -> Vec<PathBuf> {
        self.open.iter().map(|f| f.tmp_path.clone()).collect()
    }

    /// Counts rows that will never be written.
    pub(crate) fn count_lost(&mut self, rows: u64) {
        self.counters.rows_lost += rows;
        self.counters.write_errors += 1;
    }

    /// Writes `batch`, whose rows all have data times on UTC day `day`
    /// (days since 1970-01-01) between `first_ns` and `last_ns`. Files closed
    /// on the way are appended to `closed`.
    pub(crate) fn write(
        &mut self,
        day: u64,
        first_ns: u64,
        last_ns: u64,
        batch: &RecordBatch,
        closed: &mut Vec<ClosedFile>,
    ) -> Result<(), SinkError> {
        let mut first_err = self.advance(last_ns, closed).err();
        let total = batch.num_rows();
        let step = self.settings.row_group_rows.max(1);
        let mut offset = 0;
        while offset < total {
            let len = step.min(total - offset);
            if let Err(e) = self.write_chunk(day, first_ns, &batch.slice(offset, len), closed) {
                // This chunk was counted by write_chunk; the rest is lost too.
                let rest = (total - offset - len) as u64;
                self.counters.rows_lost += rest;
                return Err(first_err.unwrap_or(e));
            }
            offset += len;
        }
        match first_err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write_chunk(
        &mut self,
        day: u64,
        first_ns: u64,
        chunk: &RecordBatch,
        closed: &mut Vec<ClosedFile>,
    ) -> Result<(), SinkError> {
        let idx = match self.open.iter().position(|f| f.day == day) {
            Some(i) => i,
            None => {
                let mut evict_err = None;
                while self.open.len() >= MAX_OPEN_PARTITIONS {
                    let oldest = (0..self.open.len())
                        .min_by_key(|&i| self.open[i].day)
                        .expect("open is not empty");
                    if let Err(e) = self.close_at(oldest, closed) {
                        evict_err.get_or_insert(e);
                    }
                }
                match self.open_file(day, first_ns) {
                    Ok(f) => self.open.push(f),
                    Err(e) => {
                        self.count_lost(chunk.num_rows() as u64);
                        return Err(evict_err.unwrap_or(e));
                    }
                }
                if let Some(e) = evict_err {
                    // The chunk still goes to the new file; report the failed close.
                    self.write_open(self.open.len() - 1, chunk, closed)?;
                    return Err(e);
                }
                self.open.len() - 1
            }
        };
        self.write_open(idx, chunk, closed)
    }

    fn write_open(
        &mut self,
        idx: usize,
        chunk: &RecordBatch,
        closed: &mut Vec<ClosedFile>,
    ) -> Result<(), SinkError> {
        let f = &mut self.open[idx];
        if let Err(e) = f.writer.write(chunk) {
            let err = SinkError::parquet(&f.tmp_path, e);
            let f = self.open.swap_remove(idx);
            let rows = f.rows + chunk.num_rows() as u64;
            self.abandon(f, rows);
            return Err(err);
        }
        f.rows += chunk.num_rows() as u64;
        let limit = self.settings.rotate_bytes;
        if limit > 0 && f.size_estimate() >= limit {
            self.close_at(idx, closed)?;
        }
        Ok(())
    }

    /// Moves the data clock to `now_ns` (it never goes back) and closes
    /// every file whose rotate interval has passed.
    pub(crate) fn advance(
        &mut self,
        now_ns: u64,
        closed: &mut Vec<ClosedFile>,
    ) -> Result<(), SinkError> {
        self.clock_ns = self.clock_ns.max(now_ns);
        let rotate = self.settings.rotate_ns;
        if rotate == 0 {
            return Ok(());
        }
        let mut first_err = None;
        let mut i = 0;
        while i < self.open.len() {
            if self.clock_ns >= self.open[i].opened_ns.saturating_add(rotate) {
                if let Err(e) = self.close_at(i, closed) {
                    first_err.get_or_insert(e);
                }
            } else {
                i += 1;
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every open file.
    pub(crate) fn close_all(&mut self, closed: &mut Vec<ClosedFile>) -> Result<(), SinkError> {
        let mut first_err = None;
        while !self.open.is_empty() {
            if let Err(e) = self.close_at(0, closed) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn open_file(&mut self, day: u64, first_ns: u64) -> Result<OpenFile, SinkError> {
        self.seq += 1;
        let s = &self.settings;
        let name = format!(
            "{}-{}-{}-{}-{:06}.parquet",
            self.table,
            s.file_tap_id,
            file_stamp(first_ns),
            s.run_id,
            self.seq
        );
        let tmp_path = self.inprogress_dir.join(&name);
        let file =
            File::create_new(&tmp_path).map_err(|e| SinkError::io("creating", &tmp_path, e))?;
        let writer = match ArrowWriter::try_new(file, self.schema.clone(), Some(self.props.clone()))
        {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                return Err(SinkError::parquet(&tmp_path, e));
            }
        };
        tracing::debug!(table = self.table, path = %tmp_path.display(), "opened Parquet file");
        Ok(OpenFile {
            writer,
            tmp_path,
            name,
            day,
            opened_ns: self.clock_ns,
            rows: 0,
        })
    }

    /// Finishes, fsyncs and renames `self.open[idx]` into its date folder.
    fn close_at(&mut self, idx: usize, closed: &mut Vec<ClosedFile>) -> Result<(), SinkError> {
        let mut f = self.open.swap_remove(idx);
        if let Err(e) = f.writer.finish() {
            let err = SinkError::parquet(&f.tmp_path, e);
            let rows = f.rows;
            self.abandon(f, rows);
            return Err(err);
        }
        if let Err(e) = f.writer.inner().sync_all() {
            let err = SinkError::io("fsyncing", &f.tmp_path, e);
            let rows = f.rows;
            self.abandon(f, rows);
            return Err(err);
        }
        let OpenFile {
            writer,
            tmp_path,
            name,
            day,
            rows,
            ..
        } = f;
        drop(writer);
        let table_dir = self.settings.root.join(self.table);
        let date_dir = table_dir.join(format!("date={}", date_string(day)));
        let final_path = date_dir.join(&name);
        let placed = (|| {
            if !date_dir.is_dir() {
                create_dir_all(&date_dir)?;
                sync_dir(&table_dir)?;
            }
            fs::rename(&tmp_path, &final_path).map_err(|e| SinkError::io("renaming", &tmp_path, e))
        })();
        if let Err(e) = placed {
            let _ = fs::remove_file(&tmp_path);
            self.count_lost(rows);
            return Err(e);
        }
        // The file is in place; from here on its rows count as written.
        let bytes = fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
        self.counters.rows += rows;
        self.counters.files += 1;
        self.counters.bytes += bytes;
        tracing::debug!(table = self.table, path = %final_path.display(), rows, bytes, "closed Parquet file");
        closed.push(ClosedFile {
            path: final_path,
            rows,
            bytes,
        });
        if let Err(e) = sync_dir(&date_dir) {
            self.counters.write_errors += 1;
            return Err(e);
        }
        Ok(())
    }

    /// Drops a broken file and removes its in-progress file.
    fn abandon(&mut self, f: OpenFile, rows: u64) {
        tracing::warn!(table = self.table, path = %f.tmp_path.display(), rows, "abandoning Parquet file after an error");
        let path = f.tmp_path.clone();
        drop(f);
        let _ = fs::remove_file(path);
        self.count_lost(rows);
    }
}

/// Deletes every file under `<root>/.inprogress/`: files of a run that was
/// killed before closing them, which cannot be valid Parquet (no footer).
/// Returns how many were removed.
pub(crate) fn remove_stale_inprogress(root: &Path) -> Result<u64, SinkError> {
    fn walk(dir: &Path, removed: &mut u64) -> Result<(), SinkError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(SinkError::io("reading", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| SinkError::io("reading", dir, e))?;
            let path = entry.path();
            let ty = entry
                .file_type()
                .map_err(|e| SinkError::io("inspecting", &path, e))?;
            if ty.is_dir() {
                walk(&path, removed)?;
            } else {
                match fs::remove_file(&path) {
                    Ok(()) => *removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(SinkError::io("removing", &path, e)),
                }
            }
        }
        Ok(())
    }
    let mut removed = 0;
    walk(&root.join(INPROGRESS_DIR), &mut removed)?;
    Ok(removed)
}

pub(crate) fn create_dir_all(path: &Path) -> Result<(), SinkError> {
    fs::create_dir_all(path).map_err(|e| SinkError::io("creating directory", path, e))
}

/// fsyncs a directory, making a rename or creation in it durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), SinkError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io("fsyncing directory", path, e))
}

/// UTC day (days since 1970-01-01) of a Unix time in ns.
pub(crate) fn day_of(ns: u64) -> u64 {
    ns / NS_PER_SEC / SECS_PER_DAY
}

/// `YYYY-MM-DD` of a day number.
pub(crate) use model::time::date_string;

/// `YYYYMMDDTHHMMSSZ` of a Unix time in ns.
pub(crate) fn file_stamp(ns: u64) -> String {
    let secs = ns / NS_PER_SEC;
    let (y, m, d) = civil_from_days(secs / SECS_PER_DAY);
    let sod = secs % SECS_PER_DAY;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        sod / 3_600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Unix seconds of a `YYYYMMDDTHHMMSSZ` stamp.
pub(crate) fn parse_file_stamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 || y < 1970
    {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32)?;
    Some(days * SECS_PER_DAY + h * 3_600 + mi * 60 + se)
}

/// Unix seconds of the timestamp in a complete file's name
/// (`<table>-<tapid>-<stamp>-<runid>-<seq>.parquet`).
pub(crate) fn file_name_time(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".parquet")?;
    let mut parts = stem.rsplitn(4, '-');
    let _seq = parts.next()?;
    let _run = parts.next()?;
    parse_file_stamp(parts.next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_stamps() {
        assert_eq!(date_string(0), "1970-01-01");
        // 2024-02-29 (leap day) = 19782 days.
        assert_eq!(date_string(19_782), "2024-02-29");
        assert_eq!(date_string(19_783), "2024-03-01");
        assert_eq!(date_string(10_956), "1999-12-31");
        assert_eq!(date_string(10_957), "2000-01-01");
        let ns = 1_700_000_000 * NS_PER_SEC + 999;
        assert_eq!(file_stamp(ns), "20231114T221320Z");
        assert_eq!(day_of(ns), 19_675);
        assert_eq!(date_string(19_675), "2023-11-14");
        assert_eq!(parse_file_stamp("20231114T221320Z"), Some(1_700_000_000));
        assert_eq!(parse_file_stamp("19700101T000000Z"), Some(0));
        assert_eq!(parse_file_stamp("20231314T221320Z"), None);
        assert_eq!(parse_file_stamp("2023111xT221320Z"), None);
        for secs in [
            0u64,
            951_782_400,
            1_709_164_800,
            4_102_444_799,
            1_234_567_890,
        ] {
            assert_eq!(parse_file_stamp(&file_stamp(secs * NS_PER_SEC)), Some(secs));
        }
        assert_eq!(
            file_name_time("flows-my-tap-20231114T221320Z-1700000000000p42-000001.parquet"),
            Some(1_700_000_000)
        );
        assert_eq!(file_name_time("notes.parquet"), None);
    }
}
