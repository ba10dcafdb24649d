//! The rows that cross from the control core to the sink: each one a
//! table's row before it becomes columns.
//!
//! Addresses are stored as 16 octets, IPv4 as IPv4-mapped IPv6
//! (`::ffff:a.b.c.d`); [`ip_addr`] and [`packet_ip_addr`] give them back as
//! [`IpAddr`], whose `Display` is the text every table and view writes
//! (dotted quad for IPv4, RFC 5952 for IPv6).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use datapath::epoch::{CaptureCounters, FlowRecord};

/// One row of the `capture` table: one worker's counters over one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureRow {
    /// Index of the worker core.
    pub worker: u16,
    /// Where the worker's frames come from, e.g. `pcap:netflix.pcap` or
    /// `xdp:eth1/q0`.
    pub source: String,
    /// How they are captured, e.g. `pcap` or `xdp-zerocopy-native`.
    pub capture_mode: String,
    /// Packet-time start of the epoch, Unix ns (inclusive).
    pub start_ns: u64,
    /// Packet-time end of the epoch, Unix ns (exclusive): the row's data time.
    pub end_ns: u64,
    /// The worker's counters over the epoch.
    pub counters: CaptureCounters,
    /// Live capture, the first worker's rows only: the interface's own
    /// counters over the epoch.
    pub nic: Option<NicRow>,
}

/// Interface-level counters over one epoch (see `iface::NicStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicRow {
    /// Frames the interface received.
    pub rx_packets: u64,
    /// Frames its driver or stack dropped.
    pub rx_dropped: u64,
    /// Frames the NIC missed (its buffer overflowed).
    pub rx_missed: u64,
    /// Receive errors (CRC, length, alignment).
    pub rx_errors: u64,
    /// Whether the interface had carrier when sampled.
    pub carrier: bool,
    /// Link up/down transitions.
    pub carrier_changes: u64,
}

/// What the classifier says of a flow, as written to `flows`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowLabels {
    /// Name of the server (SNI, HTTP Host, DNS query or answer).
    pub server_name: Option<Arc<str>>,
    /// Where `server_name` comes from (`tls_sni`, `dns`, ...).
    pub name_source: Option<&'static str>,
    /// ALPN protocols offered by the client, comma-separated.
    pub alpn: Option<Arc<str>>,
    /// Service per the catalog; None = `unknown`.
    pub service: Option<Arc<str>>,
    /// The service's category; None = `unknown`.
    pub category: Option<Arc<str>>,
    /// What matched the service (`name`, `ip_prefix`, `port`).
    pub service_match: Option<&'static str>,
    /// Where the flow runs relative to the local subnets.
    pub direction: Option<&'static str>,
    /// MAC of the flow's device (its local end).
    pub device_mac: Option<[u8; 6]>,
    /// Address of the device in this flow.
    pub device_ip: Option<[u8; 16]>,
    /// Name of the device (DHCP, mDNS, else `Unknown-<ip>`).
    pub device_name: Option<Arc<str>>,
}

/// One `flows` row: a finished flow and its labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowRow {
    /// The worker's record of the flow.
    pub rec: FlowRecord,
    /// What the classifier says of it.
    pub labels: FlowLabels,
}

impl From<FlowRecord> for FlowRow {
    fn from(rec: FlowRecord) -> FlowRow {
        FlowRow {
            rec,
            labels: FlowLabels::default(),
        }
    }
}

/// One row of `traffic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficRow {
    /// Packet-time start of the interval, Unix ns (inclusive).
    pub start_ns: u64,
    /// Packet-time end of the interval, Unix ns (exclusive): the row's data time.
    pub end_ns: u64,
    /// MAC of the device; None without Ethernet.
    pub device_mac: Option<[u8; 6]>,
    /// Address of the device (the first one seen in the interval).
    pub device_ip: [u8; 16],
    /// Name of the device.
    pub device_name: Arc<str>,
    /// Service name (`unknown` when none matched).
    pub service: Arc<str>,
    /// The service's category.
    pub category: Arc<str>,
    /// Frame bytes toward the device.
    pub bytes_down: u64,
    /// Frame bytes from the device.
    pub bytes_up: u64,
    /// Packets toward the device.
    pub packets_down: u64,
    /// Packets from the device.
    pub packets_up: u64,
    /// Flows that carried packets in the interval.
    pub flows: u64,
}

/// One `video_segments` row: a media segment the worker detected (a
/// request and the downstream burst answering it) in a flow, with that
/// flow's endpoints and labels at the time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentRow {
    /// The worker's record of the segment.
    pub seg: datapath::flow::segment::SegmentRecord,
    /// 4 or 6.
    pub ip_version: u8,
    /// IP protocol number (6 TCP, 17 UDP).
    pub protocol: u8,
    /// Client (requester) address.
    pub client_ip: [u8; 16],
    /// Server address.
    pub server_ip: [u8; 16],
    /// Client port.
    pub client_port: u16,
    /// Server port.
    pub server_port: u16,
    /// The flow's labels (server name, service, device).
    pub labels: FlowLabels,
}

