//! Schemas, column documentation and batch builders of the sketch tables:
//! `heavy_hitters`, `scans`, `flow_sizes` and `sketch_state`. One set of
//! rows per window (by default one epoch), merged over every worker.

use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, StringArray, StringBuilder, UInt16Array,
    UInt32Array, UInt8Array,
};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datapath::parse::ip_proto;
use datapath::sketch::state::{FlowSizeRow, HeavyHitter, Scan};
use datapath::sketch::SketchKey;

use model::rows::SketchStateRow;

use super::tables::{
    col, defs, ip_array, repeat_str, schema_of, ts_array, u64_array, Col, ColumnDoc, Columns, Ty,
    NOT_NULL, NULL,
};

/// Name of the heavy-hitters table (its folder under the sink root).
pub const HEAVY_HITTERS: &str = "heavy_hitters";
/// Name of the scans table.
pub const SCANS: &str = "scans";
/// Name of the flow-size distribution table.
pub const FLOW_SIZES: &str = "flow_sizes";
/// Name of the table of serialized window states.
pub const SKETCH_STATE: &str = "sketch_state";

const WINDOW_START: &str = "Packet-time start of the window (UTC, inclusive). A window is one epoch, or sketch.window_epochs epochs, aligned to multiples of its length.";
const WINDOW_END: &str = "Packet-time end of the window (UTC, exclusive). The row's data time: it picks the date partition and drives file rotation.";
const WORKERS: &str = "Workers whose sketches were merged into this window's rows (all rows are the merged, all-worker view).";

const HEAVY_HITTERS_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, WORKERS),
    col("counter", Ty::Utf8, NOT_NULL, "Name of the counter (sketch.counters name)."),
    col("key_type", Ty::Utf8, NOT_NULL, "What the counter counts by: src, dst, src_dst, src_dport (source, protocol and destination port), dport (protocol and destination port) or five_tuple."),
    col("increment", Ty::Utf8, NOT_NULL, "What the counter adds per packet: packets (1) or bytes (frame length on the wire)."),
    col("protocol", Ty::Utf8, NOT_NULL, "The counter's protocol filter: any, tcp, udp or icmp (ICMP and ICMPv6)."),
    col("direction", Ty::Utf8, NOT_NULL, "The counter's direction filter: any, c2s (packets from a flow's client, its initiator, to the server) or s2c."),
    col("rank", Ty::U16, NOT_NULL, "1 for the key with the largest estimate in the window, up to sketch.top_k; ties ranked by key."),
    col("key", Ty::Utf8, NOT_NULL, "The key as text: an address; 'src > dst'; 'src > tcp/443'; 'tcp/443'; or 'tcp src:port > dst:port' (IPv6 in brackets)."),
    col("src_ip", Ty::Utf8, NULL, "Source address of the key (dotted quad or RFC 5952); null when the key type has none (dst, dport)."),
    col("dst_ip", Ty::Utf8, NULL, "Destination address of the key; null when the key type has none (src, src_dport, dport)."),
    col("src_port", Ty::U16, NULL, "Source port (five_tuple only; 0 for protocols without ports)."),
    col("dst_port", Ty::U16, NULL, "Destination port (src_dport, dport, five_tuple; 0 for protocols without ports)."),
    col("ip_protocol", Ty::U8, NULL, "IP protocol number of the key (src_dport, dport, five_tuple)."),
    col("estimate", Ty::U64, NOT_NULL, "Count-min estimate of the key's packets or bytes in the window. Never below the true count when sampling is 1."),
    col("error_bound", Ty::U64, NOT_NULL, "How far the estimate may be from the true count, with probability about sketch.confidence: ceil(epsilon x N) for the count-min sketch (epsilon = e / its width, at most sketch.error; N = total when sampling is 1), plus z x sqrt((sampling - 1) x largest increment x estimate) when packets were sampled."),
    col("total", Ty::U64, NOT_NULL, "Exact sum of the counter's increments in the window, over all keys (estimate / total is the key's share)."),
    col("sampling", Ty::U32, NOT_NULL, "1 when every update reached the sketch; 2^s when a worker's update rate passed sketch.sample_above_updates and one update in 2^s did, weighted 2^s (the estimate is then unbiased, no longer an upper bound)."),
];

const SCANS_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, WORKERS),
    col("kind", Ty::Utf8, NOT_NULL, "port_scan: the source probed many distinct destination (protocol, port) pairs; host_scan: many distinct destination addresses. Probes are TCP SYNs without ACK, UDP datagrams from a flow's initiator and ICMP echo requests."),
    col("src_ip", Ty::Utf8, NOT_NULL, "The probing source (dotted quad or RFC 5952)."),
    col("distinct", Ty::U64, NOT_NULL, "Estimated distinct destination ports (port_scan) or hosts (host_scan) the source probed in the window. Sources sharing sketch buckets can only raise it."),
    col("threshold", Ty::U64, NOT_NULL, "The threshold it passed (sketch.port_scan_threshold or sketch.host_scan_threshold)."),
    col("relative_error", Ty::F64, NOT_NULL, "Relative standard error of the distinct-count estimator at this estimate (linear counting over 512 bits)."),
    col("saturated", Ty::Bool, NOT_NULL, "The estimator was full (about 3,200 or more): distinct is a lower bound."),
];

