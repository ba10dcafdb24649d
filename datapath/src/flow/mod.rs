//! The per-core flow table.
//!
//! A fixed-capacity slab of flow entries plus an open-addressing index
//! (linear probing, backward-shift deletion). Everything is allocated when the
//! table is built; processing a packet never allocates. Flows end on
//! FIN/RST (after a short linger that keeps the closing ACKs in the same
//! record), on idle and active timeouts found by an incremental sweep, or by
//! eviction of the least recently seen of a small sample when the table is
//! full. The table is clock-free: every call takes `now`. Flows that may
//! carry streamed media also follow their request/response bursts
//! ([`segment`]); closed bursts wait in a fixed log for
//! [`FlowTable::drain_segments`].

pub mod key;
pub mod segment;
pub mod tcp;

use crate::epoch::{DirCounters, EndReason, FlowActivity, FlowRecord, TcpDirStats};
use crate::names::inspect::FlowNames;
use crate::parse::{Fragment, PacketMeta};
use crate::wire::IpProtocol;
use crate::wire::TcpFlags;
use key::{key_ports, FlowKey};
use segment::{SegmentConfig, SegmentLog, SegmentRecord, SegmentTracker};
use tcp::TcpState;

const NS: u64 = 1_000_000_000;

/// Flow-table settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows held at once; preallocated.
    pub capacity: usize,
    /// Idle timeout of TCP flows, ns.
    pub tcp_idle_ns: u64,
    /// Idle timeout of UDP flows, ns.
    pub udp_idle_ns: u64,
    /// Idle timeout of flows of every other protocol, ns.
    pub other_idle_ns: u64,
    /// How long a TCP flow stays after both FINs or a RST, so the closing
    /// ACKs and retransmitted RSTs stay in its record.
    pub tcp_closed_linger_ns: u64,
    /// Flows older than this are reported (reason `active`) and continue as
    /// a new record.
    pub active_timeout_ns: u64,
    /// Worker index written into the records.
    pub worker: u16,
    /// Media segment detection ([`segment`]).
    pub segments: SegmentConfig,
    /// Segments held between two [`FlowTable::drain_segments`] calls;
    /// preallocated, the overflow counted.
    pub segment_capacity: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            capacity: 262_144,
            tcp_idle_ns: 300 * NS,
            udp_idle_ns: 60 * NS,
            other_idle_ns: 60 * NS,
            tcp_closed_linger_ns: 2 * NS,
            active_timeout_ns: 300 * NS,
            worker: 0,
            segments: SegmentConfig::default(),
            segment_capacity: 16_384,
        }
    }
}

/// Where a packet fell in its flow, as [`FlowTable::process`] reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The packet goes from the flow's client (its initiator) to the server.
    pub c2s: bool,
    /// The packet started a flow (a new entry in the table).
    pub new_flow: bool,
    /// The flow's slot, for [`FlowTable::flow_mut`] until the next call.
    pub slot: u32,
}

/// Cumulative flow-table counters (the worker reports per-epoch differences).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Flows created since the table was made.
    pub created: u64,
    /// Flow records emitted since the table was made (ended flows and
    /// active-timeout splits).
    pub ended: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// Non-first IP fragments seen.
    pub fragments: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    key: FlowKey,
    rec: FlowRecord,
    tcp: TcpState,
    /// When the flow expires if no packet comes (last packet + timeout).
    expires_ns: u64,
    hash32: u32,
    client_is_lo: bool,
    in_use: bool,
    /// Name inspection state.
    names: FlowNames,
    /// The activity epoch this slot was last put on the dirty list in.
    dirty_epoch: u32,
    /// Packets and bytes each way already reported in activity records
    /// (c2s packets, c2s bytes, s2c packets, s2c bytes).
    reported: [u64; 4],
    /// The open media segment (flows that may carry media only).
    seg: SegmentTracker,
}

