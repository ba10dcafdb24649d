//! The `capture` table: one row per worker and epoch, the worker's
//! counters (and, live, the interface's).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt16Array, UInt64Array};
use arrow::error::ArrowError;
use datapath::epoch::CaptureCounters;
use datapath::parse::{ParseError, PARSE_REASONS};
use model::rows::{CaptureRow, NicRow};

use crate::columns::{repeat_str, ts_array, u64_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `capture` table.
#[derive(Clone, Copy, Debug)]
pub struct Capture;

impl Table for Capture {
    type Row = CaptureRow;
    const NAME: &'static str = "capture";
    const TIME_COLUMN: &'static str = "epoch_end";

    fn columns() -> Vec<Col> {
        let mut out = CAPTURE_HEAD_COLS.to_vec();
        out.extend(parse_reason_columns().into_iter().map(|name| {
            let doc = parse_reason_doc(&name);
            Col::owned(name, Ty::U64, NOT_NULL, doc)
        }));
        out.extend_from_slice(CAPTURE_TAIL_COLS);
        out
    }

    fn data_time(row: &CaptureRow) -> u64 {
        row.end_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&CaptureRow]) -> Result<(), ArrowError> {
        push_epoch(c, tap_id, rows)?;
        push_counters(c, rows)?;
        push_nic(c, rows)
    }
}

/// Columns of `capture` before the per-reason parse error columns.
const CAPTURE_HEAD_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("worker", Ty::U16, NOT_NULL, "Index of the worker core."),
    col("source", Ty::Utf8, NOT_NULL, "Where the worker's frames come from, e.g. pcap:netflix.pcap or xdp:eth1/q0."),
    col("capture_mode", Ty::Utf8, NOT_NULL, "How frames are captured, e.g. pcap or xdp-zerocopy-native."),
    col("epoch_start", Ty::TsUs, NOT_NULL, "Packet-time start of the epoch (UTC, inclusive)."),
    col("epoch_end", Ty::TsUs, NOT_NULL, "Packet-time end of the epoch (UTC, exclusive). The row's data time: it picks the date partition and drives file rotation."),
    col("packets", Ty::U64, NOT_NULL, "Frames received from the source in the epoch, good or bad."),
    col("bytes", Ty::U64, NOT_NULL, "Wire bytes of those frames."),
    col("ip_packets", Ty::U64, NOT_NULL, "Frames that parsed into a flow packet."),
    col("fragments", Ty::U64, NOT_NULL, "Non-first IP fragments (counted in their flow if the first fragment was seen, else in a flow without ports)."),
    col("flows_created", Ty::U64, NOT_NULL, "Flows created in the epoch."),
    col("flows_ended", Ty::U64, NOT_NULL, "Flow records emitted in the epoch."),
    col("flow_table_full", Ty::U64, NOT_NULL, "Flows evicted because the flow table was full (their records have end_reason evicted)."),
    col("active_flows", Ty::U64, NOT_NULL, "Flows in the worker's table at the end of the epoch (a gauge)."),
    col("records_dropped", Ty::U64, NOT_NULL, "Finished-flow records lost because no summary buffer was free: rows missing from the flows table."),
    col("summary_queue_full", Ty::U64, NOT_NULL, "Epoch summaries the worker could not hand to the control core because the ring was full (counters fold into the next summary; flow records are lost and counted in records_dropped)."),
    col("src_dropped", Ty::U64, NOT_NULL, "Source-level drops reported by the kernel or the reader (AF_XDP XDP_STATISTICS rx_dropped, or pcap reader errors)."),
    col("src_ring_full", Ty::U64, NOT_NULL, "AF_XDP: frames dropped because the rx ring was full (the worker did not keep up)."),
    col("src_fill_ring_empty", Ty::U64, NOT_NULL, "AF_XDP: times the fill ring was empty (no free UMEM frame to receive into)."),
    col("src_invalid_descs", Ty::U64, NOT_NULL, "AF_XDP: invalid descriptors reported by the kernel."),
    col("busy_polls", Ty::U64, NOT_NULL, "Poll loop iterations that found frames."),
    col("idle_polls", Ty::U64, NOT_NULL, "Poll loop iterations that found none."),
    col("name_events", Ty::U64, NOT_NULL, "Names found (server names, DNS answers, device names) and handed to the control core."),
    col("name_events_dropped", Ty::U64, NOT_NULL, "Names lost because the epoch's name log was full: flows that may lack server_name, addresses missing from the DNS cache."),
    col("name_reasm_full", Ty::U64, NOT_NULL, "Flows whose ClientHello or HTTP request spanned several packets but found every reassembly buffer in use: their server name is missing."),
    col("activity_dropped", Ty::U64, NOT_NULL, "Per-flow activity records lost because no summary buffer was free: their packets are in the flows table but missing from that interval of traffic."),
    col("segments_dropped", Ty::U64, NOT_NULL, "Media segments detected but lost because more closed in one epoch than the worker's segment log holds (flows.segment_capacity, 16,384): missing from video_segments."),
    col("bad_timestamp", Ty::U64, NOT_NULL, "Frames whose timestamp was more than capture.max_time_jump_s from the worker's time (a damaged record, a broken clock) or, in replay, later than the wall clock plus that bound: counted in packets, flows and traffic as usual but at the latest good time, and they do not move time. Frames far ahead count here only when fewer than 16 in a row agree: 16 or more are a clock step, accepted at their own time. A step back is never accepted."),
    col("parse_errors_total", Ty::U64, NOT_NULL, "Frames that did not become flow packets, all reasons (the sum of the parse_* columns, including parse_non_ip)."),
];

