//! The control core's classifier: gives every flow a server name, a service
//! and a device, and sums per-interval traffic per device and service.
//!
//! It consumes what the workers hand over, in order, per summary:
//! 1. name events: flow names (TLS/QUIC SNI, HTTP Host, DNS query), DNS
//!    answers into the address-to-name cache, DHCP and mDNS device names;
//! 2. activity records: each open flow's packets and bytes in the epoch,
//!    added to the `traffic` interval holding the epoch;
//! 3. finished flow records: labelled for the `flows` table; what their
//!    activity records did not yet cover is added to the interval of their
//!    last packet.
//!
//! So, per interval, `traffic` counts exactly the packets whose time falls
//! in it, and over a run it sums to the `flows` totals.
//!
//! A flow's service is found, first match wins: its own name (SNI, Host,
//! or a DNS flow's query name) in the catalog; the names its server address resolved to in DNS (the
//! query name, then the end of the CNAME chain); a name another flow to
//! the same server announced; the catalog's address prefixes; the
//! catalog's port rules. Unmatched flows keep their name with the service
//! `unknown`. A flow is labelled when first seen and relabelled if a better
//! name arrives later (traffic already summed keeps the earlier label).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datapath::epoch::{AppProto, EndReason, EpochSummary, FlowActivity, FlowRecord};
use datapath::names::{NameEvent, NameKind};

mod views;

pub use views::{flow_matches, OpenFlow};

use super::catalog::{Catalog, ServiceId};
use super::devices::{DeviceKey, Devices, LocalNets};
use model::rows::{FlowLabels, SegmentRow, TrafficRow};

const NS: u64 = 1_000_000_000;
/// DNS answers stay usable this long past their TTL: clients keep using an
/// address after its record expires.
const DNS_GRACE_NS: u64 = 600 * NS;
/// Names learnt from another flow's SNI or Host stay this long.
const SNI_IP_NS: u64 = 3600 * NS;
/// Address-to-name entries kept at most.
const MAX_IP_NAMES: usize = 262_144;
/// A flow not heard of for this many summaries per worker is forgotten (its
/// record was lost). Counted in summaries, not packet time: a capture's
/// clock may jump while flows of the old time are still open.
const FLOW_STALE_SUMMARIES: u64 = 2_400;

/// Where a flow's `server_name` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameSource {
    /// The flow's own TLS/QUIC SNI or HTTP Host (or DNS query name).
    Flow(NameKind),
    /// A DNS answer for the server's address.
    Dns,
    /// Another flow's SNI or Host for the same server address.
    OtherFlow,
}

impl NameSource {
    /// The `flows` table's `name_source` text.
    pub fn name(self) -> &'static str {
        match self {
            NameSource::Flow(k) => k.name(),
            NameSource::Dns => "dns",
            NameSource::OtherFlow => "server_ip",
        }
    }
}

/// How the service was matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    /// By the server name.
    Name,
    /// By the server address's prefix.
    Prefix,
    /// By the port.
    Port,
    /// Not matched.
    None,
}

impl MatchedBy {
    /// The `flows` table's `service_match` text (none when not matched).
    pub fn name(self) -> Option<&'static str> {
        match self {
            MatchedBy::Name => Some("name"),
            MatchedBy::Prefix => Some("ip_prefix"),
            MatchedBy::Port => Some("port"),
            MatchedBy::None => None,
        }
    }
}

/// Where a flow stands relative to the local subnets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A local client to a remote server.
    Outbound,
    /// A remote client to a local server.
    Inbound,
    /// Both ends local.
    Local,
    /// Neither end local.
    External,
}

impl Direction {
    /// The `flows` table's `direction` text.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Local => "local",
            Direction::External => "external",
        }
    }
}

/// What the classifier says about one flow.
#[derive(Clone, Debug)]
pub struct FlowLabel {
    /// The server's name, if known.
    pub server_name: Option<Arc<str>>,
    /// Where the server name comes from.
    pub name_source: Option<NameSource>,
    /// ALPN protocols offered by the client, comma-separated.
    pub alpn: Option<Arc<str>>,
    /// The catalog's service, if matched.
    pub service: Option<ServiceId>,
    /// How the service was matched.
    pub matched_by: MatchedBy,
    /// Where the flow stands relative to the local subnets.
    pub direction: Direction,
    /// The flow's local device.
    pub device: DeviceKey,
    /// The device's address in this flow.
    pub device_ip: [u8; 16],
    /// The device is the flow's client (else its server).
    pub device_is_client: bool,
}

