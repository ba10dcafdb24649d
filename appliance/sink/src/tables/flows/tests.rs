//! Tests of the `flows` table's columns.

use super::*;
use crate::table::{batch, TableInfo};
use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use arrow::record_batch::RecordBatch;
use datapath::epoch::{DirCounters, EndReason};
use datapath::parse::Tunnel;

fn v4(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

fn batch_of(rows: &[&FlowRow], tap_id: &str) -> RecordBatch {
    batch::<Flows>(&TableInfo::of::<Flows>().schema(), tap_id, rows).unwrap()
}

#[test]
fn flows_batch_values_and_nulls() {
    let tcp = FlowRecord {
        first_ns: 1_700_000_000_123_456_789,
        last_ns: 1_700_000_001_623_456_789,
        end_reason: EndReason::Rst,
        worker: 3,
        vlan: 0,
        tunnel: Tunnel::Gre,
        ip_version: 4,
        protocol: IpProtocol::TCP,
        client_mac: [0xaa, 0xbb, 0xcc, 0x00, 0x01, 0x02],
        server_mac: [0; 6],
        client_ip: v4([192, 168, 1, 10]),
        server_ip: v4([8, 8, 8, 8]),
        client_port: 51000,
        server_port: 443,
        c2s: DirCounters {
            packets: 10,
            bytes: 1000,
            payload_bytes: 500,
        },
        rtt_syn_synack_ns: 12_500_000,
        tcp_c2s: TcpDirStats {
            syn: 1,
            mss: 1460,
            wscale: 7,
            sack_permitted: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut ip6 = [0u8; 16];
    ip6[0] = 0x20;
    ip6[1] = 0x01;
    ip6[2] = 0x0d;
    ip6[3] = 0xb8;
    ip6[15] = 1;
    let udp = FlowRecord {
        ip_version: 6,
        protocol: IpProtocol::UDP,
        vlan: 42,
        client_ip: ip6,
        server_ip: [0; 16],
        client_port: 5353,
        server_port: 53,
        rtt_syn_synack_ns: 99, // ignored: not TCP
        ..Default::default()
    };
    let frag = FlowRecord {
        ip_version: 4,
        protocol: IpProtocol::UDP,
        fragments: 3,
        client_ip: v4([10, 0, 0, 1]),
        server_ip: v4([10, 0, 0, 2]),
        ..Default::default()
    };
    let rows = [tcp, udp, frag].map(FlowRow::from);
    let b = batch_of(&rows.iter().collect::<Vec<_>>(), "tap-1");
    assert_eq!(b.num_rows(), 3);
    let s = |name: &str| b.column_by_name(name).unwrap().as_string::<i32>().clone();
    assert_eq!(s("tap_id").value(2), "tap-1");
    assert_eq!(s("end_reason").value(0), "rst");
    assert_eq!(s("tunnel").value(0), "gre");
    assert!(s("tunnel").is_null(1));
    assert_eq!(s("client_mac").value(0), "aa:bb:cc:00:01:02");
    assert!(s("server_mac").is_null(0));
    assert_eq!(s("client_ip").value(0), "192.168.1.10");
    assert_eq!(s("server_ip").value(0), "8.8.8.8");
    assert_eq!(s("client_ip").value(1), "2001:db8::1");
    assert_eq!(s("server_ip").value(1), "::");
    let vlan = b
        .column_by_name("vlan")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert!(vlan.is_null(0));
    assert_eq!(vlan.value(1), 42);
    let port = b
        .column_by_name("server_port")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(port.value(0), 443);
    assert_eq!(port.value(1), 53);
    assert!(port.is_null(2), "fragment-only flow: ports unknown");
    let dur = b
        .column_by_name("duration_ms")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((dur.value(0) - 1500.0).abs() < 1e-9);
    let rtt = b
        .column_by_name("tcp_rtt_syn_ms")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((rtt.value(0) - 12.5).abs() < 1e-9);
    assert!(rtt.is_null(1));
    let ack = b.column_by_name("tcp_rtt_ack_ms").unwrap();
    assert!(ack.is_null(0));
    let syn = b
        .column_by_name("c2s_syn")
        .unwrap()
        .as_primitive::<UInt32Type>();
    assert_eq!(syn.value(0), 1);
    assert!(syn.is_null(1));
    let mss = b
        .column_by_name("c2s_mss")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(mss.value(0), 1460);
    assert!(b.column_by_name("s2c_mss").unwrap().is_null(0));
    let ws = b
        .column_by_name("c2s_wscale")
        .unwrap()
        .as_primitive::<UInt8Type>();
    assert_eq!(ws.value(0), 7);
    assert!(b.column_by_name("s2c_wscale").unwrap().is_null(0));
    let sack = b.column_by_name("c2s_sack_permitted").unwrap().as_boolean();
    assert!(sack.value(0));
    assert!(sack.is_null(1));
}

#[test]
fn ipv4_mapped_address_of_an_ipv6_flow_stays_ipv6() {
    let r = FlowRecord {
        ip_version: 6,
        protocol: IpProtocol::UDP,
        client_ip: v4([1, 2, 3, 4]),
        ..Default::default()
    };
    let b = batch_of(&[&FlowRow::from(r)], "t");
    let ip = b.column_by_name("client_ip").unwrap().as_string::<i32>();
    assert_eq!(ip.value(0), "::ffff:1.2.3.4");
}
