//! What to publish, and when a message is issued again: a retailer's message whose
//! values differ from its last issue (by a digest of every value of every record) is
//! issued whole under the next update number; one whose values are the same is not
//! issued again. Sans-IO: records in, issues out to the store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use edi::files::{self, File};
use edi::{FileName, InfoCode, PartyCode, Record};
use sha2::{Digest as _, Sha256};

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
    let mut d = Digest::default();
    for r in records {
        d.add(r);
    }
    d.finish()
}

/// [`digest`] taken a record at a time, so that a day's message is digested as its
/// slots are read and never held whole; with the records' count and an order-free
/// check of their values, which the records read again to make the files must match.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    hash: Sha256,
    tally: Tally,
}

/// How many records, and a sum of a hash of each: equal for the same records in any
/// order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    records: usize,
    sum: u64,
}

impl Tally {
    fn add(&mut self, r: &Record) {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::hash::DefaultHasher::new();
        r.point.hash(&mut h);
        r.terminal.hash(&mut h);
        r.slot_start.hash(&mut h);
        (r.interval_min, r.in_wh, r.out_wh, r.cum_in_wh, r.cum_out_wh).hash(&mut h);
        r.quality.as_str().hash(&mut h);
        r.received_at.hash(&mut h);
        self.records += 1;
        self.sum = self.sum.wrapping_add(h.finish());
    }
}

impl Digest {
    /// Add the next record (in the message's order: by slot, then point).
    pub fn add(&mut self, r: &Record) {
        let h = &mut self.hash;
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
        self.tally.add(r);
    }

    /// The digest.
    #[must_use]
    pub fn finish(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

/// A day's records for its daily messages, each with the retailer it goes to: what
/// [`Publisher::daily_streamed`] reads to make the files of the messages it issues.
pub type DayRecords<'a> = &'a mut dyn FnMut(
    &mut dyn FnMut(PartyCode, Record) -> Result<(), PortalError>,
) -> Result<(), PortalError>;

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
        let mut published = Vec::new();
        for (retailer, records) in by_retailer {
            for (interval, mut records) in by_interval(records) {
                let Some(info) = InfoCode::slot(interval) else {
                    continue;
                };
                records.sort_by_key(|r| (r.slot_start, r.point));
                let Some(at) = records.first().map(Record::local_start) else {
                    continue;
                };
                let digest = digest(&records);
                let Some(update) = self.next_update(retailer, info, at, digest)? else {
                    continue;
                };
                let count = records.len();
                let issue = Issue {
                    retailer,
                    info,
                    at,
                    update,
                    digest,
                    created: now,
                    files: files::slot(self.sender, retailer, now, update, records)?,
                };
                published.push(self.put(issue, count)?);
            }
        }
        Ok(published)
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
        let mut digests = BTreeMap::new();
        let mut groups = Vec::new();
        for (retailer, records) in by_retailer {
            for (interval, mut records) in by_interval(records) {
                records.sort_by_key(|r| (r.slot_start, r.point));
                let d: &mut Digest = digests.entry((retailer, interval)).or_default();
                for r in &records {
                    d.add(r);
                }
                records.sort_by_key(|r| (r.point, r.slot_start));
                groups.push((retailer, records));
            }
        }
        self.daily_streamed(now, date, digests, &mut |each| {
            for (retailer, records) in &groups {
                for r in records {
                    each(*retailer, r.clone())?;
                }
            }
            Ok(())
        })
    }

