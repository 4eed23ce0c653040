//! The portal's store on SQLite, in the system's database file beside the head end's
//! and the MDMS's tables: issues and files, append-only (triggers refuse any change or
//! deletion: an older issue stays published), each issue with its files in one
//! transaction. Schema version 3 under `portal` in the shared `schema_versions` table
//! (version 1, the operations pages' users (2) and their registers (3); an older store
//! gains what it lacks when opened).

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use edi::{FileName, InfoCode, PartyCode};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::error::PortalError;
use crate::publish::Issue;
use crate::records::{check_record, OpsRecord, RecordKind};
use crate::store::{check_issue, AuditEntry, Listed, PortalStore};
use crate::users::{Role, User};

/// The schema this program writes.
const VERSION: i64 = 3;
/// What version 3 adds to version 2: the operations registers (incidents, risks,
/// vulnerability notes), every version of every record, never changed or deleted.
const SCHEMA_3: &str = "
CREATE TABLE portal_record (
    kind    TEXT NOT NULL CHECK (kind IN ('incident', 'risk', 'vulnerability')),
    id      INTEGER NOT NULL CHECK (id >= 1),
    version INTEGER NOT NULL CHECK (version >= 1),
    at      INTEGER NOT NULL,
    by_name TEXT NOT NULL CHECK (length(by_name) BETWEEN 1 AND 64),
    fields  TEXT NOT NULL CHECK (json_valid(fields)),
    PRIMARY KEY (kind, id, version)
) WITHOUT ROWID;
CREATE TRIGGER portal_record_kept BEFORE UPDATE ON portal_record
    BEGIN SELECT RAISE(ABORT, 'a record version is never changed'); END;
CREATE TRIGGER portal_record_stays BEFORE DELETE ON portal_record
    BEGIN SELECT RAISE(ABORT, 'a record version is never deleted'); END;
";
/// What version 2 adds to version 1.
const SCHEMA_2: &str = "
CREATE TABLE portal_user (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    role TEXT NOT NULL CHECK (role IN ('operator', 'viewer')),
    hash TEXT NOT NULL CHECK (hash LIKE '$argon2id$%')
) WITHOUT ROWID;
";
/// This component's name in `schema_versions`.
const COMPONENT: &str = "portal";

const SCHEMA: &str = "
CREATE TABLE portal_issue (
    retailer  TEXT NOT NULL CHECK (length(retailer) = 5),
    info      TEXT NOT NULL CHECK (info IN ('1130', '1140', '1150', '1160')),
    at        TEXT NOT NULL CHECK (length(at) = 12),
    update_no INTEGER NOT NULL CHECK (update_no BETWEEN 0 AND 99),
    digest    BLOB NOT NULL CHECK (length(digest) = 32),
    created   INTEGER NOT NULL,
    PRIMARY KEY (retailer, info, at, update_no)
) WITHOUT ROWID;
CREATE TABLE portal_file (
    retailer TEXT NOT NULL CHECK (length(retailer) = 5),
    name     TEXT NOT NULL CHECK (length(name) = 28),
    created  INTEGER NOT NULL,
    zip      BLOB NOT NULL,
    PRIMARY KEY (retailer, name)
) WITHOUT ROWID;
CREATE TABLE portal_audit (
    at     INTEGER NOT NULL,
    who    TEXT NOT NULL,
    serial TEXT,
    what   TEXT NOT NULL CHECK (length(what) <= 200),
    result INTEGER NOT NULL CHECK (result BETWEEN 100 AND 599)
);
CREATE TRIGGER portal_audit_kept BEFORE UPDATE ON portal_audit
    BEGIN SELECT RAISE(ABORT, 'an audit record is never changed'); END;
CREATE TRIGGER portal_issue_kept BEFORE UPDATE ON portal_issue
    BEGIN SELECT RAISE(ABORT, 'an issue is never changed'); END;
CREATE TRIGGER portal_issue_stays BEFORE DELETE ON portal_issue
    BEGIN SELECT RAISE(ABORT, 'an issue is never deleted'); END;
