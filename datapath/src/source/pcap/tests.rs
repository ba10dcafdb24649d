//! Unit tests of the parent module.

use super::*;
use std::io::Cursor;

// ---- builders -------------------------------------------------------

fn put16(out: &mut Vec<u8>, big: bool, v: u16) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, big: bool, v: u32) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put64(out: &mut Vec<u8>, big: bool, v: u64) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// A classic pcap file. `frames`: (seconds, fraction, data, orig_len).
fn classic(big: bool, nanos: bool, linktype: u32, frames: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    put32(&mut out, big, if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 });
    put16(&mut out, big, 2);
    put16(&mut out, big, 4);
    put32(&mut out, big, 0);
    put32(&mut out, big, 0);
    put32(&mut out, big, 65535);
    put32(&mut out, big, linktype);
    for &(sec, frac, data, orig) in frames {
        put32(&mut out, big, sec);
        put32(&mut out, big, frac);
        put32(&mut out, big, data.len() as u32);
        put32(&mut out, big, orig);
        out.extend_from_slice(data);
    }
    out
}

/// A pcapng writer.
struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(big: bool) -> Ng {
        let mut ng = Ng {
            big,
            out: Vec::new(),
        };
        ng.shb();
        ng
    }

    fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let big = self.big;
        let len = 12 + body.len().next_multiple_of(4);
        put32(&mut self.out, big, btype);
        put32(&mut self.out, big, len as u32);
        self.out.extend_from_slice(body);
        self.out.resize(
            self.out.len() + body.len().next_multiple_of(4) - body.len(),
            0,
        );
        put32(&mut self.out, big, len as u32);
        self
    }

    fn shb(&mut self) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        put32(&mut b, big, BYTE_ORDER_MAGIC);
        put16(&mut b, big, 1);
        put16(&mut b, big, 0);
        put64(&mut b, big, u64::MAX);
        // A comment option, to exercise option skipping.
        put16(&mut b, big, 1);
        put16(&mut b, big, 5);
        b.extend_from_slice(b"hello\0\0\0");
        put32(&mut b, big, 0);
        self.block(BT_SHB, &b)
    }

    /// An IDB with `if_tsresol` (if given) and `if_tsoffset` (if non-zero).
    fn idb(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: i64,
    ) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        put16(&mut b, big, linktype);
        put16(&mut b, big, 0);
        put32(&mut b, big, snaplen);
        // if_name, skipped.
        put16(&mut b, big, 2);
        put16(&mut b, big, 4);
        b.extend_from_slice(b"eth0");
        if let Some(r) = tsresol {
            put16(&mut b, big, OPT_IF_TSRESOL);
            put16(&mut b, big, 1);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if tsoffset != 0 {
            put16(&mut b, big, OPT_IF_TSOFFSET);
            put16(&mut b, big, 8);
            put64(&mut b, big, tsoffset as u64);
        }
        put32(&mut b, big, 0);
        self.block(BT_IDB, &b)
    }

    fn epb(&mut self, iface: u32, ts: u64, data: &[u8], orig: u32) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        put32(&mut b, big, iface);
        put32(&mut b, big, (ts >> 32) as u32);
        put32(&mut b, big, ts as u32);
        put32(&mut b, big, data.len() as u32);
        put32(&mut b, big, orig);
        b.extend_from_slice(data);
        b.resize(b.len().next_multiple_of(4), 0);
        // An epb_flags option after the data.
        put16(&mut b, big, 2);
        put16(&mut b, big, 4);
        put32(&mut b, big, 1);
        put32(&mut b, big, 0);
        self.block(BT_EPB, &b)
    }

    fn pb(&mut self, iface: u16, ts: u64, data: &[u8], orig: u32) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        put16(&mut b, big, iface);
        put16(&mut b, big, 0);
        put32(&mut b, big, (ts >> 32) as u32);
        put32(&mut b, big, ts as u32);
        put32(&mut b, big, data.len() as u32);
        put32(&mut b, big, orig);
        b.extend_from_slice(data);
        self.block(BT_PB, &b)
    }

    fn spb(&mut self, data: &[u8], orig: u32) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        put32(&mut b, big, orig);
        b.extend_from_slice(data);
        self.block(BT_SPB, &b)
    }

    fn bytes(&self) -> Vec<u8> {
        self.out.clone()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    data: Vec<u8>,
    wire_len: u32,
    ts_ns: u64,
    link: LinkType,
}

