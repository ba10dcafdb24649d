use super::*;
use crate::wire::TcpFlags;
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

const FIN: TcpFlags = TcpFlags::FIN;
const SYN: TcpFlags = TcpFlags::SYN;
const RST: TcpFlags = TcpFlags::RST;
const ACK: TcpFlags = TcpFlags::ACK;

fn v4(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[10] = 0xff;
    a[11] = 0xff;
    a[12] = 10;
    a[15] = last;
    a
}

fn pkt(proto: IpProtocol, src: u8, sport: u16, dst: u8, dport: u16, len: u32) -> PacketMeta {
    PacketMeta {
        wire_len: len,
        cap_len: len,
        ip_version: 4,
        protocol: proto,
        src_ip: v4(src),
        dst_ip: v4(dst),
        src_port: sport,
        dst_port: dport,
        payload_len: len.saturating_sub(54) as u16,
        tcp_window: 1000,
        tcp_wscale: 0xff,
        ..Default::default()
    }
}

fn tcp(src: u8, sport: u16, dst: u8, dport: u16, flags: TcpFlags, seq: u32) -> PacketMeta {
    let mut m = pkt(IpProtocol::TCP, src, sport, dst, dport, 60);
    m.tcp_flags = flags;
    m.tcp_seq = seq;
    m.payload_len = 0;
    (m.l4_offset, m.payload_offset) = (34, 54);
    m
}

fn small(capacity: usize) -> FlowTable {
    FlowTable::new(FlowConfig {
        capacity,
        ..FlowConfig::default()
    })
}

#[test]
fn bidirectional_counters_and_initiator() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    // The packet's direction, and whether it started the flow.
    let syn = t.process(&tcp(1, 40000, 2, 443, SYN, 1), 10, &mut emit);
    let seen = |c2s, new_flow| Seen {
        c2s,
        new_flow,
        slot: syn.slot,
    };
    assert_eq!(syn, seen(true, true));
    let synack = t.process(&tcp(2, 443, 1, 40000, SYN | ACK, 9), 20, &mut emit);
    assert_eq!(synack, seen(false, false));
    let ack = t.process(&tcp(1, 40000, 2, 443, ACK, 2), 30, &mut emit);
    assert_eq!(ack, seen(true, false));
    assert_eq!(t.len(), 1);
    t.flush(&mut emit);
    assert_eq!(out.borrow().len(), 1);
    let r = out.borrow()[0];
    assert_eq!(r.client_ip, v4(1));
    assert_eq!(r.server_port, 443);
    assert_eq!((r.c2s.packets, r.s2c.packets), (2, 1));
    assert_eq!((r.c2s.bytes, r.s2c.bytes), (120, 60));
    assert_eq!((r.first_ns, r.last_ns), (10, 30));
    assert_eq!(r.end_reason, EndReason::EndOfCapture);
    assert_eq!(r.rtt_syn_synack_ns, 10);
    assert!(t.is_empty());
}

#[test]
fn server_first_packet_still_finds_client() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    // A UDP DNS response seen before its query.
    t.process(&pkt(IpProtocol::UDP, 53, 53, 7, 33000, 100), 1, &mut |r| {
        out.borrow_mut().push(*r)
    });
    t.flush(&mut |r| out.borrow_mut().push(*r));
    assert_eq!(out.borrow()[0].client_ip, v4(7));
    assert_eq!(out.borrow()[0].server_port, 53);
    assert_eq!(out.borrow()[0].s2c.packets, 1);
}

#[test]
fn fin_linger_keeps_last_ack_then_ends() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    t.process(&tcp(1, 1000, 2, 80, SYN, 1), 0, &mut emit);
    t.process(&tcp(1, 1000, 2, 80, FIN | ACK, 2), NS, &mut emit);
    t.process(&tcp(2, 80, 1, 1000, FIN | ACK, 5), NS + 1, &mut emit);
    t.process(&tcp(1, 1000, 2, 80, ACK, 3), NS + 2, &mut emit);
    t.expire(NS + 3, &mut emit);
    assert!(out.borrow().is_empty(), "linger keeps the closing flow");
    t.expire(4 * NS, &mut emit);
    assert_eq!(out.borrow().len(), 1);
    assert_eq!(out.borrow()[0].end_reason, EndReason::Fin);
    assert_eq!(out.borrow()[0].c2s.packets + out.borrow()[0].s2c.packets, 4);
}

