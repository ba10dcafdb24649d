//! The features of one 10 s window of a video session, in three groups as
//! in the published work on inferring video quality from encrypted
//! traffic: network (throughput, packets, parallel flows), transport
//! (handshake RTT, retransmissions, out-of-order, tstat-style, per
//! direction) and segments (the media segments the workers detected: sizes,
//! download times, inter-arrival, in the window, over the last ten and
//! since the session started).
//!
//! Each feature is a `video_windows` column of the same name (`f_*`,
//! float64), so a researcher can retrain from the appliance's own output.
//! A value that does not exist yet (no segment finished, no RTT measured)
//! is -1.

/// Feature names, in the order of [`Features::values`].
pub const NAMES: &[&str] = &[
    // Network.
    "f_window_s",
    "f_down_mbps",
    "f_up_kbps",
    "f_down_pps",
    "f_up_pps",
    "f_up_down_ratio",
    "f_flows",
    "f_new_flows",
    // Transport.
    "f_rtt_ms",
    "f_retrans_down_pct",
    "f_retrans_up_pct",
    "f_ooo_down_pct",
    // Segments in the window.
    "f_seg_count",
    "f_seg_bytes_mean",
    "f_seg_bytes_std",
    "f_seg_bytes_min",
    "f_seg_bytes_max",
    "f_seg_dl_ms_mean",
    "f_seg_mbps_mean",
    "f_seg_iat_s_mean",
    "f_seg_iat_s_std",
    // Segments since the session started, and the last ten.
    "f_cum_seg_count",
    "f_cum_seg_bytes_mean",
    "f_cum_down_mb",
    "f_elapsed_s",
    "f_last10_bytes_mean",
    "f_last10_bytes_std",
    "f_last10_mbps_mean",
    // Startup: when the session's first segments were complete.
    "f_t_seg1_s",
    "f_t_seg2_s",
    "f_t_seg4_s",
    "f_t_seg_1mb_s",
];

/// What each feature is, in the order of [`NAMES`] (the `video_windows`
/// column descriptions).
pub const DOCS: &[&str] = &[
    "Length of the window, s (10; less for a session's last window).",
    "Frame bytes toward the device in the window, Mbit/s.",
    "Frame bytes from the device in the window, kbit/s.",
    "Packets toward the device per second.",
    "Packets from the device per second.",
    "Bytes up / bytes down in the window (0 without bytes down).",
    "Flows of the session that carried packets in the window (parallel flows).",
    "Of those, flows first seen in the window.",
    "Median handshake RTT (SYN to SYN/ACK to ACK, at the tap) of the session's TCP flows so far, ms; -1 unknown (QUIC).",
    "Retransmitted packets toward the device, % of packets toward it (TCP).",
    "Retransmitted packets from the device, % of packets from it (TCP).",
    "Out-of-order packets toward the device, % of packets toward it (TCP).",
    "Media segments whose last byte came in the window.",
    "Their mean size, bytes; -1 without segments.",
    "Standard deviation of their sizes, bytes; -1 without segments.",
    "Smallest of them, bytes; -1 without segments.",
    "Largest of them, bytes; -1 without segments.",
    "Mean download time (request to last byte), ms; -1 without segments.",
    "Mean download rate (first to last byte), Mbit/s; -1 without segments.",
    "Mean time between their requests (from the previous segment's), s; -1 with fewer than two requests.",
    "Standard deviation of those times, s; -1 with fewer than two requests.",
    "Segments since the session started, up to the window's end.",
    "Their mean size, bytes; -1 without segments.",
    "Frame bytes toward the device since the session started, MB.",
    "Seconds from the session's start to the window's.",
    "Mean size of the last ten segments, bytes; -1 without segments.",
    "Standard deviation of the last ten segments' sizes, bytes; -1 without segments.",
    "Mean download rate of the last ten segments, Mbit/s; -1 without segments.",
    "Seconds from the session's start to the end of its first segment; -1 not yet.",
    "Seconds from the session's start to the end of its second segment; -1 not yet.",
    "Seconds from the session's start to the end of its fourth segment; -1 not yet.",
    "Seconds from the session's start until its segments reached 1 MB; -1 not yet.",
];

/// Number of features.
pub const COUNT: usize = 32;

const _: () = assert!(NAMES.len() == COUNT && DOCS.len() == COUNT);

/// One window's feature values, ordered as [`NAMES`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Features {
    /// The values.
    pub values: [f64; COUNT],
}

impl Default for Features {
    fn default() -> Self {
        Features {
            values: [0.0; COUNT],
        }
    }
}

impl Features {
    /// The value of the feature `name`, if it is one.
    pub fn get(&self, name: &str) -> Option<f64> {
        NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| self.values[i])
    }
}

