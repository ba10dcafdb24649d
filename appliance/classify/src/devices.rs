//! Local devices: which addresses are local, and what each device is called.
//!
//! A flow's device is its local endpoint: the client if the client's address
//! is in a local subnet, else the server if the server's is, else the client
//! (a tap on a transit link still groups traffic by initiator). Devices are
//! keyed by MAC (by IP when the capture has no Ethernet header) and named,
//! best source first, by their DHCP hostname (option 12), their mDNS name,
//! else `Unknown-<ip>`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

/// An IPv4-mapped or IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    addr: [u8; 16],
    len: u8,
}

impl Prefix {
    /// Parses `a.b.c.d/n` or `x:y::/n` (a bare address is a host prefix).
    pub fn parse(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or prefix"))?;
        let (addr, max, off) = match ip {
            IpAddr::V4(v4) => (v4.to_ipv6_mapped().octets(), 32u8, 96u8),
            IpAddr::V6(v6) => (v6.octets(), 128u8, 0u8),
        };
        let len = match l {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Prefix {
            addr: mask(addr, len + off),
            len: len + off,
        })
    }

    /// Whether the address is in the prefix.
    pub fn contains(&self, ip: &[u8; 16]) -> bool {
        mask(*ip, self.len) == self.addr
    }
}

fn mask(mut a: [u8; 16], len: u8) -> [u8; 16] {
    for (i, b) in a.iter_mut().enumerate() {
        let bits = (len as i32 - 8 * i as i32).clamp(0, 8);
        *b &= (0xffu16 << (8 - bits)) as u8;
    }
    a
}

/// The subnets counted as local.
#[derive(Clone, Debug)]
pub struct LocalNets {
    nets: Vec<Prefix>,
}

/// Private, shared, link-local and unique-local ranges: the default local
/// subnets when the configuration names none.
pub const DEFAULT_LOCAL: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl Default for LocalNets {
    fn default() -> Self {
        LocalNets::parse(DEFAULT_LOCAL.iter().copied()).expect("built-in prefixes parse")
    }
}

impl LocalNets {
    /// The subnets of a list of CIDR prefixes, or why one is not.
    pub fn parse<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<LocalNets, String> {
        let nets = list
            .into_iter()
            .map(Prefix::parse)
            .collect::<Result<_, _>>()?;
        Ok(LocalNets { nets })
    }

    /// Whether the address is in a local subnet.
    pub fn contains(&self, ip: &[u8; 16]) -> bool {
        self.nets.iter().any(|p| p.contains(ip))
    }
}

/// Where a device's name comes from (best first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceNameSource {
    /// Its DHCP hostname (option 12).
    Dhcp = 0,
    /// Its mDNS name.
    Mdns = 1,
    /// No name seen: `Unknown-<ip>`.
    Address = 2,
}

/// How a device is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKey {
    /// Its MAC address.
    Mac([u8; 6]),
    /// No MAC known (raw IP captures): the address.
    Ip([u8; 16]),
}

impl DeviceKey {
    /// The key of a device seen with this MAC and address (the MAC unless it is all zeros).
    pub fn of(mac: [u8; 6], ip: [u8; 16]) -> DeviceKey {
        if mac == [0; 6] {
            DeviceKey::Ip(ip)
        } else {
            DeviceKey::Mac(mac)
        }
    }

    /// The MAC, for a device keyed by one.
    pub fn mac(&self) -> Option<[u8; 6]> {
        match self {
            DeviceKey::Mac(m) => Some(*m),
            DeviceKey::Ip(_) => None,
        }
    }
}

/// One device.
#[derive(Clone, Debug)]
pub struct Device {
    /// How the device is identified.
    pub key: DeviceKey,
    /// Addresses seen for it, oldest first (at most [`MAX_IPS`]).
    pub ips: Vec<[u8; 16]>,
    /// Its name (best source so far).
    pub name: Arc<str>,
    /// Where the name comes from.
    pub name_source: DeviceNameSource,
    /// When it was first seen (ns).
    pub first_ns: u64,
    /// When it was last seen (ns).
    pub last_ns: u64,
}

/// Addresses remembered per device.
pub const MAX_IPS: usize = 8;
/// Devices remembered (the least recently seen goes first beyond this).
const MAX_DEVICES: usize = 65_536;

