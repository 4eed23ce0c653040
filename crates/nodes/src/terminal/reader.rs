//! Reading the meter at every slot boundary (TRM-03/04/07), sans-IO.
//!
//! At each boundary the reader asks the terminal's ECHONET controller for one meter
//! reading (0xD1, 0xD4, 0xE0, 0xE2 in one Get; the controller keeps the lower 8 digits
//! and retransmits on its own). An attempt that fails is tried again
//! [`ReaderConfig::retry_after`] later, up to [`ReaderConfig::attempts`], while the slot
//! lasts; a slot that ends unread is stored as a *missing* row (no values, data not
//! valid) — never a zero, never the previous value. Boundaries that passed while the
//! terminal was down, or while a read was still under way, are stored as missing rows
//! too, for recovery from the meter's own history.
//!
//! **Recovery (TRM-03).** After a slot is read, missing rows within the meter's
//! 30-minute history ([`ReaderConfig::history_days`]) are filled from it, a day at a
//! time (0xD5 set to the day, then 0xE1/0xE3): the value the meter recorded at the
//! boundary, marked *recovered*. Rows at :15/:45 (15-minute interval) have no history
//! and stay missing; so do slots the meter did not record either.
//!
//! Two clocks, as everywhere in `nodes`: the monotonic `now` the controller's timeouts
//! run on, and the terminal's wall clock `wall` (UTC; JST boundaries fall on the same
//! instants), which the smart meter or the handy terminal may set (TRM-09). Until it has
//! been set, rows carry [`Status::CLOCK_INVALID`].

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use echonet::Eoj;

use super::slots::Interval;
use super::store::{MeterKey, Reading, ReadingStore, Status, StoreError};
use crate::controller::{Controller, Event, HistoryReadout, RequestId};

/// How the reader retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderConfig {
    /// Attempts per slot **(ours: 3)**, each a controller request with its own
    /// retransmissions.
    pub attempts: u8,
    /// Between the end of a failed attempt and the next **(ours: 60 s)**: a meter busy or
    /// restarting gets time, and three attempts fit well inside a 15-minute slot.
    pub retry_after: TimeDelta,
    /// How far back slots missed while the terminal was down are written as missing rows
    /// **(ours: 90 days**, the profile's depth).
    pub gap_limit: TimeDelta,
    /// Days of 30-minute history the meter holds (0xD3; 45 for the emulated meter): how
    /// far back missing rows are recovered.
    pub history_days: u16,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            retry_after: TimeDelta::seconds(60),
            gap_limit: TimeDelta::days(90),
            history_days: 45,
        }
    }
}

/// What the reader counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Rows stored with values.
    pub read: u64,
    /// Rows stored missing.
    pub missing: u64,
    /// Attempts after the first one of a slot.
    pub retries: u64,
    /// Missing rows filled from the meter's history.
    pub recovered: u64,
}

impl ReaderStats {
    /// Both counts together (the node's over its meters).
    #[must_use]
    pub const fn plus(self, other: Self) -> Self {
        Self {
            read: self.read + other.read,
            missing: self.missing + other.missing,
            retries: self.retries + other.retries,
            recovered: self.recovered + other.recovered,
        }
    }
}

/// The slot being read.
#[derive(Debug, Clone, Copy)]
struct Current {
    slot: DateTime<Utc>,
    attempts: u8,
    request: Option<RequestId>,
    /// When to start the next attempt (`None` while one is under way).
    retry_at: Option<DateTime<Utc>>,
}

/// The reader.
#[derive(Debug)]
pub struct SlotReader {
    config: ReaderConfig,
    /// Whose rows it writes (SYS-04).
    key: MeterKey,
    meter: IpAddr,
    eoj: Eoj,
    interval: Interval,
    /// The next boundary to read.
    next: DateTime<Utc>,
    current: Option<Current>,
    /// An interval switch waiting for the next boundary (TRM-11).
    pending_interval: Option<Interval>,
    /// The first boundary of a new interval and the interval, once a switch took effect
    /// and until the node takes it ([`SlotReader::take_switch`]).
    switched: Option<(DateTime<Utc>, Interval)>,
    clock_valid: bool,
    /// The meter ID (0xD1) registered for this terminal (SEC-07): the first read when
    /// none was given.
    registered_meter: Option<Vec<u8>>,
    /// The history request under way: its id and the JST date it covers.
    recovering: Option<(RequestId, NaiveDate)>,
    /// The half-hour slots of the missing rows in the store, kept as rows are written
    /// (`None` until the first recovery looks: then read from the store once, for the
    /// rows written before a restart). Each reading looks for missing rows to recover
    /// (TRM-04): reading the store's whole retention (up to 45 days of rows, each
    /// cloned) at every slot cost more the longer a terminal ran.
    missing: Option<BTreeSet<DateTime<Utc>>>,
    stats: ReaderStats,
}

