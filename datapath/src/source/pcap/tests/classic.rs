//! Classic pcap: byte orders, resolutions, link types, lengths, open errors.

use super::*;

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
