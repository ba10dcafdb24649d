//! The lab's video: a DASH bitrate ladder made once per title with ffmpeg
//! from synthetic sources of different visual complexity, and cached.
//!
//! Every title is one ffmpeg run that encodes all video renditions (H.264,
//! fixed GOP of one segment, capped VBR so segment sizes follow the
//! content) and one AAC audio rendition into `manifest.mpd`,
//! `init-<id>.m4s` and `chunk-<id>-<number>.m4s`. Representation ids are
//! the rendition's place in the ladder; audio comes last.
//!
//! The cache is `<cache>/<key of the ladder>/<title>/`; a title is done
//! when its marker file holds the exact recipe it was made with, so a
//! title interrupted half-way, or made with another recipe, is made again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::cmd;
use crate::error::{LabError, Result};

/// The titles, in the order [`prepare`] takes them. Each is a synthetic
/// source of its own visual complexity, so segment sizes differ between
/// titles and vary over time within one.
pub const SOURCES: &[&str] = &["testsrc2", "life", "noise", "bars", "mandelbrot"];

/// The file a finished title holds; written last, holding the recipe.
const MARKER: &str = ".complete";

/// The manifest's file name inside a title.
const MANIFEST: &str = "manifest.mpd";

/// Bumped when the way titles are made changes in a way the recipe
/// string does not show.
const RECIPE_VERSION: &str = "dash-v1";

/// One video rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Its name, `360p`.
    pub name: String,
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Target video bitrate in kbit/s.
    pub kbps: u32,
}

impl Rendition {
    /// A rendition named after its height.
    pub fn new(width: u32, height: u32, kbps: u32) -> Rendition {
        Rendition {
            name: format!("{height}p"),
            width,
            height,
            kbps,
        }
    }
}

/// The bitrate ladder and how it is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    /// The video renditions, lowest first.
    pub renditions: Vec<Rendition>,
    /// The audio rendition's bitrate in kbit/s.
    pub audio_kbps: u32,
    /// Segment length in seconds (also the GOP length).
    pub segment_s: u32,
    /// Length of every title in seconds.
    pub length_s: u32,
    /// Frames per second.
    pub fps: u32,
    /// The x264 preset.
    pub preset: String,
}

impl Ladder {
    /// The full ladder, 144p to 1080p at realistic bitrates, 4 s segments,
    /// 30 fps, x264 `veryfast`.
    pub fn full(length_s: u32) -> Ladder {
        Ladder {
            renditions: vec![
                Rendition::new(256, 144, 150),
                Rendition::new(426, 240, 300),
                Rendition::new(640, 360, 600),
                Rendition::new(854, 480, 1200),
                Rendition::new(1280, 720, 2500),
                Rendition::new(1920, 1080, 4500),
            ],
            audio_kbps: 96,
            segment_s: 4,
            length_s,
            fps: 30,
            preset: "veryfast".to_string(),
        }
    }

    /// A small ladder for tests: 144p, 360p and 720p, 2 s segments,
    /// 24 fps, x264 `ultrafast`.
    pub fn small(length_s: u32) -> Ladder {
        Ladder {
            renditions: vec![
                Rendition::new(256, 144, 150),
                Rendition::new(640, 360, 600),
                Rendition::new(1280, 720, 2500),
            ],
            audio_kbps: 64,
            segment_s: 2,
            length_s,
            fps: 24,
            preset: "ultrafast".to_string(),
        }
    }

    /// `144p:150k,360p:600k,720p:2500k;audio:64k;seg:2s;len:40s`.
    pub fn describe(&self) -> String {
        let video: Vec<String> = self
            .renditions
            .iter()
            .map(|r| format!("{}:{}k", r.name, r.kbps))
            .collect();
        format!(
            "{};audio:{}k;seg:{}s;len:{}s",
            video.join(","),
            self.audio_kbps,
            self.segment_s,
            self.length_s
        )
    }

    /// Everything that decides the encoded files, for the cache key.
    fn key(&self) -> String {
        let sizes: Vec<String> = self
            .renditions
            .iter()
            .map(|r| format!("{}x{}", r.width, r.height))
            .collect();
        format!(
            "{RECIPE_VERSION};{};{};fps:{};preset:{}",
            self.describe(),
            sizes.join(","),
            self.fps,
            self.preset
        )
    }

