//! A small interface to an adaptive-bitrate player, and its built-in
//! adapter: dash.js in headless Chromium driven over WebDriver.
//!
//! A [`Player`] plays one manifest for a while inside the client's network
//! namespace and returns the player's own account of it, a [`PlayerLog`]:
//! when it was asked to load, when playback started, every rendition it
//! rendered, every time its buffer ran dry, and every segment it fetched,
//! with wall-clock Unix ns times (the same clock as the mirror capture,
//! so [`crate::truth`] can join them to flows).
//!
//! # The built-in adapter, [`DashJs`]
//!
//! The page that hosts the player ([`PAGE`]) and a copy of
//! `dash.all.min.js` are written into the session's scratch folder and
//! opened as a `file://` URL, so the only traffic on the capped link is
//! the manifest and the segments (the server answers with
//! `Access-Control-Allow-Origin: *`, which a `file://` page needs). The
//! page subscribes to dash.js's own events and appends them to
//! `window.__tapscope.events`; the adapter takes and clears that list
//! about once a second over WebDriver until the session's time is up.
//! ABR is dash.js's default: that is what the lab measures.
//!
//! # Adding an adapter for a real service's player
//!
//! On a machine with internet access, a real service can be measured the
//! same way. Implement [`Player`] in a new module under `player/`:
//!
//! 1. [`Player::missing`]: list what is not installed (the browser, its
//!    driver, an account's cookies file, ...), so the lab refuses to start
//!    with a clear message instead of failing mid-run.
//! 2. [`Player::play`]: start a browser the way [`DashJs`] does (reuse
//!    [`chromium_args`] for the flags that silence Chromium's own
//!    background traffic, and `webdriver::Session` for the driver and the
//!    network namespace), but open the service's watch page instead of the
//!    local page. Leave out `--host-resolver-rules` and the SPKI list: a
//!    real service resolves through DNS and has a real certificate.
//! 3. Inject a script (WebDriver `execute/sync` right after navigation, or
//!    Chromium's `Page.addScriptToEvaluateOnNewDocument` over the DevTools
//!    endpoint for scripts that must run before the page's own) that
//!    creates `window.__tapscope = { events: [] }` and maps what the
//!    service's player exposes into the same event objects the built-in
//!    page emits (see `parse_page_events` in `player/dashjs.rs`):
//!    - `HTMLVideoElement` events work for every player: `playing`,
//!      `waiting`, `ended`, `error`; the rendered size is
//!      `video.videoHeight`/`videoWidth` (poll it, or listen to `resize`),
//!      which gives `quality_rendered`.
//!    - Segment downloads: a `PerformanceObserver` on `resource` entries
//!      gives url, sizes and request/first-byte/end times for every fetch
//!      (cross-origin sizes and first-byte times need the CDN's
//!      `Timing-Allow-Origin`, otherwise they are 0 and should be sent as
//!      `null`). Map the service's segment URL pattern to a rendition and
//!      index there.
//!    - If the service's player has a public API (Shaka's `getStats()` and
//!      `adaptation` events, hls.js's `LEVEL_SWITCHED`/`FRAG_LOADED`,
//!      dash.js's events), prefer it: it knows the rendition of a segment.
//! 4. Poll and clear `window.__tapscope.events` with the same script the
//!    built-in adapter uses, convert them with the same parser, honour
//!    [`PlayRequest::stop`], and always close the session and kill the
//!    driver's process group, also on error.
//! 5. Make it in `run_video_lab` (`run.rs`), where the built-in adapter
//!    is made, and give `tapscope lab video` an option that picks it; the
//!    adapter's name lands in `lab_runs.player` and `lab_sessions.player`.
//!
//! Traffic that is not the video (ads, telemetry, thumbnails) will be in
//! the capture too; the rows still say which flows carried segments,
//! because [`PlayerEvent::Fragment`] carries the URL of each.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod dashjs;
mod webdriver;

pub use dashjs::{chromium_args, DashJs, PAGE};

/// What to play, where, and for how long.
#[derive(Clone, Debug)]
pub struct PlayRequest {
    /// The manifest, e.g. `https://cdn.tapscope-lab.test/mandelbrot/manifest.mpd`.
    pub manifest_url: String,
    /// How long to let it play after it was asked to load.
    pub duration: Duration,
    /// Host names the browser resolves to fixed addresses instead of asking
    /// DNS (Chromium's `--host-resolver-rules`); every other name fails to
    /// resolve, so no other lookups leave the client.
    pub resolve: Vec<(String, IpAddr)>,
    /// Base64 SHA-256 hashes of server certificates' SubjectPublicKeyInfo
    /// the browser accepts without a trusted CA
    /// (`--ignore-certificate-errors-spki-list`).
    pub spki: Vec<String>,
    /// The network namespace the browser runs in; `None`: the current one.
    pub netns: Option<String>,
    /// Scratch folder for this session (browser profile, page, logs). The
    /// caller removes it.
    pub work_dir: PathBuf,
    /// Set on Ctrl-C: the player returns promptly with
    /// [`crate::LabError::Interrupted`].
    pub stop: Arc<AtomicBool>,
}

