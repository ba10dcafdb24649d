//! The tables read back, batch by batch, for views that aggregate them
//! (`tapscope report`).
//!
//! [`scan`] reads the complete files of one table (never those being
//! written), only the columns asked for, in batches of [`BATCH_ROWS`]
//! rows, and hands each row that passes the [`Filter`] to a callback as a
//! [`Row`]: plain values, no Arrow type leaves this crate. A reader
//! aggregates as it goes and never holds more than one batch, so memory
//! does not grow with the table. Row groups whose data-time statistics lie
//! outside the filter's range are not read at all.
//!
//! Reading never fails as a whole: a file that cannot be read (cut short,
//! not Parquet, unreadable) is skipped and named in the [`ScanReport`], a
//! column a file lacks (an older schema) reads as null, and a table
//! without a folder is a report with no files.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;

use crate::files::complete_table_files;
use crate::table::data_time_column;

/// Rows per batch a scan decodes at a time: its memory bound (times the
/// columns asked for).
pub const BATCH_ROWS: usize = 8_192;

/// Which rows a scan hands over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only rows whose data time is at or after this (Unix µs).
    pub since_us: Option<i64>,
    /// Only rows whose data time is before this (Unix µs).
    pub until_us: Option<i64>,
    /// Only rows of this tap (`tap_id`).
    pub tap: Option<String>,
}

impl Filter {
    /// Whether a data time passes the time bounds.
    pub fn keeps_time(&self, t_us: i64) -> bool {
        self.since_us.is_none_or(|s| t_us >= s) && self.until_us.is_none_or(|u| t_us < u)
    }

    /// Whether a range `[lo, hi]` of data times may hold a row that passes.
    fn overlaps(&self, lo: i64, hi: i64) -> bool {
        self.since_us.is_none_or(|s| hi >= s) && self.until_us.is_none_or(|u| lo < u)
    }
}

/// What a scan read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Complete files of the table.
    pub files: usize,
    /// Files read (at least one row group overlapped the filter's range).
    pub files_read: usize,
    /// Row groups decoded.
    pub row_groups_read: usize,
    /// Rows decoded.
    pub rows_read: u64,
    /// Rows handed to the callback (those that passed the filter).
    pub rows_matched: u64,
    /// Files that could not be read, each with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// What a table's files hold, from their footers only (no data is read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableOverview {
    /// Complete files.
    pub files: usize,
    /// Their size.
    pub bytes: u64,
    /// Rows in them.
    pub rows: u64,
    /// Earliest and latest data time (Unix µs), when the footers have
    /// statistics for the data-time column.
    pub time_range_us: Option<(i64, i64)>,
    /// Tap ids, when the footers' statistics of `tap_id` have a single
    /// value per row group (a file holds one tap's rows).
    pub taps: Vec<String>,
    /// Files whose footer could not be read, each with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// The value types a column can be read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Text.
    Text,
    /// An unsigned or signed integer.
    Integer,
    /// A floating-point number.
    Float,
    /// A boolean.
    Bool,
    /// A timestamp (read as Unix µs).
    Time,
    /// Anything else (binary, lists, records): always reads as null.
    Other,
}

/// Whether the table has a folder under `root` (it may still be empty).
pub fn table_exists(root: &Path, table: &str) -> bool {
    !table.starts_with('.') && root.join(table).is_dir()
}

/// The columns of a table (name and kind), from the schema of its first
/// readable file; None when it has none.
pub fn table_columns(root: &Path, table: &str) -> Option<Vec<(String, ValueKind)>> {
    complete_table_files(root, table).iter().find_map(|f| {
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).ok()?).ok()?;
        Some(
            b.schema()
                .fields()
                .iter()
                .map(|fl| (fl.name().clone(), kind_of(fl.data_type())))
                .collect(),
        )
    })
}