const FLOW_SIZES_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, WORKERS),
    col("metric", Ty::Utf8, NOT_NULL, "packets or bytes: the flow size measured (both directions; bytes are frame bytes on the wire)."),
    col("bucket_low", Ty::U64, NOT_NULL, "Smallest size in the bucket (inclusive). Buckets: 0 to 7 one each, then four per power of two."),
    col("bucket_high", Ty::U64, NOT_NULL, "Largest size in the bucket (inclusive)."),
    col("flows", Ty::U64, NOT_NULL, "Flow records of the window (finished flows, and parts of long flows cut by the active timeout) whose size falls in the bucket. Only non-empty buckets have rows."),
    col("volume", Ty::U64, NOT_NULL, "Sum of those flows' sizes: packets or bytes carried by flows of this size."),
];

const SKETCH_STATE_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, WORKERS),
    col("snapshots", Ty::U32, NOT_NULL, "Worker-epoch snapshots merged into the state."),
    col("format_version", Ty::U16, NOT_NULL, "Version of the binary form of state (see datapath::sketch::state)."),
    col("state", Ty::Binary, NOT_NULL, "The window's merged sketches (count-min tables and candidate keys per counter, scan sketches, flow-size histograms) in tapscope's versioned binary form; states of several windows or taps merge with datapath::sketch::merge_encoded."),
];

fn docs(cols: &[Col]) -> Vec<ColumnDoc> {
    defs(cols).map(|(d, _)| d).collect()
}

/// Every column of `heavy_hitters`, in file order.
pub fn heavy_hitters_columns() -> Vec<ColumnDoc> {
    docs(HEAVY_HITTERS_COLS)
}

/// Every column of `scans`, in file order.
pub fn scans_columns() -> Vec<ColumnDoc> {
    docs(SCANS_COLS)
}

/// Every column of `flow_sizes`, in file order.
pub fn flow_sizes_columns() -> Vec<ColumnDoc> {
    docs(FLOW_SIZES_COLS)
}

/// Every column of `sketch_state`, in file order.
pub fn sketch_state_columns() -> Vec<ColumnDoc> {
    docs(SKETCH_STATE_COLS)
}

pub(crate) fn heavy_hitters_schema() -> SchemaRef {
    schema_of(defs(HEAVY_HITTERS_COLS).collect(), HEAVY_HITTERS)
}

pub(crate) fn scans_schema() -> SchemaRef {
    schema_of(defs(SCANS_COLS).collect(), SCANS)
}

pub(crate) fn flow_sizes_schema() -> SchemaRef {
    schema_of(defs(FLOW_SIZES_COLS).collect(), FLOW_SIZES)
}

pub(crate) fn sketch_state_schema() -> SchemaRef {
    schema_of(defs(SKETCH_STATE_COLS).collect(), SKETCH_STATE)
}

fn u16_sat(v: u32) -> u16 {
    v.min(u16::MAX as u32) as u16
}

fn window_cols<T>(
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

/// An address as the tables write it: dotted quad for IPv4 (stored
/// IPv4-mapped), RFC 5952 otherwise.
fn ip_text(version: u8, a: &[u8; 16]) -> String {
    let v6 = Ipv6Addr::from(*a);
    match v6.to_ipv4_mapped() {
        Some(v4) if version == 4 => v4.to_string(),
        _ => v6.to_string(),
    }
}

fn proto_text(p: u8) -> String {
    match p {
        ip_proto::TCP => "tcp".into(),
        ip_proto::UDP => "udp".into(),
        ip_proto::ICMP => "icmp".into(),
        ip_proto::ICMPV6 => "icmpv6".into(),
        n => format!("proto{n}"),
    }
}

/// The `key` column's text for a heavy hitter.
pub fn key_text(h: &HeavyHitter) -> String {
    use datapath::sketch::KeyType::*;
    let k: &SketchKey = &h.key;
    let src = || ip_text(k.ip_version, &k.src_ip);
    let dst = || ip_text(k.ip_version, &k.dst_ip);
    let with_port = |ip: String, port: u16| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    match h.counter.key {
        Src => src(),
        Dst => dst(),
        SrcDst => format!("{} > {}", src(), dst()),
        SrcDport => format!("{} > {}/{}", src(), proto_text(k.protocol), k.dst_port),
        Dport => format!("{}/{}", proto_text(k.protocol), k.dst_port),
        FiveTuple => format!(
            "{} {} > {}",
            proto_text(k.protocol),
            with_port(src(), k.src_port),
            with_port(dst(), k.dst_port)
        ),
    }
}

fn opt_ip<'a>(
    rows: &'a [&'a HeavyHitter],
    present: impl Fn(&HeavyHitter) -> bool,
    ip: impl Fn(&'a HeavyHitter) -> &'a [u8; 16],
) -> ArrayRef {
    let mut b = StringBuilder::new();
    for r in rows {
        if present(r) {
            let _ = write!(b, "{}", ip_text(r.key.ip_version, ip(r)));
            b.append_value("");
        } else {
            b.append_null();
        }
    }
    Arc::new(b.finish())
}

