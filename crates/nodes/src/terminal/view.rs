//! The load profile as a view of the terminal's store (TRM-03/06): the rows are kept
//! once, in the store, and a DLMS read of the load profile reads them there — with the
//! range the client asked for, so a reading session's few slots do not fetch the 90
//! days kept. What a row shows is what the store holds: the two registers in Wh (lower 8
//! digits) and the status byte, bit 6 (ours) for a value recovered from the meter's
//! history.
//!
//! A missing slot (the meter could not be read) has no values in the store; its row
//! shows those of the newest valid row before it — what the registers held — flagged not
//! valid (bit 2), never a zero a client could take for a counter reset.

use chrono::{DateTime, TimeDelta, Utc};
use dlms::cosem::{ProfileRow, RowSource, SourceError, Value};
use echonet::energy::MeterReading;

use super::store::{MeterKey, Reading, SharedStore, StoreError};

/// A row's registers in Wh, lower 8 digits (TRM-03/05), or `None` when missing.
#[must_use]
pub fn energy_wh(row: &Reading) -> Option<(u32, u32)> {
    let wh = |v: MeterReading| u32::try_from(v.energy().wh() % 100_000_000).unwrap_or(0);
    Some((wh(row.ac_in?), wh(row.ac_out?)))
}

/// The load profile's status byte of `row`: its status bits, and bit 6 (ours) when its
/// values were recovered from the meter's history, so that a DLMS client can tell a
/// recovered row from one read at its slot.
#[must_use]
pub fn profile_status(row: &Reading) -> u8 {
    if row.recovered {
        row.status.0 | dlms::cosem::model::status::RECOVERED
    } else {
        row.status.0
    }
}

/// One meter's rows of the store, as the load profile shows them.
#[derive(Debug)]
pub struct StoreRows {
    store: SharedStore,
    meter: MeterKey,
}

impl StoreRows {
    /// `meter`'s rows of `store`.
    #[must_use]
    pub const fn new(store: SharedStore, meter: MeterKey) -> Self {
        Self { store, meter }
    }
}

fn source_error(e: &StoreError) -> SourceError {
    SourceError(e.to_string())
}

impl RowSource for StoreRows {
    fn rows_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<ProfileRow>, usize), SourceError> {
        let store = self.store.lock().map_err(|e| source_error(&e))?;
        let rows = store
            .range(self.meter, from, to)
            .map_err(|e| source_error(&e))?;
        let newer = match to.checked_add_signed(TimeDelta::nanoseconds(1)) {
            Some(after) => store
                .range(self.meter, after, DateTime::<Utc>::MAX_UTC)
                .map_err(|e| source_error(&e))?
                .len(),
            None => 0,
        };
        // The values a missing slot at the range's start shows: the newest valid row's
        // before it, looked for only then.
        let mut held = match rows.first() {
            Some(first) if energy_wh(first).is_none() => {
                match first.slot.checked_sub_signed(TimeDelta::nanoseconds(1)) {
                    Some(before) => store
                        .range(self.meter, DateTime::<Utc>::MIN_UTC, before)
                        .map_err(|e| source_error(&e))?
                        .iter()
                        .rev()
                        .find_map(energy_wh)
                        .unwrap_or_default(),
                    None => (0, 0),
                }
            }
            _ => (0, 0),
        };
        drop(store);
        let shown = rows
            .iter()
            .map(|row| {
                if let Some(wh) = energy_wh(row) {
                    held = wh;
                }
                ProfileRow {
                    time: row.slot,
                    clock_status: 0,
                    values: vec![
                        Value::DoubleLongUnsigned(held.0),
                        Value::DoubleLongUnsigned(held.1),
                        Value::Unsigned(profile_status(row)),
                    ],
                }
            })
            .collect();
        Ok((shown, newer))
    }

    fn last_time(&self) -> Result<Option<DateTime<Utc>>, SourceError> {
        let store = self.store.lock().map_err(|e| source_error(&e))?;
        Ok(store
            .last(self.meter)
            .map_err(|e| source_error(&e))?
            .map(|r| r.slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::slots::Interval;
    use crate::terminal::store::{MemoryStore, ReadingStore, Status};
    use chrono::TimeZone;
    use dlms::cosem::model::status::{DATA_NOT_VALID, RECOVERED};
    use echonet::energy::EnergyUnit;

    fn slot(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap() + TimeDelta::minutes(30 * n)
    }

    fn measured(n: i64, digits: u32) -> Reading {
        let unit = EnergyUnit::from_code(0x02).unwrap();
        Reading {
            slot: slot(n),
            interval: Interval::Half,
            ac_in: MeterReading::from_digits(digits, unit).ok(),
            ac_out: MeterReading::from_digits(digits / 10, unit).ok(),
            meter_id: Some(b"M1".to_vec()),
            status: Status::default(),
            recovered: false,
            read_at: Some(slot(n)),
        }
    }

    fn missing(n: i64) -> Reading {
        Reading::missing(slot(n), Interval::Half, Status::default())
    }

    /// (time, in, out, status) of each row shown.
    fn shown(rows: &[ProfileRow]) -> Vec<(DateTime<Utc>, Value, Value, Value)> {
        rows.iter()
            .map(|r| {
                (
                    r.time,
                    r.values[0].clone(),
                    r.values[1].clone(),
                    r.values[2].clone(),
                )
            })
            .collect()
    }

    fn row(n: i64, wh: (u32, u32), status: u8) -> (DateTime<Utc>, Value, Value, Value) {
        (
            slot(n),
            Value::DoubleLongUnsigned(wh.0),
            Value::DoubleLongUnsigned(wh.1),
            Value::Unsigned(status),
        )
    }

    /// TRM-06: the rows shown are the store's, of the served meter only: a measured
    /// slot with its registers in Wh, a missing one flagged not valid with the values of
    /// the newest valid row before it (looked for before the range when the range starts
    /// with it; none before: 0), a recovered one with bit 6; and how many rows are newer
    /// than the range.
    #[test]
    fn trm06_a_missing_slot_shows_the_values_before_it_flagged_not_valid() {
        let mut store = SharedStore::new(MemoryStore::new());
        let first = measured(1, 1000);
        let mut recovered = measured(4, 1500);
        recovered.recovered = true;
        for r in [missing(0), first.clone(), missing(2), missing(3)] {
            store.put(MeterKey::FIRST, &r).unwrap();
        }
        store.put(MeterKey::FIRST, &recovered).unwrap();
        store.put(MeterKey(1), &measured(2, 7777)).unwrap();
        let rows = StoreRows::new(store, MeterKey::FIRST);
        let wh = energy_wh(&first).unwrap();
        let later = energy_wh(&recovered).unwrap();
        assert_ne!(wh, later);
        let (all, newer) = rows
            .rows_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .unwrap();
        assert_eq!(newer, 0);
        assert_eq!(
            shown(&all),
            vec![
                row(0, (0, 0), DATA_NOT_VALID),
                row(1, wh, 0),
                row(2, wh, DATA_NOT_VALID),
                row(3, wh, DATA_NOT_VALID),
                row(4, later, RECOVERED),
            ]
        );
        let (two, newer) = rows.rows_between(slot(3), slot(3)).unwrap();
        assert_eq!(shown(&two), vec![row(3, wh, DATA_NOT_VALID)]);
        assert_eq!(newer, 1);
        assert_eq!(rows.last_time(), Ok(Some(slot(4))));
    }
}
