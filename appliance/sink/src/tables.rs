//! Arrow schemas, column documentation and `RecordBatch` builders of the
//! `flows` and `capture` tables (the sketch tables, in `sketch_tables`, use
//! the same machinery).
//!
//! Each table's columns are declared once, in a static list of `Col`s that
//! carries name, type, nullability and description; the Arrow schema, the
//! column documentation ([`flows_columns`], [`capture_columns`]) and the
//! builders' name check all derive from it. Every description is also stored
//! as Arrow field metadata (`description`), so the files describe themselves.
//!
//! Unknown values are written as null, never as 0.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, PrimitiveArray, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Schema, SchemaRef, TimeUnit, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datapath::epoch::{CaptureCounters, FlowRecord, TcpDirStats};
use datapath::parse::{ip_proto, ParseError, PARSE_REASONS};
use model::rows::{CaptureRow, FlowRow, NicRow};

/// Name of the flows table (its folder under the sink root).
pub const FLOWS: &str = "flows";
/// Name of the capture table (its folder under the sink root).
pub const CAPTURE: &str = "capture";

/// Documentation of one column, for the README and the status CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDoc {
    pub name: String,
    /// Arrow/Parquet logical type: `utf8`, `uint8`, `uint16`, `uint32`,
    /// `uint64`, `float64`, `bool`, `timestamp[us, UTC]`.
    pub data_type: &'static str,
    /// Whether the column can hold nulls (unknown or not applicable).
    pub nullable: bool,
    pub description: String,
}

/// Column types used by the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Utf8,
    U8,
    U16,
    U32,
    U64,
    F64,
    Bool,
    /// Timestamp, microseconds, time zone "UTC".
    TsUs,
    /// Variable-length bytes.
    Binary,
}

impl Ty {
    fn data_type(self) -> DataType {
        match self {
            Ty::Utf8 => DataType::Utf8,
            Ty::U8 => DataType::UInt8,
            Ty::U16 => DataType::UInt16,
            Ty::U32 => DataType::UInt32,
            Ty::U64 => DataType::UInt64,
            Ty::F64 => DataType::Float64,
            Ty::Bool => DataType::Boolean,
            Ty::TsUs => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Ty::Binary => DataType::Binary,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ty::Utf8 => "utf8",
            Ty::U8 => "uint8",
            Ty::U16 => "uint16",
            Ty::U32 => "uint32",
            Ty::U64 => "uint64",
            Ty::F64 => "float64",
            Ty::Bool => "bool",
            Ty::TsUs => "timestamp[us, UTC]",
            Ty::Binary => "binary",
        }
    }
}

/// A column declaration.
pub(super) struct Col {
    name: &'static str,
    ty: Ty,
    nullable: bool,
    doc: &'static str,
}

pub(super) const fn col(name: &'static str, ty: Ty, nullable: bool, doc: &'static str) -> Col {
    Col {
        name,
        ty,
        nullable,
        doc,
    }
}

pub(super) const NULL: bool = true;
pub(super) const NOT_NULL: bool = false;

