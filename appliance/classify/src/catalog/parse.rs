//! Reading one catalog file: serde's structure, then every value checked
//! and duplicates within the file refused, each error at its line and field.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

use super::{
    CatalogError, Category, GlobLabel, BUILTIN_ORIGIN, BUILTIN_TEXT, PROTO_TCP, PROTO_UDP,
};
use crate::toml_span::{Located, SpanIndex};

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
pub(super) struct Layer {
    pub(super) origin: String,
    pub(super) services: Vec<ServiceDef>,
}

#[derive(Clone, Debug)]
pub(super) struct ServiceDef {
    pub(super) name: String,
    pub(super) display: Option<String>,
    pub(super) category: Option<Category>,
    pub(super) replace: bool,
    /// Where errors about the whole entry point: its header line and key.
    pub(super) line: usize,
    pub(super) key: String,
    pub(super) domains: Vec<Box<[u8]>>,
    pub(super) patterns: Vec<Glob>,
    pub(super) prefixes: Vec<Prefix>,
    pub(super) ports: Vec<PortRange>,
}

#[derive(Clone, Debug)]
pub(super) struct Glob {
    pub(super) labels: Box<[GlobLabel]>,
    pub(super) specificity: u16,
    /// The trailing wildcard-free labels, if the last label has none.
    pub(super) anchor: Option<Box<[u8]>>,
}

/// A network in the IPv6 space (IPv4 ones mapped), `len` bits long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Prefix {
    pub(super) start: u128,
    pub(super) len: u8,
}

impl Prefix {
    pub(super) fn end(self) -> u128 {
        self.start | !mask(self.len)
    }
}

pub(super) fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct PortRange {
    pub(super) proto: u8,
    pub(super) lo: u16,
    pub(super) hi: u16,
}

pub(super) fn builtin_layer() -> &'static Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER.get_or_init(|| {
        parse_layer(BUILTIN_TEXT, BUILTIN_ORIGIN)
            .unwrap_or_else(|e| panic!("built-in catalog: {e}"))
    })
}

pub(super) fn parse_layer(text: &str, origin: &str) -> Result<Layer, CatalogError> {
    let repr: FileRepr = toml::from_str(text).map_err(|e| {
        let Located { line, key, message } = SpanIndex::new(text).locate(&e);
        CatalogError {
            file: origin.to_string(),
            line,
            key,
            message,
        }
    })?;
    let index = SpanIndex::new(text);
    let mut seen = Seen::default();
    let mut services = Vec::with_capacity(repr.service.len());
    for (i, s) in repr.service.into_iter().enumerate() {
        let at = Entry {
            origin,
            index: &index,
            key: format!("service[{i}]"),
        };
        services.push(parse_service(s, &at, &mut seen)?);
    }
    Ok(Layer {
        origin: origin.to_string(),
        services,
    })
}

/// First definitions in one file, to report duplicates against: the
/// service and line of each.
#[derive(Default)]
struct Seen {
    names: HashMap<String, usize>,
    domains: HashMap<Box<[u8]>, (String, usize)>,
    patterns: HashMap<String, (String, usize)>,
    prefixes: HashMap<Prefix, (String, usize)>,
    ports: HashMap<PortRange, (String, usize)>,
}

/// Where one `[[service]]` entry is, for its errors.
struct Entry<'a> {
    origin: &'a str,
    index: &'a SpanIndex<'a>,
    /// `service[i]`.
    key: String,
}

impl Entry<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.index.line_at(span.start)
    }

    fn err(&self, field: &str, span: Range<usize>, message: String) -> CatalogError {
        CatalogError {
            file: self.origin.to_string(),
            line: Some(self.line(span)),
            key: Some(format!("{}.{field}", self.key)),
            message,
        }
    }
}

