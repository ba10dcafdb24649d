//! Packet time that one wild timestamp cannot move.
//!
//! A damaged capture record, a corrupted pcapng block or a device with a
//! broken clock can carry a timestamp centuries away from its neighbours.
//! Taken at face value it would open an epoch (and a date partition) in
//! another century and stretch every per-interval computation across the
//! gap. [`TimeGuard`] judges each timestamp against the **reference**, the
//! latest good time, and says what the worker does with the packet
//! ([`Verdict`]):
//!
//! - the first timestamp anchors the reference;
//! - a timestamp within `max_jump_ns` of the reference, before or after it,
//!   is [`Verdict::Good`] (the reference moves forward to it; packets
//!   slightly out of order are fine);
//! - one further behind is [`Verdict::Bad`]: the worker counts it
//!   (`bad_timestamp`) and accounts the packet at the latest good time. A
//!   step backward is never accepted: time never goes back within a worker;
//! - one further ahead is [`Verdict::Ahead`]: perhaps a wild timestamp,
//!   perhaps the first of a clock step (a capture merged from several days,
//!   a clock set by NTP). The worker holds the packet until the guard
//!   decides. When [`STEP_CONFIRM`] ahead timestamps in a row agree (each
//!   within the bound of the run's latest), the last is
//!   [`Verdict::Step`]: the step is accepted and every packet of the run is
//!   good, at its own time. A good timestamp, or an ahead one that
//!   disagrees with the run, ends the run: its packets were wild, they are
//!   bad. Bad timestamps in between do not end a run;
//! - timestamps after `ceiling_ns` are always bad and never anchor or step
//!   (replay sets it to the wall clock plus the bound: a capture cannot come
//!   from the future);
//! - where a new capture starts (the next file of a replay,
//!   [`crate::source::FrameSource::time_restarts`]), its first timestamp
//!   may step forward at once ([`TimeGuard::allow_step`]).
//!
//! So a single wild timestamp, or a few scattered ones, never moves time,
//! a run of fewer than [`STEP_CONFIRM`] packets far ahead counts as bad, and
//! a step forward that persists costs nothing. A capture's first timestamp
//! is trusted unless it is past the ceiling: one far behind its followers
//! keeps its own (old) date and the step forward is accepted as any other.
//!
//! Clock-free and allocation-free: a few comparisons per packet.

/// Ahead timestamps in a row, agreeing with one another, that make a
/// clock step forward accepted.
pub const STEP_CONFIRM: u32 = 16;

/// Default bound on a timestamp's distance from the reference: one day.
pub const DEFAULT_MAX_JUMP_NS: u64 = 86_400 * 1_000_000_000;

/// What to do with a packet, by its timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Near the reference: the packet is accounted at its own time.
    Good,
    /// Too far behind, or past the ceiling: count it, and account the
    /// packet at the latest good time.
    Bad,
    /// Far ahead: hold the packet until the guard decides (a later
    /// [`Verdict::Step`] makes it good, a later [`Verdict::Good`] or a new
    /// run ([`TimeGuard::pending`] back to 1) makes it bad).
    Ahead,
    /// The run of ahead timestamps is a clock step: the held packets and
    /// this one are good, at their own times.
    Step,
}

/// [`TimeGuard`] settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeGuardConfig {
    /// Largest distance (either way) between a good timestamp and the
    /// reference, ns.
    pub max_jump_ns: u64,
    /// Timestamps after this (Unix ns) are always bad; `u64::MAX`: none.
    pub ceiling_ns: u64,
}

impl Default for TimeGuardConfig {
    fn default() -> Self {
        TimeGuardConfig {
            max_jump_ns: DEFAULT_MAX_JUMP_NS,
            ceiling_ns: u64::MAX,
        }
    }
}

impl TimeGuardConfig {
    /// The ceiling for a capture file read now: `wall_clock_ns` (the
    /// wall clock at the start of a replay) plus the bound.
    pub fn with_ceiling_from(self, wall_clock_ns: u64) -> TimeGuardConfig {
        TimeGuardConfig {
            ceiling_ns: wall_clock_ns.saturating_add(self.max_jump_ns),
            ..self
        }
    }
}

