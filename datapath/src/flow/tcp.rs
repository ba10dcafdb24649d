//! Per-flow TCP state seen from a passive tap: sequence analysis for
//! retransmissions, out-of-order segments and zero windows, handshake
//! timing, closing.
//!
//! The sequence analysis follows the rules of Wireshark's TCP analysis
//! (`tcp.analysis.*`), so that the counts of a flow can be checked against
//! tshark on the same capture (tests/test_tcp_truth.py):
//!
//! - a segment carrying data, SYN or FIN that starts below the highest
//!   sequence number its sender has reached (`next`) is a retransmission,
//!   unless it is a keep-alive (0 or 1 byte at `next - 1`), or a segment of
//!   more than one byte starting at `next - 1` (new data after a probe);
//! - it is a *spurious* retransmission (counted as a retransmission) when
//!   its data is already acknowledged by the other side;
//! - a *fast* retransmission (counted as one too): it repeats the sequence
//!   number the other side acknowledged in two or more duplicate ACKs, the
//!   last less than 20 ms ago;
//! - otherwise it is *out of order* instead, when it comes less than the
//!   handshake round-trip time (3 ms when unknown) after `next` last
//!   advanced and does not end exactly at `next`;
//! - a zero window is a segment advertising window 0 without SYN, FIN or
//!   RST, except a zero-window probe (one byte at `next` while the other side
//!   advertises window 0).
//!
//! All of it costs a few comparisons per segment and two 32-byte records per
//! flow.

use crate::epoch::{FlowRecord, TcpDirStats};
use crate::parse::PacketMeta;
use crate::wire::TcpFlags;

/// `a` is before `b` in sequence space (RFC 1982 serial arithmetic).
#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a` is at or before `b` in sequence space.
#[inline]
fn seq_le(a: u32, b: u32) -> bool {
    !seq_lt(b, a)
}

/// Segments of a fast retransmission follow the last duplicate ACK by less.
const FAST_RETRANS_NS: u64 = 20_000_000;
/// Out-of-order window when the handshake round trip is unknown.
const OOO_DEFAULT_NS: u64 = 3_000_000;

// `SeqState::bits`.
/// `next` is known (a segment was seen in this direction).
const NEXT_VALID: u8 = 1;
/// `max_acked` is known.
const MAX_VALID: u8 = 2;
/// `window` is known.
const WINDOW_VALID: u8 = 4;
/// The last segment was a keep-alive.
const LAST_KEEPALIVE: u8 = 8;
/// The last segment was a zero-window probe.
const LAST_ZW_PROBE: u8 = 16;
/// A FIN was seen in this direction.
const FIN_SEEN: u8 = 32;

/// Sequence state of one direction (its sender's side).
#[derive(Clone, Copy, Debug, Default)]
pub struct SeqState {
    /// One past the highest sequence number sent (SYN and FIN count one).
    next: u32,
    /// Ack number of the last segment sent with ACK (0: none).
    last_ack: u32,
    /// End of the data sent without a hole seen before it: the other side
    /// acknowledging beyond it acknowledges segments the tap did not see.
    max_acked: u32,
    /// Window field of the last segment (unscaled).
    window: u16,
    /// Duplicate ACKs sent in a row; -1 after an ACK of unseen data (the
    /// next duplicate counts as the first).
    dup_acks: i8,
    /// `NEXT_VALID`, `MAX_VALID`, …
    bits: u8,
    /// Time `next` last advanced.
    next_ns: u64,
    /// Time of the last segment.
    last_ns: u64,
}

/// TCP state of a flow, indexed by direction (0 = client → server).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpState {
    seq: [SeqState; 2],
    /// Time of the last SYN without ACK.
    syn_ns: u64,
    /// Time of the first SYN/ACK, and the ack number the client's
    /// handshake-completing ACK will carry.
    synack_ns: u64,
    /// From the last SYN without ACK to the first segment with ACK and
    /// without SYN after it (Wireshark's initial RTT): the out-of-order
    /// window; 0 = not known yet.
    irtt_ns: u64,
    synack_isn_plus1: u32,
    rtt_done: bool,
    /// A RST was seen, or both sides sent FIN.
    pub closed: bool,
}