/// A finished media segment as the features see it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Seg {
    /// The request (Unix ns).
    pub request_ns: u64,
    /// First byte of the answer (Unix ns).
    pub first_ns: u64,
    /// Last byte of the answer (Unix ns).
    pub last_ns: u64,
    /// Downstream payload bytes.
    pub bytes: u64,
}

impl Seg {
    /// Download throughput from the first to the last byte, Mbit/s (over
    /// at least 1 ms).
    pub fn mbps(&self) -> f64 {
        let secs = (self.last_ns.saturating_sub(self.first_ns) as f64 / 1e9).max(1e-3);
        self.bytes as f64 * 8.0 / secs / 1e6
    }
}

/// What the window itself saw (network and transport groups, and its
/// segments).
#[derive(Clone, Debug, Default)]
pub struct WindowInput<'a> {
    /// Length of the window, seconds (10, or less for a session's last).
    pub window_s: f64,
    /// Seconds from the session's start to the window's.
    pub elapsed_s: f64,
    /// Frame bytes toward the device.
    pub down_bytes: u64,
    /// Frame bytes from the device.
    pub up_bytes: u64,
    /// Packets toward the device.
    pub down_packets: u64,
    /// Packets from the device.
    pub up_packets: u64,
    /// Flows of the session that carried packets in the window.
    pub flows: u32,
    /// Of those, flows that started in the window.
    pub new_flows: u32,
    /// Median handshake RTT of the session's flows so far, ns (0: none).
    pub rtt_ns: u64,
    /// Retransmitted packets toward the device in the window.
    pub retrans_down: u64,
    /// Retransmitted packets from the device in the window.
    pub retrans_up: u64,
    /// Out-of-order packets toward the device in the window.
    pub ooo_down: u64,
    /// Segments finished in the window, in completion order.
    pub segments: &'a [Seg],
    /// The request time of the segment finished before the window's
    /// first (for its inter-arrival), if any.
    pub previous_request_ns: Option<u64>,
}

/// What the session saw up to the window's end (cumulative segment and
/// startup features).
#[derive(Clone, Debug, Default)]
pub struct SessionInput<'a> {
    /// Segments finished since the session started.
    pub seg_count: u64,
    /// Their bytes.
    pub seg_bytes: u64,
    /// Frame bytes toward the device since the session started.
    pub down_bytes: u64,
    /// The last (up to) ten segments, oldest first.
    pub last10: &'a [Seg],
    /// Seconds from the session's start to the completion of its 1st, 2nd
    /// and 4th segment, and of its first megabyte of segments (None: not
    /// yet).
    pub t_seg1_s: Option<f64>,
    /// As `t_seg1_s`, the 2nd segment.
    pub t_seg2_s: Option<f64>,
    /// As `t_seg1_s`, the 4th segment.
    pub t_seg4_s: Option<f64>,
    /// As `t_seg1_s`, the first 1,000,000 bytes of segments.
    pub t_seg_1mb_s: Option<f64>,
}

