//! The name parsers against tshark on every capture in
//! `../shared/testdata/pcap/`.
//!
//! Each capture is read with [`PcapSource`] and every frame parsed with
//! [`parse_frame_into`]; the L4 payloads are then given to the parsers and
//! compared, frame by frame, with the fields tshark dissects from the same
//! file:
//! - DNS / mDNS (UDP port 53 or 5353): the first question name
//!   (`dns.qry.name`), and the A, AAAA and CNAME records of the answer
//!   section in order (`dns.a`, `dns.aaaa`, `dns.cname`, cut to the answer
//!   section with `dns.count.answers` and `dns.resp.type`);
//! - TLS (TCP frames where tshark sees a ClientHello): the server name and
//!   the ALPN list, on the frame's payload or, when tshark reassembled the
//!   message from several segments, on those segments' payloads joined;
//! - HTTP (frames tshark marks as requests): the Host header;
//! - DHCP (UDP port 67 or 68): op, message type, client MAC, ciaddr,
//!   yiaddr, requested address and host name.
//!
//! Every well-formed capture must agree completely; the malformed ones
//! (listed in [`MALFORMED`]) are parsed too, only to show they do not
//! crash anything, and their agreement is printed but not asserted. The
//! totals must reach a floor, so a comparison that silently finds nothing
//! (a renamed tshark field, a broken frame walk) fails as well.
//!
//! Skips (with a message) only when the test data folder is missing; fails
//! when tshark is missing. Needs no privileges.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use datapath::names::dns::{self, NameBuf, Rdata};
use datapath::names::{dhcp, http, tls};
use datapath::parse::{parse_frame_into, PacketMeta};
use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};
use datapath::wire::IpProtocol;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/pcap");

/// Captures made of broken packets on purpose, or whose interesting
/// messages are only readable after IP reassembly (which the name parsers
/// do not see): compared, but not required to agree.
const MALFORMED: &[&str] = &[
    "badpackets",
    "fuzz-",
    "malformed_",
    "ip_fragmented_garbage",
    "dns_fragmented",
];

/// The fields asked of tshark, in this order.
const FIELDS: &[&str] = &[
    "frame.number",
    "dns.flags.response",
    "dns.count.queries",
    "dns.count.answers",
    "dns.qry.name",
    "dns.resp.type",
    "dns.a",
    "dns.aaaa",
    "dns.cname",
    "tcp.segment",
    "tls.handshake.type",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "http.request",
    "http.host",
    "dhcp.type",
    "dhcp.option.dhcp",
    "dhcp.hw.mac_addr",
    "dhcp.ip.client",
    "dhcp.ip.your",
    "dhcp.option.requested_ip_address",
    "dhcp.option.hostname",
];

fn is_malformed(name: &str) -> bool {
    MALFORMED.iter().any(|m| name.starts_with(m))
}

/// One frame as our reader and parser see it.
struct Ours {
    meta: Option<PacketMeta>,
    /// The captured L4 payload (empty when the frame did not parse).
    payload: Vec<u8>,
}

fn read_ours(path: &Path) -> Vec<Ours> {
    let mut src = PcapSource::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    let mut m = PacketMeta::default();
    loop {
        let p = src.poll_batch(32, |f| {
            let ok = parse_frame_into(f.link, f.data, f.wire_len, &mut m).is_ok();
            let start = m.payload_offset as usize;
            let end = (start + m.payload_len as usize).min(f.data.len());
            frames.push(Ours {
                meta: ok.then_some(m),
                payload: if ok {
                    f.data.get(start..end).unwrap_or(&[]).to_vec()
                } else {
                    Vec::new()
                },
            });
        });
        match p {
            Poll::Frames(_) => {}
            Poll::Idle { .. } => panic!("{}: a capture file returned Idle", path.display()),
            Poll::End => break,
        }
    }
    frames
}

/// tshark's fields of one frame, by name.
struct Row {
    fields: HashMap<&'static str, String>,
}

impl Row {
    fn get(&self, f: &str) -> &str {
        self.fields.get(f).map_or("", String::as_str)
    }

    /// The field's values, split at the aggregator. Only for fields whose
    /// values cannot hold a comma (numbers, addresses).
    fn list(&self, f: &str) -> Vec<&str> {
        let v = self.get(f);
        if v.is_empty() {
            Vec::new()
        } else {
            v.split(',').collect()
        }
    }
}

