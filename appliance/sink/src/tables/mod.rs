//! The tables, one file each: a marker type implementing
//! [`crate::Table`] for the table's row type.
//!
//! - [`Flows`]: one row per finished flow, with its labels.
//! - [`Capture`]: one row per worker and epoch, its counters.
//! - [`Traffic`]: per interval, device and service, bytes each way.
//! - [`Probes`]: one row per probe run.
//! - The sketch tables, one set of rows per window (by default one epoch),
//!   merged over every worker: [`HeavyHitters`], [`Scans`], [`FlowSizes`]
//!   and [`SketchState`].
//! - [`VideoSegments`]: one row per media segment detected in a flow.
//! - [`VideoSessions`]: one row per video session (device and service).
//! - [`VideoWindows`]: one row per 10 s window of a video session.
//! - The video lab's [`LabRuns`] and [`LabSessions`] (not written by a
//!   tap: see [`crate::LAB_TABLES`]).

use std::sync::Arc;

use arrow::array::UInt16Array;
use arrow::error::ArrowError;

use crate::columns::{repeat_str, ts_array};
use crate::table::Columns;

mod capture;
mod flow_sizes;
mod flows;
mod heavy_hitters;
mod lab_runs;
mod lab_sessions;
pub(crate) mod probes;
mod scans;
mod sketch_state;
mod traffic;
mod video_segments;
mod video_sessions;
mod video_windows;

pub use capture::Capture;
pub use flow_sizes::FlowSizes;
pub use flows::Flows;
pub use heavy_hitters::{key_text, HeavyHitters};
pub use lab_runs::LabRuns;
pub use lab_sessions::LabSessions;
pub use probes::Probes;
pub use scans::Scans;
pub use sketch_state::SketchState;
pub use traffic::Traffic;
pub use video_segments::VideoSegments;
pub use video_sessions::VideoSessions;
pub use video_windows::VideoWindows;

/// `window_start` of the sketch tables.
pub(crate) const WINDOW_START: &str = "Packet-time start of the window (UTC, inclusive). A window is one epoch, or sketch.window_epochs epochs, aligned to multiples of its length.";
/// `window_end` of the sketch tables.
pub(crate) const WINDOW_END: &str = "Packet-time end of the window (UTC, exclusive). The row's data time: it picks the date partition and drives file rotation.";
/// `workers` of the sketch tables.
pub(crate) const WORKERS: &str = "Workers whose sketches were merged into this window's rows (all rows are the merged, all-worker view).";

fn u16_sat(v: u32) -> u16 {
    v.min(u16::MAX as u32) as u16
}

/// The first columns of every sketch table: `tap_id`, `window_start`,
/// `window_end` and `workers` (`f` gives start, end and workers of a row).
pub(crate) fn window_cols<T>(
    c: &mut Columns<'_>,
    tap_id: &str,
    rows: &[&T],
    f: impl Fn(&T) -> (u64, u64, u32),
) -> Result<(), ArrowError> {
    c.push("tap_id", repeat_str(tap_id, rows.len()))?;
    c.push("window_start", ts_array(rows.iter().map(|r| f(r).0)))?;
    c.push("window_end", ts_array(rows.iter().map(|r| f(r).1)))?;
    c.push(
        "workers",
        Arc::new(UInt16Array::from_iter_values(
            rows.iter().map(|r| u16_sat(f(r).2)),
        )),
    )
}

/// Rank of a heavy hitter as the table writes it (saturated to u16).
pub(crate) fn rank_u16(rank: u32) -> u16 {
    u16_sat(rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{batch, Table, TableInfo};
    use arrow::array::AsArray;
    use arrow::record_batch::RecordBatch;
    use datapath::sketch::state::{FlowSizeRow, Scan, ScanKind};
    use datapath::sketch::Increment;
    use model::rows::SketchStateRow;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
    }

    fn batch_of<T: Table>(rows: &[&T::Row]) -> RecordBatch {
        batch::<T>(&TableInfo::of::<T>().schema(), "t", rows).unwrap()
    }

    #[test]
    fn scans_flow_sizes_and_state_batches() {
        let scan = Scan {
            start_ns: 0,
            end_ns: 1_000_000_000,
            workers: 1,
            kind: ScanKind::Host,
            src_ip: v4([192, 168, 1, 9]),
            ip_version: 4,
            distinct: 500,
            threshold: 50,
            relative_error: 0.04,
            saturated: false,
        };
        let b = batch_of::<Scans>(&[&scan]);
        assert_eq!(
            b.column_by_name("kind")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "host_scan"
        );
        assert_eq!(
            b.column_by_name("src_ip")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "192.168.1.9"
        );
        let fs = FlowSizeRow {
            start_ns: 0,
            end_ns: 1,
            workers: 1,
            metric: Increment::Packets,
            low: 8,
            high: 9,
            flows: 3,
            volume: 25,
        };
        let b = batch_of::<FlowSizes>(&[&fs]);
        assert_eq!(
            b.column_by_name("metric")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "packets"
        );
        let st = SketchStateRow {
            state: vec![1, 2, 3],
            format_version: 1,
            ..Default::default()
        };
        let b = batch_of::<SketchState>(&[&st]);
        assert_eq!(
            b.column_by_name("state")
                .unwrap()
                .as_binary::<i32>()
                .value(0),
            &[1, 2, 3]
        );
    }
}
