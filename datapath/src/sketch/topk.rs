//! The keys with the largest count-min estimates: an indexed min-heap of
//! fixed capacity plus an open-addressing index from key to heap entry.
//!
//! The count-min estimate of a key never decreases, so a key whose new
//! estimate is not above the heap's minimum cannot be in a full heap: the
//! common case costs one comparison. Otherwise the key's entry is found by
//! its hash and its latest estimate noted, or the key replaces the minimum.
//!
//! The heap is ordered lazily: a key already held only records its new
//! estimate (`fresh`), without moving in the heap — heavy keys, most of
//! the packets, cost one lookup. The heap's order uses the estimates as of
//! the last move (`counts`, at most `fresh`), so its root is a lower bound
//! of the minimum; before an eviction the root is brought up to date and
//! sifted until it is the true minimum. With exact counts this keeps
//! exactly the `capacity` largest keys (ties aside): the minimum only
//! grows, and a key left out has a count at most the minimum at its last
//! update.
//!
//! All memory is allocated by [`TopK::new`]; offering a key never allocates.

use super::key::Packed;

/// A fixed-capacity set of the keys with the largest estimates.
#[derive(Clone, Debug)]
pub struct TopK {
    cap: usize,
    len: usize,
    keys: Box<[Packed]>,
    /// Estimate each entry is ordered by in the heap.
    counts: Box<[u64]>,
    /// Latest estimate of each entry (at least `counts`).
    fresh: Box<[u64]>,
    hashes: Box<[u64]>,
    /// Entry ids, a min-heap by `counts`.
    heap: Box<[u32]>,
    /// Heap position of each entry id.
    pos: Box<[u32]>,
    /// 0 = empty, else entry id + 1; linear probing, backward-shift deletion.
    index: Box<[u32]>,
    mask: usize,
    /// `counts` of the root when full, else 0: the one value the common
    /// case reads.
    floor: u64,
}

