//! The transmit-time budget of ARIB STD-T108 (920 MHz band, 20 mW class): carrier sense
//! before sending, at most 400 ms on the air per burst, a pause after each burst, and at
//! most 360 s on the air in any hour. Every frame a node's MAC sends is checked here
//! first and recorded after; a frame the budget refuses is not sent, and the refusal is
//! counted (CON-01..04 ground: a terminal that scans too eagerly must not break the rules).
//!
//! The hour is a sliding window (the rule is "per any one hour", so the sum over the last
//! 3600 s, not over clock hours). Sans-IO: the caller passes `now` (time since an epoch of
//! its choice, monotonic).

use core::time::Duration;
use std::collections::VecDeque;

/// The rules, configurable (defaults: ARIB STD-T108 as summarised in
/// `../shared/spec/wisun-han.md` §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxBudgetConfig {
    /// Longest single burst on the air.
    pub max_burst: Duration,
    /// Most air time within any `window`.
    pub max_per_window: Duration,
    /// The sliding window.
    pub window: Duration,
    /// Silence required after a burst before the next one.
    pub min_pause: Duration,
    /// How long the channel must be sensed idle before sending.
    pub carrier_sense: Duration,
}

impl Default for TxBudgetConfig {
    fn default() -> Self {
        Self {
            max_burst: Duration::from_millis(400),
            max_per_window: Duration::from_secs(360),
            window: Duration::from_secs(3600),
            min_pause: Duration::from_millis(2),
            carrier_sense: Duration::from_micros(128),
        }
    }
}

/// Why a burst may not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The burst alone is longer than the rules allow: it never may.
    #[error("burst of {air:?} exceeds the {max:?} limit")]
    BurstTooLong {
        /// Its air time.
        air: Duration,
        /// The limit.
        max: Duration,
    },
    /// Too soon after the previous burst, or the hourly allowance is spent: it may go at
    /// `at`.
    #[error("transmit budget: not before {at:?}")]
    NotYet {
        /// The earliest time the burst fits.
        at: Duration,
    },
}

/// What the budget counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Bursts sent.
    pub bursts: u64,
    /// Total air time sent.
    pub air: Duration,
    /// Bursts refused as too long.
    pub refused_too_long: u64,
    /// Bursts deferred (pause or hourly allowance).
    pub deferred: u64,
}

/// One sender's budget.
#[derive(Debug, Clone)]
pub struct TxBudget {
    config: TxBudgetConfig,
    /// The bursts within the window, oldest first.
    history: VecDeque<Burst>,
    /// Sum of the air times in `history`.
    in_window: Duration,
    /// When the last burst ended.
    last_end: Option<Duration>,
    stats: BudgetStats,
}

impl TxBudget {
    /// An unused budget.
    #[must_use]
    pub const fn new(config: TxBudgetConfig) -> Self {
        Self {
            config,
            history: VecDeque::new(),
            in_window: Duration::ZERO,
            last_end: None,
            stats: BudgetStats {
                bursts: 0,
                air: Duration::ZERO,
                refused_too_long: 0,
                deferred: 0,
            },
        }
    }

    /// The rules.
    #[must_use]
    pub const fn config(&self) -> &TxBudgetConfig {
        &self.config
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> BudgetStats {
        self.stats
    }

    /// Air time used in the window ending at `now`.
    pub fn used(&mut self, now: Duration) -> Duration {
        self.forget_before(now);
        self.in_window
    }

    /// Whether a burst of `air` may start at `now` (after carrier sense); counts a
    /// refusal. Call [`TxBudget::record`] when it is actually sent.
    ///
    /// # Errors
    /// [`BudgetError`].
    pub fn check(&mut self, now: Duration, air: Duration) -> Result<(), BudgetError> {
        if air > self.config.max_burst {
            self.stats.refused_too_long += 1;
            return Err(BudgetError::BurstTooLong {
                air,
                max: self.config.max_burst,
            });
        }
        let at = self.earliest(now, air);
        if at > now {
            self.stats.deferred += 1;
            return Err(BudgetError::NotYet { at });
        }
        Ok(())
    }

    /// The earliest time at or after `now` a burst of `air` fits (pause and window).
    pub fn earliest(&mut self, now: Duration, air: Duration) -> Duration {
        self.forget_before(now);
        let mut at = now;
        if let Some(end) = self.last_end {
            at = at.max(end + self.config.min_pause);
        }
        // Walk the window forward until enough old air time has slid out of it.
        let mut in_window = self.in_window;
        for b in &self.history {
            if in_window + air <= self.config.max_per_window {
                break;
            }
            in_window = in_window.saturating_sub(b.air());
            at = at.max(b.start() + self.config.window);
        }
        at
    }

    /// A burst of `air` went out at `now`.
    pub fn record(&mut self, now: Duration, air: Duration) {
        self.forget_before(now);
        self.history.push_back(Burst::new(now, air));
        self.in_window += air;
        self.last_end = Some(now + air);
        self.stats.bursts += 1;
        self.stats.air += air;
    }

    fn forget_before(&mut self, now: Duration) {
        while let Some(b) = self.history.front() {
            if b.start() + self.config.window > now {
                break;
            }
            self.in_window = self.in_window.saturating_sub(b.air());
            self.history.pop_front();
        }
        // A busy hour (the joins, a backfill) leaves room a quiet one never fills again:
        // given back, so that each node of a large network holds what its last hour
        // needs, not what its busiest did.
        let len = self.history.len();
        if self.history.capacity() > 4 * len.max(8) {
            self.history.shrink_to(2 * len.max(8));
        }
    }
}

/// A burst in the window: its start and air time in nanoseconds, 16 bytes where two
/// `Duration`s took 32 (every node of a large run keeps an hour of these).
#[derive(Debug, Clone, Copy)]
struct Burst {
    start_ns: u64,
    air_ns: u64,
}

impl Burst {
    /// Saturating at 584 years after the caller's epoch.
    fn new(start: Duration, air: Duration) -> Self {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            start_ns: ns(start),
            air_ns: ns(air),
        }
    }

