//! The server name of every QUIC and Google QUIC flow in the shared
//! captures, as the names parsers find it, against tshark's on the same
//! files (tshark decrypts QUIC Initial packets itself).
//!
//! Ours: frames read with [`PcapSource`], parsed with `parse_frame_into`,
//! each UDP payload given to `quic::client_initial_crypto` (then, once a
//! flow's first Initial decrypted, `client_initial_crypto_with` its
//! connection ID; CRYPTO frames
//! reassembled per flow in a `CryptoReasm`, the ClientHello parsed with
//! `tls::client_hello_from_handshake` once complete) and to
//! `quic::gquic_chlo_sni`. Theirs: the first ClientHello (or CHLO with an
//! SNI tag) tshark dissects per flow. Per capture, the flows and their
//! first server names must be the same, and so must the frames holding a
//! client Initial that decrypts (ours: `client_initial_crypto` is `Ok`;
//! tshark's: an Initial from the side that opened the connection, with
//! frames dissected).
//!
//! Skips (with a message) only when the test data folder is missing; fails
//! when tshark is missing.
//!
//! A second test writes its own capture: one client Initial per version
//! tapscope reads (v1, v2, drafts, every mvfst version, greased versions
//! under v1's and draft-29's keys, an unknown version under v1's), each
//! with a ClientHello naming the flow, and checks that tapscope finds every
//! name and that tshark, on the same file, finds the same ones where it
//! finds any.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use datapath::names::quic::{self, CryptoReasm, Scratch};
use datapath::names::tls::{self, TlsError};
use datapath::parse::{parse_frame_into, PacketMeta};
use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};
use datapath::wire::IpProtocol;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/pcap");

/// The captures that must hold QUIC flows (so the test cannot pass by
/// finding nothing).
const MUST_HAVE_QUIC: &[&str] = &[
    "quic.pcap",
    "quic-28.pcap",
    "quic_frags_ch_in_multiple_packets.pcapng",
    "youtube_quic.pcap",
];

/// A flow: its two endpoints, ordered.
type FlowKey = ((IpAddr, u16), (IpAddr, u16));