impl SlotReader {
    /// A reader of the meter at `meter`/`eoj`, whose rows are `key`'s, starting at
    /// `wall`: the slots after its last row that passed while the terminal was down are
    /// written as missing rows (at most [`ReaderConfig::gap_limit`] back); the next
    /// boundary is read.
    ///
    /// # Errors
    /// [`StoreError`] from writing the missing rows.
    pub fn resume(
        config: ReaderConfig,
        key: MeterKey,
        meter: IpAddr,
        eoj: Eoj,
        interval: Interval,
        wall: DateTime<Utc>,
        store: &mut dyn ReadingStore,
    ) -> Result<Self, StoreError> {
        let mut reader = Self {
            config,
            key,
            meter,
            eoj,
            interval,
            next: interval.next_after(wall),
            current: None,
            pending_interval: None,
            switched: None,
            clock_valid: false,
            registered_meter: None,
            recovering: None,
            missing: None,
            stats: ReaderStats::default(),
        };
        if let Some(last) = store.last(reader.key)? {
            // TRM-11: a terminal that restarts with another interval than its last row's
            // (switched by a client before it went down) goes on with the last row's
            // until a boundary of the new one, as a switch while it runs does.
            if last.interval != interval {
                reader.interval = last.interval;
                reader.pending_interval = Some(interval);
            }
            let from = last.slot.max(wall - config.gap_limit);
            let mut slot = reader.interval.next_after(from);
            while slot <= wall {
                reader.reach(slot);
                reader.store_missing(slot, store)?;
                slot = reader.interval.next_after(slot);
            }
            reader.next = slot;
        }
        Ok(reader)
    }

    /// Whose rows it writes.
    #[must_use]
    pub const fn key(&self) -> MeterKey {
        self.key
    }

    /// The meter's address and object.
    #[must_use]
    pub const fn meter(&self) -> (IpAddr, Eoj) {
        (self.meter, self.eoj)
    }

    /// What it counted.
    #[must_use]
    pub const fn stats(&self) -> ReaderStats {
        self.stats
    }

    /// The interval in force.
    #[must_use]
    pub const fn interval(&self) -> Interval {
        self.interval
    }

    /// Switch to `interval` at the next boundary that is one of the new interval's too
    /// (TRM-11): that boundary is read, and the boundaries after it follow the new
    /// interval — no slot lost or read twice, every slot on its interval's grid. From
    /// 30 minutes that is the next boundary; from 15, the next full or half hour (a
    /// 30-minute slot never starts at a quarter past).
    pub fn switch_interval(&mut self, interval: Interval) {
        self.pending_interval = (interval != self.interval).then_some(interval);
    }

    /// The boundary from which its rows follow a new interval, and the interval, once
    /// since the last call (TRM-11): at the boundary after a switch, or at a restart
    /// with another interval than the last row's.
    pub fn take_switch(&mut self) -> Option<(DateTime<Utc>, Interval)> {
        self.switched.take()
    }

    /// Register the meter's ID (SEC-07): readings from any other ID are flagged
    /// [`Status::METER_ID_MISMATCH`] until this is called with the new one.
    pub fn register_meter(&mut self, id: Vec<u8>) {
        self.registered_meter = Some(id);
    }

    /// The registered meter ID.
    #[must_use]
    pub fn registered_meter(&self) -> Option<&[u8]> {
        self.registered_meter.as_deref()
    }

    /// Whether the wall clock has been set (TRM-09); until then rows are flagged.
    pub fn set_clock_valid(&mut self, valid: bool) {
        self.clock_valid = valid;
    }

    /// When [`SlotReader::poll`] next has something to do (wall clock).
    #[must_use]
    pub fn next_wakeup(&self) -> DateTime<Utc> {
        match &self.current {
            Some(c) => c
                .retry_at
                .unwrap_or(c.slot + self.slot_length())
                .min(c.slot + self.slot_length()),
            None => self.next,
        }
    }

    fn slot_length(&self) -> TimeDelta {
        TimeDelta::seconds(self.interval.seconds())
    }

    fn status(&self) -> Status {
        if self.clock_valid {
            Status::default()
        } else {
            Status(Status::CLOCK_INVALID)
        }
    }

