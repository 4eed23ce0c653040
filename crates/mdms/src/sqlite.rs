//! The MDMS store on SQLite, the embedded default: one file, WAL with
//! `synchronous=FULL` (a committed batch survives a `kill -9` or a power cut), one
//! transaction per ingest, readable with the `sqlite3` shell. The same engine as the
//! terminal's store (crates/store), so the project writes one SQL dialect; the schema
//! is plain enough to move to PostgreSQL as it is (docs/architecture.md).
//!
//! Schema version 2 (1 and an index of slots by start, for the public server's
//! publication of a slot across every point; a version-1 store gains it when opened). Times are integers: boundaries and slot
//! starts in seconds since the epoch, receipt times in nanoseconds (kept exactly as
//! received). Every column is checked by the database as well, so a row this program
//! could not have written is refused at the write, and one found at a read is an error,
//! never a guess.

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
const VERSION: i64 = 2;
/// What version 2 adds to version 1.
const SCHEMA_2: &str = "CREATE INDEX slot_by_start ON slot (start, point);";
/// This component's name in `schema_versions`.
const COMPONENT: &str = "mdms";
/// The shared table of each component's schema version.
const SCHEMA_VERSIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL);";

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
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
CREATE UNIQUE INDEX reading_once ON reading (point, boundary, interval_min, terminal,
    ifnull(ac_in, -1), ifnull(ac_out, -1), status, received_at, backfilled);
CREATE TABLE slot (
    point       TEXT NOT NULL,
    start       INTEGER NOT NULL,
    minutes     INTEGER NOT NULL CHECK (minutes IN (15, 30)),
    terminal    BLOB NOT NULL CHECK (length(terminal) = 8),
    in_wh       INTEGER NOT NULL CHECK (in_wh BETWEEN 0 AND 99999999),
    out_wh      INTEGER NOT NULL CHECK (out_wh BETWEEN 0 AND 99999999),
    cum_in      INTEGER NOT NULL CHECK (cum_in BETWEEN 0 AND 99999999),
    cum_out     INTEGER NOT NULL CHECK (cum_out BETWEEN 0 AND 99999999),
    quality     TEXT NOT NULL CHECK (quality IN ('measured', 'backfilled', 'recovered', 'estimated', 'flagged')),
    received_at INTEGER,
    PRIMARY KEY (point, start)
) WITHOUT ROWID;
";

/// A usable reading (`RawReading::usable`) in SQL.
macro_rules! usable {
    () => {
        "ac_in IS NOT NULL AND ac_out IS NOT NULL AND (status & 4) = 0"
    };
}

/// The `?3` latest boundaries of point `?1` before `?2` with a usable reading.
const USABLE_BEFORE: &str = concat!(
    "SELECT DISTINCT boundary FROM reading WHERE point = ?1 AND boundary < ?2 AND ",
    usable!(),
    " ORDER BY boundary DESC LIMIT ?3"
);
/// The `?3` earliest boundaries of point `?1` after `?2` with a usable reading.
const USABLE_AFTER: &str = concat!(
    "SELECT DISTINCT boundary FROM reading WHERE point = ?1 AND boundary > ?2 AND ",
    usable!(),
    " ORDER BY boundary ASC LIMIT ?3"
);

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
        match version {
            Some(VERSION) => {}
            Some(1) => db
                .execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA_2}
                     UPDATE schema_versions SET version = {VERSION} WHERE component = '{COMPONENT}';
                     COMMIT;"
                ))
                .map_err(|e| {
                    let _ = db.execute_batch("ROLLBACK");
                    backend(e)
                })?,
            Some(other) => {
                return Err(MdmsError::Store(format!(
                    "MDMS schema {other} is not this program's ({VERSION})"
                )))
            }
            None => {
                let ours: i64 = db
                    .query_row(
                        "SELECT count(*) FROM sqlite_master WHERE name IN ('meta', 'reading', 'slot')",
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
                db.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} {SCHEMA_2}
                     INSERT INTO schema_versions (component, version) VALUES ('{COMPONENT}', {VERSION});
                     COMMIT;"
                ))
                .map_err(|e| {
                    let _ = db.execute_batch("ROLLBACK");
                    backend(e)
                })?;
            }
        }
        Ok(Self { db })
    }
}

impl SqliteStore {
    /// The `n` boundaries of `point`'s usable readings nearest `t` that `sql` (one of
    /// [`USABLE_BEFORE`], [`USABLE_AFTER`]) asks for.
    fn usable_nearest(
        &self,
        sql: &str,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let mut q = self.db.prepare_cached(sql).map_err(backend)?;
        let rows = q
            .query_map(params![point.as_str(), seconds(t), n], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(backend)?;
        rows.map(|s| from_seconds(s.map_err(backend)?)).collect()
    }
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

/// `column >= from` and `column <= to` (or `< to`) for the bounds given, as SQL and
/// parameters after `point`.
fn bounds(
    column: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    to_inclusive: bool,
) -> (String, Vec<Value>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    if let Some(f) = from {
        sql.push_str(&format!(" AND {column} >= ?"));
        values.push(Value::Integer(seconds(f)));
    }
    if let Some(t) = to {
        let op = if to_inclusive { "<=" } else { "<" };
        sql.push_str(&format!(" AND {column} {op} ?"));
        values.push(Value::Integer(seconds(t)));
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
        self.readings(point, Some(boundary), Some(boundary))
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
            .map(drop)
            .map_err(backend)
    }

    fn readings(
        &self,
        point: &SupplyPoint,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<RawReading>, MdmsError> {
        let (range, mut values) = bounds("boundary", from, to, true);
        values.insert(0, Value::Text(point.as_str().to_owned()));
        let mut q = self
            .db
            .prepare_cached(&format!(
                "SELECT {READING_COLUMNS} FROM reading WHERE point = ?{range} ORDER BY boundary, rowid"
            ))
            .map_err(backend)?;
        let rows = q
            .query_map(params_from_iter(values), |r| Ok(reading_from_row(r)))
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend)?).collect()
    }

    fn usable_before(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        self.usable_nearest(USABLE_BEFORE, point, t, n)
    }

    fn usable_after(
        &self,
        point: &SupplyPoint,
        t: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<DateTime<Utc>>, MdmsError> {
        self.usable_nearest(USABLE_AFTER, point, t, n)
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
            .map(drop)
            .map_err(backend)
    }

    fn delete_slot(&mut self, point: &SupplyPoint, start: DateTime<Utc>) -> Result<(), MdmsError> {
        self.db
            .prepare_cached("DELETE FROM slot WHERE point = ?1 AND start = ?2")
            .and_then(|mut q| q.execute(params![point.as_str(), seconds(start)]))
            .map(drop)
            .map_err(backend)
    }

    fn slots_starting(&self, start: DateTime<Utc>) -> Result<Vec<Slot>, MdmsError> {
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
        let (range, mut values) = bounds("start", filter.from, filter.to, false);
        let point = match &filter.point {
            Some(p) => {
                values.insert(0, Value::Text(p.as_str().to_owned()));
                "point = ?"
            }
            None => "1",
        };
        let mut q = self
            .db
            .prepare_cached(&format!(
                "SELECT {SLOT_COLUMNS} FROM slot WHERE {point}{range} ORDER BY point, start"
            ))
            .map_err(backend)?;
        let mut rows = q.query(params_from_iter(values)).map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            each(&slot_from_row(row)?)?;
        }
        Ok(())
    }
}
