//! Sketches: heavy hitters, scan detection and the flow-size distribution,
//! computed by every worker per epoch and merged by the control core per
//! window.
//!
//! - [`countmin`]: count-min with conservative update, sized from the
//!   configured error and confidence.
//! - [`topk`]: the keys with the largest estimates (a lazily ordered
//!   indexed min-heap).
//! - [`spread`]: distinct destination ports and hosts per source for scan
//!   detection (a SpreadSketch of linear-counting bitmaps).
//! - [`flowsize`]: the flow-size histograms of the window's flow records.
//! - [`state`]: the merged, all-worker state of a window; the report rows;
//!   its versioned binary form and [`state::merge_encoded`].
//! - [`window`]: the control core's merge of per-worker snapshots into
//!   windows of one or more epochs.
//!
//! A **counter** ([`CounterSpec`]) counts packets or bytes by a key type
//! (`src`, `dst`, `src_dst`, `src_dport`, `dport`, `five_tuple`) for a
//! protocol filter and a direction. A [`SketchPlan`] is the set of counters
//! and the shared parameters; [`Sketches`] is one worker's state for one
//! epoch. The worker updates it without allocating, hands it to
//! the control core inside the epoch summary, and continues with an emptied
//! one of the same (or a newer) plan — that is how counters are added or
//! removed at run time without stopping a worker (see
//! [`crate::worker::ControlLink::set_sketch_plan`]).
//!
//! Choices, and why:
//! - Hand-written rather than a crate: the sketches sit on the per-packet
//!   path (no allocation, fixed memory, a few ns per update) and their
//!   state must travel between cores and taps in a form we document.
//! - Conservative update: several times smaller over-estimates on skewed
//!   traffic, at the price of exact additivity (see [`countmin`]).
//! - Heavy-hitter candidates per worker: twice `top_k`, so a key heavy
//!   overall but split over workers by flow still reaches the merge.
//! - Flow sizes from flow records, exactly, rather than estimated from a
//!   sketch: the worker already has every record, and one bucket update per
//!   finished flow costs nothing per packet.
//! - Scans counted on probes only (TCP SYNs, the first packet of UDP and
//!   ICMP echo flows): replies and conversations are not scanning, and new
//!   flows are rare enough that the scan sketches cost a few ns per packet.
//! - Counters updated per flow and epoch from the flow table's sums, not
//!   per packet (see [`Sketches`]): the same counts, at one update per
//!   flow direction instead of one per packet. A count-min update costs
//!   13–25 ns per counter on the reference machine; per packet, three
//!   counters would use most of the 67 ns line-rate budget.
//! - Sampling (NitroSketch-style, see [`Sketches`]) only above a rate of
//!   updates, as in a flood of one-packet flows: below it, exact one-sided
//!   guarantees are worth more.

pub mod countmin;
pub mod filter;
pub mod flowsize;
pub mod key;
pub mod spread;
pub mod state;
pub mod topk;
pub mod window;

pub use filter::{Direction, Increment, ProtoFilter};

use std::sync::Arc;

use crate::epoch::{FlowActivity, FlowRecord};
use crate::flow::Seen;
use crate::parse::PacketMeta;
use crate::wire::IpProtocol;

pub use key::{is_probe, KeyType, Packed, SketchKey};

pub use state::{merge_encoded, CodecError, SketchState};
pub use window::{WindowMerger, WindowReport};

use countmin::CountMin;
use flowsize::FlowSizes;
use spread::SpreadSketch;
use topk::TopK;

/// Seed of every hash of the sketches (serialized format version 1). The
/// same on every worker and every tap, so their sketches merge.
pub const SEED: u64 = 0x7461_7073_636f_7065;
/// Most counters a plan may hold.
pub const MAX_COUNTERS: usize = 16;
/// Rows of the scan sketches.
pub const SCAN_DEPTH: u32 = 3;

/// One configurable counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterSpec {
    /// Unique within a plan: letters, digits, `_` and `-`, 1 to 64.
    pub name: String,
    /// What the counter counts by (source, destination, service, 5-tuple…).
    pub key: KeyType,
    /// Whether a packet adds one or its bytes.
    pub increment: Increment,
    /// Which IP protocols the counter sees.
    pub protocol: ProtoFilter,
    /// Which direction of a flow the counter sees.
    pub direction: Direction,
}

