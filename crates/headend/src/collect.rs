//! Collection (the head end's core): every slot of every registered point arrives once.
//! The smart meters relay each terminal's slot pushes as they come; what does not come
//! within [`CollectConfig::grace`] of its boundary is a gap, and the head end has the
//! terminal's smart meter read it back from the terminal's store (a backfill), retried
//! with back-off while rows stay missing, as far back as the terminal keeps rows. Rows
//! are passed on (to the MDMS) once per boundary — again only when a valid value follows
//! a row the terminal had marked not valid — so that nothing is doubled downstream.
//!
//! Sans-IO: fed the smart meters' messages and the time, it answers with the rows to
//! pass on and the commands to send.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use dlms::relay::message::{Arrival, Command, Outcome, Row};
use nodes::terminal::slots::Interval;
use wisun::mac::Eui64;

use crate::point::SupplyPoint;
use crate::registry::DevicePoint;

/// The load profile's status bit 2: the values are not a reading.
const DATA_NOT_VALID: u8 = dlms::cosem::model::status::DATA_NOT_VALID;

/// How collection waits and retries **(ours)**.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectConfig {
    /// After a boundary, how long its push may take before the slot is a gap: 15 min
    /// (the radio retries, the smart meter's queue).
    pub grace: TimeDelta,
    /// The first wait after a backfill that left rows missing: 10 min, doubled each
    /// time up to [`CollectConfig::retry_max`].
    pub retry_first: TimeDelta,
    /// The longest wait between backfills of one terminal: 6 h.
    pub retry_max: TimeDelta,
    /// A backfill with no end after this is given up and retried: 30 min.
    pub request_timeout: TimeDelta,
    /// How far back a backfill reaches: the terminal's retention, 90 days.
    pub retention: TimeDelta,
    /// Rows asked for in one backfill: 96 (2 days of 30-minute slots).
    pub rows_per_request: usize,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            grace: TimeDelta::minutes(15),
            retry_first: TimeDelta::minutes(10),
            retry_max: TimeDelta::hours(6),
            request_timeout: TimeDelta::minutes(30),
            retention: TimeDelta::days(90),
            rows_per_request: 96,
        }
    }
}

/// A row passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// The point.
    pub point: SupplyPoint,
    /// Its terminal.
    pub terminal: Eui64,
    /// The row.
    pub row: Row,
    /// Pushed at its slot or backfilled.
    pub arrival: Arrival,
    /// When the head end took it.
    pub received_at: DateTime<Utc>,
}

/// Why a smart meter's message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    /// A terminal not in the registry.
    #[error("terminal {0} is not registered")]
    Unknown(Eui64),
    /// A smart meter speaking for a terminal that is not its own.
    #[error("smart meter {sm} sent rows of terminal {terminal}, which is {owner}'s")]
    NotItsTerminal {
        /// Who sent them.
        sm: Eui64,
        /// The terminal.
        terminal: Eui64,
        /// Its smart meter in the registry.
        owner: Eui64,
    },
}

/// One point's collection.
#[derive(Debug)]
struct Track {
    point: SupplyPoint,
    smart_meter: Eui64,
    /// The first boundary expected.
    since: DateTime<Utc>,
    /// The interval from each boundary on (TRM-11 switches).
    grid: BTreeMap<DateTime<Utc>, Interval>,
    /// Boundaries passed on with a valid value.
    valid: Times,
    /// Every boundary expected before it is in `valid` (or was, before it aged out of
    /// the retention): where the search for missing ones starts. Scanning the whole
    /// retention of every point at every poll grew with the run's length.
    complete_to: DateTime<Utc>,
    /// Boundaries passed on marked not valid, no valid value yet.
    invalid: BTreeSet<DateTime<Utc>>,
    blocked: bool,
    /// The backfill under way: its number and when it was sent.
    pending: Option<(u32, DateTime<Utc>)>,
    /// Not before then.
    retry_at: Option<DateTime<Utc>>,
    backoff: TimeDelta,
    /// Its place in [`Collector::due`], if any.
    due: Option<DateTime<Utc>>,
}

