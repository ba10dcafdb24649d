//! The [`ProbeSpool`]: the bounded buffer between the probes and the
//! `probes` table, which keeps rows until they are in a complete file, so
//! a full or failing disk delays probe rows instead of losing them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use model::probe::ProbeResult;

use crate::writer;
use crate::Sink;

/// Counters of the probe buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Rows waiting for a complete file.
    pub buffered: u64,
    /// Rows in complete files.
    pub written: u64,
    /// Rows dropped because the buffer was full (the oldest go first).
    pub dropped: u64,
    /// Writes that failed (the rows stayed buffered).
    pub write_errors: u64,
}

/// The bounded buffer of probe rows in front of the `probes` table.
///
/// Rows are written, as one complete file per UTC day, every
/// `flush_every` (or once [`FLUSH_ROWS`] wait, or on `force`). A write
/// that fails (disk full, read-only, folder gone) leaves the rows in the
/// buffer and is tried again after `retry_every`; beyond `capacity` rows
/// the oldest are dropped and counted.
#[derive(Debug)]
pub struct ProbeSpool {
    rows: VecDeque<ProbeResult>,
    capacity: usize,
    flush_every: Duration,
    retry_every: Duration,
    /// When the oldest buffered row arrived.
    oldest: Option<Instant>,
    next_retry: Option<Instant>,
    stats: SpoolStats,
    last_error: Option<String>,
}

/// How long after a failed write the next is tried: 5 s, or the write
/// interval if shorter (at least 1 s).
fn retry_every(flush_every: Duration) -> Duration {
    Duration::from_secs(5).min(flush_every.max(Duration::from_secs(1)))
}

/// Buffered rows that trigger a write before `flush_every`.
pub const FLUSH_ROWS: usize = 4096;

impl ProbeSpool {
    /// An empty buffer of at most `capacity` rows, written every
    /// `flush_every`.
    pub fn new(capacity: usize, flush_every: Duration) -> ProbeSpool {
        ProbeSpool {
            rows: VecDeque::new(),
            capacity: capacity.max(1),
            flush_every,
            retry_every: retry_every(flush_every),
            oldest: None,
            next_retry: None,
            stats: SpoolStats::default(),
            last_error: None,
        }
    }

    /// Sets the bound and the write interval; rows beyond the new bound are
    /// dropped, oldest first, and counted.
    pub fn reconfigure(&mut self, capacity: usize, flush_every: Duration) {
        self.capacity = capacity.max(1);
        self.flush_every = flush_every;
        self.retry_every = retry_every(flush_every);
        while self.rows.len() > self.capacity {
            self.rows.pop_front();
            self.stats.dropped += 1;
        }
    }

    /// Buffers a row; drops the oldest when full.
    pub fn push(&mut self, r: ProbeResult) {
        if self.rows.len() >= self.capacity {
            self.rows.pop_front();
            self.stats.dropped += 1;
        }
        if self.rows.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.rows.push_back(r);
    }