impl TopK {
    /// Room for `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> TopK {
        let cap = capacity.max(1);
        let slots = (cap * 2).next_power_of_two().max(8);
        TopK {
            cap,
            len: 0,
            keys: vec![Packed::default(); cap].into_boxed_slice(),
            counts: vec![0; cap].into_boxed_slice(),
            fresh: vec![0; cap].into_boxed_slice(),
            hashes: vec![0; cap].into_boxed_slice(),
            heap: vec![0; cap].into_boxed_slice(),
            pos: vec![0; cap].into_boxed_slice(),
            index: vec![0; slots].into_boxed_slice(),
            mask: slots - 1,
            floor: 0,
        }
    }

    /// Most keys held.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A lower bound of the smallest estimate held, when full; 0 otherwise.
    #[inline]
    pub fn threshold(&self) -> u64 {
        self.floor
    }

    /// Offers `key` (hash `h`) with its current estimate `est`, which must
    /// not be below any estimate offered before for the same key.
    #[inline]
    pub fn offer(&mut self, key: &Packed, h: u64, est: u64) {
        if est <= self.floor {
            return;
        }
        self.offer_slow(key, h, est);
    }

    fn offer_slow(&mut self, key: &Packed, h: u64, est: u64) {
        if let Some(id) = self.find(key, h) {
            self.fresh[id] = self.fresh[id].max(est);
            return;
        }
        let id = if self.len < self.cap {
            let id = self.len;
            self.len += 1;
            self.heap[id] = id as u32;
            self.pos[id] = id as u32;
            id
        } else {
            // Bring the root up to date until it is the true minimum.
            loop {
                let r = self.heap[0] as usize;
                if self.fresh[r] <= self.counts[r] {
                    break;
                }
                self.counts[r] = self.fresh[r];
                self.sift_down(0);
            }
            let id = self.heap[0] as usize;
            self.floor = self.counts[id];
            if est <= self.counts[id] {
                return;
            }
            self.unindex(id);
            id
        };
        self.keys[id] = *key;
        self.hashes[id] = h;
        self.counts[id] = est;
        self.fresh[id] = est;
        self.reindex(id);
        let p = self.pos[id] as usize;
        self.sift_up(p);
        self.sift_down(self.pos[id] as usize);
        if self.len == self.cap {
            self.floor = self.counts[self.heap[0] as usize];
        }
    }

    /// Entries in no particular order: key, estimate.
    pub fn iter(&self) -> impl Iterator<Item = (&Packed, u64)> + '_ {
        (0..self.len).map(|i| (&self.keys[i], self.fresh[i]))
    }

    /// Empties the set (keeps its memory).
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.index.fill(0);
            self.len = 0;
            self.floor = 0;
        }
    }

    #[inline]
    fn home(&self, h: u64) -> usize {
        (h >> 32) as usize & self.mask
    }

    #[inline]
    fn find(&self, key: &Packed, h: u64) -> Option<usize> {
        let mut i = self.home(h);
        loop {
            let e = self.index[i];
            if e == 0 {
                return None;
            }
            let id = (e - 1) as usize;
            if self.hashes[id] == h && self.keys[id] == *key {
                return Some(id);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn reindex(&mut self, id: usize) {
        let mut i = self.home(self.hashes[id]);
        while self.index[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.index[i] = id as u32 + 1;
    }

    fn unindex(&mut self, id: usize) {
        let tag = id as u32 + 1;
        let mut i = self.home(self.hashes[id]);
        while self.index[i] != tag {
            i = (i + 1) & self.mask;
        }
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let v = self.index[j];
            if v == 0 {
                break;
            }
            let home = self.home(self.hashes[(v - 1) as usize]);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(i) & self.mask) {
                self.index[i] = v;
                i = j;
            }
        }
        self.index[i] = 0;
    }

    #[inline]
    fn less(&self, a: usize, b: usize) -> bool {
        self.counts[self.heap[a] as usize] < self.counts[self.heap[b] as usize]
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(i, parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let l = 2 * i + 1;
            if l >= self.len {
                break;
            }
            let r = l + 1;
            let c = if r < self.len && self.less(r, l) {
                r
            } else {
                l
            };
            if !self.less(c, i) {
                break;
            }
            self.swap(i, c);
            i = c;
        }
    }

    #[cfg(test)]
    fn check(&self) {
        let floor = if self.len == self.cap {
            self.counts[self.heap[0] as usize]
        } else {
            0
        };
        assert_eq!(self.floor, floor);
        for i in 1..self.len {
            assert!(!self.less(i, (i - 1) / 2), "heap order at {i}");
        }
        for id in 0..self.len {
            assert!(self.fresh[id] >= self.counts[id]);
            assert_eq!(self.heap[self.pos[id] as usize] as usize, id);
            assert_eq!(self.find(&self.keys[id], self.hashes[id]), Some(id));
        }
        assert_eq!(self.index.iter().filter(|&&e| e != 0).count(), self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::key::mix64;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(k: u32) -> Packed {
        Packed([k as u64, 0, 0, 0, 0])
    }

    fn h(k: u32) -> u64 {
        // A weak hash on purpose: long probe runs exercise deletion.
        mix64(k as u64 % 7)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// With exact counts, the set is exactly the `cap` largest keys.
        #[test]
        fn keeps_the_largest_exact_counts(stream in proptest::collection::vec((0u32..60, 1u64..20), 0..500),
                                         cap in 1usize..12) {
            let mut t = TopK::new(cap);
            let mut truth: HashMap<u32, u64> = HashMap::new();
            for &(k, inc) in &stream {
                let c = truth.entry(k).or_default();
                *c += inc;
                t.offer(&key(k), h(k), *c);
                t.check();
            }
            let mut counts: Vec<u64> = truth.values().copied().collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            prop_assert_eq!(t.len(), cap.min(truth.len()));
            if !t.is_empty() {
                // The k-th largest count: every kept key has at least it,
                // every key left out has at most it.
                let kth = counts[t.len() - 1];
                let kept: HashMap<Packed, u64> = t.iter().map(|(k, c)| (*k, c)).collect();
                for (&k, &c) in &truth {
                    match kept.get(&key(k)) {
                        Some(&est) => {
                            prop_assert_eq!(est, c);
                            prop_assert!(c >= kth);
                        }
                        None => prop_assert!(c <= kth),
                    }
                }
            }
        }
    }

    #[test]
    fn clear_keeps_capacity() {
        let mut t = TopK::new(4);
        for k in 0..10 {
            t.offer(&key(k), h(k), k as u64 + 1);
        }
        assert_eq!(t.len(), 4);
        // The root was never refreshed: keys 0..3 were evicted in turn.
        assert_eq!(t.threshold(), 7);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.threshold(), 0);
        t.offer(&key(3), h(3), 1);
        t.check();
        assert_eq!(t.iter().count(), 1);
    }
}