fn source(bytes: Vec<u8>) -> PcapSource {
    PcapSource::from_reader(Cursor::new(bytes), "test.pcap").expect("open")
}

/// Reads everything; checks that End is sticky.
fn read_all(src: &mut PcapSource, batch: usize) -> Vec<Got> {
    let mut got = Vec::new();
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 1_000_000, "reader does not terminate");
        let p = src.poll_batch(batch, |f| {
            got.push(Got {
                data: f.data.to_vec(),
                wire_len: f.wire_len,
                ts_ns: f.ts_ns,
                link: f.link,
            })
        });
        match p {
            Poll::Frames(n) => assert!(n >= 1 && n <= batch),
            Poll::End => break,
            Poll::Idle { .. } => panic!("a pcap file returned Idle"),
        }
    }
    assert_eq!(
        src.poll_batch(batch, |_| panic!("frame after End")),
        Poll::End
    );
    assert_eq!(
        src.poll_batch(batch, |_| panic!("frame after End")),
        Poll::End
    );
    got
}

fn read_bytes(bytes: Vec<u8>) -> (Vec<Got>, PcapSource) {
    let mut src = source(bytes);
    let got = read_all(&mut src, 64);
    (got, src)
}

const P1: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
const P2: &[u8] = &[0xaa; 61];
const P3: &[u8] = &[0x55, 0x66, 0x77];

fn g(data: &[u8], wire_len: u32, ts_ns: u64, link: LinkType) -> Got {
    Got {
        data: data.to_vec(),
        wire_len,
        ts_ns,
        link,
    }
}

fn three_classic() -> Vec<u8> {
    classic(
        false,
        false,
        1,
        &[
            (1_600_000_000, 123_456, P1, 14),
            (1_600_000_001, 999_999, P2, 1500),
            (1_600_000_002, 0, P3, 3),
        ],
    )
}

fn three_ng() -> Vec<u8> {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, 0)
        .epb(0, 1_600_000_000_123_456, P1, 14)
        .block(5, &[0; 8]) // interface statistics: skipped
        .epb(0, 1_600_000_001_999_999, P2, 1500)
        .epb(0, 1_600_000_002_000_000, P3, 3);
    ng.bytes()
}

fn three_expected() -> Vec<Got> {
    vec![
        g(P1, 14, 1_600_000_000_123_456_000, LinkType::Ethernet),
        g(P2, 1500, 1_600_000_001_999_999_000, LinkType::Ethernet),
        g(P3, 3, 1_600_000_002_000_000_000, LinkType::Ethernet),
    ]
}

// ---- classic pcap ---------------------------------------------------

#[test]
fn classic_micros_little_endian() {
    let bytes = three_classic();
    let len = bytes.len() as u64;
    let (got, src) = read_bytes(bytes);
    assert_eq!(got, three_expected());
    assert_eq!(src.packets_read(), 3);
    assert_eq!(src.bytes_read(), len);
    assert_eq!(src.file_len(), None);
    assert_eq!(src.stats(), SourceStats::default());
}

#[test]
fn classic_all_four_magics() {
    for big in [false, true] {
        for nanos in [false, true] {
            let frac = if nanos { 123_456_789 } else { 123_456 };
            let bytes = classic(big, nanos, 101, &[(1_700_000_000, frac, P1, 60)]);
            let (got, src) = read_bytes(bytes);
            let ts = 1_700_000_000_000_000_000 + if nanos { 123_456_789 } else { 123_456_000 };
            assert_eq!(
                got,
                vec![g(P1, 60, ts, LinkType::RawIp)],
                "big={big} nanos={nanos}"
            );
            assert_eq!(src.stats().invalid, 0);
        }
    }
}

#[test]
fn classic_link_types_and_fcs_bits() {
    for (lt, link) in [
        (0, LinkType::Null),
        (1, LinkType::Ethernet),
        (113, LinkType::LinuxSll),
        (276, LinkType::LinuxSll2),
        (228, LinkType::Ipv4),
        (229, LinkType::Ipv6),
        // Ethernet with "FCS present, 4 bytes" in the upper bits.
        (0x1000_0000 | 0x0400_0000 | 1, LinkType::Ethernet),
    ] {
        let (got, _) = read_bytes(classic(false, false, lt, &[(1, 0, P3, 3)]));
        assert_eq!(got[0].link, link, "linktype {lt:#x}");
    }
}

