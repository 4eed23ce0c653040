//! The head end's store on SQLite (rusqlite, bundled; WAL, `synchronous=FULL`): the
//! registry and the block records in the database file that the MDMS shares (each owns
//! its tables; each records its schema version in `schema_versions` under its name, not
//! in `PRAGMA user_version`, which is the whole file's). Block records are append-only
//! in the database itself: triggers refuse an UPDATE or DELETE; command records too, but
//! for their end, written once.
//!
//! The file holds secrets once a password was changed or told by command (TRM-08): the
//! password until its command ends (`command_passwords`), then the terminal's DLMS
//! secret derived from it (`terminal_secrets`). So a file this store creates is
//! owner-only (0600), and it must be protected like the terminal secrets file.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use nodes::terminal::slots::Interval;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use wisun::mac::Eui64;
use wisun::pairing_id::PairingId;

use crate::blocks::{BlockAction, BlockRecord};
use crate::collected::{CollectedLog, Verdict};
use crate::commands::{
    self, CommandEnd, CommandError, CommandKind, CommandOutcome, CommandRecord, NewPassword,
    Setting,
};
use crate::events::TerminalEvent;
use crate::point::SupplyPoint;
use crate::registry::DevicePoint;
use crate::storage::{
    check_block, effect, plan_import, setting_of, Effect, HeadendError, HeadendStore, Imported,
};