/// Columns of `flows`, in file order.
const FLOWS_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap that saw the flow (sink tap_id, by default the hostname)."),
    col("worker", Ty::U16, NOT_NULL, "Index of the worker core that owned the flow (flows are pinned to a worker by the NIC's RSS hash)."),
    col("flow_start", Ty::TsUs, NOT_NULL, "Packet timestamp of the flow's first packet (UTC)."),
    col("flow_end", Ty::TsUs, NOT_NULL, "Packet timestamp of the flow's last packet (UTC). The row's data time: it picks the date partition and drives file rotation."),
    col("duration_ms", Ty::F64, NOT_NULL, "flow_end - flow_start in milliseconds."),
    col("end_reason", Ty::Utf8, NOT_NULL, "Why the record was emitted: fin (both sides closed), rst (a RST was seen), idle (no packet for the idle timeout), active (active timeout: the flow continues in a later record), evicted (flow table full, least recently seen flow), end_of_capture (capture ended or shutdown with the flow open)."),
    col("vlan", Ty::U16, NULL, "Outermost 802.1Q VLAN id; null when untagged."),
    col("tunnel", Ty::Utf8, NULL, "Outer encapsulation removed to reach the flow's IP header: 4in4, 6in4, 4in6, 6in6 or gre; null when none."),
    col("ip_version", Ty::U8, NULL, "4 or 6: version of the innermost IP header (the one the flow is keyed by)."),
    col("protocol", Ty::U8, NOT_NULL, "IP protocol number after IPv6 extension headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)."),
    col("client_mac", Ty::Utf8, NULL, "Ethernet source address of the client's packets (a router's when the client is behind one), as aa:bb:cc:dd:ee:ff; null when the capture has no Ethernet header."),
    col("server_mac", Ty::Utf8, NULL, "Ethernet source address of the server's packets, as client_mac; null when unknown (no Ethernet header, or no packet from the server)."),
    col("client_ip", Ty::Utf8, NOT_NULL, "IP address of the client, the initiator (sender of the first SYN for TCP, else of the first packet seen): dotted quad for IPv4, RFC 5952 text for IPv6."),
    col("server_ip", Ty::Utf8, NOT_NULL, "IP address of the server (the other side), formatted as client_ip."),
    col("client_port", Ty::U16, NULL, "Client's TCP/UDP port; null for other protocols and for flows made of IP fragments whose first fragment was not seen."),
    col("server_port", Ty::U16, NULL, "Server's TCP/UDP port; null as client_port."),
    col("app_proto", Ty::Utf8, NULL, "Application protocol recognised from the first packets: tls, quic, gquic, http, dns, mdns or dhcp; null when not recognised."),
    col("server_name", Ty::Utf8, NULL, "Name of the server: the flow's TLS or QUIC SNI, HTTP Host or DNS query name, else the name its address resolved to in DNS, else a name another flow to the same address announced (see name_source); null when none is known."),
    col("name_source", Ty::Utf8, NULL, "Where server_name comes from: tls_sni, quic_sni, gquic_sni, http_host, dns_query (the flow's own packets), dns (a DNS answer for server_ip), server_ip (another flow's SNI/Host for server_ip); null with server_name."),
    col("alpn", Ty::Utf8, NULL, "ALPN protocols offered in the client's TLS/QUIC ClientHello, comma-separated (e.g. h2,http/1.1); null when none."),
    col("service", Ty::Utf8, NOT_NULL, "Service the flow belongs to per the service catalog (e.g. netflix, youtube, zoom), unknown when nothing matched."),
    col("service_category", Ty::Utf8, NOT_NULL, "The service's category (video, conferencing, social, cdn, ...), unknown when service is unknown."),
    col("service_match", Ty::Utf8, NULL, "What matched the service: name (server_name or a DNS name of server_ip), ip_prefix (the catalog's address ranges) or port (its port rules); null when service is unknown."),
    col("direction", Ty::Utf8, NULL, "Where the flow runs relative to the local subnets: outbound (local client), inbound (local server), local (both) or external (neither)."),
    col("device_mac", Ty::Utf8, NULL, "MAC of the flow's device, its local end (the client if local, else the server if local, else the client); null without Ethernet."),
    col("device_ip", Ty::Utf8, NULL, "Address of the device in this flow."),
    col("device_name", Ty::Utf8, NULL, "Name of the device: its DHCP hostname (option 12), else its mDNS name, else Unknown-<ip>."),
    col("c2s_packets", Ty::U64, NOT_NULL, "Packets from client to server."),
    col("c2s_bytes", Ty::U64, NOT_NULL, "Frame bytes on the wire from client to server (as tshark's frame.len)."),
    col("c2s_payload_bytes", Ty::U64, NOT_NULL, "L4 payload bytes from client to server, per the IP header."),
    col("s2c_packets", Ty::U64, NOT_NULL, "Packets from server to client."),
    col("s2c_bytes", Ty::U64, NOT_NULL, "Frame bytes on the wire from server to client."),
    col("s2c_payload_bytes", Ty::U64, NOT_NULL, "L4 payload bytes from server to client."),
    col("fragments", Ty::U32, NOT_NULL, "Non-first IP fragments counted in this flow."),
    col("tcp_rtt_syn_ms", Ty::F64, NULL, "TCP: time from the client's SYN to the server's SYN/ACK seen at the tap (tap -> server -> tap), ms; null when not measured or not TCP."),
    col("tcp_rtt_ack_ms", Ty::F64, NULL, "TCP: time from the SYN/ACK to the client's first ACK seen at the tap (tap -> client -> tap), ms; null when not measured or not TCP."),
    col("c2s_syn", Ty::U32, NULL, "TCP: segments with SYN from client to server; null for non-TCP flows (as every c2s_/s2c_ TCP column below)."),
    col("c2s_fin", Ty::U32, NULL, "TCP: segments with FIN from client to server."),
    col("c2s_rst", Ty::U32, NULL, "TCP: segments with RST from client to server."),
    col("c2s_retrans_packets", Ty::U32, NULL, "TCP: client-to-server segments whose payload lies entirely at or below the highest sequence number already seen (retransmissions seen by the tap)."),
    col("c2s_retrans_bytes", Ty::U64, NULL, "TCP: payload bytes of those retransmitted segments."),
    col("c2s_ooo_packets", Ty::U32, NULL, "TCP: client-to-server segments starting above the next expected sequence number (a hole: loss before the tap, or reordering)."),
    col("c2s_ooo_bytes", Ty::U64, NULL, "TCP: payload bytes of those out-of-order segments."),
    col("c2s_zero_window", Ty::U32, NULL, "TCP: client-to-server segments advertising a zero receive window (RST excluded)."),
    col("c2s_mss", Ty::U16, NULL, "TCP: MSS option of the client's SYN; null when not seen."),
    col("c2s_wscale", Ty::U8, NULL, "TCP: window scale option of the client's SYN; null when not seen."),
    col("c2s_sack_permitted", Ty::Bool, NULL, "TCP: the client's SYN carried SACK-permitted."),
    col("s2c_syn", Ty::U32, NULL, "TCP: segments with SYN from server to client."),
    col("s2c_fin", Ty::U32, NULL, "TCP: segments with FIN from server to client."),
    col("s2c_rst", Ty::U32, NULL, "TCP: segments with RST from server to client."),
    col("s2c_retrans_packets", Ty::U32, NULL, "TCP: server-to-client retransmitted segments (as c2s_retrans_packets)."),
    col("s2c_retrans_bytes", Ty::U64, NULL, "TCP: payload bytes of those retransmitted segments."),
    col("s2c_ooo_packets", Ty::U32, NULL, "TCP: server-to-client out-of-order segments (as c2s_ooo_packets)."),
    col("s2c_ooo_bytes", Ty::U64, NULL, "TCP: payload bytes of those out-of-order segments."),
    col("s2c_zero_window", Ty::U32, NULL, "TCP: server-to-client segments advertising a zero receive window (RST excluded)."),
    col("s2c_mss", Ty::U16, NULL, "TCP: MSS option of the server's SYN/ACK; null when not seen."),
    col("s2c_wscale", Ty::U8, NULL, "TCP: window scale option of the server's SYN/ACK; null when not seen."),
    col("s2c_sack_permitted", Ty::Bool, NULL, "TCP: the server's SYN/ACK carried SACK-permitted."),
];

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