/// The device table.
#[derive(Default)]
pub struct Devices {
    by_key: HashMap<DeviceKey, Device>,
    /// Names learnt for addresses before (or without) their device's MAC
    /// being seen in a flow: mDNS answers and DHCP assignments.
    ip_names: HashMap<[u8; 16], (Arc<str>, DeviceNameSource)>,
    /// DHCP hostnames by MAC.
    mac_names: HashMap<[u8; 6], Arc<str>>,
}

impl Devices {
    /// Notes that the device (`mac`, `ip`) was active at `ts_ns`; returns it.
    pub fn see(&mut self, mac: [u8; 6], ip: [u8; 16], ts_ns: u64) -> &Device {
        let key = DeviceKey::of(mac, ip);
        if !self.by_key.contains_key(&key) && self.by_key.len() >= MAX_DEVICES {
            self.evict_oldest();
        }
        let ip_name = self.ip_names.get(&ip).cloned();
        let mac_name = (mac != [0; 6])
            .then(|| self.mac_names.get(&mac).cloned())
            .flatten();
        let d = self.by_key.entry(key).or_insert_with(|| Device {
            key,
            ips: Vec::new(),
            name: unknown_name(&ip),
            name_source: DeviceNameSource::Address,
            first_ns: ts_ns,
            last_ns: ts_ns,
        });
        d.last_ns = d.last_ns.max(ts_ns);
        // A device first heard from the unspecified address (IPv6 duplicate
        // address detection, a DHCP discover) is named by its first real one.
        let unnamed = !d.ips.iter().any(|a| !unspecified(a));
        if unnamed && !unspecified(&ip) && d.name_source == DeviceNameSource::Address {
            d.name = unknown_name(&ip);
        }
        if !d.ips.contains(&ip) && !unspecified(&ip) {
            if d.ips.len() == MAX_IPS {
                d.ips.remove(0);
            }
            d.ips.push(ip);
        }
        if let Some(n) = mac_name {
            d.set_name(n, DeviceNameSource::Dhcp);
        } else if let Some((n, src)) = ip_name {
            d.set_name(n, src);
        }
        d
    }

    /// A DHCP client `mac` (at `ip`, if known) calls itself `name`.
    pub fn dhcp(&mut self, mac: [u8; 6], ip: Option<[u8; 16]>, name: &str) {
        let name: Arc<str> = Arc::from(clean(name));
        if name.is_empty() {
            return;
        }
        if mac != [0; 6] {
            self.mac_names.insert(mac, name.clone());
            if let Some(d) = self.by_key.get_mut(&DeviceKey::Mac(mac)) {
                d.set_name(name.clone(), DeviceNameSource::Dhcp);
            }
        }
        if let Some(ip) = ip {
            self.ip_names
                .insert(ip, (name.clone(), DeviceNameSource::Dhcp));
            if let Some(d) = self.by_key.get_mut(&DeviceKey::Ip(ip)) {
                d.set_name(name, DeviceNameSource::Dhcp);
            }
        }
    }

    /// An mDNS answer from `mac` says `ip` is `name` (e.g. `printer.local`).
    pub fn mdns(&mut self, mac: [u8; 6], ip: [u8; 16], name: &str) {
        let name = clean(name);
        let name: Arc<str> = Arc::from(name.strip_suffix(".local").unwrap_or(name));
        if name.is_empty() {
            return;
        }
        let e = self
            .ip_names
            .entry(ip)
            .or_insert((name.clone(), DeviceNameSource::Mdns));
        if e.1 >= DeviceNameSource::Mdns {
            *e = (name.clone(), DeviceNameSource::Mdns);
        }
        for key in [DeviceKey::of(mac, ip), DeviceKey::Ip(ip)] {
            if let Some(d) = self.by_key.get_mut(&key) {
                if d.ips.contains(&ip) {
                    d.set_name(name.clone(), DeviceNameSource::Mdns);
                }
            }
        }
    }

    /// A device, by key.
    pub fn get(&self, key: &DeviceKey) -> Option<&Device> {
        self.by_key.get(key)
    }

    /// Devices known.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no device is known.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every device, most recently seen first.
    pub fn list(&self) -> Vec<&Device> {
        let mut v: Vec<&Device> = self.by_key.values().collect();
        v.sort_by(|a, b| b.last_ns.cmp(&a.last_ns).then(a.key.cmp(&b.key)));
        v
    }

    fn evict_oldest(&mut self) {
        if let Some(k) = self
            .by_key
            .values()
            .min_by_key(|d| d.last_ns)
            .map(|d| d.key)
        {
            self.by_key.remove(&k);
        }
    }
}