/// Columns of `capture` after the per-reason parse error columns.
const CAPTURE_TAIL_COLS: &[Col] = &[
    col("busy_poll_utilisation", Ty::F64, NULL, "busy_polls / (busy_polls + idle_polls): share of poll iterations that found work; null when both are 0."),
    col("nic_rx_packets", Ty::U64, NULL, "Live capture: frames the interface itself received in the epoch (sysfs statistics, all queues), whether or not tapscope saw them; on the first worker's row only, null on the others and in replay. nic_rx_packets - sum(packets) over the epoch's rows approximates frames the interface got but tapscope did not."),
    col("nic_rx_dropped", Ty::U64, NULL, "Live capture: frames the interface's driver or stack dropped in the epoch (first worker's row only)."),
    col("nic_rx_missed", Ty::U64, NULL, "Live capture: frames the NIC missed (rx_missed_errors + rx_fifo_errors: its buffer overflowed) in the epoch (first worker's row only)."),
    col("nic_rx_errors", Ty::U64, NULL, "Live capture: receive errors (CRC, length, alignment) in the epoch (first worker's row only)."),
    col("link_up", Ty::Bool, NULL, "Live capture: the interface had carrier when the epoch was accounted (first worker's row only). Frames sent while the link is down never reach the tap: look for false here and for carrier_changes."),
    col("carrier_changes", Ty::U64, NULL, "Live capture: link up/down transitions in the epoch (first worker's row only)."),
];

/// Name of the `capture` column of parse error reason `i`:
/// `parse_<ParseError::reason_name(i)>`, or `parse_reason_<i>` should two
/// reasons share a name.
fn parse_reason_columns() -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(PARSE_REASONS);
    for i in 0..PARSE_REASONS {
        let name = format!("parse_{}", ParseError::reason_name(i));
        if names.contains(&name) {
            names.push(format!("parse_reason_{i}"));
        } else {
            names.push(name);
        }
    }
    names
}

fn parse_reason_doc(name: &str) -> String {
    let reason = name.strip_prefix("parse_").unwrap_or(name);
    let what = match reason {
        "non_ip" => "well-formed frames that are not IP (ARP, LLDP, STP, ...)".to_string(),
        "unsupported_link" => "frames of an unsupported link type".to_string(),
        "other" => "frames rejected by the parser for another reason".to_string(),
        r => match r.split_once('_') {
            Some(("truncated", layer)) => {
                format!("frames whose captured bytes end inside the {layer} header")
            }
            Some(("malformed", layer)) => format!("frames with an invalid {layer} header field"),
            _ => format!("frames rejected by the parser as {r}"),
        },
    };
    format!("Parse errors: {what}.")
}

/// The epoch's identity: `tap_id` to `epoch_end`.
fn push_epoch(c: &mut Columns<'_>, tap_id: &str, rows: &[&CaptureRow]) -> Result<(), ArrowError> {
    c.push("tap_id", repeat_str(tap_id, rows.len()))?;
    c.push(
        "worker",
        Arc::new(UInt16Array::from_iter_values(rows.iter().map(|r| r.worker))),
    )?;
    c.push(
        "source",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.source.as_str()),
        )),
    )?;
    c.push(
        "capture_mode",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.capture_mode.as_str()),
        )),
    )?;
    c.push("epoch_start", ts_array(rows.iter().map(|r| r.start_ns)))?;
    c.push("epoch_end", ts_array(rows.iter().map(|r| r.end_ns)))
}