impl Entry {
    /// Packets and bytes each way since the last activity report.
    #[inline]
    fn unreported(&self) -> [u64; 4] {
        let r = &self.rec;
        [
            r.c2s.packets - self.reported[0],
            r.c2s.bytes - self.reported[1],
            r.s2c.packets - self.reported[2],
            r.s2c.bytes - self.reported[3],
        ]
    }
}

/// Remembers the ports of first fragments so later fragments of the same
/// datagram join their flow. Direct-mapped, fixed size, overwrite on clash.
struct FragCache {
    slots: Box<[(u64, u16, u16)]>,
}

impl FragCache {
    const SIZE: usize = 4096;

    fn new() -> Self {
        FragCache {
            slots: vec![(0u64, 0u16, 0u16); Self::SIZE].into_boxed_slice(),
        }
    }

    #[inline]
    fn tag(m: &PacketMeta) -> u64 {
        let mut h = (m.ip_id as u64) << 8 | m.protocol.0 as u64 | 1 << 63;
        for c in m.src_ip[8..]
            .chunks_exact(4)
            .chain(m.dst_ip[8..].chunks_exact(4))
        {
            h = (h ^ u32::from_ne_bytes(c.try_into().unwrap()) as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(31);
        }
        h | 1
    }

    #[inline]
    fn put(&mut self, m: &PacketMeta, sp: u16, dp: u16) {
        let t = Self::tag(m);
        self.slots[(t >> 40) as usize & (Self::SIZE - 1)] = (t, sp, dp);
    }

    #[inline]
    fn get(&self, m: &PacketMeta) -> Option<(u16, u16)> {
        let t = Self::tag(m);
        let s = self.slots[(t >> 40) as usize & (Self::SIZE - 1)];
        (s.0 == t).then_some((s.1, s.2))
    }
}

/// The per-core flow table.
pub struct FlowTable {
    cfg: FlowConfig,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// 0 = empty, else `(hash32 << 32) | (slot + 1)`.
    index: Box<[u64]>,
    mask: usize,
    seed: u64,
    live: usize,
    sweep_cursor: usize,
    evict_cursor: usize,
    last_sweep_ns: u64,
    frags: FragCache,
    counters: FlowCounters,
    /// Next per-worker flow sequence number.
    next_id: u64,
    /// Slots touched since the last [`FlowTable::drain_activity`].
    dirty: Vec<u32>,
    epoch_seq: u32,
    /// Closed media segments not yet drained.
    seg_log: SegmentLog,
}

impl FlowTable {
    /// Builds a table; all memory is reserved here.
    pub fn new(cfg: FlowConfig) -> Self {
        let capacity = cfg.capacity.clamp(16, 1 << 30);
        let index_len = (capacity * 2).next_power_of_two();
        FlowTable {
            cfg: FlowConfig { capacity, ..cfg },
            entries: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            index: vec![0u64; index_len].into_boxed_slice(),
            mask: index_len - 1,
            seed: 0x243f_6a88_85a3_08d3 ^ (cfg.worker as u64).wrapping_mul(0x9e37_79b9),
            live: 0,
            sweep_cursor: 0,
            evict_cursor: 0,
            last_sweep_ns: 0,
            frags: FragCache::new(),
            counters: FlowCounters::default(),
            next_id: 1,
            dirty: Vec::with_capacity(capacity),
            epoch_seq: 1,
            seg_log: SegmentLog::with_capacity(cfg.segment_capacity.clamp(1, 1 << 24)),
        }
    }

    /// Passes every media segment closed since the last call to `f`, then
    /// forgets them.
    pub fn drain_segments<F: FnMut(&SegmentRecord)>(&mut self, mut f: F) {
        for r in self.seg_log.records() {
            f(r);
        }
        self.seg_log.clear();
    }

    /// Segments that did not fit between two drains, since the table was made.
    pub fn segments_dropped(&self) -> u64 {
        self.seg_log.dropped()
    }

