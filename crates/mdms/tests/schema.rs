//! The MDMS's SQLite schema across versions: a version-1 store gains the index of slots
//! by start when opened, its rows untouched; a later version than this program's is
//! refused; a store syncs every commit unless opened relaxed (the simulator).

use mdms::{MdmsStore, SqliteStore};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mdms-schema-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("mdms.db")
}

fn version(db: &rusqlite::Connection) -> i64 {
    db.query_row(
        "SELECT version FROM schema_versions WHERE component = 'mdms'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn has_index(db: &rusqlite::Connection) -> bool {
    db.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'slot_by_start'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

#[test]
fn a_version_1_store_gains_the_slot_index_when_opened() {
    let path = temp("v1");
    drop(SqliteStore::open(&path).unwrap());
    {
        // Back to version 1 as the previous program left it.
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "DROP INDEX slot_by_start; UPDATE schema_versions SET version = 1 WHERE component = 'mdms';
             INSERT INTO meta (key, value) VALUES ('max_power_w', 5000);",
        )
        .unwrap();
        assert!(!has_index(&db));
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.vee().unwrap().map(|v| v.max_power_w),
        Some(5000),
        "rows kept"
    );
    drop(store);
    let db = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(version(&db), 2);
    assert!(has_index(&db));
    // The query plan of a slot across points uses it.
    let plan: String = db
        .query_row(
            "EXPLAIN QUERY PLAN SELECT * FROM slot WHERE start >= 0 AND start < 1800",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("slot_by_start"), "{plan}");
}

#[test]
fn a_later_schema_is_refused() {
    let path = temp("v3");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE schema_versions SET version = 3 WHERE component = 'mdms'",
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
