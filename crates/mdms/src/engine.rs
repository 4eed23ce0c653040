//! The MDMS over a store: ingest raw readings (idempotent, in one transaction per
//! batch), recompute the slots around what changed, answer queries and export.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};

use crate::error::MdmsError;
use crate::export::{Format, Writer};
use crate::ids::SupplyPoint;
use crate::reading::{RawReading, ReadingError};
use crate::slot::{QualityCounts, Slot};
use crate::store::{Filter, MdmsStore};
use crate::vee::{self, Vee};

/// A reading of a batch that was refused, and why (it is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its place in the batch.
    pub index: usize,
    /// Why.
    pub error: ReadingError,
}

/// What one ingest did with its batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Readings of a boundary not seen before, or that fill one whose readings had no
    /// usable counters.
    pub new: u64,
    /// Readings already stored: the very same (nothing kept), or the same measurement
    /// delivered again at another time or way (the delivery kept).
    pub duplicate: u64,
    /// Readings whose measurement differs from one stored for the boundary (both with
    /// usable counters, or both without): kept, counted, logged; docs/mdms.md says which
    /// one counts.
    pub conflict: u64,
    /// Readings refused.
    pub rejected: Vec<Rejected>,
    /// Slots written by the recomputation.
    pub slots: u64,
}

/// What a reading is to the readings already stored for its boundary.
enum Arrived {
    New,
    Duplicate,
    Redelivered,
    Conflict,
}

fn classify(reading: &RawReading, stored: &[RawReading]) -> Arrived {
    if stored.contains(reading) {
        Arrived::Duplicate
    } else if stored
        .iter()
        .any(|s| s.measurement() == reading.measurement())
    {
        Arrived::Redelivered
    } else if stored.iter().any(|s| s.usable() == reading.usable()) {
        Arrived::Conflict
    } else {
        Arrived::New
    }
}

/// How many usable boundaries before the first and after the last changed one a reading
/// can change slots up to (see `Mdms::recompute`).
const SLOT_REACH: usize = 3;

/// How many usable boundaries on each side the readings those slots are derived from
/// reach: two more, to judge every outlier that decides them with both its neighbours.
const READ_REACH: usize = SLOT_REACH + 2;

/// The meter data management system over a store `S`.
#[derive(Debug)]
pub struct Mdms<S> {
    store: S,
    vee: Vee,
}

impl<S: MdmsStore> Mdms<S> {
    /// The MDMS on `store` with the validation limits `vee`: recorded if the store is
    /// new, checked against the recorded ones otherwise.
    ///
    /// # Errors
    /// [`MdmsError::VeeMismatch`], [`MdmsError::Store`].
    pub fn new(mut store: S, vee: Vee) -> Result<Self, MdmsError> {
        match store.vee()? {
            Some(stored) if stored != vee => Err(MdmsError::VeeMismatch { stored, given: vee }),
            Some(_) => Ok(Self { store, vee }),
            None => {
                store.begin()?;
                if let Err(e) = store.set_vee(vee).and_then(|()| store.commit()) {
                    let _ = store.rollback();
                    return Err(e);
                }
                Ok(Self { store, vee })
            }
        }
    }

    /// The MDMS on an existing `store`, with the limits it was created with.
    ///
    /// # Errors
    /// [`MdmsError::NotInitialised`], [`MdmsError::Store`].
    pub fn open(store: S) -> Result<Self, MdmsError> {
        let vee = store.vee()?.ok_or(MdmsError::NotInitialised)?;
        Ok(Self { store, vee })
    }

    /// The validation limits in force.
    #[must_use]
    pub const fn vee(&self) -> Vee {
        self.vee
    }

    /// The store.
    #[must_use]
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// Take in `batch`: every valid reading kept (a reading already stored only
    /// counted), the invalid ones refused and listed, then the slots around what
    /// changed recomputed, all in one transaction. Idempotent: the same batch again
    /// changes nothing; and the slots depend on the set of readings taken in, not on
    /// their order or batching.
    ///
    /// # Errors
    /// [`MdmsError::Store`]: nothing of the batch is kept.
    pub fn ingest(&mut self, batch: &[RawReading]) -> Result<IngestReport, MdmsError> {
        self.store.begin()?;
        let result = self.ingest_in_transaction(batch);
        match result {
            Ok(report) => match self.store.commit() {
                Ok(()) => Ok(report),
                Err(e) => {
                    let _ = self.store.rollback();
                    Err(e)
                }
            },
            Err(e) => {
                let _ = self.store.rollback();
                tracing::error!(error = %e, readings = batch.len(), "ingest failed, nothing of the batch kept");
                Err(e)
            }
        }
    }