fn flow_key(a: (IpAddr, u16), b: (IpAddr, u16)) -> FlowKey {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// What one side found in a flow's first client hello.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Found {
    gquic: bool,
    sni: Option<String>,
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct FlowState {
    reasm: Box<CryptoReasm>,
    done: bool,
}

/// Our names per flow, plus counters for the report.
struct Ours {
    flows: BTreeMap<FlowKey, Found>,
    /// Frame numbers (from 1) of the datagrams with a client Initial that
    /// decrypted.
    initials: BTreeSet<u64>,
    /// Frame numbers of the Google QUIC packets with a CHLO's SNI.
    chlos: BTreeSet<u64>,
    versions: BTreeMap<u32, u64>,
}

fn read_ours(path: &Path) -> Result<Ours, String> {
    let mut src = PcapSource::open(path).map_err(|e| format!("open failed: {e}"))?;
    let mut meta = PacketMeta::default();
    let mut scratch = Scratch::default();
    let mut state: HashMap<FlowKey, FlowState> = HashMap::new();
    let mut ours = Ours {
        flows: BTreeMap::new(),
        initials: BTreeSet::new(),
        chlos: BTreeSet::new(),
        versions: BTreeMap::new(),
    };
    let mut problem = None;
    let mut crypto = Vec::new();
    let mut frame_no = 0u64;
    // Per flow, the connection ID whose keys protect the client's Initials.
    let mut first_dcid: HashMap<FlowKey, Vec<u8>> = HashMap::new();
    loop {
        let p = src.poll_batch(64, |f| {
            frame_no += 1;
            if parse_frame_into(f.link, f.data, f.wire_len, &mut meta).is_err()
                || meta.protocol != IpProtocol::UDP
            {
                return;
            }
            let start = usize::from(meta.payload_offset);
            let end = (start + usize::from(meta.payload_len)).min(f.data.len());
            let Some(payload) = f.data.get(start..end).filter(|p| !p.is_empty()) else {
                return;
            };
            let addr = |ip: [u8; 16]| -> IpAddr {
                if meta.ip_version == 4 {
                    IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]))
                } else {
                    IpAddr::V6(Ipv6Addr::from(ip))
                }
            };
            let key = flow_key(
                (addr(meta.src_ip), meta.src_port),
                (addr(meta.dst_ip), meta.dst_port),
            );
            crypto.clear();
            let collect = |off: u64, data: &[u8]| crypto.push((off, data.to_vec()));
            let r = match first_dcid.get(&key) {
                Some(dcid) => {
                    quic::client_initial_crypto_with(payload, dcid, &mut scratch, collect)
                }
                None => quic::client_initial_crypto(payload, &mut scratch, collect),
            };
            if let Ok(version) = r {
                ours.initials.insert(frame_no);
                *ours.versions.entry(version).or_default() += 1;
                if let Some(dcid) = quic::initial_dcid(payload) {
                    first_dcid.entry(key).or_insert_with(|| dcid.to_vec());
                }
            }
            let gquic_sni = quic::gquic_chlo_sni(payload);
            if gquic_sni.is_some() {
                ours.chlos.insert(frame_no);
            }
            if state.get(&key).is_some_and(|s| s.done) {
                return;
            }
            if let Some(sni) = gquic_sni {
                ours.flows.insert(
                    key,
                    Found {
                        gquic: true,
                        sni: Some(show(sni)),
                    },
                );
                state.entry(key).or_insert_with(new_state).done = true;
                return;
            }
            if r.is_err() {
                return;
            }
            let st = state.entry(key).or_insert_with(new_state);
            for (off, data) in &crypto {
                st.reasm.add(*off, data);
            }
            if st.reasm.contiguous().is_empty() {
                return;
            }
            match tls::client_hello_from_handshake(st.reasm.contiguous()) {
                Ok(ch) => {
                    ours.flows.insert(
                        key,
                        Found {
                            gquic: false,
                            sni: ch.sni.map(show),
                        },
                    );
                    st.done = true;
                }
                Err(TlsError::Incomplete { .. }) if !st.reasm.is_full() => {}
                Err(e) => {
                    problem.get_or_insert(format!("flow {key:?}: ClientHello {e:?}"));
                    st.done = true;
                }
            }
        });
        match p {
            Poll::Frames(_) => {}
            Poll::Idle { .. } => return Err("a capture file returned Idle".into()),
            Poll::End => break,
        }
    }
    match problem {
        Some(p) => Err(p),
        None => Ok(ours),
    }
}

fn new_state() -> FlowState {
    FlowState {
        reasm: Box::default(),
        done: false,
    }
}

/// tshark's first client hello per flow.
fn read_tshark(path: &Path) -> Result<BTreeMap<FlowKey, Found>, String> {
    let out = run_tshark(
        path,
        "udp && (tls.handshake.type == 1 || gquic.tag.sni)",
        &[
            "ip.src",
            "ipv6.src",
            "udp.srcport",
            "ip.dst",
            "ipv6.dst",
            "udp.dstport",
            "tls.handshake.extensions_server_name",
            "gquic.tag.sni",
        ],
    )?;
    let mut flows = BTreeMap::new();
    for (i, line) in out.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("tshark line {}: unexpected {line:?}", i + 1);
        if f.len() != 8 {
            return Err(bad());
        }
        let ip = |v4: &str, v6: &str| -> Result<IpAddr, String> {
            let s = if v6.is_empty() { v4 } else { v6 };
            s.parse().map_err(|_| bad())
        };
        let port = |s: &str| -> Result<u16, String> { s.parse().map_err(|_| bad()) };
        let key = flow_key(
            (ip(f[0], f[1])?, port(f[2])?),
            (ip(f[3], f[4])?, port(f[5])?),
        );
        let gquic = !f[7].is_empty();
        let sni = if gquic { f[7] } else { f[6] };
        flows.entry(key).or_insert(Found {
            gquic,
            sni: (!sni.is_empty()).then(|| sni.to_string()),
        });
    }
    Ok(flows)
}