pub(super) fn defs(cols: &[Col]) -> impl Iterator<Item = (ColumnDoc, Ty)> + '_ {
    cols.iter().map(|c| {
        let doc = ColumnDoc {
            name: c.name.to_string(),
            data_type: c.ty.name(),
            nullable: c.nullable,
            description: c.doc.to_string(),
        };
        (doc, c.ty)
    })
}

fn flows_defs() -> Vec<(ColumnDoc, Ty)> {
    defs(FLOWS_COLS).collect()
}

fn capture_defs() -> Vec<(ColumnDoc, Ty)> {
    let mut out: Vec<(ColumnDoc, Ty)> = defs(CAPTURE_HEAD_COLS).collect();
    out.extend(parse_reason_columns().into_iter().map(|name| {
        let doc = ColumnDoc {
            description: parse_reason_doc(&name),
            name,
            data_type: Ty::U64.name(),
            nullable: false,
        };
        (doc, Ty::U64)
    }));
    out.extend(defs(CAPTURE_TAIL_COLS));
    out
}

/// Every column of the `flows` table, in file order.
pub fn flows_columns() -> Vec<ColumnDoc> {
    flows_defs().into_iter().map(|(d, _)| d).collect()
}

/// Every column of the `capture` table, in file order.
pub fn capture_columns() -> Vec<ColumnDoc> {
    capture_defs().into_iter().map(|(d, _)| d).collect()
}

