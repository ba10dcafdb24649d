//! `ntp`: one SNTP exchange (RFC 4330 / RFC 5905 client mode): clock
//! offset, round-trip delay, the server's stratum and reference id.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{connected_udp, host_port, resolve, ErrorClass, ProbeError, ProbeResult, ProbeTask};

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Unix ns as a 64-bit NTP timestamp (era 0).
pub fn to_ntp(unix_ns: u64) -> u64 {
    let secs = unix_ns / 1_000_000_000 + NTP_UNIX_OFFSET;
    let frac = ((unix_ns % 1_000_000_000) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// A 64-bit NTP timestamp as Unix seconds (f64; era 0, valid to 2036,
/// then era 1 for stamps whose seconds wrapped).
pub fn ntp_to_unix(ts: u64) -> f64 {
    let secs = ts >> 32;
    let frac = (ts & 0xffff_ffff) as f64 / 4_294_967_296.0;
    // Era 1 starts 2036-02-07: small second counts belong to it.
    let secs = if secs < 0x8000_0000 {
        secs + (1 << 32)
    } else {
        secs
    };
    secs as f64 - NTP_UNIX_OFFSET as f64 + frac
}

/// The client's request: version 4, mode 3, transmit timestamp `t1`.
pub fn request(t1: u64) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = (4 << 3) | 3;
    p[40..48].copy_from_slice(&t1.to_be_bytes());
    p
}

/// What a server's answer says.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// Leap indicator (3: the server's clock is not synchronised).
    pub leap: u8,
    /// NTP version.
    pub version: u8,
    /// Association mode (4: server).
    pub mode: u8,
    /// The server's stratum (0: kiss-o'-death).
    pub stratum: u8,
    /// The reference id as text: four ASCII letters for stratum 0 and 1
    /// (`GPS`, `LOCL`, a kiss code), an IPv4 address above.
    pub reference: String,
    /// Origin timestamp (our transmit time, echoed), NTP format.
    pub origin: u64,
    /// When the server received the request, NTP format.
    pub receive: u64,
    /// When the server sent the reply, NTP format.
    pub transmit: u64,
}

/// Parses a server reply to the request whose transmit timestamp was `t1`.
pub fn parse_reply(p: &[u8], t1: u64) -> Result<Reply, String> {
    if p.len() < 48 {
        return Err(format!("{} bytes: an NTP packet has 48", p.len()));
    }
    let ts = |i: usize| u64::from_be_bytes(p[i..i + 8].try_into().expect("8 bytes"));
    let r = Reply {
        leap: p[0] >> 6,
        version: (p[0] >> 3) & 7,
        mode: p[0] & 7,
        stratum: p[1],
        reference: reference_text(p[1], &p[12..16]),
        origin: ts(24),
        receive: ts(32),
        transmit: ts(40),
    };
    if r.mode != 4 {
        return Err(format!("mode {} (a server answers 4)", r.mode));
    }
    if r.origin != t1 {
        return Err("the reply's origin timestamp is not our request's".into());
    }
    if r.stratum == 0 {
        return Err(format!("kiss-o'-death {}", r.reference));
    }
    if r.leap == 3 {
        return Err("the server is not synchronised (leap indicator 3)".into());
    }
    if r.transmit == 0 {
        return Err("zero transmit timestamp".into());
    }
    Ok(r)
}

fn reference_text(stratum: u8, id: &[u8]) -> String {
    if stratum <= 1 {
        id.iter()
            .take_while(|&&b| b != 0)
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect()
    } else {
        format!("{}.{}.{}.{}", id[0], id[1], id[2], id[3])
    }
}