#[test]
fn new_syn_on_closed_flow_starts_a_new_record() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    t.process(&tcp(1, 1000, 2, 80, SYN, 1), 0, &mut emit);
    t.process(&tcp(2, 80, 1, 1000, RST | ACK, 0), 1, &mut emit);
    t.process(&tcp(1, 1000, 2, 80, SYN, 77), 2, &mut emit);
    assert_eq!(out.borrow().len(), 1);
    assert_eq!(out.borrow()[0].end_reason, EndReason::Rst);
    assert_eq!(t.len(), 1);
}

#[test]
fn idle_timeout_by_protocol() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    t.process(&pkt(IpProtocol::UDP, 1, 5000, 2, 53, 80), 0, &mut emit);
    t.process(&tcp(1, 1000, 2, 80, ACK, 1), 0, &mut emit);
    t.expire(59 * NS, &mut emit);
    assert!(out.borrow().is_empty());
    t.expire(61 * NS, &mut emit);
    assert_eq!(out.borrow().len(), 1);
    assert_eq!(out.borrow()[0].protocol, IpProtocol::UDP);
    assert_eq!(out.borrow()[0].end_reason, EndReason::Idle);
    t.expire(301 * NS, &mut emit);
    assert_eq!(out.borrow().len(), 2);
    assert!(t.is_empty());
}

#[test]
fn active_timeout_splits_and_continues() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    for s in 0..400u64 {
        t.process(
            &pkt(IpProtocol::UDP, 1, 5000, 2, 9000, 100),
            s * NS,
            &mut emit,
        );
    }
    t.flush(&mut emit);
    assert_eq!(out.borrow().len(), 2);
    assert_eq!(out.borrow()[0].end_reason, EndReason::Active);
    assert_eq!(out.borrow()[0].c2s.packets, 300);
    assert_eq!(out.borrow()[1].c2s.packets, 100);
    assert_eq!(out.borrow()[1].first_ns, 300 * NS);
}

#[test]
fn full_table_evicts_least_recent_and_counts() {
    let mut t = small(16);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    for i in 0..16u16 {
        t.process(
            &pkt(IpProtocol::UDP, 1, 1000 + i, 2, 53, 80),
            i as u64,
            &mut emit,
        );
    }
    assert!(out.borrow().is_empty());
    // Touch flow 0 so it is recent.
    t.process(&pkt(IpProtocol::UDP, 1, 1000, 2, 53, 80), 100, &mut emit);
    t.process(&pkt(IpProtocol::UDP, 1, 2000, 2, 53, 80), 101, &mut emit);
    assert_eq!(out.borrow().len(), 1);
    assert_eq!(out.borrow()[0].end_reason, EndReason::Evicted);
    assert_ne!(out.borrow()[0].client_port, 1000);
    assert_eq!(t.counters().evicted, 1);
    assert_eq!(t.len(), 16);
}

#[test]
fn later_fragments_join_their_flow() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    let mut first = pkt(IpProtocol::UDP, 1, 5353, 2, 53, 1514);
    first.fragment = Fragment::First;
    first.ip_id = 42;
    let mut later = pkt(IpProtocol::UDP, 1, 0, 2, 0, 600);
    later.fragment = Fragment::Later;
    later.ip_id = 42;
    t.process(&first, 1, &mut emit);
    t.process(&later, 2, &mut emit);
    // A fragment of an unseen datagram goes to a port-0 flow.
    later.ip_id = 43;
    t.process(&later, 3, &mut emit);
    t.flush(&mut emit);
    assert_eq!(out.borrow().len(), 2);
    let main = *out.borrow().iter().find(|r| r.server_port == 53).unwrap();
    assert_eq!(main.c2s.packets, 2);
    assert_eq!(main.fragments, 1);
    assert_eq!(t.counters().fragments, 2);
}

#[test]
fn tcp_fragments_without_header_leave_tcp_statistics_alone() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    let mut first = tcp(1, 40000, 2, 80, ACK, 1000);
    first.payload_len = 1000;
    first.fragment = Fragment::First;
    first.ip_id = 7;
    // Later fragments: no TCP header (sequence and window read as 0).
    let mut later = pkt(IpProtocol::TCP, 1, 0, 2, 0, 600);
    later.fragment = Fragment::Later;
    later.ip_id = 7;
    t.process(&first, 1, &mut emit);
    t.process(&later, 2, &mut emit);
    t.process(&later, 3, &mut emit);
    // A first fragment cut inside the TCP header has no TCP fields either.
    let mut cut = pkt(IpProtocol::TCP, 1, 0, 2, 0, 50);
    cut.fragment = Fragment::First;
    cut.ip_id = 8;
    t.process(&cut, 4, &mut emit);
    t.flush(&mut emit);
    for r in out.borrow().iter() {
        assert_eq!(r.tcp_c2s.retrans_packets, 0, "{r:?}");
        assert_eq!(r.tcp_c2s.zero_window, 0, "{r:?}");
    }
    let main = *out.borrow().iter().find(|r| r.server_port == 80).unwrap();
    assert_eq!(main.c2s.packets, 3);
}