impl TcpState {
    /// Updates state and statistics with one segment travelling in `dir`
    /// (0 = client → server). `now_ns` is the segment's time. The segment
    /// must carry a TCP header.
    #[inline]
    pub fn update(&mut self, rec: &mut FlowRecord, m: &PacketMeta, dir: usize, now_ns: u64) {
        let flags = m.tcp_flags;
        let st: &mut TcpDirStats = if dir == 0 {
            &mut rec.tcp_c2s
        } else {
            &mut rec.tcp_s2c
        };
        let syn = flags.contains(TcpFlags::SYN);
        let fin = flags.contains(TcpFlags::FIN);
        let rst = flags.contains(TcpFlags::RST);
        let ack = flags.contains(TcpFlags::ACK);

        if syn {
            st.syn += 1;
            if m.tcp_mss != 0 {
                st.mss = m.tcp_mss;
            }
            if m.tcp_wscale != 0xff {
                st.wscale = m.tcp_wscale;
            }
            st.sack_permitted |= m.tcp_sack_permitted;
        }
        if fin {
            st.fin += 1;
        }
        if rst {
            st.rst += 1;
            self.closed = true;
        }

        let ev = self.analyse(m, dir, now_ns);
        let len = m.payload_len as u64;
        if ev & EV_RETRANS != 0 {
            st.retrans_packets += 1;
            st.retrans_bytes += len;
        }
        if ev & EV_OUT_OF_ORDER != 0 {
            st.out_of_order_packets += 1;
            st.out_of_order_bytes += len;
        }
        if ev & EV_ZERO_WINDOW != 0 {
            st.zero_window += 1;
        }

        // Handshake timing as seen at the tap. The initial RTT (for the
        // out-of-order window) is taken after the segment's analysis.
        if syn && !ack {
            self.syn_ns = now_ns;
        }
        if ack && !syn && self.irtt_ns == 0 && self.syn_ns != 0 {
            self.irtt_ns = now_ns.saturating_sub(self.syn_ns);
        }
        if !self.rtt_done {
            if syn && ack && dir == 1 && self.synack_ns == 0 {
                self.synack_ns = now_ns;
                self.synack_isn_plus1 = m.tcp_seq.wrapping_add(1);
                if self.syn_ns != 0 {
                    rec.rtt_syn_synack_ns = now_ns.saturating_sub(self.syn_ns).max(1);
                }
            } else if !syn && ack && dir == 0 && self.synack_ns != 0 {
                if m.tcp_ack == self.synack_isn_plus1 {
                    rec.rtt_synack_ack_ns = now_ns.saturating_sub(self.synack_ns).max(1);
                }
                self.rtt_done = true;
            }
        }

        if fin {
            self.seq[dir].bits |= FIN_SEEN;
            if self.seq[0].bits & self.seq[1].bits & FIN_SEEN != 0 {
                self.closed = true;
            }
        }
    }

    /// Sequence analysis of one segment: updates both directions' state and
    /// returns what the segment is (`EV_*` bits).
    #[inline]
    fn analyse(&mut self, m: &PacketMeta, dir: usize, now_ns: u64) -> u8 {
        let flags = m.tcp_flags;
        let syn_fin = flags.intersects(TcpFlags::SYN | TcpFlags::FIN);
        let no_ctl = !flags.intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST);
        let seq = m.tcp_seq;
        let ack = if flags.contains(TcpFlags::ACK) {
            m.tcp_ack
        } else {
            0
        };
        let len = m.payload_len as u32;
        let window = m.tcp_window;
        let (f, r) = if dir == 0 {
            let [a, b] = &mut self.seq;
            (a, b)
        } else {
            let [a, b] = &mut self.seq;
            (b, a)
        };
        let next_valid = f.bits & NEXT_VALID != 0;
        let at_next = next_valid && seq == f.next;
        let mut ev = 0u8;
        let mut last = 0u8;