/// This component's name in `schema_versions`.
const COMPONENT: &str = "headend";
/// The schema this program writes. 2: `command_records.kind` takes `terminal-secret`
/// (TRM-08); a database of version 1 is migrated when opened ([`migrate_1_to_2`]), and a
/// program of version 1 refuses one of 2. Tables added later without touching the others
/// (`collection_since`, `command_records`, `command_passwords`, `terminal_secrets`,
/// `terminal_events`, `collected_logs`, `a_route_events_taken`) kept
/// the version: an older program ignores them, this one creates them in a database of
/// that version.
const VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS device_points (
    supply_point TEXT PRIMARY KEY CHECK (length(supply_point) = 22),
    terminal_id  BLOB NOT NULL UNIQUE CHECK (length(terminal_id) = 8),
    pairing_id   TEXT NOT NULL CHECK (length(pairing_id) = 8),
    smart_meter  BLOB NOT NULL CHECK (length(smart_meter) = 8),
    meter_id     BLOB,
    interval_min INTEGER NOT NULL CHECK (interval_min IN (15, 30)),
    retailer     TEXT NOT NULL CHECK (length(retailer) = 5)
);
CREATE TABLE IF NOT EXISTS block_records (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    supply_point TEXT NOT NULL REFERENCES device_points (supply_point),
    action       TEXT NOT NULL CHECK (action IN ('block', 'reconnect')),
    at_ms        INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    by_name      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS a_route_counters (
    smart_meter BLOB PRIMARY KEY CHECK (length(smart_meter) = 8),
    sent        INTEGER NOT NULL,
    taken       INTEGER
);
CREATE TABLE IF NOT EXISTS collection_since (
    supply_point TEXT PRIMARY KEY REFERENCES device_points (supply_point),
    since_ms     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS command_passwords (
    seq      INTEGER PRIMARY KEY REFERENCES command_records (seq),
    password BLOB NOT NULL CHECK (length(password) BETWEEN 8 AND 32)
);
CREATE TABLE IF NOT EXISTS terminal_secrets (
    terminal_id BLOB PRIMARY KEY CHECK (length(terminal_id) = 8),
    secret      BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS a_route_events_taken (
    smart_meter BLOB PRIMARY KEY CHECK (length(smart_meter) = 8),
    upto        INTEGER NOT NULL CHECK (upto BETWEEN 0 AND 4294967295)
);
CREATE TABLE IF NOT EXISTS terminal_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id  BLOB NOT NULL CHECK (length(terminal_id) = 8),
    smart_meter  BLOB NOT NULL CHECK (length(smart_meter) = 8),
    kind         TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    code         INTEGER CHECK (code BETWEEN 0 AND 65535),
    at_ms        INTEGER NOT NULL,
    received_ms  INTEGER NOT NULL,
    details      TEXT NOT NULL CHECK (length(details) <= 400)
);
CREATE INDEX IF NOT EXISTS terminal_events_by_terminal ON terminal_events (terminal_id, seq);
CREATE TRIGGER IF NOT EXISTS terminal_events_no_update BEFORE UPDATE ON terminal_events
BEGIN SELECT RAISE(ABORT, 'terminal events are append-only (OPS-06)'); END;
CREATE TABLE IF NOT EXISTS collected_logs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id  BLOB NOT NULL CHECK (length(terminal_id) = 8),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    collected_ms INTEGER NOT NULL,
    by_name      TEXT NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    verdict      TEXT NOT NULL,
    head         TEXT NOT NULL,
    content      BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS collected_logs_no_update BEFORE UPDATE ON collected_logs
BEGIN SELECT RAISE(ABORT, 'collected logs are kept as collected (OPS-06)'); END;
CREATE TRIGGER IF NOT EXISTS block_records_no_update BEFORE UPDATE ON block_records
BEGIN SELECT RAISE(ABORT, 'block records are append-only (OPS-07)'); END;
CREATE TRIGGER IF NOT EXISTS block_records_no_delete BEFORE DELETE ON block_records
BEGIN SELECT RAISE(ABORT, 'block records are append-only (OPS-07)'); END;
";

/// The command records' columns and checks (version 2), after `CREATE TABLE <name>`.
const COMMAND_RECORDS: &str = "(
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    supply_point  TEXT NOT NULL REFERENCES device_points (supply_point),
    kind          TEXT NOT NULL
                  CHECK (kind IN ('set-clock', 'set-interval', 'set-password', 'terminal-secret')),
    minutes       INTEGER CHECK (minutes IN (15, 30)),
    at_ms         INTEGER NOT NULL,
    by_name       TEXT NOT NULL,
    outcome       TEXT CHECK (outcome IN ('done', 'refused', 'failed')),
    reason        TEXT,
    outcome_at_ms INTEGER,
    CHECK ((kind = 'set-interval') = (minutes IS NOT NULL)),
    CHECK ((outcome IS NULL) = (reason IS NULL) AND (outcome IS NULL) = (outcome_at_ms IS NULL))
)";

/// The command records' triggers: append-only but for their end, written once.
const COMMAND_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS command_records_no_delete BEFORE DELETE ON command_records
BEGIN SELECT RAISE(ABORT, 'command records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS command_records_end_once BEFORE UPDATE ON command_records
WHEN OLD.outcome IS NOT NULL OR NEW.seq IS NOT OLD.seq
  OR NEW.supply_point IS NOT OLD.supply_point OR NEW.kind IS NOT OLD.kind
  OR NEW.minutes IS NOT OLD.minutes OR NEW.at_ms IS NOT OLD.at_ms OR NEW.by_name IS NOT OLD.by_name
BEGIN SELECT RAISE(ABORT, 'command records are append-only but for their end, written once'); END;
";

fn backend(e: impl std::fmt::Display) -> HeadendError {
    HeadendError::Backend(e.to_string())
}

/// The head end's store in a SQLite file.
#[derive(Debug)]
pub struct SqliteHeadendStore {
    db: Connection,
}

impl SqliteHeadendStore {
    /// Open (or create) the store in `path`.
    ///
    /// # Errors
    /// [`HeadendError::Backend`]: not a database, or a schema this program does not know.
    pub fn open(path: &Path) -> Result<Self, HeadendError> {
        create_owner_only(path).map_err(|e| backend(format!("{}: {e}", path.display())))?;
        Self::init(Connection::open(path).map_err(backend)?)
    }

    /// A store in memory (tests).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    pub fn in_memory() -> Result<Self, HeadendError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut db: Connection) -> Result<Self, HeadendError> {
        let retention = retention_triggers();
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        db.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA}
             {retention}
             CREATE TABLE IF NOT EXISTS command_records {COMMAND_RECORDS};
             {COMMAND_TRIGGERS}
             INSERT OR IGNORE INTO schema_versions (component, version) VALUES ('{COMPONENT}', {VERSION});
             COMMIT;"
        ))
        .map_err(|e| {
            let _ = db.execute_batch("ROLLBACK");
            backend(e)
        })?;
        let mut version = version_in(&db)?;
        if version == 1 {
            migrate_1_to_2(&mut db)?;
            version = version_in(&db)?;
        }
        if version != VERSION {
            return Err(HeadendError::Backend(format!(
                "head end schema version {version} is not one this program knows ({VERSION})"
            )));
        }
        Ok(Self { db })
    }
}