/// Files, rows and data-time range of a table, from the footers of its
/// complete files. `time_column` names the data-time column of a table the
/// sink does not register (else the registered one is used).
pub fn overview(root: &Path, table: &str, time_column: Option<&str>) -> TableOverview {
    let tcol = time_column.or_else(|| data_time_column(table));
    let mut out = TableOverview::default();
    for f in complete_table_files(root, table) {
        out.files += 1;
        out.bytes += f.bytes;
        let meta = match File::open(&f.path)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())
            }) {
            Ok(b) => b.metadata().clone(),
            Err(e) => {
                out.unreadable.push((f.path.clone(), e));
                continue;
            }
        };
        out.rows += meta.file_metadata().num_rows().max(0) as u64;
        if let Some(idx) = tcol.and_then(|c| leaf_index(&meta, c)) {
            for rg in 0..meta.num_row_groups() {
                if let Some((lo, hi)) = i64_stats(&meta, rg, idx) {
                    out.time_range_us = Some(match out.time_range_us {
                        None => (lo, hi),
                        Some((a, b)) => (a.min(lo), b.max(hi)),
                    });
                }
            }
        }
        if let Some(idx) = leaf_index(&meta, "tap_id") {
            for rg in 0..meta.num_row_groups() {
                let Some(st) = meta.row_group(rg).column(idx).statistics() else {
                    continue;
                };
                if let (Some(lo), Some(hi)) = (st.min_bytes_opt(), st.max_bytes_opt()) {
                    if lo == hi {
                        let tap = String::from_utf8_lossy(lo).into_owned();
                        if !out.taps.contains(&tap) {
                            out.taps.push(tap);
                        }
                    }
                }
            }
        }
    }
    out.taps.sort();
    out
}

