//! The latest readings and slots of every point, in memory, in front of a store
//! ([`Tailed`]): a reading arriving in order (after every other of its point, as nearly
//! all do) is classified and its slots recomputed without reading the store back.
//!
//! Each ingest asks the store what is stored at the reading's boundary, the usable
//! boundaries around it, the readings between and the slots it recomputes (docs/mdms.md,
//! "Recomputation"): five questions for one reading, each a search of the store's
//! indexes, which in a store of millions of points are mostly pages not in memory. The
//! answers for a reading after the point's others all lie within the point's last few
//! usable boundaries, which this layer keeps. Every write goes through to the store at
//! once (the store stays the truth, what other readers see, and what survives a
//! crash); a question the tail cannot answer in full goes to the store.
//!
//! It holds as long as nothing else writes the store: the MDMS is its store's only
//! writer (the head end's feed; `iotroute mdms` commands only read).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::MdmsError;
use crate::ids::SupplyPoint;
use crate::reading::RawReading;
use crate::slot::Slot;
use crate::store::{write_differences, Filter, MdmsStore};
use crate::vee::Vee;

/// Usable boundaries of a point whose readings are kept: the recomputation of a reading
/// after them reads from the fifth usable boundary before it (`READ_REACH` in the
/// engine).
const READINGS_KEPT: usize = 5;

/// Usable boundaries of a point from which its slots are kept: the recomputation of a
/// reading after them rewrites from the third usable boundary before it (`SLOT_REACH`).
const SLOTS_KEPT: usize = 3;

/// Whether a window kept from `kept` (`None`: from the series' start) holds everything
/// at or after `asked` (`None`: from the series' start).
fn covers(kept: Option<DateTime<Utc>>, asked: Option<DateTime<Utc>>) -> bool {
    kept.is_none_or(|k| asked.is_some_and(|a| a >= k))
}

/// One point's latest readings and slots.
#[derive(Debug, Default)]
struct Tail {
    /// Every reading of the point at or after this boundary is in `readings`.
    readings_from: Option<DateTime<Utc>>,
    /// In boundary order, each boundary's in the order they were stored.
    readings: Vec<RawReading>,
    /// Every slot of the point starting at or after this is in `slots`.
    slots_from: Option<DateTime<Utc>>,
    /// In start order.
    slots: Vec<Slot>,
}

impl Tail {
    /// The boundaries with a usable reading, latest first.
    fn usable_latest_first(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let mut last = None;
        self.readings
            .iter()
            .rev()
            .filter(|r| r.usable())
            .map(|r| r.boundary)
            .filter(move |b| last.replace(*b) != Some(*b))
    }