    fn ingest_in_transaction(&mut self, batch: &[RawReading]) -> Result<IngestReport, MdmsError> {
        let mut report = IngestReport::default();
        // Per point, the earliest and latest boundary whose readings changed.
        let mut changed: BTreeMap<SupplyPoint, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
        // Taken by boundary, then point, as the store lays them out (sqlite.rs), not in
        // the order they arrived, which is the radio's: at a million points each reading
        // in arrival order went to a page of its own in every index, read from the disk
        // and written back. The sort is stable, so the deliveries of one point and
        // boundary are stored in their order of arrival as before; the outcome does not
        // depend on the order (tests/stores.rs), and refusals are reported by index.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| {
            (batch[a].boundary, &batch[a].point).cmp(&(batch[b].boundary, &batch[b].point))
        });
        for index in order {
            let reading = &batch[index];
            if let Err(error) = reading.validate() {
                tracing::warn!(index, point = %reading.point, %error, "reading refused");
                report.rejected.push(Rejected { index, error });
                continue;
            }
            let stored = self.store.readings_at(&reading.point, reading.boundary)?;
            match classify(reading, &stored) {
                Arrived::Duplicate => {
                    report.duplicate += 1;
                    continue;
                }
                Arrived::Redelivered => report.duplicate += 1,
                Arrived::New => report.new += 1,
                Arrived::Conflict => {
                    report.conflict += 1;
                    tracing::warn!(
                        point = %reading.point,
                        boundary = %reading.boundary,
                        terminal = %reading.terminal,
                        "a different reading for a boundary already stored: both kept, the first received counts"
                    );
                }
            }
            self.store.insert_reading(reading)?;
            changed
                .entry(reading.point.clone())
                .and_modify(|(lo, hi)| {
                    *lo = (*lo).min(reading.boundary);
                    *hi = (*hi).max(reading.boundary);
                })
                .or_insert((reading.boundary, reading.boundary));
        }
        for (point, (first, last)) in changed {
            report.slots += self.recompute(&point, first, last)?;
        }
        report.rejected.sort_by_key(|r| r.index);
        Ok(report)
    }

    /// Recompute the slots of `point` that readings at `first..=last` can change, and
    /// only those, so that a reading costs the same however long the point's history.
    ///
    /// A reading changes whether it and its usable neighbours are suspect, hence
    /// whether the boundaries up to two usable ones away are outliers, hence the
    /// counters (read or estimated) up to the third usable boundary on each side: the
    /// slots from the third usable boundary before `first` to the third after `last` (or
    /// the ends of the series). Judging those outliers takes two usable boundaries more
    /// on each side, so they are derived from readings five usable boundaries wide. A
    /// slot outside depends only on readings outside (docs/mdms.md, "Recomputation").
    fn recompute(
        &mut self,
        point: &SupplyPoint,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> Result<u64, MdmsError> {
        // The n-th usable boundary on a side, or the series' open end.
        let nth = |v: &[DateTime<Utc>], n: usize| v.get(n - 1).copied();
        let before = self.store.usable_before(point, first, READ_REACH)?;
        let after = self.store.usable_after(point, last, READ_REACH)?;
        let (from, to) = (nth(&before, SLOT_REACH), nth(&after, SLOT_REACH));
        let (read_from, read_to) = (nth(&before, READ_REACH), nth(&after, READ_REACH));
        let readings = self.store.readings(point, read_from, read_to)?;
        let derived = vee::derive(point, &readings, self.vee);
        // Outside `from..to` the derivation lacks readings to judge by: what it finds
        // there is neither kept nor logged.
        let inside = |t: DateTime<Utc>| from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e);
        for (start, channel, failure) in &derived.failures {
            if inside(*start) {
                tracing::warn!(%point, boundary = %start, channel, ?failure, "failed validation: the slots are estimated, the readings kept");
            }
        }
        let slots: Vec<_> = derived
            .slots
            .into_iter()
            .filter(|s| inside(s.start))
            .collect();
        self.store.replace_slots(point, from, to, &slots)?;
        Ok(slots.len() as u64)
    }

    /// The slots of `point` with `from <= start < to`, in time order.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    pub fn slots(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<Slot>, MdmsError> {
        let filter = Filter {
            point: Some(point.clone()),
            from,
            to,
        };
        let mut out = Vec::new();
        self.store.scan_slots(&filter, &mut |s| {
            out.push(s.clone());
            Ok(())
        })?;
        Ok(out)
    }

    /// The raw readings of `point` with `from <= boundary <= to`, every one kept.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    pub fn readings(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        self.store.readings(point, from, to)
    }

    /// How many slots `filter` admits, per quality.
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    pub fn counts(&self, filter: &Filter) -> Result<QualityCounts, MdmsError> {
        let mut counts = QualityCounts::default();
        self.store.scan_slots(filter, &mut |s| {
            counts.add(s.quality);
            Ok(())
        })?;
        Ok(counts)
    }

    /// Write the slots `filter` admits to `out` in `format`, ordered by point then slot;
    /// how many.
    ///
    /// # Errors
    /// [`MdmsError::Io`], [`MdmsError::Store`].
    pub fn export(
        &self,
        filter: &Filter,
        out: &mut dyn Write,
        format: Format,
    ) -> Result<u64, MdmsError> {
        let mut writer = Writer::start(out, format)?;
        self.store
            .scan_slots(filter, &mut |s| writer.row(s).map_err(MdmsError::from))?;
        Ok(writer.finish()?)
    }
}