/// Which detected media segments become `video_segments` rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SegmentRows {
    /// None.
    Off,
    /// Those of flows whose service's category is `video`.
    #[default]
    Video,
    /// Every flow's (web ports only: see the worker's segment detection).
    All,
}

/// Classifier settings.
#[derive(Clone, Debug)]
pub struct ClassifyConfig {
    /// The local subnets.
    pub local: LocalNets,
    /// Length of a `traffic` interval (ns).
    pub interval_ns: u64,
    /// Which segments are kept as rows.
    pub segments: SegmentRows,
    /// Keep the activity of video-category flows for video sessions
    /// ([`Classifier::take_video_activity`]).
    pub video_sessions: bool,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            local: LocalNets::default(),
            interval_ns: 5 * NS,
            segments: SegmentRows::default(),
            video_sessions: false,
        }
    }
}

struct IpName {
    name: Arc<str>,
    /// The end of the CNAME chain (DNS only).
    owner: Option<Arc<str>>,
    from_dns: bool,
    expires_ns: u64,
}

struct FlowState {
    label: FlowLabel,
    /// Packets and bytes already summed into traffic (c2s p, c2s b, s2c p, s2c b).
    reported: [u64; 4],
    /// Last time heard of (0 = named, endpoints not known yet).
    last_ns: u64,
    /// [`Classifier::seq`] when last heard of.
    touched: u64,
    server_ip: [u8; 16],
    client_ip: [u8; 16],
    first_ns: u64,
    protocol: u8,
    server_port: u16,
    client_port: u16,
    /// The traffic cell this flow was last counted in (its `flows` count
    /// goes up once per interval).
    counted: Option<(u64, CellKey)>,
}

#[derive(Default)]
struct Cell {
    bytes_down: u64,
    bytes_up: u64,
    packets_down: u64,
    packets_up: u64,
    flows: u64,
    device_ip: [u8; 16],
}

type CellKey = (DeviceKey, Option<ServiceId>);

/// Totals for the status line and reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassifyTotals {
    /// Flows that got a server name.
    pub flows_named: u64,
    /// Flows that got a service.
    pub flows_with_service: u64,
    /// Name events absorbed.
    pub name_events: u64,
    /// DNS answers absorbed.
    pub dns_answers: u64,
    /// `traffic` rows written.
    pub traffic_rows: u64,
}

/// The classifier.
pub struct Classifier {
    catalog: Arc<Catalog>,
    cfg: ClassifyConfig,
    ip_names: HashMap<[u8; 16], IpName>,
    flows: HashMap<u64, FlowState>,
    devices: Devices,
    /// Open intervals: start → cells.
    intervals: BTreeMap<u64, HashMap<CellKey, Cell>>,
    /// Latest epoch end handed over by each worker.
    progress: Vec<u64>,
    finished: Vec<bool>,
    totals: ClassifyTotals,
    /// Summaries absorbed (the flow states' clock).
    seq: u64,
    unknown: Arc<str>,
    /// Service names and categories as shared strings, by id.
    names: HashMap<ServiceId, (Arc<str>, Arc<str>)>,
    /// Bytes since the start, per service and per device (for status views).
    service_bytes: HashMap<Option<ServiceId>, u64>,
    device_bytes: HashMap<DeviceKey, ([u8; 16], u64)>,
    /// Labelled segments waiting for [`Classifier::take_segments`].
    segment_rows: Vec<SegmentRow>,
    /// Activity of video flows waiting for
    /// [`Classifier::take_video_activity`].
    video_activity: Vec<(FlowLabel, FlowActivity)>,
}

impl Classifier {
    /// A classifier with this catalog and settings, for `workers` workers.
    pub fn new(catalog: Arc<Catalog>, cfg: ClassifyConfig, workers: usize) -> Classifier {
        Classifier {
            catalog,
            cfg,
            ip_names: HashMap::new(),
            flows: HashMap::new(),
            devices: Devices::default(),
            intervals: BTreeMap::new(),
            progress: vec![0; workers.max(1)],
            finished: vec![false; workers.max(1)],
            totals: ClassifyTotals::default(),
            seq: 0,
            unknown: Arc::from("unknown"),
            names: HashMap::new(),
            service_bytes: HashMap::new(),
            device_bytes: HashMap::new(),
            segment_rows: Vec::new(),
            video_activity: Vec::new(),
        }
    }