/// OPS-06: terminal events and collected logs leave only past their retention, set in
/// advance ([`crate::events::EVENTS_KEPT_DAYS`], [`crate::collected::LOGS_KEPT_DAYS`]):
/// a DELETE of a younger row is refused by the database (an UPDATE always is). Made
/// again at each open, so a change of the retention takes effect.
fn retention_triggers() -> String {
    let (events, logs) = (
        crate::events::EVENTS_KEPT_DAYS,
        crate::collected::LOGS_KEPT_DAYS,
    );
    let young = |column: &str, days: u32| {
        format!("OLD.{column} > (CAST(strftime('%s', 'now') AS INTEGER) - {days} * 86400) * 1000")
    };
    format!(
        "DROP TRIGGER IF EXISTS terminal_events_no_delete;
         CREATE TRIGGER terminal_events_no_delete BEFORE DELETE ON terminal_events
         WHEN {}
         BEGIN SELECT RAISE(ABORT, 'terminal events are kept {events} days (OPS-06)'); END;
         DROP TRIGGER IF EXISTS collected_logs_no_delete;
         CREATE TRIGGER collected_logs_no_delete BEFORE DELETE ON collected_logs
         WHEN {}
         BEGIN SELECT RAISE(ABORT, 'collected logs are kept {logs} days (OPS-06)'); END;",
        young("received_ms", events),
        young("collected_ms", logs)
    )
}

fn version_in(db: &Connection) -> Result<i64, HeadendError> {
    db.query_row(
        "SELECT version FROM schema_versions WHERE component = ?1",
        [COMPONENT],
        |r| r.get(0),
    )
    .map_err(backend)
}

/// Version 1 to 2: `command_records` rebuilt with the CHECK that takes `terminal-secret`
/// (SQLite cannot alter a CHECK): every record kept with its number, the numbering going
/// on after them, the triggers made again, `command_passwords` still naming its records.
/// In one transaction, the version checked inside it (another process may have migrated
/// first); foreign keys off meanwhile, as SQLite's procedure for rebuilding a table wants,
/// and checked before the commit.
fn migrate_1_to_2(db: &mut Connection) -> Result<(), HeadendError> {
    db.pragma_update(None, "foreign_keys", "OFF")
        .map_err(backend)?;
    let migrated = (|| {
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        if version_in(&tx)? != 1 {
            return Ok(());
        }
        tx.execute_batch(&format!(
            "CREATE TABLE command_records_v2 {COMMAND_RECORDS};
             INSERT INTO command_records_v2 ({COMMAND_COLUMNS})
                 SELECT {COMMAND_COLUMNS} FROM command_records;
             DROP TABLE command_records;
             ALTER TABLE command_records_v2 RENAME TO command_records;
             {COMMAND_TRIGGERS}
             UPDATE schema_versions SET version = 2 WHERE component = '{COMPONENT}';"
        ))
        .map_err(backend)?;
        let broken: i64 = tx
            .query_row(
                "SELECT (SELECT count(*) FROM pragma_foreign_key_check('command_records'))
                      + (SELECT count(*) FROM pragma_foreign_key_check('command_passwords'))",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if broken > 0 {
            return Err(HeadendError::Backend(format!(
                "migration to schema 2: {broken} rows naming what is not there"
            )));
        }
        tx.commit().map_err(backend)?;
        tracing::info!("head end schema migrated from version 1 to 2");
        Ok(())
    })();
    db.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend)?;
    migrated
}

