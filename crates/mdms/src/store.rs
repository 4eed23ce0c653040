//! Where the MDMS keeps raw readings and derived slots: the [`MdmsStore`] trait, so that
//! the rules (crate::Mdms, crate::vee) are written once and a server database can
//! replace SQLite without touching them, and [`MemoryStore`], the model the property
//! tests hold the SQLite store to.
//!
//! A store decides nothing: which reading counts, what a slot holds and what replaces
//! what are the caller's. It keeps readings (never changed, never removed), slots
//! (replaced by range when recomputed) and the validation limits it was created with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::MdmsError;
use crate::ids::SupplyPoint;
use crate::reading::RawReading;
use crate::slot::Slot;
use crate::vee::Vee;

/// Which slots: of one point or all, with `from <= start < to` (either bound open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this supply point.
    pub point: Option<SupplyPoint>,
    /// Slots starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Slots starting before.
    pub to: Option<DateTime<Utc>>,
}

impl Filter {
    /// Whether `slot` passes.
    #[must_use]
    pub fn admits(&self, slot: &Slot) -> bool {
        self.point.as_ref().is_none_or(|p| *p == slot.point)
            && self.from.is_none_or(|f| slot.start >= f)
            && self.to.is_none_or(|t| slot.start < t)
    }
}

/// The storage the MDMS runs on. Every change between [`MdmsStore::begin`] and
/// [`MdmsStore::commit`] becomes visible and durable together, or (after
/// [`MdmsStore::rollback`], or a crash) not at all.
pub trait MdmsStore {
    /// Start a transaction.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn begin(&mut self) -> Result<(), MdmsError>;

    /// Make the transaction's changes durable.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn commit(&mut self) -> Result<(), MdmsError>;

    /// Drop the transaction's changes.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn rollback(&mut self) -> Result<(), MdmsError>;

    /// The validation limits the store was created with, if any yet.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn vee(&self) -> Result<Option<Vee>, MdmsError>;

    /// Record the validation limits (once, when the store is new).
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn set_vee(&mut self, vee: Vee) -> Result<(), MdmsError>;

    /// The readings of `point` at `boundary`, every delivery of each.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn readings_at(
        &self,
        point: &SupplyPoint,
        boundary: DateTime<Utc>,
    ) -> Result<Vec<RawReading>, MdmsError>;

    /// Keep `reading` (the caller has checked it is not stored already).
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn insert_reading(&mut self, reading: &RawReading) -> Result<(), MdmsError>;

    /// The readings of `point` with `from <= boundary <= to` (either bound open),
    /// ordered by boundary.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn readings(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawReading>, MdmsError>;

    /// The `n` latest boundaries of `point` before `t` with a usable reading
    /// ([`RawReading::usable`]), nearest first; fewer where the series begins. One
    /// question, not `n`: each reading taken asks it.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn usable_before(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError>;

    /// The `n` earliest boundaries of `point` after `t` with a usable reading, nearest
    /// first; fewer where the series ends.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn usable_after(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError>;

    /// Keep `slot`, replacing the point's slot of the same start if there is one.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn put_slot(&mut self, slot: &Slot) -> Result<(), MdmsError>;

    /// Drop the slot of `point` starting at `start`, if there is one.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn delete_slot(&mut self, point: &SupplyPoint, start: DateTime<Utc>) -> Result<(), MdmsError>;

    /// Replace the slots of `point` with `from <= start < to` (either bound open) by
    /// `slots` (each of `point`, in that range, in start order, one per start).
    ///
    /// Only what differs is written: a reading at the series' end changes its own slot
    /// and seldom one before, but the range recomputed around it is several slots wide
    /// (docs/mdms.md, "Recomputation"), and deleting and inserting all of them again was
    /// most of an ingest's writes.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn replace_slots(
        &mut self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        slots: &[Slot],
    ) -> Result<(), MdmsError> {
        let range = Filter {
            point: Some(point.clone()),
            from,
            to,
        };
        let mut stored = Vec::new();
        self.scan_slots(&range, &mut |s| {
            stored.push(s.clone());
            Ok(())
        })?;
        write_differences(self, point, &stored, slots)
    }

    /// Hand every slot `filter` admits to `each`, ordered by point then start; stop at
    /// the first error `each` returns.
    ///
    /// # Errors
    /// [`MdmsError::Store`], or what `each` returned.
    fn scan_slots(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(&Slot) -> Result<(), MdmsError>,
    ) -> Result<(), MdmsError>;

    /// The slots of every point starting at `start`, ordered by point: what the public
    /// server publishes of one slot. A store with an index by start overrides it; this
    /// one scans with a filter.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    fn slots_starting(&self, start: DateTime<Utc>) -> Result<Vec<Slot>, MdmsError> {
        let filter = Filter {
            point: None,
            from: Some(start),
            to: Some(start + chrono::TimeDelta::nanoseconds(1)),
        };
        let mut out = Vec::new();
        self.scan_slots(&filter, &mut |s| {
            out.push(s.clone());
            Ok(())
        })?;
        Ok(out)
    }
}