#[test]
fn classic_unsupported_link_type_is_an_open_error() {
    let bytes = classic(false, false, 147, &[(1, 0, P1, 14)]);
    let err = PcapSource::from_reader(Cursor::new(bytes), "usr.pcap").unwrap_err();
    assert!(
        matches!(err, PcapError::UnsupportedLinkType { linktype: 147, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "usr.pcap: unsupported link type 147");
}

#[test]
fn classic_incl_len_above_orig_len_delivers_all_bytes() {
    let (got, src) = read_bytes(classic(false, false, 1, &[(1, 0, P2, 20)]));
    assert_eq!(
        got,
        vec![g(P2, P2.len() as u32, 1_000_000_000, LinkType::Ethernet)]
    );
    assert_eq!(src.stats().invalid, 0);
}

#[test]
fn classic_absurd_incl_len_stops() {
    let mut bytes = classic(false, false, 1, &[(1, 0, P1, 14), (2, 0, P2, 61)]);
    // Second record's incl_len := 256 MiB + 1.
    let at = 24 + 16 + P1.len() + 8;
    bytes[at..at + 4].copy_from_slice(&((MAX_RECORD as u32) + 1).to_le_bytes());
    bytes.extend_from_slice(&three_classic()[24..]); // never read
    let (got, src) = read_bytes(bytes);
    assert_eq!(got.len(), 1);
    assert_eq!(src.stats().invalid, 1);
    // No allocation on the word of the length field.
    assert_eq!(src.buf.len(), INITIAL_BUF);
}

#[test]
fn classic_huge_length_on_short_file_does_not_allocate() {
    let mut bytes = classic(false, false, 1, &[(1, 0, P1, 14)]);
    let at = 24 + 8;
    bytes[at..at + 4].copy_from_slice(&(200u32 << 20).to_le_bytes());
    let (got, src) = read_bytes(bytes);
    assert!(got.is_empty());
    assert_eq!(src.stats().invalid, 1);
    assert_eq!(src.buf.len(), INITIAL_BUF);
}

#[test]
fn open_errors() {
    let err = PcapSource::from_reader(Cursor::new(vec![0x0a, 0x0d]), "short").unwrap_err();
    assert!(matches!(err, PcapError::Truncated { .. }), "{err:?}");
    let err =
        PcapSource::from_reader(Cursor::new(three_classic()[..20].to_vec()), "s").unwrap_err();
    assert!(matches!(err, PcapError::Truncated { .. }), "{err:?}");
    let err =
        PcapSource::from_reader(Cursor::new(b"GIF89a..........".to_vec()), "x.gif").unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.gif: not a pcap or pcapng file (starts with 47 49 46 38)"
    );
    let mut ng = three_ng();
    ng[8] = 0; // byte-order magic
    let err = PcapSource::from_reader(Cursor::new(ng), "bom.pcapng").unwrap_err();
    assert!(matches!(err, PcapError::Malformed { .. }), "{err:?}");
    let mut ng = three_ng();
    ng[12] = 2; // major version
    let err = PcapSource::from_reader(Cursor::new(ng), "v2.pcapng").unwrap_err();
    assert!(matches!(err, PcapError::Malformed { .. }), "{err:?}");
    let err = PcapSource::from_reader(
        FailingReader {
            data: vec![],
            at: 0,
        },
        "fail",
    )
    .unwrap_err();
    assert!(matches!(err, PcapError::Io { .. }), "{err:?}");
    let err = PcapSource::open(Path::new("/nonexistent/dir/x.pcap")).unwrap_err();
    assert!(matches!(err, PcapError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("/nonexistent/dir/x.pcap: "),
        "{err}"
    );
}

// ---- pcapng ---------------------------------------------------------

#[test]
fn pcapng_basic_and_skipped_blocks() {
    let bytes = three_ng();
    let len = bytes.len() as u64;
    let (got, src) = read_bytes(bytes);
    assert_eq!(got, three_expected());
    assert_eq!(src.bytes_read(), len);
    assert_eq!(src.stats(), SourceStats::default());
}

#[test]
fn pcapng_two_interfaces_with_own_link_and_resolution() {
    for big in [false, true] {
        let mut ng = Ng::new(big);
        // if0: Ethernet, nanoseconds. if1: raw IP, 2^-20 s, offset +100 s.
        ng.idb(1, 0, Some(9), 0)
            .idb(101, 0, Some(0x80 | 20), 100)
            .epb(0, 1_700_000_000_123_456_789, P1, 14)
            .epb(1, (1_700_000_000u64 << 20) | (1 << 19), P3, 3)
            .epb(0, 1_700_000_001_000_000_001, P2, 61);
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(
            got,
            vec![
                g(P1, 14, 1_700_000_000_123_456_789, LinkType::Ethernet),
                g(P3, 3, 1_700_000_100_500_000_000, LinkType::RawIp),
                g(P2, 61, 1_700_000_001_000_000_001, LinkType::Ethernet),
            ],
            "big={big}"
        );
        assert_eq!(src.stats().invalid, 0);
    }
}

#[test]
fn timestamp_scales() {
    // 10^-n, n ≤ 9.
    assert_eq!(TsScale::from_tsresol(6).to_ns(5, 0), 5_000);
    assert_eq!(TsScale::from_tsresol(0).to_ns(5, 0), 5_000_000_000);
    assert_eq!(TsScale::from_tsresol(9).to_ns(5, 0), 5);
    // 10^-12 (picoseconds): rounds down.
    assert_eq!(TsScale::from_tsresol(12).to_ns(1_234_567, 0), 1_234);
    assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX, 0), 0);
    // 2^-n.
    assert_eq!(TsScale::from_tsresol(0x80).to_ns(3, 0), 3_000_000_000);
    assert_eq!(
        TsScale::from_tsresol(0x80 | 10).to_ns(1024 + 512, 0),
        1_500_000_000
    );
    assert_eq!(TsScale::from_tsresol(0x80 | 30).to_ns(1, 0), 0); // 0.93 ns
    assert_eq!(TsScale::from_tsresol(0x80 | 127).to_ns(u64::MAX, 0), 0);
    // Saturation both ways.
    assert_eq!(TsScale::from_tsresol(0).to_ns(u64::MAX, 0), u64::MAX);
    assert_eq!(TsScale::from_tsresol(6).to_ns(1_000_000, -5), 0);
    assert_eq!(
        TsScale::from_tsresol(6).to_ns(1_000_000, i64::MAX),
        u64::MAX
    );
    assert_eq!(TsScale::from_tsresol(6).to_ns(1_000_000, -1), 0);
    assert_eq!(TsScale::from_tsresol(6).to_ns(1_500_000, -1), 500_000_000);
}

