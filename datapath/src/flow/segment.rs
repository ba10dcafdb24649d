//! Media segment detection: request/response bursts per flow.
//!
//! Adaptive streaming fetches its media in segments of a few seconds, each
//! with one request. Seen from the network, encrypted or not, a segment is
//! an upstream packet carrying a request followed by a downstream burst
//! that lasts until the next request. A [`SegmentTracker`] per flow follows
//! that pattern on payload-carrying packets and reports each burst as a
//! [`SegmentRecord`]: when it was requested, when its first and last
//! payload bytes came, how many bytes and packets it had, and how large the
//! request was. The control core decides which flows are video (their
//! service) and turns the records into session features; the worker only
//! keeps a few words per flow and never allocates.
//!
//! Rules (all per flow, client = the flow's initiator):
//! - an upstream packet with at least [`SegmentConfig::request_min_payload`]
//!   bytes of transport payload is a request. It closes the burst in
//!   progress (if it has downstream bytes) and opens a new one; requests
//!   sent before any answer came (the video and the audio request sent
//!   together) are merged into one;
//! - downstream payload adds to the open burst; downstream payload with no
//!   request seen (a flow picked up mid-way) is not attributed;
//! - a burst also closes when its flow ends, or when no downstream payload
//!   came for [`SegmentConfig::idle_ns`] (found by the flow table's sweep);
//! - a closed burst is reported only with at least
//!   [`SegmentConfig::min_bytes`] downstream, so handshakes, API calls and
//!   keep-alives are not segments.
//!
//! Multiplexed requests (HTTP/2, HTTP/3) that overlap in time merge into
//! one burst: the tap cannot tell their bytes apart under encryption.

use crate::epoch::FlowRecord;
use crate::wire::IpProtocol;

/// Segment detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Track segments at all.
    pub enabled: bool,
    /// Smallest upstream transport payload that counts as a request (TCP
    /// acknowledgements carry none; QUIC acknowledgements carry less than
    /// this).
    pub request_min_payload: u16,
    /// Smallest downstream payload of a burst reported as a segment.
    pub min_bytes: u64,
    /// A burst with no downstream payload for this long is closed, ns.
    pub idle_ns: u64,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            enabled: true,
            request_min_payload: 64,
            min_bytes: 8 * 1024,
            idle_ns: 2_000_000_000,
        }
    }
}

/// Whether a flow may carry streamed media: TCP or UDP to port 443 (HTTPS,
/// HTTP/3) or 80 (HTTP). Other flows are never tracked.
#[inline]
pub fn may_carry_media(protocol: IpProtocol, server_port: u16) -> bool {
    (server_port == 443 || server_port == 80)
        && (protocol == IpProtocol::TCP || protocol == IpProtocol::UDP)
}

/// One detected segment (a request and the downstream burst answering it),
/// with its flow's endpoints so that it can be labelled whenever it is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentRecord {
    /// The flow's [`crate::epoch::FlowRecord::flow_id`].
    pub flow_id: u64,
    /// IP version of the flow: 4 or 6.
    pub ip_version: u8,
    /// Transport protocol (TCP or UDP).
    pub protocol: IpProtocol,
    /// Client's MAC address (zero without Ethernet).
    pub client_mac: [u8; 6],
    /// Client (requester) address, IPv4-mapped for IPv4.
    pub client_ip: [u8; 16],
    /// Server address.
    pub server_ip: [u8; 16],
    /// Client's port.
    pub client_port: u16,
    /// Server's port.
    pub server_port: u16,
    /// When the (first) request packet was seen, Unix ns.
    pub request_ns: u64,
    /// First downstream payload of the burst, Unix ns.
    pub first_ns: u64,
    /// Last downstream payload of the burst, Unix ns.
    pub last_ns: u64,
    /// Downstream transport payload bytes.
    pub bytes: u64,
    /// Downstream packets with payload.
    pub packets: u32,
    /// Upstream payload bytes of the request(s).
    pub request_bytes: u32,
}

/// Closed segments waiting for the epoch's hand-over: fixed capacity, the
/// overflow counted, never grown.
#[derive(Debug)]
pub struct SegmentLog {
    records: Vec<SegmentRecord>,
    dropped: u64,
}

