//! Video sessions on the control core, and their 10 s windows.
//!
//! A session is the video traffic of one device with one video service
//! (`K`, the caller's key: device and service). It starts with the first
//! packet of a flow labelled with a video service and ends when
//!
//! - no flow of it carried a packet for `session_idle` (a pause, a closed
//!   tab on a service that keeps its connections), or
//! - every flow of it ended (FIN, RST or idle) and `closed_gap` passed
//!   without a new one (a player closed: the next play is a new session).
//!
//! A session is cut into windows of `window` from its start. A window
//! closes once data time is `close_lag` past its end (segments close a
//! little after their last byte); its features are computed then
//! ([`crate::features`]) and, with a model, its resolution predicted; the
//! first window's features also give the startup-delay estimate. Segments
//! count in the window their last byte fell in (or, if that window is
//! already closed, the oldest open one). Activity comes per epoch and
//! counts in the window its epoch started in.
//!
//! A session counts only once it had `min_segments` media segments (a
//! visit to a video service's web site, or its API, is not a play): until
//! then its windows are held, and a session that ends short of it is
//! dropped (counted in [`Tracker::discarded`]).
//!
//! Observations are held for `reorder` of data time and applied in the
//! order of their own times (a flow's end at its last packet), since the
//! workers report a finished flow only after its linger.
//!
//! Memory per session is bounded: its open windows (at most
//! `close_lag / window + 2`), a table of its flows, the last ten segments.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use crate::features::{self, Features, Seg, SessionInput, WindowInput};
use crate::model::Model;

/// Session and window settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Window length, ns (10 s).
    pub window_ns: u64,
    /// A session ends after this long without a packet, ns.
    pub session_idle_ns: u64,
    /// A session whose flows all ended ends after this long without a new
    /// flow, ns.
    pub closed_gap_ns: u64,
    /// A window closes when data time is this far past its end, ns.
    pub close_lag_ns: u64,
    /// Observations are held this long (data time) and applied in time
    /// order: a flow's end record comes after its linger, so a new flow
    /// of the next play must not be seen before the old flow's end, ns.
    pub reorder_ns: u64,
    /// A session is written only once it had this many media segments:
    /// fewer is a visit to the service's site or an API call, not a play
    /// (its windows are held until then, and dropped with it).
    pub min_segments: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            window_ns: 10_000_000_000,
            session_idle_ns: 20_000_000_000,
            closed_gap_ns: 2_000_000_000,
            close_lag_ns: 3_000_000_000,
            reorder_ns: 6_000_000_000,
            min_segments: 2,
        }
    }
}

/// One flow's packets over one epoch (from the workers' activity records
/// or a finished flow's last counts), with its TCP statistics so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowObs {
    /// The flow's id.
    pub flow_id: u64,
    /// The flow's first packet (Unix ns).
    pub first_ns: u64,
    /// Start of the epoch the counts are from (Unix ns).
    pub epoch_start_ns: u64,
    /// End of that epoch (Unix ns).
    pub epoch_end_ns: u64,
    /// Frame bytes toward the device in the epoch.
    pub down_bytes: u64,
    /// Frame bytes from the device.
    pub up_bytes: u64,
    /// Packets toward the device.
    pub down_packets: u64,
    /// Packets from the device.
    pub up_packets: u64,
    /// Handshake RTT seen at the tap (SYN→SYN/ACK + SYN/ACK→ACK), ns; 0
    /// unknown.
    pub rtt_ns: u64,
    /// Retransmitted packets toward the device since the flow started.
    pub retrans_down_total: u64,
    /// Retransmitted packets from the device since the flow started.
    pub retrans_up_total: u64,
    /// Out-of-order packets toward the device since the flow started.
    pub ooo_down_total: u64,
    /// The flow ended with this epoch.
    pub ended: bool,
}

/// A closed window, its features and predictions.
#[derive(Clone, Debug)]
pub struct WindowOut<K> {
    /// The session's key.
    pub key: K,
    /// The session's id (`<start µs>-<n>`, unique in a run).
    pub session_id: Arc<str>,
    /// Session start (Unix ns).
    pub session_start_ns: u64,
    /// Place in the session (0 = first).
    pub index: u32,
    /// Window start (Unix ns).
    pub start_ns: u64,
    /// Window end (Unix ns; shorter than the window length for a session's
    /// last).
    pub end_ns: u64,
    /// Features.
    pub features: Features,
    /// Predicted height and its probability (with a model).
    pub resolution: Option<(u32, f64)>,
    /// Startup-delay estimate, seconds (first window, with a model).
    pub startup_s: Option<f64>,
}

