//! The service catalog: which service a flow belongs to, from its server
//! name (TLS or QUIC SNI, HTTP Host, DNS name), its server address, or —
//! weakest — its transport port.
//!
//! The built-in catalog is `appliance/classify/data/services.toml`, compiled into
//! the binary; its header documents the file format. An operator's own file
//! of the same format is merged over it ([`Catalog::with_user_file`]).
//!
//! # Rules and precedence
//!
//! A flow is labelled by the first of these that gives an answer
//! ([`Catalog::match_flow`]): its server name, then its server address,
//! then its server port.
//!
//! **Names** ([`Catalog::match_name`]) are compared in lower case, without
//! a trailing dot or an HTTP Host's `:port`. A `domains` entry matches the name itself and every
//! name below it, at label boundaries (`netflix.com` matches `netflix.com`
//! and `www.netflix.com`, not `notnetflix.com`). A `patterns` entry is a
//! glob matched against the whole name. Among all rules that match, the one
//! ranked highest wins, comparing in order:
//!
//! 1. specificity: a domain's length, or a pattern's length without its `*`
//!    characters; longer wins (`googlevideo.com`, 15, beats `google.com`);
//! 2. kind: a domain beats a pattern of equal specificity;
//! 3. file: the user's file beats the built-in one;
//! 4. position: the rule written first in its file wins.
//!
//! **Addresses** ([`Catalog::match_ip`]): the longest matching prefix wins;
//! for the same prefix, the user's file wins. IPv4 addresses and prefixes
//! live in the IPv4-mapped IPv6 space (`::ffff:a.b.c.d`).
//!
//! **Ports** ([`Catalog::match_port`]): the narrowest matching range wins,
//! then the user's file, then the rule written first.
//!
//! # Merging a user's file
//!
//! A user `[[service]]` with a new `name` adds a service (it needs `display`
//! and `category`). One with a built-in `name` changes that service: a given
//! `display` or `category` replaces the built-in one, and its rules are
//! added to the built-in ones — or, with `replace = true`, replace them.
//! A user rule naming the same domain or prefix as a built-in one of
//! another service takes it over (rule 3 above).
//!
//! # Cost
//!
//! A name costs one hash lookup per label suffix (the map holds every
//! domain, and every pattern under its trailing wildcard-free labels), plus
//! a match of the few patterns found that could outrank the best rule so
//! far; no allocation. An address costs a binary search over disjoint
//! ranges, a port a binary search over disjoint port ranges.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

/// The built-in catalog's text.
pub const BUILTIN_TEXT: &str = include_str!("../data/services.toml");

/// How errors name the built-in catalog.
pub const BUILTIN_ORIGIN: &str = "<built-in>/services.toml";

/// IP protocol numbers [`Catalog::match_port`] knows.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// Names longer than this never match (a DNS name has at most 253).
const MAX_NAME: usize = 255;

/// A service's index in its catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

impl ServiceId {
    /// The index into the catalog's services.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What kind of service it is. The file spells them as [`Category::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Video,
    Music,
    Conferencing,
    Social,
    Messaging,
    Gaming,
    Cdn,
    Cloud,
    Web,
    Ads,
    OsUpdate,
    AppStore,
    Productivity,
    Storage,
    Shopping,
    News,
    Vpn,
    Speedtest,
    Other,
}

impl Category {
    /// Every category, in the order the file's header lists them.
    pub const ALL: [Category; 19] = [
        Category::Video,
        Category::Music,
        Category::Conferencing,
        Category::Social,
        Category::Messaging,
        Category::Gaming,
        Category::Cdn,
        Category::Cloud,
        Category::Web,
        Category::Ads,
        Category::OsUpdate,
        Category::AppStore,
        Category::Productivity,
        Category::Storage,
        Category::Shopping,
        Category::News,
        Category::Vpn,
        Category::Speedtest,
        Category::Other,
    ];