#[test]
fn pcapng_simple_packet_block() {
    let mut ng = Ng::new(false);
    ng.idb(1, 8, Some(9), 0) // snaplen 8
        .spb(&P1[..8], 14) // cut by the snap length
        .epb(0, 77, P3, 3)
        .spb(P3, 3); // padded to 4 in the file; 3 bytes delivered
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(
        got,
        vec![
            g(&P1[..8], 14, 0, LinkType::Ethernet),
            g(P3, 3, 77, LinkType::Ethernet),
            g(P3, 3, 77, LinkType::Ethernet), // last timestamp seen
        ]
    );
    assert_eq!(src.stats().invalid, 0);
}

#[test]
fn pcapng_obsolete_packet_block() {
    let mut ng = Ng::new(true);
    ng.idb(1, 0, None, 0)
        .idb(113, 0, Some(3), 0)
        .pb(1, 42, P1, 100);
    let (got, _) = read_bytes(ng.bytes());
    assert_eq!(got, vec![g(P1, 100, 42_000_000, LinkType::LinuxSll)]);
}

#[test]
fn pcapng_skips_unknown_blocks_of_any_size() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, 0)
        .block(4, &[0; 16]) // name resolution
        .block(0x0A, &[0; 40]) // decryption secrets
        .block(0x0000_0BAD, &[7; 3]) // custom
        .epb(0, 1, P1, 14)
        // 3 MiB unknown block: more than the initial buffer, skipped
        // without growing it.
        .block(0x4000_0001, &vec![0xee; 3 << 20])
        .epb(0, 2, P2, 61);
    let bytes = ng.bytes();
    let len = bytes.len() as u64;
    let (got, src) = read_bytes(bytes);
    assert_eq!(
        got,
        vec![
            g(P1, 14, 1_000, LinkType::Ethernet),
            g(P2, 61, 2_000, LinkType::Ethernet)
        ]
    );
    assert_eq!(src.bytes_read(), len);
    assert_eq!(src.stats().invalid, 0);
    assert_eq!(src.buf.len(), INITIAL_BUF);
}