    const fn start(&self) -> Duration {
        Duration::from_nanos(self.start_ns)
    }

    const fn air(&self) -> Duration {
        Duration::from_nanos(self.air_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_busy_hour_gives_its_room_back_once_it_is_over() {
        let mut b = TxBudget::new(TxBudgetConfig::default());
        for i in 0..500 {
            b.record(S * i, MS);
        }
        assert!(b.history.capacity() >= 500);
        b.record(S * 500 + Duration::from_secs(3600), MS);
        assert_eq!(b.history.len(), 1);
        assert!(b.history.capacity() <= 32, "{}", b.history.capacity());
        assert_eq!(b.used(S * 501 + Duration::from_secs(3600)), MS);
    }

    #[test]
    fn con01_a_burst_longer_than_400_ms_is_refused_outright() {
        let mut b = TxBudget::new(TxBudgetConfig::default());
        assert!(b.check(Duration::ZERO, 400 * MS).is_ok());
        assert_eq!(
            b.check(Duration::ZERO, 401 * MS),
            Err(BudgetError::BurstTooLong {
                air: 401 * MS,
                max: 400 * MS
            })
        );
        assert_eq!(b.stats().refused_too_long, 1);
    }

    #[test]
    fn con01_the_next_burst_waits_for_the_pause() {
        let mut b = TxBudget::new(TxBudgetConfig::default());
        b.record(Duration::ZERO, 10 * MS);
        assert_eq!(
            b.check(11 * MS, MS),
            Err(BudgetError::NotYet { at: 12 * MS })
        );
        assert!(b.check(12 * MS, MS).is_ok());
    }

    #[test]
    fn con01_no_more_than_360_s_in_any_hour_sliding() {
        let mut b = TxBudget::new(TxBudgetConfig::default());
        // 900 bursts of 400 ms, one every 2 s: 360 s of air in the first 1800 s.
        for i in 0..900u32 {
            let t = 2 * S * i;
            assert!(b.check(t, 400 * MS).is_ok(), "burst {i}");
            b.record(t, 400 * MS);
        }
        let now = 1800 * S;
        assert_eq!(b.used(now), 360 * S);
        // Spent: the next burst waits until the first one leaves the window.
        assert_eq!(
            b.check(now, 100 * MS),
            Err(BudgetError::NotYet { at: 3600 * S })
        );
        assert!(b.check(3600 * S, 100 * MS).is_ok());
        assert_eq!(b.used(3600 * S), 360 * S - 400 * MS);
        assert_eq!(b.stats().bursts, 900);
        assert_eq!(b.stats().deferred, 1);
    }

    #[test]
    fn con01_earliest_skips_as_many_old_bursts_as_the_new_one_needs() {
        let c = TxBudgetConfig {
            max_per_window: S,
            window: 10 * S,
            ..TxBudgetConfig::default()
        };
        let mut b = TxBudget::new(c);
        b.record(Duration::ZERO, 300 * MS);
        b.record(S, 300 * MS);
        b.record(2 * S, 300 * MS);
        // 900 ms used of 1 s: 250 ms more needs the first burst gone (at 10 s), 500 ms
        // more the first two (at 11 s).
        assert_eq!(b.earliest(3 * S, 250 * MS), 10 * S);
        assert_eq!(b.earliest(3 * S, 500 * MS), 11 * S);
        assert_eq!(b.earliest(3 * S, 100 * MS), 3 * S);
    }
}
