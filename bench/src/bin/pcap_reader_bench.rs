//! `pcap_reader_bench`: datapath's own pcap/pcapng reader
//! (`datapath::source::pcap::PcapSource`, through its `FrameSource` API)
//! against the `pcap-parser` crate's streaming reader, on the shared
//! captures and on large files made of them.
//!
//! 1. Checks, file by file, that both readers deliver the same frames:
//!    count, captured bytes, and (untimed) the frames' contents and
//!    nanosecond timestamps; prints every capture where they disagree and
//!    what each reader said.
//! 2. Times a pass of each reader over every capture of the folder, and
//!    over two large files (classic pcap and pcapng) of the captures'
//!    Ethernet frames looped to `--packets` frames, read from the page
//!    cache. Both readers do the same work per frame: find the frame, its
//!    link type and its timestamp in nanoseconds; pcap-parser's reader
//!    gets a buffer of the size ours starts with (1 MiB).
//!
//! Figures: wall ns per frame and MB/s of file read, median of
//! `--repeat` passes, on one pinned core.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use datapath::parse::LinkType;
use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};
use hdrhistogram::Histogram;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

/// The buffer ours starts with (`datapath::source::pcap`'s first buffer).
const BUF: usize = 1 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "pcap_reader_bench",
    about = "datapath's pcap/pcapng reader vs the pcap-parser crate: same frames? ns/frame, MB/s"
)]
struct Args {
    /// Folder of capture files (default: ../shared/testdata/pcap beside the workspace).
    #[arg(long)]
    pcaps: Option<PathBuf>,
    /// Frames in each large file (the captures' Ethernet frames, looped).
    #[arg(long, default_value_t = 2_000_000)]
    packets: u64,
    /// Timed passes of each reader over each input; the median is shown.
    #[arg(long, default_value_t = 7)]
    repeat: usize,
    /// Core to pin to (default: the last core).
    #[arg(long)]
    core: Option<usize>,
}

/// What a reader delivered from one file.
#[derive(Clone, Debug, Default, PartialEq)]
struct Seen {
    frames: u64,
    bytes: u64,
    /// FNV-1a over every frame's bytes and timestamp (check pass only).
    digest: u64,
    /// Records the reader skipped or could not read, and why it stopped
    /// early, if it did.
    skipped: u64,
    error: Option<String>,
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Our reader over `path`; with `check`, the contents' digest too.
fn ours(path: &Path, check: bool) -> Seen {
    let mut s = Seen {
        digest: 0xcbf2_9ce4_8422_2325,
        ..Seen::default()
    };
    let mut src = match PcapSource::open(path) {
        Ok(src) => src,
        Err(e) => {
            s.error = Some(e.to_string());
            return s;
        }
    };
    loop {
        let polled = src.poll_batch(256, |f| {
            s.frames += 1;
            s.bytes += f.data.len() as u64;
            if check {
                s.digest = fnv(fnv(s.digest, f.data), &f.ts_ns.to_le_bytes());
            } else {
                black_box((f.data, f.ts_ns, f.link));
            }
        });
        if polled == Poll::End {
            break;
        }
    }
    s.skipped = src.stats().invalid;
    s
}

/// pcap-parser's streaming reader over `path`, doing what ours does per
/// frame: the frame, its interface's link type, its timestamp in ns.
fn parser(path: &Path, check: bool) -> Seen {
    let mut s = Seen {
        digest: 0xcbf2_9ce4_8422_2325,
        ..Seen::default()
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            s.error = Some(e.to_string());
            return s;
        }
    };
    let mut rd = match create_reader(BUF, file) {
        Ok(r) => r,
        Err(e) => {
            s.error = Some(format!("{e}"));
            return s;
        }
    };
    // Classic: link type and ns per timestamp unit; pcapng: per interface,
    // link type, units per second and offset.
    let mut legacy = (0i32, 1_000u64);
    let mut ifaces: Vec<(i32, u64, i64)> = Vec::new();
    let deliver = |s: &mut Seen, data: &[u8], ts_ns: u64, link: i32| {
        s.frames += 1;
        s.bytes += data.len() as u64;
        if check {
            s.digest = fnv(fnv(s.digest, data), &ts_ns.to_le_bytes());
        } else {
            black_box((data, ts_ns, link));
        }
    };
    loop {
        match rd.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        let unit = if h.is_nanosecond_precision() {
                            1
                        } else {
                            1_000
                        };
                        legacy = (h.network.0, unit);
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let ts = b.ts_sec as u64 * 1_000_000_000 + b.ts_usec as u64 * legacy.1;
                        deliver(&mut s, b.data, ts, legacy.0);
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => ifaces.push((
                        idb.linktype.0,
                        idb.ts_resolution().unwrap_or(1_000_000),
                        idb.ts_offset(),
                    )),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        match ifaces.get(epb.if_id as usize) {
                            Some(&(link, res, off)) => {
                                // As ours does: 64-bit seconds (the
                                // crate's `decode_ts` gives 32).
                                let raw = (epb.ts_high as u64) << 32 | epb.ts_low as u64;
                                let sec = (raw / res).wrapping_add_signed(off);
                                let ts = sec.wrapping_mul(1_000_000_000).wrapping_add(
                                    ((raw % res) as u128 * 1_000_000_000 / res as u128) as u64,
                                );
                                deliver(&mut s, epb.packet_data(), ts, link);
                            }
                            None => s.skipped += 1,
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => match ifaces.first() {
                        Some(&(link, _, _)) => deliver(&mut s, spb.packet_data(), 0, link),
                        None => s.skipped += 1,
                    },
                    PcapBlockOwned::NG(_) => {}
                }
                rd.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = rd.refill() {
                    s.error = Some(format!("refill: {e}"));
                    break;
                }
            }
            Err(e) => {
                s.error = Some(format!("{e}"));
                break;
            }
        }
    }
    s
}