impl Track {
    /// The boundaries expected in `[lo, hi]`, oldest first. An iterator: most callers
    /// want the first one only ([`Track::first_expected`]), at every reading of every
    /// point.
    fn expected(
        &self,
        lo: DateTime<Utc>,
        hi: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let lo = lo.max(self.since);
        let mut grid = self.grid.iter().peekable();
        std::iter::from_fn(move || {
            let (start, interval) = grid.next()?;
            let end = grid
                .peek()
                .map_or(hi, |(next, _)| (**next - TimeDelta::seconds(1)).min(hi));
            let from = lo.max(*start) - TimeDelta::seconds(1);
            Some(interval.between(from, end))
        })
        .flatten()
    }

    /// The first boundary expected in `[lo, hi]`.
    fn first_expected(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expected(lo, hi).next()
    }

    fn missing(&self, lo: DateTime<Utc>, hi: DateTime<Utc>, limit: usize) -> Vec<DateTime<Utc>> {
        // Bounded scan: at most a retention's worth of boundaries, from the first one not
        // known complete. None at all when that is after `hi`: what most points are at
        // most polls, and the poll looks at every point.
        let lo = lo.max(self.complete_to);
        if lo.max(self.since) > hi {
            return Vec::new();
        }
        self.expected(lo, hi)
            .filter(|b| !self.valid.contains(b))
            .take(limit)
            .collect()
    }

    /// The earliest time the poll may have something to do for it (none while it is
    /// blocked): its backfill's timeout, or its first boundary not known complete
    /// becoming a gap — not before its retry. Never later than that time, sometimes
    /// earlier (a poll then finds nothing, as it would have).
    fn next_look(&self, config: &CollectConfig) -> Option<DateTime<Utc>> {
        if self.blocked {
            return None;
        }
        if let Some((_, sent)) = self.pending {
            return Some(sent + config.request_timeout);
        }
        // Boundaries are at most an interval apart: the first is within a day.
        let from = self.complete_to.max(self.since);
        let gap = self
            .first_expected(from, from + TimeDelta::days(1))
            .map(|b| b + config.grace);
        match (gap, self.retry_at) {
            (Some(g), Some(r)) => Some(g.max(r)),
            (g, r) => g.or(r),
        }
    }

    /// A backfill left rows missing, or never ended: the next not before its back-off,
    /// which doubles up to `max`.
    fn back_off(&mut self, now: DateTime<Utc>, max: TimeDelta) {
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(max);
    }

    /// Moves `complete_to` past the expected boundaries that follow it in `valid`.
    fn advance_complete(&mut self) {
        let Some(last) = self.valid.last().copied() else {
            return;
        };
        while let Some(next) = self.first_expected(self.complete_to, last) {
            if !self.valid.contains(&next) {
                break;
            }
            self.complete_to = next + TimeDelta::seconds(1);
        }
    }
}

/// Boundaries in order, in a sorted deque: a point's valid boundaries over the
/// retention, which come nearly always in order (new ones at the back, old ones leave
/// at the front). 12 bytes a boundary where a B-tree set, its nodes filled in order
/// about half, took some 30 (1.7 KiB a point and day; a million points).
#[derive(Debug, Clone, Default)]
struct Times(std::collections::VecDeque<DateTime<Utc>>);

impl Times {
    fn contains(&self, t: &DateTime<Utc>) -> bool {
        self.0.binary_search(t).is_ok()
    }

    /// Keep `t` (once).
    fn insert(&mut self, t: DateTime<Utc>) {
        if let Err(i) = self.0.binary_search(&t) {
            if self.0.len() == self.0.capacity() {
                // Eight hours of 30-minute slots at a time, not doubling.
                self.0.reserve_exact(16);
            }
            self.0.insert(i, t);
        }
    }

    fn last(&self) -> Option<&DateTime<Utc>> {
        self.0.back()
    }

    /// Drop the boundaries before `t`.
    fn forget_before(&mut self, t: DateTime<Utc>) {
        while self.0.front().is_some_and(|b| *b < t) {
            self.0.pop_front();
        }
    }
}

