//! The run's summary for the terminal: sessions done and failed, and per
//! cap the resolution mix and the startup delay.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use model::lab::LabSession;

/// The summary of `sessions` (all of a run's recorded sessions).
pub fn summary(sessions: &[LabSession], planned: u32) -> String {
    let ok: Vec<&LabSession> = sessions.iter().filter(|s| s.status == "ok").collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sessions: {} of {planned} recorded, {} ok, {} failed",
        sessions.len(),
        ok.len(),
        sessions.len() - ok.len()
    );
    let mut failures: BTreeMap<&str, u32> = BTreeMap::new();
    for s in sessions.iter().filter(|s| s.status != "ok") {
        *failures.entry(&s.status).or_default() += 1;
    }
    for (status, n) in &failures {
        let _ = writeln!(out, "  {status}: {n}");
    }
    let mut caps: Vec<f64> = sessions.iter().map(|s| s.cap_mbps).collect();
    caps.sort_by(f64::total_cmp);
    caps.dedup();
    let _ = writeln!(
        out,
        "{:>9}  {:>3}  {:>17}  {:>8}  resolution (share of playing time)",
        "cap Mbps", "ok", "startup ms p50/p90", "stall s"
    );
    for cap in caps {
        let of: Vec<&&LabSession> = ok.iter().filter(|s| s.cap_mbps == cap).collect();
        let mut startup: Vec<f64> = of.iter().filter_map(|s| s.startup_delay_ms).collect();
        startup.sort_by(f64::total_cmp);
        let stall: f64 = of.iter().map(|s| s.stall_ms).fold(0.0, |a, b| a + b) / 1000.0;
        let _ = writeln!(
            out,
            "{cap:>9}  {:>3}  {:>17}  {stall:>8.1}  {}",
            of.len(),
            match (quantile(&startup, 0.5), quantile(&startup, 0.9)) {
                (Some(a), Some(b)) => format!("{a:.0}/{b:.0}"),
                _ => "-".into(),
            },
            resolution_mix(&of)
        );
    }
    out
}

/// What tapscope estimated for one video session (`video_sessions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    /// The device's address.
    pub device_ip: String,
    /// Session start, Unix µs.
    pub start_us: i64,
    /// Estimated startup delay, s.
    pub startup_s: Option<f64>,
    /// Estimated time-weighted height.
    pub resolution_mean: Option<f64>,
    /// The model's version.
    pub model_version: String,
}

/// Reads `video_sessions` from the run's output folder (the mirror
/// capture's own tables).
pub fn read_estimates(out: &std::path::Path) -> Vec<Estimate> {
    let mut v = Vec::new();
    sink::read::scan(
        out,
        "video_sessions",
        None,
        &[
            "device_ip",
            "start",
            "startup_delay_s",
            "resolution_mean",
            "model_version",
        ],
        &sink::read::Filter::default(),
        |r| {
            v.push(Estimate {
                device_ip: r.str(0).unwrap_or_default().to_string(),
                start_us: r.time_us(1).unwrap_or_default(),
                startup_s: r.f64(2),
                resolution_mean: r.f64(3),
                model_version: r.str(4).unwrap_or_default().to_string(),
            })
        },
    );
    v
}

/// tapscope's estimates next to the player's truth, per cap: each ok
/// session matched to the video session of its device that started
/// within 2 s before to 3 s after it. Empty when nothing matched.
pub fn compare(sessions: &[LabSession], estimates: &[Estimate]) -> String {
    let ok: Vec<&LabSession> = sessions.iter().filter(|s| s.status == "ok").collect();
    let mut pairs: Vec<(&LabSession, &Estimate)> = Vec::new();
    for s in &ok {
        let t0 = (s.started_ns / 1000) as i64;
        if let Some(e) = estimates.iter().find(|e| {
            e.device_ip == s.device_ip
                && e.start_us >= t0 - 2_000_000
                && e.start_us <= t0 + 3_000_000
        }) {
            pairs.push((s, e));
        }
    }
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let version = &pairs[0].1.model_version;
    let _ = writeln!(
        out,
        "tapscope from the mirror (video_sessions, model {version}): {} of {} ok sessions found",
        pairs.len(),
        ok.len()
    );
    let _ = writeln!(
        out,
        "{:>9}  {:>3}  {:>26}  {:>24}",
        "cap Mbps", "n", "startup s p50 player/tapscope", "mean height player/tapscope"
    );
    let mut caps: Vec<f64> = pairs.iter().map(|p| p.0.cap_mbps).collect();
    caps.sort_by(f64::total_cmp);
    caps.dedup();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let fmt = |a: Option<f64>, b: Option<f64>, p: usize| match (a, b) {
        (Some(a), Some(b)) => format!("{a:.p$} / {b:.p$}"),
        _ => "-".into(),
    };
    for cap in caps {
        let of: Vec<&(&LabSession, &Estimate)> =
            pairs.iter().filter(|p| p.0.cap_mbps == cap).collect();
        let mut truth: Vec<f64> = of
            .iter()
            .filter_map(|p| p.0.startup_delay_ms.map(|m| m / 1000.0))
            .collect();
        let mut est: Vec<f64> = of.iter().filter_map(|p| p.1.startup_s).collect();
        truth.sort_by(f64::total_cmp);
        est.sort_by(f64::total_cmp);
        let ht: Vec<f64> = of.iter().filter_map(|p| p.0.resolution_mean).collect();
        let he: Vec<f64> = of.iter().filter_map(|p| p.1.resolution_mean).collect();
        let _ = writeln!(
            out,
            "{cap:>9}  {:>3}  {:>26}  {:>24}",
            of.len(),
            fmt(quantile(&truth, 0.5), quantile(&est, 0.5), 2),
            fmt(mean(&ht), mean(&he), 0),
        );
    }
    let errs: Vec<f64> = pairs
        .iter()
        .filter_map(|p| Some((p.0.startup_delay_ms? / 1000.0 - p.1.startup_s?).abs()))
        .collect();
    let herr: Vec<f64> = pairs
        .iter()
        .filter_map(|p| Some((p.0.resolution_mean? - p.1.resolution_mean?).abs()))
        .collect();
    if let (Some(a), Some(b)) = (mean(&errs), mean(&herr)) {
        let _ = writeln!(
            out,
            "startup delay mean absolute error {a:.2} s; mean height absolute error {b:.0} px"
        );
    }
    out
}

