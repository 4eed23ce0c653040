//! The MDMS store on SQLite, the embedded default: one file, WAL with
//! `synchronous=FULL` (a committed batch survives a `kill -9` or a power cut), one
//! transaction per ingest, readable with the `sqlite3` shell. The same engine as the
//! terminal's store (crates/store), so the project writes one SQL dialect; the schema
//! is plain enough to move to PostgreSQL as it is (docs/architecture.md).
//!
//! Schema version 3, laid out by time: readings in arrival order with their index by
//! boundary then point, slots keyed by start then point, and each point's `series` row
//! (the earliest boundary or slot start it has). A boundary's readings and slots are
//! written where that boundary's are, so a transaction writes the pages of the latest
//! boundaries, not a page of every point's (versions 1 and 2 ordered both by point: at
//! 100,000 points each boundary wrote nearly every page of both again, docs/mdms.md,
//! "Storage"). A point's questions are answered a boundary at a time (one seek each,
//! from its series' first to the latest there is); the simulator's and `headend
//! serve`'s MDMS asks them of its tails (`crate::Tailed`) for the readings in order.
//! A store of version 1 or 2 is rewritten in this layout when opened, in one
//! transaction. Times are integers: boundaries and slot starts in seconds since the
//! epoch, multiples of 15 minutes, receipt times in nanoseconds (kept exactly as
//! received). Every column is checked by the database as well, so a row this program
//! could not have written is refused at the write, and one found at a read is an
//! error, never a guess.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};

use crate::error::MdmsError;
use crate::ids::{SupplyPoint, TerminalId};
use crate::reading::{Arrival, Counter, Interval, RawReading, Status};
use crate::slot::{Quality, Slot};
use crate::store::{Filter, MdmsStore};
use crate::vee::Vee;

/// The schema this program writes.
const VERSION: i64 = 3;
/// This component's name in `schema_versions`.
const COMPONENT: &str = "mdms";
/// The shared table of each component's schema version.
const SCHEMA_VERSIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL);";
/// The tables every version has, unchanged since version 1.
const META: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";
/// Version 3's readings, slots and series.
const TABLES: &str = "
CREATE TABLE reading (
    point        TEXT NOT NULL CHECK (length(point) = 22),
    boundary     INTEGER NOT NULL CHECK (boundary % 900 = 0),
    interval_min INTEGER NOT NULL CHECK (interval_min IN (15, 30)),
    terminal     BLOB NOT NULL CHECK (length(terminal) = 8),
    ac_in        INTEGER CHECK (ac_in BETWEEN 0 AND 99999999),
    ac_out       INTEGER CHECK (ac_out BETWEEN 0 AND 99999999),
    status       INTEGER NOT NULL CHECK (status BETWEEN 0 AND 255),
    received_at  INTEGER NOT NULL,
    backfilled   INTEGER NOT NULL CHECK (backfilled IN (0, 1))
);
CREATE UNIQUE INDEX reading_once ON reading (boundary, point, interval_min, terminal,
    ifnull(ac_in, -1), ifnull(ac_out, -1), status, received_at, backfilled);