    /// The number of media segments in every rendition.
    pub fn segments(&self) -> u32 {
        self.length_s.div_ceil(self.segment_s.max(1))
    }

    /// The representation id of the audio rendition.
    pub fn audio_id(&self) -> usize {
        self.renditions.len()
    }

    /// Checks that the ladder can be encoded.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(LabError::Invalid(format!("ladder: {what}")));
        if self.renditions.is_empty() {
            return bad("no video renditions".into());
        }
        for (i, r) in self.renditions.iter().enumerate() {
            if r.width == 0 || r.height == 0 || r.width % 2 == 1 || r.height % 2 == 1 {
                return bad(format!(
                    "{}: size {}x{} is not even and positive",
                    r.name, r.width, r.height
                ));
            }
            if r.kbps == 0 {
                return bad(format!("{}: bitrate 0", r.name));
            }
            if r.name.is_empty() || self.renditions[..i].iter().any(|o| o.name == r.name) {
                return bad(format!("rendition name {:?} is empty or repeated", r.name));
            }
        }
        if self.audio_kbps == 0 || self.fps == 0 || self.segment_s == 0 {
            return bad("audio bitrate, fps and segment length must be positive".into());
        }
        if self.length_s < self.segment_s {
            return bad(format!(
                "length {} s is shorter than a segment ({} s)",
                self.length_s, self.segment_s
            ));
        }
        if self.preset.is_empty() || !self.preset.chars().all(|c| c.is_ascii_alphanumeric()) {
            return bad(format!("x264 preset {:?}", self.preset));
        }
        Ok(())
    }
}

/// One prepared title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title {
    /// Its name, which is also its source and its folder.
    pub name: String,
    /// The manifest's URL path under the content root,
    /// `/mandelbrot/manifest.mpd`.
    pub manifest: String,
}

/// The prepared content, ready to be served from `root`.
#[derive(Debug, Clone)]
pub struct Content {
    /// The folder to serve; titles are its subfolders.
    pub root: PathBuf,
    /// The ladder every title was made with.
    pub ladder: Ladder,
    /// The titles, in [`SOURCES`] order.
    pub titles: Vec<Title>,
}

/// What a requested file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    /// The title.
    pub title: String,
    /// `video` or `audio`.
    pub media: &'static str,
    /// The rendition's name (`360p`), or `audio`.
    pub rendition: String,
    /// The rendition's height; 0 for audio.
    pub height: u32,
    /// The segment number; 0 is the init segment, media segments count
    /// from 1.
    pub index: u32,
}

impl Content {
    /// What the request path `path` (`/life/chunk-2-00007.m4s`; a query
    /// string, a fragment and a leading `scheme://host` are ignored)
    /// refers to; `None` for the manifest and anything else.
    pub fn segment_of(&self, path: &str) -> Option<SegmentRef> {
        let path = strip_origin(path);
        let path = path.split(['?', '#']).next().unwrap_or("");
        let rest = path.strip_prefix('/')?;
        let (title, file) = rest.split_once('/')?;
        if !self.titles.iter().any(|t| t.name == title) {
            return None;
        }
        let stem = file.strip_suffix(".m4s")?;
        let (id, index) = if let Some(id) = stem.strip_prefix("init-") {
            (id, 0)
        } else {
            let (id, n) = stem.strip_prefix("chunk-")?.split_once('-')?;
            let n = parse_digits(n)?;
            if n == 0 {
                return None;
            }
            (id, n)
        };
        let id = parse_digits(id)? as usize;
        let (media, rendition, height) = if let Some(r) = self.ladder.renditions.get(id) {
            ("video", r.name.clone(), r.height)
        } else if id == self.ladder.audio_id() {
            ("audio", "audio".to_string(), 0)
        } else {
            return None;
        };
        Some(SegmentRef {
            title: title.to_string(),
            media,
            rendition,
            height,
            index,
        })
    }

    /// The title named `name`.
    pub fn title(&self, name: &str) -> Option<&Title> {
        self.titles.iter().find(|t| t.name == name)
    }

    /// The size in bytes of the file at URL path `path` under the root.
    pub fn file_size(&self, path: &str) -> Option<u64> {
        let rel = strip_origin(path)
            .split(['?', '#'])
            .next()?
            .trim_start_matches('/');
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return None;
        }
        fs::metadata(self.root.join(rel)).ok().map(|m| m.len())
    }
}