/// One `heavy_hitters` batch (must use [`heavy_hitters_schema`]).
pub(crate) fn heavy_hitters_batch(
    schema: &SchemaRef,
    tap_id: &str,
    rows: &[&HeavyHitter],
) -> Result<RecordBatch, ArrowError> {
    let mut c = Columns::new(schema);
    window_cols(&mut c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
    let text = |f: fn(&HeavyHitter) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
    };
    c.push(
        "counter",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.counter.name.as_str()),
        )),
    )?;
    c.push("key_type", text(|r| r.counter.key.name()))?;
    c.push("increment", text(|r| r.counter.increment.name()))?;
    c.push("protocol", text(|r| r.counter.protocol.name()))?;
    c.push("direction", text(|r| r.counter.direction.name()))?;
    c.push(
        "rank",
        Arc::new(UInt16Array::from_iter_values(
            rows.iter().map(|r| u16_sat(r.rank)),
        )),
    )?;
    c.push(
        "key",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| key_text(r)),
        )),
    )?;
    c.push(
        "src_ip",
        opt_ip(rows, |r| r.counter.key.has_src_ip(), |r| &r.key.src_ip),
    )?;
    c.push(
        "dst_ip",
        opt_ip(rows, |r| r.counter.key.has_dst_ip(), |r| &r.key.dst_ip),
    )?;
    c.push(
        "src_port",
        Arc::new(UInt16Array::from_iter(
            rows.iter()
                .map(|r| r.counter.key.has_src_port().then_some(r.key.src_port)),
        )),
    )?;
    c.push(
        "dst_port",
        Arc::new(UInt16Array::from_iter(
            rows.iter()
                .map(|r| r.counter.key.has_dst_port().then_some(r.key.dst_port)),
        )),
    )?;
    c.push(
        "ip_protocol",
        Arc::new(UInt8Array::from_iter(
            rows.iter()
                .map(|r| r.counter.key.has_protocol().then_some(r.key.protocol)),
        )),
    )?;
    c.push("estimate", u64_array(rows.iter().map(|r| r.estimate)))?;
    c.push("error_bound", u64_array(rows.iter().map(|r| r.error_bound)))?;
    c.push("total", u64_array(rows.iter().map(|r| r.total)))?;
    c.push(
        "sampling",
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.sampling),
        )),
    )?;
    c.finish()
}

/// One `scans` batch (must use [`scans_schema`]).
pub(crate) fn scans_batch(
    schema: &SchemaRef,
    tap_id: &str,
    rows: &[&Scan],
) -> Result<RecordBatch, ArrowError> {
    let mut c = Columns::new(schema);
    window_cols(&mut c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
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
    )?;
    c.finish()
}

/// One `flow_sizes` batch (must use [`flow_sizes_schema`]).
pub(crate) fn flow_sizes_batch(
    schema: &SchemaRef,
    tap_id: &str,
    rows: &[&FlowSizeRow],
) -> Result<RecordBatch, ArrowError> {
    let mut c = Columns::new(schema);
    window_cols(&mut c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
    c.push(
        "metric",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.metric.name()),
        )),
    )?;
    c.push("bucket_low", u64_array(rows.iter().map(|r| r.low)))?;
    c.push("bucket_high", u64_array(rows.iter().map(|r| r.high)))?;
    c.push("flows", u64_array(rows.iter().map(|r| r.flows)))?;
    c.push("volume", u64_array(rows.iter().map(|r| r.volume)))?;
    c.finish()
}

