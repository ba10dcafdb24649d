//! DNS messages in wire format (RFC 1035): queries with an EDNS(0) OPT
//! record, and responses with CNAME chains, A/AAAA answers or an NXDOMAIN
//! with the zone's SOA, names compressed as resolvers compress them.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Record type A: an IPv4 address.
pub const TYPE_A: u16 = 1;
/// Record type CNAME: an alias.
pub const TYPE_CNAME: u16 = 5;
/// Record type SOA: the zone's start of authority (sent with NXDOMAIN).
pub const TYPE_SOA: u16 = 6;
/// Record type AAAA: an IPv6 address.
pub const TYPE_AAAA: u16 = 28;
/// Pseudo-record type OPT: EDNS(0) options of a query.
pub const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

/// Response code: no error.
pub const NOERROR: u8 = 0;
/// Response code: the name does not exist.
pub const NXDOMAIN: u8 = 3;

/// Record data of an answer or authority record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// The canonical name the owner is an alias of.
    Cname(String),
    /// The zone's start of authority, sent in the authority section of an
    /// NXDOMAIN.
    Soa {
        /// The zone's primary name server.
        mname: String,
        /// The zone administrator's mailbox, as a name
        /// (`hostmaster.example.com`).
        rname: String,
        /// Version number of the zone.
        serial: u32,
        /// TTL of negative answers, in seconds (RFC 2308).
        minimum: u32,
    },
}

impl RData {
    fn rtype(&self) -> u16 {
        match self {
            RData::A(_) => TYPE_A,
            RData::Aaaa(_) => TYPE_AAAA,
            RData::Cname(_) => TYPE_CNAME,
            RData::Soa { .. } => TYPE_SOA,
        }
    }
}

/// A resource record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner name, in presentation form without the trailing dot.
    pub name: String,
    /// Time to live, in seconds.
    pub ttl: u32,
    /// What the record says about the name.
    pub data: RData,
}

/// Writes a message, remembering where each name suffix was written so
/// later names point back to it (RFC 1035 section 4.1.4).
struct Writer {
    buf: Vec<u8>,
    suffixes: Vec<(String, u16)>,
}

impl Writer {
    fn new() -> Self {
        Writer {
            buf: Vec::with_capacity(512),
            suffixes: Vec::new(),
        }
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn name(&mut self, name: &str) {
        let name = name.trim_end_matches('.');
        if name.is_empty() {
            self.buf.push(0);
            return;
        }
        let labels: Vec<&str> = name.split('.').collect();
        for i in 0..labels.len() {
            let suffix = labels[i..].join(".").to_ascii_lowercase();
            if let Some(&(_, off)) = self.suffixes.iter().find(|(s, _)| *s == suffix) {
                self.u16(0xc000 | off);
                return;
            }
            if self.buf.len() < 0x4000 {
                self.suffixes.push((suffix, self.buf.len() as u16));
            }
            let l = labels[i].as_bytes();
            assert!(!l.is_empty() && l.len() < 64, "DNS label of 1 to 63 bytes");
            self.buf.push(l.len() as u8);
            self.buf.extend_from_slice(l);
        }
        self.buf.push(0);
    }

    fn header(&mut self, id: u16, flags: u16, counts: [u16; 4]) {
        self.u16(id);
        self.u16(flags);
        for c in counts {
            self.u16(c);
        }
    }

    fn question(&mut self, name: &str, qtype: u16) {
        self.name(name);
        self.u16(qtype);
        self.u16(CLASS_IN);
    }

    fn record(&mut self, r: &Record) {
        self.name(&r.name);
        self.u16(r.data.rtype());
        self.u16(CLASS_IN);
        self.u32(r.ttl);
        let len_at = self.buf.len();
        self.u16(0);
        match &r.data {
            RData::A(a) => self.buf.extend_from_slice(&a.octets()),
            RData::Aaaa(a) => self.buf.extend_from_slice(&a.octets()),
            RData::Cname(n) => self.name(n),
            RData::Soa {
                mname,
                rname,
                serial,
                minimum,
            } => {
                self.name(mname);
                self.name(rname);
                self.u32(*serial);
                self.u32(7200); // refresh
                self.u32(3600); // retry
                self.u32(1_209_600); // expire
                self.u32(*minimum);
            }
        }
        let len = (self.buf.len() - len_at - 2) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// EDNS(0) OPT pseudo-record advertising `udp_size`.
    fn opt(&mut self, udp_size: u16) {
        self.buf.push(0);
        self.u16(TYPE_OPT);
        self.u16(udp_size);
        self.u32(0);
        self.u16(0);
    }
}

/// A recursive query (RD set) for `name`/`qtype` with an OPT record.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut w = Writer::new();
    w.header(id, 0x0100, [1, 0, 0, 1]);
    w.question(name, qtype);
    w.opt(1232);
    w.buf
}

/// A recursive resolver's answer to [`query`]: QR, RD and RA set, `rcode`,
/// the question, `answers`, `authority` records and an OPT record.
pub fn response(
    id: u16,
    name: &str,
    qtype: u16,
    rcode: u8,
    answers: &[Record],
    authority: &[Record],
) -> Vec<u8> {
    let mut w = Writer::new();
    let flags = 0x8180 | (rcode as u16 & 0xf);
    w.header(
        id,
        flags,
        [1, answers.len() as u16, authority.len() as u16, 1],
    );
    w.question(name, qtype);
    for r in answers.iter().chain(authority) {
        w.record(r);
    }
    w.opt(1232);
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let q = query(0xbeef, "zoom.us", TYPE_AAAA);
        let expected: &[u8] = &[
            0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1, // header
            4, b'z', b'o', b'o', b'm', 2, b'u', b's', 0, 0, 28, 0, 1, // question
            0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0, // OPT
        ];
        assert_eq!(q, expected);
    }

