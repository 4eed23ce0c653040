//! A budget for per-datagram log entries, so that a flood of hostile datagrams is counted
//! in full but cannot flood the log (and the disk) in turn.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// Allows `per_window` entries per `window` of the node's clock; what is held back is
/// counted and reported with the next entry allowed.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    window: Duration,
    per_window: u32,
    window_start: Option<DateTime<Utc>>,
    used: u32,
    suppressed: u64,
    /// Where [`LogLimiter::allow_monotonic`] counts from.
    epoch: Option<Instant>,
}

impl LogLimiter {
    pub fn new(window: Duration, per_window: u32) -> LogLimiter {
        LogLimiter {
            window,
            per_window,
            window_start: None,
            used: 0,
            suppressed: 0,
            epoch: None,
        }
    }

    /// [`LogLimiter::allow`] on the monotonic clock, for callers that have no wall
    /// clock or whose wall clock runs scaled (`--speed`): the budget is about real time.
    /// Time counts from the first call.
    pub fn allow_monotonic(&mut self, now: Instant) -> Option<u64> {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed =
            Duration::from_std(now.saturating_duration_since(epoch)).unwrap_or(Duration::MAX);
        self.allow(DateTime::<Utc>::UNIX_EPOCH + elapsed)
    }

    /// Whether an entry may be written at `now`; when it may, also returns how many were
    /// held back since the last entry written.
    pub fn allow(&mut self, now: DateTime<Utc>) -> Option<u64> {
        let start = *self.window_start.get_or_insert(now);
        if now - start >= self.window || now < start {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.per_window {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

impl Default for LogLimiter {
    /// 20 entries a minute.
    fn default() -> LogLimiter {
        LogLimiter::new(Duration::minutes(1), 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn budget_refills_each_window_and_reports_what_was_held_back() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut l = LogLimiter::new(Duration::seconds(10), 2);
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0), None);
        assert_eq!(l.allow(t0 + Duration::seconds(5)), None);
        assert_eq!(l.allow(t0 + Duration::seconds(10)), Some(2));
    }

    #[test]
    fn the_monotonic_budget_refills_with_real_time() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(Duration::seconds(10), 1);
        assert_eq!(l.allow_monotonic(t0), Some(0));
        assert_eq!(
            l.allow_monotonic(t0 + std::time::Duration::from_secs(9)),
            None
        );
        assert_eq!(
            l.allow_monotonic(t0 + std::time::Duration::from_secs(10)),
            Some(1)
        );
    }
}