/// Make `point`'s slots that were `stored` (in start order) be `slots` (in start
/// order): each slot that is new or changed put, each stored start with no new slot
/// deleted.
///
/// # Errors
/// [`MdmsError::Store`].
pub(crate) fn write_differences<S: MdmsStore + ?Sized>(
    store: &mut S,
    point: &SupplyPoint,
    stored: &[Slot],
    slots: &[Slot],
) -> Result<(), MdmsError> {
    debug_assert!(slots.windows(2).all(|w| w[0].start < w[1].start));
    let mut old = stored.iter().peekable();
    for s in slots {
        while let Some(gone) = old.next_if(|o| o.start < s.start) {
            store.delete_slot(point, gone.start)?;
        }
        if old.next_if(|o| o.start == s.start).as_ref() != Some(&s) {
            store.put_slot(s)?;
        }
    }
    for gone in old {
        store.delete_slot(point, gone.start)?;
    }
    Ok(())
}

/// Everything a store holds, in memory.
#[derive(Debug, Clone, Default)]
struct Contents {
    vee: Option<Vee>,
    readings: BTreeMap<(SupplyPoint, DateTime<Utc>), Vec<RawReading>>,
    slots: BTreeMap<(SupplyPoint, DateTime<Utc>), Slot>,
}

/// A store in memory: tests, and the simulator until it runs the MDMS on a file.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    now: Contents,
    /// What to go back to on rollback, while a transaction is open.
    before: Option<Contents>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn key_range(
    point: &SupplyPoint,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> std::ops::RangeInclusive<(SupplyPoint, DateTime<Utc>)> {
    (point.clone(), from.unwrap_or(DateTime::<Utc>::MIN_UTC))
        ..=(point.clone(), to.unwrap_or(DateTime::<Utc>::MAX_UTC))
}

impl MdmsStore for MemoryStore {
    fn begin(&mut self) -> Result<(), MdmsError> {
        if self.before.is_some() {
            return Err(MdmsError::Store("a transaction is open already".into()));
        }
        self.before = Some(self.now.clone());
        Ok(())
    }

    fn commit(&mut self) -> Result<(), MdmsError> {
        self.before
            .take()
            .map(drop)
            .ok_or_else(|| MdmsError::Store("no transaction to commit".into()))
    }

    fn rollback(&mut self) -> Result<(), MdmsError> {
        let before = self
            .before
            .take()
            .ok_or_else(|| MdmsError::Store("no transaction to roll back".into()))?;
        self.now = before;
        Ok(())
    }

    fn vee(&self) -> Result<Option<Vee>, MdmsError> {
        Ok(self.now.vee)
    }

    fn set_vee(&mut self, vee: Vee) -> Result<(), MdmsError> {
        self.now.vee = Some(vee);
        Ok(())
    }

    fn readings_at(
        &self,
        point: &SupplyPoint,
        boundary: DateTime<Utc>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        Ok(self
            .now
            .readings
            .get(&(point.clone(), boundary))
            .cloned()
            .unwrap_or_default())
    }

    fn insert_reading(&mut self, reading: &RawReading) -> Result<(), MdmsError> {
        self.now
            .readings
            .entry((reading.point.clone(), reading.boundary))
            .or_default()
            .push(reading.clone());
        Ok(())
    }

    fn readings(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        Ok(self
            .now
            .readings
            .range(key_range(point, from, to))
            .flat_map(|(_, rs)| rs.iter().cloned())
            .collect())
    }

    fn usable_before(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        Ok(self
            .now
            .readings
            .range(key_range(point, None, Some(t)))
            .rev()
            .filter(|((_, b), rs)| *b < t && rs.iter().any(RawReading::usable))
            .map(|((_, b), _)| *b)
            .take(n)
            .collect())
    }

    fn usable_after(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        Ok(self
            .now
            .readings
            .range(key_range(point, Some(t), None))
            .filter(|((_, b), rs)| *b > t && rs.iter().any(RawReading::usable))
            .map(|((_, b), _)| *b)
            .take(n)
            .collect())
    }

    fn put_slot(&mut self, slot: &Slot) -> Result<(), MdmsError> {
        self.now
            .slots
            .insert((slot.point.clone(), slot.start), slot.clone());
        Ok(())
    }

    fn delete_slot(&mut self, point: &SupplyPoint, start: DateTime<Utc>) -> Result<(), MdmsError> {
        self.now.slots.remove(&(point.clone(), start));
        Ok(())
    }

    fn scan_slots(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(&Slot) -> Result<(), MdmsError>,
    ) -> Result<(), MdmsError> {
        self.now
            .slots
            .values()
            .filter(|s| filter.admits(s))
            .try_for_each(each)
    }
}
