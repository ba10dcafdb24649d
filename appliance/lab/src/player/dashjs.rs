//! The built-in player: dash.js in headless Chromium, driven over WebDriver.
//!
//! The page ([`PAGE`]) and `dash.all.min.js` are written into the session's
//! scratch folder and opened from there (`file://`), so neither crosses the
//! capped link; only the manifest and the segments do. The page records
//! dash.js's own events in `window.__tapscope.events`, which are taken and
//! cleared about once a second and turned into [`PlayerEvent`]s.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use super::webdriver::{in_netns, Driver, Session};
use super::{now_ns, PlayRequest, Player, PlayerEvent, PlayerLog};
use crate::cmd;
use crate::error::{LabError, Result};

/// The page that hosts dash.js and records its events.
pub const PAGE: &str = include_str!("page.html");

/// Where dash.js is, below the repository: `npm install --prefix
/// appliance/lab/node` (what `scripts/deps lab` runs) puts it there.
const DASHJS_IN_REPO: &str = "appliance/lab/node/node_modules/dashjs/dist/dash.all.min.js";

/// Takes and clears the events the page recorded.
const TAKE_EVENTS: &str = "var t = window.__tapscope; if (!t) { return null; } \
                           var e = t.events; t.events = []; return e;";

/// Stops the player and takes the last events, with a record for every
/// request still in flight (falls back to [`TAKE_EVENTS`] on a page that
/// never set the player up).
const FINISH: &str = "var t = window.__tapscope; if (!t) { return null; } \
                      if (t.finish) { return t.finish(); } \
                      var e = t.events; t.events = []; return e;";

/// How often the page's events are collected.
const POLL: Duration = Duration::from_secs(1);

/// dash.js in headless Chromium.
#[derive(Clone, Debug)]
pub struct DashJs {
    /// The browser (Debian's `/usr/bin/chromium`); `None` when not found.
    pub chromium: Option<PathBuf>,
    /// The WebDriver server; `None` when not found.
    pub chromedriver: Option<PathBuf>,
    /// `dash.all.min.js`; `None` when not found.
    pub dashjs: Option<PathBuf>,
}

impl DashJs {
    /// Finds the browser, its driver and dash.js. dash.js is, in order:
    /// `dashjs` when given (and only there), `$TAPSCOPE_DASHJS`, or
    /// `appliance/lab/node/node_modules/dashjs/dist/dash.all.min.js` in the
    /// repository this was built from, or in the repository around the
    /// running executable (`target/<profile>/tapscope`).
    pub fn locate(dashjs: Option<&Path>) -> DashJs {
        let exe = std::env::current_exe().ok();
        DashJs {
            chromium: find_program(&["chromium", "chromium-browser"]),
            chromedriver: find_program(&["chromedriver"]),
            dashjs: dashjs_candidates(
                dashjs,
                std::env::var_os("TAPSCOPE_DASHJS"),
                Path::new(env!("CARGO_MANIFEST_DIR")),
                exe.as_deref(),
            )
            .into_iter()
            .find(|p| p.is_file()),
        }
    }
}

/// The first of `names` on `PATH`, or in `/usr/bin`.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .collect();
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// Where dash.js may be, in order of preference.
fn dashjs_candidates(
    explicit: Option<&Path>,
    env: Option<OsString>,
    manifest_dir: &Path,
    exe: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let mut out = vec![];
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        out.push(PathBuf::from(e));
    }
    // appliance/lab -> the repository.
    if let Some(repo) = manifest_dir.parent().and_then(Path::parent) {
        out.push(repo.join(DASHJS_IN_REPO));
    }
    // target/<profile>/tapscope (or target/<profile>/deps/<test>).
    if let Some(dir) = exe.and_then(Path::parent) {
        for up in [2, 3] {
            if let Some(repo) = dir.ancestors().nth(up) {
                out.push(repo.join(DASHJS_IN_REPO));
            }
        }
    }
    out
}