fn read_tshark(path: &Path) -> HashMap<usize, Row> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(path).args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-E",
        "quote=n",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "tshark not found: this test compares the name parsers with tshark; \
             install it (e.g. `apt-get install tshark`)"
        ),
        Err(e) => panic!("cannot run tshark: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut rows = HashMap::new();
    for line in stdout.lines() {
        let vals: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            vals.len(),
            FIELDS.len(),
            "{}: unexpected tshark line {line:?}",
            path.display()
        );
        let n: usize = vals[0].parse().expect("frame.number");
        let fields = FIELDS
            .iter()
            .zip(&vals)
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, v)| (*f, v.to_string()))
            .collect();
        rows.insert(n, Row { fields });
    }
    rows
}

/// Agreement of one kind of name in one capture.
#[derive(Default, Clone, Copy)]
struct Tally {
    agree: u64,
    total: u64,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.agree += u64::from(ok);
    }
}

#[derive(Default)]
struct Report {
    dns: Tally,
    tls: Tally,
    /// TLS ClientHellos tshark reassembled from several segments.
    tls_reassembled: u64,
    http: Tally,
    dhcp: Tally,
    /// The first few disagreements, for the log.
    diffs: Vec<String>,
}

impl Report {
    fn note(&mut self, ok: bool, frame: usize, what: &str, detail: impl FnOnce() -> String) {
        if !ok && self.diffs.len() < 12 {
            self.diffs.push(format!("#{frame} {what}: {}", detail()));
        }
    }