    /// Moves the activity records of video-category flows absorbed so far
    /// (with their labels) into `out` (with `video_sessions` only).
    pub fn take_video_activity(&mut self, out: &mut Vec<(FlowLabel, FlowActivity)>) {
        out.append(&mut self.video_activity);
    }

    /// True when the service's category is `video`.
    pub fn is_video(&self, svc: Option<ServiceId>) -> bool {
        svc.is_some_and(|id| self.catalog.service(id).category == super::catalog::Category::Video)
    }

    /// Moves the `video_segments` rows labelled so far into `out`.
    pub fn take_segments(&mut self, out: &mut Vec<SegmentRow>) {
        out.append(&mut self.segment_rows);
    }

    /// Labels the summary's media segments (before its finished flows are
    /// labelled, so those still have their state): with the flow's label
    /// when the flow is known, else from the record's endpoints.
    fn label_segments(&mut self, s: &EpochSummary) {
        if self.cfg.segments == SegmentRows::Off {
            return;
        }
        for seg in &s.segments {
            let label = match self.flows.get(&seg.flow_id).filter(|st| st.last_ns != 0) {
                Some(st) => st.label.clone(),
                None => {
                    let e = Endpoints {
                        first_ns: seg.request_ns,
                        protocol: seg.protocol.0,
                        client_mac: seg.client_mac,
                        server_mac: [0; 6],
                        client_ip: seg.client_ip,
                        server_ip: seg.server_ip,
                        server_port: seg.server_port,
                        client_port: seg.client_port,
                        app: AppProto::Unknown,
                    };
                    let mut label = self.new_label(&e);
                    resolve_service(
                        &self.catalog,
                        &self.ip_names,
                        &mut label,
                        e.server_ip,
                        e.protocol,
                        [e.server_port, e.client_port],
                        e.app,
                        seg.request_ns,
                    );
                    label
                }
            };
            let labels = self.flow_labels(&label);
            if self.cfg.segments == SegmentRows::Video
                && labels.category.as_deref() != Some("video")
            {
                continue;
            }
            self.segment_rows.push(SegmentRow {
                seg: *seg,
                ip_version: seg.ip_version,
                protocol: seg.protocol.0,
                client_ip: seg.client_ip,
                server_ip: seg.server_ip,
                client_port: seg.client_port,
                server_port: seg.server_port,
                labels,
            });
        }
    }

    /// The catalog in use.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Takes a new catalog and local subnets (a configuration reload).
    /// Flows labelled from now on use them; labels already given stay.
    /// The traffic interval cannot change while running.
    pub fn reconfigure(&mut self, catalog: Arc<Catalog>, local: LocalNets) {
        self.catalog = catalog;
        self.cfg.local = local;
        self.names.clear();
    }

    /// The length of a traffic interval (ns).
    pub fn interval_ns(&self) -> u64 {
        self.cfg.interval_ns
    }

    /// The device table.
    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// Totals since the start.
    pub fn totals(&self) -> &ClassifyTotals {
        &self.totals
    }

    /// Takes one summary of worker `w`; labels its flow records into
    /// `labels` (one per record, same order).
    pub fn absorb(&mut self, w: usize, s: &EpochSummary, labels: &mut Vec<FlowLabel>) {
        for ev in &s.names.events {
            self.name_event(ev, s);
        }
        let interval = self.interval_of(s.start_ns);
        let seq = self.seq;
        for a in &s.activity {
            let st = self.state(a.flow_id, || Endpoints {
                first_ns: a.first_ns,
                protocol: a.protocol.0,
                client_mac: a.client_mac,
                server_mac: a.server_mac,
                client_ip: a.client_ip,
                server_ip: a.server_ip,
                server_port: a.server_port,
                client_port: a.client_port,
                app: AppProto::Unknown,
            });
            st.last_ns = s.end_ns;
            st.touched = seq;
            let d = [a.c2s_packets, a.c2s_bytes, a.s2c_packets, a.s2c_bytes];
            for (r, x) in st.reported.iter_mut().zip(d) {
                *r += x;
            }
            let cell = (interval, (st.label.device, st.label.service));
            let new_in_cell = st.counted != Some(cell);
            st.counted = Some(cell);
            let label = st.label.clone();
            self.add_traffic(interval, &label, d, new_in_cell);
            if self.cfg.video_sessions && self.is_video(label.service) {
                self.video_activity.push((label, *a));
            }
        }
        self.label_segments(s);
        labels.clear();
        for r in &s.flows {
            let label = self.finish_flow(r);
            labels.push(label);
        }
        if !s.partial {
            self.progress[w] = self.progress[w].max(s.end_ns);
        }
        if s.last {
            self.finished[w] = true;
        }
        self.seq += 1;
        if self.seq.is_multiple_of(4096) {
            self.gc(s.end_ns);
        }
    }