    fn readings(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Option<Vec<RawReading>> {
        covers(self.readings_from, from).then(|| {
            self.readings
                .iter()
                .filter(|r| from.is_none_or(|f| r.boundary >= f))
                .filter(|r| to.is_none_or(|t| r.boundary <= t))
                .cloned()
                .collect()
        })
    }

    fn usable_before(&self, t: DateTime<Utc>, n: usize) -> Option<Vec<DateTime<Utc>>> {
        let found: Vec<_> = self
            .usable_latest_first()
            .filter(|b| *b < t)
            .take(n)
            .collect();
        (found.len() == n || self.readings_from.is_none()).then_some(found)
    }

    fn usable_after(&self, t: DateTime<Utc>, n: usize) -> Option<Vec<DateTime<Utc>>> {
        if !covers(self.readings_from, Some(t)) {
            return None;
        }
        let mut found: Vec<_> = self.usable_latest_first().filter(|b| *b > t).collect();
        found.reverse();
        found.truncate(n);
        Some(found)
    }

    fn slots(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<&[Slot]> {
        if !covers(self.slots_from, from) {
            return None;
        }
        let lo = self
            .slots
            .partition_point(|s| from.is_some_and(|f| s.start < f));
        let hi = self
            .slots
            .partition_point(|s| to.is_none_or(|t| s.start < t));
        Some(&self.slots[lo..hi.max(lo)])
    }

    fn insert(&mut self, reading: &RawReading) {
        if covers(self.readings_from, Some(reading.boundary)) {
            let at = self
                .readings
                .partition_point(|r| r.boundary <= reading.boundary);
            self.readings.insert(at, reading.clone());
        }
    }

    /// What the store now holds for `from <= start < to`: `slots`; kept where the tail
    /// keeps slots.
    fn replace_slots(
        &mut self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        slots: &[Slot],
    ) {
        let kept = |s: &Slot| self.slots_from.is_none_or(|k| s.start >= k);
        let inside = |s: &Slot| from.is_none_or(|f| s.start >= f) && to.is_none_or(|t| s.start < t);
        let new: Vec<Slot> = slots.iter().filter(|s| kept(s)).cloned().collect();
        self.slots.retain(|s| !inside(s));
        let at = self
            .slots
            .partition_point(|s| from.is_some_and(|f| s.start < f));
        self.slots.splice(at..at, new);
    }

    /// `point`'s tail as `store` holds it: from its fifth latest usable boundary, or the
    /// whole series when it has fewer.
    fn load<S: MdmsStore>(store: &S, point: &SupplyPoint) -> Result<Self, MdmsError> {
        let usable = store.usable_before(point, DateTime::<Utc>::MAX_UTC, READINGS_KEPT)?;
        let from = usable.get(READINGS_KEPT - 1).copied();
        let mut slots = Vec::new();
        let filter = Filter {
            point: Some(point.clone()),
            from,
            to: None,
        };
        store.scan_slots(&filter, &mut |s| {
            slots.push(s.clone());
            Ok(())
        })?;
        Ok(Self {
            readings_from: from,
            readings: store.readings(point, from, None)?,
            slots_from: from,
            slots,
        })
    }

    /// Drop what a reading after the kept ones does not ask for.
    fn trim(&mut self) {
        let nth = |n: usize| self.usable_latest_first().nth(n - 1);
        let (readings_from, slots_from) = (nth(READINGS_KEPT), nth(SLOTS_KEPT));
        if let Some(f) = readings_from.filter(|f| covers(self.readings_from, Some(*f))) {
            self.readings_from = Some(f);
            let cut = self.readings.partition_point(|r| r.boundary < f);
            self.readings.drain(..cut);
        }
        // Room for the next boundary's reading and its slot, no more: a point's tail
        // that once held a batch of its readings (a backfill) would keep that room.
        self.readings.shrink_to(READINGS_KEPT + 2);
        if let Some(f) = slots_from.filter(|f| covers(self.slots_from, Some(*f))) {
            self.slots_from = Some(f);
            let cut = self.slots.partition_point(|s| s.start < f);
            self.slots.drain(..cut);
        }
        self.slots.shrink_to(SLOTS_KEPT + 2);
    }
}

/// A store with each point's latest readings and slots kept in memory in front of it
/// (see the module's documentation). Answers every question as the store alone would.
#[derive(Debug)]
pub struct Tailed<S> {
    inner: S,
    tails: HashMap<SupplyPoint, Tail>,
    /// Points written in the open transaction: trimmed when it commits.
    touched: HashSet<SupplyPoint>,
}

impl<S: MdmsStore> Tailed<S> {
    /// `inner` with the tails kept in front of it.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            tails: HashMap::new(),
            touched: HashSet::new(),
        }
    }

    /// The answer of `point`'s tail when it holds one in full, else the store's.
    fn ask<R>(
        &self,
        point: &SupplyPoint,
        tail: impl FnOnce(&Tail) -> Option<R>,
        store: impl FnOnce(&S) -> Result<R, MdmsError>,
    ) -> Result<R, MdmsError> {
        match self.tails.get(point).and_then(tail) {
            Some(found) => Ok(found),
            None => store(&self.inner),
        }
    }

    /// `point`'s tail, read from the store if it is not kept yet, marked written in this
    /// transaction, with the store it stands in front of (both borrowed at once).
    fn touch(&mut self, point: &SupplyPoint) -> Result<(&mut S, &mut Tail), MdmsError> {
        let Self {
            inner,
            tails,
            touched,
        } = self;
        let tail = match tails.entry(point.clone()) {
            Entry::Occupied(kept) => kept.into_mut(),
            Entry::Vacant(new) => new.insert(Tail::load(inner, point)?),
        };
        touched.insert(point.clone());
        Ok((inner, tail))
    }
}

