//! Reading in batches, short reads, IO errors, large frames, truncation at
//! every offset, opening by magic.

use super::*;

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