/// One reader's timed passes over `files`: frames per pass and the
/// histogram of pass times (ns).
fn time(
    reader: fn(&Path, bool) -> Seen,
    files: &[PathBuf],
    repeat: usize,
) -> (u64, Histogram<u64>) {
    let mut h = Histogram::<u64>::new(3).expect("3 significant digits");
    let mut frames = 0;
    for _ in 0..repeat {
        let t = Instant::now();
        frames = files.iter().map(|f| reader(f, false).frames).sum();
        let _ = h.record(t.elapsed().as_nanos() as u64);
    }
    (frames, h)
}

/// The captures' Ethernet frames, with timestamps, as ours reads them.
fn ethernet_frames(files: &[PathBuf]) -> Vec<(Vec<u8>, u32, u64)> {
    let mut out = Vec::new();
    for p in files {
        let Ok(mut src) = PcapSource::open(p) else {
            continue;
        };
        while src.poll_batch(256, |f| {
            if f.link == LinkType::Ethernet {
                out.push((f.data.to_vec(), f.wire_len, f.ts_ns));
            }
        }) != Poll::End
        {}
    }
    out
}

/// Writes `frames` looped to `n` frames (each pass with the same
/// timestamps: the readers do not care), as classic pcap (µs) or pcapng
/// (one interface, µs).
fn write_looped(frames: &[(Vec<u8>, u32, u64)], n: u64, path: &Path, ng: bool) -> Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    if ng {
        // Section header: no options, unknown section length.
        w.write_all(&0x0A0D_0D0Au32.to_le_bytes())?;
        w.write_all(&28u32.to_le_bytes())?;
        w.write_all(&0x1A2B_3C4Du32.to_le_bytes())?;
        w.write_all(&1u16.to_le_bytes())?;
        w.write_all(&0u16.to_le_bytes())?;
        w.write_all(&(-1i64).to_le_bytes())?;
        w.write_all(&28u32.to_le_bytes())?;
        // Interface: Ethernet, no snap length, no options (µs).
        w.write_all(&1u32.to_le_bytes())?;
        w.write_all(&20u32.to_le_bytes())?;
        w.write_all(&1u16.to_le_bytes())?;
        w.write_all(&0u16.to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        w.write_all(&20u32.to_le_bytes())?;
    } else {
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    for i in 0..n {
        let (data, wire, ts_ns) = &frames[(i % frames.len() as u64) as usize];
        let us = ts_ns / 1_000;
        let cap = data.len() as u32;
        if ng {
            let pad = (4 - data.len() % 4) % 4;
            let len = 32 + data.len() as u32 + pad as u32;
            for v in [6, len, 0, (us >> 32) as u32, us as u32, cap, *wire] {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(data)?;
            w.write_all(&[0u8; 3][..pad])?;
            w.write_all(&len.to_le_bytes())?;
        } else {
            let (sec, usec) = ((us / 1_000_000) as u32, (us % 1_000_000) as u32);
            for v in [sec, usec, cap, *wire] {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(data)?;
        }
    }
    w.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.repeat >= 1, "--repeat must be at least 1");
    let dir = args.pcaps.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/pcap"
        ))
    });
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let core = match args.core {
        Some(c) => cores.iter().find(|id| id.id == c).copied(),
        None => cores.last().copied(),
    };
    if let Some(c) = core {
        core_affinity::set_for_current(c);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: cannot list captures", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no captures in {}", dir.display());

    println!("## pcap readers: datapath's own vs pcap-parser\n");
    println!(
        "Captures: {} files in `{}`. Pinned to core {}; median of {} passes (wall clock), files \
         read from the page cache; pcap-parser 0.17 with a {} KiB buffer.\n",
        files.len(),
        dir.display(),
        core.map_or("none".to_string(), |c| c.id.to_string()),
        args.repeat,
        BUF >> 10
    );
    check(&files);

    let tmp = tempfile::Builder::new()
        .prefix("pcap-reader-bench-")
        .tempdir()?;
    let eth = ethernet_frames(&files);
    anyhow::ensure!(!eth.is_empty(), "no Ethernet frames in {}", dir.display());
    let big_pcap = tmp.path().join("looped.pcap");
    let big_ng = tmp.path().join("looped.pcapng");
    write_looped(&eth, args.packets, &big_pcap, false)?;
    write_looped(&eth, args.packets, &big_ng, true)?;
    let inputs: Vec<(String, Vec<PathBuf>)> = vec![
        (
            format!("all {} captures, one pass", files.len()),
            files.clone(),
        ),
        (
            format!(
                "{} Ethernet frames looped to {}, classic pcap",
                eth.len(),
                args.packets
            ),
            vec![big_pcap.clone()],
        ),
        (
            format!(
                "{} Ethernet frames looped to {}, pcapng (EPB)",
                eth.len(),
                args.packets
            ),
            vec![big_ng.clone()],
        ),
    ];
    // Both big files must read the same through both readers.
    for p in [&big_pcap, &big_ng] {
        let (a, b) = (ours(p, true), parser(p, true));
        anyhow::ensure!(
            a == b && a.frames == args.packets,
            "{}: the readers disagree: ours {a:?}, pcap-parser {b:?}",
            p.display()
        );
    }
    timing_table(&inputs, args.repeat);
    Ok(())
}

