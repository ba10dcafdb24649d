//! `sketch_bench`: the cost of the sketch stage per packet, on one pinned
//! core, the worker's way (counters updated once per flow, direction and
//! epoch from the flow table's sums; scan sketches on probes) side by side
//! with updating every counter on every packet and with exact counting in
//! hash maps, on the same streams.
//!
//! Three streams of parsed packets, already in memory, one per µs of
//! packet time (1 Mpps; every pass over a stream gets new addresses, so
//! its flows are new flows):
//! - `captures`: every frame of the shared captures that parses, looped;
//! - `synthetic`: heavy-tailed flows over many keys (8 192 open at a time,
//!   Pareto lengths from 2 packets, Zipf over 1 million sources and 1
//!   million destinations, 4 096 ports), where the sketches' tables do not
//!   stay in the first cache levels;
//! - `flood`: every packet a new flow (spoofed SYNs): the worst case for
//!   per-flow updates, and what the update sampling is for.
//!
//! Each stream is first run through the worker's flow table (an epoch
//! every `--epoch-packets`, flows expired every 64 packets), recording what
//! the worker hands the sketch stage: every packet with its direction, the
//! epoch's activity records, the flow records that end, the epoch
//! hand-overs. The timed runs replay that trace into the sketches alone
//! (and into exact hash maps), so the figures are the stage's own CPU ns
//! per packet, the cost of loading the trace subtracted (thread CPU time,
//! median of `--repeat` runs). The control core's merge of each epoch is
//! included (in the product it runs on another core).
//!
//! A second table shows the spread under those means: each run's wall time
//! per slice of 65 536 packets, in an HDR histogram, as p50 / p99 / max ns
//! per packet over every slice of every run (trace loading included, not
//! subtracted: a slice's baseline is not known apart).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use datapath::epoch::{FlowActivity, FlowRecord};
use datapath::flow::{FlowConfig, FlowTable, Seen};
use datapath::parse::{parse_frame, PacketMeta};
use datapath::sketch::{
    CounterSpec, Increment, KeyType, SketchKey, SketchParams, SketchPlan, SketchState, Sketches,
    SEED,
};
use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};
use datapath::wire::{IpProtocol, TcpFlags};
use hdrhistogram::Histogram;

/// Packets per timed slice of a run.
const SLICE: u64 = 1 << 16;

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
    /// Flows open at a time in the synthetic stream.
    #[arg(long, default_value_t = 8192)]
    concurrent: usize,
    /// Packet sampling of the sampled columns: one packet in 2^this.
    #[arg(long, default_value_t = 4)]
    sample_shift: u32,
}