    /// The record (so far) and name state of the flow in `slot` (from
    /// [`Seen::slot`]).
    #[inline]
    pub fn flow_mut(&mut self, slot: u32) -> (&mut FlowRecord, &mut FlowNames) {
        let e = &mut self.entries[slot as usize];
        (&mut e.rec, &mut e.names)
    }

    /// Reports, for every flow that saw packets since the last call and is
    /// still open, its packets and bytes since its previous report, then
    /// starts a new activity epoch. Flows that ended meanwhile are not
    /// reported: the rest of their counts are in their records.
    pub fn drain_activity<F: FnMut(&FlowActivity)>(&mut self, mut f: F) {
        for &slot in &self.dirty {
            let e = &mut self.entries[slot as usize];
            if !e.in_use {
                continue;
            }
            let d = e.unreported();
            let r = &e.rec;
            e.reported = [r.c2s.packets, r.c2s.bytes, r.s2c.packets, r.s2c.bytes];
            if d == [0; 4] {
                continue;
            }
            f(&FlowActivity {
                flow_id: r.flow_id,
                first_ns: r.first_ns,
                ip_version: r.ip_version,
                protocol: r.protocol,
                client_mac: r.client_mac,
                server_mac: r.server_mac,
                client_ip: r.client_ip,
                server_ip: r.server_ip,
                client_port: r.client_port,
                server_port: r.server_port,
                c2s_packets: d[0],
                c2s_bytes: d[1],
                s2c_packets: d[2],
                s2c_bytes: d[3],
                rtt_ns: handshake_rtt(r),
                c2s_retrans_packets: r.tcp_c2s.retrans_packets,
                s2c_retrans_packets: r.tcp_s2c.retrans_packets,
                c2s_out_of_order_packets: r.tcp_c2s.out_of_order_packets,
                s2c_out_of_order_packets: r.tcp_s2c.out_of_order_packets,
            });
        }
        self.dirty.clear();
        self.epoch_seq = self.epoch_seq.wrapping_add(1).max(1);
    }

    /// Flows currently held.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when the table holds no flow.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Most flows the table holds at once.
    pub fn capacity(&self) -> usize {
        self.cfg.capacity
    }

    /// Cumulative counters.
    pub fn counters(&self) -> FlowCounters {
        self.counters
    }

    /// Accounts one parsed packet at time `now_ns` (monotonic per table).
    /// Records of flows that end because of it are passed to `emit`.
    /// Returns the packet's direction in its flow and whether it started it.
    #[inline]
    pub fn process<E: FnMut(&FlowRecord)>(
        &mut self,
        m: &PacketMeta,
        now_ns: u64,
        emit: &mut E,
    ) -> Seen {
        let (mut sp, mut dp) = key_ports(m);
        match m.fragment {
            Fragment::None => {}
            Fragment::First => self.frags.put(m, sp, dp),
            Fragment::Later => {
                self.counters.fragments += 1;
                if let Some((s, d)) = self.frags.get(m) {
                    (sp, dp) = (s, d);
                }
            }
        }
        let (key, src_is_lo) = FlowKey::from_meta(m, sp, dp);
        let hash = key.hash_with(self.seed);
        let (slot, new_flow) = match self.lookup(&key, hash) {
            Some(slot) => {
                let e = &self.entries[slot];
                let new_syn = m.tcp_flags & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN;
                if m.protocol == IpProtocol::TCP && e.tcp.closed && new_syn {
                    // Port reuse: a fresh connection on a closed flow's tuple.
                    let reason = self.close_reason(slot);
                    self.end(slot, reason, emit);
                    let slot = self.create(key, hash, m, sp, dp, src_is_lo, now_ns, emit);
                    (slot, true)
                } else if now_ns.saturating_sub(e.rec.first_ns) >= self.cfg.active_timeout_ns {
                    self.split_active(slot, now_ns, emit);
                    (slot, false)
                } else {
                    (slot, false)
                }
            }
            None => {
                let slot = self.create(key, hash, m, sp, dp, src_is_lo, now_ns, emit);
                (slot, true)
            }
        };
        let c2s = self.update(slot, m, src_is_lo, now_ns);
        Seen {
            c2s,
            new_flow,
            slot: slot as u32,
        }
    }

