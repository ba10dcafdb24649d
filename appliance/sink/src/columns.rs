//! Column builders shared by the tables, written once: timestamps,
//! counters, addresses (dotted quad for IPv4, RFC 5952 for IPv6), MAC
//! addresses and protocol names.
//!
//! Unknown values are written as null, never as 0.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, StringBuilder, TimestampMicrosecondArray, UInt64Array};
use datapath::wire::IpProtocol;
use model::rows::{ip_addr, packet_ip_addr};

/// Unix ns to Arrow timestamp µs.
pub(crate) fn ts_us(ns: u64) -> i64 {
    (ns / 1_000) as i64
}

/// A `timestamp[us, UTC]` column from Unix ns.
pub(crate) fn ts_array(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values.map(ts_us)).with_timezone("UTC"))
}

/// A non-null `uint64` column.
pub(crate) fn u64_array(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(values))
}

/// `value` on every one of `n` rows (the `tap_id` column).
pub(crate) fn repeat_str(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n)))
}

/// A nullable `utf8` column.
pub(crate) fn opt_str<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

/// `aa:bb:cc:dd:ee:ff`, or null when all zero (no Ethernet header).
pub(crate) fn mac_array<'a>(macs: impl Iterator<Item = &'a [u8; 6]>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for m in macs {
        if *m == [0u8; 6] {
            b.append_null();
        } else {
            let _ = write!(
                b,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            );
            b.append_value("");
        }
    }
    Arc::new(b.finish())
}

/// Packets' addresses: dotted quad for IPv4 packets (stored IPv4-mapped),
/// RFC 5952 for any other version (see [`packet_ip_addr`]).
pub(crate) fn ip_array<'a>(addrs: impl Iterator<Item = (u8, &'a [u8; 16])>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for (version, a) in addrs {
        let _ = write!(b, "{}", packet_ip_addr(version, a));
        b.append_value("");
    }
    Arc::new(b.finish())
}

/// Addresses without a packet's version: IPv4-mapped shown as IPv4 (see
/// [`ip_addr`]); null for `None`.
pub(crate) fn opt_ip_array<'a>(addrs: impl Iterator<Item = Option<&'a [u8; 16]>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for a in addrs {
        match a {
            None => b.append_null(),
            Some(a) => {
                let _ = write!(b, "{}", ip_addr(a));
                b.append_value("");
            }
        }
    }
    Arc::new(b.finish())
}

/// An IP protocol in key text: `tcp`, `udp`, `icmp`, `icmpv6` (the names
/// [`IpProtocol`] displays), `proto<n>` for any other protocol.
pub(crate) fn protocol_text(p: IpProtocol) -> String {
    if p == IpProtocol::TCP || p == IpProtocol::UDP || p.is_icmp() {
        p.to_string()
    } else {
        format!("proto{}", p.0)
    }
}

/// A `list<struct>` column ([`crate::table::Ty::Records`] with `fields`):
/// row `i` holds records `offsets[i]..offsets[i + 1]` of the flattened
/// `children` (one array per field, in `fields` order).
pub(crate) fn records_array(
    fields: &[(&'static str, crate::table::Ty)],
    offsets: Vec<i32>,
    children: Vec<ArrayRef>,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    use arrow::array::{ListArray, StructArray};
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{DataType, Field};
    let struct_fields = crate::table::record_fields(fields);
    let values = StructArray::try_new(struct_fields.clone(), children, None)?;
    let item = Arc::new(Field::new("item", DataType::Struct(struct_fields), false));
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        None,
    )?))
}

/// The offsets of a list column whose row `i` has `lens[i]` items.
pub(crate) fn list_offsets(lens: impl Iterator<Item = usize>) -> Vec<i32> {
    let mut offsets = vec![0i32];
    let mut total = 0usize;
    for n in lens {
        total += n;
        offsets.push(i32::try_from(total).unwrap_or(i32::MAX));
    }
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn v4(a: [u8; 4]) -> [u8; 16] {
        std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
    }

    #[test]
    fn protocol_names() {
        assert_eq!(protocol_text(IpProtocol::TCP), "tcp");
        assert_eq!(protocol_text(IpProtocol::UDP), "udp");
        assert_eq!(protocol_text(IpProtocol::ICMP), "icmp");
        assert_eq!(protocol_text(IpProtocol::ICMPV6), "icmpv6");
        assert_eq!(protocol_text(IpProtocol::GRE), "proto47");
        assert_eq!(protocol_text(IpProtocol(132)), "proto132");
    }

    #[test]
    fn addresses_and_macs() {
        let a = v4([10, 0, 0, 1]);
        let ips = ip_array([(4, &a), (6, &a), (0, &a)].into_iter());
        let ips = ips.as_string::<i32>();
        assert_eq!(ips.value(0), "10.0.0.1");
        assert_eq!(ips.value(1), "::ffff:10.0.0.1");
        assert_eq!(ips.value(2), "::ffff:10.0.0.1");
        let opt = opt_ip_array([Some(&a), None].into_iter());
        let opt = opt.as_string::<i32>();
        assert_eq!(opt.value(0), "10.0.0.1");
        assert!(opt.is_null(1));
        let macs = mac_array([&[0xaa, 0xbb, 0xcc, 0, 1, 2], &[0; 6]].into_iter());
        let macs = macs.as_string::<i32>();
        assert_eq!(macs.value(0), "aa:bb:cc:00:01:02");
        assert!(macs.is_null(1));
    }
}