        // A zero-window probe: one byte at `next` while the receiver
        // advertises no window. It is not itself a zero window, keep-alive
        // or duplicate ACK, and does not advance `next`.
        let probe = len == 1 && at_next && r.bits & WINDOW_VALID != 0 && r.window == 0;
        if probe {
            last |= LAST_ZW_PROBE;
        } else {
            if window == 0 && no_ctl {
                ev |= EV_ZERO_WINDOW;
            }
            if len <= 1 && next_valid && seq == f.next.wrapping_sub(1) && no_ctl {
                last |= LAST_KEEPALIVE;
            }
            // An empty segment repeating the last ack, (non-zero) window and
            // sequence number is a duplicate ACK, unless it answers a
            // keep-alive.
            let repeat = len == 0
                && no_ctl
                && at_next
                && f.bits & WINDOW_VALID != 0
                && window == f.window
                && ack == f.last_ack;
            if repeat && window != 0 && r.bits & LAST_KEEPALIVE == 0 {
                f.dup_acks = if f.dup_acks < 0 {
                    1
                } else {
                    f.dup_acks.saturating_add(1)
                };
            }
        }
        if ack != f.last_ack {
            f.dup_acks = 0;
        }
        // An ACK beyond the other side's data seen without a hole: segments
        // the tap did not see were acknowledged.
        if flags.contains(TcpFlags::ACK) && r.bits & MAX_VALID != 0 && seq_lt(r.max_acked, ack) {
            if seq_lt(r.next, r.max_acked) {
                r.max_acked = r.next;
            } else {
                r.dup_acks = -1;
            }
        }

        if (len > 0 || syn_fin) && last & LAST_KEEPALIVE == 0 {
            let mut behind = next_valid && seq_lt(seq, f.next);
            if len > 1 && next_valid && seq == f.next.wrapping_sub(1) {
                // New data right after a one-byte probe or keep-alive.
                behind = false;
            }
            let end = seq.wrapping_add(len);
            if len > 0 && r.last_ack != 0 && seq_le(end, r.last_ack) {
                // Already acknowledged: a spurious retransmission.
                ev |= EV_RETRANS;
            } else if behind
                && r.dup_acks >= 2
                && r.last_ack == seq
                && now_ns >= r.last_ns
                && now_ns - r.last_ns < FAST_RETRANS_NS
            {
                // Fast retransmission.
                ev |= EV_RETRANS;
            } else if behind
                && now_ns >= f.next_ns
                && now_ns - f.next_ns
                    < if self.irtt_ns == 0 {
                        OOO_DEFAULT_NS
                    } else {
                        self.irtt_ns
                    }
                && f.next != end.wrapping_add(syn_fin as u32)
            {
                ev |= EV_OUT_OF_ORDER;
            } else if behind {
                ev |= EV_RETRANS;
            }
        }

        let end = seq.wrapping_add(len + syn_fin as u32);
        if !probe {
            if !next_valid || seq_lt(f.next, end) {
                f.next = end;
                f.next_ns = now_ns;
                f.bits |= NEXT_VALID;
            }
            if f.bits & MAX_VALID == 0 || seq == f.max_acked {
                f.max_acked = f.next;
                f.bits |= MAX_VALID;
            }
        }
        f.window = window;
        f.last_ack = ack;
        f.last_ns = now_ns;
        f.bits = (f.bits & !(LAST_KEEPALIVE | LAST_ZW_PROBE)) | WINDOW_VALID | last;
        ev
    }
}