pub(super) fn schema_of(defs: Vec<(ColumnDoc, Ty)>, table: &str) -> SchemaRef {
    let fields: Vec<Field> = defs
        .into_iter()
        .map(|(d, ty)| {
            Field::new(d.name, ty.data_type(), d.nullable)
                .with_metadata(HashMap::from([("description".to_string(), d.description)]))
        })
        .collect();
    Arc::new(Schema::new(fields).with_metadata(HashMap::from([(
        "tapscope.table".to_string(),
        table.to_string(),
    )])))
}

/// Arrow schema of the `flows` table.
pub(crate) fn flows_schema() -> SchemaRef {
    schema_of(flows_defs(), FLOWS)
}

/// Arrow schema of the `capture` table.
pub(crate) fn capture_schema() -> SchemaRef {
    schema_of(capture_defs(), CAPTURE)
}

/// Collects a batch's arrays and checks them, by name, against the schema:
/// a builder that forgets or reorders a column fails loudly instead of
/// writing one column's data under another's name.
pub(super) struct Columns<'s> {
    schema: &'s SchemaRef,
    arrays: Vec<ArrayRef>,
}

impl<'s> Columns<'s> {
    pub(super) fn new(schema: &'s SchemaRef) -> Self {
        Columns {
            schema,
            arrays: Vec::with_capacity(schema.fields().len()),
        }
    }

    pub(super) fn push(&mut self, name: &str, array: ArrayRef) -> Result<(), ArrowError> {
        let i = self.arrays.len();
        match self.schema.fields().get(i) {
            Some(f) if f.name() == name => {
                self.arrays.push(array);
                Ok(())
            }
            other => Err(ArrowError::SchemaError(format!(
                "column {i} built as {name:?} but the schema has {:?}",
                other.map(|f| f.name().as_str())
            ))),
        }
    }

    pub(super) fn finish(self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(self.schema.clone(), self.arrays)
    }
}

/// Unix ns to Arrow timestamp µs.
fn ts_us(ns: u64) -> i64 {
    (ns / 1_000) as i64
}

pub(super) fn ts_array(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values.map(ts_us)).with_timezone("UTC"))
}

pub(super) fn u64_array(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(values))
}

pub(super) fn repeat_str(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n)))
}

/// `aa:bb:cc:dd:ee:ff`, or null when all zero (no Ethernet header).
pub(super) fn mac_array<'a>(macs: impl Iterator<Item = &'a [u8; 6]>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for m in macs {
        if *m == [0u8; 6] {
            b.append_null();
        } else {
            let _ = write!(
                b,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            );
            b.append_value("");
        }
    }
    Arc::new(b.finish())
}

