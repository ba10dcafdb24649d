//! The lab's network: four namespaces the lab creates and deletes.
//!
//! ```text
//!  client ns            router ns                          server ns
//!  c0 192.168.77.2 ──── rc 192.168.77.1   rs 198.51.100.1 ──── s0 198.51.100.10
//!                       │  ingress: mirror → m0             (nginx, HTTPS)
//!                       │  egress:  mirror → m0             rs root: tbf (upstream cap)
//!                       │                                   rs ingress → ifbd: tbf (downstream cap)
//!                       m0 ─────────────── m1  tap ns (tapscope captures m1 with AF_XDP)
//! ```
//!
//! The cap is a token bucket in each direction on the router: upstream on
//! `rs`'s egress, downstream on an ifb that `rs`'s ingress is redirected
//! to (this kernel has no netem, so no delay or loss emulation). The
//! client's port `rc` is mirrored in both directions onto the veth pair
//! `m0`–`m1`, after the downstream cap and before the upstream one: the
//! tap sees exactly what a SPAN port on the client's switch port shows.
//! The player's traffic never crosses tapscope's XDP program, which sits
//! on `m1` only. Offloads are off on every lab link so the tap sees
//! wire-sized frames.
//!
//! The client is in a private range (a home device to the tap), the
//! server in TEST-NET-2 (a remote server).

use std::net::Ipv4Addr;

use crate::cmd::{run, run_in};
use crate::error::{LabError, Result};

/// The client's address.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
/// The router's address on the client side.
pub const ROUTER_CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// The router's address on the server side.
pub const ROUTER_SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The server's address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The interface tapscope captures, in the tap namespace.
pub const TAP_IFACE: &str = "m1";

/// The lab's namespaces and links. Dropping it deletes them (and with
/// them every link and qdisc inside).
#[derive(Debug)]
pub struct LabNet {
    /// The client (browser) namespace.
    pub client: String,
    /// The router namespace (caps and mirror).
    pub router: String,
    /// The server (nginx) namespace.
    pub server: String,
    /// The tap namespace (tapscope on [`TAP_IFACE`]).
    pub tap: String,
    /// The client's MAC address (`aa:bb:...`), as the tap sees it.
    pub client_mac: String,
    created: Vec<String>,
}

/// A token bucket for `mbps`: (rate, burst, limit) as tc arguments.
/// The burst holds at least two full frames and 4 ms at the rate; the
/// queue holds 200 ms at the rate (at least 16 KB), a home router's
/// buffer rather than a datacenter switch's.
pub fn tbf_args(mbps: f64) -> Result<[String; 3]> {
    if !(mbps.is_finite() && mbps > 0.0) {
        return Err(LabError::Invalid(format!(
            "bandwidth cap {mbps} Mbit/s: a cap must be a positive number"
        )));
    }
    let bytes_per_s = mbps * 1e6 / 8.0;
    let burst = (bytes_per_s * 0.004).max(3028.0).round() as u64;
    let limit = (bytes_per_s * 0.2).max(16384.0).round() as u64;
    let rate = (mbps * 1000.0).round().max(1.0) as u64;
    Ok([format!("{rate}kbit"), burst.to_string(), limit.to_string()])
}

impl LabNet {
    /// Creates the namespaces, links, addresses, routes, the mirror and
    /// the caps (at `mbps`). Names are `<prefix>c`, `<prefix>r`,
    /// `<prefix>s` and `<prefix>t`; any left over from a killed run with the
    /// same prefix are deleted first.
    pub fn create(prefix: &str, mbps: f64) -> Result<LabNet> {
        let mut net = LabNet {
            client: format!("{prefix}c"),
            router: format!("{prefix}r"),
            server: format!("{prefix}s"),
            tap: format!("{prefix}t"),
            client_mac: String::new(),
            created: Vec::new(),
        };
        for ns in [&net.client, &net.router, &net.server, &net.tap] {
            kill_inside(ns);
            let _ = run("ip", &["netns", "del", ns]);
        }
        net.build(mbps)?;
        Ok(net)
    }

