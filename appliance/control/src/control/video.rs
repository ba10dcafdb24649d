//! Video sessions on the control core: the activity of video-category
//! flows, their ends and their media segments go into the session tracker
//! ([`video::session`]); closed windows and ended sessions become
//! `video_windows` and `video_sessions` rows.

use std::collections::HashMap;
use std::sync::Arc;

use classify::devices::DeviceKey;
use classify::labeler::{Classifier, FlowLabel};
use datapath::epoch::{EpochSummary, FlowActivity, FlowRecord};
use model::rows::{SegmentRow, VideoSessionRow, VideoWho, VideoWindowRow};
use video::features::Seg;
use video::model::Model;
use video::session::{FlowObs, Output, SessionConfig, Tracker};

/// A session's key: the device and the service's name.
pub(crate) type Key = (DeviceKey, Arc<str>);

/// An open session as status shows it.
#[derive(Clone, Debug)]
pub struct ActiveVideo {
    /// The device's address.
    pub device_ip: [u8; 16],
    /// The device's name.
    pub device_name: Arc<str>,
    /// The service.
    pub service: Arc<str>,
    /// Start (Unix ns).
    pub start_ns: u64,
    /// Bytes toward the device so far.
    pub bytes_down: u64,
    /// Latest estimated height.
    pub resolution: Option<u32>,
    /// Estimated startup delay, s.
    pub startup_s: Option<f64>,
}

/// The tracker and what the rows need beside it.
pub(crate) struct VideoSessions {
    tracker: Tracker<Key>,
    /// Each open session's device address (the first seen).
    ips: HashMap<Key, [u8; 16]>,
    version: Arc<str>,
    activity: Vec<(FlowLabel, FlowActivity)>,
    out: Output<Key>,
    /// Sessions ended and windows closed so far.
    pub sessions: u64,
    pub windows: u64,
}

fn down_up(device_is_client: bool, c2s: [u64; 2], s2c: [u64; 2]) -> ([u64; 2], [u64; 2]) {
    if device_is_client {
        (s2c, c2s)
    } else {
        (c2s, s2c)
    }
}

impl VideoSessions {
    pub(crate) fn new(cfg: SessionConfig, model: Option<Arc<Model>>) -> VideoSessions {
        let mut v = VideoSessions {
            tracker: Tracker::new(cfg, None),
            ips: HashMap::new(),
            version: Arc::from("none"),
            activity: Vec::new(),
            out: Output::default(),
            sessions: 0,
            windows: 0,
        };
        v.set_model(model);
        v
    }

    pub(crate) fn set_model(&mut self, model: Option<Arc<Model>>) {
        self.tracker.set_model(model);
        self.version = Arc::from(self.tracker.model_version());
    }

    fn key(c: &mut Classifier, label: &FlowLabel) -> Key {
        (label.device, c.service_names(label.service).0)
    }

    /// Takes what a summary brought: the activity of video flows (from the
    /// classifier), the video flows that ended (`flows` with their
    /// `labels`) and the labelled segments (`segments`).
    pub(crate) fn absorb(
        &mut self,
        c: &mut Classifier,
        s: &EpochSummary,
        labels: &[FlowLabel],
        segments: &[SegmentRow],
    ) {
        c.take_video_activity(&mut self.activity);
        let mut activity = std::mem::take(&mut self.activity);
        for (label, a) in activity.drain(..) {
            let (down, up) = down_up(
                label.device_is_client,
                [a.c2s_packets, a.c2s_bytes],
                [a.s2c_packets, a.s2c_bytes],
            );
            let (rd, ru, od) = if label.device_is_client {
                (
                    a.s2c_retrans_packets,
                    a.c2s_retrans_packets,
                    a.s2c_out_of_order_packets,
                )
            } else {
                (
                    a.c2s_retrans_packets,
                    a.s2c_retrans_packets,
                    a.c2s_out_of_order_packets,
                )
            };
            let o = FlowObs {
                flow_id: a.flow_id,
                first_ns: a.first_ns,
                epoch_start_ns: s.start_ns,
                epoch_end_ns: s.end_ns,
                down_packets: down[0],
                down_bytes: down[1],
                up_packets: up[0],
                up_bytes: up[1],
                rtt_ns: a.rtt_ns,
                retrans_down_total: u64::from(rd),
                retrans_up_total: u64::from(ru),
                ooo_down_total: u64::from(od),
                ended: false,
            };
            self.observe(c, &label, &o);
        }
        self.activity = activity;
        for (r, label) in s.flows.iter().zip(labels) {
            if c.is_video(label.service) {
                let o = ended_obs(r, label, s);
                self.observe(c, label, &o);
            }
        }
        for row in segments {
            if row.labels.category.as_deref() != Some("video") {
                continue;
            }
            let l = &row.labels;
            let ip = l.device_ip.unwrap_or(row.client_ip);
            let device = match l.device_mac {
                Some(m) => DeviceKey::Mac(m),
                None => DeviceKey::Ip(ip),
            };
            let key: Key = (
                device,
                l.service.clone().unwrap_or_else(|| "unknown".into()),
            );
            self.ips.entry(key.clone()).or_insert(ip);
            let g = &row.seg;
            self.tracker.observe_segment(
                &key,
                Seg {
                    request_ns: g.request_ns,
                    first_ns: g.first_ns,
                    last_ns: g.last_ns,
                    bytes: g.bytes,
                },
            );
        }
        if s.end_ns > 0 {
            self.tracker.advance(s.end_ns, &mut self.out);
        }
        // Addresses of sessions that ended without rows (too few segments)
        // or whose rows were taken: dropped once they outnumber the open
        // sessions, so the map stays bounded. Rows not yet taken keep theirs.
        if self.ips.len() > 2 * self.tracker.open_sessions() + 64 {
            let (tracker, out) = (&self.tracker, &self.out);
            self.ips.retain(|k, _| {
                tracker.is_open(k)
                    || out.sessions.iter().any(|x| &x.key == k)
                    || out.windows.iter().any(|x| &x.key == k)
            });
        }
    }

