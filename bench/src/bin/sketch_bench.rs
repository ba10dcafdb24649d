//! `sketch_bench`: the cost of the sketch stage per packet, on one pinned
//! core, side by side with exact counting in a hash map on the same stream.
//!
//! Two streams of parsed packets, already in memory (parse and flow lookup
//! are not measured; the flow table is only used once, up front, to give
//! every packet its direction):
//! - `captures`: every frame of the shared captures that parses, looped;
//! - `synthetic`: a heavy-tailed stream over many keys (Zipf over 1 million
//!   sources and 1 million destinations, 4 096 ports), the case where the
//!   sketches' tables do not stay in the first cache levels.
//!
//! Each variant processes `--packets` packets and ends an epoch every
//! `--epoch-packets` (the sketches are handed over and emptied, the hash
//! maps cleared, as a worker and the control core would). A baseline loop
//! that only loads each packet is timed the same way and subtracted, so
//! the figures are the stage's own ns per packet (thread CPU time, median
//! of `--repeat` runs).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use datapath::flow::{FlowConfig, FlowTable, Seen};
use datapath::parse::{ip_proto, parse_frame, tcp_flags, PacketMeta};
use datapath::sketch::{
    CounterSpec, Increment, KeyType, SketchKey, SketchParams, SketchPlan, SketchState, Sketches,
    SEED,
};
use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};

#[derive(Parser, Debug)]
#[command(
    name = "sketch_bench",
    about = "ns/packet of the sketch stage per key type and for three counters, vs exact hash-map counting"
)]
struct Args {
    /// Folder of capture files (default: ../shared/testdata/pcap beside the workspace).
    #[arg(long)]
    pcaps: Option<PathBuf>,
    /// Packets per measured run.
    #[arg(long, default_value_t = 20_000_000)]
    packets: u64,
    /// Packets per epoch (sketches emptied, maps cleared).
    #[arg(long, default_value_t = 1_000_000)]
    epoch_packets: u64,
    /// Runs of each measurement; the median is shown.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Core to pin to (default: the last core).
    #[arg(long)]
    core: Option<usize>,
    /// Distinct sources and destinations of the synthetic stream.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u32,
    /// Packet sampling of the sampled columns: one packet in 2^this.
    #[arg(long, default_value_t = 4)]
    sample_shift: u32,
}

/// The packets of a stream, with their direction.
struct Stream {
    name: &'static str,
    packets: Vec<(PacketMeta, Seen)>,
}

fn load_captures(dir: &PathBuf) -> Result<Stream> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list captures", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let Ok(mut src) = PcapSource::open(&p) else {
            continue;
        };
        // One flow table per capture, for directions.
        let mut table = FlowTable::new(FlowConfig::default());
        let mut last = 0u64;
        while let Poll::Frames(_) = src.poll_batch(256, |f| {
            if let Ok(m) = parse_frame(f.link, f.data, f.wire_len) {
                last = last.max(f.ts_ns);
                let seen = table.process(&m, last, &mut |_| {});
                out.push((m, seen));
            }
        }) {}
    }
    if out.is_empty() {
        bail!("no packets in {}", dir.display());
    }
    Ok(Stream {
        name: "captures",
        packets: out,
    })
}

/// splitmix64.
fn rng(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf(1) sampler over `0..n` by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u32) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for i in 1..=n {
            sum += 1.0 / i as f64;
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, r: u64) -> u32 {
        let u = (r >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u) as u32
    }
}

fn v4(i: u32) -> [u8; 16] {
    std::net::Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff))
        .to_ipv6_mapped()
        .octets()
}