/// Create `path` readable and writable by its owner only, unless it exists: the
/// database may come to hold secrets (a new password, a terminal's DLMS secret). SQLite
/// gives its `-wal` and `-shm` files the database file's mode.
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn eui(bytes: &[u8]) -> Result<Eui64, HeadendError> {
    <[u8; 8]>::try_from(bytes)
        .map(Eui64)
        .map_err(|_| HeadendError::Backend(format!("an EUI-64 of {} bytes", bytes.len())))
}

/// A stored row back as a point; a row the store could not have written is an error.
fn point_of(r: &rusqlite::Row<'_>) -> Result<DevicePoint, HeadendError> {
    let text = |i: usize| r.get::<_, String>(i).map_err(backend);
    let blob = |i: usize| r.get::<_, Vec<u8>>(i).map_err(backend);
    let minutes: u8 = r.get(5).map_err(backend)?;
    Ok(DevicePoint {
        supply_point: text(0)?.parse().map_err(backend)?,
        terminal_id: eui(&blob(1)?)?,
        pairing_id: PairingId::from_bytes(text(2)?.as_bytes()).map_err(backend)?,
        smart_meter: eui(&blob(3)?)?,
        meter_id: r.get(4).map_err(backend)?,
        interval: Interval::from_minutes(minutes)
            .ok_or_else(|| HeadendError::Backend(format!("interval {minutes}")))?,
        retailer: text(6)?.parse().map_err(backend)?,
    })
}

fn record_of(r: &rusqlite::Row<'_>) -> Result<BlockRecord, HeadendError> {
    let action: String = r.get(1).map_err(backend)?;
    let at_ms: i64 = r.get(2).map_err(backend)?;
    Ok(BlockRecord {
        point: r
            .get::<_, String>(0)
            .map_err(backend)?
            .parse()
            .map_err(backend)?,
        action: BlockAction::of(&action)
            .ok_or_else(|| HeadendError::Backend(format!("action {action:?}")))?,
        at: DateTime::<Utc>::from_timestamp_millis(at_ms)
            .ok_or_else(|| HeadendError::Backend(format!("time {at_ms}")))?,
        reason: r.get(3).map_err(backend)?,
        by: r.get(4).map_err(backend)?,
    })
}

fn points_in(db: &Connection) -> Result<Vec<DevicePoint>, HeadendError> {
    points_where(db, "1 ORDER BY supply_point", [])
}

/// The points `condition` (and what follows it: order, limit) admits.
fn points_where(
    db: &Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> Result<Vec<DevicePoint>, HeadendError> {
    let mut q = db
        .prepare_cached(&format!(
            "SELECT supply_point, terminal_id, pairing_id, smart_meter, meter_id, interval_min, retailer
             FROM device_points WHERE {condition}"
        ))
        .map_err(backend)?;
    let rows = q.query_map(values, |r| Ok(point_of(r))).map_err(backend)?;
    rows.map(|r| r.map_err(backend)?).collect()
}

/// Where a point's supply point or terminal (hex) holds `?1` (upper-case).
const HOLDS: &str = "(instr(supply_point, ?1) > 0 OR instr(hex(terminal_id), ?1) > 0)";

fn records_in(db: &Connection) -> Result<Vec<BlockRecord>, HeadendError> {
    let mut q = db
        .prepare_cached(
            "SELECT supply_point, action, at_ms, reason, by_name FROM block_records ORDER BY seq",
        )
        .map_err(backend)?;
    let rows = q.query_map([], |r| Ok(record_of(r))).map_err(backend)?;
    rows.map(|r| r.map_err(backend)?).collect()
}

fn time(ms: i64) -> Result<DateTime<Utc>, HeadendError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| HeadendError::Backend(format!("time {ms}")))
}

