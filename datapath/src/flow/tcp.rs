//! Per-flow TCP state seen from a passive tap: sequence tracking for
//! retransmission and out-of-order detection, handshake timing, closing.

use crate::epoch::{FlowRecord, TcpDirStats};
use crate::parse::PacketMeta;
use crate::wire::TcpFlags;

/// `a` is before `b` in sequence space (RFC 1982 serial arithmetic).
#[inline]
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Sequence state of one direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct SeqState {
    /// One past the highest sequence number seen (SYN and FIN count one).
    next: u32,
    valid: bool,
    /// A FIN was seen; `fin_seq` is its sequence number.
    fin: bool,
}

/// TCP state of a flow, indexed by direction (0 = client → server).
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpState {
    seq: [SeqState; 2],
    /// Time of the last SYN (no ACK) from the client before the SYN/ACK.
    syn_ns: u64,
    /// Time of the first SYN/ACK, and the ack number the client's
    /// handshake-completing ACK will carry.
    synack_ns: u64,
    synack_isn_plus1: u32,
    rtt_done: bool,
    /// A RST was seen, or both sides sent FIN.
    pub closed: bool,
}

impl TcpState {
    /// Updates state and statistics with one segment travelling in `dir`
    /// (0 = client → server). `now_ns` is the segment's time.
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
        } else if m.tcp_window == 0 && !syn {
            st.zero_window += 1;
        }

        // Handshake timing as seen at the tap.
        if !self.rtt_done {
            if syn && !ack && dir == 0 && self.synack_ns == 0 {
                self.syn_ns = now_ns;
            } else if syn && ack && dir == 1 && self.synack_ns == 0 {
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

        // Sequence tracking: a segment occupies [seq, seq + len), with SYN
        // and FIN each taking one sequence number.
        let len = m.payload_len as u32 + syn as u32 + fin as u32;
        let s = &mut self.seq[dir];
        if len > 0 && !rst {
            let start = m.tcp_seq;
            let end = start.wrapping_add(len);
            if !s.valid {
                s.next = end;
                s.valid = true;
            } else if seq_lt(s.next, start) {
                // A hole before this segment: lost before the tap, or reordered.
                st.out_of_order_packets += 1;
                st.out_of_order_bytes += m.payload_len as u64;
                s.next = end;
            } else if !seq_lt(s.next, end) {
                // Entirely at or below what was already seen.
                if m.payload_len > 0 {
                    st.retrans_packets += 1;
                    st.retrans_bytes += m.payload_len as u64;
                }
            } else {
                s.next = end;
            }
        }
        if fin {
            s.fin = true;
            if self.seq[0].fin && self.seq[1].fin {
                self.closed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::IpProtocol;
    const FIN: TcpFlags = TcpFlags::FIN;
    const SYN: TcpFlags = TcpFlags::SYN;
    const RST: TcpFlags = TcpFlags::RST;
    const ACK: TcpFlags = TcpFlags::ACK;

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
        assert_eq!(r.tcp_c2s.mss, 1460);
        assert_eq!(r.tcp_c2s.wscale, 7);
        assert!(r.tcp_c2s.sack_permitted);
        assert_eq!(r.tcp_s2c.wscale, 0xff);
        assert_eq!((r.tcp_c2s.syn, r.tcp_s2c.syn), (1, 1));
    }

    #[test]
    fn syn_retransmission_times_from_last_syn() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &seg(SYN, 100, 0, 0), 0, 1_000);
        t.update(&mut r, &seg(SYN, 100, 0, 0), 0, 1_001_000);
        t.update(&mut r, &seg(SYN | ACK, 5000, 101, 0), 1, 1_011_000);
        assert_eq!(r.rtt_syn_synack_ns, 10_000);
        assert_eq!(r.tcp_c2s.syn, 2);
        // The retransmitted SYN has no payload: not a data retransmission.
        assert_eq!(r.tcp_c2s.retrans_packets, 0);
    }

    #[test]
    fn retransmission_and_out_of_order() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &seg(ACK, 1000, 1, 100), 0, 1); // [1000,1100)
        t.update(&mut r, &seg(ACK, 1100, 1, 100), 0, 2); // [1100,1200)
        t.update(&mut r, &seg(ACK, 1100, 1, 100), 0, 3); // retransmission
        t.update(&mut r, &seg(ACK, 1300, 1, 100), 0, 4); // hole [1200,1300)
        t.update(&mut r, &seg(ACK, 1200, 1, 100), 0, 5); // fills the hole late
        t.update(&mut r, &seg(ACK, 1, 1400, 0), 1, 6); // pure ACK the other way
        assert_eq!(r.tcp_c2s.retrans_packets, 2);
        assert_eq!(r.tcp_c2s.retrans_bytes, 200);
        assert_eq!(r.tcp_c2s.out_of_order_packets, 1);
        assert_eq!(r.tcp_c2s.out_of_order_bytes, 100);
        assert_eq!(r.tcp_s2c, TcpDirStats::default());
    }

    #[test]
    fn sequence_wraparound_is_not_a_hole() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        t.update(&mut r, &seg(ACK, u32::MAX - 49, 1, 100), 0, 1);
        t.update(&mut r, &seg(ACK, 50, 1, 100), 0, 2);
        assert_eq!(r.tcp_c2s.out_of_order_packets, 0);
        assert_eq!(r.tcp_c2s.retrans_packets, 0);
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
        let mut rst = seg(RST, 10, 0, 0);
        rst.tcp_window = 0;
        t.update(&mut r, &rst, 1, 1);
        assert!(t.closed);
        assert_eq!(r.tcp_s2c.rst, 1);
        assert_eq!(
            r.tcp_s2c.zero_window, 0,
            "RST with window 0 is no zero-window event"
        );
    }

    #[test]
    fn zero_window_counted() {
        let mut t = TcpState::default();
        let mut r = FlowRecord::default();
        let mut m = seg(ACK, 1, 1, 0);
        m.tcp_window = 0;
        t.update(&mut r, &m, 1, 1);
        t.update(&mut r, &m, 1, 2);
        assert_eq!(r.tcp_s2c.zero_window, 2);
    }
}