#[test]
fn icmp_echo_request_and_reply_meet() {
    let mut t = small(64);
    let out = RefCell::new(Vec::new());
    let mut emit = |r: &FlowRecord| out.borrow_mut().push(*r);
    let mut req = pkt(IpProtocol::ICMP, 1, 0, 2, 0, 98);
    req.icmp_type = 8;
    req.icmp_echo_id = 77;
    let mut rep = pkt(IpProtocol::ICMP, 2, 0, 1, 0, 98);
    rep.icmp_type = 0;
    rep.icmp_echo_id = 77;
    t.process(&req, 1, &mut emit);
    t.process(&rep, 2, &mut emit);
    t.flush(&mut emit);
    assert_eq!(out.borrow().len(), 1);
    assert_eq!(
        (out.borrow()[0].c2s.packets, out.borrow()[0].s2c.packets),
        (1, 1)
    );
    assert_eq!(out.borrow()[0].client_ip, v4(1));
    assert_eq!(out.borrow()[0].client_port, 77);
}

#[test]
fn steady_state_does_not_grow_buffers() {
    let mut t = small(1024);
    let mut emit = |_: &FlowRecord| {};
    for round in 0..20u64 {
        for i in 0..3000u16 {
            let m = pkt(IpProtocol::UDP, (i % 200) as u8, 1000 + i, 2, 53, 80);
            t.process(&m, round * 100 * NS + i as u64, &mut emit);
        }
        t.expire(round * 100 * NS + 90 * NS, &mut emit);
    }
    assert!(t.entries.capacity() == 1024 && t.free.capacity() == 1024);
}

proptest! {
    /// Under random churn (creates, updates, evictions, expiries) every
    /// packet is counted exactly once: live + emitted totals equal the
    /// packets processed per key, and lookups keep finding live flows.
    #[test]
    fn every_packet_counted_once(ops in proptest::collection::vec((0u8..40, 0u16..6, 0u8..3, 0u64..4), 1..600)) {
        let mut t = small(16);
        let mut emitted: HashMap<(u8, u16), u64> = HashMap::new();
        let mut sent: HashMap<(u8, u16), u64> = HashMap::new();
        let mut now = 0u64;
        for (host, port, what, dt) in ops {
            now += dt * 20 * NS;
            let m = pkt(IpProtocol::UDP, host, 1000 + port, 200, 53, 80);
            sent.entry((host, 1000 + port)).and_modify(|c| *c += 1).or_insert(1);
            let mut emit = |r: &FlowRecord| {
                *emitted.entry((r.client_ip[15], r.client_port)).or_insert(0) += r.c2s.packets;
            };
            t.process(&m, now, &mut emit);
            if what == 0 {
                t.expire(now, &mut emit);
            }
            prop_assert!(t.len() <= 16);
        }
        let mut emit = |r: &FlowRecord| {
            *emitted.entry((r.client_ip[15], r.client_port)).or_insert(0) += r.c2s.packets;
        };
        t.flush(&mut emit);
        prop_assert_eq!(sent, emitted);
        prop_assert!(t.is_empty());
        prop_assert!(t.index.iter().all(|&v| v == 0));
    }
}

