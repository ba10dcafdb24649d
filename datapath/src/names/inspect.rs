//! Per-flow name inspection on the worker.
//!
//! [`NameInspector::inspect`] runs after the flow table has accounted a
//! packet. It looks at L4 payloads only while a flow's name is unknown:
//! - TCP, client to server: the first payload is a TLS ClientHello (SNI and
//!   ALPN) or an HTTP/1.x request (Host); one spread over several segments
//!   is reassembled, in order, in a buffer from a small fixed pool.
//! - UDP, client to server: QUIC client Initials are decrypted and their
//!   CRYPTO frames reassembled into the ClientHello; Google QUIC's CHLO is
//!   read in the clear.
//! - DNS (port 53) and mDNS (5353) messages, every one of them: the query
//!   name names the flow; each A/AAAA answer becomes an address-to-name event
//!   for the control core's cache (mDNS answers name local devices).
//! - DHCP (ports 67/68): the client's hostname, MAC and address.
//!
//! A flow is done after its name is found or after a few client payload
//! packets without one; from then on a packet costs one branch. What is
//! found goes into the epoch summary's [`NameLog`] as [`NameEvent`]s;
//! nothing here allocates after construction.

use crate::epoch::{AppProto, CaptureCounters, FlowRecord};
use crate::names::dns::{self, NameBuf, Rdata, Section};
use crate::names::quic::{self, CryptoReasm, Scratch};
use crate::names::{dhcp, http, tls};
use crate::parse::{v4_mapped, PacketMeta};
use crate::wire::IpProtocol;

/// What a [`NameEvent`] says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NameKind {
    /// The flow's TLS ClientHello server name; `extra` = ALPN list.
    #[default]
    TlsSni = 0,
    /// The flow's QUIC ClientHello server name; `extra` = ALPN list.
    QuicSni = 1,
    /// The flow's Google QUIC CHLO server name.
    GquicSni = 2,
    /// The flow's HTTP/1.x Host header.
    HttpHost = 3,
    /// The first query name of the flow's DNS messages.
    DnsQuery = 4,
    /// A DNS answer: `ip` resolves to `name` (the record's owner, the end of
    /// any CNAME chain) for `ttl` seconds; `extra` = the name queried.
    DnsAnswer = 5,
    /// An mDNS answer: the device at `ip` (sent from `mac`) is `name`.
    MdnsHost = 6,
    /// A DHCP client (`mac`, address `ip` if known) calls itself `name`.
    DhcpHost = 7,
}

impl NameKind {
    /// True for kinds that name a flow (`flow_id` set).
    pub fn names_flow(self) -> bool {
        matches!(
            self,
            NameKind::TlsSni
                | NameKind::QuicSni
                | NameKind::GquicSni
                | NameKind::HttpHost
                | NameKind::DnsQuery
        )
    }

    /// Stable lower-case name (the `name_source` column of the tables).
    pub fn name(self) -> &'static str {
        match self {
            NameKind::TlsSni => "tls_sni",
            NameKind::QuicSni => "quic_sni",
            NameKind::GquicSni => "gquic_sni",
            NameKind::HttpHost => "http_host",
            NameKind::DnsQuery => "dns_query",
            NameKind::DnsAnswer => "dns",
            NameKind::MdnsHost => "mdns",
            NameKind::DhcpHost => "dhcp",
        }
    }
}

/// A span of [`NameLog::text`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextRef {
    /// Offset of the span's first byte in [`NameLog::text`].
    pub off: u32,
    /// Length of the span in bytes (0 = no text).
    pub len: u32,
}

/// One name found by a worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameEvent {
    /// Packet time (Unix ns).
    pub ts_ns: u64,
    /// What the event says, and so which fields are set.
    pub kind: NameKind,
    /// The flow named (flow kinds), else 0.
    pub flow_id: u64,
    /// The address named (DNS/mDNS answers, DHCP), IPv4-mapped for IPv4.
    pub ip: [u8; 16],
    /// The device's MAC (mDNS sender, DHCP client), else zero.
    pub mac: [u8; 6],
    /// DNS answer TTL in seconds (0 otherwise).
    pub ttl: u32,
    /// The name: server name, Host, query name, device name (see [`NameKind`]).
    pub name: TextRef,
    /// Second text of the kind: the ALPN list (TLS, QUIC) or the name queried
    /// (DNS answers); empty otherwise.
    pub extra: TextRef,
}

