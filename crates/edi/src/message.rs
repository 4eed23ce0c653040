//! A message's content: its records (one per device point and slot) and what the
//! header says, and how records make a slot or a daily message.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, Timelike, Utc,
};

use crate::code::{InfoCode, PartyCode, SupplyPoint};
use crate::error::EdiError;

/// Japan Standard Time, in which slots, days and file names are told.
pub const JST: FixedOffset = match FixedOffset::east_opt(9 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+9 is a valid offset"),
};

/// How far a slot's value can be trusted: the MDMS's quality, as `mdms export` names
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quality {
    /// Read at its slot.
    Measured,
    /// The terminal took it from the meter's history.
    Recovered,
    /// Arrived later by backfill.
    Backfilled,
    /// Estimated by VEE until the real value arrives.
    Estimated,
    /// Read while the meter ID did not match (SEC-07).
    Flagged,
}

impl Quality {
    /// Every quality.
    pub const ALL: [Self; 5] = [
        Self::Measured,
        Self::Recovered,
        Self::Backfilled,
        Self::Estimated,
        Self::Flagged,
    ];

    /// Its name, as the export's `quality` column has it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Recovered => "recovered",
            Self::Backfilled => "backfilled",
            Self::Estimated => "estimated",
            Self::Flagged => "flagged",
        }
    }

    /// The status (JP06122) **(ours)**: `0` for a value the meter counted under its
    /// registered ID (measured, recovered, backfilled), `1` for one it did not (an
    /// estimate, a flagged reading). An importer of the standard's files takes a value
    /// only under `0`, so one that knows nothing of our quality element still never
    /// bills an estimate as a reading.
    #[must_use]
    pub const fn status(self) -> &'static str {
        match self {
            Self::Measured | Self::Recovered | Self::Backfilled => "0",
            Self::Estimated | Self::Flagged => "1",
        }
    }

    /// The quality named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == s)
    }
}

/// One device point's slot: the values `mdms export` gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The device point's supply point number.
    pub point: SupplyPoint,
    /// The terminal whose reading it is (EUI-64).
    pub terminal: [u8; 8],
    /// The slot's start.
    pub slot_start: DateTime<Utc>,
    /// Its length: 15 or 30 minutes.
    pub interval_min: u8,
    /// AC input (forward flow) in the slot, Wh.
    pub in_wh: u32,
    /// AC output (reverse flow) in the slot, Wh.
    pub out_wh: u32,
    /// The AC input counter at the slot's end, Wh modulo 10^8.
    pub cum_in_wh: u32,
    /// The AC output counter at the slot's end.
    pub cum_out_wh: u32,
    /// How far it can be trusted.
    pub quality: Quality,
    /// When the MDMS received the last reading it was derived from; `None` when its
    /// values are estimated (an estimate, or a flagged slot across a gap).
    pub received_at: Option<DateTime<Utc>>,
}

impl Record {
    /// The slot's start in Japan time.
    #[must_use]
    pub fn local_start(&self) -> NaiveDateTime {
        self.slot_start.with_timezone(&JST).naive_local()
    }

    /// Its number in its day (JP06219): 1 for the slot starting at 00:00, up to 48 (96
    /// at 15 minutes).
    #[must_use]
    pub fn slot_number(&self) -> u8 {
        slot_number(self.local_start(), self.interval_min)
    }
}

/// The number of the slot starting at `t` (Japan time) of `interval_min` minutes: 1
/// for 00:00.
fn slot_number(t: NaiveDateTime, interval_min: u8) -> u8 {
    let minutes = t.hour() * 60 + t.minute();
    u8::try_from(minutes / u32::from(interval_min.max(1)) + 1).unwrap_or(u8::MAX)
}

/// A message: what its header names and its records, in the order they are written
/// (by slot, then by point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Which message.
    pub info: InfoCode,
    /// The utility that sends it (JP06110).
    pub sender: PartyCode,
    /// The retailer it is for (JP06112).
    pub receiver: PartyCode,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// The day of its slots, Japan time (JP06116).
    pub date: NaiveDate,
    /// Its records.
    pub records: Vec<Record>,
}

/// The most device points one file holds **(ours)**: a larger message is split, each
/// file a message of its own for some of the points (the split number in its name).
pub const POINTS_PER_FILE: usize = 10_000;

impl Message {
    /// The slot message of `records`, all of one slot and one interval, each point
    /// once; written by point.
    ///
    /// # Errors
    /// [`EdiError::Message`]: no records, records of several slots or intervals, an
    /// interval other than 15 or 30, a point twice.
    pub fn slot(
        sender: PartyCode,
        receiver: PartyCode,
        created: DateTime<Utc>,
        records: Vec<Record>,
    ) -> Result<Self, EdiError> {
        let date = records
            .first()
            .map(|r| r.local_start().date())
            .ok_or_else(|| EdiError::Message("a slot message of no record".to_owned()))?;
        Self::of(InfoCode::slot, sender, receiver, created, date, records)
    }

