//! Statistics of a round of echoes, SmokePing style: RTT min, median,
//! mean, max and standard deviation over the answers, loss over the sent,
//! jitter as the mean absolute difference of consecutive RTTs (in send
//! order, RFC 3550's idea without its smoothing), and reordering.
//!
//! Percentiles (p50, p90, p99) come from an HDR histogram of the round's
//! RTTs in nanoseconds with 3 significant digits: a reported percentile is
//! the highest value of the histogram bucket that holds the exact one, so
//! it is at most 1 ns or 1/1024 of the value (under 0.1 %) above it, never
//! below (but for each RTT's rounding to the nanosecond), and always within
//! the round's exact minimum and maximum. p90 and p99 are
//! nearest-rank percentiles (the value at rank ceil(n * p / 100) of the
//! sorted RTTs); p50 is the median as [`RttStats::median`] computes it
//! (the mean of the two middle ranks when n is even), read from the
//! histogram, so it agrees with the exact median to within the same bound.

use hdrhistogram::Histogram;

use super::ProbeResult;

/// Significant decimal digits the RTT histogram keeps.
pub const RTT_SIGFIG: u8 = 3;

/// RTT figures of a round, ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttStats {
    /// Smallest RTT.
    pub min: f64,
    /// Median RTT, exact: the middle value, or the mean of the two middle
    /// values.
    pub median: f64,
    /// Mean RTT.
    pub avg: f64,
    /// Largest RTT.
    pub max: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// Mean |rtt[i] - rtt[i-1]| over consecutive answered packets in send
    /// order; None with fewer than two answers.
    pub jitter: Option<f64>,
    /// The median read from the histogram (see the module's notes on
    /// precision).
    pub p50: f64,
    /// 90th percentile, nearest rank, from the histogram.
    pub p90: f64,
    /// 99th percentile, nearest rank, from the histogram.
    pub p99: f64,
}

/// The RTTs of a round in an HDR histogram, nanoseconds.
#[derive(Clone, Debug)]
pub struct RttHistogram {
    h: Histogram<u64>,
    /// The exact smallest and largest values recorded, ms.
    min_ms: f64,
    max_ms: f64,
}

impl RttHistogram {
    /// A histogram of `rtts` (ms).
    pub fn of(rtts: &[f64]) -> RttHistogram {
        // Auto-resizing: it grows to the largest value recorded.
        let mut h = Histogram::new(RTT_SIGFIG).expect("3 significant digits are supported");
        let (mut min_ms, mut max_ms) = (f64::INFINITY, f64::NEG_INFINITY);
        for &ms in rtts {
            let ms = ms.max(0.0);
            // Cannot fail: the histogram resizes to any u64 value.
            let _ = h.record((ms * 1e6).round() as u64);
            min_ms = min_ms.min(ms);
            max_ms = max_ms.max(ms);
        }
        RttHistogram { h, min_ms, max_ms }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.h.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The value at `rank` (1 = smallest) of the sorted values, ms, to the
    /// histogram's precision (within the exact minimum and maximum); None when `rank` is 0 or beyond the count.
    pub fn at_rank(&self, rank: u64) -> Option<f64> {
        if rank == 0 || rank > self.h.len() {
            return None;
        }
        let mut seen = 0;
        for v in self.h.iter_recorded() {
            seen += v.count_at_value();
            if seen >= rank {
                let ms = v.value_iterated_to() as f64 / 1e6;
                return Some(ms.clamp(self.min_ms, self.max_ms));
            }
        }
        None
    }

    /// Nearest-rank percentile `pct` (1 to 100), ms: the value at rank
    /// ceil(n * pct / 100).
    pub fn percentile(&self, pct: u64) -> Option<f64> {
        let n = self.h.len();
        self.at_rank((n * pct.clamp(1, 100)).div_ceil(100).max(1))
    }

    /// The median, ms: the middle value, or the mean of the two middle
    /// values when the count is even.
    pub fn median(&self) -> Option<f64> {
        let n = self.h.len();
        if n % 2 == 1 {
            self.at_rank(n / 2 + 1)
        } else {
            Some((self.at_rank(n / 2)? + self.at_rank(n / 2 + 1)?) / 2.0)
        }
    }
}

/// Statistics of `rtts` (ms, in send order, answered packets only); None
/// when empty.
pub fn rtt_stats(rtts: &[f64]) -> Option<RttStats> {
    if rtts.is_empty() {
        return None;
    }
    let n = rtts.len() as f64;
    let mut sorted = rtts.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    };
    let avg = rtts.iter().sum::<f64>() / n;
    let var = rtts.iter().map(|r| (r - avg) * (r - avg)).sum::<f64>() / n;
    let jitter = (rtts.len() >= 2).then(|| {
        rtts.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (rtts.len() - 1) as f64
    });
    let h = RttHistogram::of(rtts);
    Some(RttStats {
        p50: h.median()?,
        p90: h.percentile(90)?,
        p99: h.percentile(99)?,
        min: sorted[0],
        median,
        avg,
        max: sorted[sorted.len() - 1],
        stddev: var.sqrt(),
        jitter,
    })
}

