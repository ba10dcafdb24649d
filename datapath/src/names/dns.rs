//! DNS / mDNS message parsing (RFC 1035 §4, RFC 6762): header, the first
//! question, and the answer section's A, AAAA and CNAME records, with name
//! compression. No allocation: names are decoded into a [`NameBuf`].
//!
//! Names are decoded as tshark shows them: labels joined by `.`, no trailing
//! dot, label bytes kept as they are (no case folding, nothing escaped).
//! Compression pointers must point strictly before the start of the labels
//! being read, so every name decodes in a bounded number of steps whatever
//! the input; a pointer loop, a forward pointer or a decoded name longer than
//! 255 bytes is [`DnsError::Malformed`].

use core::fmt;

/// A decoded domain name in presentation form (labels joined by `.`, no
/// trailing dot; the root is empty). At most 255 bytes, as on the wire.
#[derive(Clone, Copy)]
pub struct NameBuf {
    len: u8,
    bytes: [u8; 255],
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            len: 0,
            bytes: [0; 255],
        }
    }
}

impl NameBuf {
    /// The name's bytes in presentation form (labels joined by `.`).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes of the presentation form.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the root (and for a name not decoded).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one label (with a `.` before it unless it is the first).
    #[inline]
    fn push_label(&mut self, label: &[u8]) -> Result<(), DnsError> {
        let len = self.len as usize;
        let dot = usize::from(len > 0);
        let new_len = len + dot + label.len();
        if new_len > self.bytes.len() {
            return Err(DnsError::Malformed);
        }
        if dot == 1 {
            self.bytes[len] = b'.';
        }
        self.bytes[len + dot..new_len].copy_from_slice(label);
        self.len = new_len as u8;
        Ok(())
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameBuf(\"{}\")", self.as_bytes().escape_ascii())
    }
}

/// Why a message was not parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// The message ends inside a header, question or record.
    Truncated,
    /// A name is invalid: a pointer loop or forward pointer, a reserved label
    /// type, or longer than 255 bytes.
    Malformed,
}

/// Record data of an answer the caller cares about.
#[derive(Clone, Copy, Debug)]
pub enum Rdata<'a> {
    /// An IPv4 address (A record).
    A([u8; 4]),
    /// An IPv6 address (AAAA record).
    Aaaa([u8; 16]),
    /// The canonical name the owner is an alias of (CNAME record).
    Cname(&'a NameBuf),
}

/// One answer record (A, AAAA or CNAME; other types are skipped).
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// The message's first question name (empty if none).
    pub qname: &'a NameBuf,
    /// The record's owner name (the name the address or alias is for).
    pub owner: &'a NameBuf,
    /// Time to live in seconds (values above 2^31 − 1 read as 0, per RFC 2181).
    pub ttl: u32,
    /// The address or alias the record carries.
    pub data: Rdata<'a>,
    /// The section the record is in.
    pub section: Section,
}

/// Where a resource record sits in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The answer section.
    Answer,
    /// The authority section.
    Authority,
    /// mDNS responders put a host's addresses here.
    Additional,
}

/// The header facts of a parsed message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Message id, matching a response to its query.
    pub id: u16,
    /// True for a response (QR bit set), false for a query.
    pub is_response: bool,
    /// Operation code (0 = standard query).
    pub opcode: u8,
    /// Response code (0 = no error, 3 = name does not exist).
    pub rcode: u8,
    /// Entries in the question section (QDCOUNT).
    pub questions: u16,
    /// Records in the answer section (ANCOUNT).
    pub answers: u16,
    /// Records in the authority section (NSCOUNT).
    pub authority: u16,
    /// Records in the additional section (ARCOUNT).
    pub additional: u16,
}

/// Length of the fixed message header.
const HEADER_LEN: usize = 12;
/// Type, class, TTL and RDLENGTH of a resource record.
const RR_FIXED_LEN: usize = 10;
/// Compression pointers followed in one name at most (a name of 255 bytes
/// has at most 127 labels; more hops than that cannot be a sane encoding).
const MAX_POINTERS: usize = 127;
/// Labels of a name of 255 bytes in presentation form take 256 bytes on
/// the wire (a length byte per label instead of the dots, one more).
const MAX_WIRE_LABELS: usize = 256;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// mDNS (RFC 6762 §10.2) uses the class's top bit as the cache-flush flag.
const CLASS_MASK: u16 = 0x7fff;

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decodes the name at `start` of `msg` into `out`, following compression
/// pointers. Returns the offset just past the name's in-place encoding.
/// On error `out` is left empty.
#[inline]
fn read_name(msg: &[u8], start: usize, out: &mut NameBuf) -> Result<usize, DnsError> {
    let r = read_name_inner(msg, start, out);
    if r.is_err() {
        out.len = 0;
    }
    r
}