/// Chromium's command line for a session: headless, no sandbox (it runs as
/// root in a namespace), autoplay, fixed name resolution, the lab's server
/// certificates accepted by key, and everything that would make traffic of
/// its own (updates, metrics, safe browsing, sync, DNS prefetch, ...)
/// turned off, so that the only traffic is the video.
pub fn chromium_args(resolve: &[(String, IpAddr)], spki: &[String], profile: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "--no-first-run",
        "--no-default-browser-check",
        "--no-pings",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--disable-component-extensions-with-background-pages",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        "--disable-features=OptimizationHints,OptimizationGuideModelDownloading,\
         MediaRouter,DialMediaRouteProvider,Translate,AutofillServerCommunication,\
         CertificateTransparencyComponentUpdater,NetworkTimeServiceQuerying,\
         SafeBrowsingEnhancedProtection,InterestFeedContentSuggestions,\
         PrivacySandboxSettings4,LocalNetworkAccessChecks",
        "--safebrowsing-disable-auto-update",
        "--dns-prefetch-disable",
        "--metrics-recording-only",
        "--password-store=basic",
        "--use-mock-keychain",
        "--window-size=1280,720",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !resolve.is_empty() {
        let mut rules: Vec<String> = resolve
            .iter()
            .map(|(name, ip)| match ip {
                IpAddr::V4(v4) => format!("MAP {name} {v4}"),
                IpAddr::V6(v6) => format!("MAP {name} [{v6}]"),
            })
            .collect();
        // Nothing else resolves: no lookup leaves the client.
        rules.push("MAP * ~NOTFOUND".into());
        a.push(format!("--host-resolver-rules={}", rules.join(",")));
    }
    if !spki.is_empty() {
        a.push(format!(
            "--ignore-certificate-errors-spki-list={}",
            spki.join(",")
        ));
    }
    a.push(format!("--user-data-dir={}", profile.display()));
    a
}

/// `s` with everything but unreserved characters (and `/` when
/// `keep_slash`) percent-encoded.
fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `file://` URL of the page in `dir`, playing `manifest`.
fn page_url(dir: &Path, manifest: &str) -> String {
    let page = dir.join("player.html");
    format!(
        "file://{}?mpd={}",
        percent_encode(&page.to_string_lossy(), true),
        percent_encode(manifest, false)
    )
}

/// One event as the page records it (see `page.html`). Times are
/// wall-clock ms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PageEvent {
    kind: String,
    at: Option<f64>,
    media: Option<String>,
    message: Option<String>,
    id: Option<String>,
    quality: Option<i64>,
    height: Option<f64>,
    width: Option<f64>,
    bandwidth: Option<f64>,
    url: Option<String>,
    seg_type: Option<String>,
    index: Option<f64>,
    bytes: Option<f64>,
    request_start: Option<f64>,
    first_byte: Option<f64>,
    request_end: Option<f64>,
    completed: Option<bool>,
}

/// ms (float) -> ns. Whole milliseconds and the fraction are converted
/// apart: epoch milliseconds times 1e6 would exceed an f64's 53-bit mantissa.
fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        let whole = ms.trunc();
        (whole as u64) * 1_000_000 + ((ms - whole) * 1e6).round() as u64
    } else {
        0
    }
}

/// A non-negative float as a `u32` (0 if absent or odd).
fn as_u32(v: Option<f64>) -> u32 {
    v.filter(|x| x.is_finite() && *x >= 0.0)
        .map_or(0, |x| x.round().min(f64::from(u32::MAX)) as u32)
}

/// The segment number in a segment URL: the last run of digits in its file
/// name (`chunk-stream0-00005.m4s` -> 5).
fn segment_number(url: &str) -> Option<u32> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