CREATE TRIGGER portal_file_kept BEFORE UPDATE ON portal_file
    BEGIN SELECT RAISE(ABORT, 'a published file is never changed'); END;
CREATE TRIGGER portal_file_stays BEFORE DELETE ON portal_file
    BEGIN SELECT RAISE(ABORT, 'a published file is never deleted'); END;
";

fn backend(e: impl std::fmt::Display) -> PortalError {
    PortalError::Store(e.to_string())
}

/// A message's time as the issue table keeps it: `YYYYMMDDHHMM`, as in the file name.
fn at_text(at: NaiveDateTime) -> String {
    at.format("%Y%m%d%H%M").to_string()
}

fn nanos(t: DateTime<Utc>) -> Result<i64, PortalError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| PortalError::Store(format!("time {t} does not fit in nanoseconds")))
}

/// The portal's store on SQLite.
#[derive(Debug)]
pub struct SqlitePortalStore {
    db: Connection,
}

impl SqlitePortalStore {
    /// Open the store in the database at `path`, creating its tables if they are not
    /// there.
    ///
    /// # Errors
    /// [`PortalError::Store`]: the file cannot be opened, is damaged, or holds another
    /// version of the portal's schema.
    pub fn open(path: &Path) -> Result<Self, PortalError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::init(Connection::open_with_flags(path, flags).map_err(backend)?)
    }

    /// A store in memory (tests).
    ///
    /// # Errors
    /// [`PortalError::Store`].
    pub fn in_memory() -> Result<Self, PortalError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(db: Connection) -> Result<Self, PortalError> {
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        let ok: String = db
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(backend)?;
        if ok != "ok" {
            return Err(PortalError::Store(format!("integrity check: {ok}")));
        }
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL);",
        )
        .map_err(backend)?;
        let version: Option<i64> = db
            .query_row(
                "SELECT version FROM schema_versions WHERE component = ?1",
                [COMPONENT],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        // Each version's additions, applied in order from the store's version up.
        let steps = [SCHEMA, SCHEMA_2, SCHEMA_3];
        let from = match version {
            None => 0,
            Some(v) if (1..=VERSION).contains(&v) => v,
            Some(other) => {
                return Err(PortalError::Store(format!(
                    "portal schema {other} is not this program's ({VERSION})"
                )))
            }
        };
        if from < VERSION {
            let skip = usize::try_from(from).unwrap_or(steps.len());
            let additions: String = steps.iter().skip(skip).copied().collect();
            db.execute_batch(&format!(
                "BEGIN IMMEDIATE; {additions}
                 INSERT INTO schema_versions (component, version) VALUES ('{COMPONENT}', {VERSION})
                     ON CONFLICT (component) DO UPDATE SET version = {VERSION};
                 COMMIT;"
            ))
            .map_err(|e| {
                let _ = db.execute_batch("ROLLBACK");
                backend(e)
            })?;
        }
        // OPS-06: an audit entry leaves only past its retention, set in advance; made
        // again at each open so that a change of the retention takes effect.
        db.execute_batch(&format!(
            "DROP TRIGGER IF EXISTS portal_audit_stays;
             CREATE TRIGGER portal_audit_stays BEFORE DELETE ON portal_audit
             WHEN OLD.at > (CAST(strftime('%s', 'now') AS INTEGER) - {days} * 86400) * 1000000000
             BEGIN SELECT RAISE(ABORT, 'an audit entry is kept {days} days (OPS-06)'); END;",
            days = crate::store::AUDIT_KEPT_DAYS
        ))
        .map_err(backend)?;
        Ok(Self { db })
    }

    fn write(&mut self, issue: &Issue) -> Result<(), PortalError> {
        // The write lock first (waiting for the head end's and the MDMS's writers to the
        // same file), not a read upgraded later, which SQLite refuses at once when
        // another writer committed meanwhile.
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let last: Option<u8> = tx
            .query_row(
                "SELECT max(update_no) FROM portal_issue WHERE retailer = ?1 AND info = ?2 AND at = ?3",
                params![issue.retailer.as_str(), issue.info.as_str(), at_text(issue.at)],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let mut taken = Vec::new();
        for f in &issue.files {
            let n: i64 = tx
                .query_row(
                    "SELECT count(*) FROM portal_file WHERE retailer = ?1 AND name = ?2",
                    params![issue.retailer.as_str(), f.name.to_string()],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if n > 0 {
                taken.push(f.name);
            }
        }
        check_issue(issue, last, |name| taken.contains(name))?;
        let created = nanos(issue.created)?;
        tx.execute(
            "INSERT INTO portal_issue (retailer, info, at, update_no, digest, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                issue.retailer.as_str(),
                issue.info.as_str(),
                at_text(issue.at),
                issue.update,
                issue.digest.as_slice(),
                created
            ],
        )
        .map_err(backend)?;
        for f in &issue.files {
            tx.execute(
                "INSERT INTO portal_file (retailer, name, created, zip) VALUES (?1, ?2, ?3, ?4)",
                params![issue.retailer.as_str(), f.name.to_string(), created, f.zip],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }
}

impl PortalStore for SqlitePortalStore {
    fn last_issue(
        &self,
        retailer: &PartyCode,
        info: InfoCode,
        at: NaiveDateTime,
    ) -> Result<Option<(u8, [u8; 32])>, PortalError> {
        let row: Option<(u8, Vec<u8>)> = self
            .db
            .prepare_cached(
                "SELECT update_no, digest FROM portal_issue WHERE retailer = ?1 AND info = ?2
                 AND at = ?3 ORDER BY update_no DESC LIMIT 1",
            )
            .and_then(|mut q| {
                q.query_row(
                    params![retailer.as_str(), info.as_str(), at_text(at)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .map_err(backend)?;
        row.map(|(u, d)| {
            <[u8; 32]>::try_from(d.as_slice())
                .map(|d| (u, d))
                .map_err(|_| PortalError::Store(format!("a digest of {} bytes", d.len())))
        })
        .transpose()
    }

    fn put_issue(&mut self, issue: &Issue) -> Result<(), PortalError> {
        self.write(issue)
    }

    fn files(&self, retailer: &PartyCode) -> Result<Vec<Listed>, PortalError> {
        let mut q = self
            .db
            .prepare_cached(
                "SELECT name, length(zip), created FROM portal_file WHERE retailer = ?1 ORDER BY name",
            )
            .map_err(backend)?;
        let rows = q
            .query_map([retailer.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (name, size, created) = row.map_err(backend)?;
            Ok(Listed {
                name: name.parse()?,
                size: u64::try_from(size).map_err(backend)?,
                updated: DateTime::from_timestamp_nanos(created),
            })
        })
        .collect()
    }

    fn file(&self, retailer: &PartyCode, name: &FileName) -> Result<Option<Vec<u8>>, PortalError> {
        self.db
            .prepare_cached("SELECT zip FROM portal_file WHERE retailer = ?1 AND name = ?2")
            .and_then(|mut q| {
                q.query_row(params![retailer.as_str(), name.to_string()], |r| r.get(0))
                    .optional()
            })
            .map_err(backend)
    }

    fn record_audit(&mut self, e: &AuditEntry) -> Result<(), PortalError> {
        let what: String = e.what.chars().take(200).collect();
        self.db
            .prepare_cached(
                "INSERT INTO portal_audit (at, who, serial, what, result) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut q| q.execute(params![nanos(e.at).map_err(|x| rusqlite::Error::ToSqlConversionFailure(x.into()))?, e.who, e.serial, what, e.result]))
            .map(drop)
            .map_err(backend)
    }

    fn add_user(&mut self, user: &User) -> Result<(), PortalError> {
        let added = self
            .db
            .execute(
                "INSERT INTO portal_user (name, role, hash) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![user.name, user.role.as_str(), user.hash],
            )
            .map_err(backend)?;
        if added == 0 {
            return Err(PortalError::Refused(format!("user {} exists", user.name)));
        }
        Ok(())
    }

    fn users(&self) -> Result<Vec<User>, PortalError> {
        self.users_where("1", [])
    }

    fn user(&self, name: &str) -> Result<Option<User>, PortalError> {
        Ok(self.users_where("name = ?1", [name])?.pop())
    }

    fn add_record(&mut self, record: &OpsRecord) -> Result<(), PortalError> {
        let fields = serde_json::to_string(&record.fields).map_err(backend)?;
        let at = nanos(record.at)?;
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let kind = record.kind.name();
        let last_id: u64 = tx
            .query_row(
                "SELECT coalesce(max(id), 0) FROM portal_record WHERE kind = ?1",
                [kind],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let last_version: Option<u32> = tx
            .query_row(
                "SELECT max(version) FROM portal_record WHERE kind = ?1 AND id = ?2",
                params![kind, record.id],
                |r| r.get(0),
            )
            .map_err(backend)?;
        check_record(record, last_id, last_version)?;
        tx.execute(
            "INSERT INTO portal_record (kind, id, version, at, by_name, fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind, record.id, record.version, at, record.by, fields],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn records(&self, kind: RecordKind) -> Result<Vec<OpsRecord>, PortalError> {
        let mut q = self
            .db
            .prepare_cached(
                "SELECT id, version, at, by_name, fields FROM portal_record WHERE kind = ?1 ORDER BY id, version",
            )
            .map_err(backend)?;
        let rows = q
            .query_map([kind.name()], |r| {
                Ok((
                    r.get::<_, u64>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (id, version, at, by, fields) = row.map_err(backend)?;
            let fields = serde_json::from_str(&fields).map_err(|e| {
                PortalError::Store(format!("{} {id} version {version}: {e}", kind.name()))
            })?;
            Ok(OpsRecord {
                kind,
                id,
                version,
                at: DateTime::from_timestamp_nanos(at),
                by,
                fields,
            })
        })
        .collect()
    }

    fn prune_audit(&mut self, now: DateTime<Utc>) -> Result<u64, PortalError> {
        let kept = now - chrono::TimeDelta::days(i64::from(crate::store::AUDIT_KEPT_DAYS));
        let removed = self
            .db
            .execute("DELETE FROM portal_audit WHERE at < ?1", [nanos(kept)?])
            .map_err(backend)?;
        Ok(removed as u64)
    }

    fn audit(&self, latest: Option<usize>) -> Result<Vec<AuditEntry>, PortalError> {
        // The latest by rowid, then turned oldest first (-1: no limit).
        let limit = latest.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut q = self
            .db
            .prepare_cached(
                "SELECT at, who, serial, what, result FROM
                     (SELECT rowid, * FROM portal_audit ORDER BY rowid DESC LIMIT ?1)
                 ORDER BY rowid",
            )
            .map_err(backend)?;
        let rows = q
            .query_map([limit], |r| {
                Ok(AuditEntry {
                    at: DateTime::from_timestamp_nanos(r.get(0)?),
                    who: r.get(1)?,
                    serial: r.get(2)?,
                    what: r.get(3)?,
                    result: r.get(4)?,
                })
            })
            .map_err(backend)?;
        rows.map(|r| r.map_err(backend)).collect()
    }
}

impl SqlitePortalStore {
    /// The users `condition` admits, by name.
    fn users_where<const N: usize>(
        &self,
        condition: &str,
        values: [&str; N],
    ) -> Result<Vec<User>, PortalError> {
        let mut q = self
            .db
            .prepare_cached(&format!(
                "SELECT name, role, hash FROM portal_user WHERE {condition} ORDER BY name"
            ))
            .map_err(backend)?;
        let rows = q
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (name, role, hash) = row.map_err(backend)?;
            let role = Role::parse(&role)
                .ok_or_else(|| PortalError::Store(format!("user {name}: role {role:?}")))?;
            Ok(User { name, role, hash })
        })
        .collect()
    }
}