CREATE TABLE slot (
    start       INTEGER NOT NULL CHECK (start % 900 = 0),
    point       TEXT NOT NULL CHECK (length(point) = 22),
    minutes     INTEGER NOT NULL CHECK (minutes IN (15, 30)),
    terminal    BLOB NOT NULL CHECK (length(terminal) = 8),
    in_wh       INTEGER NOT NULL CHECK (in_wh BETWEEN 0 AND 99999999),
    out_wh      INTEGER NOT NULL CHECK (out_wh BETWEEN 0 AND 99999999),
    cum_in      INTEGER NOT NULL CHECK (cum_in BETWEEN 0 AND 99999999),
    cum_out     INTEGER NOT NULL CHECK (cum_out BETWEEN 0 AND 99999999),
    quality     TEXT NOT NULL CHECK (quality IN ('measured', 'backfilled', 'recovered', 'estimated', 'flagged')),
    received_at INTEGER,
    PRIMARY KEY (start, point)
) WITHOUT ROWID;
CREATE TABLE series (
    point TEXT PRIMARY KEY CHECK (length(point) = 22),
    first INTEGER NOT NULL CHECK (first % 900 = 0)
) WITHOUT ROWID;
";
/// Versions 1 and 2 to version 3: the same rows (readings under their rowids, so in
/// their order of arrival), laid out by time, and each point's series.
const FROM_1_OR_2: &str = "
ALTER TABLE reading RENAME TO reading_by_point;
DROP INDEX reading_once;
ALTER TABLE slot RENAME TO slot_by_point;
DROP INDEX IF EXISTS slot_by_start;
";
const FROM_1_OR_2_ROWS: &str = "
INSERT INTO reading (rowid, point, boundary, interval_min, terminal, ac_in, ac_out, status,
    received_at, backfilled)
    SELECT rowid, point, boundary, interval_min, terminal, ac_in, ac_out, status,
    received_at, backfilled FROM reading_by_point ORDER BY rowid;
INSERT INTO slot (start, point, minutes, terminal, in_wh, out_wh, cum_in, cum_out, quality,
    received_at)
    SELECT start, point, minutes, terminal, in_wh, out_wh, cum_in, cum_out, quality,
    received_at FROM slot_by_point ORDER BY start, point;
DROP TABLE reading_by_point;
DROP TABLE slot_by_point;
INSERT INTO series (point, first)
    SELECT point, min(t) FROM (SELECT point, boundary AS t FROM reading
        UNION ALL SELECT point, start FROM slot) GROUP BY point;
";

/// A usable reading (`RawReading::usable`) in SQL.
macro_rules! usable {
    () => {
        "ac_in IS NOT NULL AND ac_out IS NOT NULL AND (status & 4) = 0"
    };
}

/// Whether point `?2` has a usable reading at boundary `?1`.
const USABLE_AT: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM reading WHERE boundary = ?1 AND point = ?2 AND ",
    usable!(),
    ")"
);

/// The boundaries (or slot starts) from `?2` to `?3`, 15 minutes apart, each joined to
/// the rows of point `?1` there: one seek a boundary in an index by time, where a range
/// over `boundary` would read every point's rows in it.
const EACH_BOUNDARY: &str =
    "WITH RECURSIVE at(t) AS (SELECT ?2 UNION ALL SELECT t + 900 FROM at WHERE t + 900 <= ?3)";

/// The grid of boundaries and slot starts, in seconds (`boundary % 900 = 0`).
const GRID: i64 = 900;

fn backend(e: impl std::fmt::Display) -> MdmsError {
    MdmsError::Store(e.to_string())
}

/// The columns [`reading_from_row`] reads, by position (a name looked up at each row
/// was a strcmp over the columns per value).
const READING_COLUMNS: &str =
    "point, boundary, interval_min, terminal, ac_in, ac_out, status, received_at, backfilled";
/// The columns [`slot_from_row`] reads, by position.
const SLOT_COLUMNS: &str =
    "point, start, minutes, terminal, in_wh, out_wh, cum_in, cum_out, quality, received_at";

/// The MDMS store on SQLite. Its connection is opened without SQLite's own mutex
/// (`SQLITE_OPEN_NO_MUTEX`): a `Connection` is used by one thread at a time already
/// (it is `Send`, not `Sync`), and the lock taken at every call was a cost of its own.
#[derive(Debug)]
pub struct SqliteStore {
    db: Connection,
}

/// How far a commit goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Synced to the disk (WAL, `synchronous = FULL`): a batch the head end handed over
    /// survives a power cut once taken. A utility's MDMS.
    Full,
    /// Written to the WAL, synced only at checkpoints (`synchronous = NORMAL`): the file
    /// stays whole after any crash, and only a power cut can lose the latest commits.
    /// The simulator's, whose database is the output of a run in virtual time (its head
    /// end's kill -9 is simulated in process), where a sync per batch was a third of
    /// the MDMS thread's time.
    Relaxed,
}

