//! Unit tests of the parent module.

use super::*;

/// A TLS record carrying a ClientHello with `sni` and ALPN `alpn`.
fn client_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
    let mut ext = Vec::new();
    // server_name
    let mut sn = vec![0u8];
    sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sn.extend_from_slice(sni.as_bytes());
    let mut list = (sn.len() as u16).to_be_bytes().to_vec();
    list.extend_from_slice(&sn);
    ext.extend_from_slice(&0u16.to_be_bytes());
    ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
    ext.extend_from_slice(&list);
    // ALPN
    let mut names = Vec::new();
    for a in alpn {
        names.push(a.len() as u8);
        names.extend_from_slice(a.as_bytes());
    }
    let mut al = (names.len() as u16).to_be_bytes().to_vec();
    al.extend_from_slice(&names);
    ext.extend_from_slice(&16u16.to_be_bytes());
    ext.extend_from_slice(&(al.len() as u16).to_be_bytes());
    ext.extend_from_slice(&al);
    // padding, to make it span segments
    ext.extend_from_slice(&21u16.to_be_bytes());
    ext.extend_from_slice(&600u16.to_be_bytes());
    ext.extend_from_slice(&[0u8; 600]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // cipher suites
    body.extend_from_slice(&[1, 0]); // compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn tcp_meta(seq: u32, len: usize) -> PacketMeta {
    PacketMeta {
        protocol: IpProtocol::TCP,
        src_port: 50_000,
        dst_port: 443,
        tcp_seq: seq,
        payload_offset: 0,
        payload_len: len as u16,
        cap_len: len as u32,
        ..PacketMeta::default()
    }
}

struct Flow {
    rec: FlowRecord,
    st: FlowNames,
}

fn flow(id: u64) -> Flow {
    Flow {
        rec: FlowRecord {
            flow_id: id,
            ..FlowRecord::default()
        },
        st: FlowNames::default(),
    }
}

fn send(
    ins: &mut NameInspector,
    f: &mut Flow,
    m: &PacketMeta,
    payload: &[u8],
    log: &mut NameLog,
    c: &mut CaptureCounters,
) {
    ins.inspect(m, payload, 1_000, true, &mut f.rec, &mut f.st, log, c);
}

#[test]
fn client_hello_over_three_segments_is_reassembled() {
    let mut ins = NameInspector::new();
    let mut log = NameLog::with_capacity(16, 4096);
    let mut c = CaptureCounters::default();
    let hello = client_hello("video.example.net", &["h2", "http/1.1"]);
    let mut f = flow(7);
    let cuts = [0, 300, 500, hello.len()];
    for w in cuts.windows(2) {
        let seg = &hello[w[0]..w[1]];
        send(
            &mut ins,
            &mut f,
            &tcp_meta(1000 + w[0] as u32, seg.len()),
            seg,
            &mut log,
            &mut c,
        );
    }
    assert!(f.st.done());
    assert_eq!(f.rec.app_proto, AppProto::Tls);
    assert_eq!(log.len(), 1);
    let ev = log.events[0];
    assert_eq!((ev.kind, ev.flow_id), (NameKind::TlsSni, 7));
    assert_eq!(log.text(ev.name), b"video.example.net");
    assert_eq!(log.text(ev.extra), b"h2,http/1.1");
    // The buffer went back to the pool.
    assert!(ins.pool.iter().all(|s| s.owner == 0));
    assert_eq!(c.name_events, 1);
}

