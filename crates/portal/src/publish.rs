//! What to publish, and when a message is issued again: a retailer's message whose
//! values differ from its last issue (by a digest of every value of every record) is
//! issued whole under the next update number; one whose values are the same is not
//! issued again. Sans-IO: records in, issues out to the store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use edi::files::{self, File};
use edi::{FileName, InfoCode, PartyCode, Record};
use sha2::{Digest, Sha256};

use crate::error::PortalError;
use crate::store::PortalStore;

/// One issue of a retailer's message: its files, all of one update number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The retailer.
    pub retailer: PartyCode,
    /// The message.
    pub info: InfoCode,
    /// Its time: the slot's start (Japan time), or midnight of its day.
    pub at: NaiveDateTime,
    /// Its update number.
    pub update: u8,
    /// The digest of its values ([`digest`]).
    pub digest: [u8; 32],
    /// When it was published.
    pub created: DateTime<Utc>,
    /// Its files (split by point).
    pub files: Vec<File>,
}

/// What a publication issued, for a log line or a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The retailer.
    pub retailer: PartyCode,
    /// Its files, by name.
    pub files: Vec<FileName>,
    /// The records they hold.
    pub records: usize,
}

/// The digest of `records`' values (points, slots, energies, counters, quality,
/// terminal, receipt time), in the order given: what tells a message issued again with
/// other values from the same message.
#[must_use]
pub fn digest(records: &[Record]) -> [u8; 32] {
    let mut h = Sha256::new();
    for r in records {
        h.update(r.point.as_str().as_bytes());
        h.update(r.terminal);
        h.update(r.slot_start.timestamp().to_be_bytes());
        h.update([r.interval_min]);
        for v in [r.in_wh, r.out_wh, r.cum_in_wh, r.cum_out_wh] {
            h.update(v.to_be_bytes());
        }
        h.update(r.quality.as_str().as_bytes());
        match r.received_at.and_then(|t| t.timestamp_nanos_opt()) {
            Some(ns) => h.update([[1u8].as_slice(), &ns.to_be_bytes()].concat()),
            None => h.update([0u8]),
        }
    }
    h.finalize().into()
}

/// The publisher: the utility's sender code and the store.
#[derive(Debug)]
pub struct Publisher<S> {
    sender: PartyCode,
    store: S,
}

impl<S: PortalStore> Publisher<S> {
    /// A publisher for `sender` keeping its issues in `store`.
    pub const fn new(sender: PartyCode, store: S) -> Self {
        Self { sender, store }
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// The store, the publisher done with.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The slot messages at `now` of the records of one slot, by retailer: a message per
    /// retailer and interval whose values are not those of its last issue.
    ///
    /// # Errors
    /// [`PortalError::Edi`]: records of several slots for one retailer and interval, a
    /// point twice; [`PortalError::UpdatesExhausted`]; the store's errors.
    pub fn slot(
        &mut self,
        now: DateTime<Utc>,
        by_retailer: BTreeMap<PartyCode, Vec<Record>>,
    ) -> Result<Vec<Published>, PortalError> {
        self.publish(now, None, by_retailer)
    }

    /// The daily messages at `now` of the records of day `date` (Japan time), by
    /// retailer, as [`Publisher::slot`].
    ///
    /// # Errors
    /// As [`Publisher::slot`], and records of another day.
    pub fn daily(
        &mut self,
        now: DateTime<Utc>,
        date: NaiveDate,
        by_retailer: BTreeMap<PartyCode, Vec<Record>>,
    ) -> Result<Vec<Published>, PortalError> {
        self.publish(now, Some(date), by_retailer)
    }

    /// The slot messages (`day` none) or the daily messages of `day`, one per retailer
    /// and interval.
    fn publish(
        &mut self,
        now: DateTime<Utc>,
        day: Option<NaiveDate>,
        by_retailer: BTreeMap<PartyCode, Vec<Record>>,
    ) -> Result<Vec<Published>, PortalError> {
        let mut published = Vec::new();
        for (retailer, records) in by_retailer {
            for (interval, mut records) in by_interval(records) {
                let info = match day {
                    None => InfoCode::slot(interval),
                    Some(_) => InfoCode::daily(interval),
                };
                let Some(info) = info else {
                    continue;
                };
                records.sort_by_key(|r| (r.slot_start, r.point));
                let at = match (day, records.first()) {
                    (Some(d), _) => d.and_hms_opt(0, 0, 0).unwrap_or_default(),
                    (None, Some(r)) => r.local_start(),
                    (None, None) => continue,
                };
                let sender = self.sender;
                published.extend(self.issue(
                    now,
                    retailer,
                    info,
                    at,
                    records,
                    |update, records| match day {
                        None => files::slot(sender, retailer, now, update, records),
                        Some(d) => files::daily(sender, retailer, now, d, update, records),
                    },
                )?);
            }
        }
        Ok(published)
    }

    /// Issue `retailer`'s `info` message at `at` of `records` (sorted by slot, then
    /// point) unless its last issue has the same values.
    fn issue(
        &mut self,
        now: DateTime<Utc>,
        retailer: PartyCode,
        info: InfoCode,
        at: NaiveDateTime,
        records: Vec<Record>,
        build: impl FnOnce(u8, Vec<Record>) -> Result<Vec<File>, edi::EdiError>,
    ) -> Result<Option<Published>, PortalError> {
        let digest = digest(&records);
        let last = self.store.last_issue(&retailer, info, at)?;
        let update = match last {
            Some((_, d)) if d == digest => return Ok(None),
            Some((u, _)) if u >= 99 => {
                return Err(PortalError::UpdatesExhausted { retailer, info, at })
            }
            Some((u, _)) => u + 1,
            None => 0,
        };
        let count = records.len();
        let files = build(update, records)?;
        let issue = Issue {
            retailer,
            info,
            at,
            update,
            digest,
            created: now,
            files,
        };
        self.store.put_issue(&issue)?;
        tracing::info!(%retailer, %info, %at, update, files = issue.files.len(), records = count, "published");
        Ok(Some(Published {
            retailer,
            files: issue.files.iter().map(|f| f.name).collect(),
            records: count,
        }))
    }
}

/// `records` by their interval (a retailer's 15- and 30-minute points go in messages
/// of their own).
fn by_interval(records: Vec<Record>) -> BTreeMap<u8, Vec<Record>> {
    let mut out: BTreeMap<u8, Vec<Record>> = BTreeMap::new();
    for r in records {
        out.entry(r.interval_min).or_default().push(r);
    }
    out
}
