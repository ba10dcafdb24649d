//! The aggregation every section shares: time buckets and per-key totals
//! kept in bounded memory.

use std::collections::HashMap;

/// Most buckets on a chart's time axis.
pub(crate) const MAX_BUCKETS: usize = 240;

/// Bucket widths the axis may use, seconds: round values people read.
const WIDTHS_S: &[i64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200,
    86_400, 172_800, 604_800, 1_209_600, 2_592_000, 7_776_000, 31_536_000,
];

/// Equal time buckets over a range: `n` buckets of `width_us` from
/// `start_us` (a multiple of the width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Buckets {
    pub(crate) start_us: i64,
    pub(crate) width_us: i64,
    pub(crate) n: usize,
}

impl Buckets {
    /// The narrowest round width, at least `min_width_s`, that covers
    /// `[first_us, last_us]` in at most [`MAX_BUCKETS`] buckets.
    pub(crate) fn choose(first_us: i64, last_us: i64, min_width_s: i64) -> Buckets {
        let last_us = last_us.max(first_us);
        let span_s = (last_us - first_us) / 1_000_000 + 1;
        let width_s = WIDTHS_S
            .iter()
            .copied()
            .find(|&w| w >= min_width_s && span_s / w < MAX_BUCKETS as i64 - 1)
            .unwrap_or_else(|| {
                // Beyond a year a bucket: whole years.
                (span_s / (MAX_BUCKETS as i64 - 2) / 31_536_000 + 1) * 31_536_000
            });
        let width_us = width_s * 1_000_000;
        let start_us = first_us.div_euclid(width_us) * width_us;
        let n = ((last_us - start_us) / width_us + 1) as usize;
        Buckets {
            start_us,
            width_us,
            n,
        }
    }

    /// The bucket of a time, if inside.
    pub(crate) fn index(&self, t_us: i64) -> Option<usize> {
        if t_us < self.start_us {
            return None;
        }
        let i = ((t_us - self.start_us) / self.width_us) as usize;
        (i < self.n).then_some(i)
    }

    /// Start of bucket `i`, Unix seconds.
    pub(crate) fn x(&self, i: usize) -> f64 {
        (self.start_us + i as i64 * self.width_us) as f64 / 1e6
    }

    /// End of the last bucket, Unix seconds.
    pub(crate) fn end_x(&self) -> f64 {
        self.x(self.n)
    }

    /// Width of a bucket, seconds.
    pub(crate) fn width_s(&self) -> f64 {
        self.width_us as f64 / 1e6
    }
}

/// The range of data times seen, and the longest interval a row covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) first_us: Option<i64>,
    pub(crate) last_us: Option<i64>,
    /// Longest `end - start` of a row, µs.
    pub(crate) longest_us: i64,
}

impl Span {
    /// Adds a row covering `[start, end]` (either may be missing).
    pub(crate) fn add(&mut self, start_us: Option<i64>, end_us: Option<i64>) {
        let (Some(s), Some(e)) = (start_us.or(end_us), end_us.or(start_us)) else {
            return;
        };
        self.first_us = Some(self.first_us.map_or(s, |f| f.min(s)));
        self.last_us = Some(self.last_us.map_or(e, |l| l.max(e)));
        self.longest_us = self.longest_us.max(e - s);
    }

    /// Buckets over the span, no narrower than its longest row (nor
    /// `min_width_s`); None when nothing was seen.
    pub(crate) fn buckets(&self, min_width_s: i64) -> Option<Buckets> {
        let min = min_width_s.max((self.longest_us + 999_999) / 1_000_000);
        // A row's end is exclusive: the last bucket holds the last start.
        let last = self.last_us?.saturating_sub(1).max(self.first_us?);
        Some(Buckets::choose(self.first_us?, last, min))
    }
}

/// Values per key with at most `cap` keys: past it the keys with the
/// smallest scores are dropped (down to half the cap) and the totals are
/// marked approximate. Memory stays bounded whatever the number of
/// distinct keys (devices, heavy-hitter keys, scanners) in the tables.
#[derive(Clone, Debug)]
pub(crate) struct Bounded<V> {
    map: HashMap<String, V>,
    cap: usize,
    score: fn(&V) -> f64,
    pub(crate) pruned: bool,
}

impl<V: Default> Bounded<V> {
    pub(crate) fn new(cap: usize, score: fn(&V) -> f64) -> Bounded<V> {
        Bounded {
            map: HashMap::new(),
            cap: cap.max(2),
            score,
            pruned: false,
        }
    }

