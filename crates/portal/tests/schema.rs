//! The portal's SQLite schema and users: a version-1 store gains the users' table when
//! opened, its files untouched; both stores refuse a second user of a name and keep the
//! hash, never the password; both keep every version of a register's records, each
//! number and version once, and the database refuses to change or delete one.

use std::collections::BTreeMap;

use chrono::Utc;
use portal::records::{OpsRecord, RecordKind};
use portal::users::{Role, User};
use portal::{MemoryPortalStore, PortalStore, SqlitePortalStore};

#[test]
fn ops_a_version_1_store_gains_the_users_table_when_opened() {
    let dir = std::env::temp_dir().join(format!("portal-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("system.db");
    drop(SqlitePortalStore::open(&path).unwrap());
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "DROP TABLE portal_user; DROP TABLE portal_record; UPDATE schema_versions SET version = 1 WHERE component = 'portal';",
        )
        .unwrap();
    }
    let mut store = SqlitePortalStore::open(&path).unwrap();
    store
        .add_user(&User::new("viewer-1", Role::Viewer, b"a long password").unwrap())
        .unwrap();
    drop(store);
    let db = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = db
        .query_row(
            "SELECT version FROM schema_versions WHERE component = 'portal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, 3);
    let registers: i64 = db
        .query_row("SELECT count(*) FROM portal_record", [], |r| r.get(0))
        .unwrap();
    assert_eq!(registers, 0, "the registers' table made too");
    db.execute(
        "UPDATE schema_versions SET version = 4 WHERE component = 'portal'",
        [],
    )
    .unwrap();
    drop(db);
    assert!(
        SqlitePortalStore::open(&path).is_err(),
        "a later schema is refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops_a_user_name_is_taken_once_and_only_its_hash_is_kept() {
    let stores: Vec<(&str, Box<dyn PortalStore>)> = vec![
        ("memory", Box::new(MemoryPortalStore::default())),
        ("sqlite", Box::new(SqlitePortalStore::in_memory().unwrap())),
    ];
    for (kind, mut store) in stores {
        let u = User::new("ops.sato", Role::Operator, b"secret secret 1").unwrap();
        store.add_user(&u).unwrap();
        let again = User::new("ops.sato", Role::Viewer, b"another secret 2").unwrap();
        assert!(store.add_user(&again).is_err(), "{kind}");
        let kept = store.users().unwrap();
        assert_eq!(kept, vec![u.clone()], "{kind}");
        assert!(kept[0].verify(b"secret secret 1") && !kept[0].verify(b"another secret 2"));
        assert!(!kept[0].hash.contains("secret"), "{kind}");
    }
}

fn record(kind: RecordKind, id: u64, version: u32, title: &str) -> OpsRecord {
    OpsRecord {
        kind,
        id,
        version,
        at: Utc::now(),
        by: "sato".to_owned(),
        fields: BTreeMap::from([("title".to_owned(), title.to_owned())]),
    }
}

#[test]
fn ops_every_version_of_a_record_is_kept_once_in_both_stores_and_never_changed() {
    let dir = std::env::temp_dir().join(format!("portal-records-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("system.db");
    let stores: Vec<Box<dyn PortalStore>> = vec![
        Box::new(MemoryPortalStore::default()),
        Box::new(SqlitePortalStore::open(&path).unwrap()),
    ];
    for mut store in stores {
        store
            .add_record(&record(RecordKind::Risk, 1, 1, "jamming"))
            .unwrap();
        store
            .add_record(&record(RecordKind::Risk, 2, 1, "theft"))
            .unwrap();
        store
            .add_record(&record(RecordKind::Risk, 1, 2, "jamming, reviewed"))
            .unwrap();
        store
            .add_record(&record(RecordKind::Incident, 1, 1, "lost"))
            .unwrap();
        for refused in [
            record(RecordKind::Risk, 2, 1, "a number taken"),
            record(RecordKind::Risk, 4, 1, "a number skipped"),
            record(RecordKind::Risk, 1, 2, "a version taken"),
            record(RecordKind::Risk, 3, 2, "an edit of nothing"),
        ] {
            assert!(store.add_record(&refused).is_err(), "{refused:?}");
        }
        let risks = store.records(RecordKind::Risk).unwrap();
        let seen: Vec<(u64, u32, &str)> = risks
            .iter()
            .map(|r| (r.id, r.version, r.fields["title"].as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, 1, "jamming"),
                (1, 2, "jamming, reviewed"),
                (2, 1, "theft")
            ]
        );
        assert_eq!(store.records(RecordKind::Vulnerability).unwrap(), []);
    }
    let db = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "UPDATE portal_record SET fields = '{}' WHERE id = 1",
        "DELETE FROM portal_record WHERE id = 2",
    ] {
        assert!(db.execute(sql, []).is_err(), "{sql}");
    }
    drop(db);
    assert_eq!(
        SqlitePortalStore::open(&path)
            .unwrap()
            .records(RecordKind::Risk)
            .unwrap()
            .len(),
        3
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops06_audit_entries_leave_only_past_their_retention() {
    use portal::store::AUDIT_KEPT_DAYS;
    use portal::AuditEntry;
    let dir = std::env::temp_dir().join(format!("portal-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("system.db");
    let now = Utc::now();
    let entry = |hours: i64| AuditEntry {
        at: now - chrono::TimeDelta::days(i64::from(AUDIT_KEPT_DAYS))
            + chrono::TimeDelta::hours(hours),
        who: "A0019".to_owned(),
        serial: None,
        what: "GET /30min/FileListReceiver".to_owned(),
        result: 200,
    };
    let stores: Vec<Box<dyn PortalStore>> = vec![
        Box::new(MemoryPortalStore::default()),
        Box::new(SqlitePortalStore::open(&path).unwrap()),
    ];
    for mut store in stores {
        store.record_audit(&entry(-1)).unwrap();
        store.record_audit(&entry(1)).unwrap();
        assert_eq!(store.prune_audit(now).unwrap(), 1);
        assert_eq!(store.audit(None).unwrap().len(), 1);
        assert_eq!(store.prune_audit(now).unwrap(), 0);
    }
    let db = rusqlite::Connection::open(&path).unwrap();
    assert!(
        db.execute("DELETE FROM portal_audit", []).is_err(),
        "a young entry stays"
    );
    assert!(db
        .execute("UPDATE portal_audit SET result = 500", [])
        .is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
