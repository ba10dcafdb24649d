//! Count-min sketch (Cormode and Muthukrishnan, 2005), with conservative
//! update (Estan and Varghese, 2002) by default.
//!
//! `depth` rows of `width` counters. A key's hash picks one counter per row
//! (multiply-shift hashing with a per-row odd multiplier: a universal family
//! over the 64-bit hash values); its estimate is the smallest of them.
//!
//! - With `width = ⌈e/ε⌉` and `depth = ⌈ln(1/δ)⌉`, an estimate exceeds the
//!   true count by more than `ε·N` (`N` = the sum of all increments) with
//!   probability at most `δ`, and is never below it.
//! - Conservative update raises each of the key's counters only as far as
//!   the new estimate (`min + inc`): estimates stay upper bounds and are
//!   never larger than plain count-min's, usually much smaller on skewed
//!   traffic.
//! - Merge adds the tables cell by cell. For plain updates that equals the
//!   sketch of the union of the streams. Conservative update is not linear:
//!   the sum of two conservative sketches is at least the true count and at
//!   most plain count-min's on the union, so it keeps the same guarantee,
//!   but is not bit-identical to a conservative sketch built on the union.
//!
//! A short log of the cells touched since the last reset lets a sketch that
//! saw few updates (a quiet epoch) be reset and merged in time proportional
//! to its updates instead of its size.

use super::key::{row_index, row_multiplier};

/// Most rows a sketch may have (confidence 1 - e^-16).
pub const MAX_DEPTH: usize = 16;
/// Cells remembered for a cheap reset; beyond that a reset clears all.
const LOG_CAP: usize = 1024;
const LOG_OVERFLOW: u32 = u32::MAX;

/// Width and depth for error `epsilon` (relative to the stream total) and
/// `confidence` (1 - δ): `⌈e/ε⌉` and `⌈ln(1/δ)⌉`, clamped to
/// `1..=MAX_DEPTH` rows.
pub fn dims(epsilon: f64, confidence: f64) -> (u32, u32) {
    let width = (std::f64::consts::E / epsilon)
        .ceil()
        .clamp(1.0, u32::MAX as f64) as u32;
    let delta = (1.0 - confidence).max(f64::MIN_POSITIVE);
    let depth = (1.0 / delta).ln().ceil().clamp(1.0, MAX_DEPTH as f64) as u32;
    (width, depth)
}

/// A count-min sketch; see the module docs.
#[derive(Clone, Debug)]
pub struct CountMin {
    width: u32,
    depth: u32,
    conservative: bool,
    seed: u64,
    mults: [u64; MAX_DEPTH],
    /// Row-major: row `r` is `cells[r * width..(r + 1) * width]`.
    cells: Box<[u64]>,
    touched: Box<[u32]>,
    /// Entries used in `touched`, or `LOG_OVERFLOW`.
    touched_len: u32,
}

/// Two sketches of different shape or seed cannot be merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("count-min sketches differ in width, depth or seed")]
pub struct Incompatible;

impl PartialEq for CountMin {
    /// Same shape, seed, update rule and cells (the touch log is not state).
    fn eq(&self, o: &CountMin) -> bool {
        self.width == o.width
            && self.depth == o.depth
            && self.conservative == o.conservative
            && self.seed == o.seed
            && self.cells == o.cells
    }
}

impl CountMin {
    /// An empty sketch. `width` and `depth` are clamped to at least 1 and
    /// `depth` to [`MAX_DEPTH`]; `width * depth` must fit in a `u32`.
    pub fn new(width: u32, depth: u32, seed: u64, conservative: bool) -> CountMin {
        let width = width.max(1);
        let depth = depth.clamp(1, MAX_DEPTH as u32);
        assert!(
            (width as u64) * (depth as u64) < u32::MAX as u64,
            "count-min sketch too large"
        );
        let mut mults = [0u64; MAX_DEPTH];
        for (i, m) in mults.iter_mut().enumerate() {
            *m = row_multiplier(seed, i);
        }
        CountMin {
            width,
            depth,
            conservative,
            seed,
            mults,
            cells: vec![0u64; width as usize * depth as usize].into_boxed_slice(),
            touched: vec![0u32; LOG_CAP].into_boxed_slice(),
            touched_len: 0,
        }
    }

    /// Counters per row.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Rows.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Seed of the row hashes.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// True for conservative update, false for plain count-min.
    pub fn conservative(&self) -> bool {
        self.conservative
    }

    /// The error factor this width achieves: `e / width` (at most the ε it
    /// was sized for).
    pub fn epsilon(&self) -> f64 {
        std::f64::consts::E / self.width as f64
    }

