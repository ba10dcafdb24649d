//! The player's events turned into ground truth: startup delay, the
//! rendered resolution over time, stalls, and every segment downloaded.
//!
//! Definitions (the same for every player adapter):
//! - Startup delay: from the load request ([`PlayerLog::load_ns`]) to the
//!   first `Playing` event.
//! - A stall: after playback started, the playhead not moving while the
//!   media is neither paused nor ended, from the last sample that saw it
//!   move (`Stalled`) to the first that sees it move again (`Advancing`);
//!   a stall still open when the session ends lasts until the end. The
//!   playhead is the authority: players' own `waiting` events can come
//!   without a matching `playing` while frames keep being rendered. Logs
//!   without playhead samples fall back on `Waiting` or video
//!   `BufferEmpty` to the next `Playing`.
//! - Playing time: from the first `Playing` to the end of the session (or
//!   `Ended`), stalls excluded. Resolution figures are weighted by it.
//! - The rendered resolution at a time is the last video `QualityRendered`
//!   at or before it (before the first one: the first one).

use std::collections::BTreeMap;

use model::lab::{ResolutionChange, SegmentDownload, Stall};

use crate::player::{PlayerEvent, PlayerLog};

/// What the player's events say about a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Truth {
    /// Load request to first frame, ms; `None` if it never played.
    pub startup_delay_ms: Option<f64>,
    /// Time-weighted mean rendered height while playing.
    pub resolution_mean: Option<f64>,
    /// Height rendered longest while playing.
    pub resolution_mode: Option<u32>,
    /// Seconds playing.
    pub played_s: f64,
    /// Every change of rendered video resolution.
    pub resolution_changes: Vec<ResolutionChange>,
    /// Every stall after playback started.
    pub stalls: Vec<Stall>,
    /// Sum of the stalls, ms.
    pub stall_ms: f64,
    /// Every segment downloaded, by request time.
    pub segments: Vec<SegmentDownload>,
    /// The player's errors, in order.
    pub errors: Vec<String>,
}

/// The path of a URL without scheme, host or query: `/t/a.m4s`.
pub fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = if url.contains("://") {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        rest
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.to_string()
}

/// Ground truth from a player's log.
pub fn ground_truth(log: &PlayerLog) -> Truth {
    let mut events: Vec<&PlayerEvent> = log.events.iter().collect();
    events.sort_by_key(|e| event_time(e));
    let end = log.end_ns.max(log.load_ns);
    let mut t = Truth::default();

    // Rendered resolution changes (video only), deduplicated.
    let mut last_height = 0u32;
    for e in &events {
        if let PlayerEvent::QualityRendered {
            at_ns,
            media,
            height,
            bitrate_kbps,
            ..
        } = e
        {
            if media == "video" && *height != last_height {
                t.resolution_changes.push(ResolutionChange {
                    at_ns: *at_ns,
                    from_height: last_height,
                    to_height: *height,
                    bitrate_kbps: *bitrate_kbps,
                });
                last_height = *height;
            }
        }
    }

    // Playing intervals and stalls.
    let playhead = events.iter().any(|e| {
        matches!(
            e,
            PlayerEvent::Advancing { .. } | PlayerEvent::Stalled { .. }
        )
    });
    let mut first_playing = None;
    let mut playing_since: Option<u64> = None;
    let mut stall_since: Option<u64> = None;
    let mut intervals: Vec<(u64, u64)> = Vec::new();
    let mut ended = None;
    for e in &events {
        let at = event_time(e).min(end);
        match e {
            PlayerEvent::Playing { .. } => {
                if first_playing.is_none() {
                    first_playing = Some(at);
                }
                if !playhead {
                    if let Some(s) = stall_since.take() {
                        t.stalls.push(Stall {
                            start_ns: s,
                            duration_ms: ms(at - s),
                        });
                    }
                }
                if !playhead || stall_since.is_none() {
                    playing_since.get_or_insert(at);
                }
            }
            PlayerEvent::Advancing { .. } if playhead && first_playing.is_some() => {
                if let Some(s) = stall_since.take() {
                    t.stalls.push(Stall {
                        start_ns: s,
                        duration_ms: ms(at - s),
                    });
                }
                playing_since.get_or_insert(at);
            }
            PlayerEvent::Stalled { .. } if playhead && first_playing.is_some() => {
                stall(&mut playing_since, &mut stall_since, &mut intervals, at)
            }
            PlayerEvent::Waiting { .. } if !playhead => {
                stall(&mut playing_since, &mut stall_since, &mut intervals, at)
            }
            PlayerEvent::BufferEmpty { media, .. } if !playhead && media == "video" => {
                stall(&mut playing_since, &mut stall_since, &mut intervals, at)
            }
            PlayerEvent::Ended { .. } => {
                if let Some(p) = playing_since.take() {
                    intervals.push((p, at));
                }
                stall_since = None;
                ended = Some(at);
            }
            PlayerEvent::Error { message, .. } => t.errors.push(message.clone()),
            _ => {}
        }
        if ended.is_some() {
            break;
        }
    }
    if let Some(p) = playing_since {
        intervals.push((p, end));
    }
    if let Some(s) = stall_since {
        t.stalls.push(Stall {
            start_ns: s,
            duration_ms: ms(end.saturating_sub(s)),
        });
    }
    t.stall_ms = t
        .stalls
        .iter()
        .map(|s| s.duration_ms)
        .fold(0.0, |a, b| a + b);
    t.startup_delay_ms = first_playing.map(|p| ms(p.saturating_sub(log.load_ns)));
    t.played_s = intervals
        .iter()
        .map(|(a, b)| (b - a) as f64 / 1e9)
        .fold(0.0, |a, b| a + b);

    // Resolution weighted by playing time.
    if !t.resolution_changes.is_empty() && t.played_s > 0.0 {
        let mut by_height: BTreeMap<u32, u64> = BTreeMap::new();
        for &(a, b) in &intervals {
            let mut cur = a;
            while cur < b {
                let h = height_at(&t.resolution_changes, cur);
                let next = t
                    .resolution_changes
                    .iter()
                    .map(|c| c.at_ns)
                    .find(|&x| x > cur)
                    .unwrap_or(b)
                    .min(b);
                *by_height.entry(h).or_default() += next - cur;
                cur = next;
            }
        }
        let total: u64 = by_height.values().sum();
        if total > 0 {
            let sum: f64 = by_height.iter().map(|(h, d)| *h as f64 * *d as f64).sum();
            t.resolution_mean = Some(sum / total as f64);
            t.resolution_mode = by_height
                .iter()
                .max_by_key(|(h, d)| (**d, **h))
                .map(|(h, _)| *h);
        }
    }

    // Segments, in request order.
    for e in &events {
        if let PlayerEvent::Fragment {
            media,
            url,
            rendition,
            height,
            index,
            bytes,
            request_ns,
            first_byte_ns,
            end_ns,
            init,
            completed,
        } = e
        {
            t.segments.push(SegmentDownload {
                media: media.clone(),
                path: url_path(url),
                rendition: rendition.clone(),
                height: *height,
                index: if *init { 0 } else { *index },
                bytes: *bytes,
                request_ns: *request_ns,
                first_byte_ns: *first_byte_ns,
                end_ns: *end_ns,
                completed: *completed,
                server_bytes: None,
            });
        }
    }
    t.segments.sort_by_key(|s| (s.request_ns, s.end_ns));
    t
}