    fn build(&mut self, mbps: f64) -> Result<()> {
        let (c, r, s, t) = (
            self.client.clone(),
            self.router.clone(),
            self.server.clone(),
            self.tap.clone(),
        );
        for ns in [&c, &r, &s, &t] {
            run("ip", &["netns", "add", ns])?;
            self.created.push(ns.clone());
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        let pair = |a: &str, ans: &str, b: &str, bns: &str| {
            run(
                "ip",
                &[
                    "link", "add", a, "netns", ans, "type", "veth", "peer", "name", b, "netns", bns,
                ],
            )
        };
        pair("c0", &c, "rc", &r)?;
        pair("s0", &s, "rs", &r)?;
        pair("m0", &r, TAP_IFACE, &t)?;
        // No IPv6 on the mirror link: the kernel's own neighbour discovery
        // there would show up in the capture.
        for (ns, dev) in [(&r, "m0"), (&t, TAP_IFACE)] {
            run_in(
                ns,
                "sysctl",
                &["-qw", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")],
            )?;
        }
        let addr = |ns: &str, dev: &str, ip: Ipv4Addr| {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev],
            )
        };
        addr(&c, "c0", CLIENT_IP)?;
        addr(&r, "rc", ROUTER_CLIENT_IP)?;
        addr(&r, "rs", ROUTER_SERVER_IP)?;
        addr(&s, "s0", SERVER_IP)?;
        run("ip", &["-n", &r, "link", "add", "ifbd", "type", "ifb"])?;
        for (ns, dev) in [
            (&c, "c0"),
            (&r, "rc"),
            (&r, "rs"),
            (&r, "m0"),
            (&r, "ifbd"),
            (&s, "s0"),
            (&t, TAP_IFACE),
        ] {
            // Wire-sized frames everywhere: no segmentation offload or
            // receive coalescing on the lab's links.
            if dev != "ifbd" {
                let _ = run_in(
                    ns,
                    "ethtool",
                    &["-K", dev, "tso", "off", "gso", "off", "gro", "off"],
                );
            }
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
        }
        run(
            "ip",
            &[
                "-n",
                &c,
                "route",
                "add",
                "default",
                "via",
                &ROUTER_CLIENT_IP.to_string(),
            ],
        )?;
        run(
            "ip",
            &[
                "-n",
                &s,
                "route",
                "add",
                "default",
                "via",
                &ROUTER_SERVER_IP.to_string(),
            ],
        )?;
        run_in(&r, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;

        // The mirror: both directions of the client's port, onto m0.
        run("tc", &["-n", &r, "qdisc", "add", "dev", "rc", "clsact"])?;
        for dir in ["ingress", "egress"] {
            run(
                "tc",
                &[
                    "-n", &r, "filter", "add", "dev", "rc", dir, "protocol", "all", "u32", "match",
                    "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "m0",
                ],
            )?;
        }
        // Downstream: rs's ingress through ifbd, whose root is the cap.
        run(
            "tc",
            &[
                "-n", &r, "qdisc", "add", "dev", "rs", "handle", "ffff:", "ingress",
            ],
        )?;
        run(
            "tc",
            &[
                "-n", &r, "filter", "add", "dev", "rs", "parent", "ffff:", "protocol", "all",
                "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev",
                "ifbd",
            ],
        )?;
        self.set_cap(mbps)?;
        self.client_mac = mac_of(&c, "c0")?;
        Ok(())
    }

    /// Sets the cap in both directions to `mbps` (replacing the previous).
    pub fn set_cap(&self, mbps: f64) -> Result<()> {
        let [rate, burst, limit] = tbf_args(mbps)?;
        for dev in ["rs", "ifbd"] {
            run(
                "tc",
                &[
                    "-n",
                    &self.router,
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "tbf",
                    "rate",
                    &rate,
                    "burst",
                    &burst,
                    "limit",
                    &limit,
                ],
            )?;
        }
        Ok(())
    }

    /// Whether every namespace of the lab is gone.
    pub fn is_removed(&self) -> bool {
        let list = run("ip", &["netns", "list"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        ![&self.client, &self.router, &self.server, &self.tap]
            .iter()
            .any(|ns| {
                list.lines()
                    .any(|l| l.split_whitespace().next() == Some(ns.as_str()))
            })
    }

    /// Deletes the namespaces (their links, the ifb and qdiscs go with
    /// them), killing any process still inside.
    pub fn remove(&mut self) {
        for ns in self.created.drain(..).rev() {
            kill_inside(&ns);
            if let Err(e) = run("ip", &["netns", "del", &ns]) {
                eprintln!("lab: removing namespace {ns}: {e}");
            }
        }
    }
}

impl Drop for LabNet {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Kills every process still in namespace `ns` (a killed run's browser or
/// server) and waits briefly for them to go.
fn kill_inside(ns: &str) {
    let pids = |sig: i32| -> usize {
        let Ok(out) = run("ip", &["netns", "pids", ns]) else {
            return 0;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let list: Vec<i32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for pid in &list {
            // SAFETY: kill(2) with a pid read from the namespace's list.
            unsafe { libc::kill(*pid, sig) };
        }
        list.len()
    };
    if pids(libc::SIGTERM) == 0 {
        return;
    }
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if pids(0) == 0 {
            return;
        }
    }
    pids(libc::SIGKILL);
}

/// The MAC address of `dev` in `ns`.
fn mac_of(ns: &str, dev: &str) -> Result<String> {
    let out = run("ip", &["-n", ns, "-br", "link", "show", dev])?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .filter(|m| m.len() == 17)
        .map(str::to_string)
        .ok_or_else(|| LabError::Command {
            what: format!("reading the MAC address of {dev}"),
            detail: text.trim().to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_sizes() {
        let [rate, burst, limit] = tbf_args(0.5).unwrap();
        assert_eq!(rate, "500kbit");
        assert_eq!(burst, "3028");
        assert_eq!(limit, "16384");
        let [rate, burst, limit] = tbf_args(20.0).unwrap();
        assert_eq!(rate, "20000kbit");
        assert_eq!(burst, "10000");
        assert_eq!(limit, "500000");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(tbf_args(bad).is_err(), "{bad}");
        }
    }
}
