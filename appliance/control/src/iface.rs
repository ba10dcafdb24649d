//! The capture interface: checks, queue count, promiscuous mode, bpffs.
//!
//! System calls go through `rustix` (socket, the SIOCGIFINDEX ioctl,
//! geteuid, mount). One stays hand-written: `setsockopt(PACKET_ADD_MEMBERSHIP)`
//! with a `packet_mreq`, which neither `rustix` nor `socket2` offers.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// Whether the process runs with root privileges (AF_XDP needs
/// CAP_NET_ADMIN, CAP_BPF/CAP_SYS_ADMIN and CAP_NET_RAW).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether an interface of that name exists.
pub fn exists(iface: &str) -> bool {
    !iface.is_empty() && !iface.contains('/') && Path::new("/sys/class/net").join(iface).exists()
}

/// Number of RX queues of an interface (from sysfs; at least 1).
pub fn rx_queues(iface: &str) -> usize {
    fs::read_dir(Path::new("/sys/class/net").join(iface).join("queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

/// The interface's own counters and link state (sysfs), as the kernel
/// driver keeps them: what reached the NIC, whether or not tapscope saw it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Frames received.
    pub rx_packets: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Dropped by the driver or stack (no buffer, XDP_DROP/redirect failure).
    pub rx_dropped: u64,
    /// Missed by the NIC (its FIFO overflowed: the host did not keep up).
    pub rx_missed: u64,
    /// Receive errors (CRC, length, frame alignment, FIFO).
    pub rx_errors: u64,
    /// Carrier present now.
    pub carrier: bool,
    /// Link up/down transitions since the interface was created.
    pub carrier_changes: u64,
}

impl NicStats {
    /// Reads the counters of `iface`; `None` if it is gone.
    pub fn read(iface: &str) -> Option<NicStats> {
        let dir = Path::new("/sys/class/net").join(iface);
        let num = |rel: &str| -> u64 {
            fs::read_to_string(dir.join(rel))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        if !dir.exists() {
            return None;
        }
        Some(NicStats {
            rx_packets: num("statistics/rx_packets"),
            rx_bytes: num("statistics/rx_bytes"),
            rx_dropped: num("statistics/rx_dropped"),
            rx_missed: num("statistics/rx_missed_errors") + num("statistics/rx_fifo_errors"),
            rx_errors: num("statistics/rx_errors"),
            // `carrier` cannot be read while the interface is down.
            carrier: num("carrier") == 1,
            carrier_changes: num("carrier_changes"),
        })
    }

    /// Counter increases from `earlier` to `self` (link state from `self`).
    pub fn since(&self, earlier: &NicStats) -> NicStats {
        NicStats {
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            rx_dropped: self.rx_dropped.saturating_sub(earlier.rx_dropped),
            rx_missed: self.rx_missed.saturating_sub(earlier.rx_missed),
            rx_errors: self.rx_errors.saturating_sub(earlier.rx_errors),
            carrier: self.carrier,
            carrier_changes: self.carrier_changes.saturating_sub(earlier.carrier_changes),
        }
    }
}

/// Keeps an interface in promiscuous mode while it lives.
///
/// It holds a packet-socket membership (PACKET_MR_PROMISC) rather than
/// setting IFF_PROMISC: the kernel counts memberships and drops this one when
/// the socket closes, so the interface's own promiscuous setting is restored
/// even if tapscope is killed with SIGKILL. The socket has protocol 0, so it
/// receives no packets.
pub struct Promisc {
    /// The packet socket; closing it drops the membership.
    _socket: OwnedFd,
}

impl Promisc {
    /// Puts `iface` in promiscuous mode until the value is dropped.
    pub fn enable(iface: &str) -> io::Result<Promisc> {
        let socket = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let index = rustix::net::netdevice::name_to_index(&socket, iface)?;
        let mreq = libc::packet_mreq {
            mr_ifindex: index as i32,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        // SAFETY: a valid packet_mreq of the size given, on a socket we own.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                (&raw const mreq).cast::<libc::c_void>(),
                std::mem::size_of::<libc::packet_mreq>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Promisc { _socket: socket })
    }
}

/// Mounts the BPF filesystem at /sys/fs/bpf if nothing is mounted there
/// (libxdp pins its dispatcher there).
pub fn ensure_bpffs() {
    let mounted = fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
        })
        .unwrap_or(true);
    if mounted {
        return;
    }
    let _ = fs::create_dir_all("/sys/fs/bpf");
    // A failure only loses pinning.
    if let Err(e) = rustix::mount::mount(
        "bpf",
        "/sys/fs/bpf",
        "bpf",
        rustix::mount::MountFlags::empty(),
        None,
    ) {
        tracing::warn!("could not mount bpffs at /sys/fs/bpf: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IFF_PROMISC in the interface's sysfs `flags`.
    fn promiscuous(iface: &str) -> bool {
        let flags = fs::read_to_string(Path::new("/sys/class/net").join(iface).join("flags"))
            .expect("sysfs flags");
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
        flags & 0x100 != 0
    }

    #[test]
    fn promiscuous_mode_lasts_as_long_as_the_membership() {
        assert!(Promisc::enable("no-such-if0").is_err());
        if !is_root() {
            let e = Promisc::enable("lo").err().expect("needs CAP_NET_RAW");
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
            return;
        }
        let before = promiscuous("lo");
        let p = Promisc::enable("lo").unwrap();
        assert!(promiscuous("lo"));
        drop(p);
        assert_eq!(promiscuous("lo"), before);
    }

    #[test]
    fn loopback_exists_and_has_a_queue() {
        assert!(exists("lo"));
        assert!(!exists("no-such-if0"));
        assert!(!exists("../lo"));
        assert!(rx_queues("lo") >= 1);
    }
}