    /// The additive error bound `⌈ε·total⌉` for a stream of `total`, which
    /// holds with the confidence the depth was sized for.
    pub fn error_bound(&self, total: u64) -> u64 {
        (self.epsilon() * total as f64).ceil() as u64
    }

    /// The cells, row-major.
    pub fn cells(&self) -> &[u64] {
        &self.cells
    }

    /// Memory of the table in bytes.
    pub fn table_bytes(&self) -> usize {
        self.cells.len() * 8
    }

    #[inline]
    fn indexes(&self, h: u64) -> ([u32; MAX_DEPTH], usize) {
        let d = self.depth as usize;
        let w = self.width as u64;
        let mut idx = [0u32; MAX_DEPTH];
        for (r, slot) in idx.iter_mut().enumerate().take(d) {
            *slot = (r * self.width as usize + row_index(self.mults[r], h, w)) as u32;
        }
        (idx, d)
    }

    /// Adds `inc` to the key with hash `h`; returns its new estimate.
    #[inline]
    pub fn update(&mut self, h: u64, inc: u64) -> u64 {
        // Unrolled for each depth a configuration can give (the loops are
        // the per-packet cost).
        match self.depth {
            1 => self.update_rows::<1>(h, inc),
            2 => self.update_rows::<2>(h, inc),
            3 => self.update_rows::<3>(h, inc),
            4 => self.update_rows::<4>(h, inc),
            5 => self.update_rows::<5>(h, inc),
            6 => self.update_rows::<6>(h, inc),
            7 => self.update_rows::<7>(h, inc),
            8 => self.update_rows::<8>(h, inc),
            9 => self.update_rows::<9>(h, inc),
            10 => self.update_rows::<10>(h, inc),
            _ => self.update_rows::<MAX_DEPTH>(h, inc),
        }
    }

    /// [`CountMin::update`] for `D` rows (rows beyond `depth` are skipped:
    /// only the last arm has more rows than the sketch).
    #[inline(always)]
    fn update_rows<const D: usize>(&mut self, h: u64, inc: u64) -> u64 {
        let d = D.min(self.depth as usize);
        let w = self.width as usize;
        let mut idx = [0u32; D];
        let mut min = u64::MAX;
        for (r, slot) in idx.iter_mut().enumerate().take(d) {
            let i = r * w + row_index(self.mults[r], h, w as u64);
            *slot = i as u32;
            min = min.min(self.cells[i]);
        }
        let est = min.saturating_add(inc);
        if self.conservative {
            // Branch-free: whether a counter must rise is data-dependent
            // and mispredicts half the time on real traffic.
            for &i in &idx[..d] {
                let c = &mut self.cells[i as usize];
                *c = (*c).max(est);
            }
        } else {
            for &i in &idx[..d] {
                let c = &mut self.cells[i as usize];
                *c = c.saturating_add(inc);
            }
        }
        self.log(&idx[..d]);
        est
    }

    #[inline]
    fn log(&mut self, idx: &[u32]) {
        let n = self.touched_len as usize;
        if n + idx.len() <= self.touched.len() {
            self.touched[n..n + idx.len()].copy_from_slice(idx);
            self.touched_len += idx.len() as u32;
        } else {
            self.touched_len = LOG_OVERFLOW;
        }
    }

    /// Asks the CPU to bring the cells of the key with hash `h` into the
    /// cache, so that an update a little later does not wait for memory.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        let w = self.width as usize;
        for r in 0..self.depth as usize {
            let i = r * w + row_index(self.mults[r], h, w as u64);
            prefetch(&self.cells[i]);
        }
    }

    /// The estimate of the key with hash `h`: never below its true count.
    #[inline]
    pub fn estimate(&self, h: u64) -> u64 {
        let (idx, d) = self.indexes(h);
        idx[..d]
            .iter()
            .map(|&i| self.cells[i as usize])
            .min()
            .unwrap_or(0)
    }

    /// True when `o` has the same width, depth and seed, so the two can merge.
    pub fn compatible(&self, o: &CountMin) -> bool {
        self.width == o.width && self.depth == o.depth && self.seed == o.seed
    }

    /// Adds `other` cell by cell (see the module docs for what that means
    /// under conservative update).
    pub fn merge(&mut self, other: &CountMin) -> Result<(), Incompatible> {
        if !self.compatible(other) {
            return Err(Incompatible);
        }
        for (a, b) in self.cells.iter_mut().zip(other.cells.iter()) {
            *a = a.saturating_add(*b);
        }
        self.touched_len = LOG_OVERFLOW;
        Ok(())
    }

    /// Adds this sketch into `acc` and empties it: in time proportional to
    /// the updates since the last reset when they were few.
    pub fn drain_into(&mut self, acc: &mut CountMin) -> Result<(), Incompatible> {
        if !self.compatible(acc) {
            return Err(Incompatible);
        }
        if self.touched_len == LOG_OVERFLOW {
            for (a, b) in acc.cells.iter_mut().zip(self.cells.iter_mut()) {
                *a = a.saturating_add(std::mem::take(b));
            }
            acc.touched_len = LOG_OVERFLOW;
        } else {
            for j in 0..self.touched_len as usize {
                let i = self.touched[j];
                // A cell logged twice is taken once: the second take is 0.
                let v = std::mem::take(&mut self.cells[i as usize]);
                if v != 0 {
                    let a = &mut acc.cells[i as usize];
                    *a = a.saturating_add(v);
                    acc.log(&[i]);
                }
            }
        }
        self.touched_len = 0;
        Ok(())
    }

    /// Zeroes every cell.
    pub fn reset(&mut self) {
        if self.touched_len == LOG_OVERFLOW {
            self.cells.fill(0);
        } else {
            for j in 0..self.touched_len as usize {
                self.cells[self.touched[j] as usize] = 0;
            }
        }
        self.touched_len = 0;
    }

    /// True when every cell is 0.
    pub fn is_zero(&self) -> bool {
        if self.touched_len == 0 {
            return true;
        }
        self.cells.iter().all(|&c| c == 0)
    }

    /// Sets cell `i` (decoding): marks the sketch as fully touched.
    pub(crate) fn set_cell(&mut self, i: usize, v: u64) {
        self.cells[i] = v;
        self.touched_len = LOG_OVERFLOW;
    }
}

