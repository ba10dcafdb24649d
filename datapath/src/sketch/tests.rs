//! Tests of the sketch set as a whole: filters, the merged state and its
//! binary form, the merge laws, scans and windowing.

use super::state::{ScanKind, FORMAT_VERSION};
use super::*;
use crate::wire::TcpFlags;
const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
use proptest::prelude::*;
use std::collections::HashMap;

/// A packet from a flow's client that started the flow, and a reply.
const C2S: Seen = Seen {
    c2s: true,
    new_flow: true,
    slot: 0,
};
const S2C: Seen = Seen {
    c2s: false,
    new_flow: false,
    slot: 0,
};

fn seen(c2s: bool) -> Seen {
    if c2s {
        C2S
    } else {
        S2C
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> [u8; 16] {
    std::net::Ipv4Addr::new(a, b, c, d)
        .to_ipv6_mapped()
        .octets()
}

fn pkt(
    proto: IpProtocol,
    src: [u8; 16],
    sport: u16,
    dst: [u8; 16],
    dport: u16,
    len: u32,
) -> PacketMeta {
    PacketMeta {
        wire_len: len,
        cap_len: len,
        ip_version: 4,
        protocol: proto,
        src_ip: src,
        dst_ip: dst,
        src_port: sport,
        dst_port: dport,
        ..Default::default()
    }
}

fn syn(src: [u8; 16], dst: [u8; 16], dport: u16) -> PacketMeta {
    let mut m = pkt(IpProtocol::TCP, src, 40000, dst, dport, 60);
    m.tcp_flags = SYN;
    m
}

fn plan(counters: Vec<CounterSpec>, conservative: bool) -> Arc<SketchPlan> {
    plan_k(counters, conservative, 10)
}

fn plan_k(counters: Vec<CounterSpec>, conservative: bool, top_k: usize) -> Arc<SketchPlan> {
    Arc::new(SketchPlan {
        generation: 0,
        params: SketchParams {
            error: 0.01,
            confidence: 0.95,
            top_k,
            conservative,
            scan_width: 128,
            port_scan_threshold: 100,
            host_scan_threshold: 50,
            ..SketchParams::default()
        },
        counters,
    })
}

#[test]
fn counters_follow_their_filters_and_increments() {
    let specs = vec![
        CounterSpec {
            protocol: ProtoFilter::Tcp,
            ..CounterSpec::new("tcp_src_pk", KeyType::Src, Increment::Packets)
        },
        CounterSpec {
            protocol: ProtoFilter::Udp,
            ..CounterSpec::new("udp_dst_by", KeyType::Dst, Increment::Bytes)
        },
        CounterSpec {
            direction: Direction::ServerToClient,
            ..CounterSpec::new("s2c_pairs", KeyType::SrcDst, Increment::Packets)
        },
        CounterSpec {
            protocol: ProtoFilter::Icmp,
            ..CounterSpec::new("icmp", KeyType::Src, Increment::Packets)
        },
    ];
    let p = plan(specs, true);
    let mut sk = Sketches::new(p.clone());
    let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
    for _ in 0..5 {
        sk.update(&pkt(IpProtocol::TCP, a, 1000, b, 80, 100), C2S);
    }
    for _ in 0..3 {
        sk.update(&pkt(IpProtocol::TCP, b, 80, a, 1000, 1500), S2C);
    }
    sk.update(&pkt(IpProtocol::UDP, a, 5353, b, 53, 80), C2S);
    sk.update(&pkt(IpProtocol::UDP, b, 53, a, 5353, 300), S2C);
    let mut icmp6 = pkt(IpProtocol::ICMPV6, a, 0, b, 0, 90);
    icmp6.ip_version = 6;
    sk.update(&icmp6, C2S);
    let totals: Vec<u64> = sk.counters.iter().map(|c| c.total).collect();
    assert_eq!(totals, vec![8, 380, 4, 1]);

    let mut st = SketchState::new(&p.params);
    st.absorb(0, 10, &mut sk);
    assert!(sk.is_empty());
    let hh = st.heavy_hitters(10, 1);
    let get = |name: &str| -> Vec<(SketchKey, u64)> {
        hh.iter()
            .filter(|h| h.counter.name == name)
            .map(|h| (h.key, h.estimate))
            .collect()
    };
    let tcp = get("tcp_src_pk");
    assert_eq!(tcp.len(), 2);
    assert_eq!(tcp[0].0.src_ip, a);
    assert_eq!(tcp[0].1, 5);
    assert_eq!(tcp[1].1, 3);
    let udp = get("udp_dst_by");
    assert_eq!(udp[0].0.dst_ip, a);
    assert_eq!(udp[0].1, 300);
    let s2c = get("s2c_pairs");
    assert_eq!(s2c.len(), 1, "only server-to-client packets: {s2c:?}");
    assert_eq!((s2c[0].0.src_ip, s2c[0].0.dst_ip, s2c[0].1), (b, a, 4));
    let icmp = get("icmp");
    assert_eq!((icmp[0].0.ip_version, icmp[0].1), (6, 1));
    // Ranks start at 1; the error bound is ⌈ε·total⌉.
    let first = hh.iter().find(|h| h.counter.name == "udp_dst_by").unwrap();
    assert_eq!(first.rank, 1);
    assert_eq!(first.total, 380);
    assert_eq!(
        first.error_bound,
        (380.0 * std::f64::consts::E / 272.0_f64).ceil() as u64
    );
}

/// A random stream of packets over a small key space.
fn stream() -> impl Strategy<Value = Vec<Pkt>> {
    proptest::collection::vec(
        (
            0u8..3, // protocol: tcp, udp, icmp
            0u8..4, // source host
            0u8..4, // destination host
            prop_oneof![Just(80u16), Just(443), Just(53), 1000u16..1004],
            60u16..1500,   // length
            any::<bool>(), // direction
        ),
        0..300,
    )
}

/// A generated packet: protocol (tcp, udp, icmp), source and destination
/// host, destination port, length, from the client.
type Pkt = (u8, u8, u8, u16, u16, bool);

fn meta_of(&(proto, src, dst, port, len, c2s): &Pkt) -> PacketMeta {
    let proto = [IpProtocol::TCP, IpProtocol::UDP, IpProtocol::ICMP][proto as usize];
    let mut m = pkt(
        proto,
        v4(10, 0, 0, src),
        40000,
        v4(10, 0, 1, dst),
        port,
        len as u32,
    );
    if proto == IpProtocol::TCP {
        m.tcp_flags = if c2s { SYN } else { SYN | ACK };
    }
    if proto == IpProtocol::ICMP {
        m.icmp_type = 8;
    }
    m
}

/// Exact per-key sums of `spec` over the streams.
fn exact(spec: &CounterSpec, parts: &[&[Pkt]]) -> HashMap<SketchKey, u64> {
    let mut out = HashMap::new();
    for part in parts {
        for t in part.iter() {
            let m = meta_of(t);
            if spec.protocol.matches(m.protocol) && spec.direction.matches(t.5) {
                let inc = if spec.increment == Increment::Bytes {
                    m.wire_len as u64
                } else {
                    1
                };
                *out.entry(spec.key.key(&m)).or_default() += inc;
            }
        }
    }
    out
}

fn feed(sk: &mut Sketches, s: &[Pkt]) {
    for t in s {
        let (port, len, c2s) = (t.3, t.4, t.5);
        sk.update(&meta_of(t), seen(c2s));
        let mut r = crate::epoch::FlowRecord::default();
        r.c2s.packets = 1 + port as u64 % 7;
        r.c2s.bytes = len as u64;
        sk.record_flow(&r);
    }
}

fn all_key_types() -> Vec<CounterSpec> {
    KeyType::ALL
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            CounterSpec::new(
                &format!("c{i}"),
                k,
                if i % 2 == 0 {
                    Increment::Bytes
                } else {
                    Increment::Packets
                },
            )
        })
        .collect()
}

