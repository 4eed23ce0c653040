//! The MDMS fed on a thread of its own. Readings flow one way, from the head end down
//! to the MDMS (the head end never reads an ingest's outcome to decide anything), so
//! the MDMS's transactions — validation, the slots recomputed around each reading, the
//! commit — run beside the head end's work on a second core instead of inside it: in
//! `iotroute headend serve`, off the thread that answers the smart meters; in the
//! simulator, beside the radio and the nodes.
//!
//! Batches are taken in the order they were handed over; those waiting when the MDMS
//! comes to one are taken with it in one transaction (up to [`MERGED`] readings, never
//! past a reader or a settle waiting behind them): the MDMS ends the same, byte for
//! byte, as with one transaction per batch (its result does not depend on how readings
//! are batched), and the fewer transactions a boundary takes, the fewer times each
//! page it touches is written. So the transactions grow when the MDMS falls behind —
//! at a million points a boundary's readings in 16,384-reading transactions cost 24 µs
//! a reading, in 131,072-reading ones 11 (`scripts/bench mdms`) — and stay small,
//! and the readings soon in, when it keeps up. At most [`QUEUE`] batches wait; the
//! head end then waits for the MDMS rather than hold ever more readings in memory.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use mdms::{Mdms, MdmsStore, RawReading};

/// Batches handed over and not taken yet, at most: 8 of up to 65,536 readings
/// ([`crate::service::BATCH`]), about 45 MB, so that the burst at a boundary (every
/// terminal's slot at once: one batch at 10,000 terminals, two at 100,000, sixteen at a
/// million) is taken while the head end goes on, and the MDMS catches up between
/// boundaries. (With 1,024-reading batches, 8 made the simulator's head end wait for a
/// sixth of a large run, and 64 were needed.)
pub const QUEUE: usize = 8;

/// Readings taken in one transaction at most when batches wait (about 22 MB).
pub const MERGED: usize = 262_144;

/// What the MDMS did with the readings handed to it: the ones it refused, and the ones
/// it kept as conflicts (a different reading for a boundary already held).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedTally {
    /// Readings refused (invalid; logged by the MDMS).
    pub rejected: u64,
    /// Readings kept as conflicts.
    pub conflicts: u64,
}

/// A reader of the MDMS downstream of the head end, run on the MDMS's thread.
type Then<M> = Box<dyn FnOnce(&Mdms<M>) + Send>;

enum Job<M> {
    Ingest(Vec<RawReading>),
    /// Answer with the tally once every batch before this one is in.
    Settle(SyncSender<FeedTally>),
    /// Run once every batch before this one is in.
    Then(Then<M>),
}

/// The MDMS on its thread, and the way to it.
#[derive(Debug)]
pub struct MdmsFeed<M: MdmsStore + Send + 'static> {
    jobs: Option<SyncSender<Job<M>>>,
    thread: Option<JoinHandle<(Mdms<M>, FeedTally)>>,
}

impl<M: MdmsStore + Send + 'static> MdmsFeed<M> {
    /// Start the thread that owns `mdms`.
    ///
    /// # Errors
    /// The operating system refused a thread.
    pub fn start(mdms: Mdms<M>) -> std::io::Result<Self> {
        let (jobs, inbox) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("mdms".into())
            .spawn(move || run(mdms, &inbox))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Hand `batch` over (in one transaction, after every batch handed over before it);
    /// waits while [`QUEUE`] batches wait already.
    pub fn ingest(&self, batch: Vec<RawReading>) {
        let sent = self.jobs.as_ref().map(|j| j.send(Job::Ingest(batch)));
        if !matches!(sent, Some(Ok(()))) {
            tracing::error!("the MDMS's thread is gone: readings not ingested");
        }
    }

    /// Run `then` on the MDMS's thread once every batch handed over before it is in:
    /// what reads the MDMS downstream (the public server's publication) sees exactly
    /// the readings handed over before it, and the head end does not wait for it.
    pub fn then(&self, then: impl FnOnce(&Mdms<M>) + Send + 'static) {
        let sent = self
            .jobs
            .as_ref()
            .map(|j| j.send(Job::Then(Box::new(then))));
        if !matches!(sent, Some(Ok(()))) {
            tracing::error!("the MDMS's thread is gone: a reader of it not run");
        }
    }

    /// Wait until every batch handed over is in the MDMS; the tally so far.
    pub fn settle(&self) -> FeedTally {
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self.jobs.as_ref().map(|j| j.send(Job::Settle(reply)));
        match (sent, answer.recv()) {
            (Some(Ok(())), Ok(tally)) => tally,
            _ => {
                tracing::error!("the MDMS's thread is gone");
                FeedTally::default()
            }
        }
    }

    /// Every batch handed over taken in, then the MDMS back, with the tally.
    ///
    /// # Panics
    /// Only if the MDMS's thread panicked (the panic goes on here).
    #[must_use]
    pub fn finish(mut self) -> (Mdms<M>, FeedTally) {
        self.stop()
            .unwrap_or_else(|| unreachable!("the thread is joined only here or in drop"))
    }

    fn stop(&mut self) -> Option<(Mdms<M>, FeedTally)> {
        self.jobs = None;
        let thread = self.thread.take()?;
        match thread.join() {
            Ok(parts) => Some(parts),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<M: MdmsStore + Send + 'static> Drop for MdmsFeed<M> {
    /// What was handed over is not dropped with the head end: taken in first.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.stop();
        }
    }
}

