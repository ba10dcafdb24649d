//! What a worker hands to the control core: finished flow records, the
//! capture counters and the sketches of one epoch, packed in an
//! [`EpochSummary`].
//!
//! Summaries are preallocated and recycled (the control core sends emptied
//! ones back), so a worker never allocates in steady state.

use crate::flow::segment::SegmentRecord;
use crate::names::NameLog;
use crate::parse::{Tunnel, PARSE_REASONS};
use crate::sketch::Sketches;
use crate::wire::IpProtocol;

/// Why a flow record was emitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EndReason {
    /// Both sides sent FIN (or one side FIN and the other's ACK of it).
    #[default]
    Fin = 0,
    /// A RST was seen.
    Rst = 1,
    /// No packet for the idle timeout.
    Idle = 2,
    /// The flow lasted longer than the active timeout; the record covers
    /// the part so far and the flow continues as a new record.
    Active = 3,
    /// The flow table was full and this flow was the least recently seen.
    Evicted = 4,
    /// The capture ended (end of pcap, or shutdown) with the flow open.
    EndOfCapture = 5,
}

impl EndReason {
    /// Stable lower-case name used in the Parquet tables.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::Evicted => "evicted",
            EndReason::EndOfCapture => "end_of_capture",
        }
    }
}

/// The application protocol a flow was recognised as by its first packets
/// (see [`crate::names`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AppProto {
    /// Not recognised (or not inspected: no payload from the client).
    #[default]
    Unknown = 0,
    /// TLS over TCP (a ClientHello was seen).
    Tls = 1,
    /// IETF QUIC (a client Initial decrypted).
    Quic = 2,
    /// Google QUIC (a Q0xx client hello).
    GQuic = 3,
    /// HTTP/1.x (a request line was seen).
    Http = 4,
    /// DNS (port 53 and a message that parses).
    Dns = 5,
    /// Multicast DNS (port 5353).
    Mdns = 6,
    /// DHCP (ports 67/68, a BOOTP message with the DHCP cookie).
    Dhcp = 7,
}

impl AppProto {
    /// Stable lower-case name used in the Parquet tables (`None` for unknown).
    pub fn name(self) -> Option<&'static str> {
        match self {
            AppProto::Unknown => None,
            AppProto::Tls => Some("tls"),
            AppProto::Quic => Some("quic"),
            AppProto::GQuic => Some("gquic"),
            AppProto::Http => Some("http"),
            AppProto::Dns => Some("dns"),
            AppProto::Mdns => Some("mdns"),
            AppProto::Dhcp => Some("dhcp"),
        }
    }
}

/// Per-direction packet and byte counters of a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirCounters {
    /// Packets seen in this direction.
    pub packets: u64,
    /// Frame bytes on the wire (as `frame.len` in tshark).
    pub bytes: u64,
    /// L4 payload bytes (per the IP header).
    pub payload_bytes: u64,
}

/// TCP statistics for one direction of a flow, in the spirit of tstat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpDirStats {
    /// SYN segments sent in this direction (retransmitted SYNs included).
    pub syn: u32,
    /// FIN segments sent in this direction.
    pub fin: u32,
    /// RST segments sent in this direction.
    pub rst: u32,
    /// Retransmissions, as Wireshark's TCP analysis flags them (plain, fast
    /// and spurious): segments with data, SYN or FIN starting below the
    /// highest sequence number already sent in this direction (keep-alives
    /// excluded), or whose data the other side already acknowledged. See
    /// [`crate::flow::tcp`].
    pub retrans_packets: u32,
    /// Payload bytes of the segments counted in `retrans_packets`.
    pub retrans_bytes: u64,
    /// Out-of-order segments, as Wireshark flags them: below the highest
    /// sequence number sent, arriving within the handshake round-trip time
    /// (3 ms when unknown) after it, not ending exactly at it (a hole filled
    /// late: reordering, or loss before the tap and a quick resend).
    pub out_of_order_packets: u32,
    /// Payload bytes of the segments counted in `out_of_order_packets`.
    pub out_of_order_bytes: u64,
    /// Segments advertising a zero receive window (SYN, FIN, RST and
    /// zero-window probes excluded).
    pub zero_window: u32,
    /// MSS option from this side's SYN (0 = not seen).
    pub mss: u16,
    /// Window scale option from this side's SYN (0xff = not seen).
    pub wscale: u8,
    /// True when this side's SYN carried the SACK-permitted option.
    pub sack_permitted: bool,
}

impl Default for TcpDirStats {
    fn default() -> Self {
        TcpDirStats {
            syn: 0,
            fin: 0,
            rst: 0,
            retrans_packets: 0,
            retrans_bytes: 0,
            out_of_order_packets: 0,
            out_of_order_bytes: 0,
            zero_window: 0,
            mss: 0,
            wscale: 0xff,
            sack_permitted: false,
        }
    }
}

