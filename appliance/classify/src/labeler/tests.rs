use super::*;
use datapath::epoch::{DirCounters, FlowActivity};
use datapath::names::NameEvent;

const T0: u64 = 1_700_000_000 * NS;

fn v4(a: [u8; 4]) -> [u8; 16] {
    datapath::parse::v4_mapped(a)
}

const PHONE: [u8; 4] = [192, 168, 1, 7];
const PHONE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];
const CDN: [u8; 4] = [198, 51, 100, 9];

fn classifier() -> Classifier {
    Classifier::new(Arc::new(Catalog::builtin()), ClassifyConfig::default(), 1)
}

fn summary(start: u64) -> EpochSummary {
    let mut s = EpochSummary::with_capacity(0, 64);
    s.start_ns = start;
    s.end_ns = start + NS;
    s
}

fn activity(id: u64, up: u64, down: u64) -> FlowActivity {
    FlowActivity {
        flow_id: id,
        first_ns: T0,
        protocol: datapath::wire::IpProtocol::TCP,
        client_mac: PHONE_MAC,
        client_ip: v4(PHONE),
        server_ip: v4(CDN),
        client_port: 50_000,
        server_port: 443,
        c2s_packets: 1,
        c2s_bytes: up,
        s2c_packets: 1,
        s2c_bytes: down,
        ..FlowActivity::default()
    }
}

fn record(id: u64, last: u64, up: u64, down: u64) -> FlowRecord {
    FlowRecord {
        flow_id: id,
        first_ns: T0,
        last_ns: last,
        end_reason: EndReason::Fin,
        protocol: datapath::wire::IpProtocol::TCP,
        client_mac: PHONE_MAC,
        client_ip: v4(PHONE),
        server_ip: v4(CDN),
        client_port: 50_000,
        server_port: 443,
        c2s: DirCounters {
            packets: 2,
            bytes: up,
            payload_bytes: 0,
        },
        s2c: DirCounters {
            packets: 2,
            bytes: down,
            payload_bytes: 0,
        },
        ..FlowRecord::default()
    }
}

fn name(s: &mut EpochSummary, kind: NameKind, flow_id: u64, ip: [u8; 16], n: &str, x: &str) {
    let ev = NameEvent {
        ts_ns: s.start_ns,
        kind,
        flow_id,
        ip,
        mac: PHONE_MAC,
        ttl: 300,
        ..NameEvent::default()
    };
    assert!(s.names.push(ev, n.as_bytes(), [x.as_bytes()]));
}

fn traffic(c: &mut Classifier) -> Vec<TrafficRow> {
    let mut rows = Vec::new();
    c.ready_traffic(true, &mut rows);
    rows
}

#[test]
fn a_flow_named_by_its_sni_gets_the_catalogs_service_and_traffic_adds_up() {
    let mut c = classifier();
    let mut labels = Vec::new();
    // Epoch 1: the SNI and the flow's first activity.
    let mut s = summary(T0);
    name(
        &mut s,
        NameKind::TlsSni,
        1,
        [0; 16],
        "www.netflix.com",
        "h2",
    );
    s.activity.push(activity(1, 100, 1_000));
    c.absorb(0, &s, &mut labels);
    // Epoch 7 (another interval): the flow ends.
    let mut s = summary(T0 + 6 * NS);
    s.flows.push(record(1, T0 + 6 * NS, 150, 5_000));
    c.absorb(0, &s, &mut labels);
    let l = &labels[0];
    assert_eq!(l.server_name.as_deref(), Some("www.netflix.com"));
    assert_eq!(l.name_source, Some(NameSource::Flow(NameKind::TlsSni)));
    assert_eq!(l.alpn.as_deref(), Some("h2"));
    assert_eq!(l.direction, Direction::Outbound);
    let (svc, cat) = c.service_names(l.service);
    assert_eq!((&*svc, &*cat), ("netflix", "video"));
    let rows = traffic(&mut c);
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].bytes_up, rows[0].bytes_down), (100, 1_000));
    assert_eq!((rows[1].bytes_up, rows[1].bytes_down), (50, 4_000));
    assert!(rows
        .iter()
        .all(|r| r.flows == 1 && &*r.service == "netflix"));
    assert_eq!(rows[0].device_mac, Some(PHONE_MAC));
}