/// Reads `columns` of every row of `table` under `root` that passes
/// `filter`, in batches, and calls `each` with every such row (the row's
/// value `k` is `columns[k]`). `time_column` names the data-time column of
/// a table the sink does not register (else the registered one is used;
/// with neither, the time bounds of `filter` are not applied).
pub fn scan(
    root: &Path,
    table: &str,
    time_column: Option<&str>,
    columns: &[&str],
    filter: &Filter,
    mut each: impl FnMut(&Row<'_>),
) -> ScanReport {
    let tcol = time_column.or_else(|| data_time_column(table));
    let mut report = ScanReport::default();
    for f in complete_table_files(root, table) {
        report.files += 1;
        if let Err(e) = scan_file(&f.path, tcol, columns, filter, &mut each, &mut report) {
            report.unreadable.push((f.path.clone(), e));
        }
    }
    report
}

fn scan_file(
    path: &Path,
    tcol: Option<&str>,
    columns: &[&str],
    filter: &Filter,
    each: &mut impl FnMut(&Row<'_>),
    report: &mut ScanReport,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let meta = builder.metadata().clone();
    let schema = builder.schema().clone();
    // The time column only filters when the file has it.
    let tcol = tcol.filter(|c| schema.index_of(c).is_ok());
    let timed = tcol.is_some() && (filter.since_us.is_some() || filter.until_us.is_some());
    let leaf = tcol.and_then(|c| leaf_index(&meta, c));
    let groups: Vec<usize> = (0..meta.num_row_groups())
        .filter(|&rg| {
            !timed
                || leaf
                    .and_then(|i| i64_stats(&meta, rg, i))
                    .is_none_or(|(lo, hi)| filter.overlaps(lo, hi))
        })
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    report.files_read += 1;
    report.row_groups_read += groups.len();
    let mut wanted: Vec<usize> = columns
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .collect();
    if let Some(i) = tcol.and_then(|c| schema.index_of(c).ok()) {
        wanted.push(i);
    }
    if filter.tap.is_some() {
        if let Ok(i) = schema.index_of("tap_id") {
            wanted.push(i);
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| e.to_string())?;
    for batch in reader {
        // One batch at a time: it is dropped before the next is decoded.
        let batch = batch.map_err(|e| e.to_string())?;
        report.rows_read += batch.num_rows() as u64;
        let time = tcol.map(|c| col_ref(&batch, c));
        let tap = filter.tap.as_ref().map(|_| col_ref(&batch, "tap_id"));
        let row_cols: Vec<ColRef<'_>> = columns.iter().map(|c| col_ref(&batch, c)).collect();
        for i in 0..batch.num_rows() {
            if timed {
                if let Some(t) = time.as_ref().and_then(|c| c.time_us(i)) {
                    if !filter.keeps_time(t) {
                        continue;
                    }
                }
            }
            if let (Some(want), Some(tap)) = (filter.tap.as_deref(), tap.as_ref()) {
                if tap.str(i) != Some(want) {
                    continue;
                }
            }
            report.rows_matched += 1;
            each(&Row {
                cols: &row_cols,
                time: time.as_ref(),
                i,
            });
        }
    }
    Ok(())
}

/// Index of the leaf column named `name` in the file's Parquet schema.
fn leaf_index(meta: &ParquetMetaData, name: &str) -> Option<usize> {
    meta.file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == name)
}

/// Min and max of an INT64 column chunk (timestamps), from its statistics.
fn i64_stats(meta: &ParquetMetaData, rg: usize, leaf: usize) -> Option<(i64, i64)> {
    let st = meta.row_group(rg).column(leaf).statistics()?;
    let le = |b: &[u8]| b.try_into().ok().map(i64::from_le_bytes);
    Some((le(st.min_bytes_opt()?)?, le(st.max_bytes_opt()?)?))
}

fn kind_of(t: &DataType) -> ValueKind {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ValueKind::Text,
        DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64 => ValueKind::Integer,
        DataType::Float32 | DataType::Float64 => ValueKind::Float,
        DataType::Boolean => ValueKind::Bool,
        DataType::Timestamp(_, _) => ValueKind::Time,
        _ => ValueKind::Other,
    }
}

/// One column of a batch, resolved once per batch.
enum ColRef<'a> {
    Missing,
    Text(&'a dyn Array),
    U(&'a dyn Array, fn(&dyn Array, usize) -> u64),
    I(&'a dyn Array, fn(&dyn Array, usize) -> i64),
    F(&'a dyn Array, fn(&dyn Array, usize) -> f64),
    Bool(&'a dyn Array),
    /// A timestamp and its unit.
    Time(&'a dyn Array, TimeUnit),
}

fn col_ref<'a>(batch: &'a RecordBatch, name: &str) -> ColRef<'a> {
    let Some(a) = batch.column_by_name(name) else {
        return ColRef::Missing;
    };
    let a: &dyn Array = a.as_ref();
    match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColRef::Text(a),
        DataType::UInt8 => ColRef::U(a, |a, i| a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => ColRef::U(a, |a, i| a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => ColRef::U(a, |a, i| a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => ColRef::U(a, |a, i| a.as_primitive::<UInt64Type>().value(i)),
        DataType::Int8 => ColRef::I(a, |a, i| a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => ColRef::I(a, |a, i| a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => ColRef::I(a, |a, i| a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => ColRef::I(a, |a, i| a.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => ColRef::F(a, |a, i| a.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => ColRef::F(a, |a, i| a.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => ColRef::Bool(a),
        DataType::Timestamp(unit, _) => ColRef::Time(a, *unit),
        _ => ColRef::Missing,
    }
}

impl<'a> ColRef<'a> {
    fn valid(&self, i: usize) -> Option<&'a dyn Array> {
        let a = match self {
            ColRef::Missing => return None,
            ColRef::Text(a)
            | ColRef::U(a, _)
            | ColRef::I(a, _)
            | ColRef::F(a, _)
            | ColRef::Bool(a)
            | ColRef::Time(a, _) => *a,
        };
        a.is_valid(i).then_some(a)
    }

    fn str(&self, i: usize) -> Option<&'a str> {
        let ColRef::Text(_) = self else { return None };
        let a = self.valid(i)?;
        match a.data_type() {
            DataType::Utf8 => Some(a.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i)),
            DataType::Utf8View => Some(a.as_string_view().value(i)),
            _ => None,
        }
    }

    fn time_us(&self, i: usize) -> Option<i64> {
        let ColRef::Time(_, unit) = self else {
            return None;
        };
        let a = self.valid(i)?;
        Some(match unit {
            TimeUnit::Second => a
                .as_primitive::<TimestampSecondType>()
                .value(i)
                .saturating_mul(1_000_000),
            TimeUnit::Millisecond => a
                .as_primitive::<TimestampMillisecondType>()
                .value(i)
                .saturating_mul(1_000),
            TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
            TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i) / 1_000,
        })
    }
}

/// One row of a scan: value `k` is the scan's column `k`. Every getter is
/// None for a null, a column the file lacks, or a value of another kind
/// (a text column read as a number).
pub struct Row<'a> {
    cols: &'a [ColRef<'a>],
    time: Option<&'a ColRef<'a>>,
    i: usize,
}

impl<'a> Row<'a> {
    /// Text value `k` (borrowed from the batch being read).
    pub fn str(&self, k: usize) -> Option<&'a str> {
        self.cols.get(k)?.str(self.i)
    }

    /// Integer value `k` as u64 (None if negative).
    pub fn u64(&self, k: usize) -> Option<u64> {
        let c = self.cols.get(k)?;
        let a = c.valid(self.i)?;
        match c {
            ColRef::U(_, f) => Some(f(a, self.i)),
            ColRef::I(_, f) => u64::try_from(f(a, self.i)).ok(),
            _ => None,
        }
    }

    /// Numeric value `k` (integer or float) as f64.
    pub fn f64(&self, k: usize) -> Option<f64> {
        let c = self.cols.get(k)?;
        let a = c.valid(self.i)?;
        match c {
            ColRef::U(_, f) => Some(f(a, self.i) as f64),
            ColRef::I(_, f) => Some(f(a, self.i) as f64),
            ColRef::F(_, f) => Some(f(a, self.i)),
            _ => None,
        }
    }

    /// Boolean value `k`.
    pub fn bool(&self, k: usize) -> Option<bool> {
        let c = self.cols.get(k)?;
        let a = c.valid(self.i)?;
        match c {
            ColRef::Bool(_) => Some(a.as_boolean().value(self.i)),
            _ => None,
        }
    }

    /// Timestamp value `k`, Unix µs.
    pub fn time_us(&self, k: usize) -> Option<i64> {
        self.cols.get(k)?.time_us(self.i)
    }

    /// The row's data time (the table's data-time column), Unix µs.
    pub fn data_time_us(&self) -> Option<i64> {
        self.time?.time_us(self.i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{Capture, Traffic};
    use crate::{Sink, SinkConfig};
    use model::rows::{CaptureRow, TrafficRow};

    const SEC: u64 = 1_000_000_000;
    /// 2024-05-01T00:00:00Z.
    const D0: u64 = 1_714_521_600 * SEC;

    fn cfg(root: &Path, tap: &str) -> SinkConfig {
        SinkConfig {
            root: root.to_path_buf(),
            tap_id: tap.into(),
            rotate_secs: 0,
            rotate_bytes: 0,
            quota_bytes: 0,
            row_group_rows: 100,
        }
    }

    fn traffic(end_ns: u64, service: &str, down: u64) -> TrafficRow {
        TrafficRow {
            start_ns: end_ns - 5 * SEC,
            end_ns,
            device_ip: std::net::Ipv4Addr::new(10, 0, 0, 2)
                .to_ipv6_mapped()
                .octets(),
            device_name: "laptop".into(),
            service: service.into(),
            category: "video".into(),
            device_mac: Some([2, 0, 0, 0, 0, 2]),
            bytes_down: down,
            bytes_up: down / 10,
            packets_down: 1,
            packets_up: 1,
            flows: 1,
        }
    }

    /// 1,000 traffic rows of tap `a` (one per 5 s from D0) in row groups of
    /// 100, and 10 of tap `b`.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sink::open(cfg(dir.path(), "a")).unwrap();
        let rows: Vec<TrafficRow> = (1..=1000)
            .map(|i| {
                traffic(
                    D0 + i * 5 * SEC,
                    if i % 2 == 0 { "netflix" } else { "zoom" },
                    i,
                )
            })
            .collect();
        s.write::<Traffic>(&rows).unwrap();
        s.close().unwrap();
        drop(s);
        let mut s = Sink::open(cfg(dir.path(), "b")).unwrap();
        let rows: Vec<TrafficRow> = (1..=10).map(|i| traffic(D0 + i * SEC, "x", 7)).collect();
        s.write::<Traffic>(&rows).unwrap();
        s.close().unwrap();
        dir
    }

    #[test]
    fn scan_reads_every_row_and_filters_by_time_and_tap() {
        let dir = folder();
        let mut down = 0u64;
        let mut services = std::collections::BTreeSet::new();
        let r = scan(
            dir.path(),
            "traffic",
            None,
            &["bytes_down", "service", "interval_start", "no_such_column"],
            &Filter::default(),
            |row| {
                down += row.u64(0).unwrap();
                services.insert(row.str(1).unwrap().to_string());
                assert!(row.time_us(2).unwrap() < row.data_time_us().unwrap());
                assert_eq!(row.u64(3), None);
                // A text column is no number.
                assert_eq!(row.u64(1), None);
            },
        );
        assert_eq!(r.rows_matched, 1010);
        assert_eq!(down, 500_500 + 70);
        assert_eq!(services.len(), 3);
        assert_eq!(r.files, 2);
        assert!(r.unreadable.is_empty());

        // Rows 101..=200 of tap a by data time; row groups outside are not read.
        let f = Filter {
            since_us: Some(((D0 + 505 * SEC) / 1000) as i64),
            until_us: Some(((D0 + 1005 * SEC) / 1000) as i64),
            tap: Some("a".into()),
        };
        let mut n = 0;
        let mut sum = 0;
        let r = scan(dir.path(), "traffic", None, &["bytes_down"], &f, |row| {
            n += 1;
            sum += row.u64(0).unwrap();
        });
        assert_eq!(n, 100);
        assert_eq!(sum, (101..=200).sum::<u64>());
        assert!(r.row_groups_read <= 3, "{r:?}");
        assert_eq!(r.files_read, 1, "tap b's file lies before the range");
    }

    #[test]
    fn overview_and_columns_come_from_footers() {
        let dir = folder();
        let o = overview(dir.path(), "traffic", None);
        assert_eq!((o.files, o.rows), (2, 1010));
        assert_eq!(
            o.time_range_us,
            Some((
                ((D0 + SEC) / 1000) as i64,
                ((D0 + 5000 * SEC) / 1000) as i64
            ))
        );
        assert_eq!(o.taps, ["a", "b"]);
        let cols = table_columns(dir.path(), "traffic").unwrap();
        assert!(cols.contains(&("bytes_down".to_string(), ValueKind::Integer)));
        assert!(cols.contains(&("interval_end".to_string(), ValueKind::Time)));
        assert!(table_columns(dir.path(), "capture").is_none());
        assert_eq!(
            overview(dir.path(), "capture", None),
            TableOverview::default()
        );
        assert!(table_exists(dir.path(), "traffic"));
        // The sink makes every table's folder; others have none.
        assert!(table_exists(dir.path(), "capture"));
        assert!(!table_exists(dir.path(), "no_such_table"));
        assert!(!table_exists(dir.path(), ".inprogress"));
    }

    #[test]
    fn an_unreadable_file_is_named_and_the_rest_read() {
        let dir = folder();
        let bad = dir.path().join("traffic/date=2024-05-01/broken.parquet");
        std::fs::write(&bad, b"PAR1 not really").unwrap();
        let mut n = 0;
        let r = scan(
            dir.path(),
            "traffic",
            None,
            &["flows"],
            &Filter::default(),
            |_| n += 1,
        );
        assert_eq!(n, 1010);
        assert_eq!(r.unreadable.len(), 1);
        assert_eq!(r.unreadable[0].0, bad);
        assert_eq!(overview(dir.path(), "traffic", None).unreadable.len(), 1);
    }

    #[test]
    fn nullable_and_boolean_columns() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sink::open(cfg(dir.path(), "a")).unwrap();
        let mut live = CaptureRow {
            start_ns: D0,
            end_ns: D0 + SEC,
            ..Default::default()
        };
        live.counters.packets = 9;
        live.nic = Some(Default::default());
        let replay = CaptureRow {
            start_ns: D0 + SEC,
            end_ns: D0 + 2 * SEC,
            ..Default::default()
        };
        s.write::<Capture>(&[live, replay]).unwrap();
        s.close().unwrap();
        let mut seen = Vec::new();
        scan(
            dir.path(),
            "capture",
            None,
            &[
                "packets",
                "nic_rx_packets",
                "link_up",
                "busy_poll_utilisation",
            ],
            &Filter::default(),
            |r| seen.push((r.u64(0), r.u64(1), r.bool(2), r.f64(0))),
        );
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, Some(9));
        assert_eq!(seen[0].3, Some(9.0));
        assert!(seen[0].1.is_some() && seen[0].2.is_some());
        assert_eq!((seen[1].1, seen[1].2), (None, None));
    }
}