    /// The daily message of `records`, all of one day (Japan time) and one interval,
    /// each point and slot once; written by slot, then by point.
    ///
    /// # Errors
    /// [`EdiError::Message`] as for [`Message::slot`], or records of another day.
    pub fn daily(
        sender: PartyCode,
        receiver: PartyCode,
        created: DateTime<Utc>,
        date: NaiveDate,
        records: Vec<Record>,
    ) -> Result<Self, EdiError> {
        Self::of(InfoCode::daily, sender, receiver, created, date, records)
    }

    /// The message `info_of` names for the first record's interval, of `records` sorted
    /// by slot, then point, checked whole ([`Message::check`]).
    fn of(
        info_of: fn(u8) -> Option<InfoCode>,
        sender: PartyCode,
        receiver: PartyCode,
        created: DateTime<Utc>,
        date: NaiveDate,
        mut records: Vec<Record>,
    ) -> Result<Self, EdiError> {
        let interval = records
            .first()
            .ok_or_else(|| EdiError::Message("a message of no record".to_owned()))?
            .interval_min;
        let info = info_of(interval)
            .ok_or_else(|| EdiError::Message(format!("an interval of {interval} minutes")))?;
        records.sort_by_key(|r| (r.slot_start, r.point));
        let message = Self {
            info,
            sender,
            receiver,
            created: whole_second(created),
            date,
            records,
        };
        message.check()?;
        Ok(message)
    }

    /// What every message holds to: records of its interval and day, on their slots'
    /// boundaries, of one slot for a slot message, ordered, each point and slot once,
    /// values within the counter's range, a receipt time for a reading and none for an
    /// estimate.
    ///
    /// # Errors
    /// [`EdiError::Message`] naming the first record that does not.
    pub fn check(&self) -> Result<(), EdiError> {
        let interval = self.info.interval_min();
        let bad = |r: &Record, why: &str| {
            Err(EdiError::Message(format!(
                "point {} slot {}: {why}",
                r.point, r.slot_start
            )))
        };
        for (i, r) in self.records.iter().enumerate() {
            let local = r.local_start();
            if r.interval_min != interval {
                return bad(r, "another interval than the message's");
            }
            if local.date() != self.date {
                return bad(r, "another day than the message's");
            }
            if r.slot_start.timestamp_subsec_nanos() != 0
                || r.slot_start.timestamp() % (i64::from(interval) * 60) != 0
            {
                return bad(r, "not on a slot's start");
            }
            if [r.in_wh, r.out_wh, r.cum_in_wh, r.cum_out_wh]
                .iter()
                .any(|v| *v > 99_999_999)
            {
                return bad(r, "a value above the counter's 8 digits");
            }
            // The MDMS's receipt time is absent exactly when the values are estimated:
            // always for an estimate, never for a reading; a flagged slot may be either
            // (flagged wins over estimated when a flagged reading bounds a gap).
            let receipt_ok = match r.quality {
                Quality::Estimated => r.received_at.is_none(),
                Quality::Flagged => true,
                Quality::Measured | Quality::Recovered | Quality::Backfilled => {
                    r.received_at.is_some()
                }
            };
            if !receipt_ok {
                return bad(r, "a receipt time for an estimate, or none for a reading");
            }
            if let Some(prev) = i.checked_sub(1).and_then(|p| self.records.get(p)) {
                if (prev.slot_start, prev.point) >= (r.slot_start, r.point) {
                    return bad(r, "out of order, or twice");
                }
                if !self.info.is_daily() && prev.slot_start != r.slot_start {
                    return bad(r, "another slot than the message's");
                }
            }
        }
        if self.records.is_empty() {
            return Err(EdiError::Message("no record".to_owned()));
        }
        if self.created.timestamp_subsec_nanos() != 0 {
            return Err(EdiError::Message(
                "made at a fraction of a second (the header tells whole seconds)".to_owned(),
            ));
        }
        Ok(())
    }

    /// The slot of a slot message (its first record's), Japan time; midnight of its day
    /// for a daily message: the time its file name carries.
    #[must_use]
    pub fn file_time(&self) -> NaiveDateTime {
        match self.records.first() {
            Some(r) if !self.info.is_daily() => r.local_start(),
            _ => self.date.and_hms_opt(0, 0, 0).unwrap_or_default(),
        }
    }

