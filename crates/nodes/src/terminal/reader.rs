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
//! Two clocks, as everywhere in `nodes`: the monotonic `now` the controller's timeouts
//! run on, and the terminal's wall clock `wall` (UTC; JST boundaries fall on the same
//! instants), which the smart meter or the handy terminal may set (TRM-09). Until it has
//! been set, rows carry [`Status::CLOCK_INVALID`].

use std::net::IpAddr;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use echonet::Eoj;

use super::slots::Interval;
use super::store::{Reading, ReadingStore, Status, StoreError};
use crate::controller::{Controller, Event, RequestId};

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
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            retry_after: TimeDelta::seconds(60),
            gap_limit: TimeDelta::days(90),
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
    meter: IpAddr,
    eoj: Eoj,
    interval: Interval,
    /// The next boundary to read.
    next: DateTime<Utc>,
    current: Option<Current>,
    clock_valid: bool,
    stats: ReaderStats,
}

impl SlotReader {
    /// A reader of the meter at `meter`/`eoj` starting at `wall`: the slots after the
    /// store's last row that passed while the terminal was down are written as missing
    /// rows (at most [`ReaderConfig::gap_limit`] back); the next boundary is read.
    ///
    /// # Errors
    /// [`StoreError`] from writing the missing rows.
    pub fn resume(
        config: ReaderConfig,
        meter: IpAddr,
        eoj: Eoj,
        interval: Interval,
        wall: DateTime<Utc>,
        store: &mut dyn ReadingStore,
    ) -> Result<Self, StoreError> {
        let mut reader = Self {
            config,
            meter,
            eoj,
            interval,
            next: interval.next_after(wall),
            current: None,
            clock_valid: false,
            stats: ReaderStats::default(),
        };
        if let Some(last) = store.last()? {
            let from = last.slot.max(wall - config.gap_limit);
            for slot in interval.between(from, wall) {
                reader.store_missing(slot, store)?;
            }
        }
        Ok(reader)
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
        store.put(&Reading::missing(slot, self.interval, self.status()))?;
        self.stats.missing += 1;
        Ok(())
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
            // Boundaries skipped (the wall clock jumped, or the host slept): missing.
            let due = self.interval.floor(wall);
            let skipped: Vec<_> = self
                .interval
                .between(self.next - self.slot_length(), due - self.slot_length())
                .collect();
            for slot in skipped {
                self.store_missing(slot, store)?;
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
        wall: DateTime<Utc>,
        event: &Event,
        store: &mut dyn ReadingStore,
    ) -> Result<bool, StoreError> {
        let Event::MeterRead { id, result } = event else {
            return Ok(false);
        };
        let Some(c) = self.current.filter(|c| c.request == Some(*id)) else {
            return Ok(false);
        };
        match result {
            Ok(readout) => {
                self.current = None;
                let row = Reading {
                    slot: c.slot,
                    interval: self.interval,
                    ac_in: Some(readout.input),
                    ac_out: Some(readout.output),
                    meter_id: Some(readout.device_id.clone()),
                    status: self.status(),
                    recovered: false,
                    read_at: Some(wall),
                };
                store.put(&row)?;
                self.stats.read += 1;
            }
            Err(e) => {
                tracing::warn!(slot = %c.slot, attempt = c.attempts, error = %e, "meter read failed");
                self.attempt_failed(wall, store)?;
            }
        }
        Ok(true)
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