/// An ended session.
#[derive(Clone, Debug)]
pub struct SessionOut<K> {
    /// The session's key.
    pub key: K,
    /// Its id.
    pub session_id: Arc<str>,
    /// First packet (Unix ns).
    pub start_ns: u64,
    /// Last packet (Unix ns, epoch resolution).
    pub end_ns: u64,
    /// Frame bytes toward the device.
    pub down_bytes: u64,
    /// Frame bytes from the device.
    pub up_bytes: u64,
    /// Flows of the session.
    pub flows: u32,
    /// Segments detected.
    pub segments: u64,
    /// Windows written.
    pub windows: u32,
    /// Server names its flows carried (up to 8).
    pub server_names: Vec<Arc<str>>,
    /// Startup-delay estimate, seconds.
    pub startup_s: Option<f64>,
    /// Time-weighted mean of the windows' predicted heights.
    pub resolution_mean: Option<f64>,
    /// Changes of predicted height between consecutive windows.
    pub resolution_switches: u32,
    /// The last window's predicted height.
    pub resolution_last: Option<u32>,
    /// Why it ended: `idle`, `closed` or `end_of_capture`.
    pub end_reason: &'static str,
}

/// An open session as status shows it.
#[derive(Clone, Debug)]
pub struct ActiveSession<'a, K> {
    /// Key.
    pub key: &'a K,
    /// Id.
    pub session_id: &'a str,
    /// Start (Unix ns).
    pub start_ns: u64,
    /// Latest packet (Unix ns).
    pub last_ns: u64,
    /// Bytes toward the device so far.
    pub down_bytes: u64,
    /// The latest window's predicted height.
    pub resolution: Option<u32>,
    /// The startup-delay estimate, once the first window closed.
    pub startup_s: Option<f64>,
}

#[derive(Clone, Debug, Default)]
struct WindowAcc {
    down_bytes: u64,
    up_bytes: u64,
    down_packets: u64,
    up_packets: u64,
    flows: Vec<u64>,
    new_flows: u32,
    retrans_down: u64,
    retrans_up: u64,
    ooo_down: u64,
    segments: Vec<Seg>,
}

#[derive(Clone, Copy, Debug, Default)]
struct FlowState {
    rtt_ns: u64,
    retrans_down: u64,
    retrans_up: u64,
    ooo_down: u64,
    ended: bool,
}

struct Session<K> {
    key: K,
    id: Arc<str>,
    start_ns: u64,
    last_ns: u64,
    last_flow_end_ns: u64,
    /// Index of the oldest open window; `open[i]` is window `first + i`.
    first: u32,
    open: Vec<WindowAcc>,
    flows: HashMap<u64, FlowState>,
    down_bytes: u64,
    up_bytes: u64,
    seg_count: u64,
    seg_bytes: u64,
    last10: Vec<Seg>,
    previous_request_ns: Option<u64>,
    t_seg: [Option<f64>; 4],
    server_names: Vec<Arc<str>>,
    windows: u32,
    /// Windows closed before the session had `min_segments` segments.
    held: Vec<WindowOut<K>>,
    startup_s: Option<f64>,
    res_weighted: f64,
    res_secs: f64,
    res_last: Option<u32>,
    switches: u32,
}

enum Event<K> {
    Flow(K, Option<Arc<str>>, FlowObs),
    Segment(K, Seg),
}

/// The sessions of a run.
pub struct Tracker<K> {
    cfg: SessionConfig,
    pending: BTreeMap<(u64, u64), Event<K>>,
    seq: u64,
    model: Option<Arc<Model>>,
    sessions: HashMap<K, Session<K>>,
    started: u64,
    discarded: u64,
    now_ns: u64,
}

impl<K: Clone + Eq + Hash> Tracker<K> {
    /// A tracker with these settings and, if given, a model to evaluate on
    /// each closed window.
    pub fn new(cfg: SessionConfig, model: Option<Arc<Model>>) -> Tracker<K> {
        Tracker {
            cfg,
            pending: BTreeMap::new(),
            seq: 0,
            model,
            sessions: HashMap::new(),
            started: 0,
            discarded: 0,
            now_ns: 0,
        }
    }

    /// Replaces the model (a configuration reload); windows closed from
    /// now on use it.
    pub fn set_model(&mut self, model: Option<Arc<Model>>) {
        self.model = model;
    }