    /// Traffic rows of every interval all workers have moved past (or all,
    /// with `all`), oldest first.
    pub fn ready_traffic(&mut self, all: bool, out: &mut Vec<TrafficRow>) {
        let watermark = self
            .progress
            .iter()
            .zip(&self.finished)
            .filter(|(_, &f)| !f)
            .map(|(&p, _)| p)
            .min()
            .unwrap_or(u64::MAX);
        while let Some((&start, _)) = self.intervals.first_key_value() {
            let end = start.saturating_add(self.cfg.interval_ns);
            if !all && end > watermark {
                break;
            }
            let cells = self.intervals.remove(&start).unwrap_or_default();
            let mut rows: Vec<TrafficRow> = cells
                .into_iter()
                .map(|((dev, svc), c)| {
                    let (service, category) = self.service_names(svc);
                    let device_name = self
                        .devices
                        .get(&dev)
                        .map(|d| d.name.clone())
                        .unwrap_or_else(|| super::devices::unknown_name(&c.device_ip));
                    TrafficRow {
                        start_ns: start,
                        end_ns: end,
                        device_mac: dev.mac(),
                        device_ip: c.device_ip,
                        device_name,
                        service,
                        category,
                        bytes_down: c.bytes_down,
                        bytes_up: c.bytes_up,
                        packets_down: c.packets_down,
                        packets_up: c.packets_up,
                        flows: c.flows,
                    }
                })
                .collect();
            rows.sort_by(|a, b| {
                (b.bytes_down + b.bytes_up)
                    .cmp(&(a.bytes_down + a.bytes_up))
                    .then_with(|| a.device_ip.cmp(&b.device_ip))
                    .then_with(|| a.service.cmp(&b.service))
            });
            self.totals.traffic_rows += rows.len() as u64;
            out.extend(rows);
        }
    }

    /// The service's name and category (`unknown` for none).
    pub fn service_names(&mut self, svc: Option<ServiceId>) -> (Arc<str>, Arc<str>) {
        let Some(id) = svc else {
            return (self.unknown.clone(), self.unknown.clone());
        };
        let cat = &self.catalog;
        self.names
            .entry(id)
            .or_insert_with(|| {
                let s = cat.service(id);
                (Arc::from(s.name.as_str()), Arc::from(s.category.as_str()))
            })
            .clone()
    }

    /// The `flows` table's columns for a flow labelled `label`.
    pub fn flow_labels(&mut self, label: &FlowLabel) -> FlowLabels {
        let (service, category) = match label.service {
            Some(id) => {
                let (s, c) = self.service_names(Some(id));
                (Some(s), Some(c))
            }
            None => (None, None),
        };
        FlowLabels {
            server_name: label.server_name.clone(),
            name_source: label.name_source.map(NameSource::name),
            alpn: label.alpn.clone(),
            service,
            category,
            service_match: label.matched_by.name(),
            direction: Some(label.direction.name()),
            device_mac: label.device.mac(),
            device_ip: Some(label.device_ip),
            device_name: Some(self.device_name(&label.device, &label.device_ip)),
        }
    }