impl SqliteStore {
    /// Open the store at `path`, creating it if there is none, every commit synced
    /// ([`Durability::Full`]).
    ///
    /// # Errors
    /// [`MdmsError::Store`]: the file cannot be opened or is not an MDMS store.
    pub fn open(path: &Path) -> Result<Self, MdmsError> {
        Self::open_with(path, Durability::Full)
    }

    /// Open the store at `path`, creating it if there is none, commits as `durability`
    /// says.
    ///
    /// # Errors
    /// [`MdmsError::Store`]: the file cannot be opened or is not an MDMS store.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, MdmsError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let store = Self::init(Connection::open_with_flags(path, flags).map_err(backend)?)?;
        if durability == Durability::Relaxed {
            store
                .db
                .pragma_update(None, "synchronous", "NORMAL")
                .map_err(backend)?;
        }
        Ok(store)
    }

    /// The `synchronous` setting in force (2 full, 1 normal), for the tests of
    /// [`Durability`].
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    pub fn synchronous(&self) -> Result<i64, MdmsError> {
        self.db
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(backend)
    }

    /// Open the store at `path`, which must exist (an export never creates a file).
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    pub fn open_existing(path: &Path) -> Result<Self, MdmsError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::init(Connection::open_with_flags(path, flags).map_err(backend)?)
    }

    /// A store in memory (tests).
    ///
    /// # Errors
    /// [`MdmsError::Store`].
    pub fn in_memory() -> Result<Self, MdmsError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(db: Connection) -> Result<Self, MdmsError> {
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        // A file that is not SQLite, or damaged, fails here rather than at the first batch.
        let ok: String = db
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(backend)?;
        if ok != "ok" {
            return Err(MdmsError::Store(format!("integrity check: {ok}")));
        }
        // The database file may be shared (the head end keeps its registry in it): each
        // component records its schema under its name in `schema_versions`, not in
        // `PRAGMA user_version`, which is the whole file's.
        db.execute_batch(SCHEMA_VERSIONS).map_err(backend)?;
        let version: Option<i64> = db
            .query_row(
                "SELECT version FROM schema_versions WHERE component = ?1",
                [COMPONENT],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        let script = match version {
            Some(VERSION) => None,
            Some(1 | 2) => Some(format!(
                "{FROM_1_OR_2} {TABLES} {FROM_1_OR_2_ROWS}
                 UPDATE schema_versions SET version = {VERSION} WHERE component = '{COMPONENT}';"
            )),
            Some(other) => {
                return Err(MdmsError::Store(format!(
                    "MDMS schema {other} is not this program's ({VERSION})"
                )))
            }
            None => {
                let ours: i64 = db
                    .query_row(
                        "SELECT count(*) FROM sqlite_master
                         WHERE name IN ('meta', 'reading', 'slot', 'series')",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                if ours > 0 {
                    return Err(MdmsError::Store(
                        "tables named as the MDMS's but no MDMS schema recorded: not an MDMS store"
                            .to_owned(),
                    ));
                }
                Some(format!(
                    "{META} {TABLES}
                     INSERT INTO schema_versions (component, version) VALUES ('{COMPONENT}', {VERSION});"
                ))
            }
        };
        if let Some(script) = script {
            db.execute_batch(&format!("BEGIN IMMEDIATE; {script} COMMIT;"))
                .map_err(|e| {
                    let _ = db.execute_batch("ROLLBACK");
                    backend(e)
                })?;
        }
        Ok(Self { db })
    }
}

/// The latest boundary of any point's readings.
const LATEST_BOUNDARY: &str = "SELECT max(boundary) FROM reading";
/// The latest start of any point's slots.
const LATEST_START: &str = "SELECT max(start) FROM slot";

/// Which way [`SqliteStore::usable_nearest`] looks from its time.
#[derive(Debug, Clone, Copy)]
enum Side {
    Before,
    After,
}