    /// The model's version, or `none`.
    pub fn model_version(&self) -> &str {
        self.model.as_deref().map_or("none", Model::version)
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions that ended with fewer than `min_segments` segments (not
    /// written).
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// Whether `key` has an open session.
    pub fn is_open(&self, key: &K) -> bool {
        self.sessions.contains_key(key)
    }

    fn session(&mut self, key: &K, at_ns: u64) -> &mut Session<K> {
        if !self.sessions.contains_key(key) {
            self.started += 1;
            let id: Arc<str> = Arc::from(format!("{}-{}", at_ns / 1000, self.started));
            self.sessions.insert(
                key.clone(),
                Session {
                    key: key.clone(),
                    id,
                    start_ns: at_ns,
                    last_ns: at_ns,
                    last_flow_end_ns: 0,
                    first: 0,
                    open: Vec::new(),
                    flows: HashMap::new(),
                    down_bytes: 0,
                    up_bytes: 0,
                    seg_count: 0,
                    seg_bytes: 0,
                    last10: Vec::with_capacity(10),
                    previous_request_ns: None,
                    t_seg: [None; 4],
                    server_names: Vec::new(),
                    windows: 0,
                    held: Vec::new(),
                    startup_s: None,
                    res_weighted: 0.0,
                    res_secs: 0.0,
                    res_last: None,
                    switches: 0,
                },
            );
        }
        self.sessions.get_mut(key).expect("inserted")
    }

    /// A video flow's packets over an epoch (or its end), applied once
    /// data time is `reorder` past it.
    pub fn observe_flow(&mut self, key: &K, server_name: Option<&Arc<str>>, o: &FlowObs) {
        let t = if o.ended {
            o.epoch_end_ns
        } else {
            o.first_ns.max(o.epoch_start_ns)
        };
        self.push(t, Event::Flow(key.clone(), server_name.cloned(), *o));
    }

    /// A media segment of a video flow (its last byte at `seg.last_ns`),
    /// applied once data time is `reorder` past it.
    pub fn observe_segment(&mut self, key: &K, seg: Seg) {
        self.push(seg.last_ns, Event::Segment(key.clone(), seg));
    }

    fn push(&mut self, t: u64, e: Event<K>) {
        self.seq += 1;
        self.pending.insert((t, self.seq), e);
    }

    /// Applies the held observations up to `until`, in time order.
    fn release(&mut self, until: u64, out: &mut Output<K>) {
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > until {
                break;
            }
            match entry.remove() {
                Event::Flow(k, name, o) => self.apply_flow(&k, name.as_ref(), &o, out),
                Event::Segment(k, g) => self.apply_segment(&k, g, out),
            }
        }
    }

    /// A flow observation. Sessions that ended before it (by the rules
    /// above) are closed into `out` first, so a new play after a pause
    /// becomes a session of its own.
    fn apply_flow(
        &mut self,
        key: &K,
        server_name: Option<&Arc<str>>,
        o: &FlowObs,
        out: &mut Output<K>,
    ) {
        let packets = o.down_packets + o.up_packets;
        if packets == 0 && !o.ended {
            return;
        }
        self.end_if_over(key, o.epoch_start_ns.max(o.first_ns), out);
        let cfg = self.cfg;
        let at = o.first_ns.max(o.epoch_start_ns);
        if packets == 0 && !self.sessions.contains_key(key) {
            return;
        }
        let s = self.session(key, at);
        s.last_ns = s.last_ns.max(o.epoch_end_ns);
        if let Some(n) = server_name {
            if s.server_names.len() < 8 && !s.server_names.iter().any(|x| x == n) {
                s.server_names.push(n.clone());
            }
        }
        let known = s.flows.contains_key(&o.flow_id);
        let f = s.flows.entry(o.flow_id).or_default();
        if f.rtt_ns == 0 {
            f.rtt_ns = o.rtt_ns;
        }
        let d_rd = o.retrans_down_total.saturating_sub(f.retrans_down);
        let d_ru = o.retrans_up_total.saturating_sub(f.retrans_up);
        let d_oo = o.ooo_down_total.saturating_sub(f.ooo_down);
        f.retrans_down = f.retrans_down.max(o.retrans_down_total);
        f.retrans_up = f.retrans_up.max(o.retrans_up_total);
        f.ooo_down = f.ooo_down.max(o.ooo_down_total);
        if o.ended {
            f.ended = true;
            s.last_flow_end_ns = s.last_flow_end_ns.max(o.epoch_end_ns);
        }
        s.down_bytes += o.down_bytes;
        s.up_bytes += o.up_bytes;
        if packets == 0 {
            return;
        }
        let Some(w) = s.window_for(at, &cfg) else {
            return;
        };
        w.down_bytes += o.down_bytes;
        w.up_bytes += o.up_bytes;
        w.down_packets += o.down_packets;
        w.up_packets += o.up_packets;
        w.retrans_down += d_rd;
        w.retrans_up += d_ru;
        w.ooo_down += d_oo;
        if !w.flows.contains(&o.flow_id) {
            w.flows.push(o.flow_id);
            if !known {
                w.new_flows += 1;
            }
        }
    }

    /// A segment observation; a segment of no open session opens one.
    fn apply_segment(&mut self, key: &K, seg: Seg, out: &mut Output<K>) {
        self.end_if_over(key, seg.request_ns, out);
        let cfg = self.cfg;
        let s = self.session(key, seg.request_ns);
        s.last_ns = s.last_ns.max(seg.last_ns);
        s.seg_count += 1;
        s.seg_bytes += seg.bytes;
        let since = seg.last_ns.saturating_sub(s.start_ns) as f64 / 1e9;
        for (slot, n) in [(0usize, 1u64), (1, 2), (2, 4)] {
            if s.t_seg[slot].is_none() && s.seg_count >= n {
                s.t_seg[slot] = Some(since);
            }
        }
        if s.t_seg[3].is_none() && s.seg_bytes >= 1_000_000 {
            s.t_seg[3] = Some(since);
        }
        if s.last10.len() == 10 {
            s.last10.remove(0);
        }
        s.last10.push(seg);
        if let Some(w) = s.window_for(seg.last_ns, &cfg) {
            w.segments.push(seg);
        }
        if s.seg_count == cfg.min_segments {
            out.windows.append(&mut s.held);
        }
    }

    /// Moves data time to `now_ns`: closes the windows it passed and the
    /// sessions that ended.
    pub fn advance(&mut self, now_ns: u64, out: &mut Output<K>) {
        self.now_ns = self.now_ns.max(now_ns);
        let now = self.now_ns.saturating_sub(self.cfg.reorder_ns);
        self.release(now, out);
        self.close_due(now, out);
    }

    /// Closes the windows and sessions that are over at `now`.
    fn close_due(&mut self, now: u64, out: &mut Output<K>) {
        let cfg = self.cfg;
        let model = self.model.clone();
        let mut ended = Vec::new();
        for (k, s) in self.sessions.iter_mut() {
            if let Some(reason) = s.over(now, &cfg) {
                ended.push((k.clone(), reason));
                continue;
            }
            while !s.open.is_empty() {
                let end = s.window_start(s.first, &cfg) + cfg.window_ns;
                if end.saturating_add(cfg.close_lag_ns) > now {
                    break;
                }
                s.close_window(end, &cfg, model.as_deref(), out);
            }
        }
        for (k, reason) in ended {
            self.end(&k, reason, out);
        }
    }

    /// Ends every session (end of capture or shutdown).
    pub fn flush(&mut self, out: &mut Output<K>) {
        self.release(u64::MAX, out);
        let keys: Vec<K> = self.sessions.keys().cloned().collect();
        for k in keys {
            self.end(&k, "end_of_capture", out);
        }
    }

    /// The open sessions.
    pub fn active(&self) -> impl Iterator<Item = ActiveSession<'_, K>> {
        let min = self.cfg.min_segments;
        self.sessions
            .values()
            .filter(move |s| s.seg_count >= min)
            .map(|s| ActiveSession {
                key: &s.key,
                session_id: &s.id,
                start_ns: s.start_ns,
                last_ns: s.last_ns,
                down_bytes: s.down_bytes,
                resolution: s.res_last,
                startup_s: s.startup_s,
            })
    }