/// Where collection starts, or resumes after a restart of the head end (kill -9
/// included): each point's first boundary expected, and what the MDMS holds already, so
/// that nothing since is left out and nothing is passed on twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The first boundary expected (at or after) of a point not in `since`.
    pub from: DateTime<Utc>,
    /// Each point's first boundary expected, as the head end's store keeps it.
    pub since: BTreeMap<SupplyPoint, DateTime<Utc>>,
    /// Each point's boundaries already passed on with a valid value, with the interval
    /// in force from each (TRM-11 switches).
    pub collected: BTreeMap<SupplyPoint, BTreeMap<DateTime<Utc>, Interval>>,
}

impl Resume {
    /// A first start: every point expected from `from`, nothing collected.
    #[must_use]
    pub const fn fresh(from: DateTime<Utc>) -> Self {
        Self {
            from,
            since: BTreeMap::new(),
            collected: BTreeMap::new(),
        }
    }
}

/// The head end's collection.
#[derive(Debug)]
pub struct Collector {
    config: CollectConfig,
    tracks: BTreeMap<Eui64, Track>,
    next_request: u32,
    /// Each track by the time it next needs the poll ([`Track::next_look`]): the poll
    /// looks at those due, not at every point each time (a million points, polled
    /// every minute). A list per time: most tracks share their times (boundaries plus
    /// the grace), so a track moved at each reading is pushed onto a list already at
    /// hand, not taken out of and put back into a tree of every point. A track moved
    /// leaves its old entry behind, passed over when its time comes: an entry counts
    /// only while its time is the track's [`Track::due`].
    due: BTreeMap<DateTime<Utc>, Vec<Eui64>>,
    /// The backfills under way, by request number: whose a *done* ends.
    requests: BTreeMap<u32, Eui64>,
}

impl Collector {
    /// Collection of `points`, each expected from the first boundary at or after its
    /// `resume` time, with what was collected before.
    #[must_use]
    pub fn new(config: CollectConfig, points: &[DevicePoint], resume: &Resume) -> Self {
        let tracks = points
            .iter()
            .map(|p| {
                let since = resume
                    .since
                    .get(&p.supply_point)
                    .copied()
                    .unwrap_or(resume.from);
                let first = if p.interval.floor(since) == since {
                    since
                } else {
                    p.interval.next_after(since)
                };
                let mut grid = BTreeMap::from([(first, p.interval)]);
                let mut valid = Times::default();
                for (at, interval) in resume.collected.get(&p.supply_point).into_iter().flatten() {
                    if *at < first {
                        continue;
                    }
                    let in_force = grid.range(..=*at).next_back().map(|(_, i)| *i);
                    if in_force != Some(*interval) {
                        grid.insert(*at, *interval);
                    }
                    valid.insert(*at);
                }
                let mut track = Track {
                    point: p.supply_point.clone(),
                    smart_meter: p.smart_meter,
                    since: first,
                    grid,
                    valid,
                    complete_to: first,
                    invalid: BTreeSet::new(),
                    blocked: false,
                    pending: None,
                    retry_at: None,
                    backoff: config.retry_first,
                    due: None,
                };
                track.advance_complete();
                (p.terminal_id, track)
            })
            .collect();
        let mut c = Self {
            config,
            tracks,
            next_request: 0,
            due: BTreeMap::new(),
            requests: BTreeMap::new(),
        };
        let terminals: Vec<Eui64> = c.tracks.keys().copied().collect();
        for t in terminals {
            c.reindex(t);
        }
        c
    }

    /// Put `terminal`'s track where its next look is due.
    fn reindex(&mut self, terminal: Eui64) {
        let Some(track) = self.tracks.get_mut(&terminal) else {
            return;
        };
        let next = track.next_look(&self.config);
        if next == track.due {
            return;
        }
        if let Some(new) = next {
            self.due.entry(new).or_default().push(terminal);
        }
        track.due = next;
    }