    #[test]
    fn response_compresses_names() {
        let answers = [
            Record {
                name: "www.netflix.com".into(),
                ttl: 300,
                data: RData::Cname("www.dradis.netflix.com".into()),
            },
            Record {
                name: "www.dradis.netflix.com".into(),
                ttl: 60,
                data: RData::A(Ipv4Addr::new(198, 51, 100, 7)),
            },
        ];
        let r = response(1, "www.netflix.com", TYPE_A, NOERROR, &answers, &[]);
        assert_eq!(&r[2..4], &[0x81, 0x80]);
        assert_eq!(&r[4..12], &[0, 1, 0, 2, 0, 0, 0, 1]);
        // Question at 12: 3www7netflix3com0 (17 bytes), type, class.
        let a1 = 12 + 17 + 4;
        assert_eq!(&r[a1..a1 + 2], &[0xc0, 12], "owner points at the question");
        assert_eq!(&r[a1 + 2..a1 + 4], &[0, 5]);
        assert_eq!(&r[a1 + 6..a1 + 10], &300u32.to_be_bytes());
        // CNAME rdata: "www" + "dradis" + pointer to "netflix.com" (offset 16).
        let rd = a1 + 12;
        assert_eq!(&r[a1 + 10..rd], &[0, 13]);
        assert_eq!(
            &r[rd..rd + 13],
            &[3, b'w', b'w', b'w', 6, b'd', b'r', b'a', b'd', b'i', b's', 0xc0, 16]
        );
        // The A record's owner points at the CNAME target.
        let a2 = rd + 13;
        assert_eq!(&r[a2..a2 + 2], &[0xc0, rd as u8]);
        assert_eq!(&r[a2 + 2..a2 + 4], &[0, 1]);
        assert_eq!(&r[a2 + 10..a2 + 16], &[0, 4, 198, 51, 100, 7]);
        assert_eq!(r.len(), a2 + 16 + 11);
    }

    #[test]
    fn nxdomain_with_soa() {
        let soa = Record {
            name: "home.arpa".into(),
            ttl: 3600,
            data: RData::Soa {
                mname: "prisoner.iana.org".into(),
                rname: "hostmaster.root-servers.org".into(),
                serial: 1,
                minimum: 604800,
            },
        };
        let r = response(9, "wpad.home.arpa", TYPE_A, NXDOMAIN, &[], &[soa]);
        assert_eq!(&r[2..4], &[0x81, 0x83]);
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 1, 0, 1]);
        // The SOA owner "home.arpa" is a suffix of the question name.
        let at = 12 + 16 + 4;
        assert_eq!(&r[at..at + 2], &[0xc0, 17]);
        let rdlen = u16::from_be_bytes([r[at + 10], r[at + 11]]) as usize;
        // mname in full (19 bytes), rname ending in a pointer to "org"
        // (26 bytes), five 32-bit numbers.
        assert_eq!(rdlen, 19 + 26 + 20);
    }
}

#[cfg(test)]
mod hickory_check;