fn stall(
    playing_since: &mut Option<u64>,
    stall_since: &mut Option<u64>,
    intervals: &mut Vec<(u64, u64)>,
    at: u64,
) {
    if let Some(p) = playing_since.take() {
        intervals.push((p, at));
        *stall_since = Some(at);
    }
}

fn height_at(changes: &[ResolutionChange], at: u64) -> u32 {
    changes
        .iter()
        .rev()
        .find(|c| c.at_ns <= at)
        .or(changes.first())
        .map_or(0, |c| c.to_height)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// When an event happened (a fragment: when its download ended).
pub fn event_time(e: &PlayerEvent) -> u64 {
    match e {
        PlayerEvent::Loaded { at_ns }
        | PlayerEvent::PlaybackStarted { at_ns }
        | PlayerEvent::Playing { at_ns }
        | PlayerEvent::QualityRendered { at_ns, .. }
        | PlayerEvent::BufferEmpty { at_ns, .. }
        | PlayerEvent::BufferLoaded { at_ns, .. }
        | PlayerEvent::Waiting { at_ns }
        | PlayerEvent::Advancing { at_ns }
        | PlayerEvent::Stalled { at_ns }
        | PlayerEvent::Error { at_ns, .. }
        | PlayerEvent::Ended { at_ns } => *at_ns,
        PlayerEvent::Fragment { end_ns, .. } => *end_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const T0: u64 = 1_700_000_000 * S;

    fn q(at: u64, h: u32) -> PlayerEvent {
        PlayerEvent::QualityRendered {
            at_ns: T0 + at,
            media: "video".into(),
            height: h,
            width: h * 16 / 9,
            bitrate_kbps: h * 3,
            rendition: format!("{h}p"),
        }
    }

    fn log(events: Vec<PlayerEvent>, end: u64) -> PlayerLog {
        PlayerLog {
            player: "test".into(),
            load_ns: T0,
            end_ns: T0 + end,
            events,
        }
    }

    #[test]
    fn startup_resolution_and_a_stall() {
        // Loads at 0, 144p rendered at 0.5 s, plays at 2 s, 720p from 6 s,
        // stalls 10..13 s, ends at 20 s.
        let l = log(
            vec![
                q(S / 2, 144),
                PlayerEvent::Playing { at_ns: T0 + 2 * S },
                q(6 * S, 720),
                PlayerEvent::Waiting { at_ns: T0 + 10 * S },
                PlayerEvent::BufferEmpty {
                    at_ns: T0 + 10 * S + 1,
                    media: "video".into(),
                },
                PlayerEvent::Playing { at_ns: T0 + 13 * S },
            ],
            20 * S,
        );
        let t = ground_truth(&l);
        assert_eq!(t.startup_delay_ms, Some(2000.0));
        assert_eq!(t.stalls.len(), 1);
        assert_eq!(t.stalls[0].start_ns, T0 + 10 * S);
        assert_eq!(t.stall_ms, 3000.0);
        // Playing: 2..10 (4 s at 144p, 4 s at 720p), 13..20 (720p): 15 s.
        assert!((t.played_s - 15.0).abs() < 1e-9);
        let mean = (4.0 * 144.0 + 11.0 * 720.0) / 15.0;
        assert!((t.resolution_mean.unwrap() - mean).abs() < 1e-6);
        assert_eq!(t.resolution_mode, Some(720));
        assert_eq!(t.resolution_changes.len(), 2);
        assert_eq!(t.resolution_changes[1].from_height, 144);
    }

    #[test]
    fn never_played_and_open_stall() {
        let t = ground_truth(&log(vec![q(S, 360)], 10 * S));
        assert_eq!(t.startup_delay_ms, None);
        assert_eq!(t.resolution_mean, None);
        assert_eq!(t.played_s, 0.0);
        let t = ground_truth(&log(
            vec![
                PlayerEvent::Playing { at_ns: T0 + S },
                PlayerEvent::Waiting { at_ns: T0 + 4 * S },
            ],
            10 * S,
        ));
        assert_eq!(t.stall_ms, 6000.0);
        assert!((t.played_s - 3.0).abs() < 1e-9);
        // No quality event: no resolution.
        assert_eq!(t.resolution_mean, None);
    }

    #[test]
    fn ended_stops_the_clock_and_segments_are_ordered() {
        let frag = |req: u64, init: bool| PlayerEvent::Fragment {
            media: "video".into(),
            url: format!("https://cdn.example.test/t/chunk-0-{req:05}.m4s?x=1"),
            rendition: "0".into(),
            height: 144,
            index: req as u32,
            bytes: 1000,
            request_ns: T0 + req,
            first_byte_ns: None,
            end_ns: T0 + req + 5,
            init,
            completed: req != 20,
        };
        let t = ground_truth(&log(
            vec![
                frag(20, false),
                frag(10, true),
                q(0, 144),
                PlayerEvent::Playing { at_ns: T0 + S },
                PlayerEvent::Ended { at_ns: T0 + 5 * S },
                PlayerEvent::Waiting { at_ns: T0 + 6 * S },
            ],
            10 * S,
        ));
        assert!((t.played_s - 4.0).abs() < 1e-9);
        assert!(t.stalls.is_empty());
        // no stalls is +0.0: an empty float sum would be -0.0 and print as such
        assert!(t.stall_ms == 0.0 && t.stall_ms.is_sign_positive());
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[0].index, 0);
        assert_eq!(t.segments[0].path, "/t/chunk-0-00010.m4s");
        assert_eq!(t.segments[1].index, 20);
        assert!(t.segments[0].completed && !t.segments[1].completed);
    }

    #[test]
    fn paths() {
        assert_eq!(url_path("https://h:8443/a/b.m4s?q#f"), "/a/b.m4s");
        assert_eq!(url_path("https://h"), "/");
        assert_eq!(url_path("/x/y?z"), "/x/y");
    }

    /// With playhead samples, a `waiting` that no `playing` follows is not
    /// a stall while the playhead moves; a real one is from `Stalled` to
    /// `Advancing`.
    #[test]
    fn the_playhead_decides_stalls() {
        let t = ground_truth(&log(
            vec![
                q(0, 360),
                PlayerEvent::Playing { at_ns: T0 + S },
                PlayerEvent::Advancing {
                    at_ns: T0 + S + S / 4,
                },
                PlayerEvent::Waiting {
                    at_ns: T0 + S + S / 2,
                },
                PlayerEvent::Stalled { at_ns: T0 + 6 * S },
                PlayerEvent::Waiting {
                    at_ns: T0 + 6 * S + 1,
                },
                PlayerEvent::Advancing { at_ns: T0 + 8 * S },
            ],
            10 * S,
        ));
        assert_eq!(t.startup_delay_ms, Some(1000.0));
        assert_eq!(t.stalls.len(), 1, "{:?}", t.stalls);
        assert_eq!(t.stalls[0].start_ns, T0 + 6 * S);
        assert_eq!(t.stall_ms, 2000.0);
        assert!((t.played_s - 7.0).abs() < 1e-9, "{}", t.played_s);
    }
}
