//! Publication rounds, one way for the simulator and for `iotroute portal` running
//! beside a live head end: a slot round reads the slots of every registered point
//! starting at one time from the MDMS and publishes them ([`publish_slot`]); a day round
//! publishes the day's slot messages again — a value that arrived after its slot's
//! rounds, a backfill, is issued again in its slot's message too — and the daily message
//! made of the same records ([`publish_day`]). Either issues only what changed (the
//! [`Publisher`]'s digest).
//!
//! When, on a wall clock ([`Watch`], **ours**): each 15-minute boundary's slots 10 s and
//! 60 s after a 15-minute slot's close and after a 30-minute slot's close; each day (JST)
//! an hour after its end; and every [`Watch::recheck`] every boundary and day of the
//! last [`Watch::lookback`] again, so a late value is re-issued within that time. A
//! process that starts does a recheck first: what was published before it stopped is
//! not issued again (the same values), what changed meanwhile is.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use edi::{PartyCode, Record};
use mdms::{Filter, MdmsStore};

use crate::error::PortalError;
use crate::publish::{Digest, Published, Publisher};
use crate::source::{record_of, slot_records};
use crate::store::PortalStore;

/// The utility's sender code (JP06110) the simulator and `iotroute portal` publish
/// under unless told another **(ours)**: area 09.
pub const SENDER: &str = "IOT09";

/// The records of one slot's message, by retailer.
pub type ByRetailer = BTreeMap<PartyCode, Vec<Record>>;

/// Publish the slot message of the slots starting at `start`: what it issued, and the
/// records it read.
///
/// # Errors
/// [`PortalError`]: the MDMS unreadable, a message not made, the store's.
pub fn publish_slot<S: PortalStore>(
    publisher: &mut Publisher<S>,
    mdms: &impl MdmsStore,
    start: DateTime<Utc>,
    retailer_of: &BTreeMap<String, PartyCode>,
    wall: DateTime<Utc>,
) -> Result<(Vec<Published>, ByRetailer), PortalError> {
    let by = slot_records(mdms, start, retailer_of)?;
    let published = publisher.slot(wall, by.clone())?;
    Ok((published, by))
}

/// Publish day `day`: the slot messages of its slots starting at `starts` again, then
/// its daily message of the same records; `each` sees each slot's records as read.
/// The day's records are never held together: each slot's are digested for the daily
/// messages as its slot message is made, and only a daily message whose digest
/// differs from its last issue is made, its files a part at a time from a second
/// reading of the day ([`Publisher::daily_streamed`]).
///
/// # Errors
/// As [`publish_slot`]; [`PortalError::Changed`]: the MDMS changed between the two
/// readings (no daily message issued; the next round issues it).
pub fn publish_day<S: PortalStore>(
    publisher: &mut Publisher<S>,
    mdms: &impl MdmsStore,
    day: NaiveDate,
    starts: &[DateTime<Utc>],
    retailer_of: &BTreeMap<String, PartyCode>,
    wall: DateTime<Utc>,
    each: &mut dyn FnMut(DateTime<Utc>, &ByRetailer),
) -> Result<Vec<Published>, PortalError> {
    let mut starts = starts.to_vec();
    starts.sort_unstable();
    let mut all = Vec::new();
    let mut digests: BTreeMap<(PartyCode, u8), Digest> = BTreeMap::new();
    for &start in &starts {
        let (published, mut by) = publish_slot(publisher, mdms, start, retailer_of, wall)?;
        each(start, &by);
        all.extend(published);
        // The daily message's order: by slot, then point.
        for (retailer, records) in &mut by {
            records.sort_by_key(|r| r.point);
            for r in records.iter() {
                digests
                    .entry((*retailer, r.interval_min))
                    .or_default()
                    .add(r);
            }
        }
    }
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(all);
    };
    let filter = Filter {
        point: None,
        from: Some(first),
        to: Some(last + TimeDelta::seconds(1)),
    };
    all.extend(publisher.daily_streamed(wall, day, digests, &mut |give| {
        // By point, then slot: each daily message's files as they fill.
        let mut failed = None;
        let scanned = mdms.scan_slots(&filter, &mut |slot| {
            let Some(retailer) = retailer_of.get(slot.point.as_str()) else {
                return Ok(());
            };
            if starts.binary_search(&slot.start).is_err() {
                return Ok(());
            }
            match record_of(slot).and_then(|r| give(*retailer, r)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    failed = Some(e);
                    Err(mdms::MdmsError::Store("publication stopped".to_owned()))
                }
            }
        });
        match (failed, scanned) {
            (Some(e), _) => Err(e),
            (None, r) => r.map_err(|e| PortalError::Store(e.to_string())),
        }
    })?);
    Ok(all)
}

/// The day (JST) an instant falls in.
#[must_use]
pub fn local_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&edi::message::JST).date_naive()
}

/// Midnight JST starting `day`, in UTC.
#[must_use]
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    edi::message::JST
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .single()
        .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

/// The 15-minute boundaries of `day` (JST): where its slots, 15 or 30 minutes, start.
#[must_use]
pub fn day_boundaries(day: NaiveDate) -> Vec<DateTime<Utc>> {
    let start = day_start(day);
    (0..96).map(|i| start + QUARTER * i).collect()
}

const QUARTER: TimeDelta = TimeDelta::minutes(15);
/// After a slot's close, the two rounds.
const AFTER_CLOSE: [TimeDelta; 2] = [TimeDelta::seconds(10), TimeDelta::seconds(60)];
/// After a day's end, its round.
const AFTER_DAY: TimeDelta = TimeDelta::hours(1);

/// What is due.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// The slots starting at this boundary.
    Slot(DateTime<Utc>),
    /// This day (its boundaries with it).
    Day(NaiveDate),
}