/// Dotted quad for IPv4 flows (stored IPv4-mapped), RFC 5952 for IPv6.
pub(super) fn ip_array<'a>(addrs: impl Iterator<Item = (u8, &'a [u8; 16])>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for (version, a) in addrs {
        let v6 = Ipv6Addr::from(*a);
        match v6.to_ipv4_mapped() {
            Some(v4) if version == 4 => {
                let _ = write!(b, "{v4}");
            }
            _ => {
                let _ = write!(b, "{v6}");
            }
        }
        b.append_value("");
    }
    Arc::new(b.finish())
}

/// As [`ip_array`] (IPv4-mapped shown as IPv4), null for `None`.
pub(super) fn opt_ip_array<'a>(addrs: impl Iterator<Item = Option<&'a [u8; 16]>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for a in addrs {
        match a {
            None => b.append_null(),
            Some(a) => {
                let v6 = Ipv6Addr::from(*a);
                match v6.to_ipv4_mapped() {
                    Some(v4) => b.append_value(v4.to_string()),
                    None => b.append_value(v6.to_string()),
                }
            }
        }
    }
    Arc::new(b.finish())
}

fn is_tcp(r: &FlowRecord) -> bool {
    r.protocol == ip_proto::TCP
}

/// Ports are known only for TCP and UDP, and not for a flow of later
/// fragments whose first fragment (with the L4 header) was not seen.
fn has_ports(r: &FlowRecord) -> bool {
    (r.protocol == ip_proto::TCP || r.protocol == ip_proto::UDP)
        && !(r.client_port == 0 && r.server_port == 0 && r.fragments > 0)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// A TCP-only column: null for non-TCP rows, else `f` of the direction.
fn tcp_col<T: ArrowPrimitiveType>(
    rows: &[&FlowRecord],
    dir: &dyn Fn(&FlowRecord) -> &TcpDirStats,
    f: impl Fn(&TcpDirStats) -> Option<T::Native>,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::from_iter(rows.iter().map(|r| {
        if is_tcp(r) {
            f(dir(r))
        } else {
            None
        }
    })))
}

/// The TCP columns of one direction, in schema order.
fn push_tcp_dir(
    c: &mut Columns<'_>,
    rows: &[&FlowRecord],
    prefix: &str,
    dir: &dyn Fn(&FlowRecord) -> &TcpDirStats,
) -> Result<(), ArrowError> {
    let name = |n: &str| format!("{prefix}_{n}");
    c.push(
        &name("syn"),
        tcp_col::<UInt32Type>(rows, dir, |s| Some(s.syn)),
    )?;
    c.push(
        &name("fin"),
        tcp_col::<UInt32Type>(rows, dir, |s| Some(s.fin)),
    )?;
    c.push(
        &name("rst"),
        tcp_col::<UInt32Type>(rows, dir, |s| Some(s.rst)),
    )?;
    c.push(
        &name("retrans_packets"),
        tcp_col::<UInt32Type>(rows, dir, |s| Some(s.retrans_packets)),
    )?;
    c.push(
        &name("retrans_bytes"),
        tcp_col::<UInt64Type>(rows, dir, |s| Some(s.retrans_bytes)),
    )?;
    c.push(
        &name("ooo_packets"),
        tcp_col::<UInt32Type>(rows, dir, |s| Some(s.out_of_order_packets)),
    )?;
    c.push(
        &name("ooo_bytes"),
        tcp_col::<UInt64Type>(rows, dir, |s| Some(s.out_of_order_bytes)),
    )?;
    c.push(
        &name("zero_window"),
        tcp_col::<UInt32Type>(rows, dir, |s| Some(s.zero_window)),
    )?;
    c.push(
        &name("mss"),
        tcp_col::<UInt16Type>(rows, dir, |s| (s.mss != 0).then_some(s.mss)),
    )?;
    c.push(
        &name("wscale"),
        tcp_col::<UInt8Type>(rows, dir, |s| (s.wscale != 0xff).then_some(s.wscale)),
    )?;
    let sack = BooleanArray::from_iter(
        rows.iter()
            .map(|r| is_tcp(r).then(|| dir(r).sack_permitted)),
    );
    c.push(&name("sack_permitted"), Arc::new(sack))?;
    Ok(())
}