fn state_of(p: &Arc<SketchPlan>, parts: &[&[Pkt]]) -> SketchState {
    let mut st = SketchState::new(&p.params);
    let mut sk = Sketches::new(p.clone());
    for part in parts {
        feed(&mut sk, part);
    }
    st.absorb(1_000, 2_000, &mut sk);
    st
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// merge(serialize(a), serialize(b)) equals the state built on the
    /// union of the streams. With plain count-min updates that holds for
    /// every part, bit for bit. With conservative update the count-min
    /// tables are the one part that differs (see `countmin`): their sum
    /// stays at or above the truth and at or below plain count-min on the
    /// union, so the reported top keys agree whenever the union's are
    /// well separated.
    #[test]
    fn merge_of_serialized_states_equals_the_union(a in stream(), b in stream()) {
        for conservative in [false, true] {
            // Candidates kept (2 × top_k) exceed the keys of the streams
            // (at most 4 × 4 × 7 × 3 five-tuples), so every key is one.
            let p = plan_k(all_key_types(), conservative, 200);
            let sa = state_of(&p, &[&a]);
            let sb = state_of(&p, &[&b]);
            let union = state_of(&p, &[&a, &b]);
            let merged = SketchState::decode(&merge_encoded(&sa.encode(), &sb.encode()).unwrap()).unwrap();
            prop_assert_eq!(merged.snapshots, 2);
            prop_assert_eq!(&merged.ports, &union.ports);
            prop_assert_eq!(&merged.hosts, &union.hosts);
            prop_assert_eq!(&merged.flow_sizes, &union.flow_sizes);
            for uc in &union.counters {
                let mc = merged.counters.iter().find(|c| c.spec == uc.spec).unwrap();
                prop_assert_eq!(mc.total, uc.total);
                // Few keys: every key is a candidate on both sides.
                prop_assert_eq!(&mc.candidates, &uc.candidates);
                if conservative {
                    let plain = state_of(&plan_k(all_key_types(), false, 200), &[&a, &b]);
                    let pc = plain.counters.iter().find(|c| c.spec == uc.spec).unwrap();
                    for (k, t) in exact(&uc.spec, &[&a, &b]) {
                        let h = k.hash(SEED);
                        prop_assert!(mc.cm.estimate(h) >= t);
                        prop_assert!(mc.cm.estimate(h) <= pc.cm.estimate(h));
                    }
                } else {
                    prop_assert_eq!(&mc.cm, &uc.cm);
                }
            }
            if !conservative {
                let mut u = union.clone();
                u.snapshots = 2;
                prop_assert_eq!(&merged, &u);
            }
        }
    }

    #[test]
    fn binary_form_round_trips(a in stream()) {
        let st = state_of(&plan(all_key_types(), true), &[&a]);
        let bytes = st.encode();
        prop_assert_eq!(&SketchState::decode(&bytes).unwrap(), &st);
        prop_assert_eq!(SketchState::decode(&bytes).unwrap().encode(), bytes);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = SketchState::decode(&bytes);
        let mut framed = b"TSSK\x01\x00".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = SketchState::decode(&framed);
    }

    #[test]
    fn decoding_damaged_states_never_panics(a in stream(), cut in any::<prop::sample::Index>(),
                                            flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let bytes = state_of(&plan(all_key_types(), true), &[&a]).encode();
        let n = cut.index(bytes.len());
        prop_assert!(SketchState::decode(&bytes[..n]).is_err());
        let mut bad = bytes.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1 << bit;
        let _ = SketchState::decode(&bad);
    }
}

