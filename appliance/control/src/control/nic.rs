//! The control core's third job: watching the capture interface's own
//! counters (live capture), sampled with the first worker's capture rows.

use sink::NicRow;

use crate::iface::NicStats;

/// The interface being watched, its counters at the last sample, and
/// their sum over the run.
#[derive(Debug)]
pub(crate) struct NicWatch {
    iface: String,
    last: NicStats,
    total: NicRow,
}

impl NicWatch {
    /// Starts watching `iface` (None when its counters cannot be read).
    pub(crate) fn new(iface: &str) -> Option<NicWatch> {
        NicStats::read(iface).map(|last| NicWatch {
            iface: iface.to_string(),
            last,
            total: NicRow::default(),
        })
    }

    /// The interface's counters since the last sample (None when they
    /// could not be read this time).
    pub(crate) fn sample(&mut self) -> Option<NicRow> {
        let now = NicStats::read(&self.iface)?;
        let d = now.since(&self.last);
        self.last = now;
        let t = &mut self.total;
        t.rx_packets += d.rx_packets;
        t.rx_dropped += d.rx_dropped;
        t.rx_missed += d.rx_missed;
        t.rx_errors += d.rx_errors;
        t.carrier_changes += d.carrier_changes;
        t.carrier = d.carrier;
        Some(NicRow {
            rx_packets: d.rx_packets,
            rx_dropped: d.rx_dropped,
            rx_missed: d.rx_missed,
            rx_errors: d.rx_errors,
            carrier: d.carrier,
            carrier_changes: d.carrier_changes,
        })
    }

    /// The counters summed over the run.
    pub(crate) fn total(&self) -> NicRow {
        self.total
    }
}
