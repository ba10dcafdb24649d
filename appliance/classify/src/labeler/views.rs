//! What operators see of the open flows: `tapscope flows` and the top
//! services and devices of `tapscope status`.

use std::sync::Arc;

use super::{Classifier, NS};
use crate::catalog::ServiceId;
use crate::devices::DeviceKey;

/// An open flow, for `tapscope flows`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenFlow {
    /// The flow's id (unique per worker and run).
    pub flow_id: u64,
    /// IP protocol number.
    pub protocol: u8,
    /// Client address.
    pub client_ip: String,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: String,
    /// Server port.
    pub server_port: u16,
    /// The server's name, if known.
    pub server_name: Option<String>,
    /// The service (`unknown` if none).
    pub service: String,
    /// The local device's name.
    pub device: String,
    /// Counts up to the end of the last epoch.
    pub c2s_packets: u64,
    /// Client-to-server bytes.
    pub c2s_bytes: u64,
    /// Server-to-client packets.
    pub s2c_packets: u64,
    /// Server-to-client bytes.
    pub s2c_bytes: u64,
    /// First packet (Unix seconds).
    pub first_unix_s: u64,
    /// Last packet (Unix seconds).
    pub last_unix_s: u64,
}

/// Whether `f` matches every term: `key=value` (keys `service`, `port`,
/// `ip`, `proto` (tcp, udp, icmp or a number), `device`, `name`) or a bare
/// word found in its addresses, name, service or device (case-insensitive).
pub fn flow_matches(f: &OpenFlow, terms: &[String]) -> bool {
    let proto = match f.protocol {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        1 | 58 => "icmp".to_string(),
        p => p.to_string(),
    };
    let name = f.server_name.as_deref().unwrap_or("").to_lowercase();
    let device = f.device.to_lowercase();
    terms.iter().all(|t| match t.split_once('=') {
        Some(("service", v)) => f.service == v,
        Some(("port", v)) => v.parse() == Ok(f.server_port) || v.parse() == Ok(f.client_port),
        Some(("ip", v)) => f.client_ip == v || f.server_ip == v,
        Some(("proto", v)) => proto == v || f.protocol.to_string() == v,
        Some(("device", v)) => device.contains(v),
        Some(("name", v)) => name.contains(v),
        _ => {
            f.client_ip.contains(t.as_str())
                || f.server_ip.contains(t.as_str())
                || name.contains(t.as_str())
                || f.service.contains(t.as_str())
                || device.contains(t.as_str())
        }
    })
}

impl Classifier {
    /// Open flows as of the last epoch (those with activity reported and
    /// no record yet), most bytes first, matching every term of `filter`
    /// (see [`flow_matches`]), at most `limit`.
    pub fn open_flows(&self, filter: &str, limit: usize) -> Vec<OpenFlow> {
        let terms: Vec<String> = filter.split_whitespace().map(str::to_lowercase).collect();
        let mut v: Vec<OpenFlow> = self
            .flows
            .iter()
            .filter(|(_, s)| s.last_ns != 0)
            .map(|(&id, s)| {
                let (service, _) = match s.label.service {
                    Some(sid) => (Arc::from(self.catalog.service(sid).name.as_str()), ()),
                    None => (self.unknown.clone(), ()),
                };
                OpenFlow {
                    flow_id: id,
                    protocol: s.protocol,
                    client_ip: crate::devices::ip_text(&s.client_ip),
                    client_port: s.client_port,
                    server_ip: crate::devices::ip_text(&s.server_ip),
                    server_port: s.server_port,
                    server_name: s.label.server_name.as_deref().map(str::to_string),
                    service: service.to_string(),
                    device: self
                        .device_name(&s.label.device, &s.label.device_ip)
                        .to_string(),
                    c2s_packets: s.reported[0],
                    c2s_bytes: s.reported[1],
                    s2c_packets: s.reported[2],
                    s2c_bytes: s.reported[3],
                    first_unix_s: s.first_ns / NS,
                    last_unix_s: s.last_ns / NS,
                }
            })
            .filter(|f| flow_matches(f, &terms))
            .collect();
        v.sort_by(|a, b| {
            (b.c2s_bytes + b.s2c_bytes)
                .cmp(&(a.c2s_bytes + a.s2c_bytes))
                .then(a.flow_id.cmp(&b.flow_id))
        });
        v.truncate(limit);
        v
    }

    /// The `n` services with the most bytes since the start, most first.
    pub fn top_services(&self, n: usize) -> Vec<(Arc<str>, u64)> {
        let mut v: Vec<(Option<ServiceId>, u64)> =
            self.service_bytes.iter().map(|(k, b)| (*k, *b)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v.into_iter()
            .map(|(id, b)| match id {
                Some(id) => (Arc::from(self.catalog.service(id).name.as_str()), b),
                None => (self.unknown.clone(), b),
            })
            .collect()
    }

    /// The `n` devices with the most bytes since the start: name, bytes.
    pub fn top_devices(&self, n: usize) -> Vec<(Arc<str>, u64)> {
        let mut v: Vec<(&DeviceKey, &([u8; 16], u64))> = self.device_bytes.iter().collect();
        v.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(k, (ip, b))| (self.device_name(k, ip), *b))
            .collect()
    }
}