/// One `[[service]]` entry, checked against the file's earlier ones.
fn parse_service(
    s: ServiceRepr,
    at: &Entry<'_>,
    seen: &mut Seen,
) -> Result<ServiceDef, CatalogError> {
    let name = s.name.get_ref().clone();
    let name_line = at.line(s.name.span());
    let line = at.index.line_of(&at.key).unwrap_or(name_line);
    check_service_name(&name)
        .map_err(|m| at.err("name", s.name.span(), format!("{name:?}: {m}")))?;
    if let Some(first) = seen.names.insert(name.clone(), name_line) {
        return Err(at.err(
            "name",
            s.name.span(),
            format!("service {name:?} is already defined on line {first}"),
        ));
    }
    let what = |v: &str, m: String| format!("{v:?} (service {name:?}): {m}");
    let display = match &s.display {
        Some(d) if d.get_ref().trim().is_empty() => {
            return Err(at.err("display", d.span(), what(d.get_ref(), "is empty".into())));
        }
        Some(d) => Some(d.get_ref().clone()),
        None => None,
    };
    let category = match &s.category {
        Some(c) => Some(Category::from_name(c.get_ref()).ok_or_else(|| {
            let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            at.err(
                "category",
                c.span(),
                what(c.get_ref(), format!("is not one of {}", all.join(", "))),
            )
        })?),
        None => None,
    };
    // Each rule: parsed, then checked against the file's earlier rules.
    fn rules<K: std::hash::Hash + Eq + Clone, T>(
        field: &str,
        list: &[Spanned<String>],
        service: &str,
        at: &Entry<'_>,
        first: &mut HashMap<K, (String, usize)>,
        parse: impl Fn(&str) -> Result<(K, T), String>,
    ) -> Result<Vec<T>, CatalogError> {
        let what = |v: &str, m: String| format!("{v:?} (service {service:?}): {m}");
        let mut out = Vec::with_capacity(list.len());
        for v in list {
            let (key, rule) =
                parse(v.get_ref()).map_err(|m| at.err(field, v.span(), what(v.get_ref(), m)))?;
            if let Some(f) = first.get(&key) {
                let m = format!("already listed on line {} (service {:?})", f.1, f.0);
                return Err(at.err(field, v.span(), what(v.get_ref(), m)));
            }
            first.insert(key, (service.to_string(), at.line(v.span())));
            out.push(rule);
        }
        Ok(out)
    }
    Ok(ServiceDef {
        domains: rules("domains", &s.domains, &name, at, &mut seen.domains, |v| {
            parse_domain(v).map(|d| (d.clone(), d))
        })?,
        patterns: rules(
            "patterns",
            &s.patterns,
            &name,
            at,
            &mut seen.patterns,
            |v| parse_glob(v).map(|g| (v.to_ascii_lowercase(), g)),
        )?,
        prefixes: rules(
            "prefixes",
            &s.prefixes,
            &name,
            at,
            &mut seen.prefixes,
            |v| parse_prefix(v).map(|p| (p, p)),
        )?,
        ports: rules("ports", &s.ports, &name, at, &mut seen.ports, |v| {
            parse_ports(v).map(|p| (p, p))
        })?,
        name,
        display,
        category,
        replace: s.replace,
        line,
        key: at.key.clone(),
    })
}

pub(super) fn check_service_name(s: &str) -> Result<(), String> {
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
pub(super) fn normalise_name(s: &str, allow_star: bool) -> Result<String, String> {
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

pub(super) fn parse_domain(s: &str) -> Result<Box<[u8]>, String> {
    if s.contains('*') {
        return Err(
            "wildcards belong in `patterns`; a domain already matches every name below it".into(),
        );
    }
    Ok(normalise_name(s, false)?.into_bytes().into_boxed_slice())
}

pub(super) fn parse_glob(s: &str) -> Result<Glob, String> {
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

pub(super) fn parse_prefix(s: &str) -> Result<Prefix, String> {
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

pub(super) fn parse_ports(s: &str) -> Result<PortRange, String> {
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
