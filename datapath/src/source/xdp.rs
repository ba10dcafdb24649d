//! AF_XDP frame source: one socket per NIC RX queue.
//!
//! The socket is bound with the best mode the driver grants, tried in order:
//! native (driver) XDP with zero-copy, native with copy, then generic (SKB)
//! XDP with copy; `need_wakeup` is asked for in every mode. The mode that
//! was granted is reported ([`BoundMode::name`]) in the `capture` table and
//! the logs. libxdp attaches its default program, which redirects every
//! frame to the socket of its RX queue through an XSKMAP.
//!
//! The UMEM frames cycle between the kernel and us: all are given to the
//! fill ring at start; a batch taken from the RX ring is handed to the worker
//! and then returned to the fill ring, so no frame is ever copied or lost
//! by the source itself. The clock is read once per batch.

use std::convert::TryInto;
use std::fmt;
use std::num::NonZeroU32;

use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::{Frame, FrameSource, Poll, SourceStats};
use crate::parse::LinkType;

/// Which XDP attach modes may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native if the driver supports it, else generic.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

/// Whether zero-copy binding is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Try zero-copy, fall back to copy.
    Auto,
    /// Copy mode only.
    Off,
    /// Zero-copy or fail.
    Required,
}

/// AF_XDP settings for one queue.
#[derive(Clone, Debug)]
pub struct XdpConfig {
    /// Interface to capture on (the mirror port), e.g. `eth1`.
    pub iface: String,
    /// RX queue of the interface this socket reads.
    pub queue: u32,
    /// UMEM frames (a power of two); the fill ring holds all of them.
    pub frame_count: u32,
    /// UMEM frame size: 2048 or 4096 (a larger frame holds jumbo frames).
    pub frame_size: u32,
    /// RX ring size (a power of two).
    pub rx_ring: u32,
    /// Which XDP attach modes may be tried.
    pub attach: AttachMode,
    /// Whether zero-copy is tried, refused or required.
    pub zero_copy: ZeroCopy,
    /// After this many empty polls in a row the worker blocks in poll(2)
    /// for up to `idle_wait_ms` (0: never block, pure busy-polling).
    pub idle_polls_before_wait: u32,
    /// Longest block in poll(2), ms, once `idle_polls_before_wait` empty polls
    /// were counted.
    pub idle_wait_ms: i32,
    /// Adaptive polling: after a poll that found fewer than a quarter of a
    /// batch (or none), sleep this long so frames gather in the RX ring and
    /// the next poll takes them in one batch (0: spin). Under load every
    /// poll fills a batch and the worker never sleeps; at low rates the
    /// core is mostly idle instead of spinning. The RX ring must hold what
    /// arrives meanwhile: at 14.88 Mpps, 200 us is 2,976 frames.
    pub coalesce_us: u32,
}

impl XdpConfig {
    /// Default settings for queue `queue` of `iface`: 32,768 frames of 2 KiB, a
    /// 16,384-slot RX ring, best mode available, 200 us coalescing.
    pub fn new(iface: &str, queue: u32) -> Self {
        XdpConfig {
            iface: iface.to_string(),
            queue,
            frame_count: 32_768,
            frame_size: 2048,
            rx_ring: 16_384,
            attach: AttachMode::Auto,
            zero_copy: ZeroCopy::Auto,
            idle_polls_before_wait: 1024,
            idle_wait_ms: 1,
            coalesce_us: 200,
        }
    }
}

/// The mode a socket was bound in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundMode {
    /// True when frames land in the UMEM without a copy.
    pub zero_copy: bool,
    /// True for native (driver) XDP, false for generic (SKB) XDP.
    pub native: bool,
}

impl BoundMode {
    /// `xdp-zerocopy-native`, `xdp-copy-native` or `xdp-copy-generic`.
    pub fn name(&self) -> &'static str {
        match (self.zero_copy, self.native) {
            (true, true) => "xdp-zerocopy-native",
            (false, true) => "xdp-copy-native",
            (true, false) => "xdp-zerocopy-generic",
            (false, false) => "xdp-copy-generic",
        }
    }
}

/// Why no socket could be bound: every mode tried, with the kernel's answer.
#[derive(Debug)]
pub struct XdpError {
    /// Interface the socket was for.
    pub iface: String,
    /// RX queue the socket was for.
    pub queue: u32,
    /// Every mode tried, in order, with the kernel's error for it.
    pub attempts: Vec<(BoundMode, String)>,
}

impl fmt::Display for XdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot bind an AF_XDP socket to {} queue {}",
            self.iface, self.queue
        )?;
        for (m, e) in &self.attempts {
            write!(f, "; {}: {}", m.name(), e)?;
        }
        Ok(())
    }
}

