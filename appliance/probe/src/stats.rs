//! Statistics of a round of echoes, SmokePing style: RTT min, median,
//! mean, max and standard deviation over the answers, loss over the sent,
//! jitter as the mean absolute difference of consecutive RTTs (in send
//! order, RFC 3550's idea without its smoothing), and reordering.

use super::ProbeResult;

/// RTT figures of a round, ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttStats {
    pub min: f64,
    pub median: f64,
    pub avg: f64,
    pub max: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// Mean |rtt[i] - rtt[i-1]| over consecutive answered packets in send
    /// order; None with fewer than two answers.
    pub jitter: Option<f64>,
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
    Some(RttStats {
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
        let mut none = ProbeResult::default();
        fill_round(&mut none, 3, &[]);
        assert!(close(none.loss.unwrap(), 1.0));
        assert_eq!(none.rtt_min_ms, None);
        assert_eq!(none.jitter_ms, None);
    }
}