#[test]
fn a_server_name_split_across_tls_records_is_read() {
    let one = client_hello("split.example.com", &["h2"]);
    let hs = &one[5..];
    // Two records, the cut inside the server name (at byte 50 of the
    // handshake: past the random, session id, suites and into the SNI).
    let cut = 4 + 2 + 32 + 1 + 4 + 2 + 2 + 9 + 5;
    let mut split = Vec::new();
    for part in [&hs[..cut], &hs[cut..]] {
        split.extend_from_slice(&[22, 3, 1]);
        split.extend_from_slice(&(part.len() as u16).to_be_bytes());
        split.extend_from_slice(part);
    }
    let mut ins = NameInspector::new();
    let mut log = NameLog::with_capacity(16, 4096);
    let mut c = CaptureCounters::default();
    let mut f = flow(9);
    send(
        &mut ins,
        &mut f,
        &tcp_meta(1, split.len()),
        &split,
        &mut log,
        &mut c,
    );
    assert!(f.st.done());
    assert_eq!(log.len(), 1, "{:?}", log.events);
    assert_eq!(log.text(log.events[0].name), b"split.example.com");
    assert_eq!(log.text(log.events[0].extra), b"h2");
}

#[test]
fn http_host_across_segments_and_other_payloads_give_up() {
    let mut ins = NameInspector::new();
    let mut log = NameLog::with_capacity(16, 4096);
    let mut c = CaptureCounters::default();
    let mut f = flow(1);
    let a = b"GET /index.html HTTP/1.1\r\nUser-Agent: t\r\n";
    let b = b"Host: www.example.org:8080\r\n\r\n";
    send(&mut ins, &mut f, &tcp_meta(5, a.len()), a, &mut log, &mut c);
    assert!(!f.st.done());
    send(
        &mut ins,
        &mut f,
        &tcp_meta(5 + a.len() as u32, b.len()),
        b,
        &mut log,
        &mut c,
    );
    assert!(f.st.done());
    assert_eq!(f.rec.app_proto, AppProto::Http);
    assert_eq!(log.text(log.events[0].name), b"www.example.org:8080");

    let mut g = flow(2);
    let ssh = b"SSH-2.0-OpenSSH_9.2\r\n";
    send(
        &mut ins,
        &mut g,
        &tcp_meta(1, ssh.len()),
        ssh,
        &mut log,
        &mut c,
    );
    assert!(g.st.done());
    assert_eq!(g.rec.app_proto, AppProto::Unknown);
    assert_eq!(log.len(), 1);
}

#[test]
fn a_full_pool_is_counted_and_stale_buffers_are_reused() {
    let mut ins = NameInspector::new();
    let mut log = NameLog::with_capacity(16, 4096);
    let mut c = CaptureCounters::default();
    let hello = client_hello("a.example", &[]);
    let first = &hello[..100];
    let mut flows: Vec<Flow> = (1..=POOL as u64 + 1).map(flow).collect();
    for f in flows.iter_mut() {
        send(
            &mut ins,
            f,
            &tcp_meta(1, first.len()),
            first,
            &mut log,
            &mut c,
        );
    }
    assert_eq!(c.name_reasm_full, 1);
    assert!(flows[POOL].st.done());
    // Much later, a new flow takes the least recently used buffer.
    let mut late = flow(1_000);
    let m = tcp_meta(1, first.len());
    ins.inspect(
        &m,
        first,
        10 * REASM_STALE_NS,
        true,
        &mut late.rec,
        &mut late.st,
        &mut log,
        &mut c,
    );
    assert!(!late.st.done());
    assert_eq!(c.name_reasm_full, 1);
    // The flow whose buffer was taken gives up instead of misreading.
    let f0 = &mut flows[0];
    let rest = &hello[100..];
    let m = tcp_meta(101, rest.len());
    ins.inspect(
        &m,
        rest,
        10 * REASM_STALE_NS,
        true,
        &mut f0.rec,
        &mut f0.st,
        &mut log,
        &mut c,
    );
    assert!(f0.st.done());
    assert!(log.is_empty());
}

#[test]
fn a_full_log_drops_and_counts() {
    let mut log = NameLog::with_capacity(1, 8);
    assert!(log.push(NameEvent::default(), b"abcd", [b"ef".as_slice()]));
    assert_eq!(log.text(log.events[0].extra), b"ef");
    assert!(!log.push(NameEvent::default(), b"x", []));
    log.clear();
    assert!(!log.push(NameEvent::default(), b"123456789", []));
    assert!(log.push(NameEvent::default(), b"12345678", []));
}

