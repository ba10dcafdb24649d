use super::parse::*;
use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn cat(text: &str) -> Catalog {
    Catalog::from_toml_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> CatalogError {
    Catalog::from_toml_str(text, "test.toml").expect_err("should be rejected")
}

fn name_of(c: &Catalog, id: Option<ServiceId>) -> Option<&str> {
    id.map(|id| c.service(id).name.as_str())
}

fn by_name<'a>(c: &'a Catalog, n: &str) -> Option<&'a str> {
    name_of(c, c.match_name(n))
}

fn by_ip<'a>(c: &'a Catalog, ip: &str) -> Option<&'a str> {
    name_of(c, c.match_ip_addr(ip.parse().unwrap()))
}

const SMALL: &str = r#"
[[service]]
name = "google"
display = "Google"
category = "web"
domains = ["google.com", "gstatic.com"]
patterns = ["**.google.*", "**.google.co.*"]
prefixes = ["142.250.0.0/15", "2a00:1450::/32"]

[[service]]
name = "youtube"
display = "YouTube"
category = "video"
domains = ["youtube.com", "googlevideo.com"]
patterns = ["yt*.ggpht.com", "r*---sn-*.c.google.com"]
prefixes = ["142.250.64.0/18", "2a00:1450:4001::/48"]

[[service]]
name = "ggpht"
display = "Google photos host"
category = "cdn"
domains = ["ggpht.com"]

[[service]]
name = "zoom"
display = "Zoom"
category = "conferencing"
domains = ["zoom.us"]
ports = ["udp/8801-8810", "tcp/8801-8802"]

[[service]]
name = "meet"
display = "Meet"
category = "conferencing"
ports = ["udp/8805"]
"#;

#[test]
fn domains_match_at_label_boundaries() {
    let c = cat(SMALL);
    assert_eq!(by_name(&c, "google.com"), Some("google"));
    assert_eq!(by_name(&c, "www.google.com"), Some("google"));
    assert_eq!(by_name(&c, "a.b.c.google.com"), Some("google"));
    assert_eq!(by_name(&c, "notgoogle.com"), None);
    assert_eq!(by_name(&c, "google.com.evil.net"), None);
    assert_eq!(by_name(&c, "oogle.com"), None);
    assert_eq!(by_name(&c, "com"), None);
    // Case and one trailing dot do not matter.
    assert_eq!(by_name(&c, "WWW.GOOGLE.COM."), Some("google"));
    // An HTTP Host's port.
    assert_eq!(by_name(&c, "www.google.com:8080"), Some("google"));
    assert_eq!(by_name(&c, "www.google.com.:80"), Some("google"));
    assert_eq!(by_name(&c, "www.youtube.com:"), None);
    assert_eq!(by_name(&c, "www.youtube.com:x80"), None);
    assert_eq!(by_name(&c, "Www.YouTube.Com"), Some("youtube"));
    assert_eq!(by_name(&c, ""), None);
    assert_eq!(by_name(&c, "."), None);
    assert_eq!(by_name(&c, "www.google.com.."), None);
    assert_eq!(by_name(&c, &"a.".repeat(200)), None);
    assert_eq!(
        by_name(&c, &format!("{}google.com", "a.".repeat(126))),
        None
    );
    assert_eq!(
        by_name(&c, &format!("{}.google.com", "a".repeat(60))),
        Some("google")
    );
    assert_eq!(by_name(&c, "..google.com"), Some("google"));
    assert_eq!(by_name(&c, "wwẃ.google.com"), Some("google"));
}

#[test]
fn the_longest_suffix_wins_and_patterns_rank_by_literal_length() {
    let c = cat(SMALL);
    assert_eq!(by_name(&c, "r4---sn-abc.googlevideo.com"), Some("youtube"));
    assert_eq!(by_name(&c, "googlevideo.com"), Some("youtube"));
    // yt*.ggpht.com (12 literal characters) beats ggpht.com (9).
    assert_eq!(by_name(&c, "yt3.ggpht.com"), Some("youtube"));
    assert_eq!(by_name(&c, "lh3.ggpht.com"), Some("ggpht"));
    // A pattern whose literal part is shorter than a matching domain
    // loses to it: **.google.* (8) against google.com (10).
    assert_eq!(by_name(&c, "www.google.com"), Some("google"));
    // Where no domain matches, patterns still do.
    assert_eq!(by_name(&c, "www.google.it"), Some("google"));
    assert_eq!(by_name(&c, "google.de"), Some("google"));
    assert_eq!(by_name(&c, "www.google.co.uk"), Some("google"));
    assert_eq!(by_name(&c, "google.it.evil"), None);
    assert_eq!(
        by_name(&c, "r1---sn-4g5e6nzz.c.google.com"),
        Some("youtube")
    );
    assert_eq!(by_name(&c, "r1---xx-4g5e6nzz.c.google.com"), Some("google"));
}