/// Nullable strings from shared strings.
fn opt_str<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

/// One `flows` batch from `rows` (must use [`flows_schema`]).
pub(crate) fn flows_batch(
    schema: &SchemaRef,
    tap_id: &str,
    full: &[&FlowRow],
) -> Result<RecordBatch, ArrowError> {
    let recs: Vec<&FlowRecord> = full.iter().map(|r| &r.rec).collect();
    let rows = &recs[..];
    let labels = || full.iter().map(|r| &r.labels);
    let n = rows.len();
    let mut c = Columns::new(schema);
    c.push("tap_id", repeat_str(tap_id, n))?;
    c.push(
        "worker",
        Arc::new(UInt16Array::from_iter_values(rows.iter().map(|r| r.worker))),
    )?;
    c.push("flow_start", ts_array(rows.iter().map(|r| r.first_ns)))?;
    c.push("flow_end", ts_array(rows.iter().map(|r| r.last_ns)))?;
    c.push(
        "duration_ms",
        Arc::new(Float64Array::from_iter_values(
            rows.iter()
                .map(|r| ms(r.last_ns.saturating_sub(r.first_ns))),
        )),
    )?;
    c.push(
        "end_reason",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.end_reason.name()),
        )),
    )?;
    c.push(
        "vlan",
        Arc::new(UInt16Array::from_iter(
            rows.iter().map(|r| (r.vlan != 0).then_some(r.vlan)),
        )),
    )?;
    c.push(
        "tunnel",
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.tunnel.name()))),
    )?;
    c.push(
        "ip_version",
        Arc::new(UInt8Array::from_iter(
            rows.iter()
                .map(|r| (r.ip_version != 0).then_some(r.ip_version)),
        )),
    )?;
    c.push(
        "protocol",
        Arc::new(UInt8Array::from_iter_values(
            rows.iter().map(|r| r.protocol),
        )),
    )?;
    c.push("client_mac", mac_array(rows.iter().map(|r| &r.client_mac)))?;
    c.push("server_mac", mac_array(rows.iter().map(|r| &r.server_mac)))?;
    c.push(
        "client_ip",
        ip_array(rows.iter().map(|r| (r.ip_version, &r.client_ip))),
    )?;
    c.push(
        "server_ip",
        ip_array(rows.iter().map(|r| (r.ip_version, &r.server_ip))),
    )?;
    c.push(
        "client_port",
        Arc::new(UInt16Array::from_iter(
            rows.iter().map(|r| has_ports(r).then_some(r.client_port)),
        )),
    )?;
    c.push(
        "server_port",
        Arc::new(UInt16Array::from_iter(
            rows.iter().map(|r| has_ports(r).then_some(r.server_port)),
        )),
    )?;
    c.push(
        "app_proto",
        opt_str(rows.iter().map(|r| r.app_proto.name())),
    )?;
    c.push(
        "server_name",
        opt_str(labels().map(|l| l.server_name.as_deref())),
    )?;
    c.push("name_source", opt_str(labels().map(|l| l.name_source)))?;
    c.push("alpn", opt_str(labels().map(|l| l.alpn.as_deref())))?;
    c.push(
        "service",
        opt_str(labels().map(|l| Some(l.service.as_deref().unwrap_or("unknown")))),
    )?;
    c.push(
        "service_category",
        opt_str(labels().map(|l| Some(l.category.as_deref().unwrap_or("unknown")))),
    )?;
    c.push("service_match", opt_str(labels().map(|l| l.service_match)))?;
    c.push("direction", opt_str(labels().map(|l| l.direction)))?;
    c.push(
        "device_mac",
        mac_array(labels().map(|l| l.device_mac.as_ref().unwrap_or(&[0; 6]))),
    )?;
    c.push(
        "device_ip",
        opt_ip_array(labels().map(|l| l.device_ip.as_ref())),
    )?;
    c.push(
        "device_name",
        opt_str(labels().map(|l| l.device_name.as_deref())),
    )?;
    c.push("c2s_packets", u64_array(rows.iter().map(|r| r.c2s.packets)))?;
    c.push("c2s_bytes", u64_array(rows.iter().map(|r| r.c2s.bytes)))?;
    c.push(
        "c2s_payload_bytes",
        u64_array(rows.iter().map(|r| r.c2s.payload_bytes)),
    )?;
    c.push("s2c_packets", u64_array(rows.iter().map(|r| r.s2c.packets)))?;
    c.push("s2c_bytes", u64_array(rows.iter().map(|r| r.s2c.bytes)))?;
    c.push(
        "s2c_payload_bytes",
        u64_array(rows.iter().map(|r| r.s2c.payload_bytes)),
    )?;
    c.push(
        "fragments",
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.fragments),
        )),
    )?;
    let rtt = |f: fn(&FlowRecord) -> u64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            let v = f(r);
            (is_tcp(r) && v != 0).then(|| ms(v))
        })))
    };
    c.push("tcp_rtt_syn_ms", rtt(|r| r.rtt_syn_synack_ns))?;
    c.push("tcp_rtt_ack_ms", rtt(|r| r.rtt_synack_ack_ns))?;
    push_tcp_dir(&mut c, rows, "c2s", &|r| &r.tcp_c2s)?;
    push_tcp_dir(&mut c, rows, "s2c", &|r| &r.tcp_s2c)?;
    c.finish()
}