/// A fixed-capacity log of name events and their text.
#[derive(Debug)]
pub struct NameLog {
    /// The events, in the order found.
    pub events: Vec<NameEvent>,
    /// The names' bytes, pointed into by the events' [`TextRef`]s.
    pub text: Vec<u8>,
}

impl NameLog {
    /// A log for `events` events and `text` bytes of names.
    pub fn with_capacity(events: usize, text: usize) -> NameLog {
        NameLog {
            events: Vec::with_capacity(events),
            text: Vec::with_capacity(text),
        }
    }

    /// Empties the log, keeping its capacity.
    pub fn clear(&mut self) {
        self.events.clear();
        self.text.clear();
    }

    /// Number of events in the log.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when the log holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The bytes a [`TextRef`] points at.
    pub fn text(&self, r: TextRef) -> &[u8] {
        self.text
            .get(r.off as usize..(r.off as usize).saturating_add(r.len as usize))
            .unwrap_or(&[])
    }

    /// Appends an event whose name is `name` and extra text the pieces of
    /// `extra` joined by `,`. Returns false (nothing written) if the event
    /// or its text does not fit.
    pub fn push<'a, I: IntoIterator<Item = &'a [u8]> + Clone>(
        &mut self,
        mut ev: NameEvent,
        name: &[u8],
        extra: I,
    ) -> bool {
        let extra_len: usize = extra
            .clone()
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.len() + (i > 0) as usize)
            .sum();
        if self.events.len() == self.events.capacity()
            || self.text.capacity() - self.text.len() < name.len() + extra_len
        {
            return false;
        }
        ev.name = TextRef {
            off: self.text.len() as u32,
            len: name.len() as u32,
        };
        self.text.extend_from_slice(name);
        let off = self.text.len() as u32;
        for (i, p) in extra.into_iter().enumerate() {
            if i > 0 {
                self.text.push(b',');
            }
            self.text.extend_from_slice(p);
        }
        ev.extra = TextRef {
            off,
            len: self.text.len() as u32 - off,
        };
        self.events.push(ev);
        true
    }
}

/// Per-flow inspection state, kept in the flow table's entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowNames {
    /// No more inspection for this flow (name found or given up).
    done: bool,
    /// The flow's DNS query name was reported.
    dns_named: bool,
    /// Client payload packets inspected.
    packets: u8,
    /// Reassembly buffer in use: pool index + 1 (0 = none).
    reasm: u16,
    /// TCP: sequence number of the first payload byte (reassembly offset 0).
    base_seq: u32,
}

impl FlowNames {
    /// True once the flow needs no more inspection (cheap check for the
    /// worker's hot path).
    #[inline]
    pub fn done(&self) -> bool {
        self.done
    }
}

/// Client payload packets looked at before giving up on a flow's name.
const MAX_PACKETS: u8 = 8;
/// Reassembly buffers per worker.
const POOL: usize = 64;
/// A reassembly buffer unused for this long may be taken by another flow.
const REASM_STALE_NS: u64 = 2_000_000_000;

struct Slot {
    /// Flow id of the owner (0 = free).
    owner: u64,
    used_ns: u64,
    buf: CryptoReasm,
}

/// The worker's name inspector: scratch space and the reassembly pool.
pub struct NameInspector {
    pool: Box<[Slot]>,
    scratch: Box<Scratch>,
    qname: Box<NameBuf>,
    /// A ClientHello spread over TLS records, joined.
    defrag: Box<[u8; CryptoReasm::CAPACITY]>,
}

impl Default for NameInspector {
    fn default() -> Self {
        NameInspector::new()
    }
}

impl NameInspector {
    /// An inspector with its reassembly pool and scratch space allocated
    /// (nothing is allocated afterwards).
    pub fn new() -> NameInspector {
        NameInspector {
            pool: (0..POOL)
                .map(|_| Slot {
                    owner: 0,
                    used_ns: 0,
                    buf: CryptoReasm::default(),
                })
                .collect(),
            scratch: Box::default(),
            qname: Box::default(),
            defrag: Box::new([0; CryptoReasm::CAPACITY]),
        }
    }

