//! hickory-proto reads the messages the parent module writes as they were
//! meant; and how long each takes to build the same response.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData as HRData, Record as HRecord, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use super::*;

fn answers() -> [Record; 2] {
    [
        Record {
            name: "www.netflix.com".into(),
            ttl: 300,
            data: RData::Cname("www.dradis.netflix.com".into()),
        },
        Record {
            name: "www.dradis.netflix.com".into(),
            ttl: 60,
            data: RData::A(Ipv4Addr::new(198, 51, 100, 7)),
        },
    ]
}

#[test]
fn hickory_reads_our_messages() {
    let q = Message::from_vec(&query(0xbeef, "zoom.us", TYPE_AAAA)).unwrap();
    assert_eq!(q.id(), 0xbeef);
    assert!(q.recursion_desired());
    assert_eq!(q.queries()[0].name().to_ascii(), "zoom.us.");
    assert_eq!(q.queries()[0].query_type(), RecordType::AAAA);
    assert_eq!(q.extensions().as_ref().unwrap().max_payload(), 1232);

    let r = Message::from_vec(&response(
        7,
        "www.netflix.com",
        TYPE_A,
        NOERROR,
        &answers(),
        &[],
    ))
    .unwrap();
    assert_eq!(r.message_type(), MessageType::Response);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    let a = r.answers();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].name().to_ascii(), "www.netflix.com.");
    match a[0].data() {
        HRData::CNAME(c) => assert_eq!(c.0.to_ascii(), "www.dradis.netflix.com."),
        other => panic!("{other:?}"),
    }
    assert_eq!(a[1].name().to_ascii(), "www.dradis.netflix.com.");
    assert_eq!(a[1].data(), &HRData::A(A(Ipv4Addr::new(198, 51, 100, 7))));
    assert_eq!(a[1].ttl(), 60);
}

/// The same response built by hickory-proto.
fn hickory_response(id: u16) -> Vec<u8> {
    let name = Name::from_str("www.netflix.com.").unwrap();
    let target = Name::from_str("www.dradis.netflix.com.").unwrap();
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .set_recursion_available(true)
        .add_query(Query::query(name.clone(), RecordType::A))
        .add_answer(HRecord::from_rdata(
            name,
            300,
            HRData::CNAME(CNAME(target.clone())),
        ))
        .add_answer(HRecord::from_rdata(
            target,
            60,
            HRData::A(A(Ipv4Addr::new(198, 51, 100, 7))),
        ));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    m.set_edns(edns);
    m.to_bytes().unwrap()
}

/// Not a check: prints how long each implementation takes to build the
/// response (`--run-ignored only dns_build_speed --no-capture`).
#[test]
#[ignore]
fn dns_build_speed() {
    let n = 200_000u32;
    let a = answers();
    let t = Instant::now();
    let mut len = 0;
    for i in 0..n {
        len += response(i as u16, "www.netflix.com", TYPE_A, NOERROR, &a, &[]).len();
    }
    let ours = t.elapsed().as_nanos() as f64 / n as f64;
    let t = Instant::now();
    let mut hlen = 0;
    for i in 0..n {
        hlen += hickory_response(i as u16).len();
    }
    let theirs = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "ours {ours:.0} ns/message ({} bytes), hickory-proto {theirs:.0} ns/message ({} bytes)",
        len / n as usize,
        hlen / n as usize
    );
    assert!(Message::from_vec(&hickory_response(1)).is_ok());
}