impl std::error::Error for XdpError {}

/// An AF_XDP socket on one RX queue, as a [`FrameSource`].
pub struct XdpSource {
    umem: Umem,
    rx: RxQueue,
    fq: FillQueue,
    _tx: TxQueue,
    _cq: CompQueue,
    descs: Vec<FrameDesc>,
    mode: BoundMode,
    /// Modes tried before the one granted, with the kernel's refusal.
    refused: Vec<(BoundMode, String)>,
    empty_polls: u32,
    cfg: XdpConfig,
    /// Frames the fill ring refused back (should stay 0).
    fill_refused: u64,
    poll_errors: u64,
    coalesced: u64,
}

// The rings and the UMEM are used by the one worker thread that owns the
// source; xsk-rs marks its inner types Send.
fn modes(cfg: &XdpConfig) -> Vec<BoundMode> {
    let mut v = Vec::new();
    let natives: &[bool] = match cfg.attach {
        AttachMode::Auto => &[true, false],
        AttachMode::Native => &[true],
        AttachMode::Generic => &[false],
    };
    for &native in natives {
        match cfg.zero_copy {
            ZeroCopy::Auto => {
                v.push(BoundMode {
                    zero_copy: true,
                    native,
                });
                v.push(BoundMode {
                    zero_copy: false,
                    native,
                });
            }
            ZeroCopy::Off => v.push(BoundMode {
                zero_copy: false,
                native,
            }),
            ZeroCopy::Required => v.push(BoundMode {
                zero_copy: true,
                native,
            }),
        }
    }
    v
}

impl XdpSource {
    /// Binds a socket to `cfg.iface` / `cfg.queue` in the best mode granted.
    pub fn open(cfg: XdpConfig) -> Result<XdpSource, XdpError> {
        let mut refused = Vec::new();
        for mode in modes(&cfg) {
            match Self::try_bind(&cfg, mode) {
                Ok((umem, tx, rx, fq, cq, descs)) => {
                    let mut s = XdpSource {
                        umem,
                        rx,
                        fq,
                        _tx: tx,
                        _cq: cq,
                        descs: Vec::new(),
                        mode,
                        refused,
                        empty_polls: 0,
                        cfg,
                        fill_refused: 0,
                        poll_errors: 0,
                        coalesced: 0,
                    };
                    // Give every frame to the kernel.
                    let given = unsafe { s.fq.produce(&descs) };
                    s.fill_refused += (descs.len() - given) as u64;
                    // The batch buffer is the descriptor list itself, reused.
                    s.descs = descs;
                    return Ok(s);
                }
                Err(e) => refused.push((mode, e)),
            }
        }
        Err(XdpError {
            iface: cfg.iface.clone(),
            queue: cfg.queue,
            attempts: refused,
        })
    }

    #[allow(clippy::type_complexity)]
    fn try_bind(
        cfg: &XdpConfig,
        mode: BoundMode,
    ) -> Result<(Umem, TxQueue, RxQueue, FillQueue, CompQueue, Vec<FrameDesc>), String> {
        let q = |n: u32| QueueSize::new(n).map_err(|e| e.to_string());
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(cfg.frame_size).map_err(|e| e.to_string())?)
            .fill_queue_size(q(cfg.frame_count)?)
            .comp_queue_size(q(64)?)
            .build()
            .map_err(|e| e.to_string())?;
        let count: NonZeroU32 = cfg
            .frame_count
            .try_into()
            .map_err(|_| "frame_count must not be 0".to_string())?;
        let (umem, descs) = Umem::new(umem_cfg, count, false).map_err(|e| e.to_string())?;
        let mut bind = BindFlags::XDP_USE_NEED_WAKEUP;
        bind |= if mode.zero_copy {
            BindFlags::XDP_ZEROCOPY
        } else {
            BindFlags::XDP_COPY
        };
        let xdp = if mode.native {
            XdpFlags::XDP_FLAGS_DRV_MODE
        } else {
            XdpFlags::XDP_FLAGS_SKB_MODE
        };
        let sock_cfg = SocketConfig::builder()
            .rx_queue_size(q(cfg.rx_ring)?)
            .tx_queue_size(q(64)?)
            .libxdp_flags(LibxdpFlags::empty())
            .xdp_flags(xdp)
            .bind_flags(bind)
            .build();
        let iface: Interface = cfg
            .iface
            .parse()
            .map_err(|_| "interface name holds a NUL byte".to_string())?;
        // SAFETY: the UMEM is not shared with another socket.
        let (tx, rx, rings) = unsafe { Socket::new(sock_cfg, &umem, &iface, cfg.queue) }
            .map_err(|e| e.to_string())?;
        let (fq, cq) = rings.ok_or_else(|| "no fill/completion rings returned".to_string())?;
        Ok((umem, tx, rx, fq, cq, descs))
    }

    /// The mode the socket was bound in.
    pub fn mode(&self) -> BoundMode {
        self.mode
    }

    /// Modes that were tried first and refused, with the reason.
    pub fn refused(&self) -> &[(BoundMode, String)] {
        &self.refused
    }

    /// The settings the socket was opened with.
    pub fn config(&self) -> &XdpConfig {
        &self.cfg
    }
}

