//! Where generated frames go: onto an interface through an AF_PACKET raw
//! socket (batches of `sendmmsg`, paced to a rate, to the frames' own
//! timing, or as fast as the interface takes them), or into a classic pcap
//! file.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::packets::Frame;

/// Frames handed to the kernel per `sendmmsg` call.
const BATCH: usize = 64;
/// How often a transient error (ENOBUFS, EAGAIN) is retried before the
/// frame is given up and counted in `errors`, and the pause between tries.
const RETRIES: u32 = 200;
const RETRY_PAUSE: Duration = Duration::from_micros(50);

/// How frames are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the interface takes them.
    Max,
    /// A fixed rate, in frames per second.
    Rate(f64),
    /// The frames' own timestamps, in real time.
    Timestamps,
}

/// When to stop and how to pace.
#[derive(Clone, Copy, Debug)]
pub struct SendOptions<'a> {
    /// How fast frames are sent.
    pub pace: Pace,
    /// Stop after this many frames (sent or failed); `None`: when the
    /// frames run out.
    pub count: Option<u64>,
    /// Stop after this much wall time.
    pub duration: Option<Duration>,
    /// Stop as soon as this is set (checked before every batch).
    pub stop: Option<&'a AtomicBool>,
    /// Frames sent so far, updated after every batch (for a live display).
    pub sent: Option<&'a AtomicU64>,
}

impl Default for SendOptions<'_> {
    fn default() -> Self {
        SendOptions {
            pace: Pace::Timestamps,
            count: None,
            duration: None,
            stop: None,
            sent: None,
        }
    }
}

/// What a sender did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendStats {
    /// Frames the kernel accepted.
    pub frames: u64,
    /// Bytes of the frames the kernel accepted.
    pub bytes: u64,
    /// Frames given up after `RETRIES` transient errors, or refused for
    /// their own sake (e.g. EMSGSIZE: longer than the interface's MTU).
    pub errors: u64,
    /// Transient errors (ENOBUFS, EAGAIN, EINTR) that were retried.
    pub retries: u64,
    /// Wall time from the first frame to the last.
    pub elapsed: Duration,
}

impl SendStats {
    /// Frames per second over `elapsed`.
    pub fn pps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An AF_PACKET raw socket bound to one interface, for sending only: it
/// is opened with protocol 0, so the kernel queues no received frames on
/// it. Needs root or CAP_NET_RAW.
pub struct Sender {
    fd: OwnedFd,
    ifindex: u32,
    iface: String,
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::EINTR)
    )
}