/// The invariant holds by design but a property test is the place to see
/// it fail loudly: conservative estimates of the merged state never fall
/// below the exact counts.
#[test]
fn merged_conservative_estimates_never_under_estimate() {
    let p = plan(all_key_types(), true);
    let mut st = SketchState::new(&p.params);
    let mut exact: Vec<HashMap<SketchKey, u64>> = vec![HashMap::new(); KeyType::ALL.len()];
    for w in 0..4u64 {
        let mut sk = Sketches::new(p.clone());
        for i in 0..3000u64 {
            let r = key::mix64(i ^ w << 40);
            let m = pkt(
                IpProtocol::UDP,
                v4(10, 0, (r % 3) as u8, (r >> 8) as u8 % 50),
                (r >> 16) as u16 % 4,
                v4(10, 1, 0, (r >> 24) as u8 % 70),
                (r >> 32) as u16 % 9,
                60 + (r >> 40) as u32 % 1400,
            );
            sk.update(&m, C2S);
            for (j, spec) in p.counters.iter().enumerate() {
                let inc = if spec.increment == Increment::Bytes {
                    m.wire_len as u64
                } else {
                    1
                };
                *exact[j].entry(spec.key.key(&m)).or_default() += inc;
            }
        }
        st.absorb(0, 1, &mut sk);
    }
    for (j, c) in st.counters.iter().enumerate() {
        for (k, &t) in &exact[j] {
            assert!(c.cm.estimate(k.hash(SEED)) >= t);
        }
        assert_eq!(c.total, exact[j].values().sum::<u64>());
    }
}