impl CounterSpec {
    /// A counter of every protocol and direction.
    pub fn new(name: &str, key: KeyType, increment: Increment) -> CounterSpec {
        CounterSpec {
            name: name.to_string(),
            key,
            increment,
            protocol: ProtoFilter::Any,
            direction: Direction::Any,
        }
    }

    /// The default counters: top talkers by bytes sent and received, and
    /// the top (source, service) pairs by packets.
    pub fn defaults() -> Vec<CounterSpec> {
        vec![
            CounterSpec::new("src_bytes", KeyType::Src, Increment::Bytes),
            CounterSpec::new("dst_bytes", KeyType::Dst, Increment::Bytes),
            CounterSpec::new("src_dport_packets", KeyType::SrcDport, Increment::Packets),
        ]
    }
}

/// Parameters shared by every counter of a plan and by the scan and
/// flow-size sketches. Fixed for a run (only the counter set changes at
/// run time).
#[derive(Clone, Debug, PartialEq)]
pub struct SketchParams {
    /// Count-min error ε, relative to the counter's total in the window.
    pub error: f64,
    /// Probability that an estimate stays within ε·N of the truth.
    pub confidence: f64,
    /// Keys reported per counter per window.
    pub top_k: usize,
    /// Conservative update (tighter estimates) or plain count-min (sums of
    /// sketches equal the sketch of the union exactly).
    pub conservative: bool,
    /// Scan detection on probes (see [`key::is_probe`]).
    pub scans: bool,
    /// Buckets per row of the scan sketches.
    pub scan_width: u32,
    /// Distinct destination ports from one source in a window at which it is
    /// reported as a port scan.
    pub port_scan_threshold: u64,
    /// Distinct destination hosts from one source in a window at which it is
    /// reported as a host scan.
    pub host_scan_threshold: u64,
    /// Flow-size histograms.
    pub flow_sizes: bool,
    /// Length of a reporting window, ns of packet time: a whole number of
    /// epochs (windows are aligned to multiples of it).
    pub window_ns: u64,
    /// Write the merged state of every window in its binary form.
    pub write_state: bool,
    /// Sketch updates per second on a worker (one per flow and direction
    /// with packets in an epoch, see [`Sketches::add`]) above which the
    /// heavy-hitter counters sample them (see [`Sketches`]); 0 = never.
    pub sample_above_updates: u64,
}

impl Default for SketchParams {
    fn default() -> Self {
        SketchParams {
            error: 0.001,
            confidence: 0.99,
            top_k: 20,
            conservative: true,
            scans: true,
            scan_width: 1024,
            port_scan_threshold: 100,
            host_scan_threshold: 50,
            flow_sizes: true,
            window_ns: 1_000_000_000,
            write_state: true,
            sample_above_updates: 1_000_000,
        }
    }
}

impl SketchParams {
    /// Count-min width and depth.
    pub fn cm_dims(&self) -> (u32, u32) {
        countmin::dims(self.error, self.confidence)
    }

    /// Candidates each worker keeps per counter: twice the keys reported,
    /// so a key that is heavy overall but spread over workers is still
    /// seen by the control core.
    pub fn track(&self) -> usize {
        (2 * self.top_k).max(8)
    }
}

/// A plan is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The plan has more than [`MAX_COUNTERS`] counters.
    #[error("at most {MAX_COUNTERS} counters")]
    TooManyCounters,
    /// A counter name (given) is empty, too long or has a character outside
    /// `[A-Za-z0-9_-]`.
    #[error("counter name {0:?} must be 1 to 64 letters, digits, '_' or '-'")]
    BadName(String),
    /// Two counters share a name (given).
    #[error("two counters are named {0:?}")]
    DuplicateName(String),
}