fn mean_std(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = xs.clone().count();
    if n == 0 {
        return (-1.0, -1.0);
    }
    let mean = xs.clone().sum::<f64>() / n as f64;
    let var = xs.map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Computes a window's features.
pub fn compute(w: &WindowInput<'_>, s: &SessionInput<'_>) -> Features {
    let secs = w.window_s.max(1e-3);
    let segs = w.segments;
    let sizes = segs.iter().map(|g| g.bytes as f64);
    let (bytes_mean, bytes_std) = mean_std(sizes.clone());
    let (dl_mean, _) = mean_std(
        segs.iter()
            .map(|g| g.last_ns.saturating_sub(g.request_ns) as f64 / 1e6),
    );
    let (mbps_mean, _) = mean_std(segs.iter().map(Seg::mbps));
    let mut requests: Vec<u64> = w.previous_request_ns.into_iter().collect();
    requests.extend(segs.iter().map(|g| g.request_ns));
    requests.sort_unstable();
    let (iat_mean, iat_std) = mean_std(
        requests
            .windows(2)
            .map(|p| p[1].saturating_sub(p[0]) as f64 / 1e9),
    );
    let (l10_mean, l10_std) = mean_std(s.last10.iter().map(|g| g.bytes as f64));
    let (l10_mbps, _) = mean_std(s.last10.iter().map(Seg::mbps));
    let opt = |v: Option<f64>| v.unwrap_or(-1.0);
    let values = [
        w.window_s,
        w.down_bytes as f64 * 8.0 / secs / 1e6,
        w.up_bytes as f64 * 8.0 / secs / 1e3,
        w.down_packets as f64 / secs,
        w.up_packets as f64 / secs,
        if w.down_bytes == 0 {
            0.0
        } else {
            w.up_bytes as f64 / w.down_bytes as f64
        },
        f64::from(w.flows),
        f64::from(w.new_flows),
        if w.rtt_ns == 0 {
            -1.0
        } else {
            w.rtt_ns as f64 / 1e6
        },
        pct(w.retrans_down, w.down_packets),
        pct(w.retrans_up, w.up_packets),
        pct(w.ooo_down, w.down_packets),
        segs.len() as f64,
        bytes_mean,
        bytes_std,
        if segs.is_empty() {
            -1.0
        } else {
            sizes.clone().fold(f64::INFINITY, f64::min)
        },
        if segs.is_empty() {
            -1.0
        } else {
            sizes.fold(0.0, f64::max)
        },
        dl_mean,
        mbps_mean,
        iat_mean,
        iat_std,
        s.seg_count as f64,
        if s.seg_count == 0 {
            -1.0
        } else {
            s.seg_bytes as f64 / s.seg_count as f64
        },
        s.down_bytes as f64 / 1e6,
        w.elapsed_s,
        l10_mean,
        l10_std,
        l10_mbps,
        opt(s.t_seg1_s),
        opt(s.t_seg2_s),
        opt(s.t_seg4_s),
        opt(s.t_seg_1mb_s),
    ];
    Features { values }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(request_s: f64, dl_s: f64, bytes: u64) -> Seg {
        let r = (request_s * 1e9) as u64;
        Seg {
            request_ns: r,
            first_ns: r + 50_000_000,
            last_ns: r + (dl_s * 1e9) as u64,
            bytes,
        }
    }

    #[test]
    fn a_window_with_segments() {
        let segs = [seg(1.0, 0.5, 400_000), seg(5.0, 1.05, 600_000)];
        let w = WindowInput {
            window_s: 10.0,
            elapsed_s: 10.0,
            down_bytes: 1_250_000,
            up_bytes: 25_000,
            down_packets: 1000,
            up_packets: 500,
            flows: 2,
            new_flows: 1,
            rtt_ns: 20_000_000,
            retrans_down: 10,
            retrans_up: 0,
            ooo_down: 5,
            segments: &segs,
            previous_request_ns: Some(0),
        };
        let s = SessionInput {
            seg_count: 4,
            seg_bytes: 2_000_000,
            down_bytes: 3_000_000,
            last10: &segs,
            t_seg1_s: Some(0.4),
            t_seg2_s: Some(0.9),
            t_seg4_s: None,
            t_seg_1mb_s: Some(2.0),
        };
        let f = compute(&w, &s);
        let g = |n| f.get(n).unwrap();
        assert_eq!(g("f_down_mbps"), 1.0);
        assert_eq!(g("f_up_kbps"), 20.0);
        assert_eq!(g("f_down_pps"), 100.0);
        assert_eq!(g("f_up_down_ratio"), 0.02);
        assert_eq!(g("f_rtt_ms"), 20.0);
        assert_eq!(g("f_retrans_down_pct"), 1.0);
        assert_eq!(g("f_ooo_down_pct"), 0.5);
        assert_eq!(g("f_seg_count"), 2.0);
        assert_eq!(g("f_seg_bytes_mean"), 500_000.0);
        assert_eq!(g("f_seg_bytes_std"), 100_000.0);
        assert_eq!(g("f_seg_bytes_min"), 400_000.0);
        assert_eq!(g("f_seg_bytes_max"), 600_000.0);
        assert!((g("f_seg_dl_ms_mean") - 775.0).abs() < 1e-6);
        // 400 kB in 0.45 s and 600 kB in 1.0 s.
        let m = (400_000.0 * 8.0 / 0.45 / 1e6 + 4.8) / 2.0;
        assert!((g("f_seg_mbps_mean") - m).abs() < 1e-6);
        // Requests at 0 (the previous window's last), 1 and 5 s.
        assert_eq!(g("f_seg_iat_s_mean"), 2.5);
        assert_eq!(g("f_seg_iat_s_std"), 1.5);
        assert_eq!(g("f_cum_seg_bytes_mean"), 500_000.0);
        assert_eq!(g("f_cum_down_mb"), 3.0);
        assert_eq!(g("f_t_seg2_s"), 0.9);
        assert_eq!(g("f_t_seg4_s"), -1.0);
    }

    #[test]
    fn an_empty_window_has_no_segment_statistics() {
        let f = compute(
            &WindowInput {
                window_s: 4.0,
                ..WindowInput::default()
            },
            &SessionInput::default(),
        );
        for n in [
            "f_seg_bytes_mean",
            "f_seg_bytes_min",
            "f_seg_bytes_max",
            "f_seg_iat_s_mean",
            "f_cum_seg_bytes_mean",
            "f_last10_mbps_mean",
            "f_rtt_ms",
            "f_t_seg1_s",
        ] {
            assert_eq!(f.get(n), Some(-1.0), "{n}");
        }
        assert_eq!(f.get("f_seg_count"), Some(0.0));
        assert_eq!(f.get("f_down_mbps"), Some(0.0));
        assert!(f.values.iter().all(|v| v.is_finite()));
    }
}
