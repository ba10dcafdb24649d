//! The service catalog against nDPI's own reports for the shared captures
//! (`../shared/testdata/ndpi-results/*.out`).
//!
//! For every flow of a report with a server name (`[Hostname/SNI: ...]`)
//! and an application label (`[proto: 91.133/TLS.NetFlix]` → `NetFlix`, or a
//! single label that is an application, not a bare protocol), the catalog's
//! service for that name must be one the table [`LABELS`] accepts for
//! nDPI's label. A numeric "name" (an HTTP Host or SNI that is an address)
//! is looked up as an address, as the appliance does with a name that does
//! not match. Agreement is reported per capture by flows and by bytes, with
//! the names that disagree; the conferencing, video and social captures
//! must agree on at least 95% of their bytes.
//!
//! Also reported, not asserted: flows without a name that nDPI labels by
//! address (`[IP: 133/NetFlix]`) or by DPI alone, and whether the catalog's
//! address rules, then its port rules, agree with either label.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use classify::catalog::{Catalog, Category, ServiceId};

const RESULTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/ndpi-results"
);

/// Captures whose named bytes must agree at least 95%.
const ASSERTED: [&str; 6] = [
    "netflix.pcap",
    "youtube_quic.pcap",
    "zoom.pcap",
    "teams.pcap",
    "instagram.pcap",
    "reddit.pcap",
];

/// What the catalog may say for one of nDPI's labels.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// One of these services. Where nDPI's label is coarser than the
    /// catalog (its `Google` also covers Google's ad, Meet, Play and cloud
    /// services), each finer service counts; where it is finer (its
    /// `GoogleMaps`), the catalog's broader service counts.
    Services(&'static [&'static str]),
    /// Any service of this category.
    Category(Category),
    /// A service the catalog leaves out on purpose; such flows are counted
    /// apart and must not get another service's label.
    NotCatalogued,
}

const GOOGLE: &[&str] = &[
    "google",
    "google-ads",
    "google-meet",
    "gmail",
    "google-play",
    "google-update",
    "google-cloud",
];
const MICROSOFT: &[&str] = &[
    "microsoft",
    "microsoft365",
    "onedrive",
    "azure",
    "microsoft-update",
];

