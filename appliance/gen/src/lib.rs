//! tapscope's own traffic generator: realistic conversations synthesized as
//! Ethernet frames in both directions, as a tap on a mirror port sees them
//! (no sockets, no servers), for the demo link and for live-capture tests.
//!
//! - [`packets`]: Ethernet/IPv4/IPv6 frame builders with correct lengths
//!   and checksums; a TCP conversation keeping both sides' sequence numbers.
//! - [`dns`], [`tls`], [`quic`]: DNS messages with name compression, TLS 1.3
//!   hellos with SNI and ALPN, QUIC v1 Initial packets protected as RFC 9001
//!   prescribes (so observers can read their SNI).
//! - [`mix`]: [`TrafficMix`], a seeded, endless iterator of timestamped
//!   frames: DNS, TLS, QUIC, HTTP, bulk downloads, pings, a port scan and a
//!   host sweep among a handful of LAN devices and internet servers.
//! - [`send`]: a paced AF_PACKET [`Sender`] and a pcap writer.
//!
//! ```no_run
//! use generator::{GenConfig, Pace, SendOptions, Sender, TrafficMix};
//! let mix = TrafficMix::new(GenConfig::default());
//! let mut tx = Sender::open("veth-demo0")?;
//! let opts = SendOptions {
//!     pace: Pace::Rate(5000.0),
//!     count: Some(50_000),
//!     ..Default::default()
//! };
//! let stats = tx.send_paced(mix, &opts)?;
//! println!("{} frames, {} errors", stats.frames, stats.errors);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod dns;
pub mod mix;
pub mod packets;
pub mod quic;
pub mod send;
pub mod tls;

pub use mix::{GenConfig, Parts, TrafficMix};
pub use packets::Frame;
pub use send::{write_pcap, write_pcap_to, Pace, PcapStats, SendOptions, SendStats, Sender};

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc;

/// Sends the default traffic mix on `iface` at `rate_pps` frames per
/// second (0: at the traffic's own timing, a few thousand per second)
/// until `stop` is set, keeping `sent` at the number of frames sent so far.
/// Frames are generated on a thread of their own. For the errors and bytes
/// of the run, use [`Sender::send_paced`] directly.
pub fn demo_send(
    iface: &str,
    rate_pps: u64,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> io::Result<()> {
    let mut tx = Sender::open(iface)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {iface} for sending: {e}")))?;
    let opts = SendOptions {
        pace: if rate_pps == 0 {
            Pace::Timestamps
        } else {
            Pace::Rate(rate_pps as f64)
        },
        stop: Some(stop),
        sent: Some(sent),
        ..SendOptions::default()
    };
    let mix = TrafficMix::new(GenConfig::default());
    tx.send_paced(generated(mix), &opts)?;
    Ok(())
}

/// Frames of `mix` made on a thread of their own, so generating and
/// sending overlap; chunks of a few thousand frames cross a bounded channel.
pub fn generated(mix: TrafficMix) -> impl Iterator<Item = Frame> {
    let (tx, rx) = mpsc::sync_channel::<Vec<Frame>>(8);
    std::thread::Builder::new()
        .name("gen".into())
        .spawn(move || {
            let mut mix = mix;
            loop {
                let chunk: Vec<Frame> = mix.by_ref().take(4096).collect();
                if chunk.is_empty() || tx.send(chunk).is_err() {
                    return;
                }
            }
        })
        .expect("spawning the generator thread");
    rx.into_iter().flatten()
}