    fn end_if_over(&mut self, key: &K, at_ns: u64, out: &mut Output<K>) {
        let cfg = self.cfg;
        let reason = self.sessions.get(key).and_then(|s| s.over(at_ns, &cfg));
        if let Some(r) = reason {
            self.end(key, r, out);
        }
    }

    fn end(&mut self, key: &K, reason: &'static str, out: &mut Output<K>) {
        let Some(mut s) = self.sessions.remove(key) else {
            return;
        };
        let cfg = self.cfg;
        let model = self.model.clone();
        while !s.open.is_empty() {
            let end = (s.window_start(s.first, &cfg) + cfg.window_ns)
                .min(s.last_ns.max(s.window_start(s.first, &cfg) + 1));
            s.close_window(end, &cfg, model.as_deref(), out);
        }
        if s.seg_count < cfg.min_segments {
            self.discarded += 1;
            return;
        }
        out.sessions.push(SessionOut {
            key: s.key,
            session_id: s.id,
            start_ns: s.start_ns,
            end_ns: s.last_ns,
            down_bytes: s.down_bytes,
            up_bytes: s.up_bytes,
            flows: s.flows.len() as u32,
            segments: s.seg_count,
            windows: s.windows,
            server_names: s.server_names,
            startup_s: s.startup_s,
            resolution_mean: (s.res_secs > 0.0).then(|| s.res_weighted / s.res_secs),
            resolution_switches: s.switches,
            resolution_last: s.res_last,
            end_reason: reason,
        });
    }
}