    /// The name of a device (for the flows table).
    pub fn device_name(&self, key: &DeviceKey, ip: &[u8; 16]) -> Arc<str> {
        self.devices
            .get(key)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| super::devices::unknown_name(ip))
    }

    fn interval_of(&self, ts_ns: u64) -> u64 {
        let i = self.cfg.interval_ns.max(1);
        ts_ns - ts_ns % i
    }

    fn name_event(&mut self, ev: &NameEvent, s: &EpochSummary) {
        self.totals.name_events += 1;
        let name = String::from_utf8_lossy(s.names.text(ev.name));
        let extra = String::from_utf8_lossy(s.names.text(ev.extra));
        match ev.kind {
            NameKind::DnsAnswer => {
                self.totals.dns_answers += 1;
                let query: Arc<str> = Arc::from(if extra.is_empty() { &*name } else { &*extra });
                let owner = (*name != *query).then(|| Arc::<str>::from(&*name));
                let expires_ns = ev.ts_ns + ev.ttl as u64 * NS + DNS_GRACE_NS;
                self.put_ip_name(
                    ev.ip,
                    IpName {
                        name: query,
                        owner,
                        from_dns: true,
                        expires_ns,
                    },
                );
            }
            NameKind::MdnsHost => self.devices.mdns(ev.mac, ev.ip, &name),
            NameKind::DhcpHost => {
                let ip = (ev.ip != [0; 16]).then_some(ev.ip);
                self.devices.dhcp(ev.mac, ip, &name);
            }
            kind => {
                let alpn = (!extra.is_empty()).then(|| Arc::<str>::from(&*extra));
                let Classifier {
                    catalog,
                    ip_names,
                    flows,
                    ..
                } = self;
                let Some(st) = flows.get_mut(&ev.flow_id).filter(|st| st.last_ns != 0) else {
                    // Named before any activity: kept until its endpoints come.
                    self.pending_name(ev.flow_id, kind, &name, alpn);
                    return;
                };
                let mut label = st.label.clone();
                label.server_name = Some(Arc::from(&*name));
                label.name_source = Some(NameSource::Flow(kind));
                if alpn.is_some() {
                    label.alpn = alpn;
                }
                label.service = None;
                label.matched_by = MatchedBy::None;
                resolve_service(
                    catalog,
                    ip_names,
                    &mut label,
                    st.server_ip,
                    st.protocol,
                    [st.server_port, st.client_port],
                    AppProto::Unknown,
                    ev.ts_ns,
                );
                if label.service.is_none() {
                    // Keep what the address said if the name says nothing.
                    label.service = st.label.service;
                    label.matched_by = st.label.matched_by;
                }
                st.label = label;
                let server_ip = st.server_ip;
                if kind != NameKind::DnsQuery {
                    self.learn_server_name(server_ip, &name, ev.ts_ns);
                }
            }
        }
    }

    /// A flow named before its first activity record: create its state
    /// now, endpoints to come with its activity or record.
    fn pending_name(&mut self, flow_id: u64, kind: NameKind, name: &str, alpn: Option<Arc<str>>) {
        let seq = self.seq;
        let st = self.flows.entry(flow_id).or_insert_with(|| FlowState {
            label: FlowLabel {
                server_name: None,
                name_source: None,
                alpn: None,
                service: None,
                matched_by: MatchedBy::None,
                direction: Direction::External,
                device: DeviceKey::Ip([0; 16]),
                device_ip: [0; 16],
                device_is_client: true,
            },
            reported: [0; 4],
            last_ns: 0,
            touched: 0,
            server_ip: [0; 16],
            client_ip: [0; 16],
            first_ns: 0,
            protocol: 0,
            server_port: 0,
            client_port: 0,
            counted: None,
        });
        st.label.server_name = Some(Arc::from(name));
        st.label.name_source = Some(NameSource::Flow(kind));
        if alpn.is_some() {
            st.label.alpn = alpn;
        }
        // Marks the state as waiting for its endpoints.
        st.last_ns = 0;
        st.touched = seq;
    }

    fn put_ip_name(&mut self, ip: [u8; 16], n: IpName) {
        if self.ip_names.len() >= MAX_IP_NAMES && !self.ip_names.contains_key(&ip) {
            let now = n.expires_ns.saturating_sub(DNS_GRACE_NS);
            self.ip_names.retain(|_, v| v.expires_ns > now);
            if self.ip_names.len() >= MAX_IP_NAMES {
                return;
            }
        }
        match self.ip_names.get(&ip) {
            // A DNS answer is not replaced by a name seen in another flow.
            Some(old)
                if old.from_dns && !n.from_dns && old.expires_ns > n.expires_ns - SNI_IP_NS => {}
            _ => {
                self.ip_names.insert(ip, n);
            }
        }
    }

    fn learn_server_name(&mut self, ip: [u8; 16], name: &str, ts_ns: u64) {
        if ip == [0; 16] || name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
            return;
        }
        self.put_ip_name(
            ip,
            IpName {
                name: Arc::from(name),
                owner: None,
                from_dns: false,
                expires_ns: ts_ns + SNI_IP_NS,
            },
        );
    }

    /// The flow's state, created (and labelled) from `ends` if new.
    fn state(&mut self, flow_id: u64, ends: impl FnOnce() -> Endpoints) -> &mut FlowState {
        let needs_init = self.flows.get(&flow_id).is_none_or(|s| s.last_ns == 0);
        if needs_init {
            let e = ends();
            let pending = self.flows.remove(&flow_id);
            let mut label = self.new_label(&e);
            if let Some(p) = pending {
                label.server_name = p.label.server_name;
                label.name_source = p.label.name_source;
                label.alpn = p.label.alpn;
            }
            resolve_service(
                &self.catalog,
                &self.ip_names,
                &mut label,
                e.server_ip,
                e.protocol,
                [e.server_port, e.client_port],
                e.app,
                e.first_ns,
            );
            if label.name_source.is_some() {
                if let (Some(n), Some(NameSource::Flow(k))) =
                    (&label.server_name, label.name_source)
                {
                    if k != NameKind::DnsQuery {
                        let n = n.clone();
                        self.learn_server_name(e.server_ip, &n, e.first_ns);
                    }
                }
            }
            self.flows.insert(
                flow_id,
                FlowState {
                    label,
                    reported: [0; 4],
                    last_ns: e.first_ns.max(1),
                    touched: self.seq,
                    server_ip: e.server_ip,
                    client_ip: e.client_ip,
                    first_ns: e.first_ns,
                    protocol: e.protocol,
                    server_port: e.server_port,
                    client_port: e.client_port,
                    counted: None,
                },
            );
        }
        self.flows.get_mut(&flow_id).expect("inserted")
    }

    fn new_label(&mut self, e: &Endpoints) -> FlowLabel {
        let cl = self.cfg.local.contains(&e.client_ip);
        let sl = self.cfg.local.contains(&e.server_ip);
        let direction = match (cl, sl) {
            (true, true) => Direction::Local,
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (false, false) => Direction::External,
        };
        let device_is_client = cl || !sl;
        let (mac, ip) = if device_is_client {
            (e.client_mac, e.client_ip)
        } else {
            (e.server_mac, e.server_ip)
        };
        let device = self.devices.see(mac, ip, e.first_ns).key;
        let mut label = FlowLabel {
            server_name: None,
            name_source: None,
            alpn: None,
            service: None,
            matched_by: MatchedBy::None,
            direction,
            device,
            device_ip: ip,
            device_is_client,
        };
        if let Some(n) = self.ip_names.get(&e.server_ip) {
            if n.expires_ns > e.first_ns {
                label.server_name = Some(n.name.clone());
                label.name_source = Some(if n.from_dns {
                    NameSource::Dns
                } else {
                    NameSource::OtherFlow
                });
            }
        }
        label
    }

    fn finish_flow(&mut self, r: &FlowRecord) -> FlowLabel {
        let st = self.state(r.flow_id, || Endpoints::of(r));
        let total = [r.c2s.packets, r.c2s.bytes, r.s2c.packets, r.s2c.bytes];
        let rest: [u64; 4] = std::array::from_fn(|i| total[i].saturating_sub(st.reported[i]));
        let mut label = st.label.clone();
        if label.service.is_none() && r.app_proto != AppProto::Unknown {
            // The application protocol is known only now: port rules may
            // depend on it.
            resolve_service(
                &self.catalog,
                &self.ip_names,
                &mut label,
                r.server_ip,
                r.protocol.0,
                [r.server_port, r.client_port],
                r.app_proto,
                r.last_ns,
            );
        }
        let interval = self.interval_of(r.last_ns);
        let st = self.flows.get_mut(&r.flow_id).expect("created above");
        let cell = (interval, (label.device, label.service));
        let new_in_cell = st.counted != Some(cell);
        st.counted = Some(cell);
        if r.end_reason == EndReason::Active {
            // The flow continues: its counters restart with the next record.
            st.reported = [0; 4];
            st.last_ns = r.last_ns.max(1);
        } else {
            self.flows.remove(&r.flow_id);
        }
        if rest != [0; 4] {
            self.add_traffic(interval, &label, rest, new_in_cell);
        }
        if label.server_name.is_some() {
            self.totals.flows_named += 1;
        }
        if label.service.is_some() {
            self.totals.flows_with_service += 1;
        }
        self.devices.see(
            label.device.mac().unwrap_or([0; 6]),
            label.device_ip,
            r.last_ns,
        );
        label
    }

    fn add_traffic(&mut self, interval: u64, label: &FlowLabel, d: [u64; 4], new_flow: bool) {
        let bytes = d[1] + d[3];
        *self.service_bytes.entry(label.service).or_default() += bytes;
        self.device_bytes
            .entry(label.device)
            .or_insert((label.device_ip, 0))
            .1 += bytes;
        let cell = self
            .intervals
            .entry(interval)
            .or_default()
            .entry((label.device, label.service))
            .or_default();
        if cell.flows == 0 {
            cell.device_ip = label.device_ip;
        }
        cell.flows += new_flow as u64;
        // d = c2s packets, c2s bytes, s2c packets, s2c bytes.
        if label.device_is_client {
            cell.packets_up += d[0];
            cell.bytes_up += d[1];
            cell.packets_down += d[2];
            cell.bytes_down += d[3];
        } else {
            cell.packets_down += d[0];
            cell.bytes_down += d[1];
            cell.packets_up += d[2];
            cell.bytes_up += d[3];
        }
    }

    fn gc(&mut self, now_ns: u64) {
        let horizon = FLOW_STALE_SUMMARIES * self.progress.len() as u64 + 4096;
        let seq = self.seq;
        self.flows.retain(|_, s| s.touched + horizon > seq);
        if self.ip_names.len() > MAX_IP_NAMES / 2 {
            self.ip_names.retain(|_, v| v.expires_ns > now_ns);
        }
    }
}