#[test]
fn a_domain_beats_a_pattern_of_equal_length_then_the_first_written_wins() {
    // `*.example.com` has 12 literal characters, as `x.example.com`
    // without its wildcard; `a.example.com` (13) is a domain.
    let c = cat(r#"
[[service]]
name = "pat"
display = "P"
category = "web"
patterns = ["*.example.com", "a*.example.com"]
[[service]]
name = "dom"
display = "D"
category = "web"
domains = ["example.com", "ab.example.com"]
[[service]]
name = "later"
display = "L"
category = "web"
patterns = ["*b.example.com"]
"#);
    // example.com (11) < *.example.com (12).
    assert_eq!(by_name(&c, "x.example.com"), Some("pat"));
    // a*.example.com (13) beats *.example.com (12).
    assert_eq!(by_name(&c, "ax.example.com"), Some("pat"));
    // ab.example.com: domain (14) beats a*.example.com and
    // *b.example.com (13).
    assert_eq!(by_name(&c, "ab.example.com"), Some("dom"));
    assert_eq!(by_name(&c, "x.ab.example.com"), Some("dom"));
    // *b.example.com and a*.example.com tie at 13: the one written
    // first wins.
    assert_eq!(by_name(&c, "axb.example.com"), Some("pat"));
    assert_eq!(by_name(&c, "xb.example.com"), Some("later"));
    assert_eq!(by_name(&c, "example.com"), Some("dom"));

    // Equal length, domain against pattern: `ab.example.com` both ways.
    let c = cat(r#"
[[service]]
name = "pat"
display = "P"
category = "web"
patterns = ["ab.example.com"]
[[service]]
name = "dom"
display = "D"
category = "web"
domains = ["ab.example.com"]
"#);
    assert_eq!(by_name(&c, "ab.example.com"), Some("dom"));
}

#[test]
fn glob_syntax() {
    let c = cat(r#"
[[service]]
name = "a"
display = "A"
category = "web"
patterns = [
  "instagram.**.fbcdn.net",
  "**.speedtest*.**",
  "*-cdn-*.example.org",
  "exact.example.net",
]
"#);
    assert_eq!(by_name(&c, "instagram.fmxp1-1.fna.fbcdn.net"), Some("a"));
    assert_eq!(by_name(&c, "instagram.fbcdn.net"), Some("a"));
    assert_eq!(by_name(&c, "scontent.fbcdn.net"), None);
    assert_eq!(by_name(&c, "speedtest.example.it"), Some("a"));
    assert_eq!(by_name(&c, "massarosa-1.speedtest1.isp.it"), Some("a"));
    assert_eq!(by_name(&c, "speedtest"), Some("a"));
    assert_eq!(by_name(&c, "myspeedtest.isp.it"), None);
    assert_eq!(by_name(&c, "eu-cdn-01.example.org"), Some("a"));
    assert_eq!(by_name(&c, "-cdn-.example.org"), Some("a"));
    assert_eq!(by_name(&c, "eu-cdn-01.x.example.org"), None);
    assert_eq!(by_name(&c, "eucdn01.example.org"), None);
    // Without a wildcard, a pattern is one exact name.
    assert_eq!(by_name(&c, "exact.example.net"), Some("a"));
    assert_eq!(by_name(&c, "www.exact.example.net"), None);

    let star = |p: &str, s: &str| glob_label(p.as_bytes(), s.as_bytes());
    assert!(star("*", ""));
    assert!(star("a*b*c", "aXXbYYc"));
    assert!(star("a*b*c", "abc"));
    assert!(star("*abc", "ababc"));
    assert!(!star("a*b*c", "aXXbYY"));
    assert!(!star("abc", "abcd"));
    assert!(star("r*---sn-*", "r5---sn-25ge7nsk"));
}

#[test]
fn ipv4_and_ipv6_longest_prefix() {
    let c = cat(SMALL);
    assert_eq!(by_ip(&c, "142.250.1.1"), Some("google"));
    assert_eq!(by_ip(&c, "142.250.64.0"), Some("youtube"));
    assert_eq!(by_ip(&c, "142.250.127.255"), Some("youtube"));
    assert_eq!(by_ip(&c, "142.250.128.0"), Some("google"));
    assert_eq!(by_ip(&c, "142.251.255.255"), Some("google"));
    assert_eq!(by_ip(&c, "142.252.0.0"), None);
    assert_eq!(by_ip(&c, "142.249.255.255"), None);
    assert_eq!(by_ip(&c, "2a00:1450:4001:803::1012"), Some("youtube"));
    assert_eq!(by_ip(&c, "2a00:1450:4007:805::2001"), Some("google"));
    assert_eq!(by_ip(&c, "2a00:1451::1"), None);
    // An IPv6 address with the same low bits is not the IPv4 one.
    assert_eq!(by_ip(&c, "::142.250.1.1"), None);
    assert_eq!(by_ip(&c, "::ffff:142.250.1.1"), Some("google"));
    let mapped = Ipv4Addr::new(142, 250, 70, 1).to_ipv6_mapped().octets();
    assert_eq!(name_of(&c, c.match_ip(&mapped)), Some("youtube"));
}

#[test]
fn nested_and_edge_prefixes() {
    let c = cat(r#"
[[service]]
name = "all"
display = "All"
category = "other"
prefixes = ["::/0", "10.0.0.0/8", "10.1.2.3", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"]
[[service]]
name = "mid"
display = "Mid"
category = "other"
prefixes = ["10.1.0.0/16", "10.255.255.0/24", "10.0.0.0/32", "::ffff:0.0.0.0/96"]
[[service]]
name = "top"
display = "Top"
category = "other"
prefixes = ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"]
"#);
    assert_eq!(by_ip(&c, "10.0.0.0"), Some("mid"));
    assert_eq!(by_ip(&c, "10.0.0.1"), Some("all"));
    assert_eq!(by_ip(&c, "10.1.2.2"), Some("mid"));
    assert_eq!(by_ip(&c, "10.1.2.3"), Some("all"));
    assert_eq!(by_ip(&c, "10.1.2.4"), Some("mid"));
    assert_eq!(by_ip(&c, "10.2.0.0"), Some("all"));
    assert_eq!(by_ip(&c, "10.255.255.255"), Some("mid"));
    assert_eq!(by_ip(&c, "11.0.0.0"), Some("mid"));
    assert_eq!(by_ip(&c, "2001:db8::1"), Some("all"));
    assert_eq!(by_ip(&c, "::"), Some("all"));
    assert_eq!(
        by_ip(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
        Some("all")
    );
    assert_eq!(
        by_ip(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        Some("top")
    );
    assert_eq!(
        by_ip(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff"),
        Some("all")
    );
}

/// Longest-prefix match against a plain scan over random prefixes.
#[test]
fn range_table_agrees_with_a_linear_scan() {
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..40 {
        let mut text = String::new();
        let mut all: Vec<(Prefix, usize)> = Vec::new();
        for s in 0..4 {
            text += &format!(
                "[[service]]\nname = \"s{s}\"\ndisplay = \"S\"\ncategory = \"other\"\nprefixes = ["
            );
            for _ in 0..(1 + round % 12) {
                let len = rng.u8(0..=16);
                let addr = u32::from(rng.u8(..)) << 24 | u32::from(rng.u8(..)) << 16;
                let net = if len == 0 {
                    0
                } else {
                    addr & (u32::MAX << (32 - len))
                };
                let p = parse_prefix(&format!("{}/{len}", Ipv4Addr::from(net))).unwrap();
                if all.iter().any(|(q, _)| *q == p) {
                    continue;
                }
                all.push((p, s));
                text += &format!("\"{}/{len}\",", Ipv4Addr::from(net));
            }
            text += "]\n";
        }
        let c = cat(&text);
        for _ in 0..500 {
            let a = Ipv4Addr::from(rng.u32(..));
            let want = all
                .iter()
                .filter(|(p, _)| {
                    let x = u128::from_be_bytes(a.to_ipv6_mapped().octets());
                    p.start <= x && x <= p.end()
                })
                .max_by_key(|(p, _)| p.len)
                .map(|(_, s)| format!("s{s}"));
            assert_eq!(by_ip(&c, &a.to_string()), want.as_deref(), "{a} in\n{text}");
        }
    }
}

#[test]
fn ports_narrowest_range_wins() {
    let c = cat(SMALL);
    let port = |p, n| name_of(&c, c.match_port(p, n));
    assert_eq!(port(PROTO_UDP, 8801), Some("zoom"));
    assert_eq!(port(PROTO_UDP, 8805), Some("meet"));
    assert_eq!(port(PROTO_UDP, 8806), Some("zoom"));
    assert_eq!(port(PROTO_UDP, 8810), Some("zoom"));
    assert_eq!(port(PROTO_UDP, 8811), None);
    assert_eq!(port(PROTO_TCP, 8802), Some("zoom"));
    assert_eq!(port(PROTO_TCP, 8805), None);
    assert_eq!(port(1, 8801), None);
    let ip = Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets();
    let google = Ipv4Addr::new(142, 250, 1, 1).to_ipv6_mapped().octets();
    let id = |n| c.by_name(n).unwrap();
    assert_eq!(
        c.match_flow(Some("zoom.us"), &google, PROTO_UDP, 8801),
        Some((id("zoom"), MatchedBy::Name))
    );
    assert_eq!(
        c.match_flow(Some("unknown.example"), &google, PROTO_UDP, 8801),
        Some((id("google"), MatchedBy::Ip))
    );
    assert_eq!(
        c.match_flow(None, &ip, PROTO_UDP, 8801),
        Some((id("zoom"), MatchedBy::Port))
    );
    assert_eq!(c.match_flow(None, &ip, PROTO_UDP, 53), None);
}

#[test]
fn user_file_adds_overrides_and_replaces() {
    let base = Catalog::builtin();
    let user = r#"
# A local service, and two changes to built-in ones.
[[service]]
name = "intranet"
display = "Intranet"
category = "productivity"
domains = ["corp.example", "netflix.com"]
prefixes = ["10.0.0.0/8", "23.246.0.0/18"]
ports = ["udp/8801"]

[[service]]
name = "youtube"
display = "YouTube (user)"
domains = ["tube.corp.example"]

[[service]]
name = "zoom"
category = "video"
replace = true
domains = ["zoom.corp.example"]
"#;
    let c = Catalog::with_user_str(user, "user.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.len(), base.len() + 1);
    // Added.
    assert_eq!(by_name(&c, "wiki.corp.example"), Some("intranet"));
    assert_eq!(by_ip(&c, "10.1.2.3"), Some("intranet"));
    // Same domain or prefix as a built-in rule: the user's wins.
    assert_eq!(by_name(&c, "www.netflix.com"), Some("intranet"));
    assert_eq!(by_ip(&c, "23.246.11.141"), Some("intranet"));
    assert_eq!(name_of(&c, c.match_port(PROTO_UDP, 8801)), Some("intranet"));
    // A longer built-in rule still wins over a shorter user one.
    assert_eq!(by_name(&c, "art-1.nflximg.net"), Some("netflix"));
    // Extended: the built-in rules stay, the user's are added.
    let yt = c.service(c.by_name("youtube").unwrap());
    assert_eq!(yt.display, "YouTube (user)");
    assert_eq!(yt.category, Category::Video);
    assert_eq!(by_name(&c, "www.youtube.com"), Some("youtube"));
    assert_eq!(by_name(&c, "x.tube.corp.example"), Some("youtube"));
    // Replaced: only the user's rules are left.
    let zoom = c.service(c.by_name("zoom").unwrap());
    assert_eq!(
        (zoom.display.as_str(), zoom.category),
        ("Zoom", Category::Video)
    );
    assert_eq!(by_name(&c, "zoom.corp.example"), Some("zoom"));
    assert_eq!(by_name(&c, "us02web.zoom.us"), None);
    assert_eq!(by_ip(&c, "170.114.10.1"), None);
    assert_eq!(name_of(&c, c.match_port(PROTO_UDP, 8802)), None);
    // Ids of built-in services do not move.
    for (id, s) in base.iter() {
        assert_eq!(c.by_name(&s.name), Some(id));
    }

    // The file way, and its errors.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("services.toml");
    std::fs::write(&path, user).unwrap();
    let c = Catalog::with_user_file(&path).unwrap();
    assert_eq!(by_name(&c, "corp.example"), Some("intranet"));
    std::fs::write(&path, "[[service]]\nname = \"x\"\ncategory = \"web\"\n").unwrap();
    let e = Catalog::with_user_file(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(1), Some("service[0].display"))
    );
    let e = Catalog::with_user_file(dir.path().join("missing.toml")).unwrap_err();
    assert!(e.message.starts_with("cannot read"), "{e}");
}

#[test]
fn bad_files_name_line_and_field() {
    let head = "[[service]]\nname = \"a\"\ndisplay = \"A\"\ncategory = \"web\"\n";
    let check = |body: &str, line: usize, key: &str, needle: &str| {
        let e = err(&format!("{head}{body}"));
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("test.toml:{line}: `{key}`: ")),
            "{e}"
        );
    };
    check(
        "prefixes = [\"10.0.0.0/8\",\n  \"10.1.0.0/33\"]\n",
        6,
        "service[0].prefixes",
        "prefix length \"33\"",
    );
    check(
        "prefixes = [\"10.0.0.1/8\"]\n",
        5,
        "service[0].prefixes",
        "host bits set: the network is 10.0.0.0/8",
    );
    check(
        "prefixes = [\"2001:db8::1/32\"]\n",
        5,
        "service[0].prefixes",
        "network is 2001:db8::/32",
    );
    check(
        "prefixes = [\"10.0.0/8\"]\n",
        5,
        "service[0].prefixes",
        "not an IPv4 or IPv6 address",
    );
    check(
        "domains = [\"ok.com\", \"*.bad.com\"]\n",
        5,
        "service[0].domains",
        "belong in `patterns`",
    );
    check(
        "domains = [\"a..com\"]\n",
        5,
        "service[0].domains",
        "empty label",
    );
    check(
        "domains = [\"a b.com\"]\n",
        5,
        "service[0].domains",
        "character ' '",
    );
    check(
        "patterns = [\"a**.com\"]\n",
        5,
        "service[0].patterns",
        "whole label",
    );
    check(
        "patterns = [\"*.*\"]\n",
        5,
        "service[0].patterns",
        "matches too much",
    );
    check("ports = [\"tcp/0\"]\n", 5, "service[0].ports", "not a port");
    check(
        "ports = [\"sctp/5\"]\n",
        5,
        "service[0].ports",
        "must be `tcp/PORT`",
    );
    check("ports = [\"udp/9-8\"]\n", 5, "service[0].ports", "is empty");
    check(
        "colour = \"red\"\n",
        5,
        "service[0].colour",
        "unknown field `colour`",
    );
    check(
        "domains = \"a.com\"\n",
        5,
        "service[0].domains",
        "invalid type",
    );
    // Wrong values in the entry's own fields, in a later entry.
    let two = |body: &str| format!("{head}\n[[service]]\n{body}");
    let e = err(&two(
        "name = \"b\"\ndisplay = \"B\"\ncategory = \"vidoe\"\n",
    ));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(9), Some("service[1].category"))
    );
    assert!(
        e.message
            .contains("\"vidoe\" (service \"b\"): is not one of video,"),
        "{e}"
    );
    let e = err(&two("name = \"B\"\ndisplay = \"B\"\ncategory = \"web\"\n"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(7), Some("service[1].name"))
    );
    let e = err(&two("name = \"a\"\ndisplay = \"B\"\ncategory = \"web\"\n"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(7), Some("service[1].name"))
    );
    assert!(e.message.contains("already defined on line 2"), "{e}");
    let e = err(&two("display = \"B\"\ncategory = \"web\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("service[1]")));
    assert!(e.message.contains("missing field `name`"), "{e}");
    let e = err(&two("name = \"b\"\ncategory = \"web\"\n"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(6), Some("service[1].display"))
    );
    // The same rule twice in one file, even for two services.
    let e = err(&format!(
        "{head}domains = [\"x.com\"]\n[[service]]\nname = \"b\"\ndisplay = \"B\"\ncategory = \"web\"\ndomains = [\"X.com.\"]\n"
    ));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(10), Some("service[1].domains"))
    );
    assert!(
        e.message
            .contains("already listed on line 5 (service \"a\")"),
        "{e}"
    );
    let e = err(&format!(
        "{head}prefixes = [\"10.0.0.0/8\", \"::ffff:10.0.0.0/104\"]\n"
    ));
    assert!(e.message.contains("already listed"), "{e}");
    let e = err("[[service]]\nname = \"a\"\ndisplay = \"A\"\ncategory = \"web\"\n[oops\n");
    assert_eq!(e.line, Some(5), "{e}");
    let e = err("services = []\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(1), Some("services")),
        "{e}"
    );
}

/// Every built-in entry parses and is well formed; a bad entry fails
/// here with its line and field.
#[test]
fn builtin_catalog_is_valid() {
    let layer = parse_layer(BUILTIN_TEXT, BUILTIN_ORIGIN).unwrap_or_else(|e| panic!("{e}"));
    let c = Catalog::builtin();
    assert!(c.len() >= 80, "{} services", c.len());
    for def in &layer.services {
        assert!(def.display.is_some(), "{}: no display", def.name);
        assert!(def.category.is_some(), "{}: no category", def.name);
        assert!(!def.replace, "{}: replace in the built-in file", def.name);
        assert!(
            !def.domains.is_empty() || !def.patterns.is_empty() || !def.prefixes.is_empty(),
            "{}: no rule",
            def.name
        );
        // Every domain names its own service (no rule shadowed by a
        // longer one of another service at the same name).
        for d in &def.domains {
            let d = std::str::from_utf8(d).unwrap();
            assert_eq!(by_name(&c, d), Some(def.name.as_str()), "domain {d}");
        }
        // A network is its service's at its first or its last address:
        // a longer prefix of another service may sit at one end of it,
        // never cover it.
        for p in &def.prefixes {
            let ends = [p.start, p.end()].map(|a| c.match_ip(&a.to_be_bytes()));
            assert!(
                ends.iter()
                    .any(|&id| name_of(&c, id) == Some(def.name.as_str())),
                "{}: prefix {}/{} is another service's at both ends",
                def.name,
                Ipv6Addr::from(p.start),
                p.len
            );
        }
    }
    // Every prefix string was parsed and checked above (a bad one fails
    // `parse_layer` with its line); make sure the lists are all there.
    let cidrs: usize = layer.services.iter().map(|d| d.prefixes.len()).sum();
    assert!(cidrs >= 300, "{cidrs} prefixes");
    // Names the rest of the appliance relies on.
    for n in [
        "netflix",
        "youtube",
        "zoom",
        "teams",
        "google",
        "facebook",
        "instagram",
        "reddit",
    ] {
        assert!(c.by_name(n).is_some(), "{n}");
    }
}

#[test]
fn builtin_spot_checks() {
    let c = Catalog::builtin();
    for (name, want) in [
        ("r3---sn-25glene6.googlevideo.com", "youtube"),
        ("www.google.com", "google"),
        ("yt3.ggpht.com", "youtube"),
        ("lh3.ggpht.com", "google"),
        ("googleads.g.doubleclick.net", "google-ads"),
        ("adservice.google.fr", "google-ads"),
        ("www.google.fr", "google"),
        ("api-global.netflix.com", "netflix"),
        ("ipv4-c001-lhr001-ix.1.oca.nflxvideo.net", "netflix"),
        ("scontent-mxp1-1.cdninstagram.com", "instagram"),
        ("instagram.fmxp1-1.fna.fbcdn.net", "instagram"),
        ("scontent.fmxp1-1.fna.fbcdn.net", "facebook"),
        ("igcdn-photos-a-a.akamaihd.net", "instagram"),
        ("a1907.dscg.akamai.net", "akamai"),
        ("config.teams.microsoft.com", "teams"),
        ("login.microsoftonline.com", "microsoft365"),
        ("www.microsoft.com", "microsoft"),
        ("zoomfrn99mmr.zoom.us", "zoom"),
        ("preview.redd.it", "reddit"),
        ("captive.apple.com", "apple"),
        ("mesu.apple.com", "apple-update"),
        ("gateway.icloud.com", "icloud"),
        ("massarosa-1.speedtest.welcomeitalia.it", "ookla"),
        ("d1234.cloudfront.net", "cloudfront"),
        ("s3.amazonaws.com", "aws"),
    ] {
        assert_eq!(by_name(&c, name), Some(want), "{name}");
    }
    for (ip, want) in [
        ("23.246.11.141", Some("netflix")),
        ("2a00:86c0:2040::1", Some("netflix")),
        ("8.8.8.8", Some("google")),
        ("2a03:2880:f003:c07:face:b00c::2", Some("meta")),
        ("162.255.37.14", Some("zoom")),
        ("52.114.250.152", Some("teams")),
        ("17.253.53.201", Some("apple")),
        ("104.16.124.96", Some("cloudflare")),
        ("151.101.1.140", Some("fastly")),
        ("13.225.84.182", Some("cloudfront")),
        ("52.89.39.139", Some("aws")),
        ("192.168.1.1", None),
        ("10.0.0.1", None),
    ] {
        assert_eq!(by_ip(&c, ip), want, "{ip}");
    }
    assert_eq!(name_of(&c, c.match_port(PROTO_UDP, 8801)), Some("zoom"));
    assert_eq!(c.match_port(PROTO_TCP, 443), None);
    assert_eq!(c.match_port(PROTO_UDP, 53), None);
}