fn synthetic(keys: u32, n: usize) -> Stream {
    let hosts = Zipf::new(keys);
    let ports = Zipf::new(4096);
    let mut s = 0x5eed_u64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = rng(&mut s);
        let proto = match r % 100 {
            0 => ip_proto::ICMP,
            1..=14 => ip_proto::UDP,
            _ => ip_proto::TCP,
        };
        // Scramble ranks so heavy keys are not neighbours.
        let src = hosts.sample(rng(&mut s)).wrapping_mul(2_654_435_761);
        let dst = hosts.sample(rng(&mut s)).wrapping_mul(40_503);
        let mut m = PacketMeta {
            ip_version: 4,
            protocol: proto,
            src_ip: v4(src),
            dst_ip: v4(dst),
            src_port: 1024 + (rng(&mut s) % 60_000) as u16,
            dst_port: ports.sample(rng(&mut s)) as u16,
            wire_len: if r >> 32 & 1 == 0 { 64 } else { 1514 },
            ..Default::default()
        };
        if proto == ip_proto::TCP {
            m.tcp_flags = if r >> 40 & 31 == 0 {
                tcp_flags::SYN
            } else {
                tcp_flags::ACK
            };
        }
        let c2s = r >> 48 & 1 == 0;
        // One packet in 16 starts a flow.
        let new_flow = c2s && r >> 50 & 15 == 0;
        out.push((
            m,
            Seen {
                c2s,
                new_flow,
                slot: 0,
            },
        ));
    }
    Stream {
        name: "synthetic",
        packets: out,
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A hasher that passes `SketchKey::hash` through, so the exact maps pay
/// the same hash as the sketches.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("keys are hashed with write_u64")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Hashed(SketchKey, u64);

impl std::hash::Hash for Hashed {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.1)
    }
}

type ExactMap = HashMap<Hashed, u64, BuildHasherDefault<PassThrough>>;

/// What one run measures.
enum Variant {
    Baseline,
    /// Sketches of a plan, sampling one packet in 2^shift.
    Sketches(Arc<SketchPlan>, u32),
    Exact(Vec<CounterSpec>),
}