impl SegmentLog {
    /// A log that holds `capacity` records without allocating.
    pub fn with_capacity(capacity: usize) -> Self {
        SegmentLog {
            records: Vec::with_capacity(capacity),
            dropped: 0,
        }
    }

    #[inline]
    fn push(&mut self, r: SegmentRecord) {
        if self.records.len() < self.records.capacity() {
            self.records.push(r);
        } else {
            self.dropped += 1;
        }
    }

    /// Records closed since the last drain.
    pub fn records(&self) -> &[SegmentRecord] {
        &self.records
    }

    /// Segments that did not fit since the table was made.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets the records (keeps the buffer).
    pub fn clear(&mut self) {
        self.records.clear();
    }
}

/// The open burst of one flow (a few words in its flow-table entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentTracker {
    request_ns: u64,
    first_ns: u64,
    last_ns: u64,
    bytes: u64,
    packets: u32,
    request_bytes: u32,
}

impl SegmentTracker {
    /// Accounts one packet with `payload` transport payload bytes; a burst
    /// it closes goes to `log`.
    #[inline]
    pub fn on_packet(
        &mut self,
        c2s: bool,
        payload: u16,
        now_ns: u64,
        cfg: &SegmentConfig,
        flow: &FlowRecord,
        log: &mut SegmentLog,
    ) {
        if payload == 0 {
            return;
        }
        if c2s {
            let open = self.request_ns != 0;
            if open && self.packets == 0 {
                // More of the request (or a second one before any answer).
                self.request_bytes = self.request_bytes.saturating_add(payload as u32);
            } else if payload >= cfg.request_min_payload {
                self.close(cfg, flow, log);
                *self = SegmentTracker {
                    request_ns: now_ns.max(1),
                    request_bytes: payload as u32,
                    ..Default::default()
                };
            }
        } else if self.request_ns != 0 {
            if self.packets == 0 {
                self.first_ns = now_ns;
            }
            self.last_ns = now_ns;
            self.bytes += payload as u64;
            self.packets += 1;
        }
    }

    /// Closes the open burst if it has been idle for `cfg.idle_ns` at
    /// `now_ns` (a request with no answer yet stays open).
    #[inline]
    pub fn close_if_idle(
        &mut self,
        now_ns: u64,
        cfg: &SegmentConfig,
        flow: &FlowRecord,
        log: &mut SegmentLog,
    ) {
        if self.packets > 0 && now_ns.saturating_sub(self.last_ns) >= cfg.idle_ns {
            self.close(cfg, flow, log);
        }
    }