    /// The buffer's counters.
    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            buffered: self.rows.len() as u64,
            ..self.stats
        }
    }

    /// The last write error, while rows wait because of it.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Writes the buffered rows if it is time (always with `force`).
    /// Returns rows written.
    pub fn flush(&mut self, sink: &mut Sink, force: bool) -> usize {
        if self.rows.is_empty() {
            return 0;
        }
        let now = Instant::now();
        if let Some(t) = self.next_retry {
            if now < t && !force {
                return 0;
            }
        }
        let due = self.next_retry.is_some()
            || self.rows.len() >= FLUSH_ROWS
            || self
                .oldest
                .is_some_and(|t| now.duration_since(t) >= self.flush_every);
        if !(force || due) {
            return 0;
        }
        let mut written = 0;
        while !self.rows.is_empty() {
            // One UTC day at a time, oldest first: a failure keeps exactly
            // the rows that did not reach a complete file.
            let day = writer::day_of(self.rows[0].started_ns);
            let n = self
                .rows
                .iter()
                .take_while(|r| writer::day_of(r.started_ns) == day)
                .count();
            let group: Vec<ProbeResult> = self.rows.range(..n).cloned().collect();
            let (placed, err) = sink.write_probes(&group);
            if placed {
                self.rows.drain(..n);
                self.stats.written += n as u64;
                written += n;
            }
            if let Some(e) = err {
                self.stats.write_errors += 1;
                if self.last_error.is_none() {
                    tracing::warn!(error = %e, buffered = self.rows.len(), "probe rows kept in memory: writing the probes table failed");
                }
                self.last_error = Some(e.to_string());
                if !placed {
                    self.next_retry = Some(now + self.retry_every);
                    return written;
                }
            }
        }
        if self.last_error.take().is_some() {
            tracing::info!("probes table writable again");
        }
        self.next_retry = None;
        self.oldest = None;
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::probes::tests::row;
    use crate::tables::Probes;
    use crate::{SinkConfig, Table};
    use arrow::array::{Array, AsArray};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    /// 2024-05-01T00:00:00Z.
    const D0: u64 = 1_714_521_600 * 1_000_000_000;

    fn read(root: &std::path::Path) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(root.join(Probes::NAME))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap();
            out.extend(r.map(Result::unwrap));
        }
        out
    }

    fn sink(root: &std::path::Path) -> Sink {
        Sink::open(SinkConfig {
            root: root.to_path_buf(),
            tap_id: "tap-test".into(),
            row_group_rows: 1000,
            ..SinkConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn rows_wait_out_a_failing_disk_and_overflow_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = sink(dir.path());
        let mut spool = ProbeSpool::new(4, Duration::from_secs(3600));
        spool.retry_every = Duration::ZERO;
        // Nothing is due before the flush interval unless forced.
        spool.push(row("a", D0, true));
        assert_eq!(spool.flush(&mut sink, false), 0);
        assert_eq!(spool.flush(&mut sink, true), 1);
        assert_eq!(spool.stats().written, 1);

        // Break the table's in-progress folder: every write now fails,
        // even as root (a file where the folder should be).
        let inprogress = dir.path().join(".inprogress").join(Probes::NAME);
        std::fs::remove_dir_all(&inprogress).unwrap();
        std::fs::write(&inprogress, b"not a folder").unwrap();
        for i in 0..6 {
            spool.push(row("b", D0 + (i + 1) * 1_000_000_000, i % 2 == 0));
        }
        assert_eq!(spool.flush(&mut sink, true), 0);
        let st = spool.stats();
        assert_eq!((st.buffered, st.dropped, st.written), (4, 2, 1));
        assert!(st.write_errors >= 1);
        assert!(spool.last_error().is_some());
        // Rows a failed write kept are not counted as lost by the sink.
        assert_eq!(sink.stats().table(Probes::NAME).unwrap().rows_lost, 0);

        // The disk recovers: the kept rows are written, across two days.
        std::fs::remove_file(&inprogress).unwrap();
        std::fs::create_dir_all(&inprogress).unwrap();
        spool.push(row("c", D0 + DAY_NS + 5, true));
        assert_eq!(spool.flush(&mut sink, false), 4);
        assert_eq!(spool.stats().buffered, 0);
        assert_eq!(spool.last_error(), None);
        let batches = read(dir.path());
        let tasks: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let t = b.column_by_name("task").unwrap().as_string::<i32>();
                (0..t.len())
                    .map(|i| t.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        // The two oldest "b" rows were dropped by the bound of 4.
        assert_eq!(tasks, vec!["a", "b", "b", "b", "c"]);
        let days: Vec<_> = std::fs::read_dir(dir.path().join(Probes::NAME))
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(days.len(), 2, "{days:?}");
        assert_eq!(sink.stats().table(Probes::NAME).unwrap().rows, 5);
    }
}