impl Sender {
    /// Opens a raw socket on `iface`.
    pub fn open(iface: &str) -> io::Result<Sender> {
        let name = CString::new(iface).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL")
        })?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface named {iface}"),
            ));
        }
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly opened descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A larger send buffer absorbs bursts; failure only costs retries.
        let size: libc::c_int = 4 << 20;
        // SAFETY: `size` outlives the call and its length is passed.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                &size as *const libc::c_int as *const libc::c_void,
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the given length.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Sender {
            fd,
            ifindex,
            iface: iface.to_string(),
        })
    }

    /// Name of the interface frames are sent on.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Kernel index of that interface.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// One `sendmmsg` call: returns how many of `frames` (a prefix) the
    /// kernel took, at least one, or the error of the first frame.
    fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let mut iov: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: an all-zero mmsghdr is valid (no address, no control).
                let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
                m.msg_hdr.msg_iov = v as *mut libc::iovec;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        // SAFETY: `msgs` points at `iov`, which points at `frames`; all
        // outlive the call, and the count matches the vector.
        let n = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Sends `frames` one batch at a time, retrying transient errors;
    /// updates `stats`. Fatal errors (interface down or gone, no
    /// permission) end the run.
    fn send_all(&self, frames: &[&[u8]], stats: &mut SendStats) -> io::Result<()> {
        let mut at = 0;
        let mut tries = 0;
        while at < frames.len() {
            match self.send_batch(&frames[at..]) {
                Ok(n) => {
                    for f in &frames[at..at + n] {
                        stats.frames += 1;
                        stats.bytes += f.len() as u64;
                    }
                    at += n;
                    tries = 0;
                }
                Err(e) if transient(&e) => {
                    stats.retries += 1;
                    tries += 1;
                    if tries > RETRIES {
                        stats.errors += 1;
                        at += 1;
                        tries = 0;
                    } else if e.raw_os_error() != Some(libc::EINTR) {
                        std::thread::sleep(RETRY_PAUSE);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    stats.errors += 1;
                    at += 1;
                }
                Err(e) => {
                    let what = match e.raw_os_error() {
                        Some(libc::ENETDOWN) => "interface is down",
                        Some(libc::ENXIO) | Some(libc::ENODEV) => "interface is gone",
                        Some(libc::EPERM) | Some(libc::EACCES) => "not permitted",
                        _ => "send failed",
                    };
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{}: {what}: {e}", self.iface),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sends frames until they run out or `opts` says stop.
    pub fn send_paced<I>(&mut self, frames: I, opts: &SendOptions) -> io::Result<SendStats>
    where
        I: IntoIterator<Item = Frame>,
    {
        self.send_paced_with(frames, opts, |_| {})
    }

    /// [`Sender::send_paced`], calling `progress` about once a second.
    pub fn send_paced_with<I, P>(
        &mut self,
        frames: I,
        opts: &SendOptions,
        mut progress: P,
    ) -> io::Result<SendStats>
    where
        I: IntoIterator<Item = Frame>,
        P: FnMut(&SendStats),
    {
        let mut frames = frames.into_iter().peekable();
        let mut stats = SendStats::default();
        let start = Instant::now();
        let deadline = opts.duration.map(|d| start + d);
        let limit = opts.count.unwrap_or(u64::MAX);
        let mut taken = 0u64;
        let mut first_ts: Option<u64> = None;
        let mut next_progress = start + Duration::from_secs(1);
        let mut batch: Vec<Frame> = Vec::with_capacity(BATCH);
        loop {
            if opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                break;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) || taken >= limit {
                break;
            }
            if now >= next_progress {
                stats.elapsed = now - start;
                progress(&stats);
                next_progress += Duration::from_secs(1);
            }
            // How many frames are due now, and when the next one is due.
            let room = (BATCH as u64).min(limit - taken) as usize;
            let (due, wait) = match opts.pace {
                Pace::Max => (room, None),
                Pace::Rate(pps) => {
                    let elapsed = now.duration_since(start).as_secs_f64();
                    let owed = (elapsed * pps).floor() as u64 + 1;
                    let due = owed.saturating_sub(taken).min(room as u64) as usize;
                    let next_at = start + Duration::from_secs_f64(taken as f64 / pps);
                    (
                        due,
                        (due == 0).then(|| next_at.saturating_duration_since(now)),
                    )
                }
                Pace::Timestamps => {
                    let Some(f) = frames.peek() else { break };
                    let t0 = *first_ts.get_or_insert(f.ts_ns);
                    let at = start + Duration::from_nanos(f.ts_ns.saturating_sub(t0));
                    if at > now {
                        (0, Some(at - now))
                    } else {
                        (room, None)
                    }
                }
            };
            if let Some(w) = wait {
                let w = match deadline {
                    Some(d) => w.min(d.saturating_duration_since(now)),
                    None => w,
                };
                // Sleep rather than spin (the receiving end may need this
                // core): a late wake-up only makes the next batch larger,
                // the rate holds. Slices of at most 50 ms keep a stop
                // request seen quickly.
                if w >= Duration::from_micros(20) {
                    std::thread::sleep(w.min(Duration::from_millis(50)));
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            batch.clear();
            while batch.len() < due {
                if let Pace::Timestamps = opts.pace {
                    let t0 = first_ts.unwrap_or(0);
                    match frames.peek() {
                        Some(f)
                            if start + Duration::from_nanos(f.ts_ns.saturating_sub(t0)) <= now => {}
                        _ => break,
                    }
                }
                match frames.next() {
                    Some(f) => batch.push(f),
                    None => break,
                }
            }
            if batch.is_empty() {
                if frames.peek().is_none() {
                    break;
                }
                continue;
            }
            taken += batch.len() as u64;
            let slices: Vec<&[u8]> = batch.iter().map(|f| f.data.as_slice()).collect();
            self.send_all(&slices, &mut stats)?;
            if let Some(sent) = opts.sent {
                sent.store(stats.frames, Ordering::Relaxed);
            }
        }
        stats.elapsed = start.elapsed();
        Ok(stats)
    }
}

/// What [`write_pcap`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// Frames written.
    pub frames: u64,
    /// Bytes of frame data written (record headers excluded).
    pub bytes: u64,
    /// Packet time of the last frame relative to the first.
    pub span_ns: u64,
}

/// Writes `frames` to `w` as a classic pcap (microsecond timestamps,
/// Ethernet link type); frame times are `start_unix_ns` plus each frame's
/// relative time.
pub fn write_pcap_to<W: Write, I: IntoIterator<Item = Frame>>(
    mut w: W,
    frames: I,
    start_unix_ns: u64,
) -> io::Result<PcapStats> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
    h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    w.write_all(&h)?;
    let mut stats = PcapStats::default();
    let mut first = None;
    for f in frames {
        let t0 = *first.get_or_insert(f.ts_ns);
        stats.span_ns = f.ts_ns.saturating_sub(t0);
        let ts = start_unix_ns + f.ts_ns;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((ts % 1_000_000_000 / 1000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&(f.data.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(f.data.len() as u32).to_le_bytes());
        w.write_all(&rec)?;
        w.write_all(&f.data)?;
        stats.frames += 1;
        stats.bytes += f.data.len() as u64;
    }
    w.flush()?;
    Ok(stats)
}

/// [`write_pcap_to`] a new file at `path`.
pub fn write_pcap<I: IntoIterator<Item = Frame>>(
    path: &Path,
    frames: I,
    start_unix_ns: u64,
) -> io::Result<PcapStats> {
    let f = File::create(path)?;
    let stats = write_pcap_to(BufWriter::with_capacity(1 << 20, &f), frames, start_unix_ns)?;
    f.sync_all()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_layout() {
        let frames = vec![
            Frame {
                ts_ns: 0,
                data: vec![1; 60],
            },
            Frame {
                ts_ns: 1_500_000_123,
                data: vec![2; 61],
            },
        ];
        let mut out = Vec::new();
        let s = write_pcap_to(&mut out, frames, 1_700_000_000_000_000_000).unwrap();
        assert_eq!(s.frames, 2);
        assert_eq!(s.bytes, 121);
        assert_eq!(s.span_ns, 1_500_000_123);
        assert_eq!(&out[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&out[20..24], &[1, 0, 0, 0]);
        assert_eq!(out.len(), 24 + 16 + 60 + 16 + 61);
        let r2 = 24 + 16 + 60;
        assert_eq!(&out[r2..r2 + 4], &1_700_000_001u32.to_le_bytes());
        assert_eq!(&out[r2 + 4..r2 + 8], &500_000u32.to_le_bytes());
        assert_eq!(&out[r2 + 8..r2 + 12], &61u32.to_le_bytes());
    }

    #[test]
    fn open_unknown_interface_fails_clearly() {
        let e = Sender::open("no-such-if0").err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no-such-if0"));
    }
}