/// One `capture` batch from `rows` (must use [`capture_schema`]).
pub(crate) fn capture_batch(
    schema: &SchemaRef,
    tap_id: &str,
    rows: &[&CaptureRow],
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut c = Columns::new(schema);
    let counter = |f: fn(&CaptureCounters) -> u64| u64_array(rows.iter().map(|r| f(&r.counters)));
    c.push("tap_id", repeat_str(tap_id, n))?;
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
    c.push("epoch_end", ts_array(rows.iter().map(|r| r.end_ns)))?;
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
    )?;
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
    c.push("carrier_changes", nic(|n| n.carrier_changes))?;
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use datapath::epoch::{DirCounters, EndReason};
    use datapath::parse::Tunnel;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
    }

    #[test]
    fn docs_cover_every_column_once() {
        for (docs, schema) in [
            (flows_columns(), flows_schema()),
            (capture_columns(), capture_schema()),
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
        let cap = capture_columns();
        assert_eq!(
            cap.iter()
                .filter(|d| d.name.starts_with("parse_") && d.name != "parse_errors_total")
                .count(),
            PARSE_REASONS
        );
        assert!(cap.iter().any(|d| d.name == "parse_non_ip"));
    }

    #[test]
    fn flows_batch_values_and_nulls() {
        let tcp = FlowRecord {
            first_ns: 1_700_000_000_123_456_789,
            last_ns: 1_700_000_001_623_456_789,
            end_reason: EndReason::Rst,
            worker: 3,
            vlan: 0,
            tunnel: Tunnel::Gre,
            ip_version: 4,
            protocol: ip_proto::TCP,
            client_mac: [0xaa, 0xbb, 0xcc, 0x00, 0x01, 0x02],
            server_mac: [0; 6],
            client_ip: v4([192, 168, 1, 10]),
            server_ip: v4([8, 8, 8, 8]),
            client_port: 51000,
            server_port: 443,
            c2s: DirCounters {
                packets: 10,
                bytes: 1000,
                payload_bytes: 500,
            },
            rtt_syn_synack_ns: 12_500_000,
            tcp_c2s: TcpDirStats {
                syn: 1,
                mss: 1460,
                wscale: 7,
                sack_permitted: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut ip6 = [0u8; 16];
        ip6[0] = 0x20;
        ip6[1] = 0x01;
        ip6[2] = 0x0d;
        ip6[3] = 0xb8;
        ip6[15] = 1;
        let udp = FlowRecord {
            ip_version: 6,
            protocol: ip_proto::UDP,
            vlan: 42,
            client_ip: ip6,
            server_ip: [0; 16],
            client_port: 5353,
            server_port: 53,
            rtt_syn_synack_ns: 99, // ignored: not TCP
            ..Default::default()
        };
        let frag = FlowRecord {
            ip_version: 4,
            protocol: ip_proto::UDP,
            fragments: 3,
            client_ip: v4([10, 0, 0, 1]),
            server_ip: v4([10, 0, 0, 2]),
            ..Default::default()
        };
        let schema = flows_schema();
        let rows = [tcp, udp, frag].map(FlowRow::from);
        let b = flows_batch(&schema, "tap-1", &rows.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(b.num_rows(), 3);
        let s = |name: &str| b.column_by_name(name).unwrap().as_string::<i32>().clone();
        assert_eq!(s("tap_id").value(2), "tap-1");
        assert_eq!(s("end_reason").value(0), "rst");
        assert_eq!(s("tunnel").value(0), "gre");
        assert!(s("tunnel").is_null(1));
        assert_eq!(s("client_mac").value(0), "aa:bb:cc:00:01:02");
        assert!(s("server_mac").is_null(0));
        assert_eq!(s("client_ip").value(0), "192.168.1.10");
        assert_eq!(s("server_ip").value(0), "8.8.8.8");
        assert_eq!(s("client_ip").value(1), "2001:db8::1");
        assert_eq!(s("server_ip").value(1), "::");
        let vlan = b
            .column_by_name("vlan")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert!(vlan.is_null(0));
        assert_eq!(vlan.value(1), 42);
        let port = b
            .column_by_name("server_port")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert_eq!(port.value(0), 443);
        assert_eq!(port.value(1), 53);
        assert!(port.is_null(2), "fragment-only flow: ports unknown");
        let dur = b
            .column_by_name("duration_ms")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!((dur.value(0) - 1500.0).abs() < 1e-9);
        let rtt = b
            .column_by_name("tcp_rtt_syn_ms")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!((rtt.value(0) - 12.5).abs() < 1e-9);
        assert!(rtt.is_null(1));
        let ack = b.column_by_name("tcp_rtt_ack_ms").unwrap();
        assert!(ack.is_null(0));
        let syn = b
            .column_by_name("c2s_syn")
            .unwrap()
            .as_primitive::<UInt32Type>();
        assert_eq!(syn.value(0), 1);
        assert!(syn.is_null(1));
        let mss = b
            .column_by_name("c2s_mss")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert_eq!(mss.value(0), 1460);
        assert!(b.column_by_name("s2c_mss").unwrap().is_null(0));
        let ws = b
            .column_by_name("c2s_wscale")
            .unwrap()
            .as_primitive::<UInt8Type>();
        assert_eq!(ws.value(0), 7);
        assert!(b.column_by_name("s2c_wscale").unwrap().is_null(0));
        let sack = b.column_by_name("c2s_sack_permitted").unwrap().as_boolean();
        assert!(sack.value(0));
        assert!(sack.is_null(1));
    }

    #[test]
    fn ipv4_mapped_address_of_an_ipv6_flow_stays_ipv6() {
        let r = FlowRecord {
            ip_version: 6,
            protocol: ip_proto::UDP,
            client_ip: v4([1, 2, 3, 4]),
            ..Default::default()
        };
        let schema = flows_schema();
        let b = flows_batch(&schema, "t", &[&FlowRow::from(r)]).unwrap();
        let ip = b.column_by_name("client_ip").unwrap().as_string::<i32>();
        assert_eq!(ip.value(0), "::ffff:1.2.3.4");
    }

    #[test]
    fn capture_batch_values() {
        let mut counters = CaptureCounters {
            packets: 100,
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
        let schema = capture_schema();
        let b = capture_batch(&schema, "t", &[&a, &b_row]).unwrap();
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
