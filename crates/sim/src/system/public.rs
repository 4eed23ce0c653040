//! The public server (公開サーバ) in the run: it publishes each slot of every registered
//! device point to the point's retailer 10 s after the slot's close and again at 60 s
//! (a value that arrived meanwhile makes the next update), an hour into the next day
//! that day's slot messages again and its daily message, and, before the run exits,
//! every slot and every complete day again (backfilled and estimated values re-issued
//! under the next update number). The
//! files go into the run's database (`--db`, else its scratch MDMS file), where
//! `iotroute portal --db` serves them.
//!
//! A round runs on the MDMS's thread after the readings the head end took by its time
//! ([`super::head_end::HeadEndSim::then`]): it sees exactly those, so the same seed
//! publishes the same files, and neither the radio nor the head end waits for it.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use edi::PartyCode;
use mdms::MdmsStore;
use portal::{rounds, Publisher, SqlitePortalStore};

use super::report::{Latency, PublicFigures};

/// When a slot is published after its close: first, and again.
const SLOT_ROUNDS: [Duration; 2] = [Duration::from_secs(10), Duration::from_secs(60)];
/// When a day is published after its end.
const DAY_ROUND: Duration = Duration::from_secs(3600);

/// A publication round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Round {
    /// The slot starting at `start`, closed at `close` (virtual time).
    Slot {
        /// Its start.
        start: DateTime<Utc>,
        /// Its close.
        close: Duration,
    },
    /// A day (Japan time) and its slots.
    Day(NaiveDate),
}

/// When the rounds are due: on the run's own thread.
pub(super) struct Schedule {
    rounds: BTreeSet<(Duration, Round)>,
    /// The last publication: every complete day (its slots with it) and every slot of
    /// no complete day.
    all: Vec<Round>,
}

impl Schedule {
    /// The rounds of the slots that start at `slots` (each with its close in virtual
    /// time) and of the complete `days` (each with its end).
    pub fn new(slots: &[(DateTime<Utc>, Duration)], days: &[(NaiveDate, Duration)]) -> Self {
        let mut rounds = BTreeSet::new();
        let mut all = Vec::new();
        for &(start, close) in slots {
            let round = Round::Slot { start, close };
            // A complete day's round publishes its slots too.
            if !days.iter().any(|d| d.0 == rounds::local_day(start)) {
                all.push(round);
            }
            for after in SLOT_ROUNDS {
                rounds.insert((close + after, round));
            }
        }
        for &(day, end) in days {
            all.push(Round::Day(day));
            rounds.insert((end + DAY_ROUND, Round::Day(day)));
        }
        Self { rounds, all }
    }

    /// When the next round is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.rounds.first().map(|r| r.0)
    }

    /// The rounds due at `now`.
    pub fn take_due(&mut self, now: Duration) -> Vec<Round> {
        let mut due = Vec::new();
        while self.rounds.first().is_some_and(|r| r.0 <= now) {
            if let Some((_, round)) = self.rounds.pop_first() {
                due.push(round);
            }
        }
        due
    }

    /// The rounds of the last publication before the run exits (every slot and every
    /// complete day); none due after.
    pub fn take_all(&mut self) -> Vec<Round> {
        self.rounds.clear();
        self.all.clone()
    }
}

/// What publishes: on the MDMS's thread during the run, shared with the run for its
/// figures.
pub(super) struct Publication {
    publisher: Publisher<SqlitePortalStore>,
    retailer_of: BTreeMap<String, PartyCode>,
    /// The slots (start, close) of each complete day.
    day_slots: BTreeMap<NaiveDate, Vec<(DateTime<Utc>, Duration)>>,
    /// When each point's slot was first published.
    first: FirstPublished,
    files: u64,
    issues: u64,
    reissues: u64,
    /// The first round that failed, if one did.
    failure: Option<String>,
}

/// When each (point, slot) was first published after the slot's close.
struct FirstPublished {
    /// Each registered point's place, for the bitsets of `published`.
    place: BTreeMap<String, usize>,
    /// Per slot start, the points published so far (a bit per point's place): a
    /// million points' slot is 125 KB, not a map entry each.
    published: BTreeMap<DateTime<Utc>, Vec<u64>>,
    /// How many (point, slot) were first published how many milliseconds after the
    /// slot's close (the rounds make few distinct values).
    latencies: BTreeMap<i64, u64>,
}