#[test]
fn pcapng_sections_reset_interfaces_and_byte_order() {
    let mut a = Ng::new(false);
    a.idb(1, 0, None, 0).idb(1, 0, None, 0).epb(1, 1, P1, 14);
    let mut b = Ng::new(true);
    b.idb(101, 0, Some(9), 0)
        .epb(0, 5, P3, 3)
        .epb(1, 6, P2, 61) // interface 1 was in the previous section
        .epb(0, 7, P3, 3);
    let mut bytes = a.bytes();
    bytes.extend_from_slice(&b.bytes());
    let (got, src) = read_bytes(bytes);
    assert_eq!(
        got,
        vec![
            g(P1, 14, 1_000, LinkType::Ethernet),
            g(P3, 3, 5, LinkType::RawIp),
            g(P3, 3, 7, LinkType::RawIp),
        ]
    );
    assert_eq!(src.stats().invalid, 1);
}

#[test]
fn pcapng_unsupported_link_and_unknown_interface_are_skipped() {
    let mut ng = Ng::new(false);
    ng.idb(147, 0, None, 0) // USER0: unsupported
        .idb(1, 0, None, 0)
        .epb(0, 1, P1, 14)
        .epb(1, 2, P2, 61)
        .epb(7, 3, P3, 3) // no such interface
        .spb(P3, 3) // interface 0: unsupported
        .epb(1, 4, P3, 3);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(
        got,
        vec![
            g(P2, 61, 2_000, LinkType::Ethernet),
            g(P3, 3, 4_000, LinkType::Ethernet)
        ]
    );
    assert_eq!(src.stats().invalid, 3);
    assert_eq!(src.packets_read(), 2);
}

#[test]
fn pcapng_packet_before_any_interface() {
    let mut ng = Ng::new(false);
    ng.epb(0, 1, P1, 14)
        .spb(P1, 14)
        .idb(1, 0, None, 0)
        .epb(0, 2, P3, 3);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(got, vec![g(P3, 3, 2_000, LinkType::Ethernet)]);
    assert_eq!(src.stats().invalid, 2);
}

/// Offset of the `i`-th block in a pcapng file.
fn block_offset(bytes: &[u8], i: usize) -> usize {
    let mut off = 0;
    for _ in 0..i {
        off += u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
    }
    off
}

#[test]
fn pcapng_corrupt_lengths_stop_reading() {
    // Blocks of three_ng(): SHB, IDB, EPB, ISB, EPB, EPB.
    let base = three_ng();
    let epb2 = block_offset(&base, 4);
    let set = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let epb2_len = u32::from_le_bytes(base[epb2 + 4..epb2 + 8].try_into().unwrap());
    type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corrupt)> = vec![
        (
            "length not a multiple of 4",
            Box::new(move |b| set(b, epb2 + 4, epb2_len + 2)),
        ),
        (
            "length below the minimum",
            Box::new(move |b| set(b, epb2 + 4, 28)),
        ),
        ("length below 12", Box::new(move |b| set(b, epb2 + 4, 8))),
        (
            "trailer disagrees",
            Box::new(move |b| set(b, epb2 + epb2_len as usize - 4, epb2_len + 4)),
        ),
        (
            "captured length beyond the block",
            Box::new(move |b| set(b, epb2 + 20, epb2_len)),
        ),
        (
            "captured length absurd",
            Box::new(move |b| set(b, epb2 + 20, u32::MAX)),
        ),
        (
            "block length absurd",
            Box::new(move |b| set(b, epb2 + 4, 0xFFFF_FFF0)),
        ),
        (
            "next SHB with bad byte order",
            Box::new(move |b| {
                set(b, epb2, BT_SHB);
                set(b, epb2 + 8, 0x1234_5678);
            }),
        ),
        (
            "next SHB with version 2",
            Box::new(move |b| {
                let mut shb = Ng::new(false).bytes();
                shb[12] = 2;
                b.splice(epb2..epb2, shb);
            }),
        ),
    ];
    for (what, corrupt) in cases {
        let mut bytes = base.clone();
        corrupt(&mut bytes);
        let (got, src) = read_bytes(bytes);
        assert_eq!(got, three_expected()[..1], "{what}");
        assert_eq!(src.stats().invalid, 1, "{what}");
    }
}