/// Times both readers on each input and prints the table.
fn timing_table(inputs: &[(String, Vec<PathBuf>)], repeat: usize) {
    println!(
        "| input | MB | frames | ours ns/frame | ours MB/s | pcap-parser ns/frame | pcap-parser MB/s | \
         ours ÷ pcap-parser (time) | ours p50 / p99 / max pass ms | pcap-parser p50 / p99 / max pass ms |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, set) in inputs {
        let bytes: u64 = set
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        // Into the page cache, and the code warm.
        for p in set {
            black_box(ours(p, false));
            black_box(parser(p, false));
        }
        let (fa, ha) = time(ours, set, repeat);
        let (fb, hb) = time(parser, set, repeat);
        let (ta, tb) = (
            ha.value_at_quantile(0.5) as f64,
            hb.value_at_quantile(0.5) as f64,
        );
        let ms = |h: &Histogram<u64>| {
            format!(
                "{:.2} / {:.2} / {:.2}",
                h.value_at_quantile(0.5) as f64 / 1e6,
                h.value_at_quantile(0.99) as f64 / 1e6,
                h.max() as f64 / 1e6
            )
        };
        println!(
            "| {name} | {:.1} | {fa} | {:.1} | {:.0} | {:.1} | {:.0} | {:.2} | {} | {} |",
            bytes as f64 / 1e6,
            ta / fa.max(1) as f64,
            bytes as f64 * 1e3 / ta,
            tb / fb.max(1) as f64,
            bytes as f64 * 1e3 / tb,
            ta / tb,
            ms(&ha),
            ms(&hb),
        );
        if fa != fb {
            println!("|  | frames differ: ours {fa}, pcap-parser {fb} (see the table above) | | | | | | | | |");
        }
    }
    println!(
        "\nns/frame = median pass time ÷ frames; MB/s = file bytes ÷ median pass time (10^6 \
         bytes). Pass times are recorded in an HDR histogram (3 significant digits): its median \
         is the one shown."
    );
}

/// The untimed check: both readers, every capture, frames, bytes,
/// contents and timestamps.
fn check(files: &[PathBuf]) {
    println!(
        "| capture | ours: frames, bytes | pcap-parser: frames, bytes | same frames, bytes, contents and ns timestamps? |"
    );
    println!("|---|--:|--:|---|");
    let mut differ = 0;
    for p in files {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let (a, b) = (ours(p, true), parser(p, true));
        let same = a.frames == b.frames && a.bytes == b.bytes && a.digest == b.digest;
        let say = |s: &Seen| {
            let mut t = format!("{}, {}", s.frames, s.bytes);
            if s.skipped > 0 {
                t.push_str(&format!(" ({} records skipped)", s.skipped));
            }
            if let Some(e) = &s.error {
                t.push_str(&format!(" (stopped: {e})"));
            }
            t
        };
        let verdict = if same {
            "yes".to_string()
        } else {
            differ += 1;
            let what = if a.frames != b.frames || a.bytes != b.bytes {
                "NO: counts differ"
            } else {
                "NO: same counts, contents or timestamps differ"
            };
            what.to_string()
        };
        println!("| {name} | {} | {} | {verdict} |", say(&a), say(&b));
    }
    println!(
        "\n{} of {} captures read the same through both readers; {differ} differ.\n",
        files.len() - differ,
        files.len()
    );
}
