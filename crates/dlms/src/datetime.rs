//! COSEM date-time (12 bytes), date (5) and time (4), and their conversion to chrono.
//!
//! Every field may be a wildcard and the deviation may be absent, so the wire values
//! are kept field by field (a decode then encode is byte-identical) and the conversion
//! to a point in time is fallible. The deviation is "minutes local time is *behind*
//! UTC": local = UTC − deviation, so JST (UTC+9) is −540 (`FD E4`), as in the Blue Book
//! and in Gurux (`../shared/spec/dlms.md`).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};

/// The deviation of Japan Standard Time: −540 minutes (local = UTC − deviation).
pub const JST_DEVIATION: i16 = -540;

/// The deviation value meaning "not specified" (`0x8000`).
pub const DEVIATION_NOT_SPECIFIED: i16 = i16::MIN;

/// Clock status bits (Blue Book 4.1.6.1). `0xFF` means "not specified".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct ClockStatus(pub u8);

impl ClockStatus {
    /// "No status information".
    pub const NOT_SPECIFIED: Self = Self(0xFF);
    /// Bit 0: the clock value is invalid.
    #[must_use]
    pub const fn invalid(self) -> bool {
        self.0 != 0xFF && self.0 & 0x01 != 0
    }
    /// Bit 1: the clock value is doubtful.
    #[must_use]
    pub const fn doubtful(self) -> bool {
        self.0 != 0xFF && self.0 & 0x02 != 0
    }
    /// Bit 7: daylight saving active (never in Japan).
    #[must_use]
    pub const fn daylight_saving_active(self) -> bool {
        self.0 != 0xFF && self.0 & 0x80 != 0
    }
}

/// The twelve-byte COSEM date-time, stored as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CosemDateTime {
    /// Year, `0xFFFF` = not specified.
    pub year: u16,
    /// Month 1-12; `0xFD`/`0xFE` daylight-saving end/begin, `0xFF` any.
    pub month: u8,
    /// Day 1-31; `0xFD` second-last, `0xFE` last day of month, `0xFF` any.
    pub day_of_month: u8,
    /// Day of week 1 (Monday) - 7 (Sunday), `0xFF` any.
    pub day_of_week: u8,
    /// Hour 0-23, `0xFF` any.
    pub hour: u8,
    /// Minute 0-59, `0xFF` any.
    pub minute: u8,
    /// Second 0-59, `0xFF` any.
    pub second: u8,
    /// Hundredths 0-99, `0xFF` not specified.
    pub hundredths: u8,
    /// Minutes local time is behind UTC; [`DEVIATION_NOT_SPECIFIED`] when absent.
    pub deviation: i16,
    /// Clock status.
    pub status: ClockStatus,
}

/// The five-byte COSEM date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CosemDate {
    /// Year, `0xFFFF` = any.
    pub year: u16,
    /// Month, `0xFF` any.
    pub month: u8,
    /// Day of month, `0xFF` any.
    pub day_of_month: u8,
    /// Day of week, `0xFF` any.
    pub day_of_week: u8,
}

/// The four-byte COSEM time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CosemTime {
    /// Hour, `0xFF` any.
    pub hour: u8,
    /// Minute, `0xFF` any.
    pub minute: u8,
    /// Second, `0xFF` any.
    pub second: u8,
    /// Hundredths, `0xFF` any.
    pub hundredths: u8,
}

impl CosemDateTime {
    /// Every field a wildcard (how a DataNotification says "no time").
    pub const WILDCARD: Self = Self {
        year: 0xFFFF,
        month: 0xFF,
        day_of_month: 0xFF,
        day_of_week: 0xFF,
        hour: 0xFF,
        minute: 0xFF,
        second: 0xFF,
        hundredths: 0xFF,
        deviation: DEVIATION_NOT_SPECIFIED,
        status: ClockStatus::NOT_SPECIFIED,
    };

    /// From the twelve wire bytes. Every bit pattern is a value.
    #[must_use]
    pub const fn from_bytes(b: [u8; 12]) -> Self {
        Self {
            year: u16::from_be_bytes([b[0], b[1]]),
            month: b[2],
            day_of_month: b[3],
            day_of_week: b[4],
            hour: b[5],
            minute: b[6],
            second: b[7],
            hundredths: b[8],
            deviation: i16::from_be_bytes([b[9], b[10]]),
            status: ClockStatus(b[11]),
        }
    }