fn run_tshark(path: &Path, filter: &str, fields: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(path).args([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=l",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "tshark not found: this test compares QUIC server names with tshark's; \
             install it (e.g. `apt-get install tshark`)"
        ),
        Err(e) => panic!("cannot run tshark: {e}"),
    };
    if !out.status.success() {
        return Err(format!(
            "tshark {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The frames where tshark decrypted an Initial sent by the endpoint that
/// sent the connection's first Initial (the client).
fn tshark_client_initials(path: &Path) -> Result<BTreeSet<u64>, String> {
    let out = run_tshark(
        path,
        "quic.long.packet_type == 0 && quic.frame_type",
        &[
            "frame.number",
            "quic.connection.number",
            "ip.src",
            "ipv6.src",
            "udp.srcport",
        ],
    )?;
    let mut client: HashMap<String, (String, String)> = HashMap::new();
    let mut frames = BTreeSet::new();
    for (i, line) in out.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("tshark line {}: unexpected {line:?}", i + 1);
        if f.len() != 5 {
            return Err(bad());
        }
        let src = (format!("{}{}", f[2], f[3]), f[4].to_string());
        let first = client
            .entry(f[1].to_string())
            .or_insert_with(|| src.clone());
        if *first == src {
            frames.insert(f[0].parse().map_err(|_| bad())?);
        }
    }
    Ok(frames)
}

/// The frames where tshark found the SNI of a Google QUIC CHLO in a packet
/// that carries the version (the client's first packets).
fn tshark_chlos(path: &Path) -> Result<BTreeSet<u64>, String> {
    let out = run_tshark(
        path,
        "gquic.tag.sni && gquic.puflags.version == 1",
        &["frame.number"],
    )?;
    out.lines()
        .map(|l| l.parse().map_err(|_| format!("tshark: unexpected {l:?}")))
        .collect()
}

/// (flows in either, flows agreeing, report line) for one capture.
fn check(path: &Path) -> Result<(usize, usize, String), String> {
    let ours = read_ours(path)?;
    let theirs = read_tshark(path)?;
    let their_initials = tshark_client_initials(path)?;
    let their_chlos = tshark_chlos(path)?;
    let mut keys: Vec<&FlowKey> = ours.flows.keys().chain(theirs.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut agree = 0;
    let mut diffs = Vec::new();
    for k in &keys {
        let (a, b) = (ours.flows.get(k), theirs.get(k));
        if a == b {
            agree += 1;
        } else {
            diffs.push(format!("{k:?}: ours {a:?} tshark {b:?}"));
        }
    }
    let initials_agree = ours.initials == their_initials;
    if !initials_agree {
        diffs.push(format!(
            "client Initials decrypted in frames: ours {:?} tshark {:?}",
            ours.initials, their_initials
        ));
    }
    let chlos_agree = ours.chlos == their_chlos;
    if !chlos_agree {
        diffs.push(format!(
            "Google QUIC CHLO SNI in frames: ours {:?} tshark {:?}",
            ours.chlos, their_chlos
        ));
    }
    let names: Vec<String> = ours
        .flows
        .values()
        .map(|f| {
            format!(
                "{}{}",
                if f.gquic { "gquic:" } else { "" },
                f.sni.as_deref().unwrap_or("(none)")
            )
        })
        .collect();
    let versions: Vec<String> = ours
        .versions
        .iter()
        .map(|(v, n)| format!("{v:#010x}×{n}"))
        .collect();
    let same = |ok: bool| if ok { " (same frames as tshark)" } else { "" };
    let mut line = format!(
        "{agree}/{} flows agree; {} client Initials decrypted{} [{}]; \
         {} gQUIC CHLOs{}; names [{}]",
        keys.len(),
        ours.initials.len(),
        same(initials_agree),
        versions.join(" "),
        ours.chlos.len(),
        same(chlos_agree),
        names.join(", "),
    );
    for d in &diffs {
        line.push_str("\n     ");
        line.push_str(d);
    }
    // A disagreement on the packets counts as one more flow that differs.
    let n = keys.len() + usize::from(!initials_agree) + usize::from(!chlos_agree);
    Ok((n, agree, line))
}

#[test]
fn quic_server_names_match_tshark() {
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

    // Two threads: tshark dominates the run time.
    let queue = Mutex::new(files.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(path) = queue.lock().unwrap().pop() else {
                    break;
                };
                let r = check(&path);
                results.lock().unwrap().push((path, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(results.len(), files.len());

    let mut failures = Vec::new();
    let (mut total, mut total_agree) = (0, 0);
    for (path, r) in &results {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match r {
            Ok((0, _, _)) => {
                if MUST_HAVE_QUIC.contains(&name.as_str()) {
                    failures.push(format!("{name}: no QUIC flow found"));
                }
            }
            Ok((n, agree, line)) => {
                total += n;
                total_agree += agree;
                let ok = agree == n;
                println!("{} {name}: {line}", if ok { "ok  " } else { "FAIL" });
                if !ok {
                    failures.push(format!("{name}: {agree}/{n} flows agree"));
                }
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    println!("total: {total_agree}/{total} QUIC flows agree with tshark");
    assert!(
        failures.is_empty(),
        "QUIC server names differ from tshark's:\n{}",
        failures.join("\n")
    );
}

/// How the installed tshark is expected to read a crafted Initial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tshark {
    /// It decrypts this version: the names must be the same.
    Reads,
    /// A greased version: Wireshark 4.0 tries draft-29's keys, later
    /// releases v1's; it must read one of the two greased flows.
    OneOfGreased,
    /// A version tshark does not know (it does not dissect the packet as
    /// QUIC): tapscope's name is checked against the one written.
    Unknown,
}

/// One crafted flow: the version on the wire, the version whose keys
/// protect it, the name in its ClientHello, whether its ClientHello is
/// split over two Initials in two datagrams, and tshark's expected reading.
struct Case {
    version: u32,
    keyed_as: u32,
    sni: &'static str,
    split: bool,
    tshark: Tshark,
}

fn crafted_cases() -> Vec<Case> {
    use datapath::names::quic::mvfst;
    use Tshark::*;
    let case = |version, keyed_as, sni, tshark| Case {
        version,
        keyed_as,
        sni,
        split: false,
        tshark,
    };
    vec![
        case(quic::VERSION_1, quic::VERSION_1, "v1.example", Reads),
        case(quic::VERSION_2, quic::VERSION_2, "v2.example", Reads),
        case(0xff00_0016, 0xff00_0016, "draft22.example", Reads),
        case(0xff00_001b, 0xff00_001b, "draft27.example", Reads),
        case(0xff00_001d, 0xff00_001d, "draft29.example", Reads),
        case(0xff00_0021, 0xff00_0021, "draft33.example", Reads),
        case(0xff00_0022, 0xff00_0022, "draft34.example", Reads),
        case(mvfst::D22, mvfst::D22, "mvfst-d22.facebook.com", Reads),
        case(mvfst::MVFST, mvfst::MVFST, "mvfst.facebook.com", Reads),
        Case {
            split: true,
            ..case(
                mvfst::EXPERIMENTAL,
                mvfst::EXPERIMENTAL,
                "mvfst-experimental.instagram.com",
                Reads,
            )
        },
        case(
            mvfst::V1_ALIAS,
            mvfst::V1_ALIAS,
            "v1-alias.facebook.com",
            Unknown,
        ),
        case(
            mvfst::V1_ALIAS2,
            mvfst::V1_ALIAS2,
            "v1-alias2.facebook.com",
            Unknown,
        ),
        case(
            mvfst::ALIAS,
            mvfst::ALIAS,
            "mvfst-alias.facebook.com",
            Unknown,
        ),
        case(
            mvfst::EXPERIMENTAL2,
            mvfst::EXPERIMENTAL2,
            "exp2.whatsapp.net",
            Unknown,
        ),
        case(
            mvfst::EXPERIMENTAL3,
            mvfst::EXPERIMENTAL3,
            "exp3.fbcdn.net",
            Unknown,
        ),
        case(
            mvfst::EXPERIMENTAL4,
            mvfst::EXPERIMENTAL4,
            "exp4.fbcdn.net",
            Unknown,
        ),
        case(
            mvfst::EXPERIMENTAL5,
            mvfst::EXPERIMENTAL5,
            "exp5.fbcdn.net",
            Unknown,
        ),
        case(
            mvfst::PRIMING,
            mvfst::PRIMING,
            "priming.facebook.com",
            Unknown,
        ),
        case(
            0x1a2a_3a4a,
            quic::VERSION_1,
            "greased-v1.example",
            OneOfGreased,
        ),
        case(
            0x0a0a_0a0a,
            0xff00_001d,
            "greased-d29.example",
            OneOfGreased,
        ),
        case(0x1234_5678, quic::VERSION_1, "unknown-v1.example", Unknown),
    ]
}

/// A TLS 1.3 ClientHello (handshake message) naming `sni`, padded with a
/// padding extension to `len` bytes at least.
fn client_hello(sni: &str, len: usize) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut ext = Vec::new();
    let u16b = |n: usize| (n as u16).to_be_bytes();
    // server_name: list length, host_name type, name length, name.
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&u16b(name.len() + 5));
    ext.extend_from_slice(&u16b(name.len() + 3));
    ext.push(0);
    ext.extend_from_slice(&u16b(name.len()));
    ext.extend_from_slice(name);
    // supported_versions: TLS 1.3.
    ext.extend_from_slice(&[0, 43, 0, 3, 2, 3, 4]);
    let mut body = vec![3, 3];
    body.extend((0..32u8).map(|i| i.wrapping_mul(37)));
    body.push(0); // no session ID
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    // padding extension up to the length asked for.
    let fixed = 4 + body.len() + 2 + ext.len() + 4;
    let pad = len.saturating_sub(fixed);
    ext.extend_from_slice(&[0, 21]);
    ext.extend_from_slice(&u16b(pad));
    ext.resize(ext.len() + pad, 0);
    body.extend_from_slice(&u16b(ext.len()));
    body.extend_from_slice(&ext);
    let mut m = vec![1];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body);
    m
}

/// A client Initial of `version` (v2's packet types for v2, else v1's)
/// protected with `keys`, carrying `frames` padded to 1200 bytes. The
/// Source Connection ID is the Destination one reversed (tshark tells
/// connections apart by their IDs, as real clients' random ones allow).
fn seal_initial(
    version: u32,
    keys: &quic::InitialKeys,
    dcid: &[u8],
    pn: u8,
    frames: &[u8],
) -> Vec<u8> {
    use ring::aead::quic::{HeaderProtectionKey, AES_128};
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
    let ty = if version == quic::VERSION_2 { 1 } else { 0 };
    let mut h = vec![0xc0 | (ty << 4)]; // 1-byte packet number
    h.extend_from_slice(&version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.push(dcid.len() as u8);
    h.extend(dcid.iter().rev());
    h.push(0); // no token
    let payload_len = 1200 - h.len() - 2 - 1 - 16;
    assert!(frames.len() <= payload_len);
    h.extend_from_slice(&(0x4000 | (1 + payload_len + 16) as u16).to_be_bytes());
    let pn_at = h.len();
    h.push(pn);
    let mut body = frames.to_vec();
    body.resize(payload_len, 0);
    let mut nonce = keys.iv;
    nonce[11] ^= pn;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &keys.key).unwrap());
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&h[..]),
        &mut body,
    )
    .unwrap();
    let mut p = h;
    p.extend_from_slice(&body);
    let hp = HeaderProtectionKey::new(&AES_128, &keys.hp).unwrap();
    let mask = hp.new_mask(&p[pn_at + 4..pn_at + 20]).unwrap();
    p[0] ^= mask[0] & 0x0f;
    p[pn_at] ^= mask[1];
    p
}

/// A CRYPTO frame (2-byte varint offset and length).
fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x4000 | offset as u16).to_be_bytes());
    f.extend_from_slice(&(0x4000 | data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// An Ethernet/IPv4/UDP frame from 10.0.0.1:`sport` to 10.0.0.2:443.
fn udp_frame(sport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum
    f.extend_from_slice(payload);
    f
}

/// Writes the crafted flows' datagrams to a classic pcap at `path`.
fn write_crafted(path: &Path, cases: &[Case]) {
    let mut frames = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        // Distinct connection IDs: tshark follows connections by them.
        let dcid = [i as u8, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7];
        let keys = quic::initial_keys(c.keyed_as, &dcid, false).expect("a known version");
        let sport = 40_000 + i as u16;
        if c.split {
            // The ClientHello over two Initials, the second one first.
            let ch = client_hello(c.sni, 1500);
            let (a, b) = ch.split_at(1000);
            let second = seal_initial(c.version, &keys, &dcid, 1, &crypto_frame(1000, b));
            let first = seal_initial(c.version, &keys, &dcid, 0, &crypto_frame(0, a));
            frames.push(udp_frame(sport, &second));
            frames.push(udp_frame(sport, &first));
        } else {
            let ch = client_hello(c.sni, 300);
            frames.push(udp_frame(
                sport,
                &seal_initial(c.version, &keys, &dcid, 0, &crypto_frame(0, &ch)),
            ));
        }
    }
    let mut b = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        b.extend_from_slice(&(1_700_000_000 + i as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).expect("write the crafted capture");
}

#[test]
fn crafted_mvfst_greased_and_unknown_versions_match_tshark() {
    let cases = crafted_cases();
    let path = std::env::temp_dir().join(format!(
        "tapscope-quic-versions-{}.pcap",
        std::process::id()
    ));
    write_crafted(&path, &cases);
    let ours = read_ours(&path);
    let theirs = read_tshark(&path);
    let their_initials = tshark_client_initials(&path);
    let _ = std::fs::remove_file(&path);
    let ours = ours.expect("our reading");
    let theirs = theirs.expect("tshark's reading");
    let their_initials = their_initials.expect("tshark's Initials");

    let key_of = |i: usize| {
        flow_key(
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_000 + i as u16),
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443),
        )
    };
    let mut failures = Vec::new();
    let mut greased_read = 0;
    let mut agree = 0;
    for (i, c) in cases.iter().enumerate() {
        let k = key_of(i);
        let want = Found {
            gquic: false,
            sni: Some(c.sni.to_string()),
        };
        let (a, b) = (ours.flows.get(&k), theirs.get(&k));
        let verdict = match (c.tshark, b) {
            (_, Some(b)) if Some(b) == a => {
                agree += 1;
                if c.tshark == Tshark::OneOfGreased {
                    greased_read += 1;
                }
                "same as tshark"
            }
            (_, Some(_)) => "DIFFERENT from tshark",
            (Tshark::Reads, None) => "MISSED by tshark",
            (_, None) => "beyond tshark",
        };
        println!(
            "{:#010x} (keys of {:#010x}) {}: ours {:?}, {verdict}",
            c.version,
            c.keyed_as,
            c.sni,
            a.and_then(|f| f.sni.as_deref()),
        );
        if a != Some(&want) {
            failures.push(format!("{:#010x}: ours {a:?}, written {want:?}", c.version));
        }
        if verdict.chars().any(|c| c.is_uppercase()) {
            failures.push(format!("{:#010x}: ours {a:?}, tshark {b:?}", c.version));
        }
    }
    if greased_read == 0 {
        failures.push("tshark read neither greased Initial".into());
    }
    // Nothing tshark names that is not a crafted flow.
    for k in theirs.keys() {
        if !(0..cases.len()).any(|i| key_of(i) == *k) {
            failures.push(format!("tshark names an unknown flow {k:?}"));
        }
    }
    // Every Initial tshark decrypted, tapscope decrypted too.
    if !their_initials.is_subset(&ours.initials) {
        failures.push(format!(
            "client Initials: ours {:?}, tshark {:?}",
            ours.initials, their_initials
        ));
    }
    println!(
        "crafted: {}/{} flows named by tapscope, {agree} of them as tshark names them",
        ours.flows.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
