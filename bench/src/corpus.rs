//! The benchmark's input: every capture of a folder loaded into memory once,
//! on one timeline, and the classic pcap file the peers read.
//!
//! Timeline: the captures are laid end to end in file-name order (each one
//! starts 1 ms after the previous one ended), starting at 2024-01-01 UTC, in
//! whole microseconds and strictly increasing (a frame older than its
//! predecessor is moved to 1 µs after it; a gap longer than
//! [`MAX_GAP_US`] is shortened to it, which still expires every flow, so a
//! capture with a garbage timestamp cannot stretch the timeline by years).
//! Looping the corpus shifts pass `p` by `p * period_us`, where the period
//! is the corpus span plus [`PASS_GAP_US`]: longer than every idle timeout,
//! so the flows of one pass end (FIN/RST or idle) before the next pass
//! starts them again. The in-memory replay and the pcap file for the peers
//! use the same frames with the same timestamps.
//!
//! The captures are sparse (about one frame per second on average, with
//! long idle gaps), so on this "capture" timing nearly every few frames cross
//! an epoch boundary and per-second work (epoch hand-over, Parquet file
//! rotation by packet time) weighs far more per packet than on a busy link.
//! The "dense" timing keeps the frame order but spaces frames 1 µs apart
//! (1 Mpps offered load), passes still separated by [`PASS_GAP_US`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use datapath::parse::LinkType;
use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};

/// 2024-01-01T00:00:00Z in microseconds.
const T0_US: u64 = 1_704_067_200_000_000;
/// Longest gap kept between two frames of one capture.
pub const MAX_GAP_US: u64 = 600_000_000;
/// Gap between two passes over the corpus (longer than the 300 s TCP idle
/// timeout, so every flow of a pass has ended before the next pass).
pub const PASS_GAP_US: u64 = 400_000_000;

/// One frame of the corpus; its bytes are `Corpus::data[off..off + len]`.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef {
    pub off: usize,
    pub len: u32,
    pub wire_len: u32,
    /// Time on the corpus timeline, whole microseconds (pass 0).
    pub ts_us: u64,
    pub link: LinkType,
}

/// What was loaded from one capture file.
#[derive(Clone, Debug)]
pub struct CaptureInfo {
    pub name: String,
    pub frames: u64,
    pub ethernet_frames: u64,
    /// Unreadable records the reader reported (fuzzed/truncated files).
    pub invalid_records: u64,
    /// The file could not be opened as a capture (reason).
    pub open_error: Option<String>,
}

/// Every frame of every capture, in one byte arena.
pub struct Corpus {
    pub data: Vec<u8>,
    pub frames: Vec<FrameRef>,
    pub captures: Vec<CaptureInfo>,
    /// Frames moved 1 µs after their predecessor to keep time strictly
    /// increasing (same or older timestamp than the frame before).
    pub ts_bumped: u64,
    /// Gaps shortened to `MAX_GAP_US`.
    pub gaps_shortened: u64,
}

impl Corpus {
    /// Loads every file of `dir` (sorted by name) with [`PcapSource`].
    pub fn load(dir: &Path) -> Result<Corpus> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot list captures", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        let mut c = Corpus {
            data: Vec::new(),
            frames: Vec::new(),
            captures: Vec::new(),
            ts_bumped: 0,
            gaps_shortened: 0,
        };
        // Last timestamp on the timeline so far.
        let mut last_us = T0_US;
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut info = CaptureInfo {
                name,
                frames: 0,
                ethernet_frames: 0,
                invalid_records: 0,
                open_error: None,
            };
            let mut src = match PcapSource::open(&path) {
                Ok(s) => s,
                Err(e) => {
                    info.open_error = Some(e.to_string());
                    c.captures.push(info);
                    continue;
                }
            };
            // This capture starts 1 ms after the previous one ended.
            let start_us = last_us + 1_000;
            let mut prev_orig_us: Option<u64> = None;
            let mut prev_us = start_us - 1;
            loop {
                let poll = src.poll_batch(256, |f| {
                    let orig_us = f.ts_ns / 1_000;
                    let mut ts = match prev_orig_us {
                        None => start_us,
                        Some(p) => {
                            let mut gap = orig_us.saturating_sub(p);
                            if gap > MAX_GAP_US {
                                gap = MAX_GAP_US;
                                c.gaps_shortened += 1;
                            }
                            prev_us + gap
                        }
                    };
                    if ts <= prev_us {
                        c.ts_bumped += 1;
                        ts = prev_us + 1;
                    }
                    prev_orig_us = Some(orig_us);
                    prev_us = ts;
                    let off = c.data.len();
                    c.data.extend_from_slice(f.data);
                    c.frames.push(FrameRef {
                        off,
                        len: f.data.len() as u32,
                        wire_len: f.wire_len,
                        ts_us: ts,
                        link: f.link,
                    });
                    info.frames += 1;
                    if f.link == LinkType::Ethernet {
                        info.ethernet_frames += 1;
                    }
                });
                match poll {
                    Poll::Frames(_) => {}
                    Poll::Idle { .. } | Poll::End => break,
                }
            }
            info.invalid_records = src.stats().invalid;
            if info.frames > 0 {
                last_us = prev_us;
            }
            c.captures.push(info);
        }
        anyhow::ensure!(!c.frames.is_empty(), "{}: no frames loaded", dir.display());
        Ok(c)
    }

    #[inline]
    pub fn bytes(&self, f: &FrameRef) -> &[u8] {
        &self.data[f.off..f.off + f.len as usize]
    }

    /// The frames of one link type, or all of them.
    pub fn select(&self, only: Option<LinkType>) -> Vec<FrameRef> {
        self.frames
            .iter()
            .filter(|f| only.is_none_or(|l| f.link == l))
            .copied()
            .collect()
    }
}