impl FirstPublished {
    /// Count the points of `by` not published before for the slot at `start`, `after`
    /// its close.
    fn note(
        &mut self,
        start: DateTime<Utc>,
        by: &BTreeMap<PartyCode, Vec<edi::Record>>,
        after: Duration,
    ) {
        let words = self.place.len().div_ceil(64);
        let seen = self
            .published
            .entry(start)
            .or_insert_with(|| vec![0; words]);
        let ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        for r in by.values().flatten() {
            let Some(&i) = self.place.get(r.point.as_str()) else {
                continue;
            };
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if seen[word] & bit == 0 {
                seen[word] |= bit;
                *self.latencies.entry(ms).or_default() += 1;
            }
        }
    }
}

/// The publication shared between the run and the MDMS's thread.
pub(super) type Shared = Arc<Mutex<Publication>>;

impl Publication {
    /// The publication into the database `db` for the points `retailer_of` names, the
    /// days' slots as `day_slots` lists them.
    pub fn open(
        db: &Path,
        retailer_of: BTreeMap<String, PartyCode>,
        day_slots: BTreeMap<NaiveDate, Vec<(DateTime<Utc>, Duration)>>,
    ) -> Result<Shared, String> {
        let store = SqlitePortalStore::open(db).map_err(|e| e.to_string())?;
        let sender: PartyCode = rounds::SENDER
            .parse()
            .map_err(|e: edi::EdiError| e.to_string())?;
        let place = retailer_of
            .keys()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        Ok(Arc::new(Mutex::new(Self {
            publisher: Publisher::new(sender, store),
            retailer_of,
            day_slots,
            first: FirstPublished {
                place,
                published: BTreeMap::new(),
                latencies: BTreeMap::new(),
            },
            files: 0,
            issues: 0,
            reissues: 0,
            failure: None,
        })))
    }

    /// `rounds` at `now` (`wall` its wall time) from `mdms`; a failure is kept, the
    /// first one, for the run to report.
    pub fn publish(
        &mut self,
        mdms: &impl MdmsStore,
        rounds: &[Round],
        now: Duration,
        wall: DateTime<Utc>,
    ) {
        for round in rounds {
            if let Err(e) = self.round(mdms, *round, now, wall) {
                tracing::error!(error = %e, ?round, "publication failed");
                self.failure.get_or_insert(e);
            }
        }
    }

    fn round(
        &mut self,
        mdms: &impl MdmsStore,
        round: Round,
        now: Duration,
        wall: DateTime<Utc>,
    ) -> Result<(), String> {
        let published = match round {
            Round::Slot { start, close } => {
                let (published, by) =
                    rounds::publish_slot(&mut self.publisher, mdms, start, &self.retailer_of, wall)
                        .map_err(|e| e.to_string())?;
                self.first.note(start, &by, now.saturating_sub(close));
                published
            }
            Round::Day(day) => {
                let slots = self.day_slots.get(&day).cloned().unwrap_or_default();
                let starts: Vec<DateTime<Utc>> = slots.iter().map(|s| s.0).collect();
                let closes: BTreeMap<DateTime<Utc>, Duration> = slots.into_iter().collect();
                // Each slot's records noted as read, not kept for the whole day.
                let first = &mut self.first;
                rounds::publish_day(
                    &mut self.publisher,
                    mdms,
                    day,
                    &starts,
                    &self.retailer_of,
                    wall,
                    &mut |start, by| {
                        let close = closes.get(&start).copied().unwrap_or_default();
                        first.note(start, by, now.saturating_sub(close));
                    },
                )
                .map_err(|e| e.to_string())?
            }
        };
        self.count(&published);
        Ok(())
    }

    /// Count what a round published.
    fn count(&mut self, published: &[portal::Published]) {
        for p in published {
            self.issues += 1;
            self.files += p.files.len() as u64;
            if p.files.iter().any(|f| f.update() > 0) {
                self.reissues += 1;
            }
        }
    }

    /// What it published; the first failure, if a round failed.
    pub fn figures(&self) -> Result<PublicFigures, String> {
        if let Some(e) = &self.failure {
            return Err(format!("public server: {e}"));
        }
        Ok(PublicFigures {
            publish_latency_s: Latency::of_counts(&self.first.latencies),
            published_files: self.files,
            published_issues: self.issues,
            reissued: self.reissues,
        })
    }
}
