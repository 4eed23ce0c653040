//! The terminal's reading store (TRM-03, TRM-06): one row per slot boundary, written
//! through [`ReadingStore`] so that the node knows nothing of the database (SQLite in
//! the daemon, [`MemoryStore`] in tests and the simulator).
//!
//! A row is written once. What may happen to it afterwards is narrow, so that no reading
//! is ever silently altered: the same row again changes nothing (a retransmission); a
//! *missing* row (the meter did not answer) may be filled in once the value is recovered
//! from the meter's history; anything else is refused as a [`StoreError::Conflict`].
//!
//! Rows are kept per meter ([`MeterKey`], SYS-04): one meter per terminal today, so that
//! N meters per terminal is an extension of the node, not of every store.

use core::num::NonZeroU32;

use chrono::{DateTime, Utc};
use echonet::energy::MeterReading;

use super::slots::Interval;

/// Which of the terminal's meters a row is from (SYS-04): the meter's place on the
/// terminal, [`MeterKey::FIRST`] for the one a terminal serves today. The place, not the
/// meter's identity: a meter replaced in it goes on in the same series, its rows flagged
/// until it is accepted (SEC-07).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeterKey(pub u8);

impl MeterKey {
    /// The first (today: the only) meter.
    pub const FIRST: Self = Self(0);
}

/// The status byte of a row, in the IDIS "AMR profile status" layout the DLMS load
/// profile carries (docs/iot-route-cosem.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Status(pub u8);

impl Status {
    /// Bit 1: the terminal's clock was not set (by the smart meter or the handy
    /// terminal) when the row was taken: its time is not to be trusted (TRM-09).
    pub const CLOCK_INVALID: u8 = dlms::cosem::model::status::CLOCK_INVALID;
    /// Bit 2: data not valid — the meter could not be read for this slot.
    pub const DATA_NOT_VALID: u8 = dlms::cosem::model::status::DATA_NOT_VALID;
    /// Bit 5: the clock was adjusted during the interval.
    pub const CLOCK_ADJUSTED: u8 = dlms::cosem::model::status::CLOCK_ADJUSTED;
    /// Bit 0 **(ours**, IDIS "critical error"): read from a meter whose ID (0xD1) is not
    /// the registered one — a replaced or wrong meter (SEC-07); flagged until the new
    /// meter is accepted.
    pub const METER_ID_MISMATCH: u8 = 1 << 0;

    /// Whether `bit` is set.
    #[must_use]
    pub const fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// One slot's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The slot boundary the values belong to (the cumulative energy at that instant).
    pub slot: DateTime<Utc>,
    /// The interval in force.
    pub interval: Interval,
    /// AC input (forward flow, 0xE0), lower 8 digits and unit; `None`: missing.
    pub ac_in: Option<MeterReading>,
    /// AC output (reverse flow, 0xE2); `None`: missing.
    pub ac_out: Option<MeterReading>,
    /// The meter's ID (0xD1) as read with the values.
    pub meter_id: Option<Vec<u8>>,
    /// Status bits.
    pub status: Status,
    /// Taken afterwards from the meter's own history (0xD5, 0xE1/0xE3), not read at its
    /// slot.
    pub recovered: bool,
    /// When it was read (the terminal's clock); `None` for a missing row.
    pub read_at: Option<DateTime<Utc>>,
}

impl Reading {
    /// The row of a slot whose meter could not be read: no values, data not valid.
    #[must_use]
    pub const fn missing(slot: DateTime<Utc>, interval: Interval, status: Status) -> Self {
        Self {
            slot,
            interval,
            ac_in: None,
            ac_out: None,
            meter_id: None,
            status: Status(status.0 | Status::DATA_NOT_VALID),
            recovered: false,
            read_at: None,
        }
    }