#[test]
fn pcapng_malformed_idb_options_are_tolerated() {
    let mut ng = Ng::new(false);
    let mut body = Vec::new();
    put16(&mut body, false, 1);
    put16(&mut body, false, 0);
    put32(&mut body, false, 0);
    put16(&mut body, false, OPT_IF_TSRESOL);
    put16(&mut body, false, 200); // runs past the block
    body.extend_from_slice(&[9, 0, 0, 0]);
    ng.block(BT_IDB, &body).epb(0, 3, P3, 3);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(got, vec![g(P3, 3, 3_000, LinkType::Ethernet)]);
    assert_eq!(src.stats().invalid, 0);
}

// ---- streaming ------------------------------------------------------

#[test]
fn batches_respect_max() {
    for bytes in [three_classic(), three_ng()] {
        let mut src = source(bytes);
        let mut n = 0;
        assert_eq!(src.poll_batch(2, |_| n += 1), Poll::Frames(2));
        assert_eq!(src.poll_batch(2, |_| n += 1), Poll::Frames(1));
        assert_eq!(src.poll_batch(2, |_| n += 1), Poll::End);
        assert_eq!(src.poll_batch(2, |_| n += 1), Poll::End);
        assert_eq!(n, 3);
        assert_eq!(src.packets_read(), 3);
    }
    let mut src = source(three_classic());
    assert_eq!(src.poll_batch(1, |_| {}), Poll::Frames(1));
    assert_eq!(
        src.poll_batch(0, |_| panic!()),
        Poll::Idle {
            now_ns: 1_600_000_000_123_456_000
        }
    );
    assert_eq!(src.poll_batch(1, |_| {}), Poll::Frames(1));
    assert_eq!(
        src.poll_batch(0, |_| panic!()),
        Poll::Idle {
            now_ns: 1_600_000_001_999_999_000
        }
    );
    // Asked for more than remain: the reader sees the end of the file.
    assert_eq!(src.poll_batch(3, |_| {}), Poll::Frames(1));
    assert_eq!(src.poll_batch(0, |_| panic!()), Poll::End);
    assert_eq!(src.poll_batch(3, |_| {}), Poll::End);
}

/// Returns at most a few bytes per read, with spurious `Interrupted`s.
struct TrickleReader {
    data: Vec<u8>,
    pos: usize,
    calls: usize,
}

impl Read for TrickleReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 == 2 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = (self.calls % 7 + 1)
            .min(out.len())
            .min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn short_reads_and_interrupts() {
    for bytes in [three_classic(), three_ng()] {
        let len = bytes.len() as u64;
        let r = TrickleReader {
            data: bytes,
            pos: 0,
            calls: 0,
        };
        let mut src = PcapSource::from_reader(r, "trickle").unwrap();
        assert_eq!(read_all(&mut src, 2), three_expected());
        assert_eq!(src.bytes_read(), len);
        assert_eq!(src.stats().invalid, 0);
    }
}

/// Fails with an I/O error after `at` bytes.
struct FailingReader {
    data: Vec<u8>,
    at: usize,
}

impl Read for FailingReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = out.len().min(self.at);
        out[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        self.at -= n;
        Ok(n)
    }
}

#[test]
fn io_error_mid_file_counts_and_ends() {
    for (bytes, boundary) in [
        (three_classic(), 24 + 16 + P1.len()),
        (three_ng(), block_offset(&three_ng(), 3)),
    ] {
        // In the middle of the second record, and exactly between records.
        for at in [boundary + 5, boundary] {
            let r = FailingReader {
                data: bytes.clone(),
                at,
            };
            let mut src = PcapSource::from_reader(r, "failing").unwrap();
            assert_eq!(read_all(&mut src, 8), three_expected()[..1]);
            assert_eq!(src.stats().invalid, 1, "at {at}");
        }
    }
}

#[test]
fn frames_larger_than_the_initial_buffer() {
    let big1: Vec<u8> = (0..(3 << 20) + 3).map(|i| i as u8).collect();
    let big2: Vec<u8> = (0..(5 << 20) + 1).map(|i| (i * 7) as u8).collect();
    let c = classic(
        true,
        true,
        1,
        &[(1, 1, P1, 14), (2, 2, &big1, 0), (3, 3, P3, 3)],
    );
    let (got, src) = read_bytes(c);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[1],
        g(&big1, big1.len() as u32, 2_000_000_002, LinkType::Ethernet)
    );
    assert_eq!(got[2].data, P3);
    assert!(src.buf.len() <= 8 << 20);
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, 0)
        .epb(0, 1, &big2, 0)
        .epb(0, 2, &big1, 0)
        .epb(0, 3, P1, 14);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].data, big2);
    assert_eq!(got[1].data, big1);
    assert_eq!(got[2].data, P1);
    assert_eq!(src.stats().invalid, 0);
}