    fn observe(&mut self, c: &mut Classifier, label: &FlowLabel, o: &FlowObs) {
        let key = Self::key(c, label);
        self.ips.entry(key.clone()).or_insert(label.device_ip);
        self.tracker
            .observe_flow(&key, label.server_name.as_ref(), o);
    }

    /// Ends every session (end of capture, stop).
    pub(crate) fn flush(&mut self) {
        self.tracker.flush(&mut self.out);
    }

    fn who(&self, c: &Classifier, key: &Key, id: &Arc<str>) -> VideoWho {
        let ip = self.ips.get(key).copied().unwrap_or_default();
        VideoWho {
            session_id: id.clone(),
            device_mac: key.0.mac(),
            device_ip: ip,
            device_name: c.device_name(&key.0, &ip),
            service: key.1.clone(),
            model_version: self.version.clone(),
        }
    }

    /// The rows of what closed since the last call.
    pub(crate) fn take_rows(
        &mut self,
        c: &Classifier,
        windows: &mut Vec<VideoWindowRow>,
        sessions: &mut Vec<VideoSessionRow>,
    ) {
        if self.out.is_empty() {
            return;
        }
        let out = std::mem::take(&mut self.out);
        for w in out.windows {
            windows.push(VideoWindowRow {
                who: self.who(c, &w.key, &w.session_id),
                session_start_ns: w.session_start_ns,
                index: w.index,
                start_ns: w.start_ns,
                end_ns: w.end_ns,
                resolution: w.resolution.map(|r| r.0),
                probability: w.resolution.map(|r| r.1),
                startup_s: w.startup_s,
                features: w.features,
            });
        }
        for s in out.sessions {
            sessions.push(VideoSessionRow {
                who: self.who(c, &s.key, &s.session_id),
                server_names: s
                    .server_names
                    .iter()
                    .map(|n| n.as_ref())
                    .collect::<Vec<_>>()
                    .join(","),
                start_ns: s.start_ns,
                end_ns: s.end_ns,
                bytes_down: s.down_bytes,
                bytes_up: s.up_bytes,
                flows: s.flows,
                segments: s.segments,
                windows: s.windows,
                startup_s: s.startup_s,
                resolution_mean: s.resolution_mean,
                resolution_last: s.resolution_last,
                resolution_switches: s.resolution_switches,
                end_reason: s.end_reason,
            });
            if !self.tracker.is_open(&s.key) {
                self.ips.remove(&s.key);
            }
        }
        self.windows += windows.len() as u64;
        self.sessions += sessions.len() as u64;
    }

    /// The open sessions, latest first.
    pub(crate) fn active(&self, c: &Classifier) -> Vec<ActiveVideo> {
        let mut v: Vec<ActiveVideo> = self
            .tracker
            .active()
            .map(|a| {
                let ip = self.ips.get(a.key).copied().unwrap_or_default();
                ActiveVideo {
                    device_ip: ip,
                    device_name: c.device_name(&a.key.0, &ip),
                    service: a.key.1.clone(),
                    start_ns: a.start_ns,
                    bytes_down: a.down_bytes,
                    resolution: a.resolution,
                    startup_s: a.startup_s,
                }
            })
            .collect();
        v.sort_by_key(|a| std::cmp::Reverse(a.start_ns));
        v
    }

    pub(crate) fn model_version(&self) -> &str {
        &self.version
    }
}

/// A finished video flow's last counts (those not in an activity record)
/// and its TCP statistics.
fn ended_obs(r: &FlowRecord, label: &FlowLabel, s: &EpochSummary) -> FlowObs {
    let d = r.since_report;
    let (down, up) = down_up(label.device_is_client, [d[0], d[1]], [d[2], d[3]]);
    let (td, tu) = if label.device_is_client {
        (&r.tcp_s2c, &r.tcp_c2s)
    } else {
        (&r.tcp_c2s, &r.tcp_s2c)
    };
    FlowObs {
        flow_id: r.flow_id,
        first_ns: r.first_ns,
        epoch_start_ns: s.start_ns.max(r.first_ns).min(r.last_ns),
        epoch_end_ns: r.last_ns,
        down_packets: down[0],
        down_bytes: down[1],
        up_packets: up[0],
        up_bytes: up[1],
        rtt_ns: datapath::flow::handshake_rtt(r),
        retrans_down_total: u64::from(td.retrans_packets),
        retrans_up_total: u64::from(tu.retrans_packets),
        ooo_down_total: u64::from(td.out_of_order_packets),
        ended: true,
    }
}