/// One finished (or active-timeout-split) flow.
///
/// The client is the initiator: the sender of the first SYN for TCP, else the
/// sender of the first packet seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowRecord {
    /// Identifies the flow across epochs (and across the records of an
    /// active-timeout split): the worker index in the top 16 bits, a
    /// per-worker sequence number below. Name events and activity records
    /// refer to flows by this id.
    pub flow_id: u64,
    /// Application protocol recognised from the first packets.
    pub app_proto: AppProto,
    /// Unix time of the first packet, in nanoseconds.
    pub first_ns: u64,
    /// Unix time of the last packet, in nanoseconds.
    pub last_ns: u64,
    /// Why the record was emitted (FIN, RST, timeout, eviction, end of
    /// capture).
    pub end_reason: EndReason,
    /// Index of the worker that owned the flow.
    pub worker: u16,
    /// Outermost 802.1Q VLAN id of the flow's first packet (0 = untagged).
    pub vlan: u16,
    /// Outer encapsulation removed to reach the flow's IP header (the addresses
    /// are the inner ones).
    pub tunnel: Tunnel,
    /// IP version of the flow: 4 or 6.
    pub ip_version: u8,
    /// Transport protocol of the flow (TCP, UDP, ICMP…).
    pub protocol: IpProtocol,
    /// Client's MAC address, from the innermost Ethernet header (zero for link
    /// types without MACs).
    pub client_mac: [u8; 6],
    /// Server's MAC address (the next hop's, for a server beyond a router; zero
    /// for link types without MACs).
    pub server_mac: [u8; 6],
    /// Client IP address; IPv4 addresses are IPv4-mapped (`::ffff:a.b.c.d`).
    pub client_ip: [u8; 16],
    /// Server IP address, in the same form as `client_ip`.
    pub server_ip: [u8; 16],
    /// Client's port; for ICMP echo, the echo identifier; 0 for protocols
    /// without ports.
    pub client_port: u16,
    /// Server's port (0 for ICMP and for protocols without ports).
    pub server_port: u16,
    /// Counters of the client-to-server direction.
    pub c2s: DirCounters,
    /// Counters of the server-to-client direction.
    pub s2c: DirCounters,
    /// Non-first IP fragments counted in this flow.
    pub fragments: u32,
    /// TCP statistics of the client-to-server direction (TCP only: all zero /
    /// default otherwise).
    pub tcp_c2s: TcpDirStats,
    /// TCP statistics of the server-to-client direction (TCP only: all zero /
    /// default otherwise).
    pub tcp_s2c: TcpDirStats,
    /// SYN → SYN/ACK time seen at the tap (tap-to-server-and-back), ns; 0 = unknown.
    pub rtt_syn_synack_ns: u64,
    /// SYN/ACK → first ACK time seen at the tap (tap-to-client-and-back), ns; 0 = unknown.
    pub rtt_synack_ack_ns: u64,
    /// The part of `c2s`/`s2c` not yet reported in a [`FlowActivity`]
    /// record (c2s packets, c2s bytes, s2c packets, s2c bytes): the packets
    /// of the epoch the record was written in. The worker's sketches count
    /// this share of the flow at its end (they count the rest epoch by
    /// epoch, from the activity).
    pub since_report: [u64; 4],
}

/// What one flow did during one epoch (for the per-interval `traffic`
/// table): the packets and bytes since the flow's previous activity record
/// or its start. A flow that ends during an epoch gets no activity record
/// for it: the rest of its counts are in its [`FlowRecord`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowActivity {
    /// The flow's [`FlowRecord::flow_id`].
    pub flow_id: u64,
    /// First packet of the flow (Unix ns), to tell a reused id from a new flow.
    pub first_ns: u64,
    /// IP version of the flow: 4 or 6.
    pub ip_version: u8,
    /// Transport protocol of the flow.
    pub protocol: IpProtocol,
    /// Client's MAC address (zero for link types without MACs).
    pub client_mac: [u8; 6],
    /// Server's MAC address (the next hop's, for a server beyond a router).
    pub server_mac: [u8; 6],
    /// Client IP address (IPv4-mapped for IPv4).
    pub client_ip: [u8; 16],
    /// Server IP address (IPv4-mapped for IPv4).
    pub server_ip: [u8; 16],
    /// Client's port (the echo identifier for ICMP echo; 0 without ports).
    pub client_port: u16,
    /// Server's port (0 for ICMP and for protocols without ports).
    pub server_port: u16,
    /// Client-to-server packets during the epoch.
    pub c2s_packets: u64,
    /// Client-to-server frame bytes during the epoch.
    pub c2s_bytes: u64,
    /// Server-to-client packets during the epoch.
    pub s2c_packets: u64,
    /// Server-to-client frame bytes during the epoch.
    pub s2c_bytes: u64,
    /// Handshake RTT seen at the tap (SYN→SYN/ACK plus SYN/ACK→ACK), ns;
    /// 0 unknown.
    pub rtt_ns: u64,
    /// Client-to-server retransmitted packets since the flow started.
    pub c2s_retrans_packets: u32,
    /// Server-to-client retransmitted packets since the flow started.
    pub s2c_retrans_packets: u32,
    /// Client-to-server out-of-order packets since the flow started.
    pub c2s_out_of_order_packets: u32,
    /// Server-to-client out-of-order packets since the flow started.
    pub s2c_out_of_order_packets: u32,
}