#[test]
fn a_flow_without_a_name_takes_its_servers_dns_name_and_devices_their_dhcp_name() {
    let mut c = classifier();
    let mut labels = Vec::new();
    let mut s = summary(T0);
    name(
        &mut s,
        NameKind::DnsAnswer,
        0,
        v4(CDN),
        "edge.example.net",
        "i.ytimg.com",
    );
    name(
        &mut s,
        NameKind::DhcpHost,
        0,
        v4(PHONE),
        "kitchen-tablet",
        "",
    );
    s.flows.push(record(2, T0 + NS / 2, 10, 20));
    c.absorb(0, &s, &mut labels);
    let l = &labels[0];
    assert_eq!(l.server_name.as_deref(), Some("i.ytimg.com"));
    assert_eq!(l.name_source, Some(NameSource::Dns));
    assert_eq!(&*c.service_names(l.service).0, "youtube");
    assert_eq!(&*c.device_name(&l.device, &l.device_ip), "kitchen-tablet");
    let rows = traffic(&mut c);
    assert_eq!(rows.len(), 1);
    assert_eq!(&*rows[0].device_name, "kitchen-tablet");
}

#[test]
fn unmatched_flows_keep_their_name_as_unknown_and_a_clock_jump_loses_no_state() {
    let mut c = classifier();
    let mut labels = Vec::new();
    let mut s = summary(T0);
    name(
        &mut s,
        NameKind::TlsSni,
        3,
        [0; 16],
        "intranet.corp.example",
        "",
    );
    s.activity.push(activity(3, 1, 1));
    c.absorb(0, &s, &mut labels);
    // Thousands of summaries and years later (a merged capture), the
    // flow's record still finds its name.
    for i in 0..5_000u64 {
        c.absorb(0, &summary(T0 + (1 << 60) + i * NS), &mut labels);
    }
    let mut s = summary(T0 + (1 << 60) + 5_000 * NS);
    s.flows.push(record(3, T0 + NS, 2, 2));
    c.absorb(0, &s, &mut labels);
    assert_eq!(
        labels[0].server_name.as_deref(),
        Some("intranet.corp.example")
    );
    assert_eq!(labels[0].service, None);
    assert_eq!(&*c.service_names(None).0, "unknown");
}

/// Media segments become rows labelled like their flow: kept for a video
/// service by default, for every flow with `SegmentRows::All`; a segment
/// of a flow that ended in an earlier summary is labelled from its own
/// endpoints (its server's name learnt from the flow's SNI).
#[test]
fn segments_are_labelled_like_their_flows() {
    use datapath::flow::segment::SegmentRecord;
    let seg = |id: u64, at: u64| SegmentRecord {
        flow_id: id,
        ip_version: 4,
        protocol: datapath::wire::IpProtocol::TCP,
        client_mac: PHONE_MAC,
        client_ip: v4(PHONE),
        server_ip: v4(CDN),
        client_port: 50_000,
        server_port: 443,
        request_ns: at,
        first_ns: at + 1,
        last_ns: at + 2,
        bytes: 100_000,
        packets: 70,
        request_bytes: 90,
    };
    for (policy, sni, want) in [
        (SegmentRows::Video, "www.netflix.com", 2),
        (SegmentRows::Video, "www.example.org", 0),
        (SegmentRows::All, "www.example.org", 2),
        (SegmentRows::Off, "www.netflix.com", 0),
    ] {
        let cfg = ClassifyConfig {
            segments: policy,
            ..ClassifyConfig::default()
        };
        let mut c = Classifier::new(Arc::new(Catalog::builtin()), cfg, 1);
        let mut labels = Vec::new();
        let mut s = summary(T0);
        name(&mut s, NameKind::TlsSni, 1, [0; 16], sni, "h2");
        s.activity.push(activity(1, 100, 1_000));
        s.segments.reserve(4);
        s.segments.push(seg(1, T0 + 10));
        c.absorb(0, &s, &mut labels);
        // The flow ends; its last segment comes in the next summary.
        let mut s = summary(T0 + NS);
        s.flows.push(record(1, T0 + NS, 150, 5_000));
        c.absorb(0, &s, &mut labels);
        let mut s = summary(T0 + 2 * NS);
        s.segments.reserve(4);
        s.segments.push(seg(1, T0 + NS + 10));
        c.absorb(0, &s, &mut labels);
        let mut rows = Vec::new();
        c.take_segments(&mut rows);
        assert_eq!(rows.len(), want, "{policy:?} {sni}");
        for r in &rows {
            assert_eq!(r.labels.server_name.as_deref(), Some(sni));
            assert_eq!(r.labels.device_ip, Some(v4(PHONE)));
            assert_eq!((r.client_port, r.server_port), (50_000, 443));
            if sni.contains("netflix") {
                assert_eq!(r.labels.category.as_deref(), Some("video"));
            }
        }
    }
}
