//! The `scans` table: per window, the sources that probed many ports or hosts.

use std::sync::Arc;

use crate::columns::{ip_array, u64_array};
use arrow::array::{BooleanArray, Float64Array, StringArray};
use arrow::error::ArrowError;
use datapath::sketch::state::Scan;

use super::window_cols;
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL};

/// The `scans` table.
#[derive(Clone, Copy, Debug)]
pub struct Scans;

impl Table for Scans {
    type Row = Scan;
    const NAME: &'static str = "scans";
    const TIME_COLUMN: &'static str = "window_end";

    fn columns() -> Vec<Col> {
        SCANS_COLS.to_vec()
    }

    fn data_time(row: &Scan) -> u64 {
        row.end_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&Scan]) -> Result<(), ArrowError> {
        window_cols(c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
        c.push(
            "kind",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.kind.name()),
            )),
        )?;
        c.push(
            "src_ip",
            ip_array(rows.iter().map(|r| (r.ip_version, &r.src_ip))),
        )?;
        c.push("distinct", u64_array(rows.iter().map(|r| r.distinct)))?;
        c.push("threshold", u64_array(rows.iter().map(|r| r.threshold)))?;
        c.push(
            "relative_error",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.relative_error),
            )),
        )?;
        c.push(
            "saturated",
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.saturated)),
            )),
        )
    }
}

const SCANS_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, super::WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, super::WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, super::WORKERS),
    col("kind", Ty::Utf8, NOT_NULL, "port_scan: the source probed many distinct destination (protocol, port) pairs; host_scan: many distinct destination addresses. Probes are TCP SYNs without ACK, UDP datagrams from a flow's initiator and ICMP echo requests."),
    col("src_ip", Ty::Utf8, NOT_NULL, "The probing source (dotted quad or RFC 5952)."),
    col("distinct", Ty::U64, NOT_NULL, "Estimated distinct destination ports (port_scan) or hosts (host_scan) the source probed in the window. Sources sharing sketch buckets can only raise it."),
    col("threshold", Ty::U64, NOT_NULL, "The threshold it passed (sketch.port_scan_threshold or sketch.host_scan_threshold)."),
    col("relative_error", Ty::F64, NOT_NULL, "Relative standard error of the distinct-count estimator at this estimate (linear counting over 512 bits)."),
    col("saturated", Ty::Bool, NOT_NULL, "The estimator was full (about 3,200 or more): distinct is a lower bound."),
];