/// The packets of a stream, in order; each is `1 / rate` after the last.
struct Stream {
    name: &'static str,
    packets: Vec<PacketMeta>,
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
        while let Poll::Frames(_) = src.poll_batch(256, |f| {
            if let Ok(m) = parse_frame(f.link, f.data, f.wire_len) {
                out.push(m);
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

fn unit(r: u64) -> f64 {
    ((r >> 11) + 1) as f64 / (1u64 << 53) as f64
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
        self.cdf.partition_point(|&c| c < unit(r)) as u32
    }
}

fn v4(i: u32) -> [u8; 16] {
    std::net::Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff))
        .to_ipv6_mapped()
        .octets()
}

/// A flow of the synthetic streams: its client's first packet.
fn new_flow(s: &mut u64, hosts: &Zipf, ports: &Zipf) -> PacketMeta {
    let r = rng(s);
    let proto = match r % 100 {
        0 => IpProtocol::ICMP,
        1..=14 => IpProtocol::UDP,
        _ => IpProtocol::TCP,
    };
    // Scramble ranks so heavy keys are not neighbours.
    let src = hosts.sample(rng(s)).wrapping_mul(2_654_435_761);
    let dst = hosts.sample(rng(s)).wrapping_mul(40_503);
    let mut m = PacketMeta {
        ip_version: 4,
        protocol: proto,
        src_ip: v4(src),
        dst_ip: v4(dst),
        src_port: 1024 + (rng(s) % 60_000) as u16,
        dst_port: ports.sample(rng(s)) as u16,
        wire_len: 64,
        ..Default::default()
    };
    match proto {
        IpProtocol::TCP => m.tcp_flags = TcpFlags::SYN,
        IpProtocol::ICMP => {
            m.icmp_type = 8;
            m.icmp_echo_id = m.src_port;
            (m.src_port, m.dst_port) = (0, 0);
        }
        _ => {}
    }
    m
}

/// Heavy-tailed flows over many keys: `concurrent` flows at a time, each
/// packet from a random one of them (either direction), flow lengths
/// Pareto(1.2) from 2 packets (mean about 10), sources and destinations
/// Zipf over `keys` addresses, 4 096 ports. The case where the sketches'
/// tables do not stay in the first cache levels.
fn synthetic(keys: u32, n: usize, concurrent: usize) -> Stream {
    let hosts = Zipf::new(keys);
    let ports = Zipf::new(4096);
    let mut s = 0x5eed_u64;
    let length = |s: &mut u64| ((2.0 / unit(rng(s)).powf(1.0 / 1.2)) as u64).min(1 << 20);
    let mut pool: Vec<(PacketMeta, u64, bool)> = (0..concurrent)
        .map(|_| (new_flow(&mut s, &hosts, &ports), length(&mut s), true))
        .collect();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = rng(&mut s);
        let slot = (r % concurrent as u64) as usize;
        let (first, left, fresh) = &mut pool[slot];
        let mut m = *first;
        if !*fresh {
            if r >> 40 & 1 == 1 {
                // From the server.
                (m.src_ip, m.dst_ip) = (m.dst_ip, m.src_ip);
                (m.src_port, m.dst_port) = (m.dst_port, m.src_port);
                if m.protocol == IpProtocol::ICMP {
                    m.icmp_type = 0;
                }
            }
            if m.protocol == IpProtocol::TCP {
                m.tcp_flags = TcpFlags::ACK;
            }
            m.wire_len = if r >> 41 & 1 == 0 { 64 } else { 1514 };
        }
        *fresh = false;
        out.push(m);
        *left -= 1;
        if *left == 0 {
            pool[slot] = (new_flow(&mut s, &hosts, &ports), length(&mut s), true);
        }
    }
    Stream {
        name: "synthetic",
        packets: out,
    }
}