/// Who and what a video session is: the device and the service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VideoWho {
    /// The session's id (unique in a run: start in µs and a counter).
    pub session_id: Arc<str>,
    /// The device's MAC, if the link has MACs.
    pub device_mac: Option<[u8; 6]>,
    /// The device's address.
    pub device_ip: [u8; 16],
    /// The device's name.
    pub device_name: Arc<str>,
    /// The video service.
    pub service: Arc<str>,
    /// The model's version (`none` without a model).
    pub model_version: Arc<str>,
}

/// One `video_windows` row: a 10 s window of a video session, its features
/// and the model's predictions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VideoWindowRow {
    /// The session.
    pub who: VideoWho,
    /// Session start, Unix ns.
    pub session_start_ns: u64,
    /// Place in the session (0 first).
    pub index: u32,
    /// Window start, Unix ns.
    pub start_ns: u64,
    /// Window end, Unix ns (the row's data time).
    pub end_ns: u64,
    /// Predicted height, px.
    pub resolution: Option<u32>,
    /// The model's probability for it.
    pub probability: Option<f64>,
    /// Startup-delay estimate, s (first window).
    pub startup_s: Option<f64>,
    /// Features, ordered as `video::features::NAMES`.
    pub features: video::features::Features,
}

/// One `video_sessions` row: an ended video session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VideoSessionRow {
    /// The session.
    pub who: VideoWho,
    /// Server names of its flows, comma-separated.
    pub server_names: String,
    /// First packet, Unix ns.
    pub start_ns: u64,
    /// Last packet, Unix ns (the row's data time).
    pub end_ns: u64,
    /// Frame bytes toward the device.
    pub bytes_down: u64,
    /// Frame bytes from the device.
    pub bytes_up: u64,
    /// Flows.
    pub flows: u32,
    /// Media segments detected.
    pub segments: u64,
    /// Windows written.
    pub windows: u32,
    /// Startup-delay estimate, s.
    pub startup_s: Option<f64>,
    /// Time-weighted mean predicted height, px.
    pub resolution_mean: Option<f64>,
    /// The last window's predicted height, px.
    pub resolution_last: Option<u32>,
    /// Changes of predicted height between windows.
    pub resolution_switches: u32,
    /// `idle`, `closed` or `end_of_capture`.
    pub end_reason: &'static str,
}

/// One row of `sketch_state`: a window's merged sketches in binary form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SketchStateRow {
    /// Packet-time start of the window, Unix ns (inclusive).
    pub start_ns: u64,
    /// Packet-time end of the window, Unix ns (exclusive): the row's data time.
    pub end_ns: u64,
    /// Workers whose sketches were merged.
    pub workers: u32,
    /// Worker-epoch snapshots merged into the state.
    pub snapshots: u32,
    /// Version of the binary form of `state`.
    pub format_version: u16,
    /// The window's merged sketches in their versioned binary form.
    pub state: Vec<u8>,
}

/// A stored address (16 octets, IPv4 as IPv4-mapped) as an [`IpAddr`]:
/// IPv4 for an IPv4-mapped address, IPv6 otherwise.
pub fn ip_addr(addr: &[u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(*addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// A packet's stored address as an [`IpAddr`]: as [`ip_addr`] for
/// `ip_version` 4; for any other version IPv6, so an IPv4-mapped address
/// carried in an IPv6 header stays `::ffff:a.b.c.d`.
pub fn packet_ip_addr(ip_version: u8, addr: &[u8; 16]) -> IpAddr {
    if ip_version == 4 {
        ip_addr(addr)
    } else {
        IpAddr::V6(Ipv6Addr::from(*addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_the_tables_write_them() {
        let v4 = std::net::Ipv4Addr::new(192, 0, 2, 1)
            .to_ipv6_mapped()
            .octets();
        let v6: [u8; 16] = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(ip_addr(&v4).to_string(), "192.0.2.1");
        assert_eq!(ip_addr(&v6).to_string(), "2001:db8::1");
        assert_eq!(packet_ip_addr(4, &v4).to_string(), "192.0.2.1");
        assert_eq!(packet_ip_addr(6, &v4).to_string(), "::ffff:192.0.2.1");
        assert_eq!(packet_ip_addr(0, &v4).to_string(), "::ffff:192.0.2.1");
        assert_eq!(packet_ip_addr(4, &v6).to_string(), "2001:db8::1");
        assert_eq!(ip_addr(&[0; 16]).to_string(), "::");
    }
}