#[test]
fn bad_states_are_refused_with_a_reason() {
    let st = state_of(&plan(all_key_types(), true), &[&[(0, 1, 2, 80, 100, true)]]);
    let good = st.encode();
    assert_eq!(SketchState::decode(b"nope"), Err(CodecError::Magic));
    let mut v2 = good.clone();
    v2[4] = 2;
    assert_eq!(SketchState::decode(&v2), Err(CodecError::Version(2)));
    assert_eq!(FORMAT_VERSION, 1);
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        SketchState::decode(&trailing),
        Err(CodecError::Malformed(_))
    ));
    // States of different shapes do not merge.
    let other = state_of(
        &Arc::new(SketchPlan {
            params: SketchParams {
                error: 0.002,
                ..p_params()
            },
            ..SketchPlan::default()
        }),
        &[],
    );
    assert!(matches!(
        merge_encoded(&good, &other.encode()),
        Err(CodecError::Incompatible(_))
    ));
}

fn p_params() -> SketchParams {
    plan(vec![], true).params.clone()
}

#[test]
fn plan_validation() {
    let p = SketchPlan::default();
    assert_eq!(p.validate(), Ok(()));
    let dup = vec![
        CounterSpec::new("a", KeyType::Src, Increment::Bytes),
        CounterSpec::new("a", KeyType::Dst, Increment::Bytes),
    ];
    assert_eq!(
        p.with_counters(dup),
        Err(PlanError::DuplicateName("a".into()))
    );
    assert!(matches!(
        p.with_counters(vec![CounterSpec::new(
            "a b",
            KeyType::Src,
            Increment::Bytes
        )]),
        Err(PlanError::BadName(_))
    ));
    let many = (0..17)
        .map(|i| CounterSpec::new(&format!("c{i}"), KeyType::Src, Increment::Bytes))
        .collect();
    assert_eq!(p.with_counters(many), Err(PlanError::TooManyCounters));
    let next = p.with_counters(vec![]).unwrap();
    assert_eq!(next.generation, 1);
    assert!(next.is_active(), "scans and flow sizes stay on");
    assert!(!SketchPlan::disabled().is_active());
}