    /// The stable name, as written in the file and in the output tables.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Video => "video",
            Category::Music => "music",
            Category::Conferencing => "conferencing",
            Category::Social => "social",
            Category::Messaging => "messaging",
            Category::Gaming => "gaming",
            Category::Cdn => "cdn",
            Category::Cloud => "cloud",
            Category::Web => "web",
            Category::Ads => "ads",
            Category::OsUpdate => "os-update",
            Category::AppStore => "app-store",
            Category::Productivity => "productivity",
            Category::Storage => "storage",
            Category::Shopping => "shopping",
            Category::News => "news",
            Category::Vpn => "vpn",
            Category::Speedtest => "speedtest",
            Category::Other => "other",
        }
    }

    /// The category spelled `s`, if any.
    pub fn from_name(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One service of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Stable identifier, e.g. `netflix`: what the output tables carry.
    pub name: String,
    /// For people, e.g. `Netflix`.
    pub display: String,
    pub category: Category,
}

/// Which rule labelled a flow ([`Catalog::match_flow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchedBy {
    Name,
    Ip,
    Port,
}

/// A catalog file problem, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// The file, as its origin name was given.
    pub file: String,
    pub line: Option<usize>,
    /// The entry and field, e.g. `service[3].prefixes`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CatalogError {}

/// A service catalog, ready to match.
#[derive(Clone, Debug)]
pub struct Catalog {
    services: Vec<Service>,
    by_name: HashMap<String, ServiceId>,
    /// Domain or pattern anchor (lower case, no trailing dot) → its rules.
    names: HashMap<Box<[u8]>, NameEntry, foldhash::fast::RandomState>,
    patterns: Vec<PatternRule>,
    /// Patterns that end in a wildcard label, best first.
    unanchored: Vec<u32>,
    /// Disjoint address ranges, sorted: `ip_starts[i]..=ip_ends[i]` is
    /// `ip_services[i]`'s.
    ip_starts: Vec<u128>,
    ip_ends: Vec<u128>,
    ip_services: Vec<ServiceId>,
    tcp: PortTable,
    udp: PortTable,
}

