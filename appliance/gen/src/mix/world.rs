//! The cast of the generated network: the LAN devices and their stacks,
//! the gateway and the NAS, and the catalog of internet services the
//! devices visit.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::packets::Mac;

pub(super) const MS: u64 = 1_000_000;
pub(super) const US: u64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Os {
    Linux,
    Apple,
    Windows,
}

/// A device on the monitored LAN.
pub(super) struct Device {
    pub(super) mac: Mac,
    pub(super) host: u8,
    pub(super) v6: bool,
    pub(super) os: Os,
    /// Browses the web (visits services).
    pub(super) browses: bool,
}

pub(super) const DEVICES: [Device; 11] = [
    dev(
        [0x3c, 0x22, 0xfb, 0x1a, 0x2b, 0x10],
        10,
        true,
        Os::Apple,
        true,
    ), // laptop
    dev(
        [0x8c, 0x79, 0xf5, 0x33, 0x41, 0x11],
        11,
        true,
        Os::Linux,
        true,
    ), // phone
    dev(
        [0x64, 0x95, 0x6c, 0x0e, 0x52, 0x12],
        12,
        false,
        Os::Linux,
        true,
    ), // TV
    dev(
        [0xa4, 0xbb, 0x6d, 0x7c, 0x13, 0x13],
        13,
        true,
        Os::Windows,
        true,
    ), // desktop
    dev(
        [0xf0, 0x18, 0x98, 0x64, 0x22, 0x14],
        14,
        false,
        Os::Apple,
        true,
    ), // tablet
    dev(
        [0x00, 0xd9, 0xd1, 0x5e, 0x71, 0x15],
        15,
        false,
        Os::Linux,
        true,
    ), // console
    dev(
        [0x44, 0x19, 0xb6, 0x2d, 0x90, 0x16],
        16,
        false,
        Os::Linux,
        false,
    ), // camera
    dev(
        [0x54, 0xee, 0x75, 0x48, 0xa3, 0x17],
        17,
        true,
        Os::Linux,
        true,
    ), // laptop
    dev(
        [0x7c, 0x2e, 0x0d, 0x19, 0x3f, 0x18],
        18,
        false,
        Os::Linux,
        true,
    ), // laptop
    dev(
        [0x18, 0xb4, 0x30, 0x8a, 0x5c, 0x19],
        19,
        false,
        Os::Linux,
        false,
    ), // thermostat
    dev(
        [0x3c, 0x2a, 0xf4, 0x61, 0x07, 0x20],
        20,
        false,
        Os::Linux,
        false,
    ), // printer
];

pub(super) const fn dev(mac: Mac, host: u8, v6: bool, os: Os, browses: bool) -> Device {
    Device {
        mac,
        host,
        v6,
        os,
        browses,
    }
}

pub(super) const GATEWAY_MAC: Mac = [0x00, 0x0d, 0xb9, 0x4b, 0x2c, 0x01];
pub(super) const NAS_MAC: Mac = [0x00, 0x11, 0x32, 0x9a, 0x5e, 0x05];
pub(super) const NAS_OPEN_PORTS: [u16; 5] = [22, 80, 139, 443, 445];
/// The device that scans the NAS and the one that sweeps the internet.
pub(super) const SCANNER: usize = 7;
pub(super) const SWEEPER: usize = 6;
/// The device that runs the bulk downloads.
pub(super) const BULK_CLIENT: usize = 3;
pub(super) const SCAN_PORTS: u16 = 1000;
pub(super) const SWEEP_HOSTS: u8 = 100;
pub(super) const SWEEP_PORT: u16 = 23;

pub(super) fn lan_v4(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 50, host)
}

pub(super) fn lan_v6(host: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, host as u16)
}

pub(super) fn server_v6(x: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xf00, 0, 0, 0, 0, x)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum App {
    Tls,
    Quic,
    /// A GET of `path`; the response body is `body` when not empty, else
    /// generated text (HTML) or bytes of the service's response size.
    Http {
        path: &'static str,
        status: &'static str,
        content_type: &'static str,
        body: &'static str,
    },
    Bulk,
    DnsOnly,
    NxDomain,
}

/// A named internet service: its CNAME chain, addresses, protocol, typical
/// response size and round-trip time from the tap.
pub(super) struct Service {
    pub(super) name: &'static str,
    pub(super) chain: &'static [&'static str],
    pub(super) v4: [u8; 4],
    pub(super) v6: Option<u16>,
    pub(super) app: App,
    pub(super) resp: (usize, usize),
    pub(super) rtt_ms: u64,
}

pub(super) const HTML: &str = "text/html; charset=utf-8";

pub(super) const fn svc(
    name: &'static str,
    chain: &'static [&'static str],
    v4: [u8; 4],
    v6: Option<u16>,
    app: App,
    resp: (usize, usize),
    rtt_ms: u64,
) -> Service {
    Service {
        name,
        chain,
        v4,
        v6,
        app,
        resp,
        rtt_ms,
    }
}