/// The publication's clock for a process on wall time: what is due at each tick.
#[derive(Debug, Clone)]
pub struct Watch {
    /// How far back a recheck reaches.
    pub lookback: TimeDelta,
    /// How often everything within the lookback is published again.
    pub recheck: TimeDelta,
    last_tick: Option<DateTime<Utc>>,
    last_recheck: Option<DateTime<Utc>>,
}

impl Watch {
    /// A watch that rechecks the last `lookback` every `recheck`.
    #[must_use]
    pub const fn new(lookback: TimeDelta, recheck: TimeDelta) -> Self {
        Self {
            lookback,
            recheck,
            last_tick: None,
            last_recheck: None,
        }
    }

    /// What is due at `now`, in order (slots by boundary, then days): every round whose
    /// time passed since the last tick, or, at a recheck (the first tick too), every
    /// boundary and day of the lookback that has closed.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let since = self.last_tick.replace(now);
        let recheck = self.last_recheck.is_none_or(|r| now - r >= self.recheck);
        let from = now - self.lookback;
        let mut due = std::collections::BTreeSet::new();
        let first = from.timestamp().div_euclid(900) * 900;
        let mut b = DateTime::from_timestamp(first, 0).unwrap_or(from);
        while b + QUARTER <= now {
            let closes = [b + QUARTER, b + QUARTER * 2];
            let crossed = closes
                .iter()
                .flat_map(|c| AFTER_CLOSE.map(|a| *c + a))
                .any(|t| t <= now && since.is_none_or(|s| t > s));
            if b >= from && (recheck || crossed) {
                due.insert(Due::Slot(b));
            }
            b += QUARTER;
        }
        let mut day = local_day(from);
        while day_start(day) < now {
            let round = day_start(day) + TimeDelta::days(1) + AFTER_DAY;
            let crossed = round <= now && since.is_none_or(|s| round > s);
            if round <= now && (crossed || (recheck && day_start(day) >= from - TimeDelta::days(1)))
            {
                due.insert(Due::Day(day));
            }
            let Some(next) = day.succ_opt() else {
                break;
            };
            day = next;
        }
        if recheck {
            self.last_recheck = Some(now);
        }
        // A day's round publishes its slots: not twice in one tick.
        let days: Vec<NaiveDate> = due
            .iter()
            .filter_map(|d| match d {
                Due::Day(day) => Some(*day),
                Due::Slot(_) => None,
            })
            .collect();
        due.into_iter()
            .filter(|d| !matches!(d, Due::Slot(b) if days.contains(&local_day(*b))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn jst(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        edi::message::JST
            .with_ymd_and_hms(2026, 4, d, h, m, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn slots(due: &[Due]) -> Vec<DateTime<Utc>> {
        due.iter()
            .filter_map(|d| match d {
                Due::Slot(b) => Some(*b),
                Due::Day(_) => None,
            })
            .collect()
    }

    fn days(due: &[Due]) -> Vec<NaiveDate> {
        due.iter()
            .filter_map(|d| match d {
                Due::Day(d) => Some(*d),
                Due::Slot(_) => None,
            })
            .collect()
    }

    #[test]
    fn if01_a_slot_is_published_10_s_and_60_s_after_each_close_and_a_day_an_hour_after_it() {
        let mut w = Watch::new(TimeDelta::hours(3), TimeDelta::minutes(10));
        // The first tick rechecks: every boundary of the last three hours whose first
        // slot (15 min) closed.
        let first = w.due(jst(2, 0, 30, 5));
        assert_eq!(slots(&first).first(), Some(&jst(1, 21, 45, 0)));
        assert_eq!(
            slots(&first).last(),
            Some(&jst(2, 0, 15, 0)),
            "00:15's 15-minute slot closed at 00:30"
        );
        assert!(days(&first).is_empty(), "1 April's round is at 01:00");
        // 10 s after 00:30: the 15-minute slot of 00:15 and the 30-minute slot of 00:00.
        assert_eq!(
            slots(&w.due(jst(2, 0, 30, 10))),
            [jst(2, 0, 0, 0), jst(2, 0, 15, 0)]
        );
        assert!(w.due(jst(2, 0, 30, 40)).is_empty());
        assert_eq!(
            slots(&w.due(jst(2, 0, 31, 0))),
            [jst(2, 0, 0, 0), jst(2, 0, 15, 0)]
        );
        // The day an hour after its end, with its slots (not beside it).
        let day = w.due(jst(2, 1, 0, 0));
        assert_eq!(days(&day), [NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()]);
        assert!(slots(&day)
            .iter()
            .all(|b| local_day(*b) != NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()));
        // 00:45's 15-minute slot and 00:30's 30-minute slot closed at 01:00.
        assert_eq!(
            w.due(jst(2, 1, 5, 0)),
            [Due::Slot(jst(2, 0, 30, 0)), Due::Slot(jst(2, 0, 45, 0))]
        );
        // Ten minutes after the last recheck, everything of the lookback again: the day
        // (with its slots) and the boundaries of the 2nd that closed.
        let again = w.due(jst(2, 1, 10, 0));
        assert_eq!(days(&again), [NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()]);
        assert_eq!(
            slots(&again),
            [
                jst(2, 0, 0, 0),
                jst(2, 0, 15, 0),
                jst(2, 0, 30, 0),
                jst(2, 0, 45, 0)
            ]
        );
    }

    #[test]
    fn if01_a_day_has_96_boundaries_from_midnight_jst() {
        let b = day_boundaries(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
        assert_eq!(b.len(), 96);
        assert_eq!(b[0], jst(1, 0, 0, 0));
        assert_eq!(b[95], jst(1, 23, 45, 0));
    }
}
