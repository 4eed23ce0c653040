//! The terminal's readings in SQLite: one row per meter and slot boundary, keyed by the
//! meter's place (`MeterKey`, SYS-04) and the slot's Unix time. The rule for a slot
//! already stored is the node's (`nodes::terminal::store::merge`), applied inside the
//! write's transaction.
//!
//! **Schema versions** (`PRAGMA user_version`): 0 — the first, one meter, keyed by slot
//! alone; 2 — keyed by meter and slot. A store of version 0 is migrated when opened, in
//! one transaction (every row becomes the first meter's). `meter` defaults to 0 so that a
//! program of the first schema, run again after a firmware rollback (SEC-10), still
//! reads and writes a migrated store.

use std::path::Path;

use chrono::{DateTime, Utc};
use echonet::energy::{EnergyUnit, MeterReading};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{merge, MeterKey, Put, Reading, ReadingStore, Status, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

/// The schema this program writes.
const VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE readings (
    meter        INTEGER NOT NULL DEFAULT 0 CHECK (meter BETWEEN 0 AND 255),
    slot         INTEGER NOT NULL,
    interval_min INTEGER NOT NULL CHECK (interval_min IN (15, 30)),
    ac_in        INTEGER CHECK (ac_in BETWEEN 0 AND 99999999),
    ac_in_unit   INTEGER,
    ac_out       INTEGER CHECK (ac_out BETWEEN 0 AND 99999999),
    ac_out_unit  INTEGER,
    meter_id     BLOB,
    status       INTEGER NOT NULL CHECK (status BETWEEN 0 AND 255),
    recovered    INTEGER NOT NULL CHECK (recovered IN (0, 1)),
    read_at      INTEGER,
    PRIMARY KEY (meter, slot)
);
";

/// Version 0 (one meter, keyed by slot) to 2, around [`SCHEMA`]: every row the first
/// meter's.
const RENAME_V0: &str = "ALTER TABLE readings RENAME TO readings_v0;";
const COPY_V0: &str = "
INSERT INTO readings
    (meter, slot, interval_min, ac_in, ac_in_unit, ac_out, ac_out_unit, meter_id, status, recovered, read_at)
    SELECT 0, slot, interval_min, ac_in, ac_in_unit, ac_out, ac_out_unit, meter_id, status, recovered, read_at
    FROM readings_v0;
DROP TABLE readings_v0;
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
        Self::schema(&db)?;
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

impl SqliteStore {
    /// Create the schema, or migrate an older one, in one transaction: a crash leaves
    /// the store as it was or migrated, never half.
    fn schema(db: &Connection) -> Result<(), StoreError> {
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        let exists: bool = db
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'readings'",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let script = match (exists, version) {
            (false, _) => SCHEMA.to_owned(),
            (true, 0) => format!("{RENAME_V0} {SCHEMA} {COPY_V0}"),
            (true, VERSION) => return Ok(()),
            (true, other) => {
                return Err(StoreError::Backend(format!(
                    "store schema version {other} is not one this program knows ({VERSION})"
                )))
            }
        };
        let migrating = exists;
        db.execute_batch(&format!(
            "BEGIN IMMEDIATE; {script} PRAGMA user_version = {VERSION}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = db.execute_batch("ROLLBACK");
            backend(e)
        })?;
        if migrating {
            tracing::info!(from = version, to = VERSION, "reading store migrated");
        }
        Ok(())
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

/// The first whole second at or after `t`: slots are kept in whole seconds, and a bound
/// with a fraction (a DLMS client's range, a range's end plus a nanosecond) must neither
/// take in nor leave out the second before it.
fn seconds_from(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

impl ReadingStore for SqliteStore {
    fn put(&mut self, meter: MeterKey, row: &Reading) -> Result<Put, StoreError> {
        let slot = row.slot.timestamp();
        // Read and write in one transaction: the rule sees what the write replaces.
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let existing = tx
            .query_row(
                "SELECT * FROM readings WHERE meter = ?1 AND slot = ?2",
                [i64::from(meter.0), slot],
                |r| Ok(from_row(r)),
            )
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
             (meter, slot, interval_min, ac_in, ac_in_unit, ac_out, ac_out_unit, meter_id, status, recovered, read_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                meter.0,
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

    fn range(
        &self,
        meter: MeterKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Reading>, StoreError> {
        let mut q = self
            .db
            .prepare_cached(
                "SELECT * FROM readings WHERE meter = ?1 AND slot BETWEEN ?2 AND ?3 ORDER BY slot",
            )
            .map_err(backend)?;
        let rows = q
            .query_map(
                [i64::from(meter.0), seconds_from(from), to.timestamp()],
                |r| Ok(from_row(r)),
            )
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend)?).collect()
    }

    fn last(&self, meter: MeterKey) -> Result<Option<Reading>, StoreError> {
        self.db
            .query_row(
                "SELECT * FROM readings WHERE meter = ?1 ORDER BY slot DESC LIMIT 1",
                [i64::from(meter.0)],
                |r| Ok(from_row(r)),
            )
            .optional()
            .map_err(backend)?
            .transpose()
    }

    fn prune_before(&mut self, t: DateTime<Utc>) -> Result<usize, StoreError> {
        self.db
            .execute("DELETE FROM readings WHERE slot < ?1", [seconds_from(t)])
            .map_err(backend)
    }
}