/// Something the player reported. Times are wall-clock Unix ns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PlayerEvent {
    /// The player was asked to load the manifest.
    Loaded {
        /// When.
        at_ns: u64,
    },
    /// Playback was started (the player asked the video element to play).
    PlaybackStarted {
        /// When.
        at_ns: u64,
    },
    /// The video is playing; the first one ends the startup.
    Playing {
        /// When.
        at_ns: u64,
    },
    /// A rendition began to be rendered.
    QualityRendered {
        /// When.
        at_ns: u64,
        /// `video` or `audio`.
        media: String,
        /// Height of the rendition (0 for audio).
        height: u32,
        /// Width of the rendition (0 for audio).
        width: u32,
        /// Declared bitrate, kbit/s.
        bitrate_kbps: u32,
        /// The representation id in the manifest.
        rendition: String,
    },
    /// The buffer of `media` ran empty.
    BufferEmpty {
        /// When.
        at_ns: u64,
        /// `video` or `audio`.
        media: String,
    },
    /// The buffer of `media` holds enough to play again.
    BufferLoaded {
        /// When.
        at_ns: u64,
        /// `video` or `audio`.
        media: String,
    },
    /// Playback waits for data.
    Waiting {
        /// When.
        at_ns: u64,
    },
    /// The playhead started moving (sampled from the media element).
    Advancing {
        /// When.
        at_ns: u64,
    },
    /// The playhead stopped moving while neither paused nor ended: when it
    /// was last seen moving.
    Stalled {
        /// When.
        at_ns: u64,
    },
    /// A segment (or init segment) was downloaded.
    Fragment {
        /// `video` or `audio`.
        media: String,
        /// The request's URL.
        url: String,
        /// The representation id in the manifest.
        rendition: String,
        /// Height of the representation (0 for audio).
        height: u32,
        /// Segment number (from the URL when it has one), 0 for an init segment.
        index: u32,
        /// Body bytes received.
        bytes: u64,
        /// When the request was sent.
        request_ns: u64,
        /// When the first byte arrived, if the player could tell.
        first_byte_ns: Option<u64>,
        /// When the download ended (or was abandoned, or the session stopped).
        end_ns: u64,
        /// An initialisation segment.
        init: bool,
        /// The whole segment arrived (false: abandoned, failed, or in
        /// flight when the session was stopped).
        #[serde(default = "yes")]
        completed: bool,
    },
    /// The player reported an error.
    Error {
        /// When.
        at_ns: u64,
        /// The player's message.
        message: String,
    },
    /// The stream ended.
    Ended {
        /// When.
        at_ns: u64,
    },
}

impl PlayerEvent {
    /// When it happened (a fragment: when its download ended).
    pub fn at_ns(&self) -> u64 {
        match self {
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
}

/// Serde default of [`PlayerEvent::Fragment::completed`]: records written
/// before the field existed were completed downloads.
fn yes() -> bool {
    true
}

/// A played session as the player saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlayerLog {
    /// The adapter (`dashjs`, ...).
    pub player: String,
    /// When the player was asked to load the manifest.
    pub load_ns: u64,
    /// When the session was stopped.
    pub end_ns: u64,
    /// Everything the player reported, in the order it reported it.
    pub events: Vec<PlayerEvent>,
}

/// A player the lab can drive.
pub trait Player: Send {
    /// The adapter's name, as recorded in the tables (`dashjs`).
    fn name(&self) -> &str;
    /// What is not installed, for people (`chromium`, `chromedriver`,
    /// `dash.js (scripts/deps lab)`); empty when it can play.
    fn missing(&self) -> Vec<String>;
    /// Plays `req` and returns what the player reported. A player that
    /// never starts is not an error: its log has no
    /// [`PlayerEvent::Playing`].
    fn play(&mut self, req: &PlayRequest) -> crate::Result<PlayerLog>;
}

/// Wall-clock now, Unix ns.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let e = PlayerEvent::Fragment {
            media: "video".into(),
            url: "https://h/t/chunk-0-00003.m4s".into(),
            rendition: "0".into(),
            height: 360,
            index: 3,
            bytes: 1234,
            request_ns: 1,
            first_byte_ns: None,
            end_ns: 9,
            init: false,
            completed: true,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<PlayerEvent>(&s).unwrap(), e);
        assert_eq!(e.at_ns(), 9);
        assert_eq!(PlayerEvent::Waiting { at_ns: 5 }.at_ns(), 5);
    }
}