    /// Rows of `terminal` relayed by smart meter `sm` at `now`: those to pass on (new
    /// boundaries, or a valid value after a not-valid one).
    ///
    /// # Errors
    /// [`CollectError`]: the rows are not taken (logged by the caller).
    pub fn readings(
        &mut self,
        sm: Eui64,
        terminal: Eui64,
        arrival: Arrival,
        rows: &[Row],
        now: DateTime<Utc>,
    ) -> Result<Vec<Collected>, CollectError> {
        let track = self
            .tracks
            .get_mut(&terminal)
            .ok_or(CollectError::Unknown(terminal))?;
        if track.smart_meter != sm {
            return Err(CollectError::NotItsTerminal {
                sm,
                terminal,
                owner: track.smart_meter,
            });
        }
        let mut out = Vec::new();
        for row in rows {
            if let Some(interval) = Interval::from_minutes(row.interval_min) {
                let in_force = track.grid.range(..=row.at).next_back().map(|(_, i)| *i);
                if in_force.is_some_and(|i| i != interval) && row.at >= track.since {
                    // TRM-11: the terminal switched; its boundaries follow the new
                    // interval from this one on, which may expect boundaries not
                    // looked at before.
                    track.grid.insert(row.at, interval);
                    track.complete_to = track.complete_to.min(row.at);
                }
            }
            if track.valid.contains(&row.at) {
                continue;
            }
            let valid = row.status & DATA_NOT_VALID == 0;
            if !valid && !track.invalid.insert(row.at) {
                continue;
            }
            if valid {
                track.invalid.remove(&row.at);
                track.valid.insert(row.at);
            }
            out.push(Collected {
                point: track.point.clone(),
                terminal,
                row: *row,
                arrival,
                received_at: now,
            });
        }
        track.advance_complete();
        // Keep what a backfill can still reach (dropped in place: `split_off` built new
        // sets at every message).
        let horizon = now - self.config.retention;
        track.valid.forget_before(horizon);
        while track.invalid.first().is_some_and(|b| *b < horizon) {
            track.invalid.pop_first();
        }
        self.reindex(terminal);
        Ok(out)
    }

    /// A backfill ended (the smart meter's *done*).
    pub fn done(&mut self, request: u32, outcome: Outcome, now: DateTime<Utc>) {
        let Some(terminal) = self.requests.remove(&request) else {
            tracing::debug!(request, "done of no backfill under way");
            return;
        };
        let Some(track) = self.tracks.get_mut(&terminal) else {
            return;
        };
        track.pending = None;
        let lo = now - self.config.retention;
        let left = track.missing(lo, now - self.config.grace, 1);
        if outcome == Outcome::Done && left.is_empty() {
            track.backoff = self.config.retry_first;
            track.retry_at = None;
        } else {
            track.back_off(now, self.config.retry_max);
        }
        self.reindex(terminal);
    }

    /// TRM-11: the last interval switch of `terminal` it collected: the boundary it took
    /// effect at and the interval before it.
    #[must_use]
    pub fn last_switch(&self, terminal: Eui64) -> Option<(DateTime<Utc>, Interval)> {
        let mut grid = self.tracks.get(&terminal)?.grid.iter().rev();
        let (at, _) = grid.next()?;
        let (_, before) = grid.next()?;
        Some((*at, *before))
    }

    /// Block (`true`) or reconnect a point's terminal (OPS-07): no backfill while
    /// blocked; after the reconnect the blocked period is backfilled at once.
    pub fn set_blocked(&mut self, terminal: Eui64, blocked: bool) {
        if let Some(t) = self.tracks.get_mut(&terminal) {
            t.blocked = blocked;
            if let Some((request, _)) = t.pending.take() {
                self.requests.remove(&request);
            }
            t.retry_at = None;
            t.backoff = self.config.retry_first;
        }
        self.reindex(terminal);
    }