    /// Looks at one packet of the flow `rec` (already counted in it).
    /// `frame` is the captured frame `m` was parsed from.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn inspect(
        &mut self,
        m: &PacketMeta,
        frame: &[u8],
        now_ns: u64,
        c2s: bool,
        rec: &mut FlowRecord,
        st: &mut FlowNames,
        log: &mut NameLog,
        c: &mut CaptureCounters,
    ) {
        if st.done {
            return;
        }
        let start = m.payload_offset as usize;
        let end = (start + m.payload_len as usize).min(frame.len());
        let Some(payload) = frame.get(start..end).filter(|p| !p.is_empty()) else {
            return;
        };
        let mut out = Out { log, c, now_ns };
        match m.protocol {
            IpProtocol::UDP => self.udp(m, payload, c2s, rec, st, &mut out),
            IpProtocol::TCP => {
                if c2s {
                    self.tcp(m, payload, rec, st, &mut out)
                }
            }
            _ => st.done = true,
        }
        if st.done {
            self.release(rec.flow_id, st);
        }
    }

    fn udp(
        &mut self,
        m: &PacketMeta,
        payload: &[u8],
        c2s: bool,
        rec: &mut FlowRecord,
        st: &mut FlowNames,
        out: &mut Out<'_>,
    ) {
        let ports = [m.src_port, m.dst_port];
        if ports.contains(&53) || ports.contains(&5353) {
            // Every message of a DNS flow may carry answers.
            let mdns = ports.contains(&5353);
            self.dns(m, payload, mdns, rec, st, out);
            return;
        }
        if ports.contains(&67) || ports.contains(&68) {
            if let Some(d) = dhcp::parse(payload) {
                rec.app_proto = AppProto::Dhcp;
                if let Some(h) = d.hostname.filter(|h| !h.is_empty()) {
                    let ip = [d.yiaddr, d.requested_ip.unwrap_or([0; 4]), d.ciaddr]
                        .into_iter()
                        .find(|a| *a != [0; 4])
                        .map_or([0; 16], v4_mapped);
                    let ev = NameEvent {
                        kind: NameKind::DhcpHost,
                        ip,
                        mac: d.chaddr,
                        ..out.event()
                    };
                    out.push(ev, h, []);
                }
            }
            return;
        }
        if !c2s {
            return;
        }
        st.packets += 1;
        if st.packets > MAX_PACKETS {
            st.done = true;
            return;
        }
        let first = payload[0];
        if first.is_ascii_uppercase() {
            // HTTP over UDP (SSDP's M-SEARCH and NOTIFY carry a Host).
            if let Ok(host) = http::request_host(payload) {
                rec.app_proto = AppProto::Http;
                if let Some(h) = host.filter(|h| !h.is_empty()) {
                    let ev = NameEvent {
                        kind: NameKind::HttpHost,
                        flow_id: rec.flow_id,
                        ..out.event()
                    };
                    out.push(ev, h, []);
                }
            }
            st.done = true;
        } else if first & 0x80 != 0 {
            self.quic(payload, rec, st, out);
        } else if let Some(sni) = quic::gquic_chlo_sni(payload) {
            rec.app_proto = AppProto::GQuic;
            let ev = NameEvent {
                kind: NameKind::GquicSni,
                flow_id: rec.flow_id,
                ..out.event()
            };
            out.push(ev, sni, []);
            st.done = true;
        } else if rec.app_proto == AppProto::Unknown && st.reasm == 0 {
            // Neither QUIC long header nor gQUIC: not a protocol we name.
            st.done = true;
        }
    }

    fn dns(
        &mut self,
        m: &PacketMeta,
        payload: &[u8],
        mdns: bool,
        rec: &mut FlowRecord,
        st: &mut FlowNames,
        out: &mut Out<'_>,
    ) {
        let flow_id = rec.flow_id;
        let ev0 = out.event();
        let log = &mut *out.log;
        let c = &mut *out.c;
        let res = dns::parse_message(payload, &mut self.qname, |a| {
            let ip = match a.data {
                Rdata::A(v4) => v4_mapped(v4),
                Rdata::Aaaa(v6) => v6,
                Rdata::Cname(_) => return,
            };
            // Plain DNS: answers only (glue records name name servers);
            // mDNS responders put hosts' addresses in any section.
            let (kind, mac) = if mdns {
                (NameKind::MdnsHost, m.src_mac)
            } else if a.section == Section::Answer {
                (NameKind::DnsAnswer, [0; 6])
            } else {
                return;
            };
            let ev = NameEvent {
                kind,
                ip,
                ttl: a.ttl,
                mac,
                ..ev0
            };
            if log.push(ev, a.owner.as_bytes(), [a.qname.as_bytes()]) {
                c.name_events += 1;
            } else {
                c.name_events_dropped += 1;
            }
        });
        match res {
            Ok(_) => {
                rec.app_proto = if mdns { AppProto::Mdns } else { AppProto::Dns };
                let q = self.qname.as_bytes();
                if !st.dns_named && !q.is_empty() && !mdns {
                    st.dns_named = true;
                    let ev = NameEvent {
                        kind: NameKind::DnsQuery,
                        flow_id,
                        ..ev0
                    };
                    out.push(ev, q, []);
                }
            }
            Err(_) => {
                // Not DNS after all (or broken): stop unless it was DNS before.
                if rec.app_proto == AppProto::Unknown {
                    st.packets += 1;
                    if st.packets >= MAX_PACKETS {
                        st.done = true;
                    }
                }
            }
        }
    }

    fn quic(
        &mut self,
        payload: &[u8],
        rec: &mut FlowRecord,
        st: &mut FlowNames,
        out: &mut Out<'_>,
    ) {
        let flow_id = rec.flow_id;
        let now = out.now_ns;
        let pool = &mut self.pool;
        let mut slot = st.reasm;
        let mut no_room = false;
        let res = quic::client_initial_crypto(payload, &mut self.scratch, |off, data| {
            if slot == 0 {
                match take_slot(pool, flow_id, now) {
                    Some(i) => slot = i,
                    None => {
                        no_room = true;
                        return;
                    }
                }
            }
            let s = &mut pool[slot as usize - 1];
            if s.owner == flow_id {
                s.used_ns = now;
                s.buf.add(off, data);
            }
        });
        st.reasm = slot;
        if no_room {
            out.c.name_reasm_full += 1;
            st.done = true;
            return;
        }
        if res.is_err() {
            if rec.app_proto == AppProto::Unknown && st.reasm == 0 {
                st.done = true;
            }
            return;
        }
        rec.app_proto = AppProto::Quic;
        if st.reasm == 0 {
            return;
        }
        let s = &self.pool[st.reasm as usize - 1];
        if s.owner != flow_id {
            // The buffer was taken by another flow: give up.
            st.reasm = 0;
            st.done = true;
            return;
        }
        match tls::client_hello_from_handshake(s.buf.contiguous()) {
            Ok(ch) => {
                report_hello(&ch, NameKind::QuicSni, flow_id, out);
                st.done = true;
            }
            Err(tls::TlsError::Incomplete { .. }) => {}
            Err(_) => st.done = true,
        }
    }

    fn tcp(
        &mut self,
        m: &PacketMeta,
        payload: &[u8],
        rec: &mut FlowRecord,
        st: &mut FlowNames,
        out: &mut Out<'_>,
    ) {
        st.packets += 1;
        if st.packets > MAX_PACKETS {
            st.done = true;
            return;
        }
        let flow_id = rec.flow_id;
        // The bytes to parse: this segment alone, or the reassembly so far.
        let data: &[u8] = if st.reasm == 0 {
            if st.packets > 1 {
                // An earlier segment was not a start we recognise.
                st.done = true;
                return;
            }
            st.base_seq = m.tcp_seq;
            payload
        } else {
            let s = &mut self.pool[st.reasm as usize - 1];
            if s.owner != flow_id {
                st.reasm = 0;
                st.done = true;
                return;
            }
            s.used_ns = out.now_ns;
            let off = m.tcp_seq.wrapping_sub(st.base_seq) as u64;
            if off < 1 << 30 {
                s.buf.add(off, payload);
            }
            s.buf.contiguous()
        };
        let need_more = match data[0] {
            0x16 => match tls::client_hello_from_records(data) {
                Ok(ch) => {
                    rec.app_proto = AppProto::Tls;
                    if ch.split {
                        // The name crosses a record boundary: read it from
                        // the records' contents joined.
                        if let Some(ch) = tls::defragment(data, &mut self.defrag[..])
                            .and_then(|hs| tls::client_hello_from_handshake(hs).ok())
                        {
                            report_hello(&ch, NameKind::TlsSni, flow_id, out);
                        }
                    } else {
                        report_hello(&ch, NameKind::TlsSni, flow_id, out);
                    }
                    st.done = true;
                    false
                }
                Err(tls::TlsError::Incomplete { .. }) => {
                    rec.app_proto = AppProto::Tls;
                    true
                }
                Err(_) => {
                    st.done = true;
                    false
                }
            },
            _ => match http::request_host(data) {
                Ok(host) => {
                    rec.app_proto = AppProto::Http;
                    if let Some(h) = host.filter(|h| !h.is_empty()) {
                        let ev = NameEvent {
                            kind: NameKind::HttpHost,
                            flow_id,
                            ..out.event()
                        };
                        out.push(ev, h, []);
                    }
                    st.done = true;
                    false
                }
                Err(http::HttpError::Incomplete) => {
                    rec.app_proto = AppProto::Http;
                    true
                }
                Err(http::HttpError::NotHttp) => {
                    st.done = true;
                    false
                }
            },
        };
        if need_more && st.reasm == 0 {
            match take_slot(&mut self.pool, flow_id, out.now_ns) {
                Some(i) => {
                    st.reasm = i;
                    self.pool[i as usize - 1].buf.add(0, payload);
                }
                None => {
                    out.c.name_reasm_full += 1;
                    st.done = true;
                }
            }
        }
    }

    /// Frees the flow's reassembly buffer, if it still has one.
    fn release(&mut self, flow_id: u64, st: &mut FlowNames) {
        if st.reasm != 0 {
            let s = &mut self.pool[st.reasm as usize - 1];
            if s.owner == flow_id {
                s.owner = 0;
            }
            st.reasm = 0;
        }
    }
}