/// Scans, as the workers see them split by flow (each SYN to a new port is
/// a new flow, so with two workers each sees about half): one source
/// probes 1000 ports of one host, another one port on 500 hosts; normal
/// connections and their replies do not count.
#[test]
fn scans_are_found_across_workers_and_normal_traffic_is_not() {
    let p = plan(CounterSpec::defaults(), true);
    let mut workers = [Sketches::new(p.clone()), Sketches::new(p.clone())];
    let (port_scanner, host_scanner) = (v4(192, 168, 7, 7), v4(192, 168, 8, 8));
    let victim = v4(10, 0, 0, 1);
    for port in 1..=1000u16 {
        workers[port as usize % 2].update(&syn(port_scanner, victim, port), C2S);
    }
    for h in 0..500u32 {
        let dst = v4(10, 1, (h >> 8) as u8, h as u8);
        workers[h as usize % 2].update(&syn(host_scanner, dst, 22), C2S);
    }
    // Normal traffic: 200 clients, each a few connections to a few
    // servers, with SYN/ACKs and data back (not probes); a DNS server
    // answering 300 clients on random ports (replies are not probes).
    for c in 0..200u32 {
        let client = v4(172, 16, (c >> 8) as u8, c as u8);
        for s in 0..4u8 {
            let server = v4(93, 184, 0, s + (c % 7) as u8);
            let w = &mut workers[(c as usize + s as usize) % 2];
            w.update(&syn(client, server, 443), C2S);
            let mut synack = pkt(IpProtocol::TCP, server, 443, client, 40000, 60);
            synack.tcp_flags = SYN | ACK;
            w.update(&synack, S2C);
            let mut data = pkt(IpProtocol::TCP, server, 443, client, 40000, 1500);
            data.tcp_flags = ACK;
            w.update(&data, S2C);
        }
    }
    let dns = v4(10, 0, 0, 53);
    for c in 0..300u32 {
        let client = v4(172, 17, (c >> 8) as u8, c as u8);
        workers[c as usize % 2].update(
            &pkt(IpProtocol::UDP, client, 30000 + c as u16, dns, 53, 80),
            C2S,
        );
        workers[c as usize % 2].update(
            &pkt(IpProtocol::UDP, dns, 53, client, 30000 + c as u16, 200),
            S2C,
        );
    }
    let mut st = SketchState::new(&p.params);
    for w in &mut workers {
        st.absorb(0, 1, w);
    }
    let scans = st.scans(100, 50, 2);
    let found: Vec<(ScanKind, [u8; 16], u64)> = scans
        .iter()
        .map(|s| (s.kind, s.src_ip, s.distinct))
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].0, found[0].1), (ScanKind::Port, port_scanner));
    assert!((found[0].2 as f64 - 1000.0).abs() < 150.0, "{found:?}");
    assert_eq!((found[1].0, found[1].1), (ScanKind::Host, host_scanner));
    assert!((found[1].2 as f64 - 500.0).abs() < 75.0, "{found:?}");
    for s in &scans {
        assert!(s.relative_error > 0.0 && s.relative_error < 0.1);
        assert!(!s.saturated);
    }
}

