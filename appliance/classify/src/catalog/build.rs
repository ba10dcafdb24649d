//! Merging checked files into a [`Catalog`]: services by name, each rule
//! ranked, then flattened into the lookup tables.

use std::collections::HashMap;

use super::parse::{Layer, PortRange, Prefix};
use super::{
    Catalog, CatalogError, Category, NameEntry, PatternRule, PortTable, Rank, Service, ServiceId,
    PROTO_TCP, PROTO_UDP,
};

/// The services of all layers, merged by name, their ids, and per service
/// the first layer whose rules count (`replace = true` drops those below).
type Merged = (Vec<Service>, HashMap<String, ServiceId>, Vec<usize>);

fn merge_services(layers: &[&Layer]) -> Result<Merged, CatalogError> {
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
    Ok((services, by_name, keep_from))
}

/// A catalog of these layers, each over the ones before it.
pub(super) fn build(layers: &[&Layer]) -> Result<Catalog, CatalogError> {
    let (services, by_name, keep_from) = merge_services(layers)?;
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
pub(super) fn disjoint_ranges(sorted: &[(Prefix, ServiceId)]) -> Vec<(u128, u128, ServiceId)> {
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
pub(super) fn port_table(rules: &[(PortRange, ServiceId, Rank)], proto: u8) -> PortTable {
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