/// The worst case for per-flow updates: every packet a new flow (a SYN
/// flood from spoofed sources, or a scan).
fn flood(keys: u32, n: usize) -> Stream {
    let hosts = Zipf::new(keys);
    let ports = Zipf::new(4096);
    let mut s = 0xf100d_u64;
    let packets = (0..n)
        .map(|_| {
            let mut m = new_flow(&mut s, &hosts, &ports);
            m.protocol = IpProtocol::TCP;
            m.tcp_flags = TcpFlags::SYN;
            m.src_ip = v4(rng(&mut s) as u32);
            m
        })
        .collect();
    Stream {
        name: "flood",
        packets,
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
    /// Loading each event of the trace, nothing else (subtracted).
    Baseline,
    /// The worker's way: scan sketches per packet (probes only), counters
    /// once per flow and direction per epoch; sampling updates under
    /// 2^shift packets.
    PerFlow(Arc<SketchPlan>, u32),
    /// Every counter updated on every packet (`Sketches::update`).
    PerPacket(Arc<SketchPlan>),
    /// Exact counts of every counter's keys in hash maps, per packet.
    Exact(Vec<CounterSpec>),
}

/// Addresses of pass `pass` over a stream: every pass is new flows.
#[inline]
fn tag(m: &mut PacketMeta, pass: u16) {
    let [a, b] = pass.to_le_bytes();
    m.src_ip[13] ^= a;
    m.src_ip[14] ^= b;
    m.dst_ip[13] ^= a;
    m.dst_ip[14] ^= b;
}

/// Flow records a worker's summary holds (`WorkerConfig::summary_flow_capacity`).
const SUMMARY_RECORDS: usize = 16_384;

/// One step of what a worker hands the sketch stage.
#[derive(Clone, Copy)]
enum Ev {
    /// A packet (stream index, pass) and where it fell in its flow.
    Packet(u32, u16, bool, bool),
    /// The epoch's activity records `acts[from..to]`.
    Activity(u32, u32),
    /// Flow records `ends[from..to]` ended (handed to the sketches in one
    /// pass, as the worker does before each hand-over of its summary).
    Ends(u32, u32),
    /// The epoch is handed over.
    Epoch,
}

/// The sketch stage's input for `packets` packets of a stream, as the
/// worker produces it: the stream (one packet per µs of packet time,
/// every pass with new addresses) run through the worker's flow table once,
/// up front, so that the timed runs measure the sketch stage alone.
struct Trace {
    events: Vec<Ev>,
    acts: Vec<FlowActivity>,
    ends: Vec<FlowRecord>,
    packets: u64,
}

fn trace(stream: &Stream, packets: u64, epoch_packets: u64) -> Trace {
    let pk = &stream.packets;
    let mut t = Trace {
        events: Vec::with_capacity(packets as usize + packets as usize / 4),
        acts: Vec::new(),
        ends: Vec::new(),
        packets,
    };
    let mut table = FlowTable::new(FlowConfig::default());
    let mut meta = PacketMeta::default();
    let (mut i, mut pass) = (0usize, 0u16);
    let mut now = 1u64 << 50;
    let epoch_ns = epoch_packets * 1_000;
    let mut epoch_end = now + epoch_ns;
    let mut ends_from = 0usize;
    for n in 0..packets {
        meta.clone_from(&pk[i]);
        tag(&mut meta, pass);
        now += 1_000;
        if now >= epoch_end {
            epoch_end += epoch_ns;
            t.events
                .push(Ev::Ends(ends_from as u32, t.ends.len() as u32));
            ends_from = t.ends.len();
            let from = t.acts.len() as u32;
            table.drain_activity(|a| t.acts.push(*a));
            t.events.push(Ev::Activity(from, t.acts.len() as u32));
            t.events.push(Ev::Epoch);
        }
        let ends = &mut t.ends;
        let mut end = |r: &FlowRecord| ends.push(*r);
        let seen = table.process(&meta, now, &mut end);
        if n % 64 == 63 {
            table.expire(now, &mut end);
        }
        if t.ends.len() - ends_from >= SUMMARY_RECORDS {
            // A full record buffer is handed over mid-epoch.
            t.events
                .push(Ev::Ends(ends_from as u32, t.ends.len() as u32));
            ends_from = t.ends.len();
        }
        t.events
            .push(Ev::Packet(i as u32, pass, seen.c2s, seen.new_flow));
        i += 1;
        if i == pk.len() {
            i = 0;
            pass = pass.wrapping_add(1);
        }
    }
    t
}

/// Runs the trace through the variant; CPU ns per packet of the trace.
/// Adds the wall ns of every slice of [`SLICE`] packets to `slices`.
fn run(stream: &Stream, t: &Trace, v: &Variant, slices: &mut Histogram<u64>) -> f64 {
    let pk = &stream.packets;
    let (mut sk, mut acc, shift) = match v {
        Variant::PerFlow(plan, shift) => (
            Some(Sketches::new(plan.clone())),
            Some(SketchState::new(&plan.params)),
            *shift,
        ),
        Variant::PerPacket(plan) => (
            Some(Sketches::new(plan.clone())),
            Some(SketchState::new(&plan.params)),
            0,
        ),
        _ => (None, None, 0),
    };
    if let Some(sk) = &mut sk {
        sk.set_sample_shift(shift);
    }
    let specs: &[CounterSpec] = match v {
        Variant::Exact(specs) => specs,
        _ => &[],
    };
    let mut maps: Vec<ExactMap> = specs.iter().map(|_| ExactMap::default()).collect();
    let per_flow = matches!(v, Variant::PerFlow(..));
    let mut meta = PacketMeta::default();
    let mut in_slice = 0u64;
    let mut slice_start = Instant::now();
    let start = thread_cpu();
    for ev in &t.events {
        match *ev {
            Ev::Packet(i, pass, c2s, new_flow) => {
                in_slice += 1;
                if in_slice == SLICE {
                    let now = Instant::now();
                    let _ = slices.record((now - slice_start).as_nanos() as u64);
                    slice_start = now;
                    in_slice = 0;
                }
                meta.clone_from(&pk[i as usize]);
                tag(&mut meta, pass);
                let seen = Seen {
                    c2s,
                    new_flow,
                    slot: 0,
                };
                match &mut sk {
                    Some(sk) if per_flow => sk.probe_packet(&meta, seen),
                    Some(sk) => sk.update(&meta, seen),
                    None => {
                        black_box((&meta, seen));
                    }
                }
                for (spec, map) in specs.iter().zip(maps.iter_mut()) {
                    if spec.protocol.matches(meta.protocol) && spec.direction.matches(c2s) {
                        let k = spec.key.key(&meta);
                        let inc = match spec.increment {
                            Increment::Bytes => meta.wire_len as u64,
                            Increment::Packets => 1,
                        };
                        *map.entry(Hashed(k, k.hash(SEED))).or_insert(0) += inc;
                    }
                }
            }
            Ev::Activity(from, to) => {
                let acts = &t.acts[from as usize..to as usize];
                match &mut sk {
                    Some(sk) if per_flow => sk.add_activities(acts),
                    _ => {
                        black_box(acts);
                    }
                }
            }
            Ev::Ends(from, to) => {
                let recs = &t.ends[from as usize..to as usize];
                match &mut sk {
                    Some(sk) if per_flow => sk.add_flow_ends(recs),
                    Some(sk) => {
                        for r in recs {
                            sk.record_flow(r);
                        }
                    }
                    None => {
                        black_box(recs);
                    }
                }
            }
            Ev::Epoch => {
                if let (Some(sk), Some(acc)) = (&mut sk, &mut acc) {
                    // The control core's side (another core in the product).
                    acc.absorb(0, 1, sk);
                    black_box(acc.snapshots);
                    acc.reset();
                }
                for m in &mut maps {
                    black_box(m.len());
                    m.clear();
                }
            }
        }
    }
    let cpu = thread_cpu() - start;
    cpu.as_nanos() as f64 / t.packets as f64
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
            sample_above_updates: 0,
            ..SketchParams::default()
        },
        counters,
    })
}