/// One `sketch_state` batch (must use [`sketch_state_schema`]).
pub(crate) fn sketch_state_batch(
    schema: &SchemaRef,
    tap_id: &str,
    rows: &[&SketchStateRow],
) -> Result<RecordBatch, ArrowError> {
    let mut c = Columns::new(schema);
    window_cols(&mut c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
    c.push(
        "snapshots",
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.snapshots),
        )),
    )?;
    c.push(
        "format_version",
        Arc::new(UInt16Array::from_iter_values(
            rows.iter().map(|r| r.format_version),
        )),
    )?;
    c.push(
        "state",
        Arc::new(BinaryArray::from_iter_values(
            rows.iter().map(|r| r.state.as_slice()),
        )),
    )?;
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{UInt16Type, UInt64Type, UInt8Type};
    use datapath::sketch::state::ScanKind;
    use datapath::sketch::{CounterSpec, Increment, KeyType};

    fn v4(a: [u8; 4]) -> [u8; 16] {
        std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
    }

    fn hh(key_type: KeyType, key: SketchKey) -> HeavyHitter {
        HeavyHitter {
            start_ns: 1_000_000_000,
            end_ns: 2_000_000_000,
            workers: 2,
            counter: Arc::new(CounterSpec::new("c", key_type, Increment::Bytes)),
            rank: 1,
            key,
            estimate: 1500,
            error_bound: 3,
            total: 3000,
            sampling: 1,
        }
    }

    #[test]
    fn docs_cover_every_column_once() {
        for (docs, schema) in [
            (heavy_hitters_columns(), heavy_hitters_schema()),
            (scans_columns(), scans_schema()),
            (flow_sizes_columns(), flow_sizes_schema()),
            (sketch_state_columns(), sketch_state_schema()),
        ] {
            assert_eq!(docs.len(), schema.fields().len());
            let mut names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
            for (d, f) in docs.iter().zip(schema.fields()) {
                assert_eq!(&d.name, f.name());
                assert!(!d.description.is_empty(), "{} undocumented", d.name);
                assert_eq!(f.metadata().get("description"), Some(&d.description));
            }
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), docs.len(), "duplicate column names");
        }
    }

    #[test]
    fn heavy_hitter_keys_by_type() {
        let mut k = SketchKey {
            src_ip: v4([10, 0, 0, 1]),
            dst_ip: v4([10, 0, 0, 2]),
            src_port: 40000,
            dst_port: 443,
            protocol: 6,
            ip_version: 4,
        };
        let mut six = k;
        six.src_ip = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        six.ip_version = 6;
        assert_eq!(key_text(&hh(KeyType::Src, k)), "10.0.0.1");
        assert_eq!(key_text(&hh(KeyType::Dst, k)), "10.0.0.2");
        assert_eq!(key_text(&hh(KeyType::SrcDst, k)), "10.0.0.1 > 10.0.0.2");
        assert_eq!(key_text(&hh(KeyType::SrcDport, k)), "10.0.0.1 > tcp/443");
        assert_eq!(key_text(&hh(KeyType::Dport, k)), "tcp/443");
        assert_eq!(
            key_text(&hh(KeyType::FiveTuple, k)),
            "tcp 10.0.0.1:40000 > 10.0.0.2:443"
        );
        assert_eq!(
            key_text(&hh(KeyType::FiveTuple, six)),
            "tcp [2001:db8::1]:40000 > [::ffff:10.0.0.2]:443"
        );
        k.protocol = 47;
        assert_eq!(key_text(&hh(KeyType::Dport, k)), "proto47/443");

        let rows = [hh(KeyType::Src, k), hh(KeyType::FiveTuple, k)];
        let refs: Vec<&HeavyHitter> = rows.iter().collect();
        let b = heavy_hitters_batch(&heavy_hitters_schema(), "t", &refs).unwrap();
        let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
        assert_eq!(s("src_ip").value(0), "10.0.0.1");
        assert!(s("dst_ip").is_null(0));
        assert_eq!(s("dst_ip").value(1), "10.0.0.2");
        assert_eq!(s("key_type").value(1), "five_tuple");
        assert_eq!(s("increment").value(0), "bytes");
        assert_eq!(s("protocol").value(0), "any");
        let port = b
            .column_by_name("dst_port")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert!(port.is_null(0));
        assert_eq!(port.value(1), 443);
        let proto = b
            .column_by_name("ip_protocol")
            .unwrap()
            .as_primitive::<UInt8Type>();
        assert!(proto.is_null(0));
        assert_eq!(proto.value(1), 47);
        let est = b
            .column_by_name("estimate")
            .unwrap()
            .as_primitive::<UInt64Type>();
        assert_eq!(est.value(0), 1500);
        let workers = b
            .column_by_name("workers")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert_eq!(workers.value(1), 2);
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
        let b = scans_batch(&scans_schema(), "t", &[&scan]).unwrap();
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
        let b = flow_sizes_batch(&flow_sizes_schema(), "t", &[&fs]).unwrap();
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
        let b = sketch_state_batch(&sketch_state_schema(), "t", &[&st]).unwrap();
        assert_eq!(
            b.column_by_name("state")
                .unwrap()
                .as_binary::<i32>()
                .value(0),
            &[1, 2, 3]
        );
    }
}