    /// The backfills due at `now`, each for the smart meter to send it to: the tracks
    /// whose look is due, in terminal order.
    pub fn poll(&mut self, now: DateTime<Utc>) -> Vec<(Eui64, Command)> {
        let mut due = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > now {
                break;
            }
            let (at, terminals) = entry.remove_entry();
            for terminal in terminals {
                // Left behind by a move, or a second entry at the same time (a track
                // moved away and back): not due, or taken already.
                if let Some(t) = self.tracks.get_mut(&terminal).filter(|t| t.due == Some(at)) {
                    t.due = None;
                    due.push(terminal);
                }
            }
        }
        due.sort_unstable();
        let mut out = Vec::new();
        for terminal in due {
            out.extend(self.look(terminal, now));
            self.reindex(terminal);
        }
        out
    }

    /// `terminal`'s backfill, if one is due at `now`.
    fn look(&mut self, terminal: Eui64, now: DateTime<Utc>) -> Option<(Eui64, Command)> {
        let lo = now - self.config.retention;
        let hi = now - self.config.grace;
        let track = self.tracks.get_mut(&terminal)?;
        if track.blocked {
            return None;
        }
        if let Some((request, sent)) = track.pending {
            if now < sent + self.config.request_timeout {
                return None;
            }
            tracing::warn!(request, %terminal, "backfill without an end: given up, retried");
            self.requests.remove(&request);
            track.pending = None;
            track.back_off(now, self.config.retry_max);
        }
        if track.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let missing = track.missing(lo, hi, self.config.rows_per_request);
        let (Some(from), Some(to)) = (missing.first(), missing.last()) else {
            return None;
        };
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let request = self.next_request;
        track.pending = Some((request, now));
        self.requests.insert(request, terminal);
        Some((
            track.smart_meter,
            Command::Backfill {
                request,
                terminal: terminal.0,
                from: *from,
                to: *to,
            },
        ))
    }

    /// The slots of every point expected in `[from, to]` that have no valid value
    /// passed on.
    #[must_use]
    pub fn missing(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<SupplyPoint, usize> {
        self.tracks
            .values()
            .map(|t| (t.point.clone(), t.missing(from, to, usize::MAX).len()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
impl Collector {
    /// The poll as it was before the index: a look at every point, in terminal order.
    fn poll_every(&mut self, now: DateTime<Utc>) -> Vec<(Eui64, Command)> {
        let all: Vec<Eui64> = self.tracks.keys().copied().collect();
        let mut out = Vec::new();
        for terminal in all {
            out.extend(self.look(terminal, now));
            self.reindex(terminal);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SM: Eui64 = Eui64([2, 0xAA, 0, 0, 0, 0, 0, 1]);
    const T1: Eui64 = Eui64([2, 0x11, 0, 0, 0, 0, 0, 1]);

    fn start() -> DateTime<Utc> {
        // 2026-04-01 00:00 JST.
        Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap()
    }

    fn slot(n: i64) -> DateTime<Utc> {
        start() + TimeDelta::minutes(30 * n)
    }

    fn point() -> DevicePoint {
        DevicePoint {
            supply_point: "0900000000000000000001".parse().unwrap(),
            terminal_id: T1,
            pairing_id: wisun::pairing_id::PairingId::from_bytes(b"IOT00901").unwrap(),
            smart_meter: SM,
            meter_id: None,
            interval: Interval::Half,
            retailer: "A1239".parse().unwrap(),
        }
    }

    fn row(at: DateTime<Utc>, wh: u32, status: u8) -> Row {
        Row {
            at,
            in_wh: wh,
            out_wh: 0,
            status,
            interval_min: 30,
        }
    }

    #[test]
    fn times_keep_each_boundary_once_in_order_whatever_order_they_come_in() {
        let mut t = Times::default();
        for n in [3, 1, 2, 5, 1, 4, 3] {
            t.insert(slot(n));
        }
        assert_eq!(t.0, (1..=5).map(slot).collect::<Vec<_>>());
        assert!(t.contains(&slot(4)) && !t.contains(&slot(6)));
        assert_eq!(t.last(), Some(&slot(5)));
        t.forget_before(slot(3));
        assert_eq!(t.0, (3..=5).map(slot).collect::<Vec<_>>());
    }

    #[test]
    fn a_row_is_passed_on_once_and_a_valid_value_after_a_not_valid_one() {
        let mut c = Collector::new(
            CollectConfig::default(),
            &[point()],
            &Resume::fresh(start()),
        );
        let now = slot(1);
        let first = c
            .readings(SM, T1, Arrival::Pushed, &[row(slot(1), 10, 0)], now)
            .unwrap();
        assert_eq!(first.len(), 1);
        assert!(c
            .readings(SM, T1, Arrival::Backfilled, &[row(slot(1), 10, 0)], now)
            .unwrap()
            .is_empty());
        let gap = row(slot(2), 0, DATA_NOT_VALID);
        assert_eq!(
            c.readings(SM, T1, Arrival::Pushed, &[gap], now)
                .unwrap()
                .len(),
            1
        );
        assert!(c
            .readings(SM, T1, Arrival::Pushed, &[gap], now)
            .unwrap()
            .is_empty());
        let filled = row(slot(2), 20, 1 << 6);
        assert_eq!(
            c.readings(SM, T1, Arrival::Backfilled, &[filled], now)
                .unwrap()[0]
                .row,
            filled
        );
        assert_eq!(
            c.readings(
                Eui64([9; 8]),
                T1,
                Arrival::Pushed,
                &[row(slot(3), 1, 0)],
                now
            ),
            Err(CollectError::NotItsTerminal {
                sm: Eui64([9; 8]),
                terminal: T1,
                owner: SM
            })
        );
    }

    #[test]
    fn sys01_a_restarted_collection_expects_every_slot_since_its_first_start_and_passes_none_twice()
    {
        // The head end first collected the point at slot 0 and had slots 0, 1 and 3 (the
        // MDMS holds them); it restarts at slot 10.
        let point = point();
        let resume = Resume {
            from: slot(10),
            since: BTreeMap::from([(point.supply_point.clone(), start())]),
            collected: BTreeMap::from([(
                point.supply_point.clone(),
                [0, 1, 3].map(|n| (slot(n), Interval::Half)).into(),
            )]),
        };
        let mut c = Collector::new(
            CollectConfig::default(),
            std::slice::from_ref(&point),
            &resume,
        );
        // Slots 2 and 4..=10 are missing; 0, 1, 3 are not.
        assert_eq!(
            c.missing(start(), slot(10)),
            BTreeMap::from([(point.supply_point.clone(), 8)])
        );
        assert!(c
            .readings(SM, T1, Arrival::Pushed, &[row(slot(3), 1, 0)], slot(10))
            .unwrap()
            .is_empty());
        let asked = c.poll(slot(11));
        assert!(
            matches!(asked.as_slice(), [(_, Command::Backfill { from, .. })] if *from == slot(2)),
            "{asked:?}"
        );
        // A fresh start knows nothing before it.
        let fresh = Collector::new(CollectConfig::default(), &[point], &Resume::fresh(slot(10)));
        assert_eq!(fresh.missing(start(), slot(10)).values().sum::<usize>(), 1);
    }

    #[test]
    fn trm11_a_restarted_collection_keeps_the_interval_switch_it_had_collected() {
        let point = point();
        let quarter = |n: i64| start() + TimeDelta::minutes(15 * n);
        // Slots 0 and 1 at 30 minutes, then a switch to 15 at slot 1 (quarter 2).
        let collected: BTreeMap<DateTime<Utc>, Interval> = [
            (quarter(0), Interval::Half),
            (quarter(2), Interval::Quarter),
            (quarter(3), Interval::Quarter),
        ]
        .into();
        let resume = Resume {
            from: quarter(6),
            since: BTreeMap::from([(point.supply_point.clone(), start())]),
            collected: BTreeMap::from([(point.supply_point.clone(), collected)]),
        };
        let c = Collector::new(
            CollectConfig::default(),
            std::slice::from_ref(&point),
            &resume,
        );
        // Quarters 4, 5, 6 are missing: on the 15-minute grid after the switch.
        assert_eq!(
            c.missing(start(), quarter(6)),
            BTreeMap::from([(point.supply_point, 3)])
        );
    }

    #[test]
    fn a_gap_is_backfilled_after_the_grace_and_retried_with_back_off() {
        let config = CollectConfig::default();
        let mut c = Collector::new(config, &[point()], &Resume::fresh(start()));
        for n in [0, 1, 3] {
            c.readings(SM, T1, Arrival::Pushed, &[row(slot(n), 1, 0)], slot(n))
                .unwrap();
        }
        // Slot 2 missed; nothing asked before its grace is over.
        assert!(c.poll(slot(2) + TimeDelta::minutes(14)).is_empty());
        let now = slot(3) + TimeDelta::minutes(20);
        let asked = c.poll(now);
        let [(
            sm,
            Command::Backfill {
                request, from, to, ..
            },
        )] = asked.as_slice()
        else {
            panic!("{asked:?}");
        };
        assert_eq!((*sm, *from, *to), (SM, slot(2), slot(2)));
        assert!(c.poll(now).is_empty(), "one backfill at a time");
        // It ends with the row still missing: retried after 10 min, then 20.
        c.done(*request, Outcome::Done, now);
        assert!(c.poll(now + TimeDelta::minutes(9)).is_empty());
        let again = c.poll(now + TimeDelta::minutes(10));
        assert_eq!(again.len(), 1);
        let Command::Backfill { request, .. } = again[0].1 else {
            panic!()
        };
        c.done(request, Outcome::Failed, now + TimeDelta::minutes(10));
        assert!(c.poll(now + TimeDelta::minutes(29)).is_empty());
        let third = c.poll(now + TimeDelta::minutes(30));
        let Command::Backfill { request, .. } = third[0].1 else {
            panic!()
        };
        // Now the row comes: nothing more is asked.
        let late = now + TimeDelta::minutes(31);
        c.readings(SM, T1, Arrival::Backfilled, &[row(slot(2), 1, 0)], late)
            .unwrap();
        c.done(request, Outcome::Done, late);
        assert!(c.poll(late).is_empty());
        assert!(c.missing(slot(0), slot(3)).is_empty());
    }

    #[test]
    fn ops07_no_backfill_while_blocked_and_the_period_after_reconnect() {
        let mut c = Collector::new(
            CollectConfig::default(),
            &[point()],
            &Resume::fresh(start()),
        );
        c.readings(SM, T1, Arrival::Pushed, &[row(slot(0), 1, 0)], slot(0))
            .unwrap();
        c.set_blocked(T1, true);
        assert!(c.poll(slot(10)).is_empty());
        c.set_blocked(T1, false);
        let asked = c.poll(slot(10));
        let [(_, Command::Backfill { from, to, .. })] = asked.as_slice() else {
            panic!("{asked:?}");
        };
        // 00:30 .. 04:30, the last boundary past its grace at 05:00.
        assert_eq!((*from, *to), (slot(1), slot(9)));
    }

    #[test]
    fn trm11_after_a_switch_the_quarter_hours_are_expected() {
        let mut c = Collector::new(
            CollectConfig::default(),
            &[point()],
            &Resume::fresh(start()),
        );
        let quarter = |at| Row {
            interval_min: 15,
            ..row(at, 1, 0)
        };
        c.readings(
            SM,
            T1,
            Arrival::Pushed,
            &[row(slot(0), 1, 0), row(slot(1), 1, 0)],
            slot(1),
        )
        .unwrap();
        let q = |k: i64| slot(2) + TimeDelta::minutes(15 * k);
        c.readings(
            SM,
            T1,
            Arrival::Pushed,
            &[quarter(q(0)), quarter(q(1)), quarter(q(3))],
            q(3),
        )
        .unwrap();
        let missing = c.missing(slot(0), q(3));
        assert_eq!(
            missing.values().copied().collect::<Vec<_>>(),
            vec![1],
            "{missing:?}"
        );
        // What a registration tells a smart meter that restarted (method 1).
        assert_eq!(c.last_switch(T1), Some((q(0), Interval::Half)));
        let asked = c.poll(q(3) + TimeDelta::minutes(15));
        let [(_, Command::Backfill { from, .. })] = asked.as_slice() else {
            panic!("{asked:?}");
        };
        assert_eq!(*from, q(2));
    }

    #[test]
    fn trm11_a_switch_learnt_after_the_slots_around_it_expects_its_quarter_hours() {
        let mut c = Collector::new(
            CollectConfig::default(),
            &[point()],
            &Resume::fresh(start()),
        );
        let rows: Vec<Row> = (0..=4).map(|n| row(slot(n), 1, 0)).collect();
        c.readings(SM, T1, Arrival::Pushed, &rows, slot(4)).unwrap();
        assert!(c.missing(slot(0), slot(4)).is_empty());
        // The row at 01:00 again, now saying 15 minutes (the terminal switched there):
        // 01:15 and 01:45 are expected, though every half hour around them was in.
        let switched = Row {
            interval_min: 15,
            ..row(slot(2), 1, 0)
        };
        c.readings(SM, T1, Arrival::Backfilled, &[switched], slot(4))
            .unwrap();
        assert_eq!(
            c.missing(slot(0), slot(4))
                .values()
                .copied()
                .collect::<Vec<_>>(),
            vec![2]
        );
    }

    /// What a property run does at one step.
    #[derive(Debug, Clone)]
    enum Step {
        /// Minutes on, then a poll.
        Poll(i64),
        /// Terminal `t` pushes (or a backfill brings) slot `n`: valid or not, 30 or 15
        /// minutes.
        Row {
            t: usize,
            n: i64,
            valid: bool,
            quarter: bool,
        },
        /// Terminal `t`'s every slot up to now arrives (its collection complete).
        Fill(usize),
        /// The smart meter ends the oldest backfill under way.
        Done(u8),
        /// Terminal `t` blocked or reconnected.
        Block { t: usize, blocked: bool },
    }

    fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                4 => (1i64..90).prop_map(Step::Poll),
                4 => (0usize..4, 0i64..200, proptest::bool::weighted(0.9), proptest::bool::weighted(0.2))
                    .prop_map(|(t, n, valid, quarter)| Step::Row { t, n, valid, quarter }),
                2 => (0u8..3).prop_map(Step::Done),
                1 => (0usize..4).prop_map(Step::Fill),
                1 => (0usize..4, any::<bool>()).prop_map(|(t, blocked)| Step::Block { t, blocked }),
            ],
            1..300,
        )
    }

    proptest::proptest! {
        /// The poll by due time asks for every backfill the poll of every point asked
        /// for, at the same polls, with the same numbers: a point is never looked at
        /// later than it needs to be.
        #[test]
        fn the_poll_by_due_time_asks_what_a_look_at_every_point_asks(steps in steps()) {
            let terminals: Vec<Eui64> =
                (1..=4u8).map(|i| Eui64([2, 0x11, 0, 0, 0, 0, 0, i])).collect();
            let points: Vec<DevicePoint> = terminals
                .iter()
                .enumerate()
                .map(|(i, t)| DevicePoint {
                    supply_point: format!("09{:020}", i + 1).parse().unwrap(),
                    terminal_id: *t,
                    ..point()
                })
                .collect();
            let resume = Resume::fresh(start());
            let mut indexed = Collector::new(CollectConfig::default(), &points, &resume);
            let mut every = Collector::new(CollectConfig::default(), &points, &resume);
            let mut now = start();
            let mut under_way: Vec<u32> = Vec::new();
            for step in steps {
                match step {
                    Step::Poll(minutes) => {
                        now += TimeDelta::minutes(minutes);
                        let asked = indexed.poll(now);
                        proptest::prop_assert_eq!(&asked, &every.poll_every(now));
                        for (_, c) in asked {
                            if let Command::Backfill { request, .. } = c {
                                under_way.push(request);
                            }
                        }
                    }
                    Step::Row { t, n, valid, quarter } => {
                        let mut r = row(slot(n).min(now), 10, if valid { 0 } else { DATA_NOT_VALID });
                        if quarter {
                            r.interval_min = 15;
                        }
                        let a = indexed.readings(SM, terminals[t], Arrival::Pushed, &[r], now);
                        let b = every.readings(SM, terminals[t], Arrival::Pushed, &[r], now);
                        proptest::prop_assert_eq!(a, b);
                    }
                    Step::Fill(t) => {
                        let rows: Vec<Row> = (0..)
                            .map(slot)
                            .take_while(|s| *s <= now)
                            .map(|s| row(s, 10, 0))
                            .collect();
                        let a = indexed.readings(SM, terminals[t], Arrival::Backfilled, &rows, now);
                        let b = every.readings(SM, terminals[t], Arrival::Backfilled, &rows, now);
                        proptest::prop_assert_eq!(a, b);
                    }
                    Step::Done(o) => {
                        if !under_way.is_empty() {
                            let request = under_way.remove(0);
                            let outcome = [Outcome::Done, Outcome::Refused, Outcome::Failed][usize::from(o)];
                            indexed.done(request, outcome, now);
                            every.done(request, outcome, now);
                        }
                    }
                    Step::Block { t, blocked } => {
                        indexed.set_blocked(terminals[t], blocked);
                        every.set_blocked(terminals[t], blocked);
                    }
                }
            }
        }
    }
}