impl SqliteStore {
    /// Where `point`'s series begins: none of its readings' boundaries and none of its
    /// slots' starts is earlier. `None`: the store has nothing of it.
    fn first(&self, point: &SupplyPoint) -> Result<Option<i64>, MdmsError> {
        self.db
            .prepare_cached("SELECT first FROM series WHERE point = ?1")
            .and_then(|mut q| q.query_row([point.as_str()], |r| r.get(0)).optional())
            .map_err(backend)
    }

    /// Make `point`'s series begin at `t` at the latest.
    fn note_first(&self, point: &SupplyPoint, t: i64) -> Result<(), MdmsError> {
        self.db
            .prepare_cached(
                "INSERT INTO series (point, first) VALUES (?1, ?2)
                 ON CONFLICT (point) DO UPDATE SET first = excluded.first
                 WHERE excluded.first < first",
            )
            .and_then(|mut q| q.execute(params![point.as_str(), t]))
            .map(drop)
            .map_err(backend)
    }

    /// The grid times from `from` to `to` (inclusive, either open) where `point` may
    /// have rows: from its series' first to the latest time `latest` (one of
    /// [`LATEST_BOUNDARY`], [`LATEST_START`]) finds for any point. `None`: nowhere.
    fn span(
        &self,
        point: &SupplyPoint,
        latest: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Option<(i64, i64)>, MdmsError> {
        let Some(first) = self.first(point)? else {
            return Ok(None);
        };
        let last: Option<i64> = self
            .db
            .prepare_cached(latest)
            .and_then(|mut q| q.query_row([], |r| r.get(0)))
            .map_err(backend)?;
        let Some(last) = last else {
            return Ok(None);
        };
        let lo = from.map_or(first, |f| f.max(first));
        let hi = to.map_or(last, |t| t.min(last));
        Ok((lo <= hi).then_some((lo, hi)))
    }

    /// The `n` boundaries of `point`'s usable readings nearest `t` on `side`, nearest
    /// first: a boundary at a time, from `t` to where the point's series ends that way.
    fn usable_nearest(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
        side: Side,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        let (from, to) = match side {
            Side::Before => (None, Some(before(t))),
            Side::After => (Some(after(t)), None),
        };
        let Some((lo, hi)) = self.span(point, LATEST_BOUNDARY, from, to)? else {
            return Ok(Vec::new());
        };
        let (mut at, step) = match side {
            Side::Before => (hi, -GRID),
            Side::After => (lo, GRID),
        };
        let mut q = self.db.prepare_cached(USABLE_AT).map_err(backend)?;
        let mut found = Vec::new();
        while found.len() < n && (lo..=hi).contains(&at) {
            if q.query_row(params![at, point.as_str()], |r| r.get::<_, bool>(0))
                .map_err(backend)?
            {
                found.push(from_seconds(at)?);
            }
            at += step;
        }
        Ok(found)
    }
}

/// The earliest grid time at or after `t`, in seconds.
fn at_or_after(t: DateTime<Utc>) -> i64 {
    let s = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    s + (GRID - s.rem_euclid(GRID)) % GRID
}

/// The latest grid time at or before `t`.
fn at_or_before(t: DateTime<Utc>) -> i64 {
    let s = t.timestamp();
    s - s.rem_euclid(GRID)
}

/// The latest grid time before `t`.
fn before(t: DateTime<Utc>) -> i64 {
    let s = t.timestamp() - i64::from(t.timestamp_subsec_nanos() == 0);
    s - s.rem_euclid(GRID)
}

/// The earliest grid time after `t`.
fn after(t: DateTime<Utc>) -> i64 {
    let s = t.timestamp() + 1;
    s + (GRID - s.rem_euclid(GRID)) % GRID
}

fn seconds(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_seconds(s: i64) -> Result<DateTime<Utc>, MdmsError> {
    DateTime::from_timestamp(s, 0).ok_or_else(|| MdmsError::Store(format!("time {s} out of range")))
}

/// Receipt times are checked to fit at ingest (`RawReading::validate`).
fn nanos(t: DateTime<Utc>) -> Result<i64, MdmsError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| MdmsError::Store(format!("time {t} does not fit in nanoseconds")))
}