    /// The daily messages at `now` of day `date`, one per retailer and interval,
    /// without holding the day's records: `digests` holds each message's records
    /// digested by slot, then point; `records`, called at most once and only when a
    /// message is to be issued, hands every record of the day with its retailer, each
    /// message's by point, then slot. Each message's files are made as its records
    /// come, [`POINTS_PER_FILE`](edi::message::POINTS_PER_FILE) points at a time.
    ///
    /// # Errors
    /// As [`Publisher::daily`]; [`PortalError::Changed`] when the records handed are
    /// not those digested (they changed in between): nothing is issued then.
    pub fn daily_streamed(
        &mut self,
        now: DateTime<Utc>,
        date: NaiveDate,
        digests: BTreeMap<(PartyCode, u8), Digest>,
        records: DayRecords<'_>,
    ) -> Result<Vec<Published>, PortalError> {
        let at = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        let mut todo = BTreeMap::new();
        for ((retailer, interval), d) in digests {
            let Some(info) = InfoCode::daily(interval) else {
                continue;
            };
            let tally = d.tally;
            let digest = d.finish();
            if let Some(update) = self.next_update(retailer, info, at, digest)? {
                todo.insert(
                    (retailer, interval),
                    DayFiles::new(info, update, digest, tally),
                );
            }
        }
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        let sender = self.sender;
        records(&mut |retailer, r| {
            if let Some(files) = todo.get_mut(&(retailer, r.interval_min)) {
                files.add(sender, retailer, now, date, r)?;
            }
            Ok(())
        })?;
        let mut made = Vec::new();
        for ((retailer, _), mut files) in todo {
            files.flush(sender, retailer, now, date)?;
            if files.seen != files.expected {
                return Err(PortalError::Changed { retailer, at });
            }
            made.push((retailer, files));
        }
        let mut published = Vec::new();
        for (retailer, files) in made {
            let issue = Issue {
                retailer,
                info: files.info,
                at,
                update: files.update,
                digest: files.digest,
                created: now,
                files: files.files,
            };
            published.push(self.put(issue, files.expected.records)?);
        }
        Ok(published)
    }

    /// The update number the message's next issue takes, `None` when its last issue
    /// has `digest` (the same values).
    fn next_update(
        &self,
        retailer: PartyCode,
        info: InfoCode,
        at: NaiveDateTime,
        digest: [u8; 32],
    ) -> Result<Option<u8>, PortalError> {
        match self.store.last_issue(&retailer, info, at)? {
            Some((_, d)) if d == digest => Ok(None),
            Some((u, _)) if u >= 99 => Err(PortalError::UpdatesExhausted { retailer, info, at }),
            Some((u, _)) => Ok(Some(u + 1)),
            None => Ok(Some(0)),
        }
    }

    /// Keep `issue` (of `count` records).
    fn put(&mut self, issue: Issue, count: usize) -> Result<Published, PortalError> {
        self.store.put_issue(&issue)?;
        let Issue {
            retailer,
            info,
            at,
            update,
            ..
        } = issue;
        tracing::info!(%retailer, %info, %at, update, files = issue.files.len(), records = count, "published");
        Ok(Published {
            retailer,
            files: issue.files.iter().map(|f| f.name).collect(),
            records: count,
        })
    }
}

/// One daily message being made: its files so far and the part being filled.
#[derive(Debug)]
struct DayFiles {
    info: InfoCode,
    update: u8,
    digest: [u8; 32],
    /// The records digested, and those handed to make the files.
    expected: Tally,
    seen: Tally,
    files: Vec<File>,
    /// The records of the points of the next file, and how many points.
    part: Vec<Record>,
    points: usize,
}

impl DayFiles {
    const fn new(info: InfoCode, update: u8, digest: [u8; 32], expected: Tally) -> Self {
        Self {
            info,
            update,
            digest,
            expected,
            seen: Tally { records: 0, sum: 0 },
            files: Vec::new(),
            part: Vec::new(),
            points: 0,
        }
    }

    /// The next record (by point, then slot); a file made once a new point would be
    /// one too many for it.
    fn add(
        &mut self,
        sender: PartyCode,
        retailer: PartyCode,
        now: DateTime<Utc>,
        date: NaiveDate,
        r: Record,
    ) -> Result<(), PortalError> {
        if self.part.last().is_none_or(|last| last.point != r.point) {
            if self.points == edi::message::POINTS_PER_FILE {
                self.flush(sender, retailer, now, date)?;
            }
            self.points += 1;
        }
        self.seen.add(&r);
        self.part.push(r);
        Ok(())
    }

    /// Make the file of the part filled so far, if any.
    fn flush(
        &mut self,
        sender: PartyCode,
        retailer: PartyCode,
        now: DateTime<Utc>,
        date: NaiveDate,
    ) -> Result<(), PortalError> {
        if self.part.is_empty() {
            return Ok(());
        }
        let part = std::mem::take(&mut self.part);
        let split = self.files.len();
        self.files.push(files::daily_part(
            sender,
            retailer,
            now,
            date,
            self.update,
            split,
            part,
        )?);
        self.points = 0;
        Ok(())
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
