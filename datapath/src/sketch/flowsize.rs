//! The flow-size distribution of a window: how many flow records ended in
//! it, by size in packets and in bytes, on fixed log-linear buckets.
//!
//! Buckets: sizes 0 to 7 have one bucket each; above, every power of two
//! `[2^e, 2^(e+1))` is split in four equal buckets (a bucket's width is at
//! most a quarter of its lower bound, so ≤ 25 % resolution), up to
//! `u64::MAX`: 252 buckets. The boundaries are part of the serialized form.
//! Each bucket counts the flows and sums their size (the volume), so the
//! share of packets or bytes carried by large flows is exact too.
//!
//! Counted from the worker's flow records (finished flows and the parts of
//! long flows cut by the active timeout), exactly, when each record is
//! emitted: the distribution covers the records of the window, including
//! any the summary could not carry (`records_dropped`).

use crate::epoch::FlowRecord;

/// Number of buckets.
pub const BUCKETS: usize = 252;

/// Bucket of size `v`.
#[inline]
pub fn bucket(v: u64) -> usize {
    if v < 8 {
        v as usize
    } else {
        let e = 63 - v.leading_zeros() as usize;
        let sub = (v >> (e - 2)) as usize & 3;
        8 + (e - 3) * 4 + sub
    }
}

/// Smallest and largest size of bucket `i` (both inclusive).
pub fn bounds(i: usize) -> (u64, u64) {
    if i < 8 {
        (i as u64, i as u64)
    } else {
        let e = (i - 8) / 4 + 3;
        let sub = ((i - 8) % 4) as u64;
        let lo = (4 + sub) << (e - 2);
        (lo, lo + ((1u64 << (e - 2)) - 1))
    }
}

/// One histogram: flows and volume per bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// Flows per bucket (see [`bounds`] for a bucket's sizes).
    pub flows: [u64; BUCKETS],
    /// Sum of the sizes of the flows in each bucket.
    pub volume: [u64; BUCKETS],
    /// Bit per bucket that may be non-zero: merge and reset visit only
    /// those (an epoch with a few flows costs a few buckets, not 252).
    used: [u64; 4],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            flows: [0; BUCKETS],
            volume: [0; BUCKETS],
            used: [0; 4],
        }
    }
}

impl Histogram {
    /// Counts one flow of size `v`.
    #[inline]
    pub fn record(&mut self, v: u64) {
        let b = bucket(v);
        self.flows[b] += 1;
        self.volume[b] = self.volume[b].saturating_add(v);
        self.used[b / 64] |= 1 << (b % 64);
    }

    /// Sets a bucket (decoding).
    pub(crate) fn set(&mut self, b: usize, flows: u64, volume: u64) {
        self.flows[b] = flows;
        self.volume[b] = volume;
        self.used[b / 64] |= 1 << (b % 64);
    }

    /// Buckets that may be non-zero, ascending.
    fn used(&self) -> impl Iterator<Item = usize> + '_ {
        self.used.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |i| bits >> i & 1 != 0)
                .map(move |i| w * 64 + i)
        })
    }

    /// Adds `o`'s flows and volumes in.
    pub fn merge(&mut self, o: &Histogram) {
        for b in o.used() {
            self.flows[b] = self.flows[b].saturating_add(o.flows[b]);
            self.volume[b] = self.volume[b].saturating_add(o.volume[b]);
        }
        for (a, b) in self.used.iter_mut().zip(o.used) {
            *a |= b;
        }
    }

    /// Empties the histogram.
    pub fn reset(&mut self) {
        let used = self.used;
        for (w, bits) in used.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let b = w * 64 + bits.trailing_zeros() as usize;
                self.flows[b] = 0;
                self.volume[b] = 0;
                bits &= bits - 1;
            }
        }
        self.used = [0; 4];
    }

    /// Flows counted in all buckets.
    pub fn total_flows(&self) -> u64 {
        self.flows.iter().sum()
    }
}

/// The distribution in packets and in bytes (frame bytes, both directions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowSizes {
    /// Flow sizes in packets, both directions.
    pub packets: Histogram,
    /// Flow sizes in frame bytes, both directions.
    pub bytes: Histogram,
    /// Records counted since the last reset.
    pub records: u64,
}

impl FlowSizes {
    /// Counts one flow record, by its packets and bytes in both directions.
    #[inline]
    pub fn record(&mut self, r: &FlowRecord) {
        self.packets.record(r.c2s.packets + r.s2c.packets);
        self.bytes.record(r.c2s.bytes + r.s2c.bytes);
        self.records += 1;
    }

    /// Adds `o`'s histograms and record count in.
    pub fn merge(&mut self, o: &FlowSizes) {
        self.packets.merge(&o.packets);
        self.bytes.merge(&o.bytes);
        self.records += o.records;
    }

    /// Merges into `acc` and empties this one.
    pub fn drain_into(&mut self, acc: &mut FlowSizes) {
        if self.records > 0 {
            acc.merge(self);
            self.reset();
        }
    }

    /// Empties both histograms.
    pub fn reset(&mut self) {
        if self.records > 0 {
            self.packets.reset();
            self.bytes.reset();
            self.records = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_tile_the_whole_range() {
        assert_eq!(bounds(0), (0, 0));
        assert_eq!(bounds(7), (7, 7));
        assert_eq!(bounds(8), (8, 9));
        assert_eq!(bounds(11), (14, 15));
        assert_eq!(bounds(12), (16, 19));
        assert_eq!(bounds(BUCKETS - 1).1, u64::MAX);
        for i in 1..BUCKETS {
            assert_eq!(bounds(i).0, bounds(i - 1).1 + 1, "bucket {i}");
            let (lo, hi) = bounds(i);
            assert!(hi - lo <= lo / 4, "bucket {i} too wide");
            assert_eq!(bucket(lo), i);
            assert_eq!(bucket(hi), i);
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    proptest! {
        #[test]
        fn value_lies_in_its_bucket(v in any::<u64>()) {
            let (lo, hi) = bounds(bucket(v));
            prop_assert!(lo <= v && v <= hi);
        }

        #[test]
        fn merge_equals_the_union(a in proptest::collection::vec((1u64..5000, 60u64..1_000_000), 0..50),
                                  b in proptest::collection::vec((1u64..5000, 60u64..1_000_000), 0..50)) {
            let build = |parts: &[&[(u64, u64)]]| {
                let mut f = FlowSizes::default();
                for p in parts {
                    for &(pk, by) in p.iter() {
                        let mut r = FlowRecord::default();
                        r.c2s.packets = pk / 2;
                        r.s2c.packets = pk - pk / 2;
                        r.c2s.bytes = by;
                        f.record(&r);
                    }
                }
                f
            };
            let mut m = build(&[&a]);
            let mut other = build(&[&b]);
            other.drain_into(&mut m);
            prop_assert_eq!(&m, &build(&[&a, &b]));
            prop_assert_eq!(&other, &FlowSizes::default());
            prop_assert_eq!(m.packets.total_flows(), (a.len() + b.len()) as u64);
            let volume: u64 = a.iter().chain(b.iter()).map(|x| x.1).sum();
            prop_assert_eq!(m.bytes.volume.iter().sum::<u64>(), volume);
        }
    }
}
