//! Unit tests of the parent module.

use super::*;

mod classic;
mod pcapng;
mod streaming;
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

/// Offset of the `i`-th block in a pcapng file.
fn block_offset(bytes: &[u8], i: usize) -> usize {
    let mut off = 0;
    for _ in 0..i {
        off += u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
    }
    off
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