/// `144p 20% 360p 80%`: each height's share of the sessions' playing time
/// (by time-weighted share of each session's resolution changes).
fn resolution_mix(sessions: &[&&LabSession]) -> String {
    let mut by_height: BTreeMap<u32, f64> = BTreeMap::new();
    for s in sessions {
        for (h, secs) in time_per_height(s) {
            *by_height.entry(h).or_default() += secs;
        }
    }
    let total: f64 = by_height.values().sum();
    if total <= 0.0 {
        return "-".into();
    }
    by_height
        .iter()
        .filter(|(_, t)| **t / total >= 0.005)
        .map(|(h, t)| format!("{h}p {:.0}%", 100.0 * t / total))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds per rendered height from the first frame to the end, stalls
/// not subtracted (a summary; the exact figure is resolution_mean).
fn time_per_height(s: &LabSession) -> Vec<(u32, f64)> {
    let Some(startup) = s.startup_delay_ms else {
        return Vec::new();
    };
    let play_start = s.started_ns + (startup * 1e6) as u64;
    let mut out = Vec::new();
    let changes = &s.resolution_changes;
    for (i, c) in changes.iter().enumerate() {
        let from = c.at_ns.max(play_start);
        let to = changes.get(i + 1).map_or(s.ended_ns, |n| n.at_ns).max(from);
        if to > from {
            out.push((c.to_height, (to - from) as f64 / 1e9));
        }
    }
    out
}

/// The `q` quantile of sorted `v` (nearest rank).
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::lab::ResolutionChange;

    #[test]
    fn summary_per_cap() {
        let s = |cap: f64, status: &str, startup: Option<f64>, h: u32| LabSession {
            cap_mbps: cap,
            status: status.into(),
            started_ns: 0,
            ended_ns: 20_000_000_000,
            startup_delay_ms: startup,
            resolution_changes: vec![ResolutionChange {
                at_ns: 0,
                from_height: 0,
                to_height: h,
                bitrate_kbps: 1,
            }],
            ..Default::default()
        };
        let text = summary(
            &[
                s(0.5, "ok", Some(3000.0), 144),
                s(0.5, "no_playback", None, 144),
                s(20.0, "ok", Some(500.0), 720),
            ],
            4,
        );
        assert!(text.contains("3 of 4 recorded, 2 ok, 1 failed"), "{text}");
        assert!(text.contains("no_playback: 1"), "{text}");
        assert!(
            text.contains("3000/3000") && text.contains("144p 100%"),
            "{text}"
        );
        assert!(text.contains("720p 100%"), "{text}");
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        // tapscope's estimates next to the truth: the 0.5 cap's ok session
        // and the 20 cap's, each matched by device and start.
        let mut ok = s(0.5, "ok", Some(3000.0), 144);
        ok.device_ip = "192.168.77.2".into();
        ok.started_ns = 10_000_000_000;
        ok.resolution_mean = Some(144.0);
        let mut hi = s(20.0, "ok", Some(500.0), 720);
        hi.device_ip = "192.168.77.2".into();
        hi.started_ns = 40_000_000_000;
        hi.resolution_mean = Some(720.0);
        let est = |start_us: i64, st: f64, h: f64| Estimate {
            device_ip: "192.168.77.2".into(),
            start_us,
            startup_s: Some(st),
            resolution_mean: Some(h),
            model_version: "m1".into(),
        };
        let c = compare(
            &[ok, hi],
            &[
                est(10_100_000, 2.5, 240.0),
                est(40_050_000, 0.7, 720.0),
                est(90_000_000, 9.0, 1.0),
            ],
        );
        assert!(c.contains("model m1): 2 of 2 ok sessions found"), "{c}");
        assert!(c.contains("3.00 / 2.50") && c.contains("144 / 240"), "{c}");
        assert!(c.contains("0.50 / 0.70") && c.contains("720 / 720"), "{c}");
        assert!(
            c.contains("mean absolute error 0.35 s") && c.contains("48 px"),
            "{c}"
        );
        assert_eq!(compare(&[], &[]), "");
        assert_eq!(quantile(&[], 0.5), None);
    }
}