/// Decides which timestamps may move time; see the module docs.
#[derive(Clone, Debug)]
pub struct TimeGuard {
    cfg: TimeGuardConfig,
    /// Whether `reference` holds a time yet.
    anchored: bool,
    /// The latest good time (Unix ns).
    reference: u64,
    /// Latest timestamp of the current run of far-ahead timestamps.
    candidate: u64,
    /// Length of that run (0: none).
    run: u32,
    /// The next timestamp may step forward at once (a new capture).
    step_allowed: bool,
}

impl TimeGuard {
    /// A guard with no reference yet.
    pub fn new(cfg: TimeGuardConfig) -> TimeGuard {
        TimeGuard {
            cfg,
            anchored: false,
            reference: 0,
            candidate: 0,
            run: 0,
            step_allowed: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> TimeGuardConfig {
        self.cfg
    }

    /// The latest good time (0 before the first).
    pub fn reference(&self) -> u64 {
        self.reference
    }

    /// Whether a good time was seen yet.
    pub fn anchored(&self) -> bool {
        self.anchored
    }

    /// Ahead timestamps in the current run (0: none).
    pub fn pending(&self) -> u32 {
        self.run
    }

    /// Whether `ts_ns` is within the bound of the reference.
    pub fn near(&self, ts_ns: u64) -> bool {
        self.anchored && ts_ns.abs_diff(self.reference) <= self.cfg.max_jump_ns
    }

    /// Forgets the current run (its packets were accounted as bad).
    pub fn end_run(&mut self) {
        self.run = 0;
    }

    /// Judges one packet's timestamp; see [`Verdict`].
    #[inline]
    pub fn check(&mut self, ts_ns: u64) -> Verdict {
        let max = self.cfg.max_jump_ns;
        if ts_ns > self.cfg.ceiling_ns {
            return Verdict::Bad;
        }
        if !self.anchored {
            self.anchored = true;
            self.reference = ts_ns;
            return Verdict::Good;
        }
        if self.step_allowed {
            self.step_allowed = false;
            if ts_ns > self.reference {
                self.reference = ts_ns;
                self.run = 0;
                return Verdict::Good;
            }
        }
        if ts_ns.abs_diff(self.reference) <= max {
            self.reference = self.reference.max(ts_ns);
            self.run = 0;
            return Verdict::Good;
        }
        if ts_ns < self.reference {
            // Far behind: never a step (time does not go back).
            return Verdict::Bad;
        }
        if self.run > 0 && ts_ns.abs_diff(self.candidate) <= max {
            self.run += 1;
            self.candidate = self.candidate.max(ts_ns);
        } else {
            self.run = 1;
            self.candidate = ts_ns;
        }
        if self.run >= STEP_CONFIRM {
            // A clock step that persisted: accept it.
            self.reference = self.candidate;
            self.run = 0;
            return Verdict::Step;
        }
        Verdict::Ahead
    }

    /// A new capture starts: its first timestamp may step forward at once,
    /// however far (below the ceiling). A first timestamp behind the
    /// reference is judged as usual.
    pub fn allow_step(&mut self) {
        self.step_allowed = true;
    }

    /// Moves the reference forward to a time the source vouches for (an
    /// idle poll's clock when live, the replay dispatcher's guarded time).
    /// Times after the ceiling, and 0 (no time yet), are ignored.
    pub fn advance(&mut self, now_ns: u64) {
        if now_ns == 0 || now_ns > self.cfg.ceiling_ns {
            return;
        }
        if !self.anchored || now_ns > self.reference {
            self.anchored = true;
            self.reference = now_ns;
            self.run = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::{Ahead, Bad, Good, Step};
    use super::*;

    const S: u64 = 1_000_000_000;
    const DAY: u64 = 86_400 * S;
    /// 2022-05-29 13:23:34 UTC.
    const T0: u64 = 1_653_830_614 * S;

    fn guard() -> TimeGuard {
        TimeGuard::new(TimeGuardConfig::default())
    }

    #[test]
    fn first_timestamp_anchors_and_neighbours_are_good() {
        let mut g = guard();
        assert!(!g.anchored());
        assert_eq!(g.check(T0), Good);
        assert_eq!(g.reference(), T0);
        assert_eq!(g.check(T0 + 5 * S), Good);
        assert_eq!(g.check(T0 + 3 * S), Good, "slightly out of order is fine");
        assert_eq!(g.reference(), T0 + 5 * S, "the reference never goes back");
        assert_eq!(g.check(T0 + 5 * S + DAY), Good, "exactly the bound is good");
        assert!(g.near(T0 + 5 * S) && !g.near(T0 - 2 * DAY));
    }

    #[test]
    fn single_wild_timestamps_either_way_do_not_move_time() {
        let mut g = guard();
        assert_eq!(g.check(T0), Good);
        assert_eq!(g.check(u64::MAX - 5), Ahead, "year 2554");
        assert_eq!(g.pending(), 1);
        assert_eq!(g.check(T0 + S), Good, "a good neighbour ends the run");
        assert_eq!(g.pending(), 0);
        assert_eq!(g.check(S), Bad, "1970");
        assert_eq!(g.check(0), Bad);
        assert_eq!(g.check(T0 + 2 * S), Good);
        assert_eq!(g.check(T0 + 2 * S + DAY + S), Ahead, "just past the bound");
        assert_eq!(g.reference(), T0 + 2 * S);
    }

    #[test]
    fn a_persisting_forward_step_is_accepted_after_the_confirmation_run() {
        let mut g = guard();
        assert_eq!(g.check(T0), Good);
        let step = T0 + 400 * DAY;
        for i in 0..STEP_CONFIRM - 1 {
            assert_eq!(
                g.check(step + u64::from(i) * S),
                Ahead,
                "packet {i} of the run"
            );
            assert_eq!(g.pending(), i + 1);
            assert_eq!(g.reference(), T0);
            // Bad timestamps in between do not end the run.
            assert_eq!(g.check(S), Bad);
        }
        assert_eq!(g.check(step + u64::from(STEP_CONFIRM - 1) * S), Step);
        assert_eq!(g.pending(), 0);
        assert_eq!(g.reference(), step + u64::from(STEP_CONFIRM - 1) * S);
        assert_eq!(g.check(step + 100 * S), Good);
        assert_eq!(g.check(T0), Bad, "the old time is now far behind");
    }

    #[test]
    fn a_good_timestamp_or_a_disagreeing_one_restarts_the_run() {
        let mut g = guard();
        assert_eq!(g.check(T0), Good);
        let step = T0 + 10 * DAY;
        for _ in 0..STEP_CONFIRM - 1 {
            assert_eq!(g.check(step), Ahead);
        }
        assert_eq!(g.check(T0 + S), Good, "a good neighbour breaks the run");
        for _ in 0..STEP_CONFIRM - 1 {
            assert_eq!(g.check(step), Ahead);
        }
        // Far ahead but far from the run too: a new run of one.
        assert_eq!(g.check(step + 5 * DAY), Ahead);
        assert_eq!(g.pending(), 1);
        g.end_run();
        assert_eq!(g.pending(), 0);
        for _ in 0..STEP_CONFIRM - 1 {
            assert_eq!(g.check(step), Ahead);
        }
        assert_eq!(g.reference(), T0 + S);
        g.end_run();
        // Scattered wild timestamps never agree: time never moves.
        for i in 0..10 * u64::from(STEP_CONFIRM) {
            assert_eq!(g.check(T0 + (i + 2) * 3 * DAY), Ahead);
            assert_eq!(g.pending(), 1);
        }
        assert_eq!(g.reference(), T0 + S);
    }

    #[test]
    fn a_backward_step_is_never_accepted() {
        let mut g = guard();
        assert_eq!(g.check(T0), Good);
        for i in 0..10 * u64::from(STEP_CONFIRM) {
            assert_eq!(g.check(T0 - 30 * DAY + i * S), Bad);
        }
        assert_eq!(g.reference(), T0);
    }

    #[test]
    fn the_ceiling_rejects_the_future_even_as_first_timestamp_or_run() {
        let cfg = TimeGuardConfig::default().with_ceiling_from(T0 + 100 * DAY);
        assert_eq!(cfg.ceiling_ns, T0 + 101 * DAY);
        let mut g = TimeGuard::new(cfg);
        assert_eq!(g.check(u64::MAX - 5), Bad);
        assert!(!g.anchored(), "a future timestamp does not anchor");
        assert_eq!(g.check(T0), Good);
        for _ in 0..3 * STEP_CONFIRM {
            assert_eq!(g.check(T0 + 200 * DAY), Bad);
        }
        assert_eq!(g.reference(), T0);
        // A step forward below the ceiling is accepted.
        for _ in 0..STEP_CONFIRM - 1 {
            assert_eq!(g.check(T0 + 50 * DAY), Ahead);
        }
        assert_eq!(g.check(T0 + 50 * DAY), Step);
        // The ceiling saturates.
        let far = TimeGuardConfig::default().with_ceiling_from(u64::MAX - 1);
        assert_eq!(far.ceiling_ns, u64::MAX);
    }

    #[test]
    fn advance_trusts_the_source_clock_forward_only() {
        let mut g = guard();
        g.advance(0);
        assert!(!g.anchored(), "0 is no time");
        g.advance(T0);
        assert!(g.anchored());
        assert_eq!(g.check(T0 + 3 * DAY), Ahead);
        g.advance(T0 + 3 * DAY);
        assert_eq!(g.reference(), T0 + 3 * DAY);
        assert_eq!(g.pending(), 0, "the clock settled the run");
        assert_eq!(g.check(T0 + 3 * DAY + S), Good);
        g.advance(T0);
        assert_eq!(g.reference(), T0 + 3 * DAY + S, "never back");
        let mut c = TimeGuard::new(TimeGuardConfig::default().with_ceiling_from(T0));
        c.advance(T0 + 2 * DAY);
        assert!(!c.anchored(), "past the ceiling");
    }

    #[test]
    fn a_new_capture_may_step_forward_at_once_but_not_back() {
        let mut g = TimeGuard::new(TimeGuardConfig::default().with_ceiling_from(T0 + 1000 * DAY));
        assert_eq!(g.check(T0), Good);
        g.allow_step();
        assert_eq!(
            g.check(T0 + 300 * DAY),
            Good,
            "the next file starts months later"
        );
        assert_eq!(g.check(T0 + 300 * DAY + S), Good);
        assert_eq!(g.check(u64::MAX - 5), Bad, "one step only");
        g.allow_step();
        assert_eq!(
            g.check(T0),
            Bad,
            "the next file is older: its packets are bad"
        );
        assert_eq!(g.check(T0 + 600 * DAY), Ahead, "the allowance was used");
        g.end_run();
        g.allow_step();
        assert_eq!(g.check(T0 + 2000 * DAY), Bad, "never past the ceiling");
        assert_eq!(
            g.check(T0 + 600 * DAY),
            Good,
            "the allowance waited for a usable time"
        );
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut g = TimeGuard::new(TimeGuardConfig {
            max_jump_ns: u64::MAX,
            ceiling_ns: u64::MAX,
        });
        assert_eq!(g.check(0), Good);
        assert_eq!(g.check(u64::MAX), Good);
        assert_eq!(g.check(0), Good);
        let mut h = guard();
        assert_eq!(h.check(u64::MAX), Good);
        for _ in 0..STEP_CONFIRM {
            assert_eq!(h.check(0), Bad, "far behind: never a step");
        }
        assert_eq!(h.check(u64::MAX - 1), Good);
    }
}
