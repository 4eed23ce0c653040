//! The portal's SQLite schema and users: a version-1 store gains the users' table when
//! opened, its files untouched; both stores refuse a second user of a name and keep the
//! hash, never the password.

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
            "DROP TABLE portal_user; UPDATE schema_versions SET version = 1 WHERE component = 'portal';",
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
    assert_eq!(v, 2);
    db.execute(
        "UPDATE schema_versions SET version = 3 WHERE component = 'portal'",
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