impl<S: MdmsStore> MdmsStore for Tailed<S> {
    fn begin(&mut self) -> Result<(), MdmsError> {
        self.inner.begin()
    }

    fn commit(&mut self) -> Result<(), MdmsError> {
        self.inner.commit()?;
        for point in self.touched.drain() {
            if let Some(tail) = self.tails.get_mut(&point) {
                tail.trim();
            }
        }
        Ok(())
    }

    /// What the transaction wrote is gone from the store: so are the tails (read again
    /// from the store when next needed).
    fn rollback(&mut self) -> Result<(), MdmsError> {
        self.tails.clear();
        self.touched.clear();
        self.inner.rollback()
    }

    fn vee(&self) -> Result<Option<Vee>, MdmsError> {
        self.inner.vee()
    }

    fn set_vee(&mut self, vee: Vee) -> Result<(), MdmsError> {
        self.inner.set_vee(vee)
    }

    fn readings_at(
        &self,
        point: &SupplyPoint,
        boundary: DateTime<Utc>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        self.ask(
            point,
            |t| t.readings(Some(boundary), Some(boundary)),
            |s| s.readings_at(point, boundary),
        )
    }

    fn insert_reading(&mut self, reading: &RawReading) -> Result<(), MdmsError> {
        let (inner, tail) = self.touch(&reading.point)?;
        inner.insert_reading(reading)?;
        tail.insert(reading);
        Ok(())
    }

    fn readings(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        self.ask(
            point,
            |t| t.readings(from, to),
            |s| s.readings(point, from, to),
        )
    }

    fn usable_before(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        self.ask(
            point,
            |tail| tail.usable_before(t, n),
            |s| s.usable_before(point, t, n),
        )
    }

    fn usable_after(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        self.ask(
            point,
            |tail| tail.usable_after(t, n),
            |s| s.usable_after(point, t, n),
        )
    }

    fn put_slot(&mut self, slot: &Slot) -> Result<(), MdmsError> {
        let (inner, tail) = self.touch(&slot.point)?;
        inner.put_slot(slot)?;
        let next = slot.start + TimeDelta::seconds(1);
        tail.replace_slots(Some(slot.start), Some(next), std::slice::from_ref(slot));
        Ok(())
    }

    fn delete_slot(&mut self, point: &SupplyPoint, start: DateTime<Utc>) -> Result<(), MdmsError> {
        let (inner, tail) = self.touch(point)?;
        inner.delete_slot(point, start)?;
        tail.replace_slots(Some(start), Some(start + TimeDelta::seconds(1)), &[]);
        Ok(())
    }

    /// From the tail when it holds the range: only the slots that differ are written to
    /// the store, with no question asked of it.
    fn replace_slots(
        &mut self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        slots: &[Slot],
    ) -> Result<(), MdmsError> {
        let (inner, tail) = self.touch(point)?;
        match tail.slots(from, to) {
            Some(stored) => write_differences(inner, point, stored, slots)?,
            None => inner.replace_slots(point, from, to, slots)?,
        }
        tail.replace_slots(from, to, slots);
        Ok(())
    }

    fn scan_slots(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(&Slot) -> Result<(), MdmsError>,
    ) -> Result<(), MdmsError> {
        self.inner.scan_slots(filter, each)
    }

    fn slots_starting(&self, start: DateTime<Utc>) -> Result<Vec<Slot>, MdmsError> {
        self.inner.slots_starting(start)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::questions::{drive, op, Ask};
    use crate::store::MemoryStore;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The tails answer every question as the store alone: after any writes,
        /// commits and rollbacks, at every boundary and range asked.
        #[test]
        fn a_store_with_tails_answers_as_the_store_alone(ops in prop::collection::vec(op(), 1..60)) {
            let mut tailed = Tailed::new(MemoryStore::new());
            drive(&ops, &mut tailed, &mut MemoryStore::new(), Ask::EveryStep)?;
        }
    }
}