    /// Whether the row holds no values.
    #[must_use]
    pub const fn is_missing(&self) -> bool {
        self.ac_in.is_none() && self.ac_out.is_none()
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// A new row.
    Inserted,
    /// The same row was there already.
    Unchanged,
    /// A missing row filled in with recovered values.
    Filled,
}

/// Why a write or read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A row for this slot exists with other values: never overwritten.
    #[error("slot {slot}: a different row is stored already (never overwritten)")]
    Conflict {
        /// The slot.
        slot: DateTime<Utc>,
    },
    /// The database failed (message from it).
    #[error("store: {0}")]
    Backend(String),
    /// A time the store cannot keep exactly (the memory store keeps nanoseconds since
    /// 1970 in 64 bits: 1677-09-21 to 2262-04-11).
    #[error("{at}: outside the times the store keeps (1677 to 2262)")]
    OutOfRange {
        /// The time.
        at: DateTime<Utc>,
    },
}

/// Where the terminal keeps its rows, per meter.
pub trait ReadingStore {
    /// Write `row` of `meter` (see the module documentation for what an existing row
    /// allows).
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::Backend`], [`StoreError::OutOfRange`] (a time
    /// the store cannot keep exactly).
    fn put(&mut self, meter: MeterKey, row: &Reading) -> Result<Put, StoreError>;

    /// The rows of `meter` with `from <= slot <= to`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn range(
        &self,
        meter: MeterKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Reading>, StoreError>;

    /// The newest row of `meter`.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn last(&self, meter: MeterKey) -> Result<Option<Reading>, StoreError>;

    /// Drop the rows before `t`, of every meter (retention); how many.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn prune_before(&mut self, t: DateTime<Utc>) -> Result<usize, StoreError>;
}

/// A store that two owners read: the node, which writes it, and the load profile that
/// shows its rows ([`super::view::StoreRows`], TRM-06), read by the DLMS server. Each
/// call takes the lock for itself.
///
/// Lock order: whoever holds the DLMS model's lock may take this one (a read of the
/// load profile); nobody holding this one takes the model's — the node writes the store
/// and only then takes the model's lock to show what it wrote.
#[derive(Clone)]
pub struct SharedStore(std::sync::Arc<std::sync::Mutex<Box<dyn ReadingStore + Send>>>);

impl core::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedStore")
    }
}

impl SharedStore {
    /// `store`, to be shared.
    #[must_use]
    pub fn new(store: impl ReadingStore + Send + 'static) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(Box::new(store))))
    }

    /// The store, locked.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a holder of the lock panicked.
    pub fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Box<dyn ReadingStore + Send>>, StoreError> {
        self.0.lock().map_err(|_| {
            tracing::error!("the store's lock is poisoned");
            StoreError::Backend("store lock poisoned".to_owned())
        })
    }
}

impl ReadingStore for SharedStore {
    fn put(&mut self, meter: MeterKey, row: &Reading) -> Result<Put, StoreError> {
        self.lock()?.put(meter, row)
    }

    fn range(
        &self,
        meter: MeterKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Reading>, StoreError> {
        self.lock()?.range(meter, from, to)
    }

    fn last(&self, meter: MeterKey) -> Result<Option<Reading>, StoreError> {
        self.lock()?.last(meter)
    }

    fn prune_before(&mut self, t: DateTime<Utc>) -> Result<usize, StoreError> {
        self.lock()?.prune_before(t)
    }
}

/// The decision every store makes for a row written over `existing`.
///
/// # Errors
/// [`StoreError::Conflict`].
pub fn merge(existing: &Reading, row: &Reading) -> Result<Put, StoreError> {
    if existing == row {
        Ok(Put::Unchanged)
    } else if existing.is_missing() && !row.is_missing() && row.recovered {
        Ok(Put::Filled)
    } else {
        Err(StoreError::Conflict { slot: row.slot })
    }
}

/// Rows in memory (tests, the simulator), kept compact — a large simulated run holds
/// one per terminal —: per meter a vector in slot order (rows come in order, a late
/// one goes in its place), and the meter's ID, the same in nearly every row, once per
/// distinct value. A row held about 220 bytes, its own copy of the ID among them; in a
/// map keyed by (meter, slot) about 130, the map's half-full nodes included; then 56,
/// then 48, now 40 ([`Row`], its slot and read time in nanoseconds: a time outside
/// 1677 to 2262 is refused, [`StoreError::OutOfRange`], never kept rounded).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// Per meter, its rows by slot.
    rows: Vec<(MeterKey, Vec<Slotted>)>,
    /// Every distinct meter ID stored, at the index rows name.
    ids: Vec<Vec<u8>>,
}

/// A row and its slot, in nanoseconds since 1970 ([`nanos`]).
type Slotted = (i64, Row);

/// A time in nanoseconds since 1970, exactly; `None` outside 1677 to 2262.
fn nanos(t: DateTime<Utc>) -> Option<i64> {
    t.timestamp_nanos_opt()
}

/// A range's bound in nanoseconds since 1970: outside what [`nanos`] keeps, below or
/// above every time kept.
fn nanos_bound(t: DateTime<Utc>) -> i64 {
    nanos(t).unwrap_or(if t < DateTime::UNIX_EPOCH {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A [`Reading`] as [`MemoryStore`] keeps it: its optional read time as nanoseconds and
/// a flag, and its meter ID as an index that is never zero, where two `Option`s took 12
/// bytes more than their values (a row and its slot 56 bytes, then 48 with times of 12
/// bytes, now 40).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    ac_in: Option<MeterReading>,
    ac_out: Option<MeterReading>,
    /// When it was read, nanoseconds since 1970; only with [`Row::READ_AT`] in `flags`.
    read_at: i64,
    /// One more than the index into [`MemoryStore::ids`].
    meter_id: Option<NonZeroU32>,
    interval: Interval,
    status: Status,
    /// [`Row::RECOVERED`], [`Row::READ_AT`].
    flags: u8,
}

impl Row {
    /// [`Reading::recovered`].
    const RECOVERED: u8 = 1;
    /// [`Reading::read_at`] is `Some(read_at)`.
    const READ_AT: u8 = 2;
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `reading` as kept, its meter ID added to the distinct ones if new.
    ///
    /// # Errors
    /// [`StoreError::OutOfRange`] for a read time it cannot keep (checked before the ID
    /// is added); [`StoreError::Backend`] for a store that holds `u32::MAX` distinct IDs
    /// already.
    fn row(&mut self, reading: &Reading) -> Result<Row, StoreError> {
        let read_at = match reading.read_at {
            None => 0,
            Some(at) => nanos(at).ok_or(StoreError::OutOfRange { at })?,
        };
        let meter_id = match reading.meter_id.as_ref() {
            None => None,
            Some(id) => {
                let at = self
                    .ids
                    .iter()
                    .position(|known| known == id)
                    .unwrap_or_else(|| {
                        self.ids.push(id.clone());
                        self.ids.len() - 1
                    });
                let index = u32::try_from(at + 1).ok().and_then(NonZeroU32::new);
                Some(index.ok_or_else(|| {
                    tracing::error!(slot = %reading.slot, "store holds too many distinct meter IDs");
                    StoreError::Backend("too many distinct meter IDs".to_owned())
                })?)
            }
        };
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        Ok(Row {
            ac_in: reading.ac_in,
            ac_out: reading.ac_out,
            read_at,
            meter_id,
            interval: reading.interval,
            status: reading.status,
            flags: flag(reading.recovered, Row::RECOVERED)
                | flag(reading.read_at.is_some(), Row::READ_AT),
        })
    }

    /// `meter`'s rows, oldest first.
    fn of(&self, meter: MeterKey) -> &[Slotted] {
        self.rows
            .iter()
            .find(|(m, _)| *m == meter)
            .map_or(&[], |(_, rows)| rows.as_slice())
    }

    /// The reading of `slot` (nanoseconds since 1970) kept as `row`.
    fn reading(&self, slot: i64, row: &Row) -> Reading {
        let id = |i: NonZeroU32| {
            usize::try_from(i.get() - 1)
                .ok()
                .and_then(|i| self.ids.get(i))
                .cloned()
        };
        let has = |bit: u8| row.flags & bit != 0;
        Reading {
            slot: DateTime::from_timestamp_nanos(slot),
            interval: row.interval,
            ac_in: row.ac_in,
            ac_out: row.ac_out,
            meter_id: row.meter_id.and_then(id),
            status: row.status,
            recovered: has(Row::RECOVERED),
            read_at: has(Row::READ_AT).then(|| DateTime::from_timestamp_nanos(row.read_at)),
        }
    }
}

impl ReadingStore for MemoryStore {
    fn put(&mut self, meter: MeterKey, row: &Reading) -> Result<Put, StoreError> {
        let slot = nanos(row.slot).ok_or_else(|| {
            tracing::error!(slot = %row.slot, "a slot outside the times the store keeps");
            StoreError::OutOfRange { at: row.slot }
        })?;
        let rows = self.of(meter);
        let at = rows.binary_search_by_key(&slot, |r| r.0);
        let outcome = match at {
            Ok(i) => merge(&self.reading(slot, &rows[i].1), row)?,
            Err(_) => Put::Inserted,
        };
        if outcome != Put::Unchanged {
            let kept = self.row(row).inspect_err(|e| {
                tracing::error!(slot = %row.slot, error = %e, "row not kept");
            })?;
            let rows = match self.rows.iter().position(|(m, _)| *m == meter) {
                Some(i) => &mut self.rows[i].1,
                None => {
                    self.rows.push((meter, Vec::new()));
                    self.rows.sort_by_key(|(m, _)| *m);
                    let i = self.rows.iter().position(|(m, _)| *m == meter).unwrap_or(0);
                    &mut self.rows[i].1
                }
            };
            match at {
                Ok(i) => rows[i].1 = kept,
                Err(i) => {
                    // As the load profile's buffer grows (by half its rows, 4 to 16 at
                    // a time), not doubling: a store a few rows past a power of two held
                    // nearly twice its rows; sixteen at a time, a day's 49 held 64.
                    if rows.len() == rows.capacity() {
                        rows.reserve_exact(dlms::cosem::profile::rows_growth(rows.len()));
                    }
                    rows.insert(i, (slot, kept));
                }
            }
        }
        Ok(outcome)
    }

    fn range(
        &self,
        meter: MeterKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Reading>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let rows = self.of(meter);
        let (from, to) = (nanos_bound(from), nanos_bound(to));
        let (first, last) = (
            rows.partition_point(|r| r.0 < from),
            rows.partition_point(|r| r.0 <= to),
        );
        Ok(rows
            .get(first..last)
            .unwrap_or_default()
            .iter()
            .map(|(slot, r)| self.reading(*slot, r))
            .collect())
    }

    fn last(&self, meter: MeterKey) -> Result<Option<Reading>, StoreError> {
        Ok(self
            .of(meter)
            .last()
            .map(|(slot, r)| self.reading(*slot, r)))
    }

    fn prune_before(&mut self, t: DateTime<Utc>) -> Result<usize, StoreError> {
        let t = nanos_bound(t);
        let mut pruned = 0;
        for (_, rows) in &mut self.rows {
            let old = rows.partition_point(|r| r.0 < t);
            rows.drain(..old);
            pruned += old;
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use echonet::energy::EnergyUnit;

    const M: MeterKey = MeterKey::FIRST;

    fn slot(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap() + TimeDelta::minutes(30 * n)
    }

    fn measured(n: i64, value: u32) -> Reading {
        let unit = EnergyUnit::from_code(0x02).unwrap();
        Reading {
            slot: slot(n),
            interval: Interval::Half,
            ac_in: MeterReading::from_digits(value, unit).ok(),
            ac_out: MeterReading::from_digits(0, unit).ok(),
            meter_id: Some(b"M1".to_vec()),
            status: Status::default(),
            recovered: false,
            read_at: Some(slot(n)),
        }
    }

    #[test]
    fn a_row_and_its_slot_are_kept_in_40_bytes() {
        assert_eq!(core::mem::size_of::<Slotted>(), 40);
    }

    #[test]
    fn trm03_a_time_the_store_cannot_keep_exactly_is_refused_not_rounded() {
        let far = Utc.with_ymd_and_hms(2263, 1, 1, 0, 0, 0).unwrap();
        let mut s = MemoryStore::new();
        let late_slot = Reading {
            slot: far,
            ..measured(0, 100)
        };
        assert_eq!(
            s.put(M, &late_slot),
            Err(StoreError::OutOfRange { at: far })
        );
        let late_read = Reading {
            read_at: Some(far),
            ..measured(0, 100)
        };
        assert_eq!(
            s.put(M, &late_read),
            Err(StoreError::OutOfRange { at: far })
        );
        assert!(s.ids.is_empty(), "a refused row's meter ID was kept");
        // Bounds past the range read as below or above every row.
        assert_eq!(s.put(M, &measured(0, 100)), Ok(Put::Inserted));
        let early = Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(s.range(M, early, far).unwrap(), vec![measured(0, 100)]);
        assert_eq!(s.prune_before(early), Ok(0));
        assert_eq!(s.prune_before(far), Ok(1));
    }

    #[test]
    fn a_store_grows_by_half_its_rows_four_to_sixteen_at_a_time() {
        let mut s = MemoryStore::new();
        let room = |s: &MemoryStore| s.rows[0].1.capacity();
        for n in 0..200 {
            assert_eq!(s.put(M, &measured(n, 100)), Ok(Put::Inserted));
            let len = usize::try_from(n + 1).unwrap();
            let spare = room(&s) - len;
            assert!(
                spare < (len / 2).clamp(4, 16),
                "{len} rows, room for {}",
                room(&s)
            );
        }
        let mut day = MemoryStore::new();
        for n in 0..49 {
            day.put(M, &measured(n, 100)).unwrap();
        }
        assert_eq!(room(&day), 56, "a day's rows (sixteen at a time: 64)");
    }

    proptest::proptest! {
        /// TRM-03: whatever a row holds comes back as it was written — the read time
        /// and meter ID the store keeps in a compact form included.
        #[test]
        fn trm03_a_row_comes_back_as_written(
            n in 0i64..1000,
            ac_in in proptest::option::of(0u32..100_000_000),
            ac_out in proptest::option::of(0u32..100_000_000),
            id in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..8)),
            status in proptest::num::u8::ANY,
            recovered in proptest::bool::ANY,
            read_at in proptest::option::of(-4_000_000_000i64..4_000_000_000, ),
            quarter in proptest::bool::ANY,
        ) {
            let unit = EnergyUnit::from_code(0x02).unwrap();
            let row = Reading {
                slot: slot(n),
                interval: if quarter { Interval::Quarter } else { Interval::Half },
                ac_in: ac_in.map(|v| MeterReading::from_digits(v, unit).unwrap()),
                ac_out: ac_out.map(|v| MeterReading::from_digits(v, unit).unwrap()),
                meter_id: id,
                status: Status(status),
                recovered,
                read_at: read_at.map(|ms| DateTime::from_timestamp_millis(ms).unwrap()),
            };
            let mut s = MemoryStore::new();
            s.put(M, &measured(n + 1, 7)).unwrap();
            proptest::prop_assert_eq!(s.put(M, &row), Ok(Put::Inserted));
            proptest::prop_assert_eq!(s.range(M, row.slot, row.slot).unwrap(), vec![row.clone()]);
            proptest::prop_assert_eq!(s.put(M, &row), Ok(Put::Unchanged));
        }
    }

    #[test]
    fn sec07_rows_come_back_with_the_meter_id_each_was_read_with() {
        let mut s = MemoryStore::new();
        let with = |n, id: Option<&[u8]>| Reading {
            meter_id: id.map(<[u8]>::to_vec),
            ..measured(n, 100 + u32::try_from(n).unwrap())
        };
        let rows = vec![
            with(0, Some(b"M1")),
            with(1, Some(b"M2")),
            with(2, None),
            with(3, Some(b"M1")),
            with(4, Some(b"M2")),
        ];
        for r in &rows {
            assert_eq!(s.put(M, r), Ok(Put::Inserted));
            assert_eq!(s.put(M, r), Ok(Put::Unchanged), "the same row again");
        }
        assert!(
            s.put(M, &with(3, Some(b"M2"))).is_err(),
            "another meter's row for a slot held"
        );
        assert_eq!(s.range(M, slot(0), slot(4)).unwrap(), rows);
        assert_eq!(s.last(M).unwrap().as_ref(), rows.last());
    }

    #[test]
    fn trm03_a_row_is_never_silently_altered_and_a_missing_one_filled_only_by_recovery() {
        let mut s = MemoryStore::new();
        assert_eq!(s.put(M, &measured(0, 100)), Ok(Put::Inserted));
        assert_eq!(s.put(M, &measured(0, 100)), Ok(Put::Unchanged));
        assert_eq!(
            s.put(M, &measured(0, 101)),
            Err(StoreError::Conflict { slot: slot(0) })
        );
        let gap = Reading::missing(slot(1), Interval::Half, Status::default());
        assert!(gap.status.has(Status::DATA_NOT_VALID));
        assert_eq!(s.put(M, &gap), Ok(Put::Inserted));
        // A reading taken late is not a recovery: refused.
        assert!(s.put(M, &measured(1, 105)).is_err());
        let recovered = Reading {
            recovered: true,
            status: Status::default(),
            ..measured(1, 105)
        };
        assert_eq!(s.put(M, &recovered), Ok(Put::Filled));
        // A missing row never replaces a value.
        assert!(s
            .put(
                M,
                &Reading::missing(slot(0), Interval::Half, Status::default())
            )
            .is_err());
        assert_eq!(s.range(M, slot(0), slot(1)).unwrap().len(), 2);
        assert_eq!(s.last(M).unwrap().map(|r| r.slot), Some(slot(1)));
        assert_eq!(s.prune_before(slot(1)), Ok(1));
        assert_eq!(s.range(M, slot(0), slot(5)).unwrap(), vec![recovered]);
    }

    #[test]
    fn sys04_each_meter_keeps_its_own_rows_and_retention_covers_them_all() {
        let mut s = MemoryStore::new();
        let other = MeterKey(1);
        assert_eq!(s.put(M, &measured(0, 100)), Ok(Put::Inserted));
        // The same slot of another meter is another row, not a conflict.
        assert_eq!(s.put(other, &measured(0, 500)), Ok(Put::Inserted));
        assert_eq!(s.put(other, &measured(1, 501)), Ok(Put::Inserted));
        assert_eq!(
            s.range(M, slot(0), slot(5)).unwrap(),
            vec![measured(0, 100)]
        );
        assert_eq!(s.last(M).unwrap(), Some(measured(0, 100)));
        assert_eq!(s.last(other).unwrap(), Some(measured(1, 501)));
        assert_eq!(s.last(MeterKey(2)).unwrap(), None);
        assert_eq!(s.prune_before(slot(1)), Ok(2));
        assert_eq!(s.range(M, slot(0), slot(5)).unwrap(), vec![]);
        assert_eq!(
            s.range(other, slot(0), slot(5)).unwrap(),
            vec![measured(1, 501)]
        );
    }
}