/// Turns what the page recorded (a JSON array of its event objects) into
/// [`PlayerEvent`]s. Unknown kinds and malformed entries are skipped.
fn parse_page_events(v: &Value) -> Vec<PlayerEvent> {
    let Some(items) = v.as_array() else {
        return vec![];
    };
    items
        .iter()
        .filter_map(|i| serde_json::from_value::<PageEvent>(i.clone()).ok())
        .filter_map(convert)
        .collect()
}

/// One page event -> a [`PlayerEvent`].
fn convert(e: PageEvent) -> Option<PlayerEvent> {
    let at_ns = ms_to_ns(e.at.unwrap_or(0.0));
    let media = e.media.clone().unwrap_or_default();
    let rendition =
        e.id.clone()
            .or_else(|| e.quality.map(|q| q.to_string()))
            .unwrap_or_default();
    Some(match e.kind.as_str() {
        "loaded" => PlayerEvent::Loaded { at_ns },
        "playback_started" => PlayerEvent::PlaybackStarted { at_ns },
        "playing" => PlayerEvent::Playing { at_ns },
        "waiting" => PlayerEvent::Waiting { at_ns },
        "advancing" => PlayerEvent::Advancing { at_ns },
        "stalled" => PlayerEvent::Stalled { at_ns },
        "ended" => PlayerEvent::Ended { at_ns },
        "buffer_empty" => PlayerEvent::BufferEmpty { at_ns, media },
        "buffer_loaded" => PlayerEvent::BufferLoaded { at_ns, media },
        "error" => PlayerEvent::Error {
            at_ns,
            message: e.message.unwrap_or_default(),
        },
        "quality_rendered" => PlayerEvent::QualityRendered {
            at_ns,
            media,
            height: as_u32(e.height),
            width: as_u32(e.width),
            bitrate_kbps: as_u32(e.bandwidth.map(|b| b / 1000.0)),
            rendition,
        },
        "fragment" => {
            let url = e.url?;
            let init = e.seg_type.as_deref() == Some("InitializationSegment");
            let index = if init {
                0
            } else {
                segment_number(&url).unwrap_or_else(|| as_u32(e.index))
            };
            let request_ns = ms_to_ns(e.request_start.unwrap_or(0.0));
            let end_ns = match e.request_end.map(ms_to_ns) {
                Some(t) if t > 0 => t,
                _ => at_ns,
            };
            PlayerEvent::Fragment {
                media,
                url,
                rendition,
                height: as_u32(e.height),
                index,
                bytes: e
                    .bytes
                    .filter(|b| b.is_finite() && *b > 0.0)
                    .map_or(0, |b| b.round() as u64),
                request_ns,
                first_byte_ns: e.first_byte.map(ms_to_ns).filter(|t| *t > 0),
                end_ns,
                init,
                completed: e.completed.unwrap_or(true),
            }
        }
        _ => return None,
    })
}

impl Player for DashJs {
    fn name(&self) -> &str {
        "dashjs"
    }

    fn missing(&self) -> Vec<String> {
        let mut m = vec![];
        if self.chromium.is_none() {
            m.push("chromium".to_string());
        }
        if self.chromedriver.is_none() {
            m.push("chromedriver".to_string());
        }
        if self.dashjs.is_none() {
            m.push("dash.js (scripts/deps lab)".to_string());
        }
        m
    }