#[test]
fn windows_wait_for_every_worker_and_merge_epochs() {
    const S: u64 = 1_000_000_000;
    let p = Arc::new(SketchPlan {
        params: SketchParams {
            window_ns: 2 * S,
            ..p_params()
        },
        ..SketchPlan::default()
    });
    let mut m = WindowMerger::new(p.params.clone(), 2);
    let mut out = Vec::new();
    let a = v4(10, 0, 0, 1);
    let traffic = |n: u64| {
        let mut sk = Sketches::new(p.clone());
        for _ in 0..n {
            sk.update(&pkt(IpProtocol::TCP, a, 1, a, 80, 100), C2S);
        }
        sk
    };
    // Window [10 s, 12 s): worker 0's two epochs and worker 1's one.
    m.absorb(0, 10 * S, 11 * S, Some(&mut traffic(3)));
    m.absorb(0, 11 * S, 12 * S, Some(&mut traffic(4)));
    m.ready(&mut out);
    assert!(out.is_empty(), "worker 1 has not moved past the window");
    m.absorb(1, 10 * S, 11 * S, Some(&mut traffic(5)));
    m.ready(&mut out);
    assert!(out.is_empty());
    // An idle epoch (no sketch) moves worker 1's watermark.
    m.absorb(1, 12 * S, 13 * S, None);
    m.ready(&mut out);
    assert_eq!(out.len(), 1);
    let w = &out[0];
    assert_eq!(
        (w.start_ns, w.end_ns, w.workers, w.forced),
        (10 * S, 12 * S, 2, false)
    );
    let src = w
        .heavy_hitters
        .iter()
        .find(|h| h.counter.name == "src_bytes")
        .unwrap();
    assert_eq!((src.estimate, src.total, src.rank), (1200, 1200, 1));
    assert!(w.flow_sizes.is_empty());
    let state = SketchState::decode(w.state.as_ref().unwrap()).unwrap();
    assert_eq!(
        (state.start_ns, state.end_ns, state.snapshots),
        (10 * S, 12 * S, 3)
    );
    // A snapshot for a reported window is late and dropped.
    let mut late = traffic(1);
    m.absorb(1, 11 * S, 12 * S, Some(&mut late));
    assert_eq!(m.late(), 1);
    assert!(late.is_empty());
    // A stalled worker holds at most MAX_PENDING windows.
    out.clear();
    for i in 0..(window::MAX_PENDING as u64 + 3) {
        m.absorb(0, (20 + 2 * i) * S, (21 + 2 * i) * S, Some(&mut traffic(1)));
    }
    m.ready(&mut out);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|w| w.forced && w.workers == 1));
    assert_eq!(m.pending(), window::MAX_PENDING);
    m.finish(1);
    m.finish(0);
    out.clear();
    m.flush(&mut out);
    assert_eq!(out.len(), window::MAX_PENDING);
    assert!(out.iter().all(|w| !w.forced));
    assert_eq!(m.windows(), 1 + 3 + window::MAX_PENDING as u64);
}

#[test]
fn sampling_follows_the_rate() {
    let p = Arc::new(SketchPlan {
        params: SketchParams {
            sample_above_updates: 1_000_000,
            ..p_params()
        },
        ..SketchPlan::default()
    });
    let mut sk = Sketches::new(p);
    const S: u64 = 1_000_000_000;
    sk.sample_for_rate(1_000_000, S);
    assert_eq!(sk.sample_shift(), 0);
    sk.sample_for_rate(1_000_001, S);
    assert_eq!(sk.sample_shift(), 1);
    sk.sample_for_rate(5_000_000, S);
    assert_eq!(sk.sample_shift(), 3);
    sk.sample_for_rate(2_500_000, S / 2);
    assert_eq!(sk.sample_shift(), 3, "5 Mpps over half a second");
    sk.sample_for_rate(u64::MAX / 2, S);
    assert_eq!(sk.sample_shift(), MAX_SAMPLE_SHIFT);
    sk.sample_for_rate(10, S);
    assert_eq!(sk.sample_shift(), 0);
    let mut never = Sketches::new(Arc::new(SketchPlan {
        params: SketchParams {
            sample_above_updates: 0,
            ..p_params()
        },
        ..SketchPlan::default()
    }));
    never.sample_for_rate(100_000_000, S);
    assert_eq!(never.sample_shift(), 0);
}