/// One row of the tables: its label, its plan, and the counters to count
/// exactly (none for rows with scan sketches).
type StageRow = (String, Arc<SketchPlan>, Option<Vec<CounterSpec>>);

/// The rows: each key type alone, the three default counters, the scan
/// sketches alone and the default plan.
fn stage_rows() -> Vec<StageRow> {
    let one = |k: KeyType| vec![CounterSpec::new(k.name(), k, Increment::Bytes)];
    // Each row: full updates, sampled one in 16, and exact counting.
    let mut rows: Vec<StageRow> = Vec::new();
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
    rows
}

/// Pins this thread to `--core` (default: the last core); the core, if any.
fn pin(core: Option<usize>) -> Option<core_affinity::CoreId> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let core = match core {
        Some(c) => cores.iter().find(|id| id.id == c).copied(),
        None => cores.last().copied(),
    };
    if let Some(c) = core {
        core_affinity::set_for_current(c);
    }
    core
}

/// The run's settings, the machine and the sketches' dimensions.
fn print_header(args: &Args, core: Option<core_affinity::CoreId>) {
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
}

/// The streams with their traces, and the slice times kept so far.
struct Bench {
    streams: [Stream; 3],
    traces: Vec<Trace>,
    repeat: usize,
    /// Slice times of the per-flow runs: (row, stream) -> histogram.
    spread: BTreeMap<(usize, usize), Histogram<u64>>,
}

impl Bench {
    /// Median CPU ns/packet of `v` on stream `i`; the slice times are kept
    /// under `(key, i)` if `key` is given.
    fn measure(&mut self, v: &Variant, i: usize, key: Option<usize>) -> f64 {
        let mut h = Histogram::<u64>::new(3).expect("3 significant digits are supported");
        let m = median(
            (0..self.repeat.max(1))
                .map(|_| run(&self.streams[i], &self.traces[i], v, &mut h))
                .collect(),
        );
        if let Some(k) = key {
            self.spread.insert((k, i), h);
        }
        m
    }

    /// Loading each stream's trace alone (row 0 of the spread table).
    fn baselines(&mut self) -> Vec<f64> {
        (0..self.streams.len())
            .map(|i| self.measure(&Variant::Baseline, i, Some(0)))
            .collect()
    }