/// What the tracker closed: windows and sessions, in the order they
/// closed.
#[derive(Debug)]
pub struct Output<K> {
    /// Closed windows.
    pub windows: Vec<WindowOut<K>>,
    /// Ended sessions.
    pub sessions: Vec<SessionOut<K>>,
}

impl<K> Default for Output<K> {
    fn default() -> Self {
        Output {
            windows: Vec::new(),
            sessions: Vec::new(),
        }
    }
}

impl<K> Output<K> {
    /// Nothing closed.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.sessions.is_empty()
    }
}

impl<K: Clone> Session<K> {
    fn window_start(&self, index: u32, cfg: &SessionConfig) -> u64 {
        self.start_ns + u64::from(index) * cfg.window_ns
    }

    /// The open window `t` falls in; for a time whose window is closed
    /// already (a segment or a flow reported late, e.g. at an idle flow's
    /// timeout), the oldest open one, or none: it then counts in the
    /// session's totals only.
    fn window_for(&mut self, t: u64, cfg: &SessionConfig) -> Option<&mut WindowAcc> {
        let idx = (t.saturating_sub(self.start_ns) / cfg.window_ns.max(1)).min(u64::from(u32::MAX))
            as u32;
        if idx < self.first {
            return self.open.first_mut();
        }
        let slot = (idx - self.first) as usize;
        if self.open.len() <= slot {
            self.open.resize_with(slot + 1, WindowAcc::default);
        }
        Some(&mut self.open[slot])
    }

