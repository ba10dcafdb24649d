//! `udp_echo`: a round of numbered datagrams to an echo responder (RFC 862,
//! such as `tapscope echo-server`): RTT statistics, loss, jitter,
//! reordering and duplicates. And the responder itself.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use super::stats::{fill_round, reordered};
use super::{connected_udp, host_port, resolve, ErrorClass, ProbeError, ProbeResult, ProbeTask};

/// Marks tapscope's echo datagrams: magic, run id, sequence number.
const MAGIC: &[u8; 4] = b"TSE1";
const HEADER: usize = 12;

/// The datagram of packet `seq` of run `run`, `size` bytes (at least the header).
pub fn datagram(run: u32, seq: u32, size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size.max(HEADER)];
    d[..4].copy_from_slice(MAGIC);
    d[4..8].copy_from_slice(&run.to_be_bytes());
    d[8..12].copy_from_slice(&seq.to_be_bytes());
    d
}

/// The sequence number of an echoed datagram of run `run`.
pub fn parse(d: &[u8], run: u32) -> Option<u32> {
    if d.len() < HEADER || &d[..4] != MAGIC || d[4..8] != run.to_be_bytes() {
        return None;
    }
    Some(u32::from_be_bytes(d[8..12].try_into().ok()?))
}

/// One round of numbered datagrams to the task's echo responder: loss,
/// RTT figures, reordering and duplicates into `r`.
pub async fn run(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let p = &task.params;
    let (host, port) = host_port(task, 7)?;
    let (addr, dns_ms) = resolve(&host, port).await?;
    r.dns_ms = dns_ms;
    r.address = Some(addr.to_string());
    let sock = connected_udp(addr, &format!("connecting to {addr}")).await?;
    let run_id = fastrand::u32(..);
    let count = p.count.max(1);
    let mut sent_at: Vec<Option<Instant>> = vec![None; count as usize];
    let mut rtt: Vec<Option<f64>> = vec![None; count as usize];
    let mut arrivals = Vec::new();
    let mut dups = 0u32;
    let mut last_error: Option<std::io::Error> = None;
    let mut next = 0u32;
    let mut next_at = Instant::now();
    let mut buf = vec![0u8; p.size.max(HEADER) + 64];
    loop {
        let deadline = if next < count {
            next_at
        } else {
            // After the last send, wait for stragglers.
            sent_at[count as usize - 1].map_or(Instant::now(), |t| t + p.wait)
        };
        if next >= count && (Instant::now() >= deadline || rtt.iter().all(Option::is_some)) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {
                if next < count {
                    let d = datagram(run_id, next, p.size);
                    // Stamped before the send: on a fast path the echo may
                    // be queued before send returns.
                    let t = Instant::now();
                    match sock.send(&d).await {
                        Ok(_) => sent_at[next as usize] = Some(t),
                        Err(e) => last_error = Some(e),
                    }
                    next += 1;
                    next_at += p.spacing;
                }
            }
            got = sock.recv(&mut buf) => match got {
                Ok(n) => {
                    let now = Instant::now();
                    if let Some(seq) = parse(&buf[..n], run_id).filter(|&s| s < count) {
                        let i = seq as usize;
                        match (rtt[i], sent_at[i]) {
                            (Some(_), _) => dups += 1,
                            (None, Some(t)) => {
                                rtt[i] = Some(now.duration_since(t).as_secs_f64() * 1e3);
                                arrivals.push(seq);
                            }
                            (None, None) => {}
                        }
                    }
                }
                // A port unreachable shows as ECONNREFUSED on the next call.
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    let sent = sent_at.iter().filter(|t| t.is_some()).count() as u32;
    let rtts: Vec<f64> = rtt.iter().flatten().copied().collect();
    fill_round(r, sent, &rtts);
    r.reordered = Some(reordered(&arrivals));
    r.duplicates = Some(dups);
    if rtts.is_empty() {
        return Err(match last_error {
            Some(e) => ProbeError::io(&format!("echo from {addr}"), &e),
            None => ProbeError::new(
                ErrorClass::Timeout,
                format!("no echo from {addr} ({sent} sent)"),
            ),
        });
    }
    Ok(())
}

/// `tapscope echo-server`: sends every datagram back to its sender, until
/// the process is stopped. Returns only on a socket error.
pub fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let sock = StdUdpSocket::bind(listen)?;
    eprintln!("echo server on udp {}", sock.local_addr()?);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // A failed send (the sender's buffer, an ICMP error) loses that echo only.
        let _ = sock.send_to(&buf[..n], from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProbeKind, ProbeParams};
    use std::sync::Arc;

    #[test]
    fn datagrams_round_trip() {
        let d = datagram(7, 42, 64);
        assert_eq!(d.len(), 64);
        assert_eq!(parse(&d, 7), Some(42));
        assert_eq!(parse(&d, 8), None);
        assert_eq!(parse(&d[..10], 7), None);
        assert_eq!(datagram(1, 2, 0).len(), HEADER);
    }

    #[test]
    fn a_round_against_a_local_responder() {
        let srv = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap();
        // Echo every datagram but the third, and the fifth twice.
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut i = 0;
            while let Ok((n, from)) = srv.recv_from(&mut buf) {
                i += 1;
                if i == 3 {
                    continue;
                }
                srv.send_to(&buf[..n], from).unwrap();
                if i == 5 {
                    srv.send_to(&buf[..n], from).unwrap();
                }
            }
        });
        let task = ProbeTask {
            name: Arc::from("echo"),
            kind: ProbeKind::UdpEcho,
            target: Arc::from(addr.to_string()),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            params: ProbeParams {
                count: 6,
                spacing: Duration::from_millis(5),
                wait: Duration::from_millis(300),
                ..ProbeParams::default()
            },
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(crate::run(&task));
        assert!(r.ok, "{r:?}");
        assert_eq!((r.sent, r.received), (Some(6), Some(5)));
        assert!((r.loss.unwrap() - 1.0 / 6.0).abs() < 1e-9);
        assert_eq!(r.duplicates, Some(1));
        assert!(r.rtt_min_ms.unwrap() > 0.0 && r.rtt_max_ms.unwrap() < 1000.0);

        // Nobody listening: ICMP port unreachable, so `refused`.
        let closed = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let task = ProbeTask {
            target: Arc::from(format!("127.0.0.1:{port}")),
            ..task
        };
        let r = rt.block_on(crate::run(&task));
        assert!(!r.ok);
        assert_eq!(r.error_class(), Some("refused"), "{r:?}");
        assert_eq!(r.rtt_min_ms, None);
        assert_eq!(r.received, Some(0));
    }
}