    /// The value of `key`, inserted as default when new.
    pub(crate) fn entry(&mut self, key: &str) -> &mut V {
        if !self.map.contains_key(key) {
            if self.map.len() >= self.cap {
                self.prune();
            }
            self.map.insert(key.to_string(), V::default());
        }
        self.map.get_mut(key).expect("inserted above")
    }

    fn prune(&mut self) {
        let mut scores: Vec<f64> = self.map.values().map(self.score).collect();
        let keep = self.cap / 2;
        scores.sort_by(|a, b| b.total_cmp(a));
        let cut = scores[keep.min(scores.len() - 1)];
        let score = self.score;
        let mut kept = 0;
        self.map.retain(|_, v| {
            let s = score(v);
            let k = s > cut || (s == cut && kept < keep);
            kept += usize::from(k);
            k
        });
        self.pruned = true;
    }

    /// Keys by score, largest first (ties by key).
    pub(crate) fn ranked(&self) -> Vec<(&str, &V)> {
        let mut v: Vec<(&str, &V)> = self.map.iter().map(|(k, v)| (k.as_str(), v)).collect();
        v.sort_by(|a, b| {
            (self.score)(b.1)
                .total_cmp(&(self.score)(a.1))
                .then(a.0.cmp(b.0))
        });
        v
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Which of the `top` keys a key is (its series), else the last ("other").
pub(crate) fn series_of(top: &[String], key: &str) -> usize {
    top.iter().position(|k| k == key).unwrap_or(top.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round_and_bounded() {
        let s = 1_714_521_600_000_000i64;
        let b = Buckets::choose(s + 3_000_000, s + 600_000_000, 1);
        assert_eq!(b.width_us, 5_000_000);
        assert_eq!(b.start_us, s);
        assert!(b.n <= MAX_BUCKETS);
        assert_eq!(b.index(s + 600_000_000), Some(b.n - 1));
        assert_eq!(b.index(s - 1), None);
        assert_eq!(b.index(b.start_us + b.n as i64 * b.width_us), None);
        // A minimum width wins over a finer fit.
        assert_eq!(Buckets::choose(s, s + 10_000_000, 5).width_us, 5_000_000);
        assert_eq!(Buckets::choose(s, s, 1).n, 1);
        // Years apart: still at most MAX_BUCKETS.
        for span_days in [1, 30, 400, 4_000, 40_000] {
            let b = Buckets::choose(s, s + span_days * 86_400_000_000, 1);
            assert!(b.n <= MAX_BUCKETS, "{span_days}: {b:?}");
            assert!(b.index(s + span_days * 86_400_000_000).is_some());
        }
    }

    #[test]
    fn span_buckets_cover_rows_and_are_as_wide_as_one() {
        let mut sp = Span::default();
        assert_eq!(sp.buckets(1), None);
        sp.add(Some(0), Some(5_000_000));
        sp.add(Some(50_000_000), Some(55_000_000));
        sp.add(None, None);
        let b = sp.buckets(1).unwrap();
        assert_eq!(b.width_us, 5_000_000);
        assert_eq!((b.index(0), b.index(50_000_000)), (Some(0), Some(10)));
        assert_eq!(b.n, 11);
    }

    #[test]
    fn bounded_keeps_the_largest_keys() {
        let mut b: Bounded<f64> = Bounded::new(100, |v| *v);
        for i in 0..10_000u32 {
            // Keys 0..10 are heavy and come back all the time.
            *b.entry(&format!("k{}", i % 10)) += 1_000.0;
            *b.entry(&format!("light{i}")) += 1.0;
            assert!(b.len() <= 100);
        }
        assert!(b.pruned);
        let top: Vec<&str> = b.ranked().iter().take(10).map(|(k, _)| *k).collect();
        for i in 0..10 {
            assert!(top.contains(&format!("k{i}").as_str()), "{top:?}");
        }
        assert_eq!(*b.ranked()[0].1, 1_000_000.0);
        let mut small: Bounded<f64> = Bounded::new(100, |v| *v);
        *small.entry("a") += 2.0;
        *small.entry("b") += 3.0;
        assert!(!small.pruned);
        assert_eq!(small.ranked()[0].0, "b");
        assert_eq!(series_of(&["b".into()], "a"), 1);
    }
}