/// A stored command record back; a row the store could not have written is an error.
fn command_of(r: &rusqlite::Row<'_>) -> Result<CommandRecord, HeadendError> {
    let kind: String = r.get(2).map_err(backend)?;
    let outcome: Option<String> = r.get(6).map_err(backend)?;
    let end = match outcome {
        None => None,
        Some(o) => Some(CommandEnd {
            outcome: CommandOutcome::of(&o)
                .ok_or_else(|| HeadendError::Backend(format!("outcome {o:?}")))?,
            reason: r.get(7).map_err(backend)?,
            at: time(r.get(8).map_err(backend)?)?,
        }),
    };
    Ok(CommandRecord {
        seq: r.get(0).map_err(backend)?,
        point: r
            .get::<_, String>(1)
            .map_err(backend)?
            .parse()
            .map_err(backend)?,
        kind: CommandKind::of(&kind)
            .ok_or_else(|| HeadendError::Backend(format!("command {kind:?}")))?,
        minutes: r.get(3).map_err(backend)?,
        at: time(r.get(4).map_err(backend)?)?,
        by: r.get(5).map_err(backend)?,
        end,
    })
}

const COMMAND_COLUMNS: &str =
    "seq, supply_point, kind, minutes, at_ms, by_name, outcome, reason, outcome_at_ms";