fn read_name_inner(msg: &[u8], start: usize, out: &mut NameBuf) -> Result<usize, DnsError> {
    out.len = 0;
    let mut pos = start;
    // Lowest offset of the labels being read: a pointer must go below it,
    // so the walk always makes progress towards the message start.
    let mut floor = start;
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                let first = pos + 1;
                let label = msg
                    .get(first..first + len as usize)
                    .ok_or(DnsError::Truncated)?;
                out.push_label(label)?;
                pos = first + len as usize;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(DnsError::Truncated)?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(lo);
                if end.is_none() {
                    end = Some(pos + 2);
                }
                hops += 1;
                if target >= floor || target < HEADER_LEN || hops > MAX_POINTERS {
                    return Err(DnsError::Malformed);
                }
                floor = target;
                pos = target;
            }
            // 0x40 (extended label types, RFC 6891) and 0x80 (reserved).
            _ => return Err(DnsError::Malformed),
        }
    }
}

/// Steps over the name at `start` without decoding it or following a
/// pointer. Returns the offset just past it.
#[inline]
fn skip_name(msg: &[u8], start: usize) -> Result<usize, DnsError> {
    let mut pos = start;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                pos += 1 + len as usize;
                if pos - start > MAX_WIRE_LABELS {
                    return Err(DnsError::Malformed);
                }
            }
            0xc0 => {
                if pos + 1 >= msg.len() {
                    return Err(DnsError::Truncated);
                }
                return Ok(pos + 2);
            }
            _ => return Err(DnsError::Malformed),
        }
    }
}

/// Parses a DNS message (UDP payload; for TCP strip the 2-byte length
/// first). The first question's name goes into `qname` (empty if none);
/// every A/AAAA/CNAME record of the answer section is passed to
/// `on_answer`. Records after a malformed one are not reported.
///
/// Only class IN records are reported (the mDNS cache-flush bit ignored).
/// A TTL with its top bit set is reported as 0 (RFC 2181 §8). An A or AAAA
/// record of the wrong length, or a CNAME whose name does not fill its
/// RDATA exactly, is malformed.
pub fn parse_message<F: FnMut(&Answer<'_>)>(
    payload: &[u8],
    qname: &mut NameBuf,
    mut on_answer: F,
) -> Result<Header, DnsError> {
    qname.len = 0;
    if payload.len() < HEADER_LEN {
        return Err(DnsError::Truncated);
    }
    let flags = be16(payload, 2).ok_or(DnsError::Truncated)?;
    let header = Header {
        id: be16(payload, 0).ok_or(DnsError::Truncated)?,
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        rcode: (flags & 0xf) as u8,
        questions: be16(payload, 4).ok_or(DnsError::Truncated)?,
        answers: be16(payload, 6).ok_or(DnsError::Truncated)?,
        authority: be16(payload, 8).ok_or(DnsError::Truncated)?,
        additional: be16(payload, 10).ok_or(DnsError::Truncated)?,
    };

    let mut pos = HEADER_LEN;
    for i in 0..header.questions {
        pos = if i == 0 {
            read_name(payload, pos, qname)?
        } else {
            skip_name(payload, pos)?
        };
        // QTYPE and QCLASS.
        pos += 4;
        if pos > payload.len() {
            return Err(DnsError::Truncated);
        }
    }

    let qname: &NameBuf = qname;
    let mut owner = NameBuf::default();
    let mut target = NameBuf::default();
    let sections = [
        (Section::Answer, header.answers),
        (Section::Authority, header.authority),
        (Section::Additional, header.additional),
    ];
    let records = sections
        .iter()
        .flat_map(|&(sec, n)| std::iter::repeat_n(sec, n as usize));
    for section in records {
        let name_at = pos;
        pos = skip_name(payload, pos)?;
        let rtype = be16(payload, pos).ok_or(DnsError::Truncated)?;
        let class = be16(payload, pos + 2).ok_or(DnsError::Truncated)?;
        let ttl = be32(payload, pos + 4).ok_or(DnsError::Truncated)?;
        let rdlen = be16(payload, pos + 8).ok_or(DnsError::Truncated)? as usize;
        let rd_start = pos + RR_FIXED_LEN;
        let rd_end = rd_start + rdlen;
        let rdata = payload.get(rd_start..rd_end).ok_or(DnsError::Truncated)?;
        pos = rd_end;
        if class & CLASS_MASK != CLASS_IN {
            continue;
        }
        let data = match rtype {
            TYPE_A => Rdata::A(rdata.try_into().map_err(|_| DnsError::Malformed)?),
            TYPE_AAAA => Rdata::Aaaa(rdata.try_into().map_err(|_| DnsError::Malformed)?),
            TYPE_CNAME => {
                // The target must lie within the RDATA; pointers may reach
                // back anywhere before it.
                let end = read_name(&payload[..rd_end], rd_start, &mut target)
                    .map_err(|_| DnsError::Malformed)?;
                if end != rd_end {
                    return Err(DnsError::Malformed);
                }
                Rdata::Cname(&target)
            }
            _ => continue,
        };
        read_name(payload, name_at, &mut owner)?;
        let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
        on_answer(&Answer {
            qname,
            owner: &owner,
            ttl,
            data,
            section,
        });
    }
    Ok(header)
}