/// A free (or stale) reassembly buffer for `flow_id`: pool index + 1.
fn take_slot(pool: &mut [Slot], flow_id: u64, now_ns: u64) -> Option<u16> {
    let i = pool.iter().position(|s| s.owner == 0).or_else(|| {
        pool.iter()
            .enumerate()
            .filter(|(_, s)| now_ns.saturating_sub(s.used_ns) > REASM_STALE_NS)
            .min_by_key(|(_, s)| s.used_ns)
            .map(|(i, _)| i)
    })?;
    let s = &mut pool[i];
    s.owner = flow_id;
    s.used_ns = now_ns;
    s.buf.reset();
    Some(i as u16 + 1)
}

fn report_hello(ch: &tls::ClientHello<'_>, kind: NameKind, flow_id: u64, out: &mut Out<'_>) {
    let Some(sni) = ch.sni.filter(|s| !s.is_empty()) else {
        return;
    };
    let ev = NameEvent {
        kind,
        flow_id,
        ..out.event()
    };
    out.push(ev, sni, tls::alpn_names(ch.alpn.unwrap_or(&[])));
}

/// Where events go, and their counters.
struct Out<'a> {
    log: &'a mut NameLog,
    c: &'a mut CaptureCounters,
    now_ns: u64,
}

impl Out<'_> {
    fn event(&self) -> NameEvent {
        NameEvent {
            ts_ns: self.now_ns,
            ..NameEvent::default()
        }
    }

    fn push<'b, I: IntoIterator<Item = &'b [u8]> + Clone>(
        &mut self,
        ev: NameEvent,
        name: &[u8],
        extra: I,
    ) {
        if self.log.push(ev, name, extra) {
            self.c.name_events += 1;
        } else {
            self.c.name_events_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests;