fn commands_in(
    db: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<CommandRecord>, HeadendError> {
    let mut q = db
        .prepare_cached(&format!(
            "SELECT {COMMAND_COLUMNS} FROM command_records {filter} ORDER BY seq"
        ))
        .map_err(backend)?;
    let rows = q.query_map(args, |r| Ok(command_of(r))).map_err(backend)?;
    rows.map(|r| r.map_err(backend)?).collect()
}

fn password_in(db: &Connection, seq: u64) -> Result<Option<NewPassword>, HeadendError> {
    use rusqlite::OptionalExtension as _;
    let bytes: Option<Vec<u8>> = db
        .query_row(
            "SELECT password FROM command_passwords WHERE seq = ?1",
            [seq],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    // The length only in an error, never the password.
    bytes
        .map(|b| NewPassword::new(b).map_err(|e| HeadendError::Backend(e.to_string())))
        .transpose()
}

impl HeadendStore for SqliteHeadendStore {
    fn points(&self) -> Result<Vec<DevicePoint>, HeadendError> {
        points_in(&self.db)
    }

    fn point(&self, point: &SupplyPoint) -> Result<Option<DevicePoint>, HeadendError> {
        Ok(points_where(&self.db, "supply_point = ?1", [point.as_str()])?.pop())
    }

    fn point_of_terminal(&self, terminal: Eui64) -> Result<Option<DevicePoint>, HeadendError> {
        Ok(points_where(&self.db, "terminal_id = ?1", [terminal.0.as_slice()])?.pop())
    }

    fn find_points(
        &self,
        needle: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DevicePoint>, usize), HeadendError> {
        let needle = needle.to_ascii_uppercase();
        let number = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let total: i64 = self
            .db
            .query_row(
                &format!("SELECT count(*) FROM device_points WHERE {HOLDS}"),
                [&needle],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let page = points_where(
            &self.db,
            &format!("{HOLDS} ORDER BY supply_point LIMIT ?2 OFFSET ?3"),
            params![needle, number(limit), number(offset)],
        )?;
        Ok((page, usize::try_from(total).unwrap_or(0)))
    }

    fn import(&mut self, rows: &[(u64, DevicePoint)]) -> Result<Imported, HeadendError> {
        // The rules see what the write replaces: one transaction.
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let done = plan_import(rows, &points_in(&tx)?)?;
        for (_, p) in rows {
            tx.execute(
                "INSERT INTO device_points
                 (supply_point, terminal_id, pairing_id, smart_meter, meter_id, interval_min, retailer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (supply_point) DO UPDATE SET
                 terminal_id = excluded.terminal_id, pairing_id = excluded.pairing_id,
                 smart_meter = excluded.smart_meter, meter_id = excluded.meter_id,
                 interval_min = excluded.interval_min, retailer = excluded.retailer",
                params![
                    p.supply_point.as_str(),
                    p.terminal_id.0.as_slice(),
                    p.pairing_id.to_string(),
                    p.smart_meter.0.as_slice(),
                    p.meter_id,
                    p.interval.minutes(),
                    p.retailer.as_str(),
                ],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(done)
    }

    fn block_records(&self) -> Result<Vec<BlockRecord>, HeadendError> {
        records_in(&self.db)
    }

    fn record_block(&mut self, record: &BlockRecord) -> Result<(), HeadendError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        check_block(&points_in(&tx)?, &records_in(&tx)?, record)?;
        tx.execute(
            "INSERT INTO block_records (supply_point, action, at_ms, reason, by_name)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.point.as_str(),
                record.action.name(),
                record.at.timestamp_millis(),
                record.reason,
                record.by,
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(())
    }

    fn collection_since(&self) -> Result<BTreeMap<SupplyPoint, DateTime<Utc>>, HeadendError> {
        let mut st = self
            .db
            .prepare("SELECT supply_point, since_ms FROM collection_since")
            .map_err(backend)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(backend)?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (point, ms) = row.map_err(backend)?;
            let point = point
                .parse()
                .map_err(|e| HeadendError::Backend(format!("collection_since: {e}")))?;
            let since = DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| HeadendError::Backend(format!("collection_since: time {ms}")))?;
            out.insert(point, since);
        }
        Ok(out)
    }

    fn start_collection(
        &mut self,
        point: &SupplyPoint,
        since: DateTime<Utc>,
    ) -> Result<(), HeadendError> {
        self.db
            .execute(
                "INSERT OR IGNORE INTO collection_since (supply_point, since_ms) VALUES (?1, ?2)",
                params![point.as_str(), since.timestamp_millis()],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn a_route_counters(&self, sm: Eui64) -> Result<Option<(u32, Option<u32>)>, HeadendError> {
        use rusqlite::OptionalExtension as _;
        self.db
            .query_row(
                "SELECT sent, taken FROM a_route_counters WHERE smart_meter = ?1",
                [sm.0.as_slice()],
                |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Option<u32>>(1)?)),
            )
            .optional()
            .map_err(backend)
    }

    fn set_a_route_counters(
        &mut self,
        sm: Eui64,
        sent: u32,
        taken: Option<u32>,
    ) -> Result<(), HeadendError> {
        // Written at every A-route message: the statement parsed once, not each time.
        self.db
            .prepare_cached(
                "INSERT INTO a_route_counters (smart_meter, sent, taken) VALUES (?1, ?2, ?3)
                 ON CONFLICT (smart_meter) DO UPDATE SET sent = excluded.sent, taken = excluded.taken",
            )
            .and_then(|mut q| q.execute(params![sm.0.as_slice(), sent, taken]))
            .map_err(backend)?;
        Ok(())
    }

    fn record_command(
        &mut self,
        point: &SupplyPoint,
        setting: &Setting,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<u64, HeadendError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        commands::check(&points_in(&tx)?, point, by)?;
        let minutes = match setting {
            Setting::Interval(i) => Some(i.minutes()),
            _ => None,
        };
        tx.execute(
            "INSERT INTO command_records (supply_point, kind, minutes, at_ms, by_name)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                point.as_str(),
                setting.kind().name(),
                minutes,
                at.timestamp_millis(),
                by
            ],
        )
        .map_err(backend)?;
        let seq = u64::try_from(tx.last_insert_rowid()).map_err(backend)?;
        if commands::request_of(seq).is_none() {
            return Err(CommandError::Full(seq).into());
        }
        if let Some(pw) = setting.password() {
            tx.execute(
                "INSERT INTO command_passwords (seq, password) VALUES (?1, ?2)",
                params![seq, pw.expose()],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(seq)
    }

    fn command_records(&self) -> Result<Vec<CommandRecord>, HeadendError> {
        commands_in(&self.db, "", [])
    }

    fn pending_commands(&self) -> Result<Vec<(u64, SupplyPoint, Setting)>, HeadendError> {
        let mut out = Vec::new();
        for r in commands_in(&self.db, "WHERE outcome IS NULL", [])? {
            let password = if r.kind.carries_password() {
                password_in(&self.db, r.seq)?
            } else {
                None
            };
            let setting = setting_of(&r, password.as_ref())?;
            out.push((r.seq, r.point, setting));
        }
        Ok(out)
    }

    fn finish_command(
        &mut self,
        seq: u64,
        end: &CommandEnd,
    ) -> Result<Option<CommandRecord>, HeadendError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let Some(record) = commands_in(&tx, "WHERE seq = ?1 AND outcome IS NULL", [seq])?.pop()
        else {
            return Ok(None);
        };
        let password = password_in(&tx, seq)?;
        match effect(&points_in(&tx)?, &record, password.as_ref(), end.outcome) {
            Effect::Nothing => {}
            Effect::Interval(point, interval) => {
                tx.execute(
                    "UPDATE device_points SET interval_min = ?1 WHERE supply_point = ?2",
                    params![interval.minutes(), point.as_str()],
                )
                .map_err(backend)?;
            }
            Effect::Secret(terminal, secret) => {
                tx.execute(
                    "INSERT INTO terminal_secrets (terminal_id, secret) VALUES (?1, ?2)
                     ON CONFLICT (terminal_id) DO UPDATE SET secret = excluded.secret",
                    params![terminal.0.as_slice(), secret],
                )
                .map_err(backend)?;
            }
        }
        // The password was needed only to send the command.
        tx.execute("DELETE FROM command_passwords WHERE seq = ?1", [seq])
            .map_err(backend)?;
        tx.execute(
            "UPDATE command_records SET outcome = ?1, reason = ?2, outcome_at_ms = ?3
             WHERE seq = ?4",
            params![
                end.outcome.name(),
                end.reason,
                end.at.timestamp_millis(),
                seq
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Some(CommandRecord {
            end: Some(end.clone()),
            ..record
        }))
    }

    fn terminal_secrets(&self) -> Result<BTreeMap<Eui64, Vec<u8>>, HeadendError> {
        let mut q = self
            .db
            .prepare("SELECT terminal_id, secret FROM terminal_secrets")
            .map_err(backend)?;
        let rows = q
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(backend)?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (terminal, secret) = row.map_err(backend)?;
            out.insert(eui(&terminal)?, secret);
        }
        Ok(out)
    }

    fn record_events(
        &mut self,
        events: &[TerminalEvent],
        relayed: Option<(Eui64, u32)>,
    ) -> Result<(), HeadendError> {
        if events.is_empty() && relayed.is_none() {
            return Ok(());
        }
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO terminal_events (terminal_id, smart_meter, kind, code, at_ms, received_ms, details)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(backend)?;
            for e in events {
                insert
                    .execute(params![
                        e.terminal.0.as_slice(),
                        e.smart_meter.0.as_slice(),
                        e.kind,
                        e.code,
                        e.at.timestamp_millis(),
                        e.received_at.timestamp_millis(),
                        e.details
                    ])
                    .map_err(backend)?;
            }
        }
        if let Some((sm, upto)) = relayed {
            tx.prepare_cached(
                "INSERT INTO a_route_events_taken (smart_meter, upto) VALUES (?1, ?2)
                 ON CONFLICT (smart_meter) DO UPDATE SET upto = max(upto, excluded.upto)",
            )
            .and_then(|mut q| q.execute(params![sm.0.as_slice(), upto]))
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn events_taken(&self, sm: Eui64) -> Result<Option<u32>, HeadendError> {
        self.db
            .query_row(
                "SELECT upto FROM a_route_events_taken WHERE smart_meter = ?1",
                [sm.0.as_slice()],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn events(
        &self,
        terminal: Option<Eui64>,
        limit: usize,
    ) -> Result<Vec<TerminalEvent>, HeadendError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut q = self
            .db
            .prepare_cached(
                "SELECT terminal_id, smart_meter, kind, code, at_ms, received_ms, details
                 FROM terminal_events WHERE ?1 IS NULL OR terminal_id = ?1
                 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(backend)?;
        let filter = terminal.map(|t| t.0.to_vec());
        let rows = q
            .query_map(params![filter, limit], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<u16>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(backend)?;
        let time = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| backend(format!("event time {ms} ms out of range")))
        };
        rows.map(|row| {
            let (terminal, sm, kind, code, at, received, details) = row.map_err(backend)?;
            Ok(TerminalEvent {
                terminal: eui(&terminal)?,
                smart_meter: eui(&sm)?,
                kind,
                code,
                at: time(at)?,
                received_at: time(received)?,
                details,
            })
        })
        .collect()
    }
    fn keep_log(
        &mut self,
        log: &CollectedLog,
        content: &[u8],
        head: &str,
    ) -> Result<u64, HeadendError> {
        self.db
            .execute(
                "INSERT INTO collected_logs (terminal_id, name, collected_ms, by_name, first_seq, last_seq, verdict, head, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    log.terminal.0.as_slice(),
                    log.name,
                    log.collected_at.timestamp_millis(),
                    log.by,
                    i64::try_from(log.first_seq).map_err(backend)?,
                    i64::try_from(log.last_seq).map_err(backend)?,
                    log.verdict.text(),
                    head,
                    content
                ],
            )
            .map_err(backend)?;
        u64::try_from(self.db.last_insert_rowid()).map_err(backend)
    }

    fn collected_logs(&self) -> Result<Vec<CollectedLog>, HeadendError> {
        let mut q = self
            .db
            .prepare_cached(
                "SELECT seq, terminal_id, name, collected_ms, by_name, first_seq, last_seq, verdict
                 FROM collected_logs ORDER BY seq",
            )
            .map_err(backend)?;
        let rows = q
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (seq, terminal, name, at, by, first, last, verdict) = row.map_err(backend)?;
            let number = |n: i64| u64::try_from(n).map_err(backend);
            Ok(CollectedLog {
                seq: number(seq)?,
                terminal: eui(&terminal)?,
                name,
                collected_at: DateTime::from_timestamp_millis(at)
                    .ok_or_else(|| backend(format!("log time {at} ms out of range")))?,
                by,
                first_seq: number(first)?,
                last_seq: number(last)?,
                verdict: Verdict::of(&verdict),
            })
        })
        .collect()
    }

    fn prune(&mut self, now: DateTime<Utc>) -> Result<(u64, u64), HeadendError> {
        let before =
            |days: u32| (now - chrono::TimeDelta::days(i64::from(days))).timestamp_millis();
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let events = tx
            .execute(
                "DELETE FROM terminal_events WHERE received_ms < ?1",
                [before(crate::events::EVENTS_KEPT_DAYS)],
            )
            .map_err(backend)?;
        let logs = tx
            .execute(
                "DELETE FROM collected_logs WHERE collected_ms < ?1",
                [before(crate::collected::LOGS_KEPT_DAYS)],
            )
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok((events as u64, logs as u64))
    }

    fn log_content(&self, seq: u64) -> Result<Option<Vec<u8>>, HeadendError> {
        use rusqlite::OptionalExtension as _;
        self.db
            .query_row(
                "SELECT content FROM collected_logs WHERE seq = ?1",
                [i64::try_from(seq).map_err(backend)?],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }
}
