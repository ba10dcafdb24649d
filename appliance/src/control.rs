//! The control core's merge loop: drain every worker's summaries, write
//! flow records and capture rows to the sink, return emptied summaries, and
//! keep running totals for the status line and the final report.

use datapath::epoch::{CaptureCounters, EndReason, EpochSummary};
use datapath::worker::ControlLink;

use crate::sink::{CaptureRow, Sink, SinkError};

/// Where a worker's frames come from, for the `capture` table.
#[derive(Clone, Debug)]
pub struct WorkerSource {
    /// E.g. `pcap:netflix.pcap` or `xdp:eth1/q0`.
    pub source: String,
    /// E.g. `pcap` or `xdp-copy-native`.
    pub mode: String,
}

/// Totals over the whole run.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub counters: CaptureCounters,
    /// Flow records written, by [`EndReason`] (index = reason as u8).
    pub flows_by_reason: [u64; 6],
    /// Latest packet time seen in any summary (Unix ns).
    pub data_now_ns: u64,
    pub first_ns: u64,
}

impl Totals {
    pub fn flows(&self) -> u64 {
        self.flows_by_reason.iter().sum()
    }
}

/// The merge loop's state.
pub struct Control {
    links: Vec<ControlLink>,
    sources: Vec<WorkerSource>,
    finished: Vec<bool>,
    sink: Sink,
    totals: Totals,
    rows: Vec<CaptureRow>,
}

impl Control {
    pub fn new(links: Vec<ControlLink>, sources: Vec<WorkerSource>, sink: Sink) -> Control {
        let n = links.len();
        Control {
            links,
            sources,
            finished: vec![false; n],
            sink,
            totals: Totals::default(),
            rows: Vec::new(),
        }
    }

    /// Drains every worker's ring once. Returns the number of summaries taken.
    pub fn poll(&mut self) -> Result<usize, SinkError> {
        let mut taken = 0;
        for i in 0..self.links.len() {
            while let Some(s) = self.links[i].pop() {
                taken += 1;
                let res = self.absorb(i, &s);
                self.links[i].give_back(s);
                res?;
            }
        }
        if !self.rows.is_empty() {
            self.sink.write_capture(&self.rows)?;
            self.rows.clear();
        }
        if taken > 0 {
            self.sink.tick(self.totals.data_now_ns)?;
        }
        Ok(taken)
    }

    fn absorb(&mut self, i: usize, s: &EpochSummary) -> Result<(), SinkError> {
        if !s.flows.is_empty() {
            for r in &s.flows {
                self.totals.flows_by_reason[r.end_reason as usize] += 1;
            }
            self.sink.write_flows(&s.flows)?;
        }
        if !s.partial {
            self.totals.counters.absorb(&s.counters);
            self.totals.data_now_ns = self.totals.data_now_ns.max(s.end_ns);
            if s.counters.packets > 0
                && (self.totals.first_ns == 0 || s.start_ns < self.totals.first_ns)
            {
                self.totals.first_ns = s.start_ns;
            }
            let src = &self.sources[i.min(self.sources.len() - 1)];
            self.rows.push(CaptureRow {
                worker: s.worker,
                source: src.source.clone(),
                capture_mode: src.mode.clone(),
                start_ns: s.start_ns,
                end_ns: s.end_ns,
                counters: s.counters,
            });
        }
        if s.last {
            self.finished[i] = true;
        }
        Ok(())
    }

    /// True once every worker has handed over its last summary.
    pub fn all_finished(&self) -> bool {
        self.finished.iter().all(|&f| f)
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Closes every open file (moving it into its table folder).
    pub fn close(&mut self) -> Result<(), SinkError> {
        self.sink.close()
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }
}

/// Name of an end reason index, for reports.
pub fn reason_name(i: usize) -> &'static str {
    [
        EndReason::Fin,
        EndReason::Rst,
        EndReason::Idle,
        EndReason::Active,
        EndReason::Evicted,
        EndReason::EndOfCapture,
    ]
    .get(i)
    .map_or("?", |r| r.name())
}