#[rustfmt::skip]
pub(super) const CATALOG: &[Service] = &[
    svc("www.netflix.com", &["www.dradis.netflix.com", "www.eu-west-1.internal.dradis.netflix.com"],
        [198, 51, 100, 10], Some(0x10), App::Tls, (40_000, 120_000), 25),
    svc("occ-0-2794-2219.1.nflxso.net", &[], [198, 51, 100, 11], None, App::Tls, (150_000, 400_000), 8),
    svc("zoom.us", &[], [198, 51, 100, 12], None, App::Tls, (20_000, 60_000), 90),
    svc("api.github.com", &[], [198, 51, 100, 13], None, App::Tls, (2_000, 10_000), 30),
    svc("www.wikipedia.org", &["dyna.wikimedia.org"], [198, 51, 100, 14], Some(0x14), App::Tls,
        (30_000, 80_000), 20),
    svc("graph.facebook.com", &["star.c10r.facebook.com"], [198, 51, 100, 15], Some(0x15), App::Tls,
        (3_000, 20_000), 15),
    svc("teams.microsoft.com", &["teams.office.com", "teams-office-com.s-0005.dc-msedge.net"],
        [198, 51, 100, 16], None, App::Tls, (10_000, 40_000), 20),
    svc("gateway.icloud.com", &[], [198, 51, 100, 17], None, App::Tls, (2_000, 8_000), 35),
    svc("www.amazon.com", &["tp.47cf2c8c9-frontier.amazon.com"], [198, 51, 100, 18], None, App::Tls,
        (60_000, 150_000), 40),
    svc("outlook.office365.com", &["outlook.ha.office365.com"], [198, 51, 100, 19], Some(0x19),
        App::Tls, (10_000, 30_000), 18),
    svc("slack.com", &[], [198, 51, 100, 20], None, App::Tls, (5_000, 20_000), 85),
    svc("www.reddit.com", &["reddit.map.fastly.net"], [198, 51, 100, 21], None, App::Tls,
        (40_000, 100_000), 12),
    svc("i.ytimg.com", &["ytimg.l.google.com"], [203, 0, 113, 10], Some(0x110), App::Quic,
        (20_000, 80_000), 10),
    svc("www.youtube.com", &["youtube-ui.l.google.com"], [203, 0, 113, 11], Some(0x111), App::Quic,
        (60_000, 150_000), 10),
    svc("rr4---sn-5hne6nzk.googlevideo.com", &[], [203, 0, 113, 12], Some(0x112), App::Quic,
        (200_000, 500_000), 9),
    svc("www.google.com", &[], [203, 0, 113, 13], Some(0x113), App::Quic, (20_000, 60_000), 9),
    svc("scontent-fra3-1.xx.fbcdn.net", &[], [203, 0, 113, 14], None, App::Quic, (50_000, 150_000), 14),
    svc("www.instagram.com", &["z-p42-instagram.c10r.instagram.com"], [203, 0, 113, 15], None,
        App::Quic, (20_000, 50_000), 15),
    svc("connectivitycheck.gstatic.com", &[], [203, 0, 113, 20], None,
        App::Http { path: "/generate_204", status: "204 No Content", content_type: "", body: "" },
        (0, 0), 10),
    svc("detectportal.firefox.com",
        &["detectportal.prod.mozaws.net", "prod.detectportal.prod.cloudops.mozgcp.net"],
        [203, 0, 113, 21], None,
        App::Http {
            path: "/canonical.html",
            status: "200 OK",
            content_type: HTML,
            body: "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>",
        },
        (0, 0), 22),
    svc("ctldl.windowsupdate.com", &["ctldl.windowsupdate.com.delivery.microsoft.com"],
        [203, 0, 113, 22], None,
        App::Http {
            path: "/msdownload/update/v3/static/trustedr/en/disallowedcertstl.cab",
            status: "200 OK",
            content_type: "application/vnd.ms-cab-compressed",
            body: "",
        },
        (5_000, 40_000), 16),
    svc("neverssl.com", &[], [203, 0, 113, 23], None,
        App::Http { path: "/", status: "200 OK", content_type: HTML, body: "" }, (2_000, 5_000), 30),
    svc("captive.apple.com", &["captive-cidr.origin-apple.com.akadns.net"], [203, 0, 113, 24], None,
        App::Http {
            path: "/hotspot-detect.html",
            status: "200 OK",
            content_type: "text/html",
            body: "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
        },
        (0, 0), 12),
    svc("dl.google.com", &["dl.l.google.com"], [203, 0, 113, 30], Some(0x130), App::Bulk, (0, 0), 9),
    svc("time.apple.com", &["time.g.aaplimg.com"], [203, 0, 113, 40], None, App::DnsOnly, (0, 0), 0),
    svc("clients4.google.com", &["clients.l.google.com"], [203, 0, 113, 41], Some(0x141),
        App::DnsOnly, (0, 0), 0),
    svc("api.push.apple.com", &["api-vs.push-apple.com.akadns.net"], [203, 0, 113, 42], None,
        App::DnsOnly, (0, 0), 0),
    svc("wpad.home.arpa", &[], [0, 0, 0, 0], None, App::NxDomain, (0, 0), 0),
];

/// The internet host the pings go to, and its IPv6 address.
pub(super) const PING_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);
pub(super) const PING_V6: u16 = 0x53;

/// TCP stack parameters: SYN window, later window field, window scale.
pub(super) fn stack(os: Os) -> (u16, u16, u8) {
    match os {
        Os::Linux => (64240, 502, 7),
        Os::Apple => (65535, 2058, 6),
        Os::Windows => (64240, 1026, 8),
    }
}

pub(super) fn user_agent(os: Os) -> &'static str {
    match os {
        Os::Linux => "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        Os::Apple => {
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
        }
        Os::Windows => {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
             (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
        }
    }
}

pub(super) const LOREM: &str =
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
    tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
    exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ";
