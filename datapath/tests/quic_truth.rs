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