    fn store_missing(
        &mut self,
        slot: DateTime<Utc>,
        store: &mut dyn ReadingStore,
    ) -> Result<(), StoreError> {
        tracing::warn!(%slot, "meter not read for this slot: missing row");
        store.put(
            self.key,
            &Reading::missing(slot, self.interval, self.status()),
        )?;
        self.stats.missing += 1;
        if let Some(m) = self.missing.as_mut().filter(|_| recoverable(slot)) {
            m.insert(slot);
        }
        Ok(())
    }

    /// Boundary `at` reached: a switch waiting for a boundary of its interval takes
    /// effect if this is one (TRM-11).
    fn reach(&mut self, at: DateTime<Utc>) {
        if let Some(new) = self.pending_interval.filter(|new| new.floor(at) == at) {
            tracing::info!(from = self.interval.minutes(), to = new.minutes(), %at, "reading interval switched");
            self.pending_interval = None;
            self.interval = new;
            self.switched = Some((at, new));
        }
    }

    /// Do what is due at `wall`: close a slot whose time ran out (a missing row), start
    /// the read of a boundary that came, or the next attempt.
    ///
    /// # Errors
    /// [`StoreError`] from writing a row.
    pub fn poll(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        controller: &mut Controller,
        store: &mut dyn ReadingStore,
    ) -> Result<(), StoreError> {
        if let Some(c) = self.current {
            if wall >= c.slot + self.slot_length() {
                if let Some(id) = c.request {
                    controller.cancel(id);
                }
                self.current = None;
                self.store_missing(c.slot, store)?;
            }
        }
        if self.current.is_none() && wall >= self.next {
            // Boundaries skipped (the wall clock jumped, or the host slept): missing,
            // each on the interval in force there.
            let mut due = self.next;
            loop {
                self.reach(due);
                let after = self.interval.next_after(due);
                if after > wall {
                    break;
                }
                self.store_missing(due, store)?;
                due = after;
            }
            self.current = Some(Current {
                slot: due,
                attempts: 0,
                request: None,
                retry_at: Some(wall),
            });
            self.next = self.interval.next_after(due);
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        if c.retry_at.is_some_and(|t| wall >= t) {
            c.retry_at = None;
            c.attempts += 1;
            if c.attempts > 1 {
                self.stats.retries += 1;
            }
            match controller.read_meter(now, self.meter, self.eoj) {
                Ok(id) => c.request = Some(id),
                Err(e) => {
                    tracing::warn!(error = %e, "meter read not started");
                    self.attempt_failed(wall, store)?;
                }
            }
        }
        Ok(())
    }

    /// An event of the controller: the outcome of our read, if it is one (`true`: it was
    /// ours).
    ///
    /// # Errors
    /// [`StoreError`] from writing the row.
    pub fn handle(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        event: &Event,
        controller: &mut Controller,
        store: &mut dyn ReadingStore,
    ) -> Result<bool, StoreError> {
        if let Event::HistoryRead { id, result } = event {
            let Some((_, date)) = self.recovering.filter(|(r, _)| r == id) else {
                return Ok(false);
            };
            self.recovering = None;
            match result {
                Ok(history) => {
                    self.fill_from(wall, date, history, store)?;
                    self.recover_next(now, wall, Some(date), controller, store)?;
                }
                Err(e) => {
                    tracing::warn!(%date, error = %e, "meter history not read: recovery waits for the next reading");
                }
            }
            return Ok(true);
        }
        let Event::MeterRead { id, result } = event else {
            return Ok(false);
        };
        let Some(c) = self.current.filter(|c| c.request == Some(*id)) else {
            return Ok(false);
        };
        match result {
            Ok(readout) => {
                self.current = None;
                let mut status = self.status();
                let registered = self
                    .registered_meter
                    .get_or_insert_with(|| readout.device_id.clone());
                if *registered != readout.device_id {
                    tracing::warn!(slot = %c.slot, "the meter's ID is not the registered one: reading flagged (SEC-07)");
                    status.0 |= Status::METER_ID_MISMATCH;
                }
                let row = Reading {
                    slot: c.slot,
                    interval: self.interval,
                    ac_in: Some(readout.input),
                    ac_out: Some(readout.output),
                    meter_id: Some(readout.device_id.clone()),
                    status,
                    recovered: false,
                    read_at: Some(wall),
                };
                store.put(self.key, &row)?;
                // A clock set back can bring a slot written missing round again.
                if let Some(m) = self.missing.as_mut() {
                    m.remove(&row.slot);
                }
                self.stats.read += 1;
                // The meter answers again: fill what it missed, if anything.
                if self.recovering.is_none() {
                    self.recover_next(now, wall, None, controller, store)?;
                }
            }
            Err(e) => {
                tracing::warn!(slot = %c.slot, attempt = c.attempts, error = %e, "meter read failed");
                self.attempt_failed(wall, store)?;
            }
        }
        Ok(true)
    }

    /// Ask for the history of the oldest day after `after` that holds a recoverable
    /// missing row; the pass ends when none is left.
    fn recover_next(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        after: Option<NaiveDate>,
        controller: &mut Controller,
        store: &mut dyn ReadingStore,
    ) -> Result<(), StoreError> {
        let today = jst_date(wall);
        let oldest = today - TimeDelta::days(i64::from(self.config.history_days) - 1);
        let from = jst_midnight(oldest);
        let missing = match self.missing.as_mut() {
            Some(m) => m,
            None => self.missing.insert(
                store
                    .range(self.key, from, wall)?
                    .into_iter()
                    .filter(|r| r.is_missing() && recoverable(r.slot))
                    .map(|r| r.slot)
                    .collect(),
            ),
        };
        // Older than the meter's history: nothing to recover them from.
        *missing = missing.split_off(&from);
        let lower = after.map_or(from, |a| jst_midnight(a + TimeDelta::days(1)).max(from));
        let next = missing.range(lower..).next().filter(|s| **s <= wall);
        let Some(date) = next.map(|s| jst_date(*s)) else {
            return Ok(());
        };
        let day = u16::try_from((today - date).num_days()).unwrap_or(u16::MAX);
        match controller.read_history(now, self.meter, self.eoj, day) {
            Ok(id) => self.recovering = Some((id, date)),
            Err(e) => tracing::warn!(error = %e, "history read not started"),
        }
        Ok(())
    }

    /// Fill the missing rows of `date` (JST) from its history.
    fn fill_from(
        &mut self,
        wall: DateTime<Utc>,
        date: NaiveDate,
        history: &HistoryReadout,
        store: &mut dyn ReadingStore,
    ) -> Result<(), StoreError> {
        let start = jst_midnight(date);
        let end = start + TimeDelta::days(1) - TimeDelta::seconds(1);
        for row in store.range(self.key, start, end)? {
            if !row.is_missing() || !recoverable(row.slot) {
                continue;
            }
            let k = usize::try_from((row.slot - start).num_minutes() / 30).unwrap_or(usize::MAX);
            let (Some(Some(ac_in)), Some(Some(ac_out))) =
                (history.input.get(k), history.output.get(k))
            else {
                continue;
            };
            let recovered = Reading {
                ac_in: Some(*ac_in),
                ac_out: Some(*ac_out),
                meter_id: Some(history.device_id.clone()),
                status: Status(row.status.0 & !Status::DATA_NOT_VALID),
                recovered: true,
                read_at: Some(wall),
                ..row
            };
            store.put(self.key, &recovered)?;
            if let Some(m) = self.missing.as_mut() {
                m.remove(&recovered.slot);
            }
            self.stats.recovered += 1;
            tracing::info!(slot = %recovered.slot, "missing row recovered from the meter's history");
        }
        Ok(())
    }

    /// An attempt ended without a reading: another one later in the slot, or a missing
    /// row once they are spent.
    fn attempt_failed(
        &mut self,
        wall: DateTime<Utc>,
        store: &mut dyn ReadingStore,
    ) -> Result<(), StoreError> {
        let (length, config) = (self.slot_length(), self.config);
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        c.request = None;
        let retry = wall + config.retry_after;
        if c.attempts < config.attempts && retry < c.slot + length {
            c.retry_at = Some(retry);
            return Ok(());
        }
        let slot = c.slot;
        self.current = None;
        self.store_missing(slot, store)
    }
}

/// Whether a missing row at `slot` can be recovered from the meter's history, which
/// holds half-hour boundaries only.
fn recoverable(slot: DateTime<Utc>) -> bool {
    Interval::Half.floor(slot) == slot
}

/// JST, the meter's and the slots' local time (no daylight saving).
const JST_SECONDS: i64 = 9 * 3600;

/// The JST date of `t`.
fn jst_date(t: DateTime<Utc>) -> NaiveDate {
    (t + TimeDelta::seconds(JST_SECONDS)).date_naive()
}

/// 00:00 JST of `date`, in UTC.
fn jst_midnight(date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    midnight - TimeDelta::seconds(JST_SECONDS)
}