/// nDPI application labels → what the catalog must say.
const LABELS: &[(&str, Want)] = &[
    ("NetFlix", Want::Services(&["netflix"])),
    ("YouTube", Want::Services(&["youtube"])),
    ("Google", Want::Services(GOOGLE)),
    ("GoogleServices", Want::Services(GOOGLE)),
    ("GMail", Want::Services(&["gmail"])),
    ("GoogleMaps", Want::Services(&["google"])),
    ("GoogleDrive", Want::Services(&["google"])),
    ("GoogleClassroom", Want::Services(&["google"])),
    ("PlayStore", Want::Services(&["google-play"])),
    ("DataSaver", Want::Services(&["google"])),
    ("GoogleCloud", Want::Services(&["google-cloud"])),
    ("Zoom", Want::Services(&["zoom"])),
    ("Teams", Want::Services(&["teams"])),
    // nDPI's Skype_Teams also covers Microsoft hosts the Teams and Skype
    // clients use, which the catalog labels by what they are: crash reports
    // at hockeyapp.net (microsoft), Microsoft Stream (microsoft365).
    (
        "Skype_Teams",
        Want::Services(&["skype", "teams", "microsoft", "microsoft365"]),
    ),
    ("Skype_TeamsCall", Want::Services(&["skype", "teams"])),
    ("Microsoft", Want::Services(MICROSOFT)),
    ("Microsoft365", Want::Services(&["microsoft365"])),
    ("Outlook", Want::Services(&["microsoft365"])),
    ("MS_OneDrive", Want::Services(&["onedrive"])),
    ("Azure", Want::Services(&["azure"])),
    ("Facebook", Want::Services(&["facebook", "meta"])),
    ("Instagram", Want::Services(&["instagram"])),
    ("FacebookMessenger", Want::Services(&["messenger"])),
    ("WhatsApp", Want::Services(&["whatsapp"])),
    ("Threads", Want::Services(&["threads"])),
    ("Reddit", Want::Services(&["reddit"])),
    ("Twitter", Want::Services(&["twitter"])),
    ("TikTok", Want::Services(&["tiktok"])),
    ("LinkedIn", Want::Services(&["linkedin"])),
    ("Bluesky", Want::Services(&["bluesky"])),
    ("Mastodon", Want::Services(&["mastodon"])),
    ("Badoo", Want::Services(&["badoo"])),
    ("Telegram", Want::Services(&["telegram"])),
    ("Apple", Want::Services(&["apple", "apple-update"])),
    ("AppleiCloud", Want::Services(&["icloud"])),
    ("AppleiTunes", Want::Services(&["apple-music", "apple-tv"])),
    ("AppleSiri", Want::Services(&["apple"])),
    ("Amazon", Want::Services(&["amazon", "amazon-ads"])),
    ("AmazonAWS", Want::Services(&["aws", "cloudfront"])),
    ("AmazonVideo", Want::Services(&["prime-video"])),
    ("DisneyPlus", Want::Services(&["disney-plus"])),
    ("Dazn", Want::Services(&["dazn"])),
    ("Hulu", Want::Services(&["hulu"])),
    ("Twitch", Want::Services(&["twitch"])),
    ("Vimeo", Want::Services(&["vimeo"])),
    ("iQIYI", Want::Services(&["iqiyi"])),
    ("Spotify", Want::Services(&["spotify"])),
    ("SoundCloud", Want::Services(&["soundcloud"])),
    ("Deezer", Want::Services(&["deezer"])),
    ("Pandora", Want::Services(&["pandora"])),
    ("LastFM", Want::Services(&["lastfm"])),
    ("Ookla", Want::Services(&["ookla"])),
    ("Playstation", Want::Services(&["playstation"])),
    ("Xbox", Want::Services(&["xbox"])),
    ("Activision", Want::Services(&["activision"])),
    ("ElectronicArts", Want::Services(&["ea"])),
    ("Wikipedia", Want::Services(&["wikipedia"])),
    ("GitLab", Want::Services(&["gitlab"])),
    ("eBay", Want::Services(&["ebay"])),
    ("CNN", Want::Services(&["cnn"])),
    ("Bloomberg", Want::Services(&["bloomberg"])),
    ("AccuWeather", Want::Services(&["accuweather"])),
    ("NordVPN", Want::Services(&["nordvpn"])),
    ("SurfShark", Want::Services(&["surfshark"])),
    ("HuaweiCloud", Want::Services(&["huawei-cloud"])),
    ("UbuntuONE", Want::Services(&["ubuntu"])),
    ("Dropbox", Want::Services(&["dropbox"])),
    ("Cloudflare", Want::Services(&["cloudflare"])),
    // DNS over HTTPS or TLS: the resolver's operator.
    ("DoH_DoT", Want::Services(&["cloudflare", "google"])),
    ("ADS_Analytic_Track", Want::Category(Category::Ads)),
    ("ntop", Want::NotCatalogued),
    ("IFLIX", Want::NotCatalogued),
    ("Likee", Want::NotCatalogued),
    ("Pastebin", Want::NotCatalogued),
    ("Fuze", Want::NotCatalogued),
    ("AdobeConnect", Want::NotCatalogued),
    ("Edgecast", Want::NotCatalogued),
    ("Tencent", Want::NotCatalogued),
];

/// nDPI labels that name a protocol, not an application.
const PROTOCOLS: &[&str] = &[
    "Unknown",
    "TLS",
    "HTTP",
    "DNS",
    "QUIC",
    "MDNS",
    "SSDP",
    "DHCP",
    "DHCPV6",
    "NetBIOS",
    "ICMP",
    "ICMPV6",
    "IGMP",
    "NTP",
    "STUN",
    "Radius",
    "IMAPS",
    "BitTorrent",
    "VRRP",
    "NAT-PMP",
    "SIP",
];