    /// One line per stream: its packets, flow updates and loading cost.
    fn print_streams(&self, base: &[f64]) {
        for (i, s) in self.streams.iter().enumerate() {
            let t = &self.traces[i];
            let ends = t.ends.len();
            println!(
                "stream {}: {} packets ({} distinct), {} activity records and {} flow ends: {:.3} flow updates per packet; loading the trace {:.1} ns/packet",
                s.name,
                t.packets,
                s.packets.len(),
                t.acts.len(),
                ends,
                (t.acts.len() + ends) as f64 / t.packets as f64,
                base[i],
            );
        }
        println!();
    }

    /// The main table: CPU ns/packet of each row, per stream and way.
    fn print_costs(&mut self, rows: &[StageRow], base: &[f64], sampled_shift: u32) {
        let one_in = 1u32 << sampled_shift;
        println!("CPU ns per packet of the sketch stage:");
        println!();
        let mut head = vec!["stage".to_string()];
        for s in &self.streams {
            head.push(format!("{}: per flow", s.name));
            head.push(format!("{}: per packet", s.name));
            head.push(format!("{}: exact map", s.name));
        }
        head.push(format!("flood: per flow, sampled under {one_in} packets"));
        println!("| {} |", head.join(" | "));
        println!("|---|{}", "---:|".repeat(head.len() - 1));
        for (row, (name, plan, exact)) in rows.iter().enumerate() {
            let mut cells = Vec::new();
            for (i, b) in base.iter().enumerate() {
                let mut cost = |v: &Variant, key: Option<usize>| {
                    format!("{:.1}", (self.measure(v, i, key) - b).max(0.0))
                };
                cells.push(cost(&Variant::PerFlow(plan.clone(), 0), Some(row + 1)));
                cells.push(cost(&Variant::PerPacket(plan.clone()), None));
                cells.push(match exact {
                    Some(e) => cost(&Variant::Exact(e.clone()), None),
                    None => "".into(),
                });
            }
            cells.push(if plan.counters.is_empty() {
                "".into()
            } else {
                let sampled = Variant::PerFlow(plan.clone(), sampled_shift);
                format!(
                    "{:.1}",
                    (self.measure(&sampled, 2, None) - base[2]).max(0.0)
                )
            });
            println!("| {name} | {} |", cells.join(" | "));
        }
        println!();
    }

    /// The second table: p50 / p99 / max wall ns/packet of the slices.
    fn print_spread(&self, rows: &[StageRow]) {
        println!(
            "Spread of the per-flow runs: wall ns per packet of each slice of {SLICE} packets, \
             p50 / p99 / max over every slice of every run (trace loading included):"
        );
        println!();
        let names: Vec<String> = self.streams.iter().map(|s| s.name.to_string()).collect();
        println!("| stage | {} |", names.join(" | "));
        println!("|---|{}", "---:|".repeat(names.len()));
        let labels = std::iter::once("loading the trace alone".to_string())
            .chain(rows.iter().map(|r| r.0.clone()));
        for (row, label) in labels.enumerate() {
            let cells: Vec<String> = (0..self.streams.len())
                .map(
                    |i| match self.spread.get(&(row, i)).filter(|h| !h.is_empty()) {
                        Some(h) => format!(
                            "{:.1} / {:.1} / {:.1}",
                            h.value_at_quantile(0.5) as f64 / SLICE as f64,
                            h.value_at_quantile(0.99) as f64 / SLICE as f64,
                            h.max() as f64 / SLICE as f64
                        ),
                        None => "".into(),
                    },
                )
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = args.pcaps.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/pcap"
        ))
    });
    let core = pin(args.core);
    let captures = load_captures(&dir)?;
    let synth = synthetic(args.keys, 4_000_000, args.concurrent);
    let fl = flood(args.keys, 2_000_000);
    let streams = [captures, synth, fl];
    let rows = stage_rows();
    print_header(&args, core);

    let traces: Vec<Trace> = streams
        .iter()
        .map(|s| trace(s, args.packets, args.epoch_packets.max(1)))
        .collect();
    let mut bench = Bench {
        streams,
        traces,
        repeat: args.repeat,
        spread: BTreeMap::new(),
    };
    let base = bench.baselines();
    bench.print_streams(&base);
    bench.print_costs(&rows, &base, args.sample_shift);
    bench.print_spread(&rows);
    Ok(())
}