/// Runs `packets` packets of the stream through the variant; CPU ns/packet.
fn run(stream: &Stream, v: &Variant, packets: u64, epoch: u64) -> f64 {
    let pk = &stream.packets;
    let mut meta = PacketMeta::default();
    let start;
    match v {
        Variant::Baseline => {
            start = thread_cpu();
            let mut i = 0usize;
            for n in 0..packets {
                let (m, c2s) = &pk[i];
                meta.clone_from(m);
                black_box((&meta, *c2s));
                i += 1;
                if i == pk.len() {
                    i = 0;
                }
                if n % epoch == epoch - 1 {
                    black_box(n);
                }
            }
        }
        Variant::Sketches(plan, shift) => {
            let mut sk = Sketches::new(plan.clone());
            sk.set_sample_shift(*shift);
            // The control core's side: drained every epoch, as in the
            // product (timed too: on the product's control core, not the
            // worker's, but it shows what an epoch costs).
            let mut acc = SketchState::new(&plan.params);
            start = thread_cpu();
            let mut i = 0usize;
            for n in 0..packets {
                let (m, c2s) = &pk[i];
                meta.clone_from(m);
                sk.update(&meta, *c2s);
                i += 1;
                if i == pk.len() {
                    i = 0;
                }
                if n % epoch == epoch - 1 {
                    acc.absorb(0, 1, &mut sk);
                    black_box(acc.snapshots);
                    acc.reset();
                }
            }
        }
        Variant::Exact(specs) => {
            let mut maps: Vec<ExactMap> = specs.iter().map(|_| ExactMap::default()).collect();
            start = thread_cpu();
            let mut i = 0usize;
            for n in 0..packets {
                let (m, c2s) = &pk[i];
                meta.clone_from(m);
                for (spec, map) in specs.iter().zip(maps.iter_mut()) {
                    if spec.protocol.matches(meta.protocol) && spec.direction.matches(c2s.c2s) {
                        let k = spec.key.key(&meta);
                        let inc = match spec.increment {
                            Increment::Bytes => meta.wire_len as u64,
                            Increment::Packets => 1,
                        };
                        *map.entry(Hashed(k, k.hash(SEED))).or_insert(0) += inc;
                    }
                }
                i += 1;
                if i == pk.len() {
                    i = 0;
                }
                if n % epoch == epoch - 1 {
                    for m in &mut maps {
                        black_box(m.len());
                        m.clear();
                    }
                }
            }
        }
    }
    let cpu = thread_cpu() - start;
    cpu.as_nanos() as f64 / packets as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn plan_of(counters: Vec<CounterSpec>, scans: bool, flow_sizes: bool) -> Arc<SketchPlan> {
    Arc::new(SketchPlan {
        generation: 0,
        params: SketchParams {
            scans,
            flow_sizes,
            // The benchmark sets the sampling itself.
            sample_above_pps: 0,
            ..SketchParams::default()
        },
        counters,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
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
    let captures = load_captures(&dir)?;
    let synth = synthetic(args.keys, 4_000_000);
    let streams = [captures, synth];

    let one = |k: KeyType| vec![CounterSpec::new(k.name(), k, Increment::Bytes)];
    // Each row: full updates, sampled one in 16, and exact counting.
    type Row = (String, Arc<SketchPlan>, Option<Vec<CounterSpec>>);
    let mut rows: Vec<Row> = Vec::new();
    for k in KeyType::ALL {
        rows.push((
            format!("`{}` (bytes)", k.name()),
            plan_of(one(k), false, false),
            Some(one(k)),
        ));
    }
    rows.push((
        "**three counters** (defaults: `src` bytes, `dst` bytes, `src_dport` packets)".into(),
        plan_of(CounterSpec::defaults(), false, false),
        Some(CounterSpec::defaults()),
    ));
    rows.push((
        "scan sketches alone (probes only)".into(),
        plan_of(vec![], true, false),
        None,
    ));
    rows.push((
        "three counters + scan sketches (the default plan)".into(),
        plan_of(CounterSpec::defaults(), true, true),
        None,
    ));
    let sampled_shift = args.sample_shift;

    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "sketch stage, CPU ns/packet on one pinned core (core {}), median of {}; {} packets per run, an epoch every {}",
        core.map_or("unpinned".to_string(), |c| c.id.to_string()),
        args.repeat,
        args.packets,
        args.epoch_packets
    );
    println!(
        "machine: {machine}; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for s in &streams {
        println!("stream {}: {} packets", s.name, s.packets.len());
    }
    let p = SketchParams::default();
    let (w, d) = p.cm_dims();
    println!(
        "count-min {w} x {d} (error {}, confidence {}), {} candidates per counter, scan sketches 3 x {}",
        p.error,
        p.confidence,
        p.track(),
        p.scan_width
    );
    println!();

    let measure = |v: &Variant, s: &Stream| -> f64 {
        median(
            (0..args.repeat.max(1))
                .map(|_| run(s, v, args.packets, args.epoch_packets.max(1)))
                .collect(),
        )
    };
    let base: Vec<f64> = streams
        .iter()
        .map(|s| measure(&Variant::Baseline, s))
        .collect();
    println!(
        "baseline (load each packet, nothing else): {}",
        streams
            .iter()
            .zip(&base)
            .map(|(s, b)| format!("{} {b:.1} ns", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    let one_in = 1u32 << sampled_shift;
    println!(
        "| stage | captures: full | captures: 1 in {one_in} | captures: exact map | synthetic: full | synthetic: 1 in {one_in} | synthetic: exact map |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, plan, exact) in &rows {
        let mut cells = Vec::new();
        for (s, b) in streams.iter().zip(&base) {
            let cost = |v: &Variant| format!("{:.1}", (measure(v, s) - b).max(0.0));
            cells.push(cost(&Variant::Sketches(plan.clone(), 0)));
            cells.push(if plan.counters.is_empty() {
                "".into()
            } else {
                cost(&Variant::Sketches(plan.clone(), sampled_shift))
            });
            cells.push(match exact {
                Some(e) => cost(&Variant::Exact(e.clone())),
                None => "".into(),
            });
        }
        println!("| {name} | {} |", cells.join(" | "));
    }
    Ok(())
}
