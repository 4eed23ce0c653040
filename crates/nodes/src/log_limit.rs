//! A budget for per-datagram log entries, so that a flood of hostile datagrams is counted
//! in full but cannot flood the log (and the disk) in turn.

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
}

impl LogLimiter {
    pub fn new(window: Duration, per_window: u32) -> LogLimiter {
        LogLimiter {
            window,
            per_window,
            window_start: None,
            used: 0,
            suppressed: 0,
        }
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
}