fn counter(v: Option<u32>) -> Result<Option<Counter>, MdmsError> {
    v.map(|v| Counter::new(v).map_err(backend)).transpose()
}

fn terminal(bytes: &[u8]) -> Result<TerminalId, MdmsError> {
    <[u8; 8]>::try_from(bytes)
        .map(TerminalId)
        .map_err(|_| MdmsError::Store(format!("terminal of {} bytes", bytes.len())))
}

fn point(text: &str) -> Result<SupplyPoint, MdmsError> {
    text.parse().map_err(backend)
}

/// A reading from a row of [`READING_COLUMNS`].
fn reading_from_row(r: &Row<'_>) -> Result<RawReading, MdmsError> {
    let minutes: u8 = r.get(2).map_err(backend)?;
    let reading = RawReading {
        point: point(&r.get::<_, String>(0).map_err(backend)?)?,
        terminal: terminal(&r.get::<_, Vec<u8>>(3).map_err(backend)?)?,
        boundary: from_seconds(r.get(1).map_err(backend)?)?,
        interval: Interval::from_minutes(minutes)
            .ok_or_else(|| MdmsError::Store(format!("interval {minutes}")))?,
        ac_in: counter(r.get(4).map_err(backend)?)?,
        ac_out: counter(r.get(5).map_err(backend)?)?,
        status: Status(r.get(6).map_err(backend)?),
        received_at: DateTime::from_timestamp_nanos(r.get(7).map_err(backend)?),
        arrival: if r.get::<_, bool>(8).map_err(backend)? {
            Arrival::Backfilled
        } else {
            Arrival::Pushed
        },
    };
    reading.validate().map_err(backend)?;
    Ok(reading)
}

/// A slot from a row of [`SLOT_COLUMNS`].
fn slot_from_row(r: &Row<'_>) -> Result<Slot, MdmsError> {
    let received: Option<i64> = r.get(9).map_err(backend)?;
    Ok(Slot {
        point: point(&r.get::<_, String>(0).map_err(backend)?)?,
        terminal: terminal(&r.get::<_, Vec<u8>>(3).map_err(backend)?)?,
        start: from_seconds(r.get(1).map_err(backend)?)?,
        minutes: r.get(2).map_err(backend)?,
        in_wh: r.get(4).map_err(backend)?,
        out_wh: r.get(5).map_err(backend)?,
        cum_in: r.get(6).map_err(backend)?,
        cum_out: r.get(7).map_err(backend)?,
        quality: r
            .get::<_, String>(8)
            .map_err(backend)?
            .parse::<Quality>()
            .map_err(backend)?,
        received_at: received.map(DateTime::from_timestamp_nanos),
    })
}

/// `start >= lo AND start <= hi` for the bounds given, as SQL and parameters.
fn bounds(lo: Option<i64>, hi: Option<i64>) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    if let Some(lo) = lo {
        sql.push_str(" AND start >= ?");
        values.push(Value::Integer(lo));
    }
    if let Some(hi) = hi {
        sql.push_str(" AND start <= ?");
        values.push(Value::Integer(hi));
    }
    (sql, values)
}

impl MdmsStore for SqliteStore {
    fn begin(&mut self) -> Result<(), MdmsError> {
        self.db.execute_batch("BEGIN IMMEDIATE").map_err(backend)
    }

    fn commit(&mut self) -> Result<(), MdmsError> {
        self.db.execute_batch("COMMIT").map_err(backend)
    }

    fn rollback(&mut self) -> Result<(), MdmsError> {
        self.db.execute_batch("ROLLBACK").map_err(backend)
    }

    fn vee(&self) -> Result<Option<Vee>, MdmsError> {
        let w: Option<u32> = self
            .db
            .query_row(
                "SELECT value FROM meta WHERE key = 'max_power_w'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        Ok(w.map(|max_power_w| Vee { max_power_w }))
    }

    fn set_vee(&mut self, vee: Vee) -> Result<(), MdmsError> {
        self.db
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('max_power_w', ?1)",
                [vee.max_power_w],
            )
            .map(drop)
            .map_err(backend)
    }