/// Capture counters of one worker over one epoch. Every drop has a counter
/// here; the meaning of each is documented in ARCHITECTURE.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureCounters {
    /// Frames received from the source (all of them, good or bad).
    pub packets: u64,
    /// Wire bytes of those frames.
    pub bytes: u64,
    /// Frames that parsed into a flow packet.
    pub ip_packets: u64,
    /// Frames that were not parsed into a flow packet, by
    /// [`crate::parse::ParseError::reason`] (includes `non_ip`).
    pub parse_errors: [u64; PARSE_REASONS],
    /// Non-first IP fragments (counted in their flow if the first fragment
    /// was seen, else in a flow with ports 0).
    pub fragments: u64,
    /// Flows created in this epoch.
    pub flows_created: u64,
    /// Flow records emitted in this epoch (ended flows and active-timeout
    /// splits).
    pub flows_ended: u64,
    /// Flows evicted because the flow table was full.
    pub flow_table_full: u64,
    /// Flows in the table at the end of the epoch (a gauge).
    pub active_flows: u64,
    /// Finished-flow records lost because no summary buffer was free.
    pub records_dropped: u64,
    /// Summaries this worker could not hand over because the ring to the
    /// control core was full (the summary is discarded; its counters fold
    /// into the next one, its flow records are lost and counted in
    /// `records_dropped`).
    pub summary_queue_full: u64,
    /// Source-level drops reported by the kernel or the reader (AF_XDP
    /// XDP_STATISTICS, or pcap reader errors).
    pub src_dropped: u64,
    /// Frames the kernel dropped because the AF_XDP RX ring was full (the
    /// worker is too slow).
    pub src_ring_full: u64,
    /// Times the kernel found the fill ring empty (a frame lost for it is also
    /// counted in `src_dropped`).
    pub src_fill_ring_empty: u64,
    /// Invalid descriptors on AF_XDP; in replay, unreadable records of the
    /// capture files.
    pub src_invalid_descs: u64,
    /// Poll loop iterations that found frames.
    pub busy_polls: u64,
    /// Poll loop iterations that found none (busy-poll utilisation = busy /
    /// (busy + idle)).
    pub idle_polls: u64,
    /// Name events (server names, DNS answers, device names) handed over.
    pub name_events: u64,
    /// Name events lost because the summary's name log was full.
    pub name_events_dropped: u64,
    /// Flows whose name could not be read because every reassembly buffer
    /// was in use (a ClientHello or request spread over several packets).
    pub name_reasm_full: u64,
    /// Per-epoch activity records lost because no summary buffer was free
    /// (their packets are still in the flows' records, but missing from
    /// `traffic` for that interval).
    pub activity_dropped: u64,
    /// Media segments lost because more closed in one epoch than the flow
    /// table's segment log holds (`WorkerConfig::flows.segment_capacity`).
    pub segments_dropped: u64,
    /// Frames whose timestamp was too far from the worker's time (see
    /// [`crate::timeguard`]: wild ones, not a clock step): they are
    /// accounted as usual (flows, bytes, traffic) but at the latest good
    /// time, and do not move time.
    pub bad_timestamp: u64,
}

impl Default for CaptureCounters {
    fn default() -> Self {
        CaptureCounters {
            packets: 0,
            bytes: 0,
            ip_packets: 0,
            parse_errors: [0; PARSE_REASONS],
            fragments: 0,
            flows_created: 0,
            flows_ended: 0,
            flow_table_full: 0,
            active_flows: 0,
            records_dropped: 0,
            summary_queue_full: 0,
            src_dropped: 0,
            src_ring_full: 0,
            src_fill_ring_empty: 0,
            src_invalid_descs: 0,
            busy_polls: 0,
            idle_polls: 0,
            name_events: 0,
            name_events_dropped: 0,
            name_reasm_full: 0,
            activity_dropped: 0,
            segments_dropped: 0,
            bad_timestamp: 0,
        }
    }
}

