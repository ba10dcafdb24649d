//! The video lab's rows: one [`LabRun`] per run of `tapscope lab video` and
//! one [`LabSession`] per played session, with the player's own ground
//! truth (startup delay, resolution over time, stalls, every segment).
//!
//! Times are wall-clock Unix ns (the lab's clock, which is also the mirror
//! capture's clock, so sessions join to flows by time).

use serde::{Deserialize, Serialize};

/// One run of the lab: what was asked and how far it got.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabRun {
    /// Name of the run (the folder's run name; a rerun continues it).
    pub run: String,
    /// When the run (or its first attempt) started.
    pub started_ns: u64,
    /// When it ended (this attempt); `None` while it runs.
    pub ended_ns: Option<u64>,
    /// Sessions planned.
    pub sessions_planned: u32,
    /// Sessions recorded with status `ok`.
    pub sessions_ok: u32,
    /// Sessions recorded with any other status.
    pub sessions_failed: u32,
    /// Bandwidth caps, Mbit/s, each used by the same number of sessions.
    pub caps_mbps: Vec<f64>,
    /// Length of a session, seconds.
    pub session_s: u32,
    /// Titles played.
    pub titles: Vec<String>,
    /// Seed of the session order.
    pub seed: u64,
    /// The player adapter (`dashjs`, ...).
    pub player: String,
    /// The ladder: rendition names and bitrates, e.g. `144p:150k,360p:600k`.
    pub ladder: String,
    /// Every planned session was recorded.
    pub finished: bool,
}

/// A change of the rendered resolution, as the player reported it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolutionChange {
    /// When the new rendition started to be rendered.
    pub at_ns: u64,
    /// Height before (0 for the first rendition).
    pub from_height: u32,
    /// Height after.
    pub to_height: u32,
    /// Declared bitrate of the new rendition, kbit/s.
    pub bitrate_kbps: u32,
}

/// A stall: playback waited for data after it had started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// When the buffer ran empty.
    pub start_ns: u64,
    /// How long until playback resumed (or the session ended), ms.
    pub duration_ms: f64,
}

/// One media segment (or init segment) the player downloaded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentDownload {
    /// `video` or `audio`.
    pub media: String,
    /// Path of the request (no host), e.g. `/t1/chunk-1-00005.m4s`.
    pub path: String,
    /// Rendition name, e.g. `360p` (audio: its bitrate, e.g. `a96k`).
    pub rendition: String,
    /// Height of the rendition (0 for audio).
    pub height: u32,
    /// Segment index (0 for an init segment).
    pub index: u32,
    /// Bytes of the body as the player received them.
    pub bytes: u64,
    /// When the request was sent.
    pub request_ns: u64,
    /// When the first byte of the response arrived (`None` if unknown).
    pub first_byte_ns: Option<u64>,
    /// When the download finished (for one not completed: when it was
    /// abandoned, or when the session was stopped with it in flight).
    pub end_ns: u64,
    /// The player received the whole segment (false: abandoned by the
    /// player, failed, or still in flight when the session was stopped).
    pub completed: bool,
    /// Bytes the server's access log says it sent for this request
    /// (headers included); `None` when no log line matched.
    pub server_bytes: Option<u64>,
}

/// One played session and its ground truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LabSession {
    /// The run it belongs to.
    pub run: String,
    /// Its place in the run's plan (0-based).
    pub session: u32,
    /// Title played.
    pub title: String,
    /// Bandwidth cap, Mbit/s, both directions.
    pub cap_mbps: f64,
    /// When the player was asked to load the manifest.
    pub started_ns: u64,
    /// When the session was stopped.
    pub ended_ns: u64,
    /// `ok`, `no_playback` (the player never started), `player_error`,
    /// `browser_error`, `server_error` or `interrupted`.
    pub status: String,
    /// Why it is not `ok`, for people.
    pub reason: Option<String>,
    /// The player adapter.
    pub player: String,
    /// The client's (device's) address.
    pub device_ip: String,
    /// The client's MAC address as the tap sees it.
    pub device_mac: String,
    /// The server's address.
    pub server_ip: String,
    /// The server's TCP port.
    pub server_port: u16,
    /// The server name the player used (SNI).
    pub server_name: String,
    /// From `started_ns` to the first frame played, ms.
    pub startup_delay_ms: Option<f64>,
    /// Time-weighted mean height of the rendered video while playing.
    pub resolution_mean: Option<f64>,
    /// The height rendered longest while playing.
    pub resolution_mode: Option<u32>,
    /// Seconds spent playing (not starting, not stalled).
    pub played_s: f64,
    /// Every change of rendered resolution, in order (the first is the
    /// initial rendition, from height 0).
    pub resolution_changes: Vec<ResolutionChange>,
    /// Every stall after playback started.
    pub stalls: Vec<Stall>,
    /// Sum of the stalls, ms.
    pub stall_ms: f64,
    /// Every segment the player downloaded, in request order.
    pub segments: Vec<SegmentDownload>,
    /// Segment requests in the server's access log for this session.
    pub server_segments: u32,
    /// Of the player's segments, those matched one for one to a log line.
    pub matched_segments: u32,
}