impl Catalog {
    /// The built-in catalog. Its text is parsed once per process.
    pub fn builtin() -> Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                build(&[builtin_layer()]).unwrap_or_else(|e| panic!("built-in catalog: {e}"))
            })
            .clone()
    }

    /// A catalog of this text alone; `origin_name` names it in errors.
    pub fn from_toml_str(text: &str, origin_name: &str) -> Result<Catalog, CatalogError> {
        build(&[&parse_layer(text, origin_name)?])
    }

    /// The built-in catalog with the user's file at `path` merged over it.
    pub fn with_user_file(path: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError {
            file: origin.clone(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Catalog::with_user_str(&text, &origin)
    }

    /// The built-in catalog with this user text merged over it.
    pub fn with_user_str(text: &str, origin_name: &str) -> Result<Catalog, CatalogError> {
        let user = parse_layer(text, origin_name)?;
        build(&[builtin_layer(), &user])
    }

    /// The service of a server name (case-insensitive, trailing dot
    /// ignored, as is an HTTP Host's `:port`), by the best-ranked domain or
    /// pattern that matches it.
    pub fn match_name(&self, name: &str) -> Option<ServiceId> {
        let raw = name.as_bytes();
        let raw = match raw.iter().rposition(|&b| b == b':') {
            Some(i) if i + 1 < raw.len() && raw[i + 1..].iter().all(u8::is_ascii_digit) => {
                &raw[..i]
            }
            _ => raw,
        };
        let raw = raw.strip_suffix(b".").unwrap_or(raw);
        if raw.is_empty() || raw.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let name = &mut buf[..raw.len()];
        for (d, s) in name.iter_mut().zip(raw) {
            *d = s.to_ascii_lowercase();
        }
        let name = &*name;
        // Label spans; 255 bytes hold at most 256 (empty) labels.
        let mut spans = [(0u8, 0u8); MAX_NAME + 1];
        let mut n = 0;
        let mut start = 0;
        for (i, &b) in name.iter().enumerate() {
            if b == b'.' {
                spans[n] = (start as u8, i as u8);
                n += 1;
                start = i + 1;
            }
        }
        spans[n] = (start as u8, name.len() as u8);
        let labels = &spans[..n + 1];

        let mut best: Option<(Rank, ServiceId)> = None;
        // Suffixes from the whole name to its last label: the first domain
        // found is the longest.
        for &(s, _) in labels {
            let Some(entry) = self.names.get(&name[s as usize..]) else {
                continue;
            };
            if let Some((id, rank)) = entry.domain {
                if best.is_none_or(|(b, _)| rank > b) {
                    best = Some((rank, id));
                }
            }
            self.best_pattern(&entry.patterns, name, labels, &mut best);
        }
        self.best_pattern(&self.unanchored, name, labels, &mut best);
        best.map(|(_, id)| id)
    }

    /// The service of a server address (IPv4 as `::ffff:a.b.c.d`), by the
    /// longest matching prefix.
    #[inline]
    pub fn match_ip(&self, ip: &[u8; 16]) -> Option<ServiceId> {
        let a = u128::from_be_bytes(*ip);
        let i = self.ip_starts.partition_point(|&s| s <= a);
        if i > 0 && a <= self.ip_ends[i - 1] {
            Some(self.ip_services[i - 1])
        } else {
            None
        }
    }

    /// [`Catalog::match_ip`] for a `std` address.
    pub fn match_ip_addr(&self, ip: IpAddr) -> Option<ServiceId> {
        let v6 = match ip {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        };
        self.match_ip(&v6.octets())
    }

    /// The service of a server port of IP protocol `proto` (6 TCP, 17 UDP;
    /// others never match), by the narrowest matching range.
    #[inline]
    pub fn match_port(&self, proto: u8, port: u16) -> Option<ServiceId> {
        match proto {
            PROTO_TCP => self.tcp.get(port),
            PROTO_UDP => self.udp.get(port),
            _ => None,
        }
    }

    /// A flow's service: by its server name if it has one that matches,
    /// else by its server address, else by its server port.
    pub fn match_flow(
        &self,
        name: Option<&str>,
        server_ip: &[u8; 16],
        proto: u8,
        server_port: u16,
    ) -> Option<(ServiceId, MatchedBy)> {
        if let Some(id) = name.and_then(|n| self.match_name(n)) {
            return Some((id, MatchedBy::Name));
        }
        if let Some(id) = self.match_ip(server_ip) {
            return Some((id, MatchedBy::Ip));
        }
        self.match_port(proto, server_port)
            .map(|id| (id, MatchedBy::Port))
    }

    /// The service `id` names. Panics if `id` is not of this catalog.
    #[inline]
    pub fn service(&self, id: ServiceId) -> &Service {
        &self.services[id.index()]
    }

    /// The service called `name` (its stable name, e.g. `netflix`).
    pub fn by_name(&self, name: &str) -> Option<ServiceId> {
        self.by_name.get(name).copied()
    }

    /// Every service with its id.
    pub fn iter(&self) -> impl Iterator<Item = (ServiceId, &Service)> {
        self.services
            .iter()
            .enumerate()
            .map(|(i, s)| (ServiceId(i as u16), s))
    }

    /// The number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Tries `list` (best first) against the name; the first match is the
    /// list's best, kept if it outranks `best`.
    fn best_pattern(
        &self,
        list: &[u32],
        name: &[u8],
        labels: &[(u8, u8)],
        best: &mut Option<(Rank, ServiceId)>,
    ) {
        for &i in list {
            let p = &self.patterns[i as usize];
            if best.is_some_and(|(b, _)| p.rank <= b) {
                return;
            }
            if match_labels(&p.labels, name, labels) {
                *best = Some((p.rank, p.service));
                return;
            }
        }
    }
}

/// How a rule ranks against another matching the same name, address or
/// port (field order is the comparison order; greater wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// Domain length, pattern literal length, or for ports
    /// `65535 - width`.
    specificity: u16,
    /// A domain (true) beats a pattern (false).
    exact: bool,
    /// Later files (the user's) win.
    layer: u8,
    /// `u32::MAX - position in its file`: earlier rules win.
    order: u32,
}

#[derive(Clone, Debug, Default)]
struct NameEntry {
    domain: Option<(ServiceId, Rank)>,
    /// Patterns anchored here, best first.
    patterns: Vec<u32>,
}