impl CaptureCounters {
    /// Adds every counter of `other` into `self` (gauges take `other`'s value).
    pub fn absorb(&mut self, other: &CaptureCounters) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.ip_packets += other.ip_packets;
        for (a, b) in self.parse_errors.iter_mut().zip(other.parse_errors.iter()) {
            *a += *b;
        }
        self.fragments += other.fragments;
        self.flows_created += other.flows_created;
        self.flows_ended += other.flows_ended;
        self.flow_table_full += other.flow_table_full;
        self.active_flows = other.active_flows;
        self.records_dropped += other.records_dropped;
        self.summary_queue_full += other.summary_queue_full;
        self.src_dropped += other.src_dropped;
        self.src_ring_full += other.src_ring_full;
        self.src_fill_ring_empty += other.src_fill_ring_empty;
        self.src_invalid_descs += other.src_invalid_descs;
        self.busy_polls += other.busy_polls;
        self.idle_polls += other.idle_polls;
        self.name_events += other.name_events;
        self.name_events_dropped += other.name_events_dropped;
        self.name_reasm_full += other.name_reasm_full;
        self.activity_dropped += other.activity_dropped;
        self.segments_dropped += other.segments_dropped;
        self.bad_timestamp += other.bad_timestamp;
    }

    /// Frames that did not become flow packets, all reasons.
    pub fn parse_errors_total(&self) -> u64 {
        self.parse_errors.iter().sum()
    }
}

/// One worker's hand-over to the control core for one epoch.
#[derive(Debug)]
pub struct EpochSummary {
    /// Index of the worker that sent the summary.
    pub worker: u16,
    /// Packet-time start of the epoch (Unix ns, inclusive).
    pub start_ns: u64,
    /// Packet-time end of the epoch (Unix ns, exclusive). 0 (and
    /// `start_ns` 0) in a worker's last summary when it never found a good
    /// time: no frame or tick reached it, or only bad timestamps
    /// ([`crate::timeguard`]).
    pub end_ns: u64,
    /// The worker's capture counters over the epoch.
    pub counters: CaptureCounters,
    /// Flows that ended during the epoch. Capacity is fixed at creation and
    /// never grows on the worker.
    pub flows: Vec<FlowRecord>,
    /// Per-flow packet and byte counts of the epoch, for flows still open at
    /// its end (fixed capacity, as `flows`).
    pub activity: Vec<FlowActivity>,
    /// Names found in the epoch (server names, DNS answers, device names).
    pub names: NameLog,
    /// Media segments closed in the epoch ([`crate::flow::segment`]); a
    /// full hand-over only. Fixed capacity, as `flows`.
    pub segments: Vec<SegmentRecord>,
    /// True for a mid-epoch hand-over forced by a full `flows` buffer: the
    /// counters belong to the next summary of the same epoch.
    pub partial: bool,
    /// True for the worker's last summary (end of capture or shutdown).
    pub last: bool,
    /// The epoch's sketches (a full hand-over only). On the way back the
    /// control core leaves an emptied set of the current plan here, which
    /// the worker counts the next epoch into: sketches circulate with the
    /// summaries and are never allocated by the worker.
    pub sketch: Option<Box<Sketches>>,
    /// Sketches the worker no longer needs (of an older plan), for the
    /// control core to free.
    pub retired: Option<Box<Sketches>>,
}

impl EpochSummary {
    /// A summary able to hold `flow_capacity` records without allocating.
    pub fn with_capacity(worker: u16, flow_capacity: usize) -> Self {
        EpochSummary {
            worker,
            start_ns: 0,
            end_ns: 0,
            counters: CaptureCounters::default(),
            flows: Vec::with_capacity(flow_capacity),
            activity: Vec::with_capacity(flow_capacity),
            names: NameLog::with_capacity(flow_capacity / 4 + 64, (flow_capacity / 4 + 64) * 48),
            segments: Vec::new(),
            partial: false,
            last: false,
            sketch: None,
            retired: None,
        }
    }

    /// Empties the summary for reuse, keeping its buffers (the sketches are
    /// emptied; retired ones are freed).
    pub fn reset(&mut self) {
        self.start_ns = 0;
        self.end_ns = 0;
        self.counters = CaptureCounters::default();
        self.flows.clear();
        self.activity.clear();
        self.names.clear();
        self.segments.clear();
        self.partial = false;
        self.last = false;
        if let Some(s) = &mut self.sketch {
            s.reset();
        }
        self.retired = None;
    }
}