    /// Closes the open burst (the flow ends): reported if large enough.
    #[inline]
    pub fn close(&mut self, cfg: &SegmentConfig, flow: &FlowRecord, log: &mut SegmentLog) {
        if self.request_ns != 0 && self.packets > 0 && self.bytes >= cfg.min_bytes {
            log.push(SegmentRecord {
                flow_id: flow.flow_id,
                ip_version: flow.ip_version,
                protocol: flow.protocol,
                client_mac: flow.client_mac,
                client_ip: flow.client_ip,
                server_ip: flow.server_ip,
                client_port: flow.client_port,
                server_port: flow.server_port,
                request_ns: self.request_ns,
                first_ns: self.first_ns,
                last_ns: self.last_ns,
                bytes: self.bytes,
                packets: self.packets,
                request_bytes: self.request_bytes,
            });
        }
        *self = SegmentTracker::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn cfg() -> SegmentConfig {
        SegmentConfig {
            min_bytes: 10_000,
            ..SegmentConfig::default()
        }
    }

    /// Feeds (c2s, payload, ms) packets; returns the closed segments.
    fn run(packets: &[(bool, u16, u64)], end_ms: Option<u64>) -> (Vec<SegmentRecord>, u64) {
        let c = cfg();
        let mut t = SegmentTracker::default();
        let mut log = SegmentLog::with_capacity(16);
        let f = flow(7);
        for &(c2s, p, ms) in packets {
            t.on_packet(c2s, p, ms * MS, &c, &f, &mut log);
        }
        if let Some(ms) = end_ms {
            t.close_if_idle(ms * MS, &c, &f, &mut log);
        }
        (log.records().to_vec(), log.dropped())
    }

    fn flow(id: u64) -> FlowRecord {
        FlowRecord {
            flow_id: id,
            ip_version: 4,
            protocol: IpProtocol::TCP,
            client_port: 40_000,
            server_port: 443,
            ..FlowRecord::default()
        }
    }

    fn burst(start_ms: u64, n: u64) -> Vec<(bool, u16, u64)> {
        (0..n).map(|i| (false, 1400, start_ms + 1 + i)).collect()
    }

    #[test]
    fn request_then_burst_then_request_is_one_segment() {
        let mut p = vec![(true, 517, 0), (false, 3000, 5)]; // TLS handshake
        p.push((true, 90, 100)); // GET
        p.extend(burst(100, 20)); // 28 kB
        p.push((true, 0, 150)); // an ACK: not a request
        p.push((true, 95, 1000)); // the next GET closes it
        let (segs, _) = run(&p, None);
        assert_eq!(
            segs,
            vec![SegmentRecord {
                flow_id: 7,
                ip_version: 4,
                protocol: IpProtocol::TCP,
                client_port: 40_000,
                server_port: 443,
                client_mac: [0; 6],
                client_ip: [0; 16],
                server_ip: [0; 16],
                request_ns: 100 * MS,
                first_ns: 101 * MS,
                last_ns: 120 * MS,
                bytes: 28_000,
                packets: 20,
                request_bytes: 90,
            }]
        );
    }

    #[test]
    fn small_answers_and_small_upstream_packets_are_not_segments() {
        // The handshake's answer and an API call stay under min_bytes; a
        // QUIC-sized acknowledgement (40 bytes) is not a request.
        let mut p = vec![(true, 517, 0), (false, 4000, 5), (true, 120, 10)];
        p.extend(burst(10, 5));
        p.push((true, 40, 20));
        p.extend(burst(20, 1));
        p.push((true, 100, 500));
        let (segs, _) = run(&p, None);
        assert!(segs.is_empty(), "{segs:?}");
        // ...but the same bursts after one request add up to a segment.
        let mut p = vec![(true, 120, 10)];
        p.extend(burst(10, 5));
        p.push((true, 40, 20));
        p.extend(burst(20, 5));
        p.push((true, 100, 500));
        let (segs, _) = run(&p, None);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].bytes, 14_000);
    }

    #[test]
    fn requests_before_an_answer_merge_and_idle_closes() {
        let mut p = vec![(true, 90, 0), (true, 80, 1)];
        p.extend(burst(2, 10));
        let (segs, _) = run(&p, Some(1000));
        assert!(segs.is_empty(), "not idle long enough yet");
        let (segs, _) = run(&p, Some(3000));
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].request_bytes, 170);
        // Time 0 is kept as 1 ns: 0 means "no request".
        assert_eq!(segs[0].request_ns, 1);
        // A request still waiting for its answer is not closed by idleness.
        let (segs, _) = run(&[(true, 90, 0)], Some(60_000));
        assert!(segs.is_empty());
    }

    #[test]
    fn answers_without_a_request_are_not_attributed() {
        let (segs, _) = run(&burst(0, 50), Some(60_000));
        assert!(segs.is_empty());
    }

    #[test]
    fn a_full_log_counts_what_it_drops() {
        let c = cfg();
        let mut t = SegmentTracker::default();
        let mut log = SegmentLog::with_capacity(2);
        let f = flow(1);
        for k in 0..5u64 {
            t.on_packet(true, 100, (k * 1000 + 1) * MS, &c, &f, &mut log);
            for i in 0..10 {
                t.on_packet(false, 1400, (k * 1000 + 2 + i) * MS, &c, &f, &mut log);
            }
        }
        t.close(&c, &f, &mut log);
        assert_eq!(log.records().len(), 2);
        assert_eq!(log.dropped(), 3);
        log.clear();
        assert!(log.records().is_empty());
    }

    #[test]
    fn only_web_ports_over_tcp_and_udp() {
        assert!(may_carry_media(IpProtocol::TCP, 443));
        assert!(may_carry_media(IpProtocol::UDP, 443));
        assert!(may_carry_media(IpProtocol::TCP, 80));
        assert!(!may_carry_media(IpProtocol::TCP, 22));
        assert!(!may_carry_media(IpProtocol::UDP, 53));
        assert!(!may_carry_media(IpProtocol::ICMP, 0));
    }
}
