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
        assert_eq!(quantile(&[], 0.5), None);
    }
}