/// Brings the cache line of `x` towards the core (a hint; no effect on
/// other targets).
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it reads nothing and cannot fault,
    // and `x` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch(x as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::key::mix64;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn sketch(conservative: bool) -> CountMin {
        CountMin::new(64, 4, 42, conservative)
    }

    fn h(k: u32) -> u64 {
        mix64(k as u64 ^ 0xabcdef)
    }

    #[test]
    fn dims_follow_the_formulas() {
        assert_eq!(dims(0.001, 0.99), (2719, 5));
        assert_eq!(dims(0.01, 0.9), (272, 3));
        assert_eq!(dims(0.5, 0.5), (6, 1));
        assert_eq!(dims(1e-3, 1.0).1, MAX_DEPTH as u32);
        let cm = CountMin::new(2719, 5, 1, true);
        assert!(cm.epsilon() <= 0.001);
        assert_eq!(cm.error_bound(1_000_000), 1000);
        assert_eq!(cm.error_bound(0), 0);
    }

    #[test]
    fn exact_without_collisions_and_conservative_is_tighter() {
        let mut plain = sketch(false);
        let mut cu = sketch(true);
        let mut truth = HashMap::new();
        for i in 0..5000u32 {
            // A skewed stream: key k appears about 5000/k times.
            let k = 1 + (mix64(i as u64) % 5000) as u32 / (1 + i % 50);
            *truth.entry(k).or_insert(0u64) += 1;
            plain.update(h(k), 1);
            cu.update(h(k), 1);
        }
        let (mut err_plain, mut err_cu) = (0, 0);
        for (&k, &t) in &truth {
            let (p, c) = (plain.estimate(h(k)), cu.estimate(h(k)));
            assert!(c >= t && p >= c, "key {k}: true {t}, cu {c}, plain {p}");
            err_plain += p - t;
            err_cu += c - t;
        }
        assert!(err_cu < err_plain, "cu {err_cu} plain {err_plain}");
    }

    #[test]
    fn reset_by_log_and_in_full() {
        for n in [3usize, 10_000] {
            let mut cm = sketch(true);
            for k in 0..n as u32 {
                cm.update(h(k), 7);
            }
            assert!(!cm.is_zero());
            cm.reset();
            assert!(cm.is_zero());
            assert!(cm.cells().iter().all(|&c| c == 0));
            cm.update(h(1), 1);
            assert_eq!(cm.estimate(h(1)), 1);
        }
    }

    /// The count-min guarantee, checked statistically: over many
    /// independent sketches (seeds) and skewed streams, the share of point
    /// queries whose estimate exceeds the truth by more than ε·N stays
    /// within δ (with slack for sampling noise), and none is ever below.
    #[test]
    fn error_within_epsilon_n_at_the_configured_confidence() {
        for conservative in [false, true] {
            let (epsilon, confidence) = (0.01, 0.9);
            let (w, d) = dims(epsilon, confidence);
            let (mut queries, mut over) = (0u64, 0u64);
            for trial in 0..200u64 {
                let mut cm = CountMin::new(w, d, mix64(trial), conservative);
                let mut truth: HashMap<u64, u64> = HashMap::new();
                let mut total = 0u64;
                for i in 0..20_000u64 {
                    let r = mix64(i ^ trial << 32);
                    // Zipf-like: a few heavy keys, a long tail.
                    let k = (r % 1000) / (1 + (r >> 40) % 20);
                    let inc = 1 + (r >> 20) % 1500;
                    *truth.entry(k).or_default() += inc;
                    total += inc;
                    cm.update(mix64(k ^ 0x5555), inc);
                }
                let bound = (epsilon * total as f64) as u64;
                for (&k, &t) in &truth {
                    let e = cm.estimate(mix64(k ^ 0x5555));
                    assert!(e >= t, "under-estimate: key {k} true {t} est {e}");
                    queries += 1;
                    if e - t > bound {
                        over += 1;
                    }
                }
            }
            let delta = 1.0 - confidence;
            let share = over as f64 / queries as f64;
            assert!(
                share <= delta,
                "conservative={conservative}: {over} of {queries} queries over ε·N ({share:.4} > δ {delta})"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_under_estimates(stream in proptest::collection::vec((0u32..200, 1u64..2000), 0..800),
                                 conservative in any::<bool>()) {
            let mut cm = CountMin::new(16, 3, 9, conservative);
            let mut truth: HashMap<u32, u64> = HashMap::new();
            for &(k, inc) in &stream {
                let est = cm.update(h(k), inc);
                let t = truth.entry(k).or_default();
                *t += inc;
                prop_assert!(est >= *t);
            }
            for (&k, &t) in &truth {
                prop_assert!(cm.estimate(h(k)) >= t);
            }
        }

        #[test]
        fn plain_merge_equals_the_union_and_conservative_merge_is_bounded(
            a in proptest::collection::vec((0u32..300, 1u64..100), 0..600),
            b in proptest::collection::vec((0u32..300, 1u64..100), 0..600),
        ) {
            let build = |conservative: bool, parts: &[&[(u32, u64)]]| {
                let mut cm = CountMin::new(32, 3, 5, conservative);
                for p in parts {
                    for &(k, inc) in p.iter() {
                        cm.update(h(k), inc);
                    }
                }
                cm
            };
            // Plain: merge == union, exactly.
            let mut m = build(false, &[&a]);
            m.merge(&build(false, &[&b])).unwrap();
            let union_plain = build(false, &[&a, &b]);
            prop_assert_eq!(&m, &union_plain);
            // Conservative: truth <= merged <= plain count-min on the union.
            let mut mc = build(true, &[&a]);
            mc.merge(&build(true, &[&b])).unwrap();
            let mut truth: HashMap<u32, u64> = HashMap::new();
            for &(k, inc) in a.iter().chain(b.iter()) {
                *truth.entry(k).or_default() += inc;
            }
            for (&k, &t) in &truth {
                let e = mc.estimate(h(k));
                prop_assert!(t <= e && e <= union_plain.estimate(h(k)));
            }
            // Drained == merged, and the drained sketch is empty after.
            let mut acc = build(true, &[&a]);
            let mut src = build(true, &[&b]);
            src.drain_into(&mut acc).unwrap();
            prop_assert_eq!(&acc, &mc);
            prop_assert!(src.is_zero());
            prop_assert!(src.cells().iter().all(|&c| c == 0));
        }

        #[test]
        fn merge_is_associative_and_commutative(
            parts in proptest::collection::vec(proptest::collection::vec((0u32..100, 1u64..50), 0..100), 3),
        ) {
            let s: Vec<CountMin> = parts
                .iter()
                .map(|p| {
                    let mut cm = CountMin::new(16, 2, 3, true);
                    for &(k, inc) in p {
                        cm.update(h(k), inc);
                    }
                    cm
                })
                .collect();
            let mut ab_c = s[0].clone();
            ab_c.merge(&s[1]).unwrap();
            ab_c.merge(&s[2]).unwrap();
            let mut bc = s[1].clone();
            bc.merge(&s[2]).unwrap();
            let mut a_bc = s[0].clone();
            a_bc.merge(&bc).unwrap();
            prop_assert_eq!(&ab_c, &a_bc);
            let mut c_b_a = s[2].clone();
            c_b_a.merge(&s[1]).unwrap();
            c_b_a.merge(&s[0]).unwrap();
            prop_assert_eq!(&ab_c, &c_b_a);
        }
    }

    #[test]
    fn incompatible_sketches_do_not_merge() {
        let mut a = CountMin::new(16, 2, 1, true);
        assert_eq!(a.merge(&CountMin::new(17, 2, 1, true)), Err(Incompatible));
        assert_eq!(a.merge(&CountMin::new(16, 3, 1, true)), Err(Incompatible));
        assert_eq!(a.merge(&CountMin::new(16, 2, 2, true)), Err(Incompatible));
        let mut b = CountMin::new(16, 2, 2, true);
        assert_eq!(b.drain_into(&mut a), Err(Incompatible));
    }
}