    /// Ends flows whose timeout has passed. Call often (once per batch);
    /// each call sweeps a share of the table proportional to the time since
    /// the last call, so the whole table is visited about once a second.
    pub fn expire<E: FnMut(&FlowRecord)>(&mut self, now_ns: u64, emit: &mut E) {
        let len = self.entries.len();
        if len == 0 {
            self.last_sweep_ns = now_ns;
            return;
        }
        let elapsed = now_ns.saturating_sub(self.last_sweep_ns);
        let mut budget = if elapsed >= NS {
            len
        } else {
            ((len as u128 * elapsed as u128) / NS as u128) as usize
        };
        if budget == 0 {
            return;
        }
        self.last_sweep_ns = now_ns;
        budget = budget.min(len);
        for _ in 0..budget {
            if self.sweep_cursor >= len {
                self.sweep_cursor = 0;
            }
            let slot = self.sweep_cursor;
            self.sweep_cursor += 1;
            let e = &mut self.entries[slot];
            if e.in_use && e.seg != SegmentTracker::default() {
                e.seg
                    .close_if_idle(now_ns, &self.cfg.segments, &e.rec, &mut self.seg_log);
            }
            let e = &self.entries[slot];
            if e.in_use && e.expires_ns <= now_ns {
                let reason = if e.tcp.closed {
                    self.close_reason(slot)
                } else {
                    EndReason::Idle
                };
                self.end(slot, reason, emit);
            }
        }
    }

    /// Ends every flow (end of capture or shutdown).
    pub fn flush<E: FnMut(&FlowRecord)>(&mut self, emit: &mut E) {
        for slot in 0..self.entries.len() {
            if self.entries[slot].in_use {
                let reason = if self.entries[slot].tcp.closed {
                    self.close_reason(slot)
                } else {
                    EndReason::EndOfCapture
                };
                self.end(slot, reason, emit);
            }
        }
    }