/// Packet sampling one in 8: totals stay exact, estimates are unbiased
/// (their mean over independent trials is within a few standard errors
/// of the truth), and the reported error bound covers the truth at the
/// sketch's confidence, allowing for the union of its two terms.
#[test]
fn sampled_estimates_are_unbiased_and_within_their_bound() {
    let p = plan(
        vec![
            CounterSpec::new("pk", KeyType::Src, Increment::Packets),
            CounterSpec::new("by", KeyType::Src, Increment::Bytes),
        ],
        true,
    );
    // 10 heavy sources (2000 .. 200 packets), 400 light ones (1 .. 5).
    let mut packets = Vec::new();
    for k in 0..10u32 {
        for i in 0..(2000 - 200 * k) {
            packets.push((k, 60 + (i * 37 + k) % 1400));
        }
    }
    for k in 10..410u32 {
        for i in 0..(1 + k % 5) {
            packets.push((k, 60 + i * 100));
        }
    }
    // A fixed interleaving.
    let mut order: Vec<usize> = (0..packets.len()).collect();
    order.sort_by_key(|&i| key::mix64(i as u64));
    let mut exact: [HashMap<SketchKey, u64>; 2] = [HashMap::new(), HashMap::new()];
    for &(k, len) in &packets {
        let m = pkt(
            IpProtocol::TCP,
            v4(10, 9, (k >> 8) as u8, k as u8),
            1,
            v4(1, 1, 1, 1),
            80,
            len,
        );
        let key = KeyType::Src.key(&m);
        *exact[0].entry(key).or_default() += 1;
        *exact[1].entry(key).or_default() += len as u64;
    }
    let trials = 200;
    let (mut checked, mut outside) = (0u64, 0u64);
    let mut sum_heaviest = [0f64; 2];
    for _ in 0..trials {
        let mut sk = Sketches::new(p.clone());
        sk.set_sample_shift(3);
        for &i in &order {
            let (k, len) = packets[i];
            let m = pkt(
                IpProtocol::TCP,
                v4(10, 9, (k >> 8) as u8, k as u8),
                1,
                v4(1, 1, 1, 1),
                80,
                len,
            );
            sk.update(&m, S2C);
        }
        let mut st = SketchState::new(&p.params);
        st.absorb(0, 1, &mut sk);
        for (j, c) in st.counters.iter().enumerate() {
            assert_eq!(c.total, exact[j].values().sum::<u64>(), "totals stay exact");
            assert_eq!(c.max_shift, 3);
            let heaviest = KeyType::Src.key(&pkt(
                IpProtocol::TCP,
                v4(10, 9, 0, 0),
                1,
                v4(1, 1, 1, 1),
                80,
                60,
            ));
            sum_heaviest[j] += c.cm.estimate(heaviest.hash(SEED)) as f64;
        }
        for h in st.heavy_hitters(10, 1) {
            let j = (h.counter.name == "by") as usize;
            let truth = exact[j][&h.key];
            assert_eq!(h.sampling, 8);
            checked += 1;
            if h.estimate.abs_diff(truth) > h.error_bound {
                outside += 1;
            }
        }
    }
    // δ = e^-3 at depth 3; two terms, each at that confidence.
    let delta = (-3f64).exp();
    assert!(
        (outside as f64) <= 2.0 * delta * checked as f64,
        "{outside} of {checked} estimates outside their bound"
    );
    let heaviest_pk = 2000.0;
    let heaviest_by: f64 = exact[1][&KeyType::Src.key(&pkt(
        IpProtocol::TCP,
        v4(10, 9, 0, 0),
        1,
        v4(1, 1, 1, 1),
        80,
        60,
    ))] as f64;
    for (j, truth) in [(0, heaviest_pk), (1, heaviest_by)] {
        let mean = sum_heaviest[j] / trials as f64;
        // Count-min adds a small positive bias (collisions); sampling none.
        // Standard error of the mean: √(7·Σinc²)/√trials.
        let se = (7.0 * truth * if j == 0 { 1.0 } else { 1460.0 }).sqrt() / (trials as f64).sqrt();
        assert!(
            (mean - truth).abs() <= 4.0 * se + 0.01 * truth,
            "counter {j}: mean estimate {mean} vs {truth} (se {se})"
        );
    }
}

