//! The `flows` table: one row per finished flow (or per part of a long
//! flow cut by the active timeout), with its labels.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, PrimitiveArray, StringArray, UInt16Array, UInt32Array,
    UInt8Array,
};
use arrow::datatypes::{ArrowPrimitiveType, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow::error::ArrowError;
use datapath::epoch::{FlowRecord, TcpDirStats};
use datapath::wire::IpProtocol;
use model::rows::FlowRow;

use crate::columns::{ip_array, mac_array, opt_ip_array, opt_str, repeat_str, ts_array, u64_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `flows` table.
#[derive(Clone, Copy, Debug)]
pub struct Flows;

impl Table for Flows {
    type Row = FlowRow;
    const NAME: &'static str = "flows";
    const TIME_COLUMN: &'static str = "flow_end";

    fn columns() -> Vec<Col> {
        FLOWS_COLS.to_vec()
    }

    fn data_time(row: &FlowRow) -> u64 {
        row.rec.last_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&FlowRow]) -> Result<(), ArrowError> {
        let recs: Vec<&FlowRecord> = rows.iter().map(|r| &r.rec).collect();
        push_flow(c, tap_id, &recs)?;
        push_labels(c, rows)?;
        push_counters(c, &recs)
    }
}

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
    col("c2s_retrans_packets", Ty::U32, NULL, "TCP: client-to-server retransmissions as tshark's tcp.analysis.retransmission counts them (fast and spurious included): segments with data, SYN or FIN starting below the highest sequence number already sent (keep-alives excluded), or whose data was already acknowledged."),
    col("c2s_retrans_bytes", Ty::U64, NULL, "TCP: payload bytes of those retransmitted segments."),
    col("c2s_ooo_packets", Ty::U32, NULL, "TCP: client-to-server out-of-order segments as tshark's tcp.analysis.out_of_order counts them: below the highest sequence number sent, within the handshake RTT (3 ms when unknown) after it (a hole filled late)."),
    col("c2s_ooo_bytes", Ty::U64, NULL, "TCP: payload bytes of those out-of-order segments."),
    col("c2s_zero_window", Ty::U32, NULL, "TCP: client-to-server segments advertising a zero receive window (SYN, FIN, RST and zero-window probes excluded)."),
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
    col("s2c_zero_window", Ty::U32, NULL, "TCP: server-to-client segments advertising a zero receive window (as c2s_zero_window)."),
    col("s2c_mss", Ty::U16, NULL, "TCP: MSS option of the server's SYN/ACK; null when not seen."),
    col("s2c_wscale", Ty::U8, NULL, "TCP: window scale option of the server's SYN/ACK; null when not seen."),
    col("s2c_sack_permitted", Ty::Bool, NULL, "TCP: the server's SYN/ACK carried SACK-permitted."),
];

fn is_tcp(r: &FlowRecord) -> bool {
    r.protocol == IpProtocol::TCP
}

/// Ports are known only for TCP and UDP, and not for a flow of later
/// fragments whose first fragment (with the L4 header) was not seen.
fn has_ports(r: &FlowRecord) -> bool {
    (r.protocol == IpProtocol::TCP || r.protocol == IpProtocol::UDP)
        && !(r.client_port == 0 && r.server_port == 0 && r.fragments > 0)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The flow's identity: `tap_id` to `server_port`.
fn push_flow(c: &mut Columns<'_>, tap_id: &str, rows: &[&FlowRecord]) -> Result<(), ArrowError> {
    c.push("tap_id", repeat_str(tap_id, rows.len()))?;
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
            rows.iter().map(|r| u8::from(r.protocol)),
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
    )
}

/// What the worker and the classifier say of the flow: `app_proto` to
/// `device_name`.
fn push_labels(c: &mut Columns<'_>, rows: &[&FlowRow]) -> Result<(), ArrowError> {
    let labels = || rows.iter().map(|r| &r.labels);
    c.push(
        "app_proto",
        opt_str(rows.iter().map(|r| r.rec.app_proto.name())),
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
    )
}

/// Packets, bytes and TCP figures: `c2s_packets` to the end.
fn push_counters(c: &mut Columns<'_>, rows: &[&FlowRecord]) -> Result<(), ArrowError> {
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
    push_tcp_dir(c, rows, "c2s", &|r| &r.tcp_c2s)?;
    push_tcp_dir(c, rows, "s2c", &|r| &r.tcp_s2c)
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
    c.push(&name("sack_permitted"), Arc::new(sack))
}

#[cfg(test)]
mod tests;
