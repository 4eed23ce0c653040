//! The MDMS's SQLite schema across versions: a store of version 1 or 2 (laid out by
//! point) is laid out by time when opened, its rows, their order of arrival and every
//! answer kept, or left as it was when it cannot be; a later version than this
//! program's is refused; a store syncs every commit unless opened relaxed (the
//! simulator).

mod common;

use chrono::TimeDelta;
use common::*;
use mdms::{Counter, Filter, Mdms, MdmsStore, SqliteStore, Status, Vee};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mdms-schema-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("mdms.db")
}

fn version_of(db: &rusqlite::Connection) -> i64 {
    db.query_row(
        "SELECT version FROM schema_versions WHERE component = 'mdms'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// The readings and slots tables and indexes as schema version 2 wrote them (ordered
/// by point); version 1 is the same without `slot_by_start`.
const VERSION_2: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
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

const READING_COLUMNS: &str =
    "point, boundary, interval_min, terminal, ac_in, ac_out, status, received_at, backfilled";
const SLOT_COLUMNS: &str =
    "point, start, minutes, terminal, in_wh, out_wh, cum_in, cum_out, quality, received_at";

/// Readings of two points out of order, a boundary delivered twice (a conflict: both
/// kept, the first counting), one not usable, and their slots, through the MDMS.
fn history(mdms: &mut Mdms<SqliteStore>) {
    let mut second = pushed(4, 1_120, 7);
    second.ac_in = Some(Counter::new(1_190).unwrap());
    second.received_at = at(4) + TimeDelta::seconds(40);
    let mut unusable = pushed(8, 0, 0);
    unusable.ac_in = None;
    unusable.status = Status(Status::DATA_NOT_VALID);
    let mut other = pushed(2, 500, 0);
    other.point = other_point();
    mdms.ingest(&[
        pushed(0, 1_000, 5),
        pushed(6, 1_180, 9),
        pushed(2, 1_060, 6),
    ])
    .unwrap();
    mdms.ingest(&[
        pushed(4, 1_120, 7),
        other,
        second,
        unusable,
        pushed(10, 1_300, 11),
    ])
    .unwrap();
}

/// Every row of `table` as text, in `order`.
fn rows(db: &rusqlite::Connection, columns: &str, table: &str, order: &str) -> Vec<String> {
    let mut q = db
        .prepare(&format!(
            "SELECT quote({}) FROM {table} ORDER BY {order}",
            columns.replace(", ", ") || ',' || quote(")
        ))
        .unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What the MDMS answers of both points: readings, slots, usable boundaries.
fn answers(store: &SqliteStore) -> Vec<String> {
    let mut out = Vec::new();
    for p in [point(), other_point()] {
        out.push(format!("{:?}", store.readings(&p, None, None).unwrap()));
        out.push(format!(
            "{:?}",
            store.usable_before(&p, at(100), 10).unwrap()
        ));
        out.push(format!(
            "{:?}",
            store.usable_after(&p, at(-100), 10).unwrap()
        ));
        let mut slots = Vec::new();
        let filter = Filter {
            point: Some(p.clone()),
            from: None,
            to: None,
        };
        store
            .scan_slots(&filter, &mut |s| {
                slots.push(s.clone());
                Ok(())
            })
            .unwrap();
        out.push(format!("{slots:?}"));
    }
    out.push(format!("{:?}", store.slots_starting(at(2)).unwrap()));
    out
}

/// A store of `version` (1 or 2) holding the history, under `name`: written by this program, then its
/// rows moved into the tables as that version laid them out, under their rowids.
fn old_store(name: &str, version: i64) -> (std::path::PathBuf, Vec<String>) {
    let now = temp(&format!("{name}-now"));
    let mut mdms = Mdms::new(SqliteStore::open(&now).unwrap(), Vee { max_power_w: 5000 }).unwrap();
    history(&mut mdms);
    let expected = answers(mdms.store());
    drop(mdms);
    let path = temp(&format!("{name}-v{version}"));
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(VERSION_2).unwrap();
    if version == 2 {
        db.execute_batch("CREATE INDEX slot_by_start ON slot (start, point);")
            .unwrap();
    }
    db.execute_batch(&format!(
        "ATTACH '{}' AS now;
         INSERT INTO meta SELECT * FROM now.meta;
         INSERT INTO reading (rowid, {READING_COLUMNS}) SELECT rowid, {READING_COLUMNS} FROM now.reading ORDER BY point, boundary;
         INSERT INTO slot ({SLOT_COLUMNS}) SELECT {SLOT_COLUMNS} FROM now.slot;
         CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
         INSERT INTO schema_versions VALUES ('mdms', {version});
         DETACH now;",
        now.display()
    ))
    .unwrap();
    (path, expected)
}

#[test]
fn a_store_of_version_1_or_2_is_laid_out_by_time_when_opened_its_rows_and_answers_kept() {
    for version in [1, 2] {
        let (path, expected) = old_store("rewritten", version);
        let before = rusqlite::Connection::open(&path).unwrap();
        let readings = rows(&before, READING_COLUMNS, "reading", "rowid");
        let slots = rows(&before, SLOT_COLUMNS, "slot", "point, start");
        drop(before);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.vee().unwrap().map(|v| v.max_power_w), Some(5000));
        assert_eq!(answers(&store), expected, "version {version}");
        drop(store);
        let db = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(version_of(&db), 3);
        assert_eq!(
            rows(&db, READING_COLUMNS, "reading", "rowid"),
            readings,
            "same rows, same arrival order"
        );
        assert_eq!(rows(&db, SLOT_COLUMNS, "slot", "point, start"), slots);
        assert_eq!(
            rows(&db, "point, first", "series", "point"),
            vec![
                format!("'{}',{}", other_point().as_str(), at(2).timestamp()),
                format!("'{}',{}", point().as_str(), at(0).timestamp()),
            ]
        );
        // The old tables and indexes are gone, the new ones by time.
        assert_eq!(
            rows(&db, "name", "sqlite_master", "name").join(" "),
            "'meta' 'reading' 'reading_once' 'schema_versions' 'series' 'slot' \
             'sqlite_autoindex_schema_versions_1'"
        );
    }
}

#[test]
fn a_store_that_cannot_be_laid_out_again_is_left_as_it_was() {
    // A slot off the 15-minute grid, which this program never writes: version 3 refuses
    // it, so the rewrite fails and rolls back whole.
    let (path, _) = old_store("refused", 2);
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "INSERT INTO slot SELECT point, start + 60, minutes, terminal, in_wh, out_wh, cum_in,
         cum_out, quality, received_at FROM slot LIMIT 1",
    )
    .unwrap();
    let readings = rows(&db, READING_COLUMNS, "reading", "rowid");
    drop(db);
    assert!(SqliteStore::open(&path).is_err());
    let db = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(version_of(&db), 2);
    assert_eq!(rows(&db, READING_COLUMNS, "reading", "rowid"), readings);
}

#[test]
fn a_later_schema_is_refused() {
    let path = temp("v4");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE schema_versions SET version = 4 WHERE component = 'mdms'",
            [],
        )
        .unwrap();
    assert!(SqliteStore::open(&path).is_err());
}

#[test]
fn every_commit_is_synced_unless_the_store_is_opened_relaxed() {
    let path = temp("durability");
    let full = SqliteStore::open(&path).unwrap();
    assert_eq!(full.synchronous().unwrap(), 2, "FULL");
    drop(full);
    let relaxed = SqliteStore::open_with(&path, mdms::Durability::Relaxed).unwrap();
    assert_eq!(relaxed.synchronous().unwrap(), 1, "NORMAL");
}