/// A generated packet as a flow table sees it: replies (`c2s` false) go
/// from the server back to the client; ICMP packets carry no ports.
fn flow_packet(t: &Pkt) -> PacketMeta {
    let mut m = meta_of(t);
    if m.protocol == IpProtocol::ICMP {
        (m.src_port, m.dst_port) = (0, 0);
        m.icmp_echo_id = 7;
    }
    if !t.5 {
        std::mem::swap(&mut m.src_ip, &mut m.dst_ip);
        std::mem::swap(&mut m.src_port, &mut m.dst_port);
        if m.protocol == IpProtocol::ICMP {
            m.icmp_type = 0;
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The worker's way — a flow table's sums, one update per flow,
    /// direction and epoch, the rest when a flow ends — counts exactly what
    /// updating on every packet counts: with plain count-min the tables and
    /// totals are identical; with conservative update every estimate stays
    /// at or above the exact per-packet count.
    #[test]
    fn per_flow_updates_count_what_per_packet_updates_count(
        a in stream(),
        epoch_every in 1usize..60,
        active_timeout in prop_oneof![Just(u64::MAX), 5_000u64..50_000],
    ) {
        use crate::flow::{FlowConfig, FlowTable};
        for conservative in [false, true] {
            let p = plan_k(all_key_types(), conservative, 200);
            let cfg = FlowConfig {
                active_timeout_ns: active_timeout,
                // Small, so that flows are evicted too.
                capacity: 16,
                ..FlowConfig::default()
            };
            let (mut ta, mut tb) = (FlowTable::new(cfg), FlowTable::new(cfg));
            let mut per_packet = Sketches::new(p.clone());
            let mut per_flow = Sketches::new(p.clone());
            let mut exact: Vec<HashMap<SketchKey, u64>> = vec![HashMap::new(); p.counters.len()];
            // As the worker does: records and activity gathered in buffers,
            // counted in one pass each (alternately one by one, to check
            // both ways in).
            let (mut ends, mut acts) = (Vec::new(), Vec::new());
            let flush = |sk: &mut Sketches, ends: &mut Vec<_>, acts: &mut Vec<_>, batch: bool| {
                if batch {
                    sk.add_flow_ends(ends);
                    sk.add_activities(acts);
                } else {
                    for r in ends.iter() {
                        sk.add_flow_end(r);
                    }
                    for x in acts.iter() {
                        sk.add_activity(x);
                    }
                }
                ends.clear();
                acts.clear();
            };
            for (i, t) in a.iter().enumerate() {
                let m = flow_packet(t);
                let now = 1_000 * (i as u64 + 1);
                if i % epoch_every == 0 {
                    tb.drain_activity(|x| acts.push(*x));
                    flush(&mut per_flow, &mut ends, &mut acts, i % 2 == 0);
                }
                let seen = ta.process(&m, now, &mut |_| {});
                per_packet.update(&m, seen);
                let seen_b = tb.process(&m, now, &mut |r| ends.push(*r));
                prop_assert_eq!(seen.c2s, seen_b.c2s);
                per_flow.probe_packet(&m, seen_b);
                for (j, spec) in p.counters.iter().enumerate() {
                    let inc = if spec.increment == Increment::Bytes { m.wire_len as u64 } else { 1 };
                    *exact[j].entry(spec.key.key(&m)).or_default() += inc;
                }
            }
            tb.drain_activity(|x| acts.push(*x));
            tb.flush(&mut |r| ends.push(*r));
            flush(&mut per_flow, &mut ends, &mut acts, true);
            for (j, (x, y)) in per_packet.counters.iter().zip(per_flow.counters.iter()).enumerate() {
                prop_assert_eq!(x.total, y.total);
                if !conservative {
                    prop_assert_eq!(x.cm.cells(), y.cm.cells());
                }
                for (k, &truth) in &exact[j] {
                    prop_assert!(y.cm.estimate(k.hash(SEED)) >= truth);
                }
            }
            prop_assert_eq!(per_packet.probes, per_flow.probes);
        }
    }
}