/// [`parse_message`] for DNS over TCP (RFC 1035 §4.2.2): `segment` starts
/// with the 2-byte message length. Only the first message is parsed; a
/// message cut short by the end of `segment` is parsed as far as it goes.
pub fn parse_tcp_message<F: FnMut(&Answer<'_>)>(
    segment: &[u8],
    qname: &mut NameBuf,
    on_answer: F,
) -> Result<Header, DnsError> {
    qname.len = 0;
    let len = be16(segment, 0).ok_or(DnsError::Truncated)? as usize;
    let body = &segment[2..];
    parse_message(body.get(..len).unwrap_or(body), qname, on_answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the callback saw, owned.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Got {
        A(String, u32, [u8; 4]),
        Aaaa(String, u32, [u8; 16]),
        Cname(String, u32, String),
    }

    fn s(n: &NameBuf) -> String {
        String::from_utf8(n.as_bytes().to_vec()).unwrap()
    }

    fn parse(msg: &[u8]) -> (Result<Header, DnsError>, String, Vec<Got>) {
        let mut q = NameBuf::default();
        let mut got = Vec::new();
        let r = parse_message(msg, &mut q, |a| {
            if a.section != Section::Answer {
                return;
            }
            got.push(match a.data {
                Rdata::A(v) => Got::A(s(a.owner), a.ttl, v),
                Rdata::Aaaa(v) => Got::Aaaa(s(a.owner), a.ttl, v),
                Rdata::Cname(t) => Got::Cname(s(a.owner), a.ttl, s(t)),
            })
        });
        (r, s(&q), got)
    }

    #[test]
    fn additional_records_are_reported_with_their_section() {
        // An mDNS response: a PTR answer (skipped) and the host's A record
        // in the additional section, cache-flush bit set.
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 1];
        m.extend_from_slice(&name("_airplay._tcp.local"));
        m.extend_from_slice(&[0, 12, 0, 1, 0, 0, 0x11, 0x94]);
        let target = name("tv._airplay._tcp.local");
        m.extend_from_slice(&(target.len() as u16).to_be_bytes());
        m.extend_from_slice(&target);
        m.extend_from_slice(&name("Living-Room.local"));
        m.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 20]);
        let mut q = NameBuf::default();
        let mut got = Vec::new();
        parse_message(&m, &mut q, |a| {
            if let Rdata::A(v) = a.data {
                got.push((s(a.owner), a.section, v, s(a.qname)));
            }
        })
        .unwrap();
        assert_eq!(
            got,
            [(
                "Living-Room.local".to_string(),
                Section::Additional,
                [192, 168, 1, 20],
                String::new()
            )]
        );
    }

    /// Uncompressed wire form of a dotted name.
    fn name(n: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in n.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    fn header(id: u16, flags: u16, qd: u16, an: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [id, flags, qd, an, 0, 0] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v
    }

    fn rr(owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let mut v = owner.to_vec();
        v.extend_from_slice(&rtype.to_be_bytes());
        v.extend_from_slice(&class.to_be_bytes());
        v.extend_from_slice(&ttl.to_be_bytes());
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
        v
    }

    /// A response for www.example.com: CNAME to cdn.example.net (target
    /// partly compressed), then two A records and an AAAA on the target,
    /// an MX in between to skip.
    fn sample_response() -> Vec<u8> {
        let mut m = header(0xbeef, 0x8180, 1, 5);
        assert_eq!(m.len(), 12);
        m.extend(name("www.example.com"));
        m.extend_from_slice(&[0, 1, 0, 1]);
        // Owner: pointer to the question name at 12.
        let cname_rdata = [&[3u8, b'c', b'd', b'n'][..], &[0xc0, 16]].concat(); // cdn.example.com
        m.extend(rr(&[0xc0, 12], TYPE_CNAME, 1, 300, &cname_rdata));
        let target_at = (m.len() - cname_rdata.len()) as u8;
        m.extend(rr(&[0xc0, target_at], TYPE_A, 1, 60, &[192, 0, 2, 1]));
        m.extend(rr(&[0xc0, target_at], 15, 1, 60, &[0, 10, 0xc0, 12]));
        m.extend(rr(
            &[0xc0, target_at],
            TYPE_A,
            1,
            0x8000_0000,
            &[192, 0, 2, 2],
        ));
        let v6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        m.extend(rr(&[0xc0, target_at], TYPE_AAAA, 1, 7, &v6));
        m
    }

    fn sample_answers() -> Vec<Got> {
        let v6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        vec![
            Got::Cname("www.example.com".into(), 300, "cdn.example.com".into()),
            Got::A("cdn.example.com".into(), 60, [192, 0, 2, 1]),
            Got::A("cdn.example.com".into(), 0, [192, 0, 2, 2]),
            Got::Aaaa("cdn.example.com".into(), 7, v6),
        ]
    }

    #[test]
    fn dns_query() {
        let mut m = header(0x1234, 0x0100, 1, 0);
        m.extend(name("Mixed.Case.EXAMPLE"));
        m.extend_from_slice(&[0, 28, 0, 1]);
        let (r, q, got) = parse(&m);
        assert_eq!(
            r,
            Ok(Header {
                id: 0x1234,
                is_response: false,
                opcode: 0,
                rcode: 0,
                questions: 1,
                answers: 0,
                authority: 0,
                additional: 0,
            })
        );
        assert_eq!(q, "Mixed.Case.EXAMPLE");
        assert!(got.is_empty());
    }

    #[test]
    fn dns_response_with_compression() {
        let m = sample_response();
        let (r, q, got) = parse(&m);
        let h = r.unwrap();
        assert!(h.is_response);
        assert_eq!((h.id, h.rcode, h.questions, h.answers), (0xbeef, 0, 1, 5));
        assert_eq!(q, "www.example.com");
        assert_eq!(got, sample_answers());
    }

    #[test]
    fn dns_header_fields() {
        let m = header(7, 0x8000 | (5 << 11) | 3, 0, 0);
        let (r, q, _) = parse(&m);
        let h = r.unwrap();
        assert_eq!((h.is_response, h.opcode, h.rcode), (true, 5, 3));
        assert_eq!(q, "");
    }

    #[test]
    fn dns_truncated_at_every_length() {
        let m = sample_response();
        let full = sample_answers();
        for cut in 0..m.len() {
            let (r, q, got) = parse(&m[..cut]);
            assert_eq!(r, Err(DnsError::Truncated), "cut at {cut}");
            // What is reported is a prefix of the full answer list.
            assert!(full.starts_with(&got), "cut at {cut}: {got:?}");
            assert!(q.is_empty() || q == "www.example.com");
        }
    }

    #[test]
    fn dns_root_question_and_second_question_skipped() {
        let mut m = header(1, 0, 2, 0);
        m.push(0);
        m.extend_from_slice(&[0, 2, 0, 1]);
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&[0, 1, 0, 1]);
        let (r, q, _) = parse(&m);
        assert!(r.is_ok());
        assert_eq!(q, "");
    }

    #[test]
    fn mdns_response_without_questions() {
        // qdcount 0, cache-flush class, a PTR and a TXT to skip.
        let mut m = header(0, 0x8400, 0, 4);
        let host = name("my-laptop.local");
        let ptr = rr(&name("_ssh._tcp.local"), 12, 1, 4500, &[0xc0, 12]);
        m.extend(rr(&host, TYPE_A, 0x8001, 120, &[10, 0, 0, 7]));
        m.extend(ptr);
        m.extend(rr(&[0xc0, 12], 16, 0x8001, 4500, &[0]));
        m.extend(rr(
            &[0xc0, 12],
            TYPE_AAAA,
            0x8001,
            120,
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
        ));
        let (r, q, got) = parse(&m);
        assert!(r.unwrap().is_response);
        assert_eq!(q, "");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Got::A("my-laptop.local".into(), 120, [10, 0, 0, 7]));
        assert!(matches!(&got[1], Got::Aaaa(n, 120, _) if n == "my-laptop.local"));
    }

    #[test]
    fn dns_other_classes_skipped() {
        let mut m = header(0, 0x8000, 0, 2);
        m.extend(rr(&name("version.bind"), TYPE_A, 3, 0, &[1, 2, 3, 4]));
        m.extend(rr(&name("a.b"), TYPE_A, 1, 5, &[1, 2, 3, 4]));
        let (r, _, got) = parse(&m);
        assert!(r.is_ok());
        assert_eq!(got, vec![Got::A("a.b".into(), 5, [1, 2, 3, 4])]);
    }

    #[test]
    fn dns_raw_label_bytes_kept() {
        let mut m = header(0, 0, 1, 0);
        m.extend_from_slice(&[3, b'a', b'.', 0xff, 2, b'B', b' ', 0]);
        m.extend_from_slice(&[0, 1, 0, 1]);
        let mut q = NameBuf::default();
        parse_message(&m, &mut q, |_| {}).unwrap();
        assert_eq!(q.as_bytes(), b"a.\xff.B ");
    }

    #[test]
    fn dns_name_length_limit() {
        // 4 labels of 63 bytes: 4 * 63 + 3 dots = 255 bytes: fits.
        let l63 = "x".repeat(63);
        let ok = [l63.as_str(); 4].join(".");
        let mut m = header(0, 0, 1, 0);
        m.extend(name(&ok));
        m.extend_from_slice(&[0, 1, 0, 1]);
        let (r, q, _) = parse(&m);
        assert!(r.is_ok());
        assert_eq!(q.len(), 255);
        // One byte more does not.
        let long = format!("{ok}y");
        let mut m = header(0, 0, 1, 0);
        m.extend(name(&long));
        m.extend_from_slice(&[0, 1, 0, 1]);
        let (r, q, _) = parse(&m);
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(q, "");
        // Nor when the excess comes through a pointer.
        let mut m = header(0, 0x8000, 1, 1);
        m.extend(name(&ok[..200]));
        m.extend_from_slice(&[0, 1, 0, 1]);
        let owner = [&name(&"z".repeat(60))[..61], &[0xc0, 12]].concat();
        m.extend(rr(&owner, TYPE_A, 1, 1, &[1, 1, 1, 1]));
        let (r, q, got) = parse(&m);
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(q.len(), 200);
        assert!(got.is_empty());
    }

    #[test]
    fn dns_pointer_loops_and_forward_pointers() {
        // Question name is a pointer to itself.
        let mut m = header(0, 0, 1, 0);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // A label, then a pointer back to that label.
        let mut m = header(0, 0, 1, 0);
        m.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // Two names pointing at each other (the answer's owner points
        // forward to a name that points back to it).
        let mut m = header(0, 0x8000, 0, 1);
        let at = m.len() as u8;
        m.extend(rr(&[1, b'a', 0xc0, at + 18], TYPE_A, 1, 1, &[1, 2, 3, 4]));
        m.extend_from_slice(&[1, b'b', 0xc0, at]);
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // Forward pointer.
        let mut m = header(0, 0, 1, 0);
        m.extend_from_slice(&[0xc0, 18, 0, 1, 0, 1, 1, b'a', 0]);
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // Pointer into the header.
        let mut m = header(0, 0, 1, 0);
        m.extend_from_slice(&[0xc0, 2, 0, 1, 0, 1]);
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // Extended and reserved label types.
        for t in [0x41, 0x80] {
            let mut m = header(0, 0, 1, 0);
            m.extend_from_slice(&[t, b'a', 0, 0, 1, 0, 1]);
            assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        }
    }

    #[test]
    fn dns_pointer_chain_backwards_is_fine() {
        // c.b.a built from three names, each pointing at the previous one.
        let mut m = header(0, 0x8000, 3, 1);
        m.extend(name("a"));
        m.extend_from_slice(&[0, 1, 0, 1]);
        let b_at = m.len() as u8;
        m.extend_from_slice(&[1, b'b', 0xc0, 12, 0, 1, 0, 1]);
        let c_at = m.len() as u8;
        m.extend_from_slice(&[1, b'c', 0xc0, b_at, 0, 1, 0, 1]);
        m.extend(rr(&[0xc0, c_at], TYPE_A, 1, 9, &[9, 9, 9, 9]));
        let (r, q, got) = parse(&m);
        assert!(r.is_ok());
        assert_eq!(q, "a");
        assert_eq!(got, vec![Got::A("c.b.a".into(), 9, [9; 4])]);
    }

    #[test]
    fn dns_bad_rdata_lengths() {
        // The first answer is reported, the broken second one stops parsing.
        let mut m = header(0, 0x8000, 0, 3);
        m.extend(rr(&name("x"), TYPE_A, 1, 1, &[1, 2, 3, 4]));
        m.extend(rr(&name("y"), TYPE_A, 1, 1, &[1, 2, 3, 4, 5]));
        m.extend(rr(&name("z"), TYPE_A, 1, 1, &[1, 2, 3, 4]));
        let (r, _, got) = parse(&m);
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(got, vec![Got::A("x".into(), 1, [1, 2, 3, 4])]);
        // AAAA of 4 bytes.
        let mut m = header(0, 0x8000, 0, 1);
        m.extend(rr(&name("x"), TYPE_AAAA, 1, 1, &[1, 2, 3, 4]));
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // CNAME running past its RDATA, and one shorter than its RDATA.
        let mut m = header(0, 0x8000, 0, 1);
        let mut rec = rr(&name("x"), TYPE_CNAME, 1, 1, &[3, b'a', b'b']);
        rec.extend_from_slice(&[b'c', 0]);
        m.extend(rec);
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        let mut m = header(0, 0x8000, 0, 1);
        m.extend(rr(&name("x"), TYPE_CNAME, 1, 1, &[1, b'a', 0, 0]));
        assert_eq!(parse(&m).0, Err(DnsError::Malformed));
        // RDLENGTH beyond the message.
        let mut m = header(0, 0x8000, 0, 1);
        let mut rec = rr(&name("x"), 99, 1, 1, &[]);
        let n = rec.len();
        rec[n - 2..].copy_from_slice(&1000u16.to_be_bytes());
        m.extend(rec);
        assert_eq!(parse(&m).0, Err(DnsError::Truncated));
    }

    #[test]
    fn dns_counts_beyond_the_message() {
        let mut m = header(0, 0x8000, 0xffff, 0xffff);
        m.extend(name("a"));
        m.extend_from_slice(&[0, 1, 0, 1]);
        let (r, q, _) = parse(&m);
        assert_eq!(r, Err(DnsError::Truncated));
        assert_eq!(q, "a");
    }

    #[test]
    fn dns_over_tcp() {
        let m = sample_response();
        let mut seg = (m.len() as u16).to_be_bytes().to_vec();
        seg.extend_from_slice(&m);
        seg.extend_from_slice(&[0, 12, 1, 2]); // start of a next message
        let mut q = NameBuf::default();
        let mut n = 0;
        let r = parse_tcp_message(&seg, &mut q, |_| n += 1);
        assert!(r.is_ok());
        assert_eq!((q.as_bytes(), n), (&b"www.example.com"[..], 4));
        assert_eq!(
            parse_tcp_message(&[0], &mut q, |_| {}),
            Err(DnsError::Truncated)
        );
        assert_eq!(
            parse_tcp_message(&seg[..20], &mut q, |_| {}),
            Err(DnsError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn dns_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut q = NameBuf::default();
            let _ = parse_message(&bytes, &mut q, |a| {
                assert!(a.owner.len() <= 255);
            });
            let _ = parse_tcp_message(&bytes, &mut q, |_| {});
        }

        #[test]
        fn dns_mutated_response_never_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut m = sample_response();
            for (i, b) in edits {
                let n = m.len();
                m[i % n] = b;
            }
            let cut = cut % (m.len() + 1);
            let mut q = NameBuf::default();
            let _ = parse_message(&m[..cut], &mut q, |a| {
                if let Rdata::Cname(t) = a.data {
                    assert!(t.len() <= 255);
                }
            });
        }
    }
}