fn realtime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer; CLOCK_REALTIME always exists (vDSO,
    // no syscall).
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl XdpSource {
    /// Sleeps `coalesce_us` (adaptive polling, see [`XdpConfig::coalesce_us`]).
    fn coalesce(&mut self) {
        self.coalesced += 1;
        std::thread::sleep(std::time::Duration::from_micros(
            self.cfg.coalesce_us as u64,
        ));
    }

    /// Times the worker slept to let frames gather.
    pub fn coalesced(&self) -> u64 {
        self.coalesced
    }
}

impl FrameSource for XdpSource {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        let max = max.min(self.descs.len()).max(1);
        // SAFETY: the descriptors are ours (returned by the UMEM) and are
        // only handed back to the fill ring after the frames were read.
        let n = unsafe { self.rx.consume(&mut self.descs[..max]) };
        if n == 0 {
            if self.fq.needs_wakeup() && self.fq.wakeup(self.rx.fd_mut(), 0).is_err() {
                self.poll_errors += 1;
            }
            self.empty_polls += 1;
            if self.cfg.coalesce_us > 0 && self.empty_polls < self.cfg.idle_polls_before_wait {
                self.coalesce();
            } else if self.cfg.idle_wait_ms > 0
                && self.empty_polls >= self.cfg.idle_polls_before_wait
            {
                // Idle: sleep in the kernel until a frame comes, briefly.
                if self.rx.poll(self.cfg.idle_wait_ms).is_err() {
                    self.poll_errors += 1;
                }
            }
            return Poll::Idle {
                now_ns: realtime_ns(),
            };
        }
        self.empty_polls = 0;
        let now = realtime_ns();
        for d in &self.descs[..n] {
            // SAFETY: the frame was filled by the kernel and is ours until
            // it goes back to the fill ring below.
            let data = unsafe { self.umem.data(d) };
            let bytes = data.contents();
            f(&Frame {
                data: bytes,
                wire_len: bytes.len() as u32,
                ts_ns: now,
                link: LinkType::Ethernet,
            });
        }
        // SAFETY: these frames were consumed above and are no longer read.
        let given = unsafe { self.fq.produce(&self.descs[..n]) };
        if given < n {
            self.fill_refused += (n - given) as u64;
        }
        if self.cfg.coalesce_us > 0 && n < max / 4 {
            self.coalesce();
        }
        if self.fq.needs_wakeup() && self.fq.wakeup(self.rx.fd_mut(), 0).is_err() {
            self.poll_errors += 1;
        }
        Poll::Frames(n)
    }

    /// The kernel's XDP statistics for this socket (one getsockopt; the
    /// worker calls it once per epoch).
    fn stats(&self) -> SourceStats {
        match self.rx.fd().xdp_statistics() {
            Ok(s) => SourceStats {
                dropped: s.rx_dropped(),
                ring_full: s.rx_ring_full(),
                fill_ring_empty: s.rx_fill_ring_empty_descs(),
                invalid: s.rx_invalid_descs() + self.fill_refused,
            },
            Err(_) => SourceStats {
                invalid: self.fill_refused,
                ..SourceStats::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_order_prefers_native_zero_copy() {
        let cfg = XdpConfig::new("eth0", 0);
        let names: Vec<_> = modes(&cfg).iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "xdp-zerocopy-native",
                "xdp-copy-native",
                "xdp-zerocopy-generic",
                "xdp-copy-generic"
            ]
        );
        let cfg = XdpConfig {
            zero_copy: ZeroCopy::Off,
            attach: AttachMode::Native,
            ..XdpConfig::new("eth0", 0)
        };
        assert_eq!(
            modes(&cfg).iter().map(|m| m.name()).collect::<Vec<_>>(),
            ["xdp-copy-native"]
        );
    }

    #[test]
    fn missing_interface_names_every_attempt() {
        let e = XdpSource::open(XdpConfig::new("no-such-if0", 0))
            .err()
            .expect("no such interface");
        assert_eq!(e.attempts.len(), 4);
        assert!(e.to_string().contains("no-such-if0 queue 0"), "{e}");
    }
}