/// The thread: each batch in, in order, with those waiting behind it, until the head
/// end lets go.
fn run<M: MdmsStore>(mut mdms: Mdms<M>, inbox: &Receiver<Job<M>>) -> (Mdms<M>, FeedTally) {
    let mut tally = FeedTally::default();
    // A job taken from the queue while merging batches, to do after them.
    let mut next = None;
    while let Some(job) = next.take().or_else(|| inbox.recv().ok()) {
        match job {
            Job::Ingest(mut batch) => {
                while batch.len() < MERGED {
                    match inbox.try_recv() {
                        Ok(Job::Ingest(more)) => batch.extend(more),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match mdms.ingest(&batch) {
                    Ok(report) => {
                        tally.rejected += u64::try_from(report.rejected.len()).unwrap_or(u64::MAX);
                        tally.conflicts += report.conflict;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, readings = batch.len(), "MDMS ingest failed");
                    }
                }
            }
            Job::Settle(reply) => {
                let _ = reply.send(tally);
            }
            Job::Then(then) => then(&mdms),
        }
    }
    (mdms, tally)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use mdms::{Arrival, Counter, Filter, Interval, Status};

    use super::*;

    fn mdms() -> Mdms<mdms::SqliteStore> {
        let store = mdms::SqliteStore::in_memory().expect("store");
        Mdms::new(store, mdms::Vee::default()).expect("mdms")
    }

    fn reading(slot: i64, wh: u32) -> RawReading {
        let t0: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap();
        RawReading {
            point: "0900000000000000000001".parse().expect("point"),
            terminal: "02:5a:00:00:00:00:00:01".parse().expect("terminal"),
            boundary: t0 + Duration::minutes(30 * slot),
            interval: Interval::Half,
            ac_in: Counter::new(wh).ok(),
            ac_out: Counter::new(0).ok(),
            status: Status(0),
            received_at: t0 + Duration::minutes(30 * slot + 1),
            arrival: Arrival::Pushed,
        }
    }

    /// Batches: in order, with a misaligned boundary (refused) and a second, different
    /// reading of a boundary held (a conflict).
    fn batches() -> Vec<Vec<RawReading>> {
        let mut odd = reading(3, 400);
        odd.boundary += Duration::minutes(1);
        vec![
            (0..3)
                .map(|i| reading(i, 100 * u32::try_from(i).unwrap()))
                .collect(),
            vec![odd, reading(4, 500), reading(1, 150)],
            vec![reading(3, 300), reading(5, 600)],
        ]
    }

    fn export(m: &Mdms<mdms::SqliteStore>) -> Vec<u8> {
        let mut out = Vec::new();
        m.export(&Filter::default(), &mut out, mdms::Format::Csv)
            .expect("export");
        out
    }

    #[test]
    fn the_mdms_on_its_thread_ends_as_one_fed_directly_with_the_same_batches() {
        let mut direct = mdms();
        let mut expected = FeedTally::default();
        for b in batches() {
            let r = direct.ingest(&b).expect("ingest");
            expected.rejected += r.rejected.len() as u64;
            expected.conflicts += r.conflict;
        }
        assert_eq!(
            expected,
            FeedTally {
                rejected: 1,
                conflicts: 1
            }
        );

        let feed = MdmsFeed::start(mdms()).expect("thread");
        let mut all = batches().into_iter();
        feed.ingest(all.next().expect("batch"));
        assert_eq!(
            feed.settle(),
            FeedTally::default(),
            "the first batch: nothing refused"
        );
        for b in all {
            feed.ingest(b);
        }
        let (fed, tally) = feed.finish();
        assert_eq!(tally, expected);
        let rows = export(&fed);
        assert_eq!(rows, export(&direct));
        assert!(
            rows.len() > 200,
            "slots exported: {}",
            String::from_utf8_lossy(&rows)
        );
    }

    #[test]
    fn dropping_the_feed_takes_in_what_was_handed_over() {
        let path = std::env::temp_dir().join(format!("iotroute-feed-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = mdms::SqliteStore::open(&path).expect("store");
        let feed =
            MdmsFeed::start(Mdms::new(store, mdms::Vee::default()).expect("mdms")).expect("thread");
        for b in batches() {
            feed.ingest(b);
        }
        drop(feed);
        let again =
            Mdms::open(mdms::SqliteStore::open_existing(&path).expect("store")).expect("mdms");
        let n = again
            .readings(&reading(0, 0).point, None, None)
            .expect("read")
            .len();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        assert_eq!(n, 7, "every valid reading handed over is kept");
    }

    /// A store that counts its commits: the transactions the feed took.
    struct Counted {
        inner: mdms::MemoryStore,
        commits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl MdmsStore for Counted {
        fn begin(&mut self) -> Result<(), mdms::MdmsError> {
            self.inner.begin()
        }
        fn commit(&mut self) -> Result<(), mdms::MdmsError> {
            self.commits
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.commit()
        }
        fn rollback(&mut self) -> Result<(), mdms::MdmsError> {
            self.inner.rollback()
        }
        fn vee(&self) -> Result<Option<mdms::Vee>, mdms::MdmsError> {
            self.inner.vee()
        }
        fn set_vee(&mut self, vee: mdms::Vee) -> Result<(), mdms::MdmsError> {
            self.inner.set_vee(vee)
        }
        fn readings_at(
            &self,
            point: &mdms::SupplyPoint,
            boundary: DateTime<Utc>,
        ) -> Result<Vec<RawReading>, mdms::MdmsError> {
            self.inner.readings_at(point, boundary)
        }
        fn insert_reading(&mut self, reading: &RawReading) -> Result<(), mdms::MdmsError> {
            self.inner.insert_reading(reading)
        }
        fn readings(
            &self,
            point: &mdms::SupplyPoint,
            from: Option<DateTime<Utc>>,
            to: Option<DateTime<Utc>>,
        ) -> Result<Vec<RawReading>, mdms::MdmsError> {
            self.inner.readings(point, from, to)
        }
        fn usable_before(
            &self,
            point: &mdms::SupplyPoint,
            t: DateTime<Utc>,
            n: usize,
        ) -> Result<Vec<DateTime<Utc>>, mdms::MdmsError> {
            self.inner.usable_before(point, t, n)
        }
        fn usable_after(
            &self,
            point: &mdms::SupplyPoint,
            t: DateTime<Utc>,
            n: usize,
        ) -> Result<Vec<DateTime<Utc>>, mdms::MdmsError> {
            self.inner.usable_after(point, t, n)
        }
        fn put_slot(&mut self, slot: &mdms::Slot) -> Result<(), mdms::MdmsError> {
            self.inner.put_slot(slot)
        }
        fn delete_slot(
            &mut self,
            point: &mdms::SupplyPoint,
            start: DateTime<Utc>,
        ) -> Result<(), mdms::MdmsError> {
            self.inner.delete_slot(point, start)
        }
        fn scan_slots(
            &self,
            filter: &Filter,
            each: &mut dyn FnMut(&mdms::Slot) -> Result<(), mdms::MdmsError>,
        ) -> Result<(), mdms::MdmsError> {
            self.inner.scan_slots(filter, each)
        }
    }

    #[test]
    fn batches_waiting_are_taken_in_one_transaction_never_past_a_reader_behind_them() {
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let store = Counted {
            inner: mdms::MemoryStore::new(),
            commits: commits.clone(),
        };
        let feed =
            MdmsFeed::start(Mdms::new(store, mdms::Vee::default()).expect("mdms")).expect("thread");
        let at_start = commits.load(std::sync::atomic::Ordering::SeqCst);
        // The MDMS's thread held in a reader while three batches and a second reader
        // wait behind it: the first two batches, then the reader, then the third.
        let (release, held) = mpsc::sync_channel::<()>(0);
        feed.then(move |_| {
            let _ = held.recv();
        });
        let (seen_tx, seen) = mpsc::sync_channel(1);
        let mut all = batches().into_iter();
        feed.ingest(all.next().expect("batch"));
        feed.ingest(all.next().expect("batch"));
        feed.then(move |m| {
            let n = m
                .readings(&reading(0, 0).point, None, None)
                .expect("read")
                .len();
            let _ = seen_tx.send(n);
        });
        feed.ingest(all.next().expect("batch"));
        release.send(()).expect("the reader held");
        let (fed, tally) = feed.finish();
        assert_eq!(
            seen.recv().expect("the reader ran"),
            5,
            "the first two batches, no more"
        );
        assert_eq!(
            commits.load(std::sync::atomic::Ordering::SeqCst) - at_start,
            2,
            "two transactions for three batches"
        );
        assert_eq!(
            tally,
            FeedTally {
                rejected: 1,
                conflicts: 1
            }
        );
        let mut direct = mdms();
        for b in batches() {
            direct.ingest(&b).expect("ingest");
        }
        let mut out = Vec::new();
        fed.export(&Filter::default(), &mut out, mdms::Format::Csv)
            .expect("export");
        assert_eq!(out, export(&direct), "as one fed batch by batch");
    }
}
