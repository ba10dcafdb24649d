//! DHCPv4 (RFC 2131/2132): who a device says it is.
//!
//! The fixed BOOTP header (236 bytes) and the magic cookie must be there;
//! options are then read until the end option or the last whole option
//! (an option running past the payload ends the list, what came before
//! stands). Pad options are skipped; for each option of interest the first
//! instance counts. Options overloaded into the `sname`/`file` fields
//! (option 52) are not read.

/// What a DHCP message tells about a client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dhcp<'a> {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    /// Option 53 (0 if absent).
    pub msg_type: u8,
    /// Client hardware address (Ethernet only).
    pub chaddr: [u8; 6],
    /// The client's current address (`ciaddr`; zero while it has none).
    pub ciaddr: [u8; 4],
    /// The address the server assigns (`yiaddr`, in offers and acks; zero
    /// otherwise).
    pub yiaddr: [u8; 4],
    /// Option 50.
    pub requested_ip: Option<[u8; 4]>,
    /// Option 12.
    pub hostname: Option<&'a [u8]>,
}

/// Length of the fixed BOOTP header, up to the options.
const FIXED_LEN: usize = 236;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

const OP_REQUEST: u8 = 1;
const OP_REPLY: u8 = 2;
const HTYPE_ETHERNET: u8 = 1;

const OPT_PAD: u8 = 0;
const OPT_HOSTNAME: u8 = 12;
const OPT_REQUESTED_IP: u8 = 50;
const OPT_MESSAGE_TYPE: u8 = 53;
const OPT_END: u8 = 255;

mod field {
    use core::ops::Range;
    pub(super) const OP: usize = 0;
    pub(super) const HTYPE: usize = 1;
    pub(super) const HLEN: usize = 2;
    pub(super) const CIADDR: Range<usize> = 12..16;
    pub(super) const YIADDR: Range<usize> = 16..20;
    /// The first 6 of the 16 chaddr bytes.
    pub(super) const CHADDR_ETHER: Range<usize> = 28..34;
    pub(super) const COOKIE: Range<usize> = 236..240;
}