/// What the classifier needs of a flow's endpoints.
struct Endpoints {
    first_ns: u64,
    protocol: u8,
    client_mac: [u8; 6],
    server_mac: [u8; 6],
    client_ip: [u8; 16],
    server_ip: [u8; 16],
    server_port: u16,
    client_port: u16,
    app: AppProto,
}

impl Endpoints {
    fn of(r: &FlowRecord) -> Endpoints {
        Endpoints {
            first_ns: r.first_ns,
            protocol: r.protocol.0,
            client_mac: r.client_mac,
            server_mac: r.server_mac,
            client_ip: r.client_ip,
            server_ip: r.server_ip,
            server_port: r.server_port,
            client_port: r.client_port,
            app: r.app_proto,
        }
    }
}

/// Finds the label's service, first match wins (see the module docs).
#[allow(clippy::too_many_arguments)]
fn resolve_service(
    catalog: &Catalog,
    ip_names: &HashMap<[u8; 16], IpName>,
    label: &mut FlowLabel,
    server_ip: [u8; 16],
    protocol: u8,
    ports: [u16; 2],
    app: AppProto,
    ts_ns: u64,
) {
    // A DNS flow's own name is its query: lookups count for the service
    // looked up.
    let own_name = matches!(label.name_source, Some(NameSource::Flow(_)));
    if own_name {
        if let Some(id) = label
            .server_name
            .as_deref()
            .and_then(|n| catalog.match_name(n))
        {
            label.service = Some(id);
            label.matched_by = MatchedBy::Name;
            return;
        }
    }
    let is_dns = matches!(
        label.name_source,
        Some(NameSource::Flow(NameKind::DnsQuery))
    ) || matches!(app, AppProto::Dns | AppProto::Mdns | AppProto::Dhcp);
    if !is_dns {
        if let Some(n) = ip_names.get(&server_ip).filter(|n| n.expires_ns > ts_ns) {
            let by_name = catalog
                .match_name(&n.name)
                .or_else(|| n.owner.as_deref().and_then(|o| catalog.match_name(o)));
            if let Some(id) = by_name {
                label.service = Some(id);
                label.matched_by = MatchedBy::Name;
                return;
            }
        }
    }
    if let Some(id) = catalog.match_ip(&server_ip) {
        label.service = Some(id);
        label.matched_by = MatchedBy::Prefix;
        return;
    }
    // The server's port, else the client's: a flow first seen mid-way may
    // have its ends the wrong way round.
    if let Some(id) = ports
        .iter()
        .filter(|&&p| p != 0)
        .find_map(|&p| catalog.match_port(protocol, p))
    {
        label.service = Some(id);
        label.matched_by = MatchedBy::Port;
    }
}

#[cfg(test)]
mod tests;