    fn over(&self, now: u64, cfg: &SessionConfig) -> Option<&'static str> {
        if now >= self.last_ns.saturating_add(cfg.session_idle_ns) {
            return Some("idle");
        }
        let all_ended = !self.flows.is_empty() && self.flows.values().all(|f| f.ended);
        if all_ended && now >= self.last_flow_end_ns.saturating_add(cfg.closed_gap_ns) {
            return Some("closed");
        }
        None
    }

    fn median_rtt(&self) -> u64 {
        let mut r: Vec<u64> = self
            .flows
            .values()
            .map(|f| f.rtt_ns)
            .filter(|&v| v > 0)
            .collect();
        if r.is_empty() {
            return 0;
        }
        r.sort_unstable();
        r[r.len() / 2]
    }

    fn close_window(
        &mut self,
        end_ns: u64,
        cfg: &SessionConfig,
        model: Option<&Model>,
        out: &mut Output<K>,
    ) {
        let index = self.first;
        let start = self.window_start(index, cfg);
        let w = self.open.remove(0);
        self.first += 1;
        let end_ns = end_ns.max(start + 1);
        let window_s = (end_ns - start) as f64 / 1e9;
        let mut segs = w.segments;
        segs.sort_by_key(|g| g.last_ns);
        // The session so far: up to this window's end.
        let cum_down = self.down_bytes
            - self
                .open
                .iter()
                .map(|o| o.down_bytes)
                .sum::<u64>()
                .min(self.down_bytes);
        let later: Vec<&Seg> = self.open.iter().flat_map(|o| o.segments.iter()).collect();
        let later_bytes: u64 = later.iter().map(|g| g.bytes).sum();
        let seg_count = self.seg_count - later.len() as u64;
        let seg_bytes = self.seg_bytes - later_bytes;
        let last10: Vec<Seg> = self
            .last10
            .iter()
            .filter(|g| !later.contains(g))
            .copied()
            .collect();
        let until =
            |t: Option<f64>| t.filter(|&v| v <= window_s + (start - self.start_ns) as f64 / 1e9);
        let f = features::compute(
            &WindowInput {
                window_s,
                elapsed_s: (start - self.start_ns) as f64 / 1e9,
                down_bytes: w.down_bytes,
                up_bytes: w.up_bytes,
                down_packets: w.down_packets,
                up_packets: w.up_packets,
                flows: w.flows.len() as u32,
                new_flows: w.new_flows,
                rtt_ns: self.median_rtt(),
                retrans_down: w.retrans_down,
                retrans_up: w.retrans_up,
                ooo_down: w.ooo_down,
                segments: &segs,
                previous_request_ns: self.previous_request_ns,
            },
            &SessionInput {
                seg_count,
                seg_bytes,
                down_bytes: cum_down,
                last10: &last10,
                t_seg1_s: until(self.t_seg[0]),
                t_seg2_s: until(self.t_seg[1]),
                t_seg4_s: until(self.t_seg[2]),
                t_seg_1mb_s: until(self.t_seg[3]),
            },
        );
        if let Some(g) = segs.iter().max_by_key(|g| g.request_ns) {
            self.previous_request_ns = Some(g.request_ns);
        }
        // Nothing came down: nothing to infer a resolution from (a pause).
        let resolution = if w.down_bytes > 0 || !segs.is_empty() {
            model.and_then(|m| m.resolution(&f.values))
        } else {
            None
        };
        let startup_s = if index == 0 {
            model
                .and_then(|m| m.startup_s(&f.values))
                .map(|v| v.max(0.0))
        } else {
            None
        };
        if index == 0 {
            self.startup_s = startup_s;
        }
        if let Some((h, _)) = resolution {
            self.res_weighted += f64::from(h) * window_s;
            self.res_secs += window_s;
            if self.res_last.is_some_and(|l| l != h) {
                self.switches += 1;
            }
            self.res_last = Some(h);
        }
        self.windows += 1;
        let held = self.seg_count < cfg.min_segments;
        let to = if held {
            &mut self.held
        } else {
            &mut out.windows
        };
        to.push(WindowOut {
            key: self.key.clone(),
            session_id: self.id.clone(),
            session_start_ns: self.start_ns,
            index,
            start_ns: start,
            end_ns,
            features: f,
            resolution,
            startup_s,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const T0: u64 = 1_700_000_000 * S;

    fn obs(flow: u64, epoch: u64, down: u64, ended: bool) -> FlowObs {
        FlowObs {
            flow_id: flow,
            first_ns: T0 + 300_000_000,
            epoch_start_ns: T0 + epoch * S,
            epoch_end_ns: T0 + (epoch + 1) * S,
            down_bytes: down,
            up_bytes: down / 50,
            down_packets: down / 1500 + 1,
            up_packets: down / 3000 + 1,
            rtt_ns: 20_000_000,
            ended,
            ..FlowObs::default()
        }
    }

    fn seg(at_s: f64, bytes: u64) -> Seg {
        let r = T0 + (at_s * 1e9) as u64;
        Seg {
            request_ns: r,
            first_ns: r + 30_000_000,
            last_ns: r + 400_000_000,
            bytes,
        }
    }

    /// Plays `secs` seconds of a session on flow 1: a megabit each second
    /// and a 500 kB segment every 4 s.
    /// Settings without holding observations back (the tests apply them
    /// at once), but for the test of reordering.
    fn cfg() -> SessionConfig {
        SessionConfig {
            reorder_ns: 0,
            min_segments: 0,
            ..SessionConfig::default()
        }
    }

    fn play(
        t: &mut Tracker<&'static str>,
        key: &'static str,
        from: u64,
        secs: u64,
        out: &mut Output<&'static str>,
    ) {
        for e in from..from + secs {
            t.observe_flow(&key, None, &obs(1, e, 125_000, false));
            if e % 4 == 0 {
                t.observe_segment(&key, seg(e as f64 + 0.1, 500_000));
            }
            t.advance(T0 + (e + 1) * S, out);
        }
    }

    #[test]
    fn windows_of_ten_seconds_from_the_session_start() {
        let mut t = Tracker::new(cfg(), None);
        let mut out = Output::default();
        play(&mut t, "tv", 0, 25, &mut out);
        // Windows close 3 s after their end: [0.3, 10.3) at 13.3 s, the
        // next at 23.3 s.
        assert_eq!(out.windows.len(), 2);
        let w0 = &out.windows[0];
        assert_eq!(w0.index, 0);
        assert_eq!(w0.start_ns, T0 + 300_000_000);
        assert_eq!(w0.end_ns, w0.start_ns + 10 * S);
        let f = |w: &WindowOut<&str>, n: &str| w.features.get(n).unwrap();
        // Epochs 0..=10 start in window 0 (epoch 0 counts from the flow's
        // first packet, epoch 10 starts at 10.0 s): eleven of 1 Mbit.
        assert!((f(w0, "f_down_mbps") - 1.1).abs() < 1e-9);
        assert!((f(&out.windows[1], "f_down_mbps") - 1.0).abs() < 1e-9);
        assert_eq!(f(w0, "f_flows"), 1.0);
        assert_eq!(f(w0, "f_new_flows"), 1.0);
        assert_eq!(f(&out.windows[1], "f_new_flows"), 0.0);
        assert_eq!(f(w0, "f_rtt_ms"), 20.0);
        // Segments ending at 0.5, 4.5 and 8.5 s.
        assert_eq!(f(w0, "f_seg_count"), 3.0);
        assert_eq!(f(w0, "f_seg_iat_s_mean"), 4.0);
        assert!((f(w0, "f_t_seg1_s") - 0.2).abs() < 1e-6);
        assert!((f(w0, "f_t_seg2_s") - 4.2).abs() < 1e-6);
        assert_eq!(
            f(w0, "f_t_seg4_s"),
            -1.0,
            "the 4th ended in the next window"
        );
        assert!((f(&out.windows[1], "f_t_seg4_s") - 12.2).abs() < 1e-6);
        assert_eq!(f(&out.windows[1], "f_cum_seg_count"), 5.0);
        assert_eq!(f(&out.windows[1], "f_elapsed_s"), 10.0);
        assert!(out.sessions.is_empty());
        assert!(out
            .windows
            .iter()
            .all(|w| w.resolution.is_none() && w.startup_s.is_none()));
    }

    #[test]
    fn an_idle_gap_ends_a_session_and_its_last_window_is_short() {
        let cfg = cfg();
        let mut t = Tracker::new(cfg, None);
        let mut out = Output::default();
        play(&mut t, "tv", 0, 15, &mut out);
        // Nothing for the idle gap: the session ends.
        t.advance(T0 + 15 * S + cfg.session_idle_ns, &mut out);
        assert_eq!(out.sessions.len(), 1);
        let s = &out.sessions[0];
        assert_eq!(s.end_reason, "idle");
        assert_eq!(s.windows, 2);
        assert_eq!(s.end_ns, T0 + 15 * S);
        assert_eq!(s.down_bytes, 15 * 125_000);
        let last = out.windows.last().unwrap();
        assert_eq!(last.index, 1);
        assert_eq!(last.end_ns, T0 + 15 * S, "cut at the last packet");
        // A new play is a new session.
        play(&mut t, "tv", 40, 3, &mut out);
        t.flush(&mut out);
        assert_eq!(out.sessions.len(), 2);
        assert_ne!(out.sessions[0].session_id, out.sessions[1].session_id);
        assert_eq!(out.sessions[1].end_reason, "end_of_capture");
        assert_eq!(out.sessions[1].start_ns, T0 + 40 * S);
    }

    #[test]
    fn a_session_whose_flows_all_ended_ends_after_the_closed_gap() {
        let cfg = cfg();
        let mut t = Tracker::new(cfg, None);
        let mut out = Output::default();
        play(&mut t, "tv", 0, 5, &mut out);
        let mut end = obs(1, 5, 1000, true);
        end.epoch_end_ns = T0 + 6 * S;
        t.observe_flow(&"tv", None, &end);
        t.advance(T0 + 7 * S, &mut out);
        assert!(out.sessions.is_empty(), "within the closed gap");
        // The next session's first flow, 3 s after the end.
        let mut o = obs(2, 9, 125_000, false);
        o.first_ns = T0 + 9 * S;
        t.observe_flow(&"tv", None, &o);
        t.advance(T0 + 10 * S, &mut out);
        assert_eq!(out.sessions.len(), 1);
        assert_eq!(out.sessions[0].end_reason, "closed");
        assert_eq!(out.sessions[0].end_ns, T0 + 6 * S);
        assert_eq!(t.open_sessions(), 1);
        assert_eq!(t.active().next().unwrap().start_ns, T0 + 9 * S);
    }

    #[test]
    fn devices_and_services_are_separate_sessions() {
        let mut t = Tracker::new(cfg(), None);
        let mut out = Output::default();
        play(&mut t, "tv", 0, 3, &mut out);
        play(&mut t, "phone", 1, 3, &mut out);
        assert_eq!(t.open_sessions(), 2);
        t.flush(&mut out);
        let mut keys: Vec<_> = out.sessions.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["phone", "tv"]);
    }

    #[test]
    fn a_pause_gives_empty_windows_without_estimates() {
        let mut t = Tracker::new(cfg(), None);
        let mut out = Output::default();
        play(&mut t, "tv", 0, 5, &mut out);
        // 17 s of silence (under the idle gap), then more.
        play(&mut t, "tv", 22, 2, &mut out);
        t.flush(&mut out);
        let idx: Vec<u32> = out.windows.iter().map(|w| w.index).collect();
        assert_eq!(idx, [0, 1, 2]);
        assert_eq!(out.windows[1].features.get("f_down_mbps"), Some(0.0));
        assert_eq!(out.sessions[0].windows, 3);
    }

    /// Plays 6 s on flow 1 (last packet at 6 s), then flow 2 from 9 s; the
    /// end of flow 1 is reported at 11 s, after flow 2 started.
    fn two_plays_with_a_late_end(t: &mut Tracker<&'static str>, out: &mut Output<&'static str>) {
        play(t, "tv", 0, 6, out);
        for e in 9..11 {
            let mut o = obs(2, e, 125_000, false);
            o.first_ns = T0 + 9 * S;
            t.observe_flow(&"tv", None, &o);
            t.advance(T0 + (e + 1) * S, out);
        }
        let mut end = obs(1, 11, 0, true);
        end.epoch_end_ns = T0 + 6 * S;
        t.observe_flow(&"tv", None, &end);
    }

    #[test]
    fn a_late_flow_end_still_splits_the_next_play() {
        // The end of flow 1 (last packet at 6 s) is reported at 11 s, after
        // the next play's flow 2 started at 9 s: held back, the
        // observations are applied in time order.
        let cfg = SessionConfig {
            min_segments: 0,
            ..SessionConfig::default()
        };
        let mut t = Tracker::new(cfg, None);
        let mut out = Output::default();
        two_plays_with_a_late_end(&mut t, &mut out);
        t.advance(T0 + 20 * S, &mut out);
        assert_eq!(out.sessions.len(), 1, "{:?}", out.sessions);
        assert_eq!(out.sessions[0].end_reason, "closed");
        assert_eq!(out.sessions[0].flows, 1);
        t.flush(&mut out);
        assert_eq!(out.sessions[1].start_ns, T0 + 9 * S);
        assert_eq!(out.sessions[1].flows, 1);
    }

    #[test]
    fn without_a_reorder_delay_the_late_end_merges_the_plays() {
        // The same as above, not held back: what the delay is for.
        let mut t = Tracker::new(cfg(), None);
        let mut out = Output::default();
        two_plays_with_a_late_end(&mut t, &mut out);
        t.flush(&mut out);
        assert_eq!(out.sessions.len(), 1);
        assert_eq!(out.sessions[0].flows, 2);
    }

    #[test]
    fn a_session_short_of_segments_is_not_written() {
        let cfg = SessionConfig {
            reorder_ns: 0,
            ..SessionConfig::default()
        };
        let mut t = Tracker::new(cfg, None);
        let mut out = Output::default();
        // Browsing: 15 s of traffic, no segment.
        for e in 0..15 {
            t.observe_flow(&"tv", None, &obs(1, e, 20_000, false));
            t.advance(T0 + (e + 1) * S, &mut out);
        }
        assert!(out.windows.is_empty(), "held");
        assert_eq!(t.active().count(), 0);
        t.advance(T0 + 40 * S, &mut out);
        assert!(out.is_empty());
        assert_eq!(t.discarded(), 1);
        // A play: its windows held until its second segment, then written.
        for e in 50..66 {
            t.observe_flow(&"tv", None, &obs(1, e, 125_000, false));
            if e == 64 || e == 65 {
                t.observe_segment(&"tv", seg(e as f64, 300_000));
            }
            t.advance(T0 + (e + 1) * S, &mut out);
        }
        assert_eq!(out.windows.len(), 1);
        assert_eq!(out.windows[0].index, 0);
        assert_eq!(t.active().count(), 1);
        t.flush(&mut out);
        assert_eq!(out.sessions.len(), 1);
        assert_eq!(out.sessions[0].segments, 2);
        assert_eq!(t.discarded(), 1);
    }

    #[test]
    fn a_late_segment_opens_no_window_of_its_own() {
        let mut t = Tracker::new(cfg(), None);
        let mut out = Output::default();
        play(&mut t, "tv", 0, 15, &mut out);
        t.advance(T0 + 27 * S, &mut out);
        assert_eq!(out.windows.len(), 2);
        // Reported at an idle flow's timeout, long after its window closed.
        t.observe_segment(&"tv", seg(5.0, 200_000));
        t.advance(T0 + 28 * S, &mut out);
        t.flush(&mut out);
        assert_eq!(out.windows.len(), 2);
        assert!(out.windows.iter().all(|w| w.end_ns > w.start_ns));
        assert_eq!(out.sessions[0].segments, 5);
        assert_eq!(out.sessions[0].windows, 2);
    }
}