#[test]
fn activity_reports_each_epochs_share_once_and_the_record_the_rest() {
    let mut t = small(16);
    let mut records = Vec::new();
    let mut emit = |r: &FlowRecord| records.push(*r);
    let mut acts = Vec::new();
    let a = pkt(IpProtocol::UDP, 1, 5000, 2, 53, 100);
    let b = pkt(IpProtocol::UDP, 2, 53, 1, 5000, 300);
    t.process(&a, 10, &mut emit);
    t.process(&b, 20, &mut emit);
    t.process(&a, 30, &mut emit);
    t.drain_activity(|x| acts.push(*x));
    assert_eq!(acts.len(), 1);
    let x = acts[0];
    assert_eq!(
        (x.c2s_packets, x.c2s_bytes, x.s2c_packets, x.s2c_bytes),
        (2, 200, 1, 300)
    );
    assert_ne!(x.flow_id, 0);
    // Nothing new: nothing reported.
    acts.clear();
    t.drain_activity(|x| acts.push(*x));
    assert!(acts.is_empty());
    // A second flow in the next epoch; the first sends once more, then ends.
    let c = pkt(IpProtocol::UDP, 3, 6000, 2, 53, 80);
    t.process(&c, 40, &mut emit);
    t.process(&b, 50, &mut emit);
    t.flush(&mut emit);
    t.drain_activity(|x| acts.push(*x));
    assert!(
        acts.is_empty(),
        "ended flows are accounted by their records"
    );
    let first = records.iter().find(|r| r.flow_id == x.flow_id).unwrap();
    assert_eq!((first.s2c.packets, first.s2c.bytes), (2, 600));
    assert_ne!(records[0].flow_id, records[1].flow_id);
}

#[test]
fn flow_ids_carry_the_worker_and_survive_active_splits() {
    let mut t = FlowTable::new(FlowConfig {
        capacity: 16,
        worker: 3,
        active_timeout_ns: 100,
        ..FlowConfig::default()
    });
    let mut records = Vec::new();
    let mut emit = |r: &FlowRecord| records.push(*r);
    let a = pkt(IpProtocol::UDP, 1, 5000, 2, 53, 100);
    t.process(&a, 10, &mut emit);
    t.process(&a, 200, &mut emit);
    t.flush(&mut emit);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].end_reason, EndReason::Active);
    assert_eq!(records[0].flow_id, records[1].flow_id);
    assert_eq!(records[0].flow_id >> 48, 3);
}

/// A flow to port 443 that fetches two segments, and the same exchange on
/// port 22: segments come from web ports only, the last one when its flow
/// ends, the first when the next request comes, and idle ones in the sweep.
#[test]
fn media_segments_on_web_ports() {
    const MS: u64 = 1_000_000;
    for port in [443u16, 22] {
        let mut t = small(64);
        let mut emit = |_: &FlowRecord| {};
        let mut segs = Vec::new();
        let data = |src: u8, sport: u16, dst: u8, dport: u16, payload: u32, seq: u32| {
            let mut m = tcp(src, sport, dst, dport, ACK, seq);
            m.payload_len = payload as u16;
            m.wire_len = 54 + payload;
            m
        };
        t.process(&tcp(1, 40000, 2, port, SYN, 1), MS, &mut emit);
        t.process(&tcp(2, port, 1, 40000, SYN | ACK, 9), 2 * MS, &mut emit);
        let mut seq = 10;
        let mut now = 10 * MS;
        for _ in 0..2 {
            t.process(&data(1, 40000, 2, port, 100, 2), now, &mut emit);
            for _ in 0..20 {
                now += MS;
                t.process(&data(2, port, 1, 40000, 1400, seq), now, &mut emit);
                seq += 1400;
            }
            now += 500 * MS;
        }
        t.drain_segments(|s| segs.push(*s));
        assert_eq!(segs.len(), usize::from(port == 443), "port {port}");
        t.flush(&mut emit);
        t.drain_segments(|s| segs.push(*s));
        if port == 443 {
            assert_eq!(segs.len(), 2);
            assert!(segs.iter().all(|s| s.bytes == 28_000 && s.packets == 20));
            assert_eq!(segs[1].request_ns, 530 * MS);
        } else {
            assert!(segs.is_empty());
        }
    }
    // Idle: the sweep closes a burst after 2 s without downstream payload.
    let mut t = small(64);
    let mut emit = |_: &FlowRecord| {};
    let mut m = tcp(1, 40001, 2, 443, ACK, 2);
    m.payload_len = 100;
    t.process(&m, MS, &mut emit);
    for i in 0..10 {
        let mut d = tcp(2, 443, 1, 40001, ACK, 100 + i * 1400);
        d.payload_len = 1400;
        t.process(&d, (2 + i as u64) * MS, &mut emit);
    }
    let mut segs = Vec::new();
    t.expire(1_000 * MS, &mut emit);
    t.drain_segments(|s| segs.push(*s));
    assert!(segs.is_empty());
    t.expire(2_100 * MS, &mut emit);
    t.expire(3_200 * MS, &mut emit);
    t.drain_segments(|s| segs.push(*s));
    assert_eq!(segs.len(), 1);
    assert_eq!(t.len(), 1, "the flow itself goes on");
    assert_eq!(t.segments_dropped(), 0);
}