/// Offset and delay in seconds from the four timestamps (RFC 5905):
/// t1 client send, t2 server receive, t3 server send, t4 client receive.
pub fn offset_delay(t1: f64, t2: f64, t3: f64, t4: f64) -> (f64, f64) {
    (((t2 - t1) + (t3 - t4)) / 2.0, (t4 - t1) - (t3 - t2))
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One client exchange with the task's server: offset, delay, stratum
/// and reference into `r`.
pub async fn run(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let (host, port) = host_port(task, 123)?;
    let (addr, dns_ms) = resolve(&host, port).await?;
    r.dns_ms = dns_ms;
    r.address = Some(addr.to_string());
    let sock = connected_udp(addr, &format!("connecting to {addr}")).await?;
    let t1_ns = now_ns();
    let t1 = to_ntp(t1_ns);
    sock.send(&request(t1))
        .await
        .map_err(|e| ProbeError::io(&format!("sending to {addr}"), &e))?;
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + task.params.wait.max(task.timeout / 2);
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Err(ProbeError::timeout(&format!("NTP server {addr}"))),
            Ok(Err(e)) => return Err(ProbeError::io(&format!("NTP server {addr}"), &e)),
            Ok(Ok(n)) => n,
        };
        let t4_ns = now_ns();
        let reply = match parse_reply(&buf[..n], t1) {
            Ok(reply) => reply,
            // Not the answer to our request: keep waiting for it.
            Err(_) if n >= 48 && buf[24..32] != t1.to_be_bytes() => continue,
            Err(e) => {
                return Err(ProbeError::new(
                    ErrorClass::Protocol,
                    format!("NTP server {addr}: {e}"),
                ))
            }
        };
        r.ntp_stratum = Some(reply.stratum);
        r.ntp_reference = Some(reply.reference.clone());
        let (offset, delay) = offset_delay(
            t1_ns as f64 / 1e9,
            ntp_to_unix(reply.receive),
            ntp_to_unix(reply.transmit),
            t4_ns as f64 / 1e9,
        );
        r.ntp_offset_ms = Some(offset * 1e3);
        r.ntp_delay_ms = Some(delay * 1e3);
        r.total_ms = Some((t4_ns.saturating_sub(t1_ns)) as f64 / 1e6);
        return Ok(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let ns = 1_700_000_000_250_000_000u64;
        let ts = to_ntp(ns);
        assert_eq!(ts >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert!((ntp_to_unix(ts) - 1_700_000_000.25).abs() < 1e-6);
    }

    #[test]
    fn offset_and_delay() {
        // Server 0.5 s ahead, 20 ms each way, 2 ms in the server.
        let (o, d) = offset_delay(100.0, 100.52, 100.522, 100.042);
        assert!((o - 0.5).abs() < 1e-9, "{o}");
        assert!((d - 0.040).abs() < 1e-9, "{d}");
    }

    fn reply(stratum: u8, refid: [u8; 4], origin: u64) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = (4 << 3) | 4;
        p[1] = stratum;
        p[12..16].copy_from_slice(&refid);
        p[24..32].copy_from_slice(&origin.to_be_bytes());
        p[32..40].copy_from_slice(&to_ntp(1_000_000_000_000_000_000).to_be_bytes());
        p[40..48].copy_from_slice(&to_ntp(1_000_000_000_100_000_000).to_be_bytes());
        p
    }

    #[test]
    fn replies_are_parsed_and_checked() {
        let t1 = to_ntp(999_999_999_000_000_000);
        assert_eq!(request(t1)[0], 0x23);
        let r = parse_reply(&reply(2, [192, 0, 2, 1], t1), t1).unwrap();
        assert_eq!((r.stratum, r.mode, r.version), (2, 4, 4));
        assert_eq!(r.reference, "192.0.2.1");
        let r = parse_reply(&reply(1, *b"GPS\0", t1), t1).unwrap();
        assert_eq!(r.reference, "GPS");
        let e = parse_reply(&reply(0, *b"RATE", t1), t1).unwrap_err();
        assert!(e.contains("kiss-o'-death RATE"), "{e}");
        assert!(parse_reply(&reply(2, [0; 4], t1 + 1), t1).is_err());
        assert!(parse_reply(&reply(2, [0; 4], t1)[..40], t1).is_err());
        let mut client_mode = reply(2, [0; 4], t1);
        client_mode[0] = (4 << 3) | 3;
        assert!(parse_reply(&client_mode, t1).is_err());
    }
}