/// Answers that arrived after an answer to a later packet: in arrival
/// order, each sequence number below the highest seen so far counts once.
pub fn reordered(arrival_seqs: &[u32]) -> u32 {
    let mut highest: Option<u32> = None;
    let mut n = 0;
    for &s in arrival_seqs {
        match highest {
            Some(h) if s < h => n += 1,
            _ => highest = Some(s),
        }
    }
    n
}

/// Fills a result's round columns from `sent` packets and the RTTs of the
/// answered ones (send order).
pub fn fill_round(r: &mut ProbeResult, sent: u32, rtts: &[f64]) {
    r.sent = Some(sent);
    r.received = Some(rtts.len() as u32);
    r.loss = (sent > 0).then(|| 1.0 - rtts.len() as f64 / sent as f64);
    if let Some(s) = rtt_stats(rtts) {
        r.rtt_min_ms = Some(s.min);
        r.rtt_median_ms = Some(s.median);
        r.rtt_avg_ms = Some(s.avg);
        r.rtt_max_ms = Some(s.max);
        r.rtt_stddev_ms = Some(s.stddev);
        r.jitter_ms = s.jitter;
        r.rtt_p50_ms = Some(s.p50);
        r.rtt_p90_ms = Some(s.p90);
        r.rtt_p99_ms = Some(s.p99);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn stats_of_a_round() {
        let s = rtt_stats(&[10.0, 12.0, 11.0, 15.0]).unwrap();
        assert!(close(s.min, 10.0) && close(s.max, 15.0));
        assert!(close(s.median, 11.5));
        assert!(close(s.avg, 12.0));
        // Deviations -2, 0, -1, 3: variance (4 + 0 + 1 + 9) / 4 = 3.5.
        assert!(close(s.stddev, 3.5f64.sqrt()));
        // |12-10| + |11-12| + |15-11| = 7 over 3 pairs.
        assert!(close(s.jitter.unwrap(), 7.0 / 3.0));
        let one = rtt_stats(&[4.0]).unwrap();
        assert!(close(one.median, 4.0) && close(one.stddev, 0.0));
        assert_eq!(one.jitter, None);
        assert_eq!(rtt_stats(&[]), None);
        let odd = rtt_stats(&[3.0, 1.0, 2.0]).unwrap();
        assert!(close(odd.median, 2.0));
    }

    /// Within the histogram's precision of `exact`, never below it (but
    /// for the rounding of each RTT to the nanosecond).
    fn within_precision(got: f64, exact: f64) -> bool {
        let half_ns = 0.5e-6 + 1e-12;
        got >= exact - half_ns && got - exact <= (exact / 1024.0).max(1e-6) + half_ns
    }

    /// The nearest-rank percentile of `v`, computed exactly.
    fn exact_percentile(v: &[f64], pct: usize) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[(s.len() * pct).div_ceil(100).max(1) - 1]
    }

    #[test]
    fn percentiles_of_a_round() {
        let s = rtt_stats(&[10.0, 12.0, 11.0, 15.0]).unwrap();
        // The median of an even count: the mean of 11 and 12.
        assert!(within_precision(s.p50, 11.5), "{}", s.p50);
        assert!(within_precision(s.p90, 15.0) && within_precision(s.p99, 15.0));
        // Never above the round's maximum.
        assert!(s.p99 <= s.max);
        let one = rtt_stats(&[4.0]).unwrap();
        assert_eq!((one.p50, one.p90, one.p99), (4.0, 4.0, 4.0));
        // 1..=100 ms: p90 is the 90th value, p99 the 99th.
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = rtt_stats(&v).unwrap();
        assert!(within_precision(s.p50, 50.5), "{}", s.p50);
        assert!(within_precision(s.p90, 90.0), "{}", s.p90);
        assert!(within_precision(s.p99, 99.0), "{}", s.p99);
        // Values below 2 µs are kept to the nanosecond.
        let h = RttHistogram::of(&[0.000_5, 0.001_25, 0.001_999]);
        assert_eq!(h.at_rank(1), Some(0.000_5));
        assert_eq!(h.at_rank(2), Some(0.001_25));
        assert_eq!(h.at_rank(3), Some(0.001_999));
        assert_eq!(h.at_rank(4), None);
        assert_eq!(h.at_rank(0), None);
        assert!(RttHistogram::of(&[]).is_empty());
    }

    #[test]
    fn histogram_percentiles_agree_with_exact_ones() {
        // A spread of rounds, from loopback microseconds to seconds: the
        // histogram's p50 agrees with the exact median, and p90 / p99 with
        // exact nearest-rank percentiles, within the stated precision.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for n in [1usize, 2, 3, 5, 10, 20, 99, 100, 101, 1000] {
            for scale in [0.01, 1.0, 250.0, 4000.0] {
                let v: Vec<f64> = (0..n)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                        // Heavy-tailed: most near the scale, a few far above.
                        scale * (0.5 + u * u * u * 20.0)
                    })
                    .collect();
                let s = rtt_stats(&v).unwrap();
                let what = format!("n {n}, scale {scale}");
                assert!(
                    (s.p50 - s.median).abs() <= s.median / 1024.0 + 1e-6,
                    "{what}: p50 {} vs median {}",
                    s.p50,
                    s.median
                );
                for (pct, got) in [(90, s.p90), (99, s.p99)] {
                    let exact = exact_percentile(&v, pct);
                    assert!(
                        within_precision(got, exact),
                        "{what}: p{pct} {got} vs {exact}"
                    );
                }
                assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
            }
        }
    }

    #[test]
    fn reordering_counts_late_answers() {
        assert_eq!(reordered(&[0, 1, 2, 3]), 0);
        assert_eq!(reordered(&[1, 0, 2, 3]), 1);
        assert_eq!(reordered(&[3, 0, 1, 2]), 3);
        assert_eq!(reordered(&[0, 2, 1, 4, 3]), 2);
        assert_eq!(reordered(&[]), 0);
    }

    #[test]
    fn a_round_fills_loss_and_leaves_nulls_without_answers() {
        let mut r = ProbeResult::default();
        fill_round(&mut r, 4, &[1.0, 3.0]);
        assert_eq!((r.sent, r.received), (Some(4), Some(2)));
        assert!(close(r.loss.unwrap(), 0.5));
        assert!(close(r.jitter_ms.unwrap(), 2.0));
        assert!(within_precision(r.rtt_p50_ms.unwrap(), 2.0));
        assert!(within_precision(r.rtt_p99_ms.unwrap(), 3.0));
        let mut none = ProbeResult::default();
        fill_round(&mut none, 3, &[]);
        assert!(close(none.loss.unwrap(), 1.0));
        assert_eq!(none.rtt_min_ms, None);
        assert_eq!(none.jitter_ms, None);
        assert_eq!(
            (none.rtt_p50_ms, none.rtt_p90_ms, none.rtt_p99_ms),
            (None, None, None)
        );
    }
}