/// The counters and parameters every worker's sketches are built from.
/// `generation` grows with every change of the counter set.
#[derive(Clone, Debug, PartialEq)]
pub struct SketchPlan {
    /// Grows by one with every change of the counter set; workers tell a newer
    /// plan by it.
    pub generation: u64,
    /// Parameters shared by every counter, fixed for a run.
    pub params: SketchParams,
    /// The counters, at most [`MAX_COUNTERS`], with unique names.
    pub counters: Vec<CounterSpec>,
}

impl Default for SketchPlan {
    fn default() -> Self {
        SketchPlan {
            generation: 0,
            params: SketchParams::default(),
            counters: CounterSpec::defaults(),
        }
    }
}

impl SketchPlan {
    /// Checks the counter set.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.counters.len() > MAX_COUNTERS {
            return Err(PlanError::TooManyCounters);
        }
        for (i, c) in self.counters.iter().enumerate() {
            if !valid_name(&c.name) {
                return Err(PlanError::BadName(c.name.clone()));
            }
            if self.counters[..i].iter().any(|o| o.name == c.name) {
                return Err(PlanError::DuplicateName(c.name.clone()));
            }
        }
        Ok(())
    }

    /// The same parameters with another counter set, one generation later.
    pub fn with_counters(&self, counters: Vec<CounterSpec>) -> Result<SketchPlan, PlanError> {
        let p = SketchPlan {
            generation: self.generation + 1,
            params: self.params.clone(),
            counters,
        };
        p.validate()?;
        Ok(p)
    }

    /// A plan with nothing to compute (no counters, scans or flow sizes).
    pub fn disabled() -> SketchPlan {
        SketchPlan {
            generation: 0,
            params: SketchParams {
                scans: false,
                flow_sizes: false,
                write_state: false,
                ..SketchParams::default()
            },
            counters: Vec::new(),
        }
    }

    /// Whether the plan computes anything.
    pub fn is_active(&self) -> bool {
        !self.counters.is_empty() || self.params.scans || self.params.flow_sizes
    }
}

/// A counter name: 1 to 64 ASCII letters, digits, `_` or `-`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// One counter's sketches on a worker.
#[derive(Clone, Debug)]
pub(crate) struct Counter {
    pub key: KeyType,
    pub bytes: bool,
    pub protocol: ProtoFilter,
    pub direction: Direction,
    pub cm: CountMin,
    pub top: TopK,
    /// Exact sum of the increments this epoch (every matching packet).
    pub total: u64,
    /// Sum of the (scaled) increments the count-min sketch was given: the
    /// `N` of its error bound. Equal to `total` without sampling.
    pub cm_total: u64,
    /// Largest single increment sampled (bounds the sampling error).
    pub max_inc: u64,
}

/// The two scan sketches.
#[derive(Clone, Debug)]
pub(crate) struct ScanSketches {
    /// Elements: (protocol, destination port) of TCP/UDP probes.
    pub ports: SpreadSketch,
    /// Elements: destination address of every probe.
    pub hosts: SpreadSketch,
}

/// Seeds of the scan sketches' row hashes and element hashes.
pub(crate) const SCAN_SEED_PORTS: u64 = SEED ^ 0x706f_7274;
pub(crate) const SCAN_SEED_HOSTS: u64 = SEED ^ 0x686f_7374;
const ELEMENT_SEED: u64 = SEED ^ 0x656c_656d;
/// One flow's endpoints and the packets and bytes to add (c2s packets,
/// c2s bytes, s2c packets, s2c bytes), from an activity or flow record.
struct FlowView {
    protocol: IpProtocol,
    ip_version: u8,
    client: ([u8; 16], u16),
    server: ([u8; 16], u16),
    d: [u64; 4],
}

impl FlowView {
    fn of_activity(a: &FlowActivity) -> FlowView {
        FlowView {
            protocol: a.protocol,
            ip_version: a.ip_version,
            client: (a.client_ip, a.client_port),
            server: (a.server_ip, a.server_port),
            d: [a.c2s_packets, a.c2s_bytes, a.s2c_packets, a.s2c_bytes],
        }
    }

    fn of_record(r: &FlowRecord) -> FlowView {
        FlowView {
            protocol: r.protocol,
            ip_version: r.ip_version,
            client: (r.client_ip, r.client_port),
            server: (r.server_ip, r.server_port),
            d: r.since_report,
        }
    }

