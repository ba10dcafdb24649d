//! Active probes run by the control core: one module per kind, each
//! filling the result type of the model ([`ProbeResult`], one `probes` row
//! per run). The scheduler that runs the configured tasks lives on the
//! control core (`control::probes`).
//!
//! A failed run records an [`ErrorClass`] (a small, stable set of names)
//! and a message, and leaves the timings of the phases it did not reach
//! null, never zero.

pub mod dns;
pub mod http;
pub mod icmp;
pub mod ntp;
pub mod scheduler;
pub mod stats;
pub mod tcp;
pub mod throughput;
pub mod udp_echo;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

pub use model::probe::*;

/// Milliseconds since `t`.
pub(crate) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Runs one probe of `task` to completion (or its timeout).
pub async fn run(task: &ProbeTask) -> ProbeResult {
    let mut r = ProbeResult::start(task);
    let t0 = Instant::now();
    let outcome = tokio::time::timeout(task.timeout, run_kind(task, &mut r)).await;
    match outcome {
        Ok(Ok(())) => r.ok = true,
        Ok(Err(e)) => r.fail(e),
        Err(_) => r.fail(ProbeError::new(
            ErrorClass::Timeout,
            format!(
                "the run took longer than its timeout ({} s)",
                task.timeout.as_secs_f64()
            ),
        )),
    }
    r.duration_ms = ms_since(t0);
    r
}

async fn run_kind(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    match task.kind {
        ProbeKind::Icmp => icmp::echo(task, r).await,
        ProbeKind::Traceroute => icmp::traceroute(task, r).await,
        ProbeKind::Tcp => tcp::run(task, r).await,
        ProbeKind::UdpEcho => udp_echo::run(task, r).await,
        ProbeKind::Dns => dns::run(task, r).await,
        ProbeKind::Http | ProbeKind::Https => http::run(task, r).await,
        ProbeKind::Ntp => ntp::run(task, r).await,
        ProbeKind::Throughput => throughput::run(task, r).await,
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
pub fn split_host_port(target: &str) -> Result<(String, Option<u16>), String> {
    let t = target.trim();
    if t.is_empty() {
        return Err("empty target".into());
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{t}`: unclosed `[`"))?;
        return match after {
            "" => Ok((host.to_string(), None)),
            p => match p.strip_prefix(':').and_then(|p| p.parse().ok()) {
                Some(port) => Ok((host.to_string(), Some(port))),
                None => Err(format!("`{t}`: bad port")),
            },
        };
    }
    if t.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((t.to_string(), None));
    }
    match t.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if !h.is_empty() => Ok((h.to_string(), Some(port))),
            _ => Err(format!("`{t}`: bad port")),
        },
        None => Ok((t.to_string(), None)),
    }
}

/// Resolves `host` (an address, or a name through the system resolver)
/// and returns the first address with `port`, and the ms it took (None
/// for an address literal: no lookup happened).
pub async fn resolve(host: &str, port: u16) -> Result<(SocketAddr, Option<f64>), ProbeError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((SocketAddr::new(ip, port), None));
    }
    let t = Instant::now();
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ProbeError::new(ErrorClass::Resolve, format!("resolving {host}: {e}")))?;
    let a = addrs.next().ok_or_else(|| {
        ProbeError::new(ErrorClass::Resolve, format!("resolving {host}: no address"))
    })?;
    Ok((a, Some(ms_since(t))))
}

/// A UDP socket bound to the wildcard address of `peer`'s family and
/// connected to it; `what` names the peer in the error.
pub async fn connected_udp(
    peer: SocketAddr,
    what: &str,
) -> Result<tokio::net::UdpSocket, ProbeError> {
    let local: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| ProbeError::io("binding a UDP socket", &e))?;
    sock.connect(peer)
        .await
        .map_err(|e| ProbeError::io(what, &e))?;
    Ok(sock)
}

/// The host and port of a target of the form `host[:port]`, with the
/// task's `port` parameter, else `default`.
pub fn host_port(task: &ProbeTask, default: u16) -> Result<(String, u16), ProbeError> {
    let (h, p) = split_host_port(&task.target).map_err(|e| ProbeError::new(ErrorClass::Io, e))?;
    Ok((h, p.or(task.params.port).unwrap_or(default)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io;

    proptest! {
        /// What the network sends back never panics a probe's parser.
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), id in any::<u16>()) {
            for (v6, raw) in [(false, false), (false, true), (true, false), (true, true)] {
                let _ = icmp::parse(&bytes, v6, raw, id);
            }
            let _ = ntp::parse_reply(&bytes, 7);
            let _ = dns::parse_answer(&bytes, id, hickory_proto::rr::RecordType::A);
            let _ = udp_echo::parse(&bytes, id as u32);
            let _ = throughput::parse_report(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("10.0.0.1"), Ok(("10.0.0.1".into(), None)));
        assert_eq!(
            split_host_port("10.0.0.1:53"),
            Ok(("10.0.0.1".into(), Some(53)))
        );
        assert_eq!(
            split_host_port("example.org:8080"),
            Ok(("example.org".into(), Some(8080)))
        );
        assert_eq!(
            split_host_port("2001:db8::1"),
            Ok(("2001:db8::1".into(), None))
        );
        assert_eq!(
            split_host_port("[2001:db8::1]:7"),
            Ok(("2001:db8::1".into(), Some(7)))
        );
        assert!(split_host_port("host:99999").is_err());
        assert!(split_host_port("[::1").is_err());
        assert!(split_host_port("").is_err());
    }

    #[test]
    fn io_errors_are_classified() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(ErrorClass::of_io(&e), ErrorClass::Refused);
        let e = io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        assert_eq!(ErrorClass::of_io(&e), ErrorClass::Unreachable);
        let e = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(ErrorClass::of_io(&e), ErrorClass::Unreachable);
        let e = io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(ErrorClass::of_io(&e), ErrorClass::Permission);
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(ErrorClass::of_io(&e), ErrorClass::Io);
        for k in ProbeKind::ALL {
            assert_eq!(ProbeKind::from_name(k.name()), Some(k));
        }
    }
}
