//! Tests of the `heavy_hitters` table and its key text.

use super::*;
use crate::table::{batch, TableInfo};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{UInt16Type, UInt64Type, UInt8Type};
use datapath::sketch::{CounterSpec, Increment, KeyType};
use datapath::wire::IpProtocol;
use std::net::Ipv6Addr;

fn v4(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

fn hh(key_type: KeyType, key: SketchKey) -> HeavyHitter {
    HeavyHitter {
        start_ns: 1_000_000_000,
        end_ns: 2_000_000_000,
        workers: 2,
        counter: Arc::new(CounterSpec::new("c", key_type, Increment::Bytes)),
        rank: 1,
        key,
        estimate: 1500,
        error_bound: 3,
        total: 3000,
        sampling: 1,
    }
}

#[test]
fn heavy_hitter_keys_by_type() {
    let mut k = SketchKey {
        src_ip: v4([10, 0, 0, 1]),
        dst_ip: v4([10, 0, 0, 2]),
        src_port: 40000,
        dst_port: 443,
        protocol: IpProtocol::TCP,
        ip_version: 4,
    };
    let mut six = k;
    six.src_ip = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
    six.ip_version = 6;
    assert_eq!(key_text(&hh(KeyType::Src, k)), "10.0.0.1");
    assert_eq!(key_text(&hh(KeyType::Dst, k)), "10.0.0.2");
    assert_eq!(key_text(&hh(KeyType::SrcDst, k)), "10.0.0.1 > 10.0.0.2");
    assert_eq!(key_text(&hh(KeyType::SrcDport, k)), "10.0.0.1 > tcp/443");
    assert_eq!(key_text(&hh(KeyType::Dport, k)), "tcp/443");
    assert_eq!(
        key_text(&hh(KeyType::FiveTuple, k)),
        "tcp 10.0.0.1:40000 > 10.0.0.2:443"
    );
    assert_eq!(
        key_text(&hh(KeyType::FiveTuple, six)),
        "tcp [2001:db8::1]:40000 > [::ffff:10.0.0.2]:443"
    );
    k.protocol = IpProtocol(47);
    assert_eq!(key_text(&hh(KeyType::Dport, k)), "proto47/443");

    let rows = [hh(KeyType::Src, k), hh(KeyType::FiveTuple, k)];
    let refs: Vec<&HeavyHitter> = rows.iter().collect();
    let b = batch::<HeavyHitters>(&TableInfo::of::<HeavyHitters>().schema(), "t", &refs).unwrap();
    let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
    assert_eq!(s("src_ip").value(0), "10.0.0.1");
    assert!(s("dst_ip").is_null(0));
    assert_eq!(s("dst_ip").value(1), "10.0.0.2");
    assert_eq!(s("key_type").value(1), "five_tuple");
    assert_eq!(s("increment").value(0), "bytes");
    assert_eq!(s("protocol").value(0), "any");
    let port = b
        .column_by_name("dst_port")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert!(port.is_null(0));
    assert_eq!(port.value(1), 443);
    let proto = b
        .column_by_name("ip_protocol")
        .unwrap()
        .as_primitive::<UInt8Type>();
    assert!(proto.is_null(0));
    assert_eq!(proto.value(1), 47);
    let est = b
        .column_by_name("estimate")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert_eq!(est.value(0), 1500);
    let workers = b
        .column_by_name("workers")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(workers.value(1), 2);
}