    fn readings_at(
        &self,
        point: &SupplyPoint,
        boundary: DateTime<Utc>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        if at_or_before(boundary) != at_or_after(boundary) {
            return Ok(Vec::new()); // off the grid: no reading can be there
        }
        let mut q = self
            .db
            .prepare_cached(&format!(
                "SELECT {READING_COLUMNS} FROM reading WHERE boundary = ?2 AND point = ?1 ORDER BY rowid"
            ))
            .map_err(backend)?;
        let rows = q
            .query_map(params![point.as_str(), seconds(boundary)], |r| {
                Ok(reading_from_row(r))
            })
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend)?).collect()
    }

    fn insert_reading(&mut self, r: &RawReading) -> Result<(), MdmsError> {
        self.db
            .prepare_cached(
                "INSERT INTO reading (point, boundary, interval_min, terminal, ac_in, ac_out,
                 status, received_at, backfilled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut q| {
                q.execute(params![
                    r.point.as_str(),
                    seconds(r.boundary),
                    r.interval.minutes(),
                    r.terminal.0.as_slice(),
                    r.ac_in.map(Counter::wh),
                    r.ac_out.map(Counter::wh),
                    r.status.0,
                    nanos(r.received_at)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
                    r.arrival == Arrival::Backfilled,
                ])
            })
            .map_err(backend)?;
        self.note_first(&r.point, seconds(r.boundary))
    }

    fn readings(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        let span = self.span(
            point,
            LATEST_BOUNDARY,
            from.map(at_or_after),
            to.map(at_or_before),
        )?;
        let Some((lo, hi)) = span else {
            return Ok(Vec::new());
        };
        let mut q = self
            .db
            .prepare_cached(&format!(
                "{EACH_BOUNDARY} SELECT {READING_COLUMNS} FROM at CROSS JOIN reading
                 ON reading.boundary = at.t AND reading.point = ?1
                 ORDER BY reading.boundary, reading.rowid"
            ))
            .map_err(backend)?;
        let rows = q
            .query_map(params![point.as_str(), lo, hi], |r| Ok(reading_from_row(r)))
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend)?).collect()
    }

    fn usable_before(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        self.usable_nearest(point, t, n, Side::Before)
    }

    fn usable_after(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        self.usable_nearest(point, t, n, Side::After)
    }

    fn put_slot(&mut self, s: &Slot) -> Result<(), MdmsError> {
        let received_at = s.received_at.map(nanos).transpose()?;
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO slot (point, start, minutes, terminal, in_wh, out_wh,
                 cum_in, cum_out, quality, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut q| {
                q.execute(params![
                    s.point.as_str(),
                    seconds(s.start),
                    s.minutes,
                    s.terminal.0.as_slice(),
                    s.in_wh,
                    s.out_wh,
                    s.cum_in,
                    s.cum_out,
                    s.quality.as_str(),
                    received_at,
                ])
            })
            .map_err(backend)?;
        self.note_first(&s.point, seconds(s.start))
    }

    fn delete_slot(&mut self, point: &SupplyPoint, start: DateTime<Utc>) -> Result<(), MdmsError> {
        self.db
            .prepare_cached("DELETE FROM slot WHERE start = ?2 AND point = ?1")
            .and_then(|mut q| q.execute(params![point.as_str(), seconds(start)]))
            .map(drop)
            .map_err(backend)
    }

    fn slots_starting(&self, start: DateTime<Utc>) -> Result<Vec<Slot>, MdmsError> {
        if at_or_before(start) != at_or_after(start) {
            return Ok(Vec::new()); // off the grid: no slot starts there
        }
        let mut q = self
            .db
            .prepare_cached(&format!(
                "SELECT {SLOT_COLUMNS} FROM slot WHERE start = ?1 ORDER BY point"
            ))
            .map_err(backend)?;
        let mut rows = q.query([seconds(start)]).map_err(backend)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            out.push(slot_from_row(row)?);
        }
        Ok(out)
    }

    fn scan_slots(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(&Slot) -> Result<(), MdmsError>,
    ) -> Result<(), MdmsError> {
        let (lo, hi) = (filter.from.map(at_or_after), filter.to.map(before));
        // The statement outlives the rows read from it.
        let mut q;
        let mut rows;
        if let Some(point) = &filter.point {
            let Some((lo, hi)) = self.span(point, LATEST_START, lo, hi)? else {
                return Ok(());
            };
            q = self
                .db
                .prepare_cached(&format!(
                    "{EACH_BOUNDARY} SELECT {SLOT_COLUMNS} FROM at CROSS JOIN slot
                     ON slot.start = at.t AND slot.point = ?1 ORDER BY slot.start"
                ))
                .map_err(backend)?;
            rows = q.query(params![point.as_str(), lo, hi]).map_err(backend)?;
        } else {
            let (range, values) = bounds(lo, hi);
            q = self
                .db
                .prepare_cached(&format!(
                    "SELECT {SLOT_COLUMNS} FROM slot WHERE 1{range} ORDER BY point, start"
                ))
                .map_err(backend)?;
            rows = q.query(params_from_iter(values)).map_err(backend)?;
        }
        while let Some(row) = rows.next().map_err(backend)? {
            each(&slot_from_row(row)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::questions::{drive, op, Ask};
    use crate::store::MemoryStore;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Laid out by time, the store answers every question of a point as the model:
        /// at the end of every transaction, committed or rolled back, and at the end,
        /// at every boundary and range asked, on the grid and off it.
        #[test]
        fn sqlite_answers_every_question_as_the_model(ops in prop::collection::vec(op(), 1..60)) {
            let mut sqlite = SqliteStore::in_memory()?;
            drive(&ops, &mut sqlite, &mut MemoryStore::new(), Ask::TransactionsOffGrid)?;
        }
    }

    /// The plan SQLite makes for `sql`, one line per step.
    fn plan(store: &SqliteStore, sql: &str) -> String {
        let mut q = store
            .db
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("a plan");
        let mut steps = Vec::new();
        let mut rows = q.raw_query();
        while let Some(row) = rows.next().expect("a step") {
            steps.push(row.get::<_, String>(3).expect("its text"));
        }
        steps.join("\n")
    }

    /// A point's questions seek each boundary in the indexes by time, and a slot of
    /// every point is a range of the slots' key: none reads the tables through, which
    /// at a million points would be every row of every boundary asked about.
    #[test]
    fn a_points_questions_seek_by_time_and_never_scan_a_table() {
        let store = SqliteStore::in_memory().expect("a store");
        let questions = [
            format!("{EACH_BOUNDARY} SELECT {READING_COLUMNS} FROM at CROSS JOIN reading ON reading.boundary = at.t AND reading.point = ?1 ORDER BY reading.boundary, reading.rowid"),
            format!("{EACH_BOUNDARY} SELECT {SLOT_COLUMNS} FROM at CROSS JOIN slot ON slot.start = at.t AND slot.point = ?1 ORDER BY slot.start"),
            format!("SELECT {READING_COLUMNS} FROM reading WHERE boundary = ?2 AND point = ?1 ORDER BY rowid"),
            USABLE_AT.to_owned(),
            format!("SELECT {SLOT_COLUMNS} FROM slot WHERE start = ?2 ORDER BY point"),
            "SELECT first FROM series WHERE point = ?1".to_owned(),
        ];
        for sql in &questions {
            let plan = plan(&store, sql);
            assert!(
                !plan.contains("SCAN reading")
                    && !plan.contains("SCAN slot")
                    && !plan.contains("SCAN series"),
                "{sql}\n{plan}"
            );
        }
        for sql in [LATEST_BOUNDARY, LATEST_START] {
            let plan = plan(&store, sql);
            assert!(
                plan.contains("SEARCH") || plan.contains("COVERING"),
                "{sql}\n{plan}"
            );
        }
    }
}