/// `https://host:port/a/b` -> `/a/b`; anything else unchanged.
fn strip_origin(path: &str) -> &str {
    match path.find("://") {
        Some(i) => {
            let after = &path[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => path,
    }
}

/// A non-empty string of ASCII digits as a number.
fn parse_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Prepares the first `titles` of [`SOURCES`] encoded with `ladder` under
/// `cache`, reusing titles made before; `progress` gets one line per
/// title.
pub fn prepare(
    cache: &Path,
    ladder: &Ladder,
    titles: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Content> {
    prepare_with("ffmpeg", cache, ladder, titles, progress)
}

/// [`prepare`] with the ffmpeg program named.
fn prepare_with(
    ffmpeg: &str,
    cache: &Path,
    ladder: &Ladder,
    titles: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Content> {
    if titles == 0 || titles > SOURCES.len() {
        return Err(LabError::Invalid(format!(
            "titles: {titles}; there are 1 to {} ({})",
            SOURCES.len(),
            SOURCES.join(", ")
        )));
    }
    ladder.check()?;
    let root = cache.join(format!("{:016x}", fnv1a(ladder.key().as_bytes())));
    fs::create_dir_all(&root).map_err(|e| LabError::io(&root, e))?;
    let about = root.join("ladder.txt");
    fs::write(&about, format!("{}\n", ladder.key())).map_err(|e| LabError::io(&about, e))?;

    let mut out = Vec::new();
    for (i, &name) in SOURCES[..titles].iter().enumerate() {
        let dir = root.join(name);
        let args = ffmpeg_args(ladder, name, i);
        let recipe = args.join("\n");
        let marker = dir.join(MARKER);
        let done = fs::read_to_string(&marker).is_ok_and(|m| m == recipe);
        if done {
            progress(&format!("title {name}: cached ({})", dir.display()));
        } else {
            if !cmd::have(ffmpeg) {
                return Err(LabError::Missing(vec!["ffmpeg".to_string()]));
            }
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
            }
            fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
            let started = Instant::now();
            let mut c = Command::new(ffmpeg);
            c.args(&args).current_dir(&dir);
            cmd::run_cmd(&mut c, &format!("ffmpeg (title {name})"))?;
            let bytes = verify_title(&dir, ladder)?;
            fs::write(&marker, &recipe).map_err(|e| LabError::io(&marker, e))?;
            progress(&format!(
                "title {name}: made in {:.1} s, {} renditions + audio, {:.1} MB",
                started.elapsed().as_secs_f64(),
                ladder.renditions.len(),
                bytes as f64 / 1e6
            ));
        }
        out.push(Title {
            name: name.to_string(),
            manifest: format!("/{name}/{MANIFEST}"),
        });
    }
    Ok(Content {
        root,
        ladder: ladder.clone(),
        titles: out,
    })
}

/// The lavfi graph of source `name` with the top rendition's size,
/// ending in one unlabelled video output.
fn source_graph(name: &str, w: u32, h: u32, fps: u32) -> String {
    // Sources whose cost grows with size are made smaller and scaled up.
    let (hw, hh) = (even(w / 2), even(h / 2));
    let (qw, qh) = (even(w / 4), even(h / 4));
    match name {
        "testsrc2" => format!("testsrc2=s={w}x{h}:r={fps}"),
        "life" => format!(
            "life=s={qw}x{qh}:r={fps}:mold=10:ratio=0.12:seed=7:\
             death_color=#202040:life_color=#30e060,format=yuv420p,\
             scale={w}:{h}:flags=neighbor"
        ),
        "noise" => format!("testsrc2=s={w}x{h}:r={fps},noise=alls=40:allf=t+u"),
        "bars" => format!(
            "smptehdbars=s={w}x{h}:r={fps}[bars];testsrc2=s={qw}x{qh}:r={fps}[box];\
             [bars][box]overlay=x='mod(t*{},W-w)':y='(H-h)/2+(H-h)/3*sin(t)'",
            w / 6
        ),
        "mandelbrot" => {
            format!("mandelbrot=s={hw}x{hh}:r={fps}:maxiter=300,format=yuv420p,scale={w}:{h}")
        }
        other => unreachable!("unknown source {other}"),
    }
}

/// `v` rounded down to an even number, at least 2.
fn even(v: u32) -> u32 {
    (v & !1).max(2)
}

/// The ffmpeg arguments that make title `name` (the `index`-th source)
/// in the current folder.
fn ffmpeg_args(ladder: &Ladder, name: &str, index: usize) -> Vec<String> {
    let top = ladder
        .renditions
        .iter()
        .max_by_key(|r| r.width * r.height)
        .expect("checked ladder has renditions");
    let n = ladder.renditions.len();
    let mut graph = source_graph(name, top.width, top.height, ladder.fps);
    graph.push_str(",format=yuv420p,");
    graph.push_str(&format!("split={n}"));
    for i in 0..n {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, r) in ladder.renditions.iter().enumerate() {
        // One display aspect for all (426x240 is not exactly 16:9), as
        // the dash muxer wants within an adaptation set.
        graph.push_str(&format!(
            ";[s{i}]scale={}:{},setdar={}/{}[v{i}]",
            r.width, r.height, top.width, top.height
        ));
    }
    graph.push_str(&format!(";sine=f={}:r=48000[a]", 330 + 110 * index));

    let gop = (ladder.segment_s * ladder.fps).to_string();
    let mut a: Vec<String> = ["-hide_banner", "-nostats", "-loglevel", "error", "-y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(["-filter_complex".into(), graph]);
    for i in 0..n {
        a.extend(["-map".into(), format!("[v{i}]")]);
    }
    a.extend(["-map".into(), "[a]".into()]);
    a.extend(["-t".into(), ladder.length_s.to_string()]);
    for s in [
        "-c:v",
        "libx264",
        "-profile:v",
        "main",
        "-pix_fmt",
        "yuv420p",
        "-preset",
    ] {
        a.push(s.into());
    }
    a.push(ladder.preset.clone());
    a.extend(["-g".into(), gop.clone(), "-keyint_min".into(), gop]);
    a.extend(["-sc_threshold".into(), "0".into()]);
    for (i, r) in ladder.renditions.iter().enumerate() {
        a.extend([format!("-b:v:{i}"), format!("{}k", r.kbps)]);
        a.extend([format!("-maxrate:v:{i}"), format!("{}k", r.kbps * 3 / 2)]);
        a.extend([format!("-bufsize:v:{i}"), format!("{}k", r.kbps * 2)]);
    }
    a.extend(["-c:a".into(), "aac".into(), "-b:a".into()]);
    a.push(format!("{}k", ladder.audio_kbps));
    a.extend(["-ac".into(), "2".into(), "-ar".into(), "48000".into()]);
    a.extend(["-f".into(), "dash".into()]);
    a.extend(["-seg_duration".into(), ladder.segment_s.to_string()]);
    for s in [
        "-use_template",
        "1",
        "-use_timeline",
        "0",
        "-adaptation_sets",
        "id=0,streams=v id=1,streams=a",
        "-init_seg_name",
        "init-$RepresentationID$.m4s",
        "-media_seg_name",
        "chunk-$RepresentationID$-$Number%05d$.m4s",
        MANIFEST,
    ] {
        a.push(s.into());
    }
    a
}

/// One `<Representation>` of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpdRepresentation {
    /// Its id.
    pub id: String,
    /// Its `mimeType`.
    pub mime: String,
    /// Its `bandwidth` in bit/s.
    pub bandwidth: u64,
    /// Its `width`, 0 when absent.
    pub width: u32,
    /// Its `height`, 0 when absent.
    pub height: u32,
}

/// The representations listed in manifest text `mpd`.
pub fn mpd_representations(mpd: &str) -> Vec<MpdRepresentation> {
    let mut out = Vec::new();
    let mut rest = mpd;
    while let Some(i) = rest.find("<Representation ") {
        let tag = &rest[i..];
        let end = tag.find('>').unwrap_or(tag.len());
        let tag = &tag[..end];
        let attr = |name: &str| -> String {
            let pat = format!(" {name}=\"");
            tag.find(&pat)
                .and_then(|j| {
                    let v = &tag[j + pat.len()..];
                    v.find('"').map(|k| v[..k].to_string())
                })
                .unwrap_or_default()
        };
        out.push(MpdRepresentation {
            id: attr("id"),
            mime: attr("mimeType"),
            bandwidth: attr("bandwidth").parse().unwrap_or(0),
            width: attr("width").parse().unwrap_or(0),
            height: attr("height").parse().unwrap_or(0),
        });
        rest = &rest[i + end..];
    }
    out
}

/// Checks a freshly made title against the ladder: the manifest lists
/// every rendition with its size and bandwidth, and every init and media
/// segment is there. Returns the title's size in bytes.
fn verify_title(dir: &Path, ladder: &Ladder) -> Result<u64> {
    let mpd_path = dir.join(MANIFEST);
    let mpd = fs::read_to_string(&mpd_path).map_err(|e| LabError::io(&mpd_path, e))?;
    let reps = mpd_representations(&mpd);
    let wrong = |what: String| LabError::Command {
        what: format!("ffmpeg ({})", dir.display()),
        detail: what,
    };
    for (i, r) in ladder.renditions.iter().enumerate() {
        let id = i.to_string();
        let rep = reps
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| wrong(format!("manifest has no representation {id} ({})", r.name)))?;
        let want = (r.width, r.height, u64::from(r.kbps) * 1000, "video/mp4");
        let got = (rep.width, rep.height, rep.bandwidth, rep.mime.as_str());
        if want != got {
            return Err(wrong(format!(
                "representation {id}: {got:?}, expected {want:?}"
            )));
        }
    }
    let audio = ladder.audio_id().to_string();
    if !reps.iter().any(|p| p.id == audio && p.mime == "audio/mp4") {
        return Err(wrong(format!(
            "manifest has no audio representation {audio}"
        )));
    }
    let mut bytes = mpd.len() as u64;
    for id in 0..=ladder.audio_id() {
        let mut names = vec![format!("init-{id}.m4s")];
        names.extend((1..=ladder.segments()).map(|n| format!("chunk-{id}-{n:05}.m4s")));
        for f in names {
            let p = dir.join(&f);
            let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            if len == 0 {
                return Err(wrong(format!("{f} is missing or empty")));
            }
            bytes += len;
        }
    }
    Ok(bytes)
}

/// The 64-bit FNV-1a hash: stable across builds, for cache folder names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(ladder: Ladder) -> Content {
        Content {
            root: PathBuf::from("/nonexistent"),
            titles: SOURCES
                .iter()
                .map(|s| Title {
                    name: s.to_string(),
                    manifest: format!("/{s}/manifest.mpd"),
                })
                .collect(),
            ladder,
        }
    }

    #[test]
    fn describe_names_the_ladder() {
        assert_eq!(
            Ladder::small(40).describe(),
            "144p:150k,360p:600k,720p:2500k;audio:64k;seg:2s;len:40s"
        );
        let full = Ladder::full(120);
        assert_eq!(
            full.describe(),
            "144p:150k,240p:300k,360p:600k,480p:1200k,720p:2500k,1080p:4500k;audio:96k;seg:4s;len:120s"
        );
        assert_eq!(full.segments(), 30);
        assert_eq!(Ladder::small(41).segments(), 21);
        assert!(full.check().is_ok() && Ladder::small(8).check().is_ok());
        assert_ne!(Ladder::small(40).key(), Ladder::small(41).key());
    }

    #[test]
    fn bad_ladders_and_title_counts_are_refused() {
        let mut l = Ladder::small(40);
        l.renditions[0].width = 255;
        assert!(matches!(l.check(), Err(LabError::Invalid(_))));
        let mut l = Ladder::small(1);
        assert!(l.check().is_err());
        l.length_s = 2;
        l.preset = "fast; rm".into();
        assert!(l.check().is_err());
        let tmp = tempfile::tempdir().unwrap();
        for n in [0, SOURCES.len() + 1] {
            let e = prepare(tmp.path(), &Ladder::small(8), n, &mut |_| {}).unwrap_err();
            assert!(matches!(e, LabError::Invalid(_)), "{e}");
        }
    }

    #[test]
    fn a_missing_ffmpeg_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let e = prepare_with(
            "no-such-ffmpeg",
            tmp.path(),
            &Ladder::small(8),
            1,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(&e, LabError::Missing(m) if m == &["ffmpeg"]),
            "{e}"
        );
    }

    #[test]
    fn segment_of_maps_request_paths() {
        let c = content(Ladder::small(40));
        let s = c.segment_of("/life/chunk-2-00007.m4s").unwrap();
        assert_eq!(
            s,
            SegmentRef {
                title: "life".into(),
                media: "video",
                rendition: "720p".into(),
                height: 720,
                index: 7
            }
        );
        let s = c.segment_of("/noise/init-0.m4s?x=1").unwrap();
        assert_eq!((s.rendition.as_str(), s.height, s.index), ("144p", 144, 0));
        let s = c
            .segment_of("https://lab.test:8443/bars/chunk-3-00001.m4s#t")
            .unwrap();
        assert_eq!(
            (s.media, s.rendition.as_str(), s.height, s.index),
            ("audio", "audio", 0, 1)
        );
        for p in [
            "/life/manifest.mpd",
            "/life/chunk-4-00001.m4s",
            "/life/chunk-1-00000.m4s",
            "/life/chunk-1-0000x.m4s",
            "/life/chunk-1.m4s",
            "/life/init-.m4s",
            "/other/chunk-1-00001.m4s",
            "/life/sub/chunk-1-00001.m4s",
            "life/chunk-1-00001.m4s",
            "/",
            "",
        ] {
            assert_eq!(c.segment_of(p), None, "{p}");
        }
    }

    #[test]
    fn mpd_representations_are_read() {
        let mpd = r#"<AdaptationSet id="0">
<Representation id="0" mimeType="video/mp4" codecs="avc1.64001f" bandwidth="150000" width="256" height="144" sar="1:1">
</Representation>
<Representation id="3" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="64000" audioSamplingRate="48000">"#;
        let r = mpd_representations(mpd);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].id.as_str(), r[0].bandwidth, r[0].width, r[0].height),
            ("0", 150000, 256, 144)
        );
        assert_eq!(
            (r[1].mime.as_str(), r[1].bandwidth, r[1].height),
            ("audio/mp4", 64000, 0)
        );
    }

    #[test]
    fn every_source_has_a_graph() {
        for (i, s) in SOURCES.iter().enumerate() {
            let a = ffmpeg_args(&Ladder::full(60), s, i).join(" ");
            assert!(a.contains("split=6[s0][s1][s2][s3][s4][s5]"), "{a}");
            assert!(a.contains("-g 120 -keyint_min 120 -sc_threshold 0"), "{a}");
            assert!(a.contains("-maxrate:v:5 6750k -bufsize:v:5 9000k"), "{a}");
        }
    }

    /// Really encodes one short title, then finds it cached.
    #[test]
    fn ffmpeg_makes_a_playable_ladder() {
        if !cmd::have("ffmpeg") {
            eprintln!("ffmpeg is not installed; skipped");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let ladder = Ladder::small(8);
        let mut lines = Vec::new();
        let c = prepare(tmp.path(), &ladder, 1, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(c.titles[0].manifest, "/testsrc2/manifest.mpd");
        assert!(lines.len() == 1 && lines[0].contains("made"), "{lines:?}");
        let dir = c.root.join("testsrc2");
        let mpd = fs::read_to_string(dir.join("manifest.mpd")).unwrap();
        let reps = mpd_representations(&mpd);
        for (i, r) in ladder.renditions.iter().enumerate() {
            let p = &reps[i];
            assert_eq!(
                (p.height, p.bandwidth),
                (r.height, u64::from(r.kbps) * 1000)
            );
        }
        assert!(mpd.contains("avc1.") && mpd.contains("mp4a.40.2"), "{mpd}");
        // Segment sizes follow the rendition's bitrate.
        let size = |id: usize| -> u64 {
            (1..=ladder.segments())
                .map(|n| {
                    c.file_size(&format!("/testsrc2/chunk-{id}-{n:05}.m4s"))
                        .unwrap()
                })
                .sum()
        };
        assert!(
            size(0) * 2 < size(1) && size(1) * 2 < size(2),
            "{} {} {}",
            size(0),
            size(1),
            size(2)
        );
        let seg = c.segment_of("/testsrc2/chunk-1-00004.m4s").unwrap();
        assert_eq!(seg.height, 360);

        // A second prepare reuses it; a title without its marker is redone.
        lines.clear();
        prepare(tmp.path(), &ladder, 1, &mut |l| lines.push(l.to_string())).unwrap();
        assert!(lines[0].contains("cached"), "{lines:?}");
        fs::remove_file(dir.join(MARKER)).unwrap();
        fs::write(dir.join("stale.m4s"), b"x").unwrap();
        lines.clear();
        prepare(tmp.path(), &ladder, 1, &mut |l| lines.push(l.to_string())).unwrap();
        assert!(lines[0].contains("made"), "{lines:?}");
        assert!(!dir.join("stale.m4s").exists() && dir.join(MARKER).exists());
    }
}