#[derive(Clone, Debug)]
struct PatternRule {
    labels: Box<[GlobLabel]>,
    service: ServiceId,
    rank: Rank,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum GlobLabel {
    /// `**`: any number of whole labels, none included.
    Labels,
    /// Characters of one label; `*` is any run of them.
    Chars(Box<[u8]>),
}

#[derive(Clone, Debug, Default)]
struct PortTable {
    starts: Vec<u16>,
    ends: Vec<u16>,
    services: Vec<ServiceId>,
}

impl PortTable {
    #[inline]
    fn get(&self, port: u16) -> Option<ServiceId> {
        let i = self.starts.partition_point(|&s| s <= port);
        (i > 0 && port <= self.ends[i - 1]).then(|| self.services[i - 1])
    }
}

/// Whether the pattern's labels match the name's (`labels` are byte spans
/// of `name`). Greedy with backtracking to the last `**`, as a glob
/// matcher does with `*`: each other pattern label takes exactly one name
/// label.
fn match_labels(pat: &[GlobLabel], name: &[u8], labels: &[(u8, u8)]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    while n < labels.len() {
        let (s, e) = labels[n];
        match pat.get(p) {
            Some(GlobLabel::Labels) => {
                back = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some(GlobLabel::Chars(g)) if glob_label(g, &name[s as usize..e as usize]) => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match back {
            Some((bp, bn)) => {
                p = bp;
                n = bn + 1;
                back = Some((bp, bn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|l| *l == GlobLabel::Labels)
}

/// Whether one label matches a label glob (`*` = any run of characters).
fn glob_label(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && pat[p] == b'*' {
            back = Some((p + 1, i));
            p += 1;
        } else if p < pat.len() && pat[p] == s[i] {
            p += 1;
            i += 1;
        } else if let Some((bp, bi)) = back {
            p = bp;
            i = bi + 1;
            back = Some((bp, bi + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

// ---------------------------------------------------------------------------
// Parsing one file.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    #[serde(default)]
    service: Vec<ServiceRepr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRepr {
    name: Spanned<String>,
    display: Option<Spanned<String>>,
    category: Option<Spanned<String>>,
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    ports: Vec<Spanned<String>>,
}

/// One file, checked: what the merge works from.
#[derive(Clone, Debug)]
struct Layer {
    origin: String,
    services: Vec<ServiceDef>,
}

#[derive(Clone, Debug)]
struct ServiceDef {
    name: String,
    display: Option<String>,
    category: Option<Category>,
    replace: bool,
    /// Where errors about the whole entry point: its header line and key.
    line: usize,
    key: String,
    domains: Vec<Box<[u8]>>,
    patterns: Vec<Glob>,
    prefixes: Vec<Prefix>,
    ports: Vec<PortRange>,
}

#[derive(Clone, Debug)]
struct Glob {
    labels: Box<[GlobLabel]>,
    specificity: u16,
    /// The trailing wildcard-free labels, if the last label has none.
    anchor: Option<Box<[u8]>>,
}

/// A network in the IPv6 space (IPv4 ones mapped), `len` bits long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Prefix {
    start: u128,
    len: u8,
}

impl Prefix {
    fn end(self) -> u128 {
        self.start | !mask(self.len)
    }
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PortRange {
    proto: u8,
    lo: u16,
    hi: u16,
}

fn builtin_layer() -> &'static Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER.get_or_init(|| {
        parse_layer(BUILTIN_TEXT, BUILTIN_ORIGIN)
            .unwrap_or_else(|e| panic!("built-in catalog: {e}"))
    })
}

fn parse_layer(text: &str, origin: &str) -> Result<Layer, CatalogError> {
    let repr: FileRepr = toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => locate(text, span.start),
            None => (None, None),
        };
        CatalogError {
            file: origin.to_string(),
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })?;
    let headers = header_lines(text);
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;

    // First definitions in this file, to report duplicates against.
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut domains: HashMap<Box<[u8]>, (String, usize)> = HashMap::new();
    let mut patterns: HashMap<String, (String, usize)> = HashMap::new();
    let mut prefixes: HashMap<Prefix, (String, usize)> = HashMap::new();
    let mut ports: HashMap<PortRange, (String, usize)> = HashMap::new();

    let mut services = Vec::with_capacity(repr.service.len());
    for (i, s) in repr.service.into_iter().enumerate() {
        let key = format!("service[{i}]");
        let err = |field: &str, span: Range<usize>, message: String| CatalogError {
            file: origin.to_string(),
            line: Some(line_of(span.start)),
            key: Some(format!("{key}.{field}")),
            message,
        };
        let name = s.name.get_ref().clone();
        let name_line = line_of(s.name.span().start);
        let line = headers.get(i).copied().unwrap_or(name_line);
        check_service_name(&name)
            .map_err(|m| err("name", s.name.span(), format!("{name:?}: {m}")))?;
        if let Some(first) = names.insert(name.clone(), name_line) {
            return Err(err(
                "name",
                s.name.span(),
                format!("service {name:?} is already defined on line {first}"),
            ));
        }
        let what = |v: &str, m: String| format!("{v:?} (service {name:?}): {m}");
        let display = match &s.display {
            Some(d) if d.get_ref().trim().is_empty() => {
                return Err(err(
                    "display",
                    d.span(),
                    what(d.get_ref(), "is empty".into()),
                ));
            }
            Some(d) => Some(d.get_ref().clone()),
            None => None,
        };
        let category = match &s.category {
            Some(c) => Some(Category::from_name(c.get_ref()).ok_or_else(|| {
                let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                err(
                    "category",
                    c.span(),
                    what(c.get_ref(), format!("is not one of {}", all.join(", "))),
                )
            })?),
            None => None,
        };

        let mut def = ServiceDef {
            name: name.clone(),
            display,
            category,
            replace: s.replace,
            line,
            key: key.clone(),
            domains: Vec::with_capacity(s.domains.len()),
            patterns: Vec::with_capacity(s.patterns.len()),
            prefixes: Vec::with_capacity(s.prefixes.len()),
            ports: Vec::with_capacity(s.ports.len()),
        };
        let dup = |field: &str, v: &Spanned<String>, first: &(String, usize)| {
            err(
                field,
                v.span(),
                what(
                    v.get_ref(),
                    format!("already listed on line {} (service {:?})", first.1, first.0),
                ),
            )
        };
        for d in &s.domains {
            let dom = parse_domain(d.get_ref())
                .map_err(|m| err("domains", d.span(), what(d.get_ref(), m)))?;
            if let Some(first) = domains.get(&dom) {
                return Err(dup("domains", d, first));
            }
            domains.insert(dom.clone(), (name.clone(), line_of(d.span().start)));
            def.domains.push(dom);
        }
        for p in &s.patterns {
            let glob = parse_glob(p.get_ref())
                .map_err(|m| err("patterns", p.span(), what(p.get_ref(), m)))?;
            let norm = p.get_ref().to_ascii_lowercase();
            if let Some(first) = patterns.get(&norm) {
                return Err(dup("patterns", p, first));
            }
            patterns.insert(norm, (name.clone(), line_of(p.span().start)));
            def.patterns.push(glob);
        }
        for p in &s.prefixes {
            let prefix = parse_prefix(p.get_ref())
                .map_err(|m| err("prefixes", p.span(), what(p.get_ref(), m)))?;
            if let Some(first) = prefixes.get(&prefix) {
                return Err(dup("prefixes", p, first));
            }
            prefixes.insert(prefix, (name.clone(), line_of(p.span().start)));
            def.prefixes.push(prefix);
        }
        for p in &s.ports {
            let range = parse_ports(p.get_ref())
                .map_err(|m| err("ports", p.span(), what(p.get_ref(), m)))?;
            if let Some(first) = ports.get(&range) {
                return Err(dup("ports", p, first));
            }
            ports.insert(range, (name.clone(), line_of(p.span().start)));
            def.ports.push(range);
        }
        services.push(def);
    }
    Ok(Layer {
        origin: origin.to_string(),
        services,
    })
}

fn check_service_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 40 {
        return Err("must be 1 to 40 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || s.starts_with('-')
    {
        return Err("must be lower-case letters, digits and `-`, not starting with `-`".into());
    }
    Ok(())
}

/// Lower case, no trailing dot; `Err` says why it is not a host name.
fn normalise_name(s: &str, allow_star: bool) -> Result<String, String> {
    let t = s.to_ascii_lowercase();
    let t = t.strip_suffix('.').unwrap_or(&t).to_string();
    if t.is_empty() {
        return Err("is empty".into());
    }
    if t.len() > 253 {
        return Err("is longer than 253 characters".into());
    }
    for label in t.split('.') {
        if label.is_empty() {
            return Err("has an empty label".into());
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label.chars().find(|&c| {
            !(c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || c == '_'
                || (allow_star && c == '*'))
        }) {
            return Err(format!("has the character {c:?}"));
        }
    }
    Ok(t)
}

fn parse_domain(s: &str) -> Result<Box<[u8]>, String> {
    if s.contains('*') {
        return Err(
            "wildcards belong in `patterns`; a domain already matches every name below it".into(),
        );
    }
    Ok(normalise_name(s, false)?.into_bytes().into_boxed_slice())
}

fn parse_glob(s: &str) -> Result<Glob, String> {
    let t = normalise_name(s, true)?;
    let mut labels = Vec::new();
    for label in t.split('.') {
        if label == "**" {
            labels.push(GlobLabel::Labels);
        } else if label.contains("**") {
            return Err("`**` must be a whole label".into());
        } else {
            labels.push(GlobLabel::Chars(label.as_bytes().into()));
        }
    }
    if !t.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Err("matches too much: it needs a letter or digit".into());
    }
    let specificity = t.bytes().filter(|&b| b != b'*').count() as u16;
    let fixed = t.split('.').rev().take_while(|l| !l.contains('*')).count();
    let anchor = (fixed > 0).then(|| {
        let parts: Vec<&str> = t.split('.').collect();
        parts[parts.len() - fixed..]
            .join(".")
            .into_bytes()
            .into_boxed_slice()
    });
    Ok(Glob {
        labels: labels.into_boxed_slice(),
        specificity,
        anchor,
    })
}

fn parse_prefix(s: &str) -> Result<Prefix, String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("prefix length {l:?} is not 0 to {max}"))?,
    };
    let (start, len128) = match ip {
        IpAddr::V4(a) => (u128::from_be_bytes(a.to_ipv6_mapped().octets()), len + 96),
        IpAddr::V6(a) => (u128::from_be_bytes(a.octets()), len),
    };
    let net = start & mask(len128);
    if net != start {
        let shown = match ip {
            IpAddr::V4(_) => Ipv4Addr::from(net as u32).to_string(),
            IpAddr::V6(_) => Ipv6Addr::from(net).to_string(),
        };
        return Err(format!("has host bits set: the network is {shown}/{len}"));
    }
    Ok(Prefix { start, len: len128 })
}

fn parse_ports(s: &str) -> Result<PortRange, String> {
    let bad = || "must be `tcp/PORT`, `udp/PORT` or `tcp/LOW-HIGH`, `udp/LOW-HIGH`".to_string();
    let (proto, ports) = s.split_once('/').ok_or_else(bad)?;
    let proto = match proto {
        "tcp" => PROTO_TCP,
        "udp" => PROTO_UDP,
        _ => return Err(bad()),
    };
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("{p:?} is not a port 1 to 65535"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(format!("the range {lo}-{hi} is empty"));
    }
    Ok(PortRange { proto, lo, hi })
}

/// Lines (1-based) of the `[[service]]` headers, in order.
fn header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| table_header(l.trim()) == Some((true, "service")))
        .map(|(i, _)| i + 1)
        .collect()
}

/// `[[name]]` → (true, name); `[name]` → (false, name).
fn table_header(t: &str) -> Option<(bool, &str)> {
    let t = match t.find('#') {
        Some(i) => t[..i].trim_end(),
        None => t,
    };
    if let Some(inner) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
        Some((true, inner.trim()))
    } else {
        let inner = t.strip_prefix('[').and_then(|r| r.strip_suffix(']'))?;
        // `[` also opens an array value on a line of its own.
        inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            .then_some((false, inner.trim()))
    }
}

/// The line (1-based) of a byte offset, and the entry and field it is in:
/// `service[i].field`, from the `[[service]]` headers and the last
/// `field =` before it.
fn locate(text: &str, offset: usize) -> (Option<usize>, Option<String>) {
    let line_no = text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut count = 0usize;
    let mut entry: Option<String> = None;
    let mut field: Option<String> = None;
    for line in text.lines().take(line_no) {
        let t = line.trim();
        if let Some((array, name)) = table_header(t) {
            entry = Some(if array && name == "service" {
                count += 1;
                format!("service[{}]", count - 1)
            } else {
                name.to_string()
            });
            field = None;
        } else if let Some(k) = assignment_key(t) {
            field = Some(k.to_string());
        }
    }
    let key = match (entry, field) {
        (Some(e), Some(f)) => Some(format!("{e}.{f}")),
        (Some(e), None) => Some(e),
        (None, f) => f,
    };
    (Some(line_no), key)
}

/// `key = ...` → `key`.
fn assignment_key(t: &str) -> Option<&str> {
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(t.len());
    (end > 0 && t[end..].trim_start().starts_with('=')).then(|| &t[..end])
}

// ---------------------------------------------------------------------------
// Merging files into a catalog.

fn build(layers: &[&Layer]) -> Result<Catalog, CatalogError> {
    let mut services: Vec<Service> = Vec::new();
    let mut by_name: HashMap<String, ServiceId> = HashMap::new();
    // Rules of layers below this one are dropped (`replace = true`).
    let mut keep_from: Vec<usize> = Vec::new();
    for (li, layer) in layers.iter().enumerate() {
        for def in &layer.services {
            if let Some(&id) = by_name.get(&def.name) {
                let s = &mut services[id.index()];
                if let Some(d) = &def.display {
                    s.display = d.clone();
                }
                if let Some(c) = def.category {
                    s.category = c;
                }
                if def.replace {
                    keep_from[id.index()] = li;
                }
                continue;
            }
            let missing = if def.display.is_none() {
                Some("display")
            } else if def.category.is_none() {
                Some("category")
            } else {
                None
            };
            if let Some(field) = missing {
                return Err(CatalogError {
                    file: layer.origin.clone(),
                    line: Some(def.line),
                    key: Some(format!("{}.{field}", def.key)),
                    message: format!(
                        "service {:?} is not in the catalog yet: a new service needs `display` and `category`",
                        def.name
                    ),
                });
            }
            let id = u16::try_from(services.len()).map_err(|_| CatalogError {
                file: layer.origin.clone(),
                line: Some(def.line),
                key: Some(def.key.clone()),
                message: "more than 65536 services".into(),
            })?;
            by_name.insert(def.name.clone(), ServiceId(id));
            services.push(Service {
                name: def.name.clone(),
                display: def.display.clone().unwrap_or_default(),
                category: def.category.unwrap_or(Category::Other),
            });
            keep_from.push(0);
        }
    }

    let mut names: HashMap<Box<[u8]>, NameEntry, foldhash::fast::RandomState> = HashMap::default();
    let mut patterns: Vec<PatternRule> = Vec::new();
    let mut unanchored: Vec<u32> = Vec::new();
    let mut prefixes: HashMap<Prefix, (ServiceId, Rank)> = HashMap::new();
    let mut ports: HashMap<PortRange, (ServiceId, Rank)> = HashMap::new();
    for (li, layer) in layers.iter().enumerate() {
        let mut position = 0u32;
        let mut rank = |specificity: usize, exact: bool| {
            position += 1;
            Rank {
                specificity: specificity.min(usize::from(u16::MAX)) as u16,
                exact,
                layer: li.min(255) as u8,
                order: u32::MAX - position,
            }
        };
        for def in &layer.services {
            let id = by_name[&def.name];
            if li < keep_from[id.index()] {
                continue;
            }
            for d in &def.domains {
                let r = rank(d.len(), true);
                let entry = names.entry(d.clone()).or_default();
                if entry.domain.is_none_or(|(_, old)| r > old) {
                    entry.domain = Some((id, r));
                }
            }
            for g in &def.patterns {
                let r = rank(usize::from(g.specificity), false);
                let index = patterns.len() as u32;
                patterns.push(PatternRule {
                    labels: g.labels.clone(),
                    service: id,
                    rank: r,
                });
                match &g.anchor {
                    Some(a) => names.entry(a.clone()).or_default().patterns.push(index),
                    None => unanchored.push(index),
                }
            }
            for p in &def.prefixes {
                let r = rank(usize::from(p.len), true);
                let slot = prefixes.entry(*p).or_insert((id, r));
                if r > slot.1 {
                    *slot = (id, r);
                }
            }
            for p in &def.ports {
                let r = rank(65535 - usize::from(p.hi - p.lo), true);
                let slot = ports.entry(*p).or_insert((id, r));
                if r > slot.1 {
                    *slot = (id, r);
                }
            }
        }
    }
    let by_rank = |list: &mut Vec<u32>| {
        list.sort_by(|&a, &b| patterns[b as usize].rank.cmp(&patterns[a as usize].rank));
    };
    for entry in names.values_mut() {
        by_rank(&mut entry.patterns);
    }
    by_rank(&mut unanchored);

    let mut ip: Vec<(Prefix, ServiceId)> =
        prefixes.into_iter().map(|(p, (id, _))| (p, id)).collect();
    ip.sort_by_key(|(p, _)| (p.start, p.len));
    let segments = disjoint_ranges(&ip);
    let port_rules: Vec<(PortRange, ServiceId, Rank)> =
        ports.into_iter().map(|(p, (id, r))| (p, id, r)).collect();

    Ok(Catalog {
        services,
        by_name,
        names,
        patterns,
        unanchored,
        ip_starts: segments.iter().map(|s| s.0).collect(),
        ip_ends: segments.iter().map(|s| s.1).collect(),
        ip_services: segments.iter().map(|s| s.2).collect(),
        tcp: port_table(&port_rules, PROTO_TCP),
        udp: port_table(&port_rules, PROTO_UDP),
    })
}

/// Flattens prefixes (distinct, sorted by start then length, so each one's
/// enclosing prefixes come before it) into disjoint ranges, each labelled
/// by its longest prefix: a sweep keeping the open enclosing prefixes on a
/// stack.
fn disjoint_ranges(sorted: &[(Prefix, ServiceId)]) -> Vec<(u128, u128, ServiceId)> {
    fn emit(out: &mut Vec<(u128, u128, ServiceId)>, lo: u128, hi: u128, id: ServiceId) {
        if let Some(last) = out.last_mut() {
            if last.2 == id && last.1.checked_add(1) == Some(lo) {
                last.1 = hi;
                return;
            }
        }
        out.push((lo, hi, id));
    }
    let mut out = Vec::new();
    let mut open: Vec<(u128, ServiceId)> = Vec::new();
    // The first address not yet given to a range.
    let mut cursor = 0u128;
    for &(p, id) in sorted {
        let (start, end) = (p.start, p.end());
        while let Some(&(top_end, top_id)) = open.last() {
            if top_end >= start {
                break;
            }
            if cursor <= top_end {
                emit(&mut out, cursor, top_end, top_id);
            }
            cursor = top_end + 1;
            open.pop();
        }
        if let Some(&(_, top_id)) = open.last() {
            if cursor < start {
                emit(&mut out, cursor, start - 1, top_id);
            }
        }
        cursor = start;
        open.push((end, id));
    }
    while let Some((end, id)) = open.pop() {
        if cursor <= end {
            emit(&mut out, cursor, end, id);
        }
        match end.checked_add(1) {
            Some(c) => cursor = c,
            None => break,
        }
    }
    out
}

/// Disjoint port ranges of one protocol, each labelled by the best rule
/// covering it.
fn port_table(rules: &[(PortRange, ServiceId, Rank)], proto: u8) -> PortTable {
    let rules: Vec<_> = rules.iter().filter(|r| r.0.proto == proto).collect();
    let mut bounds: Vec<u32> = rules
        .iter()
        .flat_map(|r| [u32::from(r.0.lo), u32::from(r.0.hi) + 1])
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut t = PortTable::default();
    for w in bounds.windows(2) {
        let (lo, hi) = (w[0], w[1] - 1);
        let best = rules
            .iter()
            .filter(|r| u32::from(r.0.lo) <= lo && hi <= u32::from(r.0.hi))
            .max_by_key(|r| r.2);
        let Some(&&(_, id, _)) = best else {
            continue;
        };
        let (lo, hi) = (lo as u16, hi as u16);
        if t.services.last() == Some(&id)
            && t.ends.last().map(|&e| u32::from(e) + 1) == Some(u32::from(lo))
        {
            *t.ends.last_mut().expect("non-empty") = hi;
        } else {
            t.starts.push(lo);
            t.ends.push(hi);
            t.services.push(id);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

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
                text += &format!("[[service]]\nname = \"s{s}\"\ndisplay = \"S\"\ncategory = \"other\"\nprefixes = [");
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
}