/// The worker's counters: `packets` to `busy_poll_utilisation`.
fn push_counters(c: &mut Columns<'_>, rows: &[&CaptureRow]) -> Result<(), ArrowError> {
    let counter = |f: fn(&CaptureCounters) -> u64| u64_array(rows.iter().map(|r| f(&r.counters)));
    c.push("packets", counter(|k| k.packets))?;
    c.push("bytes", counter(|k| k.bytes))?;
    c.push("ip_packets", counter(|k| k.ip_packets))?;
    c.push("fragments", counter(|k| k.fragments))?;
    c.push("flows_created", counter(|k| k.flows_created))?;
    c.push("flows_ended", counter(|k| k.flows_ended))?;
    c.push("flow_table_full", counter(|k| k.flow_table_full))?;
    c.push("active_flows", counter(|k| k.active_flows))?;
    c.push("records_dropped", counter(|k| k.records_dropped))?;
    c.push("summary_queue_full", counter(|k| k.summary_queue_full))?;
    c.push("src_dropped", counter(|k| k.src_dropped))?;
    c.push("src_ring_full", counter(|k| k.src_ring_full))?;
    c.push("src_fill_ring_empty", counter(|k| k.src_fill_ring_empty))?;
    c.push("src_invalid_descs", counter(|k| k.src_invalid_descs))?;
    c.push("busy_polls", counter(|k| k.busy_polls))?;
    c.push("idle_polls", counter(|k| k.idle_polls))?;
    c.push("name_events", counter(|k| k.name_events))?;
    c.push("name_events_dropped", counter(|k| k.name_events_dropped))?;
    c.push("name_reasm_full", counter(|k| k.name_reasm_full))?;
    c.push("activity_dropped", counter(|k| k.activity_dropped))?;
    c.push("segments_dropped", counter(|k| k.segments_dropped))?;
    c.push("bad_timestamp", counter(|k| k.bad_timestamp))?;
    c.push("parse_errors_total", counter(|k| k.parse_errors_total()))?;
    for (i, name) in parse_reason_columns().iter().enumerate() {
        c.push(
            name,
            u64_array(rows.iter().map(|r| r.counters.parse_errors[i])),
        )?;
    }
    c.push(
        "busy_poll_utilisation",
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            let busy = r.counters.busy_polls;
            let total = busy.saturating_add(r.counters.idle_polls);
            (total != 0).then(|| busy as f64 / total as f64)
        }))),
    )
}

/// The interface's counters (live capture, first worker's rows only).
fn push_nic(c: &mut Columns<'_>, rows: &[&CaptureRow]) -> Result<(), ArrowError> {
    let nic = |f: fn(&NicRow) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| r.nic.as_ref().map(f)),
        ))
    };
    c.push("nic_rx_packets", nic(|n| n.rx_packets))?;
    c.push("nic_rx_dropped", nic(|n| n.rx_dropped))?;
    c.push("nic_rx_missed", nic(|n| n.rx_missed))?;
    c.push("nic_rx_errors", nic(|n| n.rx_errors))?;
    c.push(
        "link_up",
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| r.nic.map(|n| n.carrier)),
        )),
    )?;
    c.push("carrier_changes", nic(|n| n.carrier_changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{batch, TableInfo};
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, TimestampMicrosecondType, UInt64Type};

    #[test]
    fn one_column_per_parse_error_reason() {
        let cap = TableInfo::of::<Capture>().column_docs();
        assert_eq!(
            cap.iter()
                .filter(|d| d.name.starts_with("parse_") && d.name != "parse_errors_total")
                .count(),
            PARSE_REASONS
        );
        assert!(cap.iter().any(|d| d.name == "parse_non_ip"));
    }

    #[test]
    fn capture_batch_values() {
        let mut counters = CaptureCounters {
            packets: 100,
            bad_timestamp: 2,
            busy_polls: 3,
            idle_polls: 1,
            ..Default::default()
        };
        counters.parse_errors[16] = 5;
        counters.parse_errors[0] = 2;
        let a = CaptureRow {
            worker: 1,
            source: "pcap:x.pcap".into(),
            capture_mode: "pcap".into(),
            start_ns: 1_000_000_000,
            end_ns: 2_000_000_000,
            counters,
            nic: Some(NicRow {
                rx_packets: 9,
                carrier: true,
                ..NicRow::default()
            }),
        };
        let b_row = CaptureRow::default();
        let schema = TableInfo::of::<Capture>().schema();
        let b = batch::<Capture>(&schema, "t", &[&a, &b_row]).unwrap();
        let nic = b.column_by_name("nic_rx_packets").unwrap();
        assert_eq!(nic.as_primitive::<UInt64Type>().value(0), 9);
        assert!(nic.is_null(1), "no interface counters: null");
        let u = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<UInt64Type>()
                .value(0)
        };
        assert_eq!(u("packets"), 100);
        assert_eq!(u("bad_timestamp"), 2);
        assert_eq!(u("parse_errors_total"), 7);
        assert_eq!(u("parse_non_ip"), 5);
        assert_eq!(u("parse_truncated_link"), 2);
        let util = b
            .column_by_name("busy_poll_utilisation")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!((util.value(0) - 0.75).abs() < 1e-12);
        assert!(util.is_null(1));
        let end = b
            .column_by_name("epoch_end")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(end.value(0), 2_000_000);
    }
}
