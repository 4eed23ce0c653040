//! Slot boundaries (TRM-03, TRM-11): every 30 minutes at :00 and :30 JST, or every 15
//! minutes after the switch. JST is UTC+9 whole hours, so the boundaries fall on the same
//! instants counted in UTC: a boundary is a multiple of the interval since the epoch.

use chrono::{DateTime, TimeDelta, Utc};

/// The reading interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    /// Every 15 minutes (TRM-11, after the switch).
    Quarter,
    /// Every 30 minutes (the base).
    Half,
}

impl Interval {
    /// Minutes.
    #[must_use]
    pub const fn minutes(self) -> u8 {
        match self {
            Self::Quarter => 15,
            Self::Half => 30,
        }
    }

    /// Seconds.
    #[must_use]
    pub const fn seconds(self) -> i64 {
        self.minutes() as i64 * 60
    }

    /// The interval of `minutes` (15 or 30).
    #[must_use]
    pub const fn from_minutes(minutes: u8) -> Option<Self> {
        match minutes {
            15 => Some(Self::Quarter),
            30 => Some(Self::Half),
            _ => None,
        }
    }

    /// The interval of a capture period of `seconds` (900 or 1800), as DLMS gives it.
    #[must_use]
    pub const fn from_seconds(seconds: u32) -> Option<Self> {
        match seconds {
            900 => Some(Self::Quarter),
            1800 => Some(Self::Half),
            _ => None,
        }
    }

    /// The boundary at or before `t`.
    #[must_use]
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let s = t.timestamp();
        let b = s - s.rem_euclid(self.seconds());
        DateTime::from_timestamp(b, 0).unwrap_or(t)
    }

    /// The first boundary strictly after `t`.
    #[must_use]
    pub fn next_after(self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.floor(t) + TimeDelta::seconds(self.seconds())
    }

    /// The boundaries after `from` up to and including `to`.
    pub fn between(
        self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> {
        let step = TimeDelta::seconds(self.seconds());
        let mut next = self.next_after(from);
        std::iter::from_fn(move || {
            (next <= to).then(|| {
                let b = next;
                next += step;
                b
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn trm03_trm11_boundaries_fall_on_jst_half_and_quarter_hours() {
        // 10:44:59 JST = 01:44:59 UTC.
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 1, 44, 59).unwrap();
        assert_eq!(
            Interval::Half.floor(t),
            Utc.with_ymd_and_hms(2026, 12, 5, 1, 30, 0).unwrap()
        );
        assert_eq!(
            Interval::Half.next_after(t),
            Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap()
        );
        assert_eq!(
            Interval::Quarter.next_after(t),
            Utc.with_ymd_and_hms(2026, 12, 5, 1, 45, 0).unwrap()
        );
        let b = Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap();
        assert_eq!(Interval::Half.next_after(b), b + TimeDelta::minutes(30));
        let day: Vec<_> = Interval::Half.between(b, b + TimeDelta::days(1)).collect();
        assert_eq!(day.len(), 48);
        assert_eq!(Interval::from_minutes(20), None);
    }
}
