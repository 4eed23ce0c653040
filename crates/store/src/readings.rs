//! The terminal's readings in SQLite: one row per slot boundary, keyed by its Unix time.
//! The rule for a slot already stored is the node's (`nodes::terminal::store::merge`),
//! applied inside the write's transaction.

use std::path::Path;

use chrono::{DateTime, Utc};
use echonet::energy::{EnergyUnit, MeterReading};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{merge, Put, Reading, ReadingStore, Status, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS readings (
    slot         INTEGER PRIMARY KEY,
    interval_min INTEGER NOT NULL CHECK (interval_min IN (15, 30)),
    ac_in        INTEGER CHECK (ac_in BETWEEN 0 AND 99999999),
    ac_in_unit   INTEGER,
    ac_out       INTEGER CHECK (ac_out BETWEEN 0 AND 99999999),
    ac_out_unit  INTEGER,
    meter_id     BLOB,
    status       INTEGER NOT NULL CHECK (status BETWEEN 0 AND 255),
    recovered    INTEGER NOT NULL CHECK (recovered IN (0, 1)),
    read_at      INTEGER
);
";

/// The reading store on SQLite.
#[derive(Debug)]
pub struct SqliteStore {
    db: Connection,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Open (or create) the store at `path`: WAL, `synchronous=FULL`, the schema.
    ///
    /// # Errors
    /// [`StoreError::Backend`]: the file cannot be opened or is not this store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Connection::open(path).map_err(backend)?;
        Self::init(db)
    }

    /// A store in memory (tests).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(db: Connection) -> Result<Self, StoreError> {
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        db.execute_batch(SCHEMA).map_err(backend)?;
        // A file that is not SQLite, or damaged, fails here rather than at the first slot.
        let ok: String = db
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(backend)?;
        if ok != "ok" {
            return Err(StoreError::Backend(format!("integrity check: {ok}")));
        }
        Ok(Self { db })
    }
}

fn time(s: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(s, 0)
        .ok_or_else(|| StoreError::Backend(format!("time {s} out of range")))
}

fn value(digits: Option<u32>, unit: Option<u8>) -> Result<Option<MeterReading>, StoreError> {
    match (digits, unit) {
        (None, _) => Ok(None),
        (Some(d), Some(u)) => {
            let unit = EnergyUnit::from_code(u).map_err(backend)?;
            MeterReading::from_digits(d, unit)
                .map(Some)
                .map_err(backend)
        }
        (Some(_), None) => Err(StoreError::Backend("a value without its unit".to_owned())),
    }
}

/// A stored row back as a [`Reading`]; a row the store could not have written is an
/// error, never a guess.
fn from_row(r: &Row<'_>) -> Result<Reading, StoreError> {
    let col = |e: rusqlite::Error| backend(e);
    let interval: u8 = r.get("interval_min").map_err(col)?;
    let read_at: Option<i64> = r.get("read_at").map_err(col)?;
    Ok(Reading {
        slot: time(r.get("slot").map_err(col)?)?,
        interval: Interval::from_minutes(interval)
            .ok_or_else(|| StoreError::Backend(format!("interval {interval}")))?,
        ac_in: value(
            r.get("ac_in").map_err(col)?,
            r.get("ac_in_unit").map_err(col)?,
        )?,
        ac_out: value(
            r.get("ac_out").map_err(col)?,
            r.get("ac_out_unit").map_err(col)?,
        )?,
        meter_id: r.get("meter_id").map_err(col)?,
        status: Status(r.get("status").map_err(col)?),
        recovered: r.get("recovered").map_err(col)?,
        read_at: read_at.map(time).transpose()?,
    })
}

impl ReadingStore for SqliteStore {
    fn put(&mut self, row: &Reading) -> Result<Put, StoreError> {
        let slot = row.slot.timestamp();
        // Read and write in one transaction: the rule sees what the write replaces.
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let existing = tx
            .query_row("SELECT * FROM readings WHERE slot = ?1", [slot], |r| {
                Ok(from_row(r))
            })
            .optional()
            .map_err(backend)?
            .transpose()?;
        let outcome = match &existing {
            Some(e) => merge(e, row)?,
            None => Put::Inserted,
        };
        if outcome == Put::Unchanged {
            return Ok(outcome);
        }
        tx.execute(
            "INSERT OR REPLACE INTO readings
             (slot, interval_min, ac_in, ac_in_unit, ac_out, ac_out_unit, meter_id, status, recovered, read_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                slot,
                row.interval.minutes(),
                row.ac_in.map(MeterReading::digits),
                row.ac_in.map(|v| v.unit().code()),
                row.ac_out.map(MeterReading::digits),
                row.ac_out.map(|v| v.unit().code()),
                row.meter_id,
                row.status.0,
                row.recovered,
                row.read_at.map(|t| t.timestamp()),
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(outcome)
    }

    fn range(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Reading>, StoreError> {
        let mut q = self
            .db
            .prepare_cached("SELECT * FROM readings WHERE slot BETWEEN ?1 AND ?2 ORDER BY slot")
            .map_err(backend)?;
        let rows = q
            .query_map([from.timestamp(), to.timestamp()], |r| Ok(from_row(r)))
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend)?).collect()
    }

    fn last(&self) -> Result<Option<Reading>, StoreError> {
        self.db
            .query_row(
                "SELECT * FROM readings ORDER BY slot DESC LIMIT 1",
                [],
                |r| Ok(from_row(r)),
            )
            .optional()
            .map_err(backend)?
            .transpose()
    }

    fn prune_before(&mut self, t: DateTime<Utc>) -> Result<usize, StoreError> {
        self.db
            .execute("DELETE FROM readings WHERE slot < ?1", [t.timestamp()])
            .map_err(backend)
    }
}