#[test]
fn dns_response_names_the_flow_and_its_answers() {
    // Response for www.example.com: CNAME edge.example.net, A 192.0.2.1.
    let mut msg = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
    msg.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    msg.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60]);
    let target = b"\x04edge\x07example\x03net\x00";
    msg.extend_from_slice(&(target.len() as u16).to_be_bytes());
    msg.extend_from_slice(target);
    let edge = 12 + 21 + 12;
    msg.extend_from_slice(&[0xc0, edge as u8, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 1]);
    let m = PacketMeta {
        protocol: IpProtocol::UDP,
        src_port: 53,
        dst_port: 40_000,
        payload_len: msg.len() as u16,
        cap_len: msg.len() as u32,
        ..PacketMeta::default()
    };
    let mut ins = NameInspector::new();
    let mut log = NameLog::with_capacity(16, 4096);
    let mut c = CaptureCounters::default();
    let mut f = flow(3);
    ins.inspect(&m, &msg, 5, false, &mut f.rec, &mut f.st, &mut log, &mut c);
    assert_eq!(f.rec.app_proto, AppProto::Dns);
    assert!(!f.st.done(), "DNS flows stay inspected");
    let kinds: Vec<NameKind> = log.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [NameKind::DnsAnswer, NameKind::DnsQuery]);
    let a = log.events[0];
    assert_eq!(log.text(a.name), b"edge.example.net");
    assert_eq!(log.text(a.extra), b"www.example.com");
    assert_eq!(a.ip, v4_mapped([192, 0, 2, 1]));
    assert_eq!(a.ttl, 256);
    assert_eq!(log.text(log.events[1].name), b"www.example.com");
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn mvfst_and_greased_quic_initials_name_their_flows() {
    // Client Initials built by an independent implementation: mvfst's
    // experimental version (draft-23 salt) naming graph.facebook.com, and
    // a greased version protected with draft-29's keys naming
    // greased.example (the same as in the quic module's tests).
    let mvfst = unhex(
        "cafaceb00e0800010203040506070411223344004066318e361329644aa43a32
         352b2178d8195b7c7527c1fcd1939110bf6ddcb062b40d6b0c160dd7da5399a9
         e9a7f1c619766ea91dc26e84a036fac8e3ed9047b82e4061d6b21ad8e2a6e673
         48c1df8a7a0bb4d25588ae9321d76ba7a994650258afef933173bbe4",
    );
    let greased = unhex(
        "c11a2a3a4a0810111213141516170411223344004063a59eceef986488a76005
         5ff98dc072e21e56b109f77368321b1f1c8e0a0d8d4654ae226b268ce212b673
         1adba31aef967919c7c7c3f528d2c18bd2a6395787d7a82fb74ed8a1ceef5922
         696bf18488cd52225266963b41d875762a7a8c52616a2952a7",
    );
    let mut ins = NameInspector::new();
    let mut log = NameLog::with_capacity(16, 4096);
    let mut c = CaptureCounters::default();
    for (id, p, name) in [
        (11, &mvfst, &b"graph.facebook.com"[..]),
        (12, &greased, &b"greased.example"[..]),
    ] {
        let m = PacketMeta {
            protocol: IpProtocol::UDP,
            src_port: 50_000,
            dst_port: 443,
            payload_len: p.len() as u16,
            cap_len: p.len() as u32,
            ..PacketMeta::default()
        };
        let mut f = flow(id);
        send(&mut ins, &mut f, &m, p, &mut log, &mut c);
        assert!(f.st.done());
        assert_eq!(f.rec.app_proto, AppProto::Quic);
        let ev = log.events[log.len() - 1];
        assert_eq!((ev.kind, ev.flow_id), (NameKind::QuicSni, id));
        assert_eq!(log.text(ev.name), name);
    }
    assert_eq!(c.name_events, 2);
    assert!(ins.pool.iter().all(|s| s.owner == 0));
}