/// One flow line of a report.
#[derive(Debug)]
struct Flow {
    /// IP protocol number (6, 17) when TCP or UDP, else 0.
    proto: u8,
    /// Both ends, client first as nDPI prints them.
    ends: [Option<(IpAddr, u16)>; 2],
    /// The application label, if the flow has one.
    app: Option<String>,
    /// The label of `[IP: N/Label]`, unless `Unknown`.
    ip_app: Option<String>,
    host: Option<String>,
    bytes: u64,
}

/// The application in a `[proto: ...]` value: `91.133/TLS.NetFlix` →
/// `NetFlix`, `156/Spotify` → `Spotify`, `7/HTTP` → none. A tunnel prefix
/// (`GTP:189/Zoom`) is skipped.
fn app_of(proto: &str) -> Option<String> {
    let proto = proto.rsplit(':').next()?;
    let (_, names) = proto.split_once('/')?;
    let app = match names.split_once('.') {
        Some((_, app)) => app,
        None => names,
    };
    if PROTOCOLS.contains(&app) {
        None
    } else {
        Some(app.to_string())
    }
}

/// `1.2.3.4:80`, `[2a00::1]:443` or `1.2.3.4` → the address and port (0
/// when none).
fn addr_of(s: &str) -> Option<(IpAddr, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once(']')?;
        let port = p
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        return Some((a.parse().ok()?, port));
    }
    if let Ok(a) = s.parse() {
        return Some((a, 0));
    }
    let (a, p) = s.rsplit_once(':')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

/// The text of the first `[key: ...]` field.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("[{key}: "))? + key.len() + 3;
    let end = line[start..].find(']')? + start;
    Some(&line[start..end])
}

fn parse_report(text: &str) -> Vec<Flow> {
    let mut flows = Vec::new();
    for line in text.lines() {
        if !line.starts_with('\t') || !line.contains("[proto: ") {
            continue;
        }
        let mut cols = line.split('\t');
        let tuple = cols.nth(2).unwrap_or_default();
        let toks: Vec<&str> = tuple.split_whitespace().collect();
        let ends = [
            toks.get(1).and_then(|s| addr_of(s)),
            toks.get(3).and_then(|s| addr_of(s)),
        ];
        // [a pkts/B bytes <-> c pkts/D bytes]: B + D.
        let bytes = line
            .split(" pkts/")
            .skip(1)
            .take(2)
            .filter_map(|s| s.split(' ').next()?.parse::<u64>().ok())
            .sum();
        let ip_app = field(line, "IP")
            .and_then(|v| v.split_once('/'))
            .map(|(_, l)| l.to_string())
            .filter(|l| l != "Unknown");
        let proto = match toks.first() {
            Some(&"TCP") => 6,
            Some(&"UDP") => 17,
            _ => 0,
        };
        flows.push(Flow {
            proto,
            ends,
            app: field(line, "proto").and_then(app_of),
            ip_app,
            host: field(line, "Hostname/SNI").map(str::to_string),
            bytes,
        });
    }
    flows
}

fn want(label: &str) -> Want {
    match LABELS.iter().find(|(l, _)| *l == label) {
        Some((_, w)) => *w,
        None => {
            panic!("nDPI label {label:?} is not in LABELS: add what the catalog should say for it")
        }
    }
}

/// Whether the catalog's answer is one `want` accepts.
fn accepts(catalog: &Catalog, want: Want, got: Option<ServiceId>) -> bool {
    let Some(id) = got else {
        return false;
    };
    let s = catalog.service(id);
    match want {
        Want::Services(names) => names.contains(&s.name.as_str()),
        Want::Category(c) => s.category == c,
        Want::NotCatalogued => false,
    }
}