    fn play(&mut self, req: &PlayRequest) -> Result<PlayerLog> {
        let missing = self.missing();
        let (Some(chromium), Some(chromedriver), Some(dashjs)) =
            (&self.chromium, &self.chromedriver, &self.dashjs)
        else {
            return Err(LabError::Missing(missing));
        };
        if req.manifest_url.is_empty() {
            return Err(LabError::Invalid("no manifest URL to play".into()));
        }
        if req.duration.is_zero() {
            return Err(LabError::Invalid(
                "a session must last longer than 0 s".into(),
            ));
        }
        if req.netns.is_some() && !cmd::have("ip") {
            return Err(LabError::Missing(vec!["ip (iproute2)".into()]));
        }
        std::fs::create_dir_all(&req.work_dir).map_err(|e| LabError::io(&req.work_dir, e))?;
        let dir = req
            .work_dir
            .canonicalize()
            .map_err(|e| LabError::io(&req.work_dir, e))?;
        let page = dir.join("player.html");
        std::fs::write(&page, PAGE).map_err(|e| LabError::io(&page, e))?;
        let script = dir.join("dash.all.min.js");
        std::fs::copy(dashjs, &script).map_err(|e| LabError::io(dashjs, e))?;
        let profile = dir.join("profile");
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "script": 15000, "pageLoad": 30000 },
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": chromium_args(&req.resolve, &req.spki, &profile),
            },
        });
        let url = page_url(&dir, &req.manifest_url);
        let log = dir.join("chromedriver.log");
        in_netns(req.netns.as_deref(), || {
            session(chromedriver, &log, caps, &url, req)
        })
    }
}