    fn all_agree(&self) -> bool {
        [self.dns, self.tls, self.http, self.dhcp]
            .iter()
            .all(|t| t.agree == t.total)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The first `n` items of an aggregated field holding names (which may
/// themselves hold commas): when every item is wanted the field is taken
/// whole, without splitting.
fn first_names(field: &str, n: usize, all: usize) -> String {
    if n == all {
        field.to_string()
    } else {
        field.split(',').take(n).collect::<Vec<_>>().join(",")
    }
}

fn check_dns(payload: &[u8], row: &Row) -> Result<(), String> {
    let mut q = NameBuf::default();
    let (mut a, mut aaaa, mut cname) = (Vec::new(), Vec::new(), Vec::new());
    let r = dns::parse_message(payload, &mut q, |ans| {
        if ans.section != dns::Section::Answer {
            return;
        }
        match ans.data {
            Rdata::A(v) => a.push(Ipv4Addr::from(v).to_string()),
            Rdata::Aaaa(v) => aaaa.push(Ipv6Addr::from(v).to_string()),
            Rdata::Cname(n) => cname.push(text(n.as_bytes())),
        }
    });
    if row.get("dns.flags.response").is_empty() {
        return Err(format!("tshark did not dissect DNS; ours {r:?}"));
    }
    let h = r.map_err(|e| format!("ours {e:?}"))?;
    let queries: usize = row.get("dns.count.queries").parse().unwrap_or(0);
    let answers: usize = row.get("dns.count.answers").parse().unwrap_or(0);
    if (usize::from(h.questions), usize::from(h.answers)) != (queries, answers) {
        return Err(format!(
            "counts: ours {}/{} tshark {queries}/{answers}",
            h.questions, h.answers
        ));
    }
    let their_q = first_names(row.get("dns.qry.name"), queries.min(1), queries);
    let our_q = match (queries, q.is_empty()) {
        (0, _) => String::new(),
        (_, true) => "<Root>".to_string(),
        _ => text(q.as_bytes()),
    };
    if our_q != their_q {
        return Err(format!("qname: ours {our_q:?} tshark {their_q:?}"));
    }
    // The records of the answer section come first in tshark's lists.
    let types = row.list("dns.resp.type");
    let in_answers = |t: &str| types.iter().take(answers).filter(|&&x| x == t).count();
    let everywhere = |t: &str| types.iter().filter(|&&x| x == t).count();
    let their_a = row.list("dns.a");
    let their_a = their_a[..in_answers("1").min(their_a.len())].join(",");
    let their_aaaa = row.list("dns.aaaa");
    let their_aaaa = their_aaaa[..in_answers("28").min(their_aaaa.len())].join(",");
    let their_cname = first_names(row.get("dns.cname"), in_answers("5"), everywhere("5"));
    let ours = (a.join(","), aaaa.join(","), cname.join(","));
    if ours != (their_a.clone(), their_aaaa.clone(), their_cname.clone()) {
        return Err(format!(
            "answers: ours {ours:?} tshark {:?}",
            (their_a, their_aaaa, their_cname)
        ));
    }
    Ok(())
}

/// The payload tshark dissected a message from: the frame's own, or the
/// segments it was reassembled from, joined.
fn message_bytes(frames: &[Ours], n: usize, row: &Row) -> (Vec<u8>, bool) {
    let segs: Vec<usize> = row
        .list("tcp.segment")
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    if segs.len() > 1 {
        let mut joined = Vec::new();
        for s in segs {
            if let Some(f) = s.checked_sub(1).and_then(|i| frames.get(i)) {
                joined.extend_from_slice(&f.payload);
            }
        }
        (joined, true)
    } else {
        (frames[n - 1].payload.clone(), false)
    }
}

fn check_tls(bytes: &[u8], row: &Row) -> Result<(), String> {
    let ch = tls::client_hello_from_records(bytes).map_err(|e| format!("ours {e:?}"))?;
    let mut buf = vec![0u8; bytes.len()];
    let ch = if ch.split {
        let whole = tls::defragment(bytes, &mut buf).ok_or("defragment failed")?;
        tls::client_hello_from_handshake(whole).map_err(|e| format!("ours (copied) {e:?}"))?
    } else {
        ch
    };
    let sni = ch.sni.map(text).unwrap_or_default();
    let alpn = tls::alpn_names(ch.alpn.unwrap_or(&[]))
        .map(text)
        .collect::<Vec<_>>()
        .join(",");
    let theirs = (
        row.get("tls.handshake.extensions_server_name"),
        row.get("tls.handshake.extensions_alpn_str"),
    );
    if (sni.as_str(), alpn.as_str()) != theirs {
        return Err(format!("ours {:?} tshark {theirs:?}", (sni, alpn)));
    }
    Ok(())
}

fn check_http(bytes: &[u8], row: &Row) -> Result<(), String> {
    let host = http::request_host(bytes).map_err(|e| format!("ours {e:?}"))?;
    let ours = host.map(text).unwrap_or_default();
    // Pipelined requests give several hosts; ours is the first request's.
    let all = row.get("http.host");
    let count = row.list("http.request").len();
    let theirs = first_names(all, 1, count.max(1));
    if ours != theirs {
        return Err(format!("ours {ours:?} tshark {theirs:?}"));
    }
    Ok(())
}

fn check_dhcp(payload: &[u8], row: &Row) -> Result<(), String> {
    let Some(d) = dhcp::parse(payload) else {
        return Err(format!(
            "ours: not DHCP; tshark type {:?}",
            row.get("dhcp.type")
        ));
    };
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    let ours = [
        d.op.to_string(),
        if d.msg_type == 0 {
            String::new()
        } else {
            d.msg_type.to_string()
        },
        if d.chaddr == [0; 6] {
            String::new()
        } else {
            mac(d.chaddr)
        },
        Ipv4Addr::from(d.ciaddr).to_string(),
        Ipv4Addr::from(d.yiaddr).to_string(),
        opt(d.requested_ip.map(|a| Ipv4Addr::from(a).to_string())),
        opt(d.hostname.map(text)),
    ];
    let theirs = [
        row.get("dhcp.type").to_string(),
        row.get("dhcp.option.dhcp").to_string(),
        // chaddr comes first; a client identifier option may repeat it.
        row.list("dhcp.hw.mac_addr")
            .first()
            .map_or(String::new(), |s| s.to_string()),
        row.get("dhcp.ip.client").to_string(),
        row.get("dhcp.ip.your").to_string(),
        row.get("dhcp.option.requested_ip_address").to_string(),
        row.get("dhcp.option.hostname").to_string(),
    ];
    if ours != theirs {
        return Err(format!("ours {ours:?} tshark {theirs:?}"));
    }
    Ok(())
}

fn check_capture(path: &Path) -> Report {
    let frames = read_ours(path);
    let rows = read_tshark(path);
    let mut rep = Report::default();
    for (i, f) in frames.iter().enumerate() {
        let n = i + 1;
        let Some(row) = rows.get(&n) else { continue };
        let udp_ports = f
            .meta
            .filter(|m| m.protocol == IpProtocol::UDP)
            .map(|m| [m.src_port, m.dst_port]);
        let is_tcp = f.meta.is_some_and(|m| m.protocol == IpProtocol::TCP);

        if let Some(ports) = udp_ports {
            if (ports.contains(&53) || ports.contains(&5353)) && !f.payload.is_empty() {
                let r = check_dns(&f.payload, row);
                rep.dns.add(r.is_ok());
                rep.note(r.is_ok(), n, "dns", || r.unwrap_err());
            }
            if ports.contains(&67) || ports.contains(&68) {
                let r = check_dhcp(&f.payload, row);
                rep.dhcp.add(r.is_ok());
                rep.note(r.is_ok(), n, "dhcp", || r.unwrap_err());
            }
        }

        let client_hello = row.list("tls.handshake.type").contains(&"1");
        if is_tcp && client_hello {
            let (bytes, reassembled) = message_bytes(&frames, n, row);
            rep.tls_reassembled += u64::from(reassembled);
            let r = check_tls(&bytes, row);
            rep.tls.add(r.is_ok());
            rep.note(r.is_ok(), n, "tls", || r.unwrap_err());
        }

        if row.list("http.request").contains(&"1") && f.meta.is_some() {
            let (bytes, _) = message_bytes(&frames, n, row);
            let r = check_http(&bytes, row);
            rep.http.add(r.is_ok());
            rep.note(r.is_ok(), n, "http", || r.unwrap_err());
        }

        // Every parser on every payload: nothing may panic.
        let p = &f.payload;
        let _ = dns::parse_message(p, &mut NameBuf::default(), |_| {});
        let _ = dns::parse_tcp_message(p, &mut NameBuf::default(), |_| {});
        let _ = tls::client_hello_from_records(p);
        let _ = tls::client_hello_from_handshake(p);
        let _ = http::request_host(p);
        let _ = dhcp::parse(p);
    }
    rep
}

#[test]
fn names_agree_with_tshark() {
    let dir = Path::new(TESTDATA);
    if !dir.is_dir() {
        println!(
            "SKIPPED: test captures not found at {} (the shared folder beside the checkout)",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list testdata")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {}", dir.display());

    // Two threads: tshark dominates the run time.
    let queue = Mutex::new(files.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(path) = queue.lock().unwrap().pop() else {
                    break;
                };
                let r = check_capture(&path);
                results.lock().unwrap().push((path, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(results.len(), files.len());

    let mut failures = Vec::new();
    let mut totals = Report::default();
    let mut log = String::new();
    for (path, r) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        let malformed = is_malformed(&name);
        let status = match (r.all_agree(), malformed) {
            (true, _) => "ok  ",
            (false, true) => "bad ",
            (false, false) => "FAIL",
        };
        let t = |t: Tally| format!("{}/{}", t.agree, t.total);
        writeln!(
            log,
            "{status} {name}: dns {}, tls {} ({} reassembled), http {}, dhcp {}{}",
            t(r.dns),
            t(r.tls),
            r.tls_reassembled,
            t(r.http),
            t(r.dhcp),
            if malformed {
                " [malformed, not asserted]"
            } else {
                ""
            }
        )
        .unwrap();
        for d in &r.diffs {
            writeln!(log, "       {d}").unwrap();
        }
        if !malformed {
            if !r.all_agree() {
                failures.push(format!("{name}: {}", r.diffs.join("; ")));
            }
            for (sum, part) in [
                (&mut totals.dns, r.dns),
                (&mut totals.tls, r.tls),
                (&mut totals.http, r.http),
                (&mut totals.dhcp, r.dhcp),
            ] {
                sum.agree += part.agree;
                sum.total += part.total;
            }
            totals.tls_reassembled += r.tls_reassembled;
        }
    }
    print!("{log}");
    println!(
        "well-formed captures: dns {}/{}, tls {}/{}, http {}/{}, dhcp {}/{}",
        totals.dns.agree,
        totals.dns.total,
        totals.tls.agree,
        totals.tls.total,
        totals.http.agree,
        totals.http.total,
        totals.dhcp.agree,
        totals.dhcp.total
    );
    assert!(
        failures.is_empty(),
        "{} captures disagree with tshark:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The captures hold at least this much of each (fewer means frames
    // were not found or tshark's fields were not read).
    for (what, t, floor) in [
        ("dns", totals.dns, 150),
        ("tls", totals.tls, 150),
        ("http", totals.http, 50),
        ("dhcp", totals.dhcp, 20),
    ] {
        assert!(
            t.total >= floor,
            "only {} {what} messages compared (expected at least {floor})",
            t.total
        );
    }
}

#[test]
fn names_first_names_keeps_commas_when_whole() {
    assert_eq!(first_names("a,b.c", 2, 2), "a,b.c");
    assert_eq!(first_names("a,b,c", 2, 3), "a,b");
    assert_eq!(first_names("x", 0, 1), "");
}