    /// The full key of the flow's packets one way (`c2s`: from the
    /// client). Packets carry no ports for ICMP (the flow keeps the echo
    /// id in them).
    #[inline]
    fn full(&self, c2s: bool) -> Packed {
        let icmp = matches!(self.protocol, IpProtocol::ICMP | IpProtocol::ICMPV6);
        let (c, s) = if icmp {
            ((&self.client.0, 0), (&self.server.0, 0))
        } else {
            (
                (&self.client.0, self.client.1),
                (&self.server.0, self.server.1),
            )
        };
        let (src, dst) = if c2s { (c, s) } else { (s, c) };
        Packed::endpoints(src.0, dst.0, src.1, dst.1, self.protocol, self.ip_version)
    }
}

/// Records ahead whose cells [`Sketches::add_activities`] prefetches.
const PREFETCH_AHEAD: usize = 4;
/// Largest sampling threshold: 2^10 packets.
pub const MAX_SAMPLE_SHIFT: u32 = 10;

/// One worker's sketches for one epoch, built from a [`SketchPlan`]. All
/// memory is allocated here; nothing here allocates afterwards.
///
/// **Flows, not packets, update the counters.** Every heavy-hitter key
/// type is a function of a packet's flow and direction, so the worker does
/// not touch the count-min tables per packet: the flow table already sums
/// each flow's packets and bytes each way, and at the end of every epoch
/// each flow that saw packets adds them in one update per direction
/// ([`Sketches::add_activity`]); a flow that ends adds what is left at its
/// end ([`Sketches::add_flow_end`]). A window's counts are exactly the
/// per-packet ones (every packet falls in the epoch it arrived in), a flow
/// of `n` packets in an epoch costs one update instead of `n`, and count-min
/// keeps its guarantees (an update of weight `n` is `n` unit updates for
/// plain count-min; conservative update of weight `n` stays an upper
/// bound). Only the scan sketches look at single packets, and only at
/// probes ([`Sketches::probe_packet`]). [`Sketches::update`] does both for
/// one packet (tests and benchmarks).
///
/// **Sampling**, only above [`SketchParams::sample_above_updates`] updates
/// per second on a worker (many short flows: a flood or a scan): threshold
/// sampling of the updates (Duffield, Lund and Thorup's smart sampling,
/// as NitroSketch samples packets): with threshold `τ = 2^s` packets, an
/// update of `n ≥ τ` packets counts exactly; a lighter one is kept with
/// probability `n / τ` and then counts as `τ` packets (bytes scaled alike,
/// `bytes · τ / n`). Estimates stay unbiased, heavy flows are never
/// dropped, and the cost falls about `τ`-fold on a flood of one-packet
/// flows. Totals stay exact; scan and flow-size sketches are never sampled
/// (distinct counts cannot be scaled up). `s` is chosen per epoch from the
/// previous epoch's update rate; without sampling (`s = 0`, the rate below
/// the threshold) count-min's guarantees hold exactly. A kept update
/// touches every row, so conservative update and the top keys see one
/// consistent stream.
#[derive(Debug)]
pub struct Sketches {
    plan: Arc<SketchPlan>,
    pub(crate) counters: Box<[Counter]>,
    pub(crate) scan: Option<Box<ScanSketches>>,
    pub(crate) flow_sizes: Option<Box<FlowSizes>>,
    /// Probe packets seen this epoch.
    pub(crate) probes: u64,
    /// Calls of [`Sketches::add`] this epoch.
    updates: u64,
    /// Sampling of this epoch: updates under `2^sample_shift` packets are
    /// sampled.
    pub(crate) sample_shift: u32,
    rng: u64,
}