#[derive(Default)]
struct Tally {
    flows: u64,
    flows_ok: u64,
    bytes: u64,
    bytes_ok: u64,
    /// Flows of services left out of the catalog on purpose.
    skipped_flows: u64,
    skipped_bytes: u64,
    /// Flows without a name that nDPI labels, by address or by DPI.
    ip_flows: u64,
    ip_flows_ok: u64,
    ip_bytes: u64,
    ip_bytes_ok: u64,
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        100.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

#[test]
fn catalog_agrees_with_ndpi_on_named_flows() {
    let dir = Path::new(RESULTS);
    if !dir.is_dir() {
        eprintln!("skipped: no {RESULTS}");
        return;
    }
    let catalog = Catalog::builtin();
    let name_of =
        |id: Option<ServiceId>| id.map_or("-".to_string(), |id| catalog.service(id).name.clone());
    let mut reports: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "out"))
        .collect();
    reports.sort();
    assert!(reports.len() >= 30, "{} reports", reports.len());

    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut disagree: Vec<String> = Vec::new();
    let mut ip_disagree: Vec<String> = Vec::new();
    let mut uncatalogued_claims: Vec<String> = Vec::new();
    for path in &reports {
        let capture = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let t = tallies.entry(capture.clone()).or_default();
        for f in parse_report(&text) {
            let numeric = f.host.as_deref().and_then(|h| h.parse::<IpAddr>().ok());
            let named = f.host.is_some() && numeric.is_none();
            match (&f.app, &f.host) {
                (Some(app), Some(host)) => {
                    let w = want(app);
                    let got = match numeric {
                        Some(a) => catalog.match_ip_addr(a),
                        None => catalog.match_name(host),
                    };
                    if let Want::NotCatalogued = w {
                        t.skipped_flows += 1;
                        t.skipped_bytes += f.bytes;
                        if got.is_some() {
                            uncatalogued_claims.push(format!(
                                "{capture}: {host} (nDPI {app}) is {}",
                                name_of(got)
                            ));
                        }
                        continue;
                    }
                    t.flows += 1;
                    t.bytes += f.bytes;
                    if accepts(&catalog, w, got) {
                        t.flows_ok += 1;
                        t.bytes_ok += f.bytes;
                    } else {
                        disagree.push(format!(
                            "{capture}: {host} ({} bytes): nDPI {app}, catalog {}",
                            f.bytes,
                            name_of(got)
                        ));
                    }
                }
                _ if !named => {
                    // Without a name: what nDPI says of the address, or of
                    // the flow by DPI; the catalog's address, then port,
                    // rules.
                    let wants: Vec<Want> = [&f.ip_app, &f.app]
                        .into_iter()
                        .flatten()
                        .map(|l| want(l))
                        .filter(|w| !matches!(w, Want::NotCatalogued))
                        .collect();
                    if wants.is_empty() {
                        continue;
                    }
                    // The server is the second end; try the first too (nDPI
                    // does not always know which end served).
                    let got = f.ends.iter().rev().flatten().find_map(|&(a, port)| {
                        let v6 = match a {
                            IpAddr::V4(a) => a.to_ipv6_mapped(),
                            IpAddr::V6(a) => a,
                        };
                        catalog
                            .match_flow(None, &v6.octets(), f.proto, port)
                            .map(|(id, _)| id)
                    });
                    t.ip_flows += 1;
                    t.ip_bytes += f.bytes;
                    if wants.iter().any(|&w| accepts(&catalog, w, got)) {
                        t.ip_flows_ok += 1;
                        t.ip_bytes_ok += f.bytes;
                    } else {
                        let ends: Vec<String> = f
                            .ends
                            .iter()
                            .flatten()
                            .map(|(a, p)| format!("{a}:{p}"))
                            .collect();
                        ip_disagree.push(format!(
                            "{capture}: {} ({} bytes): nDPI {} / IP {}, catalog {}",
                            ends.join(" <-> "),
                            f.bytes,
                            f.app.as_deref().unwrap_or("-"),
                            f.ip_app.as_deref().unwrap_or("-"),
                            name_of(got)
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    println!("Named flows with an nDPI application label: catalog agreement");
    println!(
        "{:<42} {:>11} {:>9} {:>17} {:>9} {:>12}",
        "capture", "flows", "flows %", "bytes", "bytes %", "uncatalogued"
    );
    let (mut all_b, mut all_ok) = (0, 0);
    for (capture, t) in &tallies {
        if t.flows == 0 && t.skipped_flows == 0 {
            continue;
        }
        all_b += t.bytes;
        all_ok += t.bytes_ok;
        println!(
            "{capture:<42} {:>5}/{:<5} {:>8.1}% {:>8}/{:<8} {:>8.1}% {:>6} flows",
            t.flows_ok,
            t.flows,
            pct(t.flows_ok, t.flows),
            t.bytes_ok,
            t.bytes,
            pct(t.bytes_ok, t.bytes),
            t.skipped_flows
        );
    }
    println!(
        "all captures: {:.1}% of {all_b} named bytes",
        pct(all_ok, all_b)
    );
    println!("\nDisagreeing names ({}):", disagree.len());
    for d in &disagree {
        println!("  {d}");
    }
    if !uncatalogued_claims.is_empty() {
        println!("\nNames of uncatalogued services the catalog labels anyway:");
        for d in &uncatalogued_claims {
            println!("  {d}");
        }
    }

    println!(
        "\nFlows without a name that nDPI labels (by address, or by DPI): catalog address-then-port agreement"
    );
    let (mut ipb, mut ipok) = (0, 0);
    for (capture, t) in &tallies {
        if t.ip_flows == 0 {
            continue;
        }
        ipb += t.ip_bytes;
        ipok += t.ip_bytes_ok;
        println!(
            "{capture:<42} {:>5}/{:<5} flows {:>8}/{:<8} bytes {:>6.1}%",
            t.ip_flows_ok,
            t.ip_flows,
            t.ip_bytes_ok,
            t.ip_bytes,
            pct(t.ip_bytes_ok, t.ip_bytes)
        );
    }
    println!("all captures: {:.1}% of {ipb} bytes", pct(ipok, ipb));
    for d in &ip_disagree {
        println!("  {d}");
    }

    for capture in ASSERTED {
        let t = &tallies[capture];
        assert!(t.flows > 0, "{capture}: no named flows");
        let p = pct(t.bytes_ok, t.bytes);
        assert!(
            p >= 95.0,
            "{capture}: the catalog agrees with nDPI on {p:.1}% of named bytes (want 95%)"
        );
    }
    assert!(uncatalogued_claims.is_empty(), "{uncatalogued_claims:#?}");
}

#[test]
fn report_parsing() {
    let line = "\t4\tTCP 192.168.1.7:53133 <-> 52.89.39.139:443 [proto: 91.133/TLS.NetFlix][IP: 265/AmazonAWS][Encrypted][cat: Video/26][12 pkts/1221 bytes <-> 29 pkts/41018 bytes][Goodput ratio: 69/93][Hostname/SNI: api-global.netflix.com][Plen Bins: 5,5]";
    let f = &parse_report(line)[0];
    assert_eq!(f.app.as_deref(), Some("NetFlix"));
    assert_eq!(f.ip_app.as_deref(), Some("AmazonAWS"));
    assert_eq!(f.host.as_deref(), Some("api-global.netflix.com"));
    assert_eq!(f.bytes, 1221 + 41018);
    assert_eq!(f.ends[1], Some(("52.89.39.139".parse().unwrap(), 443)));
    assert_eq!(f.proto, 6);
    let line = "\t9\tUDP [2a00:1450::1]:443 -> [2001:db8::2]:5353 [proto: GTP:189/Zoom][IP: 0/Unknown][1 pkts/60 bytes -> 0 pkts/0 bytes]";
    let f = &parse_report(line)[0];
    assert_eq!(f.app.as_deref(), Some("Zoom"));
    assert_eq!(f.ip_app, None);
    assert_eq!(f.host, None);
    assert_eq!(f.bytes, 60);
    assert_eq!(f.ends[0], Some(("2a00:1450::1".parse().unwrap(), 443)));
    assert_eq!(addr_of("10.0.0.1"), Some(("10.0.0.1".parse().unwrap(), 0)));
    assert_eq!(app_of("7/HTTP"), None);
    assert_eq!(app_of("156/Spotify").as_deref(), Some("Spotify"));
    assert_eq!(
        app_of("78.38/STUN.Skype_TeamsCall").as_deref(),
        Some("Skype_TeamsCall")
    );
}