/// One browser session: start the driver and the browser, open the page,
/// collect events until the time is up, close everything.
fn session(
    chromedriver: &Path,
    log: &Path,
    caps: Value,
    url: &str,
    req: &PlayRequest,
) -> Result<PlayerLog> {
    let driver = Driver::start(chromedriver, req.netns.as_deref(), log, &req.stop)?;
    let with_log = |e: LabError| match e {
        LabError::Player(m) => {
            LabError::Player(format!("{m}; chromedriver: {}", driver.log_tail()))
        }
        other => other,
    };
    let mut browser = Session::open(&driver, caps)?;
    if req.stop.load(Ordering::Relaxed) {
        return Err(LabError::Interrupted);
    }
    let asked = now_ns();
    browser.navigate(url).map_err(with_log)?;
    let deadline = Instant::now() + req.duration;
    let mut events = vec![];
    loop {
        let next = (Instant::now() + POLL).min(deadline);
        while Instant::now() < next {
            if req.stop.load(Ordering::Relaxed) {
                return Err(LabError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(50).min(next - Instant::now()));
        }
        let last = Instant::now() >= deadline;
        let batch = browser
            .execute(if last { FINISH } else { TAKE_EVENTS })
            .map_err(with_log)?;
        events.extend(parse_page_events(&batch));
        if last {
            break;
        }
    }
    let end_ns = now_ns();
    browser.close();
    drop(driver);
    let load_ns = events
        .iter()
        .find_map(|e| match e {
            PlayerEvent::Loaded { at_ns } => Some(*at_ns),
            _ => None,
        })
        .unwrap_or(asked);
    Ok(PlayerLog {
        player: "dashjs".into(),
        load_ns,
        end_ns,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_events_become_player_events() {
        let v: Value = serde_json::from_str(
            r#"[
            {"kind":"loaded","at":1700000000000.5},
            {"kind":"playback_started","at":1700000000100},
            {"kind":"playing","at":1700000000200.25},
            {"kind":"quality_rendered","at":1700000000300,"media":"video","quality":1,
             "id":"1","height":360,"width":640,"bandwidth":800000},
            {"kind":"buffer_empty","at":1700000000400,"media":"video"},
            {"kind":"waiting","at":1700000000401},
            {"kind":"buffer_loaded","at":1700000000500,"media":"audio"},
            {"kind":"fragment","at":1700000000600,"media":"video",
             "url":"https://cdn.x/t1/init-stream1.m4s","seg_type":"InitializationSegment",
             "index":null,"quality":1,"id":"1","height":360,"width":640,"bandwidth":800000,
             "bytes":812,"request_start":1700000000550,"first_byte":null,
             "request_end":1700000000590,"error":null},
            {"kind":"fragment","at":1700000000700,"media":"video",
             "url":"https://cdn.x/t1/chunk-stream1-00005.m4s?x=1","seg_type":"MediaSegment",
             "index":4,"quality":1,"id":"1","height":360,"width":640,"bandwidth":800000,
             "bytes":200000,"request_start":1700000000600,"first_byte":1700000000610.5,
             "request_end":1700000000690},
            {"kind":"fragment","at":1700000000800,"media":"audio",
             "url":"https://cdn.x/t1/seg.m4s","seg_type":"MediaSegment","index":7,
             "quality":0,"height":0,"bytes":3000,"request_start":1700000000750,
             "request_end":null,"completed":false,"error":"abandoned"},
            {"kind":"error","at":1700000000900,"message":"25: manifest failed"},
            {"kind":"ended","at":1700000001000},
            {"kind":"something_new","at":1},
            {"kind":"fragment","at":1},
            42
        ]"#,
        )
        .unwrap();
        let got = parse_page_events(&v);
        let ms = 1_700_000_000_000u64 * 1_000_000;
        assert_eq!(
            got,
            vec![
                PlayerEvent::Loaded {
                    at_ns: ms + 500_000
                },
                PlayerEvent::PlaybackStarted {
                    at_ns: ms + 100_000_000
                },
                PlayerEvent::Playing {
                    at_ns: ms + 200_250_000
                },
                PlayerEvent::QualityRendered {
                    at_ns: ms + 300_000_000,
                    media: "video".into(),
                    height: 360,
                    width: 640,
                    bitrate_kbps: 800,
                    rendition: "1".into()
                },
                PlayerEvent::BufferEmpty {
                    at_ns: ms + 400_000_000,
                    media: "video".into()
                },
                PlayerEvent::Waiting {
                    at_ns: ms + 401_000_000
                },
                PlayerEvent::BufferLoaded {
                    at_ns: ms + 500_000_000,
                    media: "audio".into()
                },
                PlayerEvent::Fragment {
                    media: "video".into(),
                    url: "https://cdn.x/t1/init-stream1.m4s".into(),
                    rendition: "1".into(),
                    height: 360,
                    index: 0,
                    bytes: 812,
                    request_ns: ms + 550_000_000,
                    first_byte_ns: None,
                    end_ns: ms + 590_000_000,
                    init: true,
                    completed: true
                },
                PlayerEvent::Fragment {
                    media: "video".into(),
                    url: "https://cdn.x/t1/chunk-stream1-00005.m4s?x=1".into(),
                    rendition: "1".into(),
                    height: 360,
                    index: 5,
                    bytes: 200_000,
                    request_ns: ms + 600_000_000,
                    first_byte_ns: Some(ms + 610_500_000),
                    end_ns: ms + 690_000_000,
                    init: false,
                    completed: true
                },
                PlayerEvent::Fragment {
                    media: "audio".into(),
                    url: "https://cdn.x/t1/seg.m4s".into(),
                    rendition: "0".into(),
                    height: 0,
                    index: 7,
                    bytes: 3000,
                    request_ns: ms + 750_000_000,
                    first_byte_ns: None,
                    end_ns: ms + 800_000_000,
                    init: false,
                    completed: false
                },
                PlayerEvent::Error {
                    at_ns: ms + 900_000_000,
                    message: "25: manifest failed".into()
                },
                PlayerEvent::Ended {
                    at_ns: ms + 1_000_000_000
                },
            ]
        );
        assert!(parse_page_events(&Value::Null).is_empty());
    }

    #[test]
    fn segment_numbers_come_from_the_file_name() {
        assert_eq!(
            segment_number("https://h/a/chunk-stream0-00005.m4s"),
            Some(5)
        );
        assert_eq!(segment_number("/t1/360p/12.m4s?token=99"), Some(12));
        assert_eq!(segment_number("/t1/seg.m4s"), None);
        assert_eq!(segment_number("/t1/seg-7"), Some(7));
    }

    #[test]
    fn chromium_args_pin_names_keys_and_profile() {
        let a = chromium_args(
            &[
                ("cdn.tapscope-lab.test".into(), "10.77.0.2".parse().unwrap()),
                ("v6.test".into(), "fd00::2".parse().unwrap()),
            ],
            &["AAAA=".into(), "BBBB=".into()],
            Path::new("/tmp/s/profile"),
        );
        let has = |s: &str| a.iter().any(|x| x == s);
        assert!(has("--headless=new") && has("--no-sandbox") && has("--mute-audio"));
        assert!(has("--autoplay-policy=no-user-gesture-required"));
        assert!(has("--disable-background-networking") && has("--disable-component-update"));
        assert!(has(
            "--host-resolver-rules=MAP cdn.tapscope-lab.test 10.77.0.2,MAP v6.test [fd00::2],MAP * ~NOTFOUND"
        ));
        assert!(has("--ignore-certificate-errors-spki-list=AAAA=,BBBB="));
        assert_eq!(a.last().unwrap(), "--user-data-dir=/tmp/s/profile");
        assert!(a
            .iter()
            .all(|x| !x.contains(char::is_whitespace) || x.starts_with("--host-resolver-rules")));
        let plain = chromium_args(&[], &[], Path::new("/p"));
        assert!(!plain.iter().any(|x| x.starts_with("--host-resolver-rules")));
        assert!(!plain
            .iter()
            .any(|x| x.starts_with("--ignore-certificate-errors-spki-list")));
    }

    #[test]
    fn page_urls_are_encoded() {
        let u = page_url(
            Path::new("/tmp/a b"),
            "https://cdn.x/t1/manifest.mpd?a=1&b=2",
        );
        assert_eq!(
            u,
            "file:///tmp/a%20b/player.html?mpd=https%3A%2F%2Fcdn.x%2Ft1%2Fmanifest.mpd%3Fa%3D1%26b%3D2"
        );
    }

    #[test]
    fn dashjs_is_looked_for_in_order() {
        let manifest = Path::new("/src/tapscope/appliance/lab");
        let exe = Path::new("/opt/ts/target/release/tapscope");
        let c = dashjs_candidates(None, Some("/x/dash.js".into()), manifest, Some(exe));
        assert_eq!(c[0], PathBuf::from("/x/dash.js"));
        assert_eq!(c[1], PathBuf::from("/src/tapscope").join(DASHJS_IN_REPO));
        assert_eq!(c[2], PathBuf::from("/opt/ts").join(DASHJS_IN_REPO));
        let only = dashjs_candidates(Some(Path::new("/y.js")), Some("/x".into()), manifest, None);
        assert_eq!(only, vec![PathBuf::from("/y.js")]);
        let no_env = dashjs_candidates(None, Some("".into()), manifest, None);
        assert_eq!(
            no_env,
            vec![PathBuf::from("/src/tapscope").join(DASHJS_IN_REPO)]
        );
    }

    #[test]
    fn locate_finds_what_is_there_and_names_what_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("dash.all.min.js");
        std::fs::write(&js, "// dash.js").unwrap();
        let d = DashJs::locate(Some(&js));
        assert_eq!(d.dashjs.as_deref(), Some(js.as_path()));
        assert!(!d.missing().iter().any(|m| m.starts_with("dash.js")));
        let gone = DashJs::locate(Some(&dir.path().join("nope.js")));
        assert!(gone.dashjs.is_none());
        assert!(gone
            .missing()
            .contains(&"dash.js (scripts/deps lab)".to_string()));
        let mut none = DashJs {
            chromium: None,
            chromedriver: None,
            dashjs: None,
        };
        assert_eq!(none.missing().len(), 3);
        let req = PlayRequest {
            manifest_url: "https://x/m.mpd".into(),
            duration: Duration::from_secs(1),
            resolve: vec![],
            spki: vec![],
            netns: None,
            work_dir: dir.path().join("w"),
            stop: Default::default(),
        };
        assert!(matches!(none.play(&req), Err(LabError::Missing(m)) if m.len() == 3));
    }
}