/// Cutting a file anywhere never panics and yields exactly the complete
/// records before the cut; a cut inside a record counts as invalid.
fn check_every_truncation(bytes: &[u8], record_ends: &[usize]) {
    let expected = three_expected();
    for cut in 0..=bytes.len() {
        let prefix = bytes[..cut].to_vec();
        let Ok(mut src) = PcapSource::from_reader(Cursor::new(prefix), "cut") else {
            assert!(cut < 32, "open failed at cut {cut}");
            continue;
        };
        let got = read_all(&mut src, 2);
        let complete = record_ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(got, expected[..complete], "cut at {cut}");
        let at_boundary = record_ends.contains(&cut) || cut == record_ends[0] - P1.len() - 16;
        let invalid = src.stats().invalid;
        if at_boundary {
            assert_eq!(invalid, 0, "cut at {cut}");
        } else {
            assert_eq!(invalid, 1, "cut at {cut}");
        }
        assert!(src.bytes_read() <= cut as u64);
    }
}

#[test]
fn truncated_classic_at_every_offset() {
    let bytes = three_classic();
    let ends = [
        24 + 16 + P1.len(),
        24 + 32 + P1.len() + P2.len(),
        bytes.len(),
    ];
    check_every_truncation(&bytes, &ends);
}

#[test]
fn truncated_pcapng_at_every_offset() {
    let bytes = three_ng();
    let ends = [
        block_offset(&bytes, 3),
        block_offset(&bytes, 5),
        bytes.len(),
    ];
    // Cuts at block boundaries without a frame (after the SHB, after the
    // IDB, after the ISB) are clean too.
    let clean = [
        block_offset(&bytes, 1),
        block_offset(&bytes, 2),
        block_offset(&bytes, 4),
    ];
    let expected = three_expected();
    for cut in 0..=bytes.len() {
        let Ok(mut src) = PcapSource::from_reader(Cursor::new(bytes[..cut].to_vec()), "cut") else {
            assert!(cut < 16, "open failed at cut {cut}");
            continue;
        };
        let got = read_all(&mut src, 2);
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(got, expected[..complete], "cut at {cut}");
        let boundary = ends.contains(&cut) || clean.contains(&cut);
        assert_eq!(src.stats().invalid, u64::from(!boundary), "cut at {cut}");
    }
}

#[test]
fn open_by_magic_not_by_name() {
    let dir = std::env::temp_dir().join(format!("tapscope-pcap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ng_named_pcap = dir.join("dns.pcap");
    let classic_named_ng = dir.join("x.pcapng");
    std::fs::write(&ng_named_pcap, three_ng()).unwrap();
    std::fs::write(&classic_named_ng, three_classic()).unwrap();
    for p in [&ng_named_pcap, &classic_named_ng] {
        let mut src = PcapSource::open(p).unwrap();
        let len = std::fs::metadata(p).unwrap().len();
        assert_eq!(src.file_len(), Some(len));
        assert_eq!(read_all(&mut src, 16), three_expected());
        assert_eq!(src.bytes_read(), len);
    }
    let err = PcapSource::open(&dir).unwrap_err();
    assert!(matches!(err, PcapError::Io { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn source_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<PcapSource>();
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn drain(bytes: Vec<u8>) {
        if let Ok(mut src) = PcapSource::from_reader(Cursor::new(bytes), "fuzz") {
            let mut total = 0u64;
            let got = read_all(&mut src, 7);
            for f in &got {
                assert!(f.data.len() <= MAX_RECORD);
                assert!(f.wire_len as usize >= f.data.len());
                total += 1;
            }
            assert_eq!(total, src.packets_read());
            assert!(src.buf.len() <= MAX_BUFFERED_BLOCK);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(
            magic in prop::sample::select(vec![
                [0xd4u8, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4],
                [0x4d, 0x3c, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a],
            ]),
            rest in prop::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&rest);
            drain(bytes);
        }

        #[test]
        fn mutated_files_never_panic(
            ng in any::<bool>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = if ng { three_ng() } else { three_classic() };
            for (i, v) in edits {
                let at = i.index(bytes.len());
                bytes[at] = v;
            }
            drain(bytes);
        }
    }
}
