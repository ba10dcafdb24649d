//! The server's access log against the player's segments: one for one, by
//! path and time.

use std::net::IpAddr;

use model::lab::SegmentDownload;

use crate::server::AccessEntry;

/// Slack around a download's times when looking for its log line: the
/// log's clock is the same, but nginx stamps a request when it ends.
const SLACK_NS: u64 = 2_000_000_000;

/// Whether a logged request is a segment (init or media).
pub fn is_segment(path: &str) -> bool {
    path.ends_with(".m4s") || path.ends_with(".mp4")
}

/// The log's segment requests from `client` within `[from_ns, to_ns]`.
pub fn session_entries(
    log: &[AccessEntry],
    client: IpAddr,
    from_ns: u64,
    to_ns: u64,
) -> Vec<&AccessEntry> {
    log.iter()
        .filter(|e| e.client.ip() == client && is_segment(&e.path))
        .filter(|e| e.end_ns >= from_ns && e.start_ns <= to_ns)
        .collect()
}

/// Sets `server_bytes` on every segment matched to a log line (same path,
/// overlapping time within [`SLACK_NS`], each line used once, earliest
/// first) and returns how many matched.
pub fn match_segments(segments: &mut [SegmentDownload], entries: &[&AccessEntry]) -> u32 {
    let mut used = vec![false; entries.len()];
    let mut matched = 0;
    for s in segments.iter_mut() {
        let from = s.request_ns.saturating_sub(SLACK_NS);
        let to = s.end_ns.saturating_add(SLACK_NS);
        let best = entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !used[*i] && e.path == s.path && e.end_ns >= from && e.start_ns <= to)
            .min_by_key(|(_, e)| e.end_ns.abs_diff(s.end_ns));
        if let Some((i, e)) = best {
            used[i] = true;
            s.server_bytes = Some(e.bytes_sent);
            matched += 1;
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, end: u64, client: &str) -> AccessEntry {
        AccessEntry {
            start_ns: end - 100,
            end_ns: end,
            path: path.into(),
            status: 200,
            bytes_sent: 1300,
            body_bytes: 1000,
            client: format!("{client}:5000").parse().unwrap(),
            connection: 1,
            connection_requests: 1,
            protocol: "HTTP/2.0".into(),
        }
    }

    fn seg(path: &str, end: u64) -> SegmentDownload {
        SegmentDownload {
            path: path.into(),
            request_ns: end - 200,
            end_ns: end,
            bytes: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn one_for_one_by_path_and_time() {
        let s = 10_000_000_000u64;
        let log = vec![
            entry("/t/chunk-0-00001.m4s", s, "192.168.77.2"),
            entry("/t/chunk-0-00001.m4s", s + 30_000_000_000, "192.168.77.2"),
            entry("/t/manifest.mpd", s, "192.168.77.2"),
            entry("/t/chunk-0-00002.m4s", s, "10.0.0.9"),
        ];
        let client: IpAddr = "192.168.77.2".parse().unwrap();
        let entries = session_entries(&log, client, 0, s + 1);
        assert_eq!(entries.len(), 1);
        let all = session_entries(&log, client, 0, u64::MAX);
        assert_eq!(all.len(), 2);
        let mut segs = vec![
            seg("/t/chunk-0-00001.m4s", s + 50),
            seg("/t/chunk-0-00001.m4s", s + 60),
            seg("/t/chunk-0-00002.m4s", s + 60),
        ];
        // One line for two identical requests at the same time: one match.
        assert_eq!(match_segments(&mut segs, &entries), 1);
        assert_eq!(segs[0].server_bytes, Some(1300));
        assert_eq!(segs[1].server_bytes, None);
        assert_eq!(segs[2].server_bytes, None);
    }
}