#[inline]
fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// Parses a BOOTP/DHCP message (UDP payload). `None` if it is not one.
///
/// A trailing NUL (sent by some clients) is dropped from the hostname.
pub fn parse(payload: &[u8]) -> Option<Dhcp<'_>> {
    let head = payload.get(..FIXED_LEN + MAGIC_COOKIE.len())?;
    let op = head[field::OP];
    if (op != OP_REQUEST && op != OP_REPLY) || head[field::COOKIE] != MAGIC_COOKIE {
        return None;
    }
    let mut d = Dhcp {
        op,
        ciaddr: array(&head[field::CIADDR]),
        yiaddr: array(&head[field::YIADDR]),
        ..Dhcp::default()
    };
    if head[field::HTYPE] == HTYPE_ETHERNET && head[field::HLEN] == 6 {
        d.chaddr = array(&head[field::CHADDR_ETHER]);
    }
    let mut opts = &payload[head.len()..];
    let mut seen_type = false;
    while let Some((&code, rest)) = opts.split_first() {
        match code {
            OPT_PAD => {
                opts = rest;
                continue;
            }
            OPT_END => break,
            _ => {}
        }
        let Some((&len, rest)) = rest.split_first() else {
            break;
        };
        let Some((data, rest)) = rest.split_at_checked(len as usize) else {
            break;
        };
        opts = rest;
        match code {
            OPT_MESSAGE_TYPE if !seen_type && len == 1 => {
                seen_type = true;
                d.msg_type = data[0];
            }
            OPT_REQUESTED_IP if d.requested_ip.is_none() && len == 4 => {
                d.requested_ip = Some(array(data));
            }
            OPT_HOSTNAME if d.hostname.is_none() => {
                d.hostname = Some(data.strip_suffix(&[0]).unwrap_or(data));
            }
            _ => {}
        }
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: [u8; 6] = [0xd8, 0x30, 0x62, 0x56, 0x00, 0x1c];

    fn bootp(op: u8, htype: u8, hlen: u8) -> Vec<u8> {
        let mut m = vec![0u8; FIXED_LEN];
        m[0] = op;
        m[1] = htype;
        m[2] = hlen;
        m[4..8].copy_from_slice(&[1, 2, 3, 4]); // xid
        m[12..16].copy_from_slice(&[192, 168, 1, 5]);
        m[16..20].copy_from_slice(&[192, 168, 1, 9]);
        m[28..34].copy_from_slice(&MAC);
        m.extend_from_slice(&MAGIC_COOKIE);
        m
    }

    fn request() -> Vec<u8> {
        let mut m = bootp(1, 1, 6);
        m.extend_from_slice(&[53, 1, 3]);
        m.extend_from_slice(&[0, 0]); // pads
        m.extend_from_slice(&[61, 7, 1]);
        m.extend_from_slice(&MAC);
        m.extend_from_slice(&[50, 4, 192, 168, 1, 42]);
        m.extend_from_slice(&[12, 11]);
        m.extend_from_slice(b"Lucas-iMac\0");
        m.extend_from_slice(&[55, 3, 1, 3, 6, 255, 0, 0, 0]);
        m
    }

    #[test]
    fn dhcp_request() {
        let m = request();
        let d = parse(&m).unwrap();
        assert_eq!(
            d,
            Dhcp {
                op: 1,
                msg_type: 3,
                chaddr: MAC,
                ciaddr: [192, 168, 1, 5],
                yiaddr: [192, 168, 1, 9],
                requested_ip: Some([192, 168, 1, 42]),
                hostname: Some(b"Lucas-iMac"),
            }
        );
    }

    #[test]
    fn dhcp_reply_without_options_and_other_hardware() {
        let m = bootp(2, 6, 6);
        let d = parse(&m).unwrap();
        assert_eq!((d.op, d.msg_type, d.chaddr), (2, 0, [0; 6]));
        assert_eq!((d.requested_ip, d.hostname), (None, None));
        let m = bootp(2, 1, 16);
        let d = parse(&m).unwrap();
        assert_eq!(d.chaddr, [0; 6]);
    }

    #[test]
    fn dhcp_not_dhcp() {
        assert_eq!(parse(&bootp(3, 1, 6)), None);
        assert_eq!(parse(&bootp(0, 1, 6)), None);
        let mut m = bootp(1, 1, 6);
        m[238] = 0;
        assert_eq!(parse(&m), None);
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn dhcp_option_rules() {
        // First instance wins; wrong lengths ignored; end stops.
        let mut m = bootp(1, 1, 6);
        m.extend_from_slice(&[53, 2, 1, 1]);
        m.extend_from_slice(&[53, 1, 8, 53, 1, 1]);
        m.extend_from_slice(&[50, 3, 1, 2, 3]);
        m.extend_from_slice(&[12, 3, b'o', b'n', b'e', 12, 3, b't', b'w', b'o']);
        m.extend_from_slice(&[255, 50, 4, 9, 9, 9, 9]);
        let d = parse(&m).unwrap();
        assert_eq!(d.msg_type, 8);
        assert_eq!(d.requested_ip, None);
        assert_eq!(d.hostname, Some(&b"one"[..]));
        // An option running past the payload ends the list.
        let mut m = bootp(1, 1, 6);
        m.extend_from_slice(&[53, 1, 1, 12, 200, b'x']);
        let d = parse(&m).unwrap();
        assert_eq!((d.msg_type, d.hostname), (1, None));
        // Empty hostname.
        let mut m = bootp(1, 1, 6);
        m.extend_from_slice(&[12, 0, 255]);
        assert_eq!(parse(&m).unwrap().hostname, Some(&b""[..]));
    }

    #[test]
    fn dhcp_truncated_at_every_length() {
        let m = request();
        let full = parse(&m).unwrap();
        for cut in 0..m.len() {
            let d = parse(&m[..cut]);
            if cut < 240 {
                assert_eq!(d, None, "cut {cut}");
                continue;
            }
            let d = d.unwrap();
            assert_eq!(
                (d.op, d.chaddr, d.ciaddr, d.yiaddr),
                (1, MAC, full.ciaddr, full.yiaddr)
            );
            // Options are either whole or absent.
            assert!(d.msg_type == 0 || d.msg_type == 3);
            assert!(d.requested_ip.is_none() || d.requested_ip == full.requested_ip);
            assert!(d.hostname.is_none() || d.hostname == full.hostname);
        }
    }

    proptest! {
        #[test]
        fn dhcp_never_panics(opts in proptest::collection::vec(any::<u8>(), 0..300), op in 0u8..4) {
            let _ = parse(&opts);
            let mut m = bootp(op, 1, 6);
            m.extend_from_slice(&opts);
            let d = parse(&m);
            prop_assert_eq!(d.is_some(), op == 1 || op == 2);
        }
    }
}
