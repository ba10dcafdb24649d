use super::*;
use datapath::epoch::TcpDirStats;
use proptest::prelude::*;

/// The nearest-rank `q` quantile of `sorted`: the value at rank
/// ceil(q * n) (at least 1).
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

#[test]
fn quantiles_are_exact_below_two_milliseconds() {
    let mut r = Rtts::default();
    // 1 µs to 1 ms, shuffled by a stride: kept exactly (below 2,048 µs).
    for k in 0..1_000u64 {
        r.record((k * 7 % 1_000 + 1) * 1_000);
    }
    assert_eq!(r.count(), 1_000);
    assert_eq!(r.quantile_us(0.5), Some(500));
    assert_eq!(r.quantile_us(0.9), Some(900));
    assert_eq!(r.quantile_us(0.99), Some(990));
    assert_eq!(r.quantile_us(1.0), Some(1_000));
    let d = r.distribution(true);
    assert_eq!(
        (d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
        (Some(0.5), Some(0.9), Some(0.99), Some(1.0))
    );
    // The sum is exact: 1 + 2 + ... + 1000 µs.
    assert_eq!(d.sum_ms, 500_500.0 / 1e3);
}

#[test]
fn quantiles_of_a_small_known_set() {
    let mut r = Rtts::default();
    for ms in [12, 3, 45, 7, 30] {
        r.record(ms * 1_000_000);
    }
    // Sorted: 3, 7, 12, 30, 45 ms. Ranks: p50 -> 3rd, p90 and p99 -> 5th.
    let d = r.distribution(false);
    about(d.p50_ms, 12.0);
    about(d.p90_ms, 45.0);
    about(d.p99_ms, 45.0);
    about(d.max_ms, 45.0);
    assert_eq!(d.count, 5);
    assert_eq!(d.sum_ms, 97.0);
    assert!(d.buckets.is_empty());
}

#[test]
fn an_empty_distribution_has_no_quantiles() {
    let d = Rtts::default().distribution(true);
    assert_eq!(d.count, 0);
    assert_eq!((d.p50_ms, d.p99_ms, d.max_ms), (None, None, None));
    assert_eq!(d.buckets.len(), RTT_BUCKETS_MS.len());
    assert!(d.buckets.iter().all(|b| b.count == 0));
}

#[test]
fn buckets_count_exactly_at_their_bounds() {
    let mut r = Rtts::default();
    r.record(500_000); // 0.5 ms: in le=0.5.
    r.record(500_001); // just above: le=1.
    r.record(25_000_000); // 25 ms: le=25.
    r.record(25_000_001); // le=50.
    r.record(11_000_000_000); // 11 s: above every bound (+Inf only).
    let d = r.distribution(true);
    let at = |le: f64| d.buckets.iter().find(|b| b.le_ms == le).unwrap().count;
    assert_eq!(at(0.5), 1);
    assert_eq!(at(1.0), 2);
    assert_eq!(at(10.0), 2);
    assert_eq!(at(25.0), 3);
    assert_eq!(at(50.0), 4);
    assert_eq!(at(10_000.0), 4);
    assert_eq!(d.count, 5);
    let le: Vec<f64> = d.buckets.iter().map(|b| b.le_ms).collect();
    assert_eq!(le, RTT_BUCKETS_MS);
}

#[test]
fn times_beyond_a_minute_count_as_a_minute() {
    let mut r = Rtts::default();
    r.record(90_000_000_000);
    let max = r.distribution(false).max_ms.unwrap();
    assert!((60_000.0..=60_060.0).contains(&max), "{max}");
    assert_eq!(r.count(), 1);
}

proptest! {
    #[test]
    fn quantiles_are_within_a_thousandth_above_the_exact_ones(
        us in proptest::collection::vec(1u64..5_000_000, 1..400),
        q in prop_oneof![Just(0.5), Just(0.9), Just(0.99), Just(1.0), 0.0f64..1.0],
    ) {
        let mut r = Rtts::default();
        for &v in &us {
            r.record(v * 1_000);
        }
        let mut sorted = us.clone();
        sorted.sort_unstable();
        let exact = nearest_rank(&sorted, q);
        let got = r.quantile_us(q).unwrap();
        prop_assert!(got >= exact, "{} < {}", got, exact);
        prop_assert!(got as f64 <= exact as f64 * 1.001 + 1.0, "{} vs {}", got, exact);
    }
}

/// `got` is `exact` or at most 0.1 % above it.
fn about(got: Option<f64>, exact: f64) {
    let g = got.expect("a value");
    assert!(g >= exact && g <= exact * 1.001, "{g} vs {exact}");
}

/// A TCP record with the client's SYN, ending at `end_s` seconds.
fn tcp(syn_ms: u64, ack_ms: u64, end_s: u64) -> FlowRecord {
    FlowRecord {
        protocol: IpProtocol::TCP,
        last_ns: end_s * 1_000_000_000,
        tcp_c2s: TcpDirStats {
            syn: 1,
            ..TcpDirStats::default()
        },
        rtt_syn_synack_ns: syn_ms * 1_000_000,
        rtt_synack_ack_ns: ack_ms * 1_000_000,
        ..FlowRecord::default()
    }
}

#[test]
fn each_handshake_counts_once_and_only_tcp() {
    let mut h = HandshakeRtts::default();
    h.record(&tcp(20, 1, 100));
    // Only the server side measured (the handshake's ACK was not seen).
    h.record(&tcp(30, 0, 100));
    // Only the client side (the SYN was not seen before the SYN/ACK).
    h.record(&tcp(0, 2, 100));
    // The record of an active-timeout split: no SYN of its own.
    let mut split = tcp(20, 1, 400);
    split.tcp_c2s.syn = 0;
    h.record(&split);
    // Not TCP.
    let mut udp = tcp(20, 1, 100);
    udp.protocol = IpProtocol::UDP;
    h.record(&udp);
    let s = h.status();
    assert_eq!(s.handshake.count, 1);
    about(s.handshake.p50_ms, 21.0);
    assert_eq!(s.server_side.count, 2);
    assert_eq!(s.client_side.count, 2);
    assert_eq!(s.client_side.max_ms, Some(2.0));
    assert_eq!(s.recent.count, 1);
    assert_eq!(s.recent_window_s, 60);
    assert!(s.recent.buckets.is_empty());
    assert_eq!(s.handshake.buckets.len(), RTT_BUCKETS_MS.len());
}

#[test]
fn the_recent_window_keeps_the_last_minute_of_packet_time() {
    let mut h = HandshakeRtts::default();
    h.record(&tcp(100, 0, 1_000)); // no full handshake: not in recent
    h.record(&tcp(100, 10, 1_000)); // period 100
    h.record(&tcp(200, 10, 1_055)); // period 105
    assert_eq!(h.status().recent.count, 2);
    // Period 106: period 100 leaves the window.
    h.record(&tcp(5, 1, 1_060));
    let s = h.status();
    assert_eq!(s.recent.count, 2);
    about(s.recent.max_ms, 210.0);
    // A late record older than the window counts since the start only.
    h.record(&tcp(7, 1, 990));
    let s = h.status();
    assert_eq!(s.recent.count, 2);
    assert_eq!(s.handshake.count, 4);
    // A record from a worker slightly behind lands in its own slot.
    h.record(&tcp(9, 1, 1_051));
    assert_eq!(h.status().recent.count, 3);
    // A jump ahead by more than the window empties it but for itself.
    h.record(&tcp(3, 1, 5_000));
    let s = h.status();
    assert_eq!(s.recent.count, 1);
    about(s.recent.p50_ms, 4.0);
    assert_eq!(s.handshake.count, 6);
}
