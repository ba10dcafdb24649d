//! TCP handshake round-trip times on the control core: HDR histograms fed
//! from the flow records as they are merged, read out as the status
//! snapshot's [`TcpRtt`].
//!
//! Three distributions since the start (the whole handshake, its server
//! side and its client side) and the whole handshake over a recent window
//! of packet time: six slots of ten seconds keyed by the flow record's end,
//! the newest slot being "now". Times are kept in microseconds with three
//! significant digits (a quantile is at most 0.1 % above the exact value)
//! up to a minute; longer times count as a minute. Each handshake counts
//! once: in the flow's first record (the one that saw the client's SYN),
//! not again in the records of its active-timeout splits. The Prometheus
//! buckets are counted exactly beside the histograms.

use datapath::epoch::FlowRecord;
use datapath::wire::proto::IpProtocol;
use hdrhistogram::Histogram;
use model::status::{RttBucket, RttDistribution, TcpRtt, RTT_BUCKETS_MS};

/// Largest time kept apart, µs (one minute); larger ones count as this.
const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
const SIGFIG: u8 = 3;
/// Slots of the recent window and the packet time each covers.
const SLOTS: usize = 6;
const SLOT_NS: u64 = 10_000_000_000;

/// One distribution: the histogram, the exact sum and the exact bucket
/// counts.
#[derive(Clone, Debug)]
pub(crate) struct Rtts {
    hist: Histogram<u64>,
    sum_ns: u128,
    /// Times at most each bound of [`RTT_BUCKETS_MS`] (not cumulative).
    buckets: [u64; RTT_BUCKETS_MS.len()],
}

impl Default for Rtts {
    fn default() -> Self {
        Rtts {
            hist: Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG)
                .expect("valid histogram bounds"),
            sum_ns: 0,
            buckets: [0; RTT_BUCKETS_MS.len()],
        }
    }
}

impl Rtts {
    /// Counts one time of `ns` nanoseconds (kept as whole µs, at least 1).
    pub(crate) fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.div_ceil(1_000).max(1));
        self.sum_ns += u128::from(ns);
        // An exact bucket count: the first bound at or above the time.
        if let Some(i) = RTT_BUCKETS_MS.iter().position(|&le| ns as f64 <= le * 1e6) {
            self.buckets[i] += 1;
        }
    }

    /// Times counted.
    pub(crate) fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Forgets every time.
    fn clear(&mut self) {
        self.hist.reset();
        self.sum_ns = 0;
        self.buckets = [0; RTT_BUCKETS_MS.len()];
    }

    /// Adds `other`'s times.
    fn add(&mut self, other: &Rtts) {
        self.hist
            .add(&other.hist)
            .expect("histograms of the same bounds");
        self.sum_ns += other.sum_ns;
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
    }

    /// The nearest-rank `q` quantile, µs (the highest value its histogram
    /// bucket stands for); `None` when empty.
    pub(crate) fn quantile_us(&self, q: f64) -> Option<u64> {
        (self.count() > 0).then(|| self.hist.value_at_quantile(q))
    }

    /// The distribution as the status carries it (with its buckets when
    /// `buckets`).
    pub(crate) fn distribution(&self, buckets: bool) -> RttDistribution {
        let ms = |q: f64| self.quantile_us(q).map(|us| us as f64 / 1e3);
        let mut cumulative = 0;
        RttDistribution {
            count: self.count(),
            sum_ms: self.sum_ns as f64 / 1e6,
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            max_ms: (self.count() > 0).then(|| self.hist.max() as f64 / 1e3),
            buckets: if buckets {
                RTT_BUCKETS_MS
                    .iter()
                    .zip(self.buckets)
                    .map(|(&le_ms, n)| {
                        cumulative += n;
                        RttBucket {
                            le_ms,
                            count: cumulative,
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// The control core's TCP handshake times (see the module's text).
#[derive(Clone, Debug, Default)]
pub(crate) struct HandshakeRtts {
    handshake: Rtts,
    server_side: Rtts,
    client_side: Rtts,
    /// The recent window: slot `i` holds the handshakes of flows whose
    /// record ended in ten-second period `slot_period[i]`.
    recent: [Rtts; SLOTS],
    slot_period: [u64; SLOTS],
    /// The newest period a record ended in.
    newest_period: u64,
}

impl HandshakeRtts {
    /// Counts the handshake of one flow record, if it has one to count: a
    /// TCP record that saw the client's SYN and has the SYN to SYN/ACK or
    /// the SYN/ACK to ACK time.
    pub(crate) fn record(&mut self, r: &FlowRecord) {
        if r.protocol != IpProtocol::TCP || r.tcp_c2s.syn == 0 {
            return;
        }
        let (syn, ack) = (r.rtt_syn_synack_ns, r.rtt_synack_ack_ns);
        if syn != 0 {
            self.server_side.record(syn);
        }
        if ack != 0 {
            self.client_side.record(ack);
        }
        if syn == 0 || ack == 0 {
            return;
        }
        let rtt = syn + ack;
        self.handshake.record(rtt);
        let period = r.last_ns / SLOT_NS;
        if period + (SLOTS as u64) <= self.newest_period {
            return; // Older than the window.
        }
        self.newest_period = self.newest_period.max(period);
        let i = (period % SLOTS as u64) as usize;
        if self.slot_period[i] != period {
            self.recent[i].clear();
            self.slot_period[i] = period;
        }
        self.recent[i].record(rtt);
    }

    /// The times as the status snapshot carries them.
    pub(crate) fn status(&self) -> TcpRtt {
        let mut recent = Rtts::default();
        for (slot, &period) in self.recent.iter().zip(&self.slot_period) {
            if period + (SLOTS as u64) > self.newest_period && slot.count() > 0 {
                recent.add(slot);
            }
        }
        TcpRtt {
            handshake: self.handshake.distribution(true),
            server_side: self.server_side.distribution(true),
            client_side: self.client_side.distribution(true),
            recent: recent.distribution(false),
            recent_window_s: SLOTS as u64 * SLOT_NS / 1_000_000_000,
        }
    }
}

#[cfg(test)]
mod tests;