    /// From an octet string, which must be twelve bytes: Gurux and most meters carry the
    /// clock column of a profile buffer, and range-descriptor bounds, as
    /// `octet-string(12)` rather than as the `date-time` type.
    #[must_use]
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 12]>::try_from(b).ok().map(Self::from_bytes)
    }

    /// The twelve wire bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 12] {
        let y = self.year.to_be_bytes();
        let d = self.deviation.to_be_bytes();
        [
            y[0],
            y[1],
            self.month,
            self.day_of_month,
            self.day_of_week,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            d[0],
            d[1],
            self.status.0,
        ]
    }

    /// A complete date-time from a chrono time with its offset: day of week filled in,
    /// hundredths from the sub-second part, deviation = −offset, status 0 (valid).
    #[must_use]
    pub fn from_chrono(t: &DateTime<FixedOffset>) -> Self {
        let offset_minutes = t.offset().local_minus_utc() / 60;
        Self {
            year: u16::try_from(t.year()).unwrap_or(0xFFFF),
            month: t.month() as u8,
            day_of_month: t.day() as u8,
            day_of_week: t.weekday().number_from_monday() as u8,
            hour: t.hour() as u8,
            minute: t.minute() as u8,
            second: t.second().min(59) as u8,
            hundredths: (t.nanosecond().min(999_999_999) / 10_000_000) as u8,
            deviation: i16::try_from(-offset_minutes).unwrap_or(DEVIATION_NOT_SPECIFIED),
            status: ClockStatus(0),
        }
    }

    /// As Gurux writes a clock value: day of week `0xFF`, hundredths 0, status 0. Used
    /// where we must produce bytes identical to Gurux's (interop tests), not as our
    /// default: both forms are legal.
    #[must_use]
    pub fn from_chrono_gurux(t: &DateTime<FixedOffset>) -> Self {
        Self {
            day_of_week: 0xFF,
            hundredths: 0,
            ..Self::from_chrono(t)
        }
    }

    /// True when a field the conversion needs is a wildcard.
    #[must_use]
    pub const fn has_wildcard(&self) -> bool {
        self.year == 0xFFFF
            || self.month >= 0xFD
            || self.day_of_month >= 0xFD
            || self.hour == 0xFF
            || self.minute == 0xFF
            || self.second == 0xFF
    }

    /// The point in time, when every field is concrete and the deviation is given.
    /// Hundredths `0xFF` count as 0. `None` otherwise: a time without its offset is not
    /// a point in time, and guessing one is how readings land in the wrong slot.
    #[must_use]
    pub fn to_chrono(&self) -> Option<DateTime<FixedOffset>> {
        if self.deviation == DEVIATION_NOT_SPECIFIED {
            return None;
        }
        self.to_chrono_with_deviation(self.deviation)
    }

    /// As [`Self::to_chrono`], but a missing deviation is taken to be `default_deviation`
    /// (for instance [`JST_DEVIATION`] for a Japanese meter that omits it).
    #[must_use]
    pub fn to_chrono_or(&self, default_deviation: i16) -> Option<DateTime<FixedOffset>> {
        let dev = if self.deviation == DEVIATION_NOT_SPECIFIED {
            default_deviation
        } else {
            self.deviation
        };
        self.to_chrono_with_deviation(dev)
    }

    fn to_chrono_with_deviation(self, deviation: i16) -> Option<DateTime<FixedOffset>> {
        if self.has_wildcard() || deviation == DEVIATION_NOT_SPECIFIED {
            return None;
        }
        let offset = FixedOffset::east_opt(-i32::from(deviation) * 60)?;
        let hundredths = if self.hundredths == 0xFF {
            0
        } else {
            u32::from(self.hundredths)
        };
        if hundredths > 99 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day_of_month),
        )?;
        let naive = date.and_hms_milli_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second),
            hundredths * 10,
        )?;
        offset.from_local_datetime(&naive).single()
    }
}

impl CosemDate {
    /// From the five wire bytes.
    #[must_use]
    pub const fn from_bytes(b: [u8; 5]) -> Self {
        Self {
            year: u16::from_be_bytes([b[0], b[1]]),
            month: b[2],
            day_of_month: b[3],
            day_of_week: b[4],
        }
    }
    /// The five wire bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 5] {
        let y = self.year.to_be_bytes();
        [y[0], y[1], self.month, self.day_of_month, self.day_of_week]
    }
}