impl Sketches {
    /// Allocates every sketch the plan asks for (the only allocation of these
    /// sketches).
    pub fn new(plan: Arc<SketchPlan>) -> Sketches {
        static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let p = &plan.params;
        let (w, d) = p.cm_dims();
        let counters = plan
            .counters
            .iter()
            .map(|c| Counter {
                key: c.key,
                bytes: c.increment == Increment::Bytes,
                protocol: c.protocol,
                direction: c.direction,
                cm: CountMin::new(w, d, SEED, p.conservative),
                top: TopK::new(p.track()),
                total: 0,
                cm_total: 0,
                max_inc: 0,
            })
            .collect();
        let scan = p.scans.then(|| {
            Box::new(ScanSketches {
                ports: SpreadSketch::new(p.scan_width, SCAN_DEPTH, SCAN_SEED_PORTS),
                hosts: SpreadSketch::new(p.scan_width, SCAN_DEPTH, SCAN_SEED_HOSTS),
            })
        });
        let flow_sizes = p.flow_sizes.then(|| Box::new(FlowSizes::default()));
        let n = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Sketches {
            plan,
            counters,
            scan,
            flow_sizes,
            probes: 0,
            updates: 0,
            sample_shift: 0,
            rng: key::mix64(n ^ SEED) | 1,
        }
    }

    /// The plan these sketches were built from.
    pub fn plan(&self) -> &Arc<SketchPlan> {
        &self.plan
    }

    /// Generation of the plan these sketches were built from.
    pub fn generation(&self) -> u64 {
        self.plan.generation
    }

    /// The sampling of this epoch: threshold `2^shift` packets.
    pub fn sample_shift(&self) -> u32 {
        self.sample_shift
    }

    /// Samples updates lighter than `2^shift` packets (`shift` at most
    /// [`MAX_SAMPLE_SHIFT`]) from now on; 0 takes every update.
    pub fn set_sample_shift(&mut self, shift: u32) {
        self.sample_shift = shift.min(MAX_SAMPLE_SHIFT);
    }

    /// Chooses the sampling for the next epoch from the sketch updates of
    /// an epoch of `epoch_ns`: none up to `sample_above_updates` per
    /// second, else the smallest power of two that brings the sampled rate
    /// under it.
    pub fn sample_for_rate(&mut self, updates: u64, epoch_ns: u64) {
        let limit = self.plan.params.sample_above_updates;
        let shift = if limit == 0 || epoch_ns == 0 {
            0
        } else {
            let rate = updates as u128 * 1_000_000_000 / epoch_ns as u128;
            let mut s = 0;
            while rate > (limit as u128) << s && s < MAX_SAMPLE_SHIFT {
                s += 1;
            }
            s
        };
        if shift != self.sample_shift {
            self.set_sample_shift(shift);
        }
    }

    /// xorshift64*: the sampling's coin.
    #[inline]
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Accounts one parsed packet, with where it fell in its flow: one
    /// update of every matching counter, and of the scan sketches for a
    /// probe. (The worker does not call this: it counts each flow's packets
    /// once per epoch with [`Sketches::add_activity`] and
    /// [`Sketches::add_flow_end`], and each packet only in
    /// [`Sketches::probe_packet`]; the estimates are the same.)
    #[inline]
    pub fn update(&mut self, m: &PacketMeta, seen: Seen) {
        let full = Packed::endpoints(
            &m.src_ip,
            &m.dst_ip,
            m.src_port,
            m.dst_port,
            m.protocol,
            m.ip_version,
        );
        self.add(&full, m.protocol, seen.c2s, 1, m.wire_len as u64);
        self.probe_packet(m, seen);
    }

    /// The per-packet part of the sketches: a probe (see [`is_probe`])
    /// updates the scan sketches; any other packet costs one test.
    #[inline]
    pub fn probe_packet(&mut self, m: &PacketMeta, seen: Seen) {
        if let Some(s) = &mut self.scan {
            if is_probe(m, seen) {
                self.probes += 1;
                Self::probe(s, m);
            }
        }
    }

    /// One flow's packets and bytes of the epoch (its activity record):
    /// one update per direction that carried packets.
    #[inline]
    pub fn add_activity(&mut self, a: &FlowActivity) {
        self.add_flow(&FlowView::of_activity(a), None);
    }

    /// [`Sketches::add_activity`] for each record. The records' hashes are
    /// computed a few records ahead and their count-min cells fetched into
    /// the cache meanwhile: between hand-overs the packet path pushes the
    /// tables out of the cache, and this way the updates do not wait for
    /// memory one after the other.
    pub fn add_activities(&mut self, acts: &[FlowActivity]) {
        self.add_views(acts, FlowView::of_activity, |_, _| {});
    }