/// `TcpState::analyse` results.
const EV_RETRANS: u8 = 1;
const EV_OUT_OF_ORDER: u8 = 2;
const EV_ZERO_WINDOW: u8 = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::IpProtocol;
    const FIN: TcpFlags = TcpFlags::FIN;
    const SYN: TcpFlags = TcpFlags::SYN;
    const RST: TcpFlags = TcpFlags::RST;
    const ACK: TcpFlags = TcpFlags::ACK;
    const MS: u64 = 1_000_000;

    fn seg(flags: TcpFlags, seq: u32, ack: u32, len: u16) -> PacketMeta {
        PacketMeta {
            protocol: IpProtocol::TCP,
            tcp_flags: flags,
            tcp_seq: seq,
            tcp_ack: ack,
            tcp_window: 1000,
            tcp_wscale: 0xff,
            payload_len: len,
            ..Default::default()
        }
    }

    fn win(mut m: PacketMeta, window: u16) -> PacketMeta {
        m.tcp_window = window;
        m
    }

    /// A flow and the time of its next segment.
    struct Flow {
        t: TcpState,
        r: FlowRecord,
        now: u64,
    }

    impl Flow {
        /// After a handshake with a 10 ms initial RTT: client sequence
        /// numbers start at 1001, server ones at 5001.
        fn open() -> Flow {
            let mut f = Flow {
                t: TcpState::default(),
                r: FlowRecord::default(),
                now: 1_000 * MS,
            };
            f.c(seg(SYN, 1000, 0, 0), 0);
            f.s(seg(SYN | ACK, 5000, 1001, 0), 5 * MS);
            f.c(seg(ACK, 1001, 5001, 0), 5 * MS);
            assert_eq!(f.t.irtt_ns, 10 * MS);
            f
        }
        /// Client → server segment `dt` after the previous one.
        fn c(&mut self, m: PacketMeta, dt: u64) {
            self.now += dt;
            self.t.update(&mut self.r, &m, 0, self.now);
        }
        /// Server → client segment `dt` after the previous one.
        fn s(&mut self, m: PacketMeta, dt: u64) {
            self.now += dt;
            self.t.update(&mut self.r, &m, 1, self.now);
        }
        fn c2s(&self) -> (u32, u64, u32, u64) {
            let s = &self.r.tcp_c2s;
            (
                s.retrans_packets,
                s.retrans_bytes,
                s.out_of_order_packets,
                s.out_of_order_bytes,
            )
        }
    }

    #[test]
    fn handshake_rtts_and_options() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        let mut syn = seg(SYN, 100, 0, 0);
        syn.tcp_mss = 1460;
        syn.tcp_wscale = 7;
        syn.tcp_sack_permitted = true;
        t.update(&mut r, &syn, 0, 1_000);
        t.update(&mut r, &seg(SYN | ACK, 5000, 101, 0), 1, 31_000);
        t.update(&mut r, &seg(ACK, 101, 5001, 0), 0, 32_500);
        assert_eq!(r.rtt_syn_synack_ns, 30_000);
        assert_eq!(r.rtt_synack_ack_ns, 1_500);
        assert_eq!(t.irtt_ns, 31_500);
        assert_eq!(r.tcp_c2s.mss, 1460);
        assert_eq!(r.tcp_c2s.wscale, 7);
        assert!(r.tcp_c2s.sack_permitted);
        assert_eq!(r.tcp_s2c.wscale, 0xff);
        assert_eq!((r.tcp_c2s.syn, r.tcp_s2c.syn), (1, 1));
        assert_eq!(
            r.tcp_c2s,
            TcpDirStats {
                syn: 1,
                ..r.tcp_c2s
            }
        );
        assert_eq!(
            (r.tcp_c2s.retrans_packets, r.tcp_s2c.retrans_packets),
            (0, 0)
        );
    }

    #[test]
    fn syn_retransmission_times_from_last_syn_and_counts() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &seg(SYN, 100, 0, 0), 0, 1_000);
        t.update(&mut r, &seg(SYN, 100, 0, 0), 0, 1_001_000_000);
        t.update(&mut r, &seg(SYN | ACK, 5000, 101, 0), 1, 1_001_010_000);
        assert_eq!(r.rtt_syn_synack_ns, 10_000);
        assert_eq!(r.tcp_c2s.syn, 2);
        // A SYN again is a retransmission (of no payload bytes).
        assert_eq!((r.tcp_c2s.retrans_packets, r.tcp_c2s.retrans_bytes), (1, 0));
    }

    #[test]
    fn segment_below_the_highest_sent_is_a_retransmission() {
        let mut f = Flow::open();
        f.c(seg(ACK, 1001, 5001, 100), MS); // [1001,1101)
        f.c(seg(ACK, 1101, 5001, 100), MS); // [1101,1201)
        f.c(seg(ACK, 1101, 5001, 100), 200 * MS); // again, an RTO later
        f.c(seg(ACK, 1151, 5001, 100), 200 * MS); // partly new data
        assert_eq!(f.c2s(), (2, 200, 0, 0));
        f.s(seg(ACK, 5001, 1251, 0), MS); // pure ACK the other way
        assert_eq!(
            f.r.tcp_s2c,
            TcpDirStats {
                syn: 1,
                ..TcpDirStats::default()
            }
        );
    }

    #[test]
    fn hole_filled_within_the_rtt_is_out_of_order_later_a_retransmission() {
        let mut f = Flow::open();
        f.c(seg(ACK, 1001, 5001, 100), MS);
        // [1101,1201) is missing: the segment after the hole is not out of
        // order itself.
        f.c(seg(ACK, 1201, 5001, 100), MS);
        assert_eq!(f.c2s(), (0, 0, 0, 0));
        // The hole filled 9 ms after the highest segment, within the 10 ms
        // initial RTT: out of order.
        f.c(seg(ACK, 1101, 5001, 100), 9 * MS);
        assert_eq!(f.c2s(), (0, 0, 1, 100));
        // A segment ending exactly at the highest sequence number is a
        // retransmission, even within the RTT.
        f.c(seg(ACK, 1401, 5001, 100), MS); // [1301,1401) missing
        f.c(seg(ACK, 1451, 5001, 50), MS);
        assert_eq!(f.c2s(), (1, 50, 1, 100));
        // The hole filled 11 ms after the highest segment: a retransmission.
        f.c(seg(ACK, 1301, 5001, 100), 10 * MS);
        assert_eq!(f.c2s(), (2, 150, 1, 100));
    }

    #[test]
    fn out_of_order_window_is_3ms_without_handshake() {
        let mut f = Flow {
            t: TcpState::default(),
            r: FlowRecord::default(),
            now: 1_000 * MS,
        };
        f.c(seg(ACK, 1001, 5001, 100), 0);
        f.c(seg(ACK, 1201, 5001, 100), MS);
        f.c(seg(ACK, 1101, 5001, 100), 2 * MS);
        f.c(seg(ACK, 1401, 5001, 100), MS);
        f.c(seg(ACK, 1301, 5001, 100), 3 * MS);
        assert_eq!(f.c2s(), (1, 100, 1, 100));
    }

    #[test]
    fn acknowledged_data_again_is_a_spurious_retransmission() {
        let mut f = Flow::open();
        f.c(seg(ACK, 1001, 5001, 100), MS);
        f.c(seg(ACK, 1101, 5001, 100), MS);
        f.s(seg(ACK, 5001, 1201, 0), MS);
        // Within the RTT and not ending at the highest sequence number, but
        // acknowledged already: a retransmission, not out of order.
        f.c(seg(ACK, 1001, 5001, 100), MS);
        assert_eq!(f.c2s(), (1, 100, 0, 0));
    }

    #[test]
    fn hole_filled_after_two_duplicate_acks_is_a_fast_retransmission() {
        let mut f = Flow::open();
        f.c(seg(ACK, 1001, 5001, 100), MS);
        f.c(seg(ACK, 1201, 5001, 100), MS); // [1101,1201) missing
        f.s(seg(ACK, 5001, 1101, 0), MS);
        f.s(seg(ACK, 5001, 1101, 0), MS);
        f.s(seg(ACK, 5001, 1101, 0), MS);
        assert_eq!(f.t.seq[1].dup_acks, 2);
        // 4 ms after the highest segment (out of order by time alone), but
        // it repeats the duplicate ACKs' number within 20 ms of the last.
        f.c(seg(ACK, 1101, 5001, 100), MS);
        assert_eq!(f.c2s(), (1, 100, 0, 0));
        // A new ack number ends the duplicates.
        f.s(seg(ACK, 5001, 1301, 0), MS);
        assert_eq!(f.t.seq[1].dup_acks, 0);
    }

    #[test]
    fn keep_alives_and_probes_are_no_retransmissions() {
        let mut f = Flow::open();
        f.c(seg(ACK, 1001, 5001, 100), MS);
        // Keep-alives: 0 or 1 byte at the highest sequence number - 1.
        f.c(seg(ACK, 1100, 5001, 0), 500 * MS);
        f.c(seg(ACK, 1100, 5001, 1), 500 * MS);
        // More than one byte from there: new data.
        f.c(seg(ACK, 1100, 5001, 101), MS);
        assert_eq!(f.c2s(), (0, 0, 0, 0));
        assert_eq!(f.t.seq[0].next, 1201);
        // The server's window closes; the client probes with one byte,
        // which does not advance its sequence.
        f.s(win(seg(ACK, 5001, 1201, 0), 0), MS);
        f.c(seg(ACK, 1201, 5001, 1), 200 * MS);
        f.s(win(seg(ACK, 5001, 1201, 0), 0), MS); // the probe's ACK
        f.c(seg(ACK, 1201, 5001, 1), 400 * MS);
        assert_eq!(f.t.seq[0].next, 1201);
        f.s(seg(ACK, 5001, 1201, 0), MS); // window open again
        f.c(seg(ACK, 1201, 5001, 100), MS);
        assert_eq!(f.c2s(), (0, 0, 0, 0));
        assert_eq!(f.r.tcp_s2c.zero_window, 2);
        assert_eq!(f.r.tcp_c2s.zero_window, 0);
    }

    #[test]
    fn zero_window_not_on_syn_fin_rst_or_a_probe() {
        let mut f = Flow::open();
        f.s(win(seg(ACK, 5001, 1001, 0), 0), MS);
        f.s(win(seg(ACK, 5001, 1001, 0), 0), MS);
        assert_eq!(f.r.tcp_s2c.zero_window, 2);
        // The client's window is closed too; its one-byte probe says so
        // but is a probe.
        f.c(win(seg(ACK, 1001, 5001, 1), 0), MS);
        assert_eq!(f.r.tcp_c2s.zero_window, 0);
        f.s(win(seg(FIN | ACK, 5001, 1001, 0), 0), MS);
        f.s(win(seg(RST, 5002, 0, 0), 0), MS);
        assert_eq!(f.r.tcp_s2c.zero_window, 2);
    }

    #[test]
    fn time_going_back_is_no_reason_for_out_of_order() {
        let mut f = Flow::open();
        f.c(seg(ACK, 1001, 5001, 100), MS);
        f.c(seg(ACK, 1201, 5001, 100), MS);
        f.now -= 500 * MS;
        f.c(seg(ACK, 1101, 5001, 100), 0);
        assert_eq!(f.c2s(), (1, 100, 0, 0));
    }

    #[test]
    fn sequence_wraparound_is_not_a_hole() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &seg(ACK, u32::MAX - 49, 1, 100), 0, 1);
        t.update(&mut r, &seg(ACK, 50, 1, 100), 0, 2);
        t.update(&mut r, &seg(ACK, u32::MAX - 49, 1, 100), 0, 10 * MS);
        assert_eq!(r.tcp_c2s.out_of_order_packets, 0);
        assert_eq!(r.tcp_c2s.retrans_packets, 1);
    }

    #[test]
    fn closes_on_two_fins_or_rst() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &seg(FIN | ACK, 10, 1, 0), 0, 1);
        assert!(!t.closed);
        t.update(&mut r, &seg(FIN | ACK, 1, 11, 0), 1, 2);
        assert!(t.closed);

        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &win(seg(RST, 10, 0, 0), 0), 1, 1);
        assert!(t.closed);
        assert_eq!(r.tcp_s2c.rst, 1);
        assert_eq!(r.tcp_s2c.zero_window, 0);
    }

    #[test]
    fn state_stays_small() {
        assert!(std::mem::size_of::<TcpState>() <= 96);
    }
}