impl CosemTime {
    /// From the four wire bytes.
    #[must_use]
    pub const fn from_bytes(b: [u8; 4]) -> Self {
        Self {
            hour: b[0],
            minute: b[1],
            second: b[2],
            hundredths: b[3],
        }
    }
    /// The four wire bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 4] {
        [self.hour, self.minute, self.second, self.hundredths]
    }
}

impl std::fmt::Display for CosemDateTime {
    /// ISO 8601 when concrete (`2026-11-25T09:30:00+09:00`); otherwise the fields with
    /// `*` for wildcards, so a schedule pattern still reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(t) = self.to_chrono() {
            return write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
            );
        }
        let w = |v: u8| {
            if v == 0xFF {
                "*".to_owned()
            } else {
                format!("{v:02}")
            }
        };
        let year = if self.year == 0xFFFF {
            "****".to_owned()
        } else {
            format!("{:04}", self.year)
        };
        write!(
            f,
            "{year}-{}-{}T{}:{}:{}",
            w(self.month),
            w(self.day_of_month),
            w(self.hour),
            w(self.minute),
            w(self.second)
        )?;
        if self.deviation != DEVIATION_NOT_SPECIFIED {
            let m = -i32::from(self.deviation);
            let sign = if m < 0 { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)?;
        }
        Ok(())
    }
}

impl From<dlms_cosem_rs::axdr::DateTime> for CosemDateTime {
    fn from(d: dlms_cosem_rs::axdr::DateTime) -> Self {
        Self::from_bytes(d.to_bytes())
    }
}
impl From<CosemDateTime> for dlms_cosem_rs::axdr::DateTime {
    fn from(d: CosemDateTime) -> Self {
        Self::from_bytes(d.to_bytes())
    }
}
impl From<dlms_cosem_rs::axdr::Date> for CosemDate {
    fn from(d: dlms_cosem_rs::axdr::Date) -> Self {
        Self::from_bytes(d.to_bytes())
    }
}
impl From<CosemDate> for dlms_cosem_rs::axdr::Date {
    fn from(d: CosemDate) -> Self {
        Self::from_bytes(d.to_bytes())
    }
}
impl From<dlms_cosem_rs::axdr::Time> for CosemTime {
    fn from(d: dlms_cosem_rs::axdr::Time) -> Self {
        Self::from_bytes(d.to_bytes())
    }
}
impl From<CosemTime> for dlms_cosem_rs::axdr::Time {
    fn from(d: CosemTime) -> Self {
        Self::from_bytes(d.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jst() -> FixedOffset {
        FixedOffset::east_opt(9 * 3600).unwrap()
    }

    #[test]
    fn trm02_jst_deviation_is_minus_540() {
        let t = jst().with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
        let d = CosemDateTime::from_chrono(&t);
        assert_eq!(d.deviation, JST_DEVIATION);
        let b = d.to_bytes();
        assert_eq!(b, [0x07, 0xEA, 11, 25, 3, 9, 30, 0, 0, 0xFD, 0xE4, 0x00]);
        assert_eq!(d.to_chrono(), Some(t));
        assert_eq!(d.to_string(), "2026-11-25T09:30:00+09:00");
    }

    #[test]
    fn gurux_form_has_no_weekday_and_zero_hundredths() {
        let t = jst().with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let d = CosemDateTime::from_chrono_gurux(&t);
        assert_eq!(
            d.to_bytes(),
            [0x07, 0xEA, 11, 25, 0xFF, 0, 0, 0, 0, 0xFD, 0xE4, 0]
        );
        assert_eq!(d.to_chrono(), Some(t));
    }

    #[test]
    fn wildcards_and_missing_deviation_are_not_points_in_time() {
        assert_eq!(CosemDateTime::WILDCARD.to_chrono(), None);
        let mut d =
            CosemDateTime::from_chrono(&jst().with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap());
        d.deviation = DEVIATION_NOT_SPECIFIED;
        assert_eq!(d.to_chrono(), None);
        assert_eq!(
            d.to_chrono_or(JST_DEVIATION).unwrap().to_rfc3339(),
            "2026-02-01T00:00:00+09:00"
        );
        d.day_of_month = 30; // 30 February
        assert_eq!(d.to_chrono_or(JST_DEVIATION), None);
        assert_eq!(CosemDateTime::WILDCARD.to_string(), "****-*-*T*:*:*");
    }
}