    /// [`Sketches::add_flow_end`] and [`Sketches::record_flow`] for each
    /// record, hashing ahead as [`Sketches::add_activities`] does.
    pub fn add_flow_ends(&mut self, recs: &[FlowRecord]) {
        self.add_views(recs, FlowView::of_record, |sk, r| sk.record_flow(r));
    }

    /// Adds the flow of every item, `PREFETCH_AHEAD` items ahead computing
    /// the hashes and fetching the cells (not under sampling: most updates
    /// are then skipped); `then` runs after each item's update.
    #[inline]
    fn add_views<T>(
        &mut self,
        items: &[T],
        view: impl Fn(&T) -> FlowView,
        mut then: impl FnMut(&mut Sketches, &T),
    ) {
        const RING: usize = PREFETCH_AHEAD + 1;
        let ahead = !self.counters.is_empty() && self.sample_shift == 0;
        let mut ring = [[[0u64; MAX_COUNTERS]; 2]; RING];
        if ahead {
            for (k, it) in items.iter().take(PREFETCH_AHEAD).enumerate() {
                self.hash_ahead(&view(it), &mut ring[k]);
            }
        }
        for (i, it) in items.iter().enumerate() {
            if ahead {
                if let Some(n) = items.get(i + PREFETCH_AHEAD) {
                    self.hash_ahead(&view(n), &mut ring[(i + PREFETCH_AHEAD) % RING]);
                }
            }
            self.add_flow(&view(it), ahead.then_some(&ring[i % RING]));
            then(self, it);
        }
    }

    /// The hashes [`Sketches::add_flow`] will need for `v` (per direction,
    /// per counter), with the count-min cells they point at prefetched.
    #[inline]
    fn hash_ahead(&self, v: &FlowView, out: &mut [[u64; MAX_COUNTERS]; 2]) {
        for (dir, c2s) in [(0, true), (1, false)] {
            if v.d[2 * dir] == 0 {
                continue;
            }
            let full = v.full(c2s);
            for (j, c) in self.counters.iter().enumerate() {
                if c.protocol.matches(v.protocol) && c.direction.matches(c2s) {
                    let h = c.key.mask(&full).hash(SEED);
                    c.cm.prefetch(h);
                    out[dir][j] = h;
                }
            }
        }
    }

    /// The packets and bytes of an ending flow not yet counted by
    /// [`Sketches::add_activity`] ([`FlowRecord::since_report`]).
    #[inline]
    pub fn add_flow_end(&mut self, r: &FlowRecord) {
        self.add_flow(&FlowView::of_record(r), None);
    }

    /// One update per direction of `v` that carried packets, with the
    /// hashes `pre` computed ahead if given.
    #[inline]
    fn add_flow(&mut self, v: &FlowView, pre: Option<&[[u64; MAX_COUNTERS]; 2]>) {
        if self.counters.is_empty() {
            return;
        }
        for (dir, c2s) in [(0, true), (1, false)] {
            let (packets, bytes) = (v.d[2 * dir], v.d[2 * dir + 1]);
            if packets != 0 {
                let hashes = pre.map(|p| &p[dir]);
                self.add_hashed(&v.full(c2s), v.protocol, c2s, packets, bytes, hashes);
            }
        }
    }

    /// Adds `packets` packets of `bytes` bytes going one way with the full
    /// key `full` ([`Packed::endpoints`]): one update of every counter that
    /// matches `protocol` and the direction (`c2s`: from the flow's client).
    /// Under sampling, a call of fewer than `2^s` packets updates the
    /// sketches with probability `packets / 2^s`, scaled up; totals always
    /// count everything.
    #[inline]
    pub fn add(
        &mut self,
        full: &Packed,
        protocol: IpProtocol,
        c2s: bool,
        packets: u64,
        bytes: u64,
    ) {
        self.add_hashed(full, protocol, c2s, packets, bytes, None);
    }