    /// The message as its XML document (UTF-8), as docs/edi.md shows it.
    #[must_use]
    pub fn to_xml(&self) -> String {
        let mut out = Vec::with_capacity(512 + self.records.len() * 420);
        // A Vec takes every write; the writer makes UTF-8 only.
        let _ = crate::write::xml(self, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// The message as its XML document, written to `out` as it is made.
    ///
    /// # Errors
    /// `out`'s.
    pub fn write_xml(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        crate::write::xml(self, out)
    }

    /// Its slot number (JP06219) for a slot message.
    #[must_use]
    pub fn slot_number(&self) -> Option<u8> {
        (!self.info.is_daily())
            .then(|| self.records.first().map(Record::slot_number))
            .flatten()
    }
}

/// `t` to the second before it: the header (JPC19) tells whole seconds.
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// `wh` as kWh with three decimals, as the export writes it.
#[must_use]
pub fn kwh(wh: u32) -> String {
    let mut out = Vec::with_capacity(12);
    // Writing to a vector does not fail.
    let _ = write_kwh(&mut out, wh);
    String::from_utf8(out).unwrap_or_default()
}

/// [`kwh`] written to `out`, without an allocation: a daily message writes four a
/// record, and formatting each as a string was a quarter of the allocations of a
/// large simulated run.
///
/// # Errors
/// `out`'s.
pub fn write_kwh(out: &mut impl std::io::Write, wh: u32) -> std::io::Result<()> {
    // u32::MAX Wh is 4294967.295 kWh: 11 characters.
    let mut buf = [0u8; 11];
    let mut at = buf.len();
    let mut rest = wh;
    // From the last decimal back: three decimals, the point, the kWh (one digit at least).
    for place in 0.. {
        if place == 3 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
        if place >= 3 && rest == 0 {
            break;
        }
    }
    out.write_all(&buf[at..])
}

/// Wh from kWh with exactly three decimals; `None` for any other spelling.
#[must_use]
pub fn wh_of_kwh(text: &str) -> Option<u32> {
    let (whole, frac) = text.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole)
        || frac.len() != 3
        || !digits(frac)
        || (whole.len() > 1 && whole.starts_with('0'))
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let frac: u32 = frac.parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

/// `t` as RFC 3339 in +09:00, fractions of a second only when there are some.
#[must_use]
pub fn jst(t: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(32);
    // Writing to a vector does not fail.
    let _ = write_jst(&mut out, t);
    String::from_utf8(out).unwrap_or_default()
}

/// [`jst`] written to `out`: by hand for the years 0 to 9999 and no leap second (as
/// chrono's RFC 3339 with `AutoSi` writes them: fractions of 3, 6 or 9 digits, the
/// fewest that hold them all), through chrono otherwise. Two a record of a daily
/// message; chrono's makes a string each.
///
/// # Errors
/// `out`'s.
pub fn write_jst(out: &mut impl std::io::Write, t: DateTime<Utc>) -> std::io::Result<()> {
    let local = t.with_timezone(&JST);
    let nanos = local.nanosecond();
    let year = u32::try_from(local.year()).ok().filter(|y| *y <= 9999);
    let Some(year) = year.filter(|_| nanos < 1_000_000_000) else {
        let text = local.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        return out.write_all(text.as_bytes());
    };
    let (frac, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    // "YYYY-MM-DDTHH:MM:SS", ".fffffffff" at most, "+09:00".
    let mut buf = [0u8; 35];
    let mut at = 0;
    for (separator, value, digits) in [
        (None, year, 4),
        (Some(b'-'), local.month(), 2),
        (Some(b'-'), local.day(), 2),
        (Some(b'T'), local.hour(), 2),
        (Some(b':'), local.minute(), 2),
        (Some(b':'), local.second(), 2),
        (Some(b'.'), frac, width),
    ] {
        if digits == 0 {
            continue;
        }
        if let Some(c) = separator {
            buf[at] = c;
            at += 1;
        }
        for place in (0..digits).rev() {
            buf[at] = b'0' + u8::try_from(value / 10u32.pow(place) % 10).unwrap_or(0);
            at += 1;
        }
    }
    buf[at..at + 6].copy_from_slice(b"+09:00");
    out.write_all(&buf[..at + 6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if01_kwh_has_three_decimals_both_ways() {
        for (wh, text) in [
            (0, "0.000"),
            (1, "0.001"),
            (1500, "1.500"),
            (99_999_999, "99999.999"),
        ] {
            assert_eq!(kwh(wh), text);
            assert_eq!(wh_of_kwh(text), Some(wh));
        }
        for bad in [
            "1.5", "1.5000", "01.500", "-1.500", "1,500", ".500", "1.", "1.5e0",
        ] {
            assert_eq!(wh_of_kwh(bad), None, "{bad}");
        }
    }

    #[test]
    fn if01_slots_are_numbered_from_one_at_midnight() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(slot_number(t("2026-04-01 00:00"), 30), 1);
        assert_eq!(slot_number(t("2026-04-01 23:30"), 30), 48);
        assert_eq!(slot_number(t("2026-04-01 23:45"), 15), 96);
    }

    #[test]
    fn if01_the_status_is_0_only_for_what_the_meter_counted() {
        let zero: Vec<_> = Quality::ALL
            .into_iter()
            .filter(|q| q.status() == "0")
            .collect();
        assert_eq!(
            zero,
            [Quality::Measured, Quality::Recovered, Quality::Backfilled]
        );
        for q in Quality::ALL {
            assert_eq!(Quality::parse(q.as_str()), Some(q));
        }
    }
}