impl Device {
    fn set_name(&mut self, name: Arc<str>, src: DeviceNameSource) {
        if src <= self.name_source {
            self.name = name;
            self.name_source = src;
        }
    }
}

/// `::` or `0.0.0.0` (IPv4-mapped): a host without an address yet.
fn unspecified(ip: &[u8; 16]) -> bool {
    *ip == [0; 16] || *ip == Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0, 0]).octets()
}

/// `Unknown-<ip>`.
pub fn unknown_name(ip: &[u8; 16]) -> Arc<str> {
    Arc::from(format!("Unknown-{}", ip_text(ip)))
}

/// Dotted quad for IPv4-mapped addresses, RFC 5952 text otherwise.
pub fn ip_text(ip: &[u8; 16]) -> String {
    let a = Ipv6Addr::from(*ip);
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

/// A name as printable text: control characters dropped, at most 64 bytes.
fn clean(name: &str) -> &str {
    let name = name.trim_matches(|c: char| c.is_control() || c == '\0' || c == ' ');
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv4Addr>()
            .unwrap()
            .to_ipv6_mapped()
            .octets()
    }

    #[test]
    fn a_device_first_heard_without_an_address_takes_its_first_real_one() {
        let mut d = Devices::default();
        let mac = [2, 0, 0, 0, 0, 9];
        assert_eq!(&*d.see(mac, [0; 16], 1).name, "Unknown-::");
        assert_eq!(
            &*d.see(mac, v4("192.168.77.2"), 2).name,
            "Unknown-192.168.77.2"
        );
        // Later addresses do not rename it; the unspecified one is not kept.
        let dev = d.see(mac, v4("192.168.77.3"), 3);
        assert_eq!(&*dev.name, "Unknown-192.168.77.2");
        assert_eq!(dev.ips, [v4("192.168.77.2"), v4("192.168.77.3")]);
        assert_eq!(&*d.see(mac, v4("0.0.0.0"), 4).name, "Unknown-192.168.77.2");
    }

    #[test]
    fn prefixes_match_their_addresses_only() {
        let p = Prefix::parse("192.168.0.0/16").unwrap();
        assert!(p.contains(&v4("192.168.1.7")));
        assert!(!p.contains(&v4("192.169.0.1")));
        let p6 = Prefix::parse("fe80::/10").unwrap();
        assert!(p6.contains(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets()));
        assert!(!p6.contains(&v4("10.0.0.1")));
        assert!(Prefix::parse("10.0.0.0/33").is_err());
        assert!(Prefix::parse("nonsense").is_err());
        let host = Prefix::parse("10.1.2.3").unwrap();
        assert!(host.contains(&v4("10.1.2.3")) && !host.contains(&v4("10.1.2.4")));
    }

    #[test]
    fn default_local_nets_are_private_ranges() {
        let l = LocalNets::default();
        assert!(l.contains(&v4("10.9.8.7")));
        assert!(l.contains(&v4("172.31.0.1")));
        assert!(!l.contains(&v4("172.32.0.1")));
        assert!(!l.contains(&v4("8.8.8.8")));
    }

    #[test]
    fn devices_are_named_by_dhcp_over_mdns_over_address() {
        let mut d = Devices::default();
        let mac = [2, 0, 0, 0, 0, 1];
        let ip = v4("192.168.1.7");
        assert_eq!(&*d.see(mac, ip, 1).name, "Unknown-192.168.1.7");
        d.mdns(mac, ip, "Johns-iPhone.local");
        assert_eq!(&*d.get(&DeviceKey::Mac(mac)).unwrap().name, "Johns-iPhone");
        d.dhcp(mac, Some(ip), "johns-phone");
        assert_eq!(&*d.get(&DeviceKey::Mac(mac)).unwrap().name, "johns-phone");
        // A later mDNS name does not override DHCP.
        d.mdns(mac, ip, "other.local");
        assert_eq!(&*d.get(&DeviceKey::Mac(mac)).unwrap().name, "johns-phone");
        // A name learnt before the device is seen applies when it is.
        let mac2 = [2, 0, 0, 0, 0, 2];
        d.dhcp(mac2, None, "tv");
        assert_eq!(&*d.see(mac2, v4("192.168.1.9"), 5).name, "tv");
        // Without a MAC the address is the key.
        let k = d.see([0; 6], v4("10.0.0.5"), 6).key;
        assert_eq!(k, DeviceKey::Ip(v4("10.0.0.5")));
    }
}