    /// [`Sketches::add`], with each counter's key hash already computed
    /// (by [`Sketches::hash_ahead`]) when `pre` is given.
    #[inline]
    fn add_hashed(
        &mut self,
        full: &Packed,
        protocol: IpProtocol,
        c2s: bool,
        packets: u64,
        bytes: u64,
        pre: Option<&[u64; MAX_COUNTERS]>,
    ) {
        self.updates += 1;
        let shift = self.sample_shift;
        // Below the threshold a packet-weighted coin: kept with
        // probability packets / 2^shift, then scaled up to 2^shift packets.
        let light = shift != 0 && packets < 1 << shift;
        if light && (self.next_random() >> 32) & ((1 << shift) - 1) >= packets {
            for c in self.counters.iter_mut() {
                if c.protocol.matches(protocol) && c.direction.matches(c2s) {
                    c.total += if c.bytes { bytes } else { packets };
                }
            }
            return;
        }
        for (j, c) in self.counters.iter_mut().enumerate() {
            if !c.protocol.matches(protocol) || !c.direction.matches(c2s) {
                continue;
            }
            let inc = if c.bytes { bytes } else { packets };
            c.total += inc;
            let scaled = if light {
                c.max_inc = c.max_inc.max(inc);
                ((((inc as u128) << shift) + packets as u128 / 2) / packets as u128) as u64
            } else {
                inc
            };
            let key = c.key.mask(full);
            let h = match pre {
                Some(p) => p[j],
                None => key.hash(SEED),
            };
            c.cm_total += scaled;
            let est = c.cm.update(h, scaled);
            c.top.offer(&key, h, est);
        }
    }

    /// Sketch updates (calls of [`Sketches::add`]) since the last reset:
    /// what the sampling rate is chosen from.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    fn probe(s: &mut ScanSketches, m: &PacketMeta) {
        let hs = key::hash_addr(&m.src_ip, m.ip_version, SCAN_SEED_HOSTS);
        let dst = key::hash_addr(&m.dst_ip, m.ip_version, ELEMENT_SEED);
        s.hosts
            .update(&m.src_ip, m.ip_version, hs, key::mix64(hs ^ dst));
        if m.protocol == IpProtocol::TCP || m.protocol == IpProtocol::UDP {
            let hs = key::hash_addr(&m.src_ip, m.ip_version, SCAN_SEED_PORTS);
            let port = ((m.protocol.0 as u64) << 16 | m.dst_port as u64) ^ ELEMENT_SEED;
            s.ports.update(
                &m.src_ip,
                m.ip_version,
                hs,
                key::mix64(hs ^ key::mix64(port)),
            );
        }
    }

    /// Accounts one flow record in the flow-size histograms.
    #[inline]
    pub fn record_flow(&mut self, r: &FlowRecord) {
        if let Some(f) = &mut self.flow_sizes {
            f.record(r);
        }
    }

    /// Empties every sketch (keeps the memory and the sampling).
    pub fn reset(&mut self) {
        for c in self.counters.iter_mut() {
            c.cm.reset();
            c.top.clear();
            c.total = 0;
            c.cm_total = 0;
            c.max_inc = 0;
        }
        if let Some(s) = &mut self.scan {
            s.ports.reset();
            s.hosts.reset();
        }
        if let Some(f) = &mut self.flow_sizes {
            f.reset();
        }
        self.probes = 0;
        self.updates = 0;
    }

    /// True when nothing was counted since the last reset.
    pub fn is_empty(&self) -> bool {
        self.counters
            .iter()
            .all(|c| c.total == 0 && c.top.is_empty())
            && self.probes == 0
            && self.flow_sizes.as_ref().is_none_or(|f| f.records == 0)
    }

    /// Memory of the sketches in bytes (tables only).
    pub fn table_bytes(&self) -> usize {
        let c: usize = self.counters.iter().map(|c| c.cm.table_bytes()).sum();
        let s = self
            .scan
            .as_ref()
            .map_or(0, |s| s.ports.table_bytes() + s.hosts.table_bytes());
        c + s
            + self
                .flow_sizes
                .as_ref()
                .map_or(0, |_| 8 * 4 * flowsize::BUCKETS)
    }
}

#[cfg(test)]
mod tests;
