//! `tcp`: time to complete a TCP handshake, or why it did not.

use std::time::Instant;

use tokio::net::TcpStream;

use super::{host_port, ms_since, resolve, ProbeError, ProbeResult, ProbeTask};

/// Connects to the target (`host:port`, or `port`) and closes at once.
pub async fn run(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let (host, port) = host_port(task, 0)?;
    if port == 0 {
        return Err(ProbeError::new(
            super::ErrorClass::Io,
            "tcp needs a port (target host:port or port = N)",
        ));
    }
    let (addr, dns_ms) = resolve(&host, port).await?;
    r.dns_ms = dns_ms;
    r.address = Some(addr.to_string());
    let t = Instant::now();
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| ProbeError::io(&format!("connecting to {addr}"), &e))?;
    r.connect_ms = Some(ms_since(t));
    r.total_ms = Some(r.dns_ms.unwrap_or(0.0) + ms_since(t));
    drop(stream);
    Ok(())
}