/// How frames are spaced in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Timing {
    /// The captures' own timing, laid end to end.
    Capture,
    /// Same order, one frame per microsecond.
    Dense,
}

impl Timing {
    pub fn name(self) -> &'static str {
        match self {
            Timing::Capture => "capture timing",
            Timing::Dense => "dense timing",
        }
    }
}

/// `frames` on the given timing.
pub fn retime(frames: &[FrameRef], timing: Timing) -> Vec<FrameRef> {
    match timing {
        Timing::Capture => frames.to_vec(),
        Timing::Dense => frames
            .iter()
            .enumerate()
            .map(|(i, f)| FrameRef {
                ts_us: T0_US + i as u64,
                ..*f
            })
            .collect(),
    }
}

/// Shift of pass `p` for a frame set: span plus [`PASS_GAP_US`], per pass.
pub fn period_us(frames: &[FrameRef]) -> u64 {
    let first = frames.first().map_or(0, |f| f.ts_us);
    let last = frames.last().map_or(0, |f| f.ts_us);
    last - first + PASS_GAP_US
}

/// What was written to the peers' pcap file.
pub struct PeerFile {
    pub packets: u64,
    pub bytes: u64,
    pub passes: u64,
    /// Packet time from the first frame to the last.
    pub span_us: u64,
}

/// Writes `frames` (Ethernet only) looped to exactly `packets` frames as a
/// classic little-endian microsecond pcap (LINKTYPE_ETHERNET), with the same
/// timestamps the in-memory replay uses.
pub fn write_pcap(
    corpus: &Corpus,
    frames: &[FrameRef],
    packets: u64,
    path: &Path,
) -> Result<PeerFile> {
    anyhow::ensure!(!frames.is_empty(), "no Ethernet frames to write");
    let file = File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let snaplen = frames.iter().map(|f| f.len).max().unwrap_or(0).max(262_144);
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&0i32.to_le_bytes());
    hdr.extend_from_slice(&0u32.to_le_bytes());
    hdr.extend_from_slice(&snaplen.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    w.write_all(&hdr)?;
    let period = period_us(frames);
    let mut written = 0u64;
    let mut pass = 0u64;
    let mut bytes = 24u64;
    let mut last_ts = frames[0].ts_us;
    'outer: loop {
        for f in frames {
            if written == packets {
                break 'outer;
            }
            let ts = f.ts_us + pass * period;
            last_ts = ts;
            let sec = u32::try_from(ts / 1_000_000).context("timeline passed year 2106")?;
            let usec = (ts % 1_000_000) as u32;
            let mut rec = [0u8; 16];
            rec[0..4].copy_from_slice(&sec.to_le_bytes());
            rec[4..8].copy_from_slice(&usec.to_le_bytes());
            rec[8..12].copy_from_slice(&f.len.to_le_bytes());
            rec[12..16].copy_from_slice(&f.wire_len.max(f.len).to_le_bytes());
            w.write_all(&rec)?;
            w.write_all(corpus.bytes(f))?;
            bytes += 16 + u64::from(f.len);
            written += 1;
        }
        pass += 1;
    }
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all().ok();
    Ok(PeerFile {
        packets: written,
        bytes,
        passes: written.div_ceil(frames.len() as u64),
        span_us: last_ts - frames[0].ts_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(c: &mut Corpus, bytes: &[u8], ts_us: u64) {
        let off = c.data.len();
        c.data.extend_from_slice(bytes);
        c.frames.push(FrameRef {
            off,
            len: bytes.len() as u32,
            wire_len: bytes.len() as u32 + 4,
            ts_us,
            link: LinkType::Ethernet,
        });
    }

    /// The peers' file reads back, through our own reader, as the same
    /// frames looped, with strictly increasing time.
    #[test]
    fn pcap_file_round_trips_looped() {
        let mut c = Corpus {
            data: Vec::new(),
            frames: Vec::new(),
            captures: Vec::new(),
            ts_bumped: 0,
            gaps_shortened: 0,
        };
        frame(&mut c, &[1; 60], T0_US);
        frame(&mut c, &[2; 80], T0_US + 5);
        frame(&mut c, &[3; 70], T0_US + 2_000_000);
        for timing in [Timing::Capture, Timing::Dense] {
            let frames = retime(&c.frames, timing);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.pcap");
            let pf = write_pcap(&c, &frames, 7, &path).unwrap();
            assert_eq!((pf.packets, pf.passes), (7, 3));
            assert_eq!(pf.bytes, std::fs::metadata(&path).unwrap().len());
            let mut src = PcapSource::open(&path).unwrap();
            let mut got = Vec::new();
            while let Poll::Frames(_) = src.poll_batch(4, |f| {
                got.push((f.data.to_vec(), f.wire_len, f.ts_ns, f.link));
            }) {}
            assert_eq!(got.len(), 7);
            let period = period_us(&frames);
            for (i, (data, wire, ts, link)) in got.iter().enumerate() {
                let r = &frames[i % 3];
                assert_eq!(data.as_slice(), c.bytes(r));
                assert_eq!(*wire, r.wire_len);
                assert_eq!(*ts, (r.ts_us + (i / 3) as u64 * period) * 1_000);
                assert_eq!(*link, LinkType::Ethernet);
            }
            assert!(got.windows(2).all(|w| w[0].2 < w[1].2));
        }
    }
}
