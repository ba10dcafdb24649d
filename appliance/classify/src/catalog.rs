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
use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;

mod build;
mod parse;
#[cfg(test)]
mod tests;

use build::build;
use parse::{builtin_layer, parse_layer};

/// The built-in catalog's text.
pub const BUILTIN_TEXT: &str = include_str!("../data/services.toml");

/// How errors name the built-in catalog.
pub const BUILTIN_ORIGIN: &str = "<built-in>/services.toml";

/// IP protocol numbers [`Catalog::match_port`] knows.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
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
    /// Video streaming.
    Video,
    /// Music and audio streaming.
    Music,
    /// Video and voice calls.
    Conferencing,
    /// Social networks.
    Social,
    /// Messaging.
    Messaging,
    /// Games and game stores.
    Gaming,
    /// Content delivery networks.
    Cdn,
    /// Cloud platforms.
    Cloud,
    /// Web sites and search.
    Web,
    /// Advertising and tracking.
    Ads,
    /// Operating system updates.
    OsUpdate,
    /// App stores.
    AppStore,
    /// Office and productivity suites.
    Productivity,
    /// File storage and sync.
    Storage,
    /// Shopping.
    Shopping,
    /// News.
    News,
    /// VPN services.
    Vpn,
    /// Speed tests.
    Speedtest,
    /// Anything else.
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
    /// What kind of service it is.
    pub category: Category,
}

/// Which rule labelled a flow ([`Catalog::match_flow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchedBy {
    /// By the server name.
    Name,
    /// By the server address.
    Ip,
    /// By the server port.
    Port,
}

/// A catalog file problem, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// The file, as its origin name was given.
    pub file: String,
    /// Line (1-based), when known.
    pub line: Option<usize>,
    /// The entry and field, e.g. `service[3].prefixes`, when known.
    pub key: Option<String>,
    /// What is wrong.
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

    /// Whether the catalog has no service.
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