    #[inline]
    fn lookup(&self, key: &FlowKey, hash: u64) -> Option<usize> {
        let h32 = hash as u32;
        let mut i = h32 as usize & self.mask;
        loop {
            let e = self.index[i];
            if e == 0 {
                return None;
            }
            if (e >> 32) as u32 == h32 {
                let slot = (e as u32 - 1) as usize;
                if self.entries[slot].key == *key {
                    return Some(slot);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    fn close_reason(&self, slot: usize) -> EndReason {
        let r = &self.entries[slot].rec;
        if r.tcp_c2s.rst + r.tcp_s2c.rst > 0 {
            EndReason::Rst
        } else {
            EndReason::Fin
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn create<E: FnMut(&FlowRecord)>(
        &mut self,
        key: FlowKey,
        hash: u64,
        m: &PacketMeta,
        sp: u16,
        dp: u16,
        src_is_lo: bool,
        now_ns: u64,
        emit: &mut E,
    ) -> usize {
        if self.live >= self.cfg.capacity {
            let victim = self.pick_victim();
            self.counters.evicted += 1;
            self.end(victim, EndReason::Evicted, emit);
        }
        let slot = match self.free.pop() {
            Some(s) => s as usize,
            None => {
                self.entries.push(Entry::default());
                self.entries.len() - 1
            }
        };
        let src_is_client = initiator_is_src(m, sp, dp);
        let flow_id = (self.cfg.worker as u64) << 48 | (self.next_id & ((1 << 48) - 1));
        self.next_id += 1;
        let mut rec = FlowRecord {
            flow_id,
            first_ns: now_ns,
            last_ns: now_ns,
            worker: self.cfg.worker,
            vlan: m.vlan,
            tunnel: m.tunnel,
            ip_version: m.ip_version,
            protocol: m.protocol,
            ..Default::default()
        };
        if src_is_client {
            (rec.client_mac, rec.server_mac) = (m.src_mac, m.dst_mac);
            (rec.client_ip, rec.server_ip) = (m.src_ip, m.dst_ip);
            (rec.client_port, rec.server_port) = (sp, dp);
        } else {
            (rec.client_mac, rec.server_mac) = (m.dst_mac, m.src_mac);
            (rec.client_ip, rec.server_ip) = (m.dst_ip, m.src_ip);
            (rec.client_port, rec.server_port) = (dp, sp);
        }
        if matches!(m.protocol, IpProtocol::ICMP | IpProtocol::ICMPV6) {
            // The echo id is in the key on both sides; report it once.
            rec.server_port = 0;
        }
        // A slot stays on the dirty list at most once per epoch, whichever
        // flows it holds meanwhile.
        let dirty_epoch = self.entries[slot].dirty_epoch;
        self.entries[slot] = Entry {
            key,
            rec,
            tcp: TcpState::default(),
            expires_ns: 0,
            hash32: hash as u32,
            client_is_lo: src_is_lo == src_is_client,
            in_use: true,
            names: FlowNames::default(),
            dirty_epoch,
            reported: [0; 4],
            seg: SegmentTracker::default(),
        };
        let mut i = hash as u32 as usize & self.mask;
        while self.index[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.index[i] = ((hash as u32 as u64) << 32) | (slot as u64 + 1);
        self.live += 1;
        self.counters.created += 1;
        slot
    }

    /// Updates the flow's record; returns true for a client-to-server packet.
    #[inline]
    fn update(&mut self, slot: usize, m: &PacketMeta, src_is_lo: bool, now_ns: u64) -> bool {
        let cfg = &self.cfg;
        let e = &mut self.entries[slot];
        if e.dirty_epoch != self.epoch_seq {
            e.dirty_epoch = self.epoch_seq;
            self.dirty.push(slot as u32);
        }
        let dir = (src_is_lo != e.client_is_lo) as usize;
        let c = if dir == 0 {
            &mut e.rec.c2s
        } else {
            &mut e.rec.s2c
        };
        c.packets += 1;
        c.bytes += m.wire_len as u64;
        c.payload_bytes += m.payload_len as u64;
        if m.fragment == Fragment::Later {
            e.rec.fragments += 1;
        }
        e.rec.last_ns = now_ns;
        if m.payload_len > 0
            && cfg.segments.enabled
            && segment::may_carry_media(e.rec.protocol, e.rec.server_port)
        {
            e.seg.on_packet(
                dir == 0,
                m.payload_len,
                now_ns,
                &cfg.segments,
                &e.rec,
                &mut self.seg_log,
            );
        }
        let idle = match m.protocol {
            IpProtocol::TCP => {
                // Later fragments, and a first fragment cut inside the TCP
                // header, carry no TCP fields.
                if m.payload_offset > m.l4_offset {
                    e.tcp.update(&mut e.rec, m, dir, now_ns);
                }
                if e.tcp.closed {
                    cfg.tcp_closed_linger_ns
                } else {
                    cfg.tcp_idle_ns
                }
            }
            IpProtocol::UDP => cfg.udp_idle_ns,
            _ => cfg.other_idle_ns,
        };
        e.expires_ns = now_ns.saturating_add(idle);
        dir == 0
    }

    /// Reports the flow so far with reason `active` and restarts its counters.
    fn split_active<E: FnMut(&FlowRecord)>(&mut self, slot: usize, now_ns: u64, emit: &mut E) {
        let e = &mut self.entries[slot];
        e.rec.end_reason = EndReason::Active;
        e.rec.since_report = e.unreported();
        emit(&e.rec);
        self.counters.ended += 1;
        e.reported = [0; 4];
        let r = &mut e.rec;
        r.first_ns = now_ns;
        r.c2s = DirCounters::default();
        r.s2c = DirCounters::default();
        r.fragments = 0;
        for st in [&mut r.tcp_c2s, &mut r.tcp_s2c] {
            // Connection attributes stay; event counts restart.
            *st = TcpDirStats {
                mss: st.mss,
                wscale: st.wscale,
                sack_permitted: st.sack_permitted,
                ..TcpDirStats::default()
            };
        }
    }

    /// Least recently seen of up to 8 live entries after the evict cursor.
    fn pick_victim(&mut self) -> usize {
        let len = self.entries.len();
        let mut best = usize::MAX;
        let mut best_last = u64::MAX;
        let mut seen = 0;
        let mut probes = 0;
        while seen < 8 && probes < len {
            let s = self.evict_cursor % len;
            self.evict_cursor = s + 1;
            probes += 1;
            let e = &self.entries[s];
            if e.in_use {
                seen += 1;
                if e.rec.last_ns < best_last {
                    best_last = e.rec.last_ns;
                    best = s;
                }
            }
        }
        debug_assert!(best != usize::MAX, "table full but no live entry");
        best
    }

    /// Emits the flow's record with `reason` and removes it.
    fn end<E: FnMut(&FlowRecord)>(&mut self, slot: usize, reason: EndReason, emit: &mut E) {
        let e = &mut self.entries[slot];
        e.seg.close(&self.cfg.segments, &e.rec, &mut self.seg_log);
        e.rec.end_reason = reason;
        e.rec.since_report = e.unreported();
        emit(&e.rec);
        e.in_use = false;
        let h32 = e.hash32;
        // Find the index position and delete by backward shift.
        let mut i = h32 as usize & self.mask;
        let tag = ((h32 as u64) << 32) | (slot as u64 + 1);
        while self.index[i] != tag {
            i = (i + 1) & self.mask;
        }
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let v = self.index[j];
            if v == 0 {
                break;
            }
            let home = (v >> 32) as usize & self.mask;
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(i) & self.mask) {
                self.index[i] = v;
                i = j;
            }
        }
        self.index[i] = 0;
        self.free.push(slot as u32);
        self.live -= 1;
        self.counters.ended += 1;
    }
}

/// Whether the packet that creates a flow was sent by its initiator.
/// TCP: a SYN's sender initiates, a SYN/ACK's receiver does. Otherwise (a
/// flow seen mid-way, or connectionless) a packet from a well-known port to
/// an ephemeral one comes from the server, and an ICMP echo reply from the
/// echoed host.
#[inline]
fn initiator_is_src(m: &PacketMeta, sp: u16, dp: u16) -> bool {
    if m.protocol == IpProtocol::TCP {
        let f = m.tcp_flags & (TcpFlags::SYN | TcpFlags::ACK);
        if f == TcpFlags::SYN {
            return true;
        }
        if f == TcpFlags::SYN | TcpFlags::ACK {
            return false;
        }
    }
    match m.protocol {
        IpProtocol::ICMP => m.icmp_type != 0,
        IpProtocol::ICMPV6 => m.icmp_type != 129,
        _ => !(sp < 1024 && dp >= 1024),
    }
}

#[cfg(test)]
mod tests;

/// The handshake RTT at the tap (SYN→SYN/ACK plus SYN/ACK→ACK), ns; 0 when
/// either half is unknown.
pub fn handshake_rtt(r: &FlowRecord) -> u64 {
    if r.rtt_syn_synack_ns == 0 || r.rtt_synack_ack_ns == 0 {
        0
    } else {
        r.rtt_syn_synack_ns.saturating_add(r.rtt_synack_ack_ns)
    }
}
