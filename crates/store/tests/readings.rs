//! The SQLite reading store (TRM-03, TRM-06): every field round-trips, a row is never
//! overwritten (a missing one filled only by a recovered value), rows survive closing and
//! reopening, retention drops old rows, a file that is not a store is refused; and, as a
//! property, any sequence of writes gives the same answers as the in-memory model. Rows
//! are kept per meter (SYS-04); a store of the first schema is migrated when opened.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use echonet::energy::{EnergyUnit, MeterReading};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{
    MemoryStore, MeterKey, Put, Reading, ReadingStore, Status, StoreError,
};
use proptest::prelude::*;
use store::SqliteStore;

fn db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "iotroute-store-{}-{name}.sqlite",
        std::process::id()
    ));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

fn slot(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap() + TimeDelta::minutes(30 * n)
}

fn reading(n: i64, value: u32, unit: u8) -> Reading {
    let unit = EnergyUnit::from_code(unit).unwrap();
    Reading {
        slot: slot(n),
        interval: Interval::Half,
        ac_in: MeterReading::from_digits(value, unit).ok(),
        ac_out: MeterReading::from_digits(99_999_999 - value, unit).ok(),
        meter_id: Some(b"METER-0001".to_vec()),
        status: Status(Status::CLOCK_ADJUSTED),
        recovered: false,
        read_at: Some(slot(n) + TimeDelta::seconds(3)),
    }
}

const M: MeterKey = MeterKey::FIRST;

#[test]
fn trm03_rows_round_trip_survive_reopening_and_are_never_overwritten() {
    let path = db("roundtrip");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.put(M, &reading(0, 12_345_678, 0x02)), Ok(Put::Inserted));
        let gap = Reading::missing(slot(1), Interval::Quarter, Status(Status::CLOCK_INVALID));
        assert_eq!(s.put(M, &gap), Ok(Put::Inserted));
        assert_eq!(s.put(M, &reading(0, 12_345_678, 0x02)), Ok(Put::Unchanged));
        assert_eq!(
            s.put(M, &reading(0, 12_345_679, 0x02)),
            Err(StoreError::Conflict { slot: slot(0) })
        );
    }
    let mut s = SqliteStore::open(&path).unwrap();
    let rows = s.range(M, slot(0), slot(1)).unwrap();
    assert_eq!(rows[0], reading(0, 12_345_678, 0x02));
    assert_eq!(
        rows[1],
        Reading::missing(slot(1), Interval::Quarter, Status(Status::CLOCK_INVALID))
    );
    let recovered = Reading {
        recovered: true,
        interval: Interval::Quarter,
        ..reading(1, 5, 0x0A)
    };
    assert_eq!(s.put(M, &recovered), Ok(Put::Filled));
    assert_eq!(s.last(M).unwrap(), Some(recovered));
    assert_eq!(s.prune_before(slot(1)), Ok(1));
    assert_eq!(s.range(M, slot(-5), slot(5)).unwrap().len(), 1);
}

#[test]
fn sec06_a_file_that_is_not_a_store_is_refused() {
    let path = db("junk");
    std::fs::write(&path, vec![0xA5; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Backend(_))
    ));
}

/// A store of the first schema (version 0: one meter, keyed by slot), as the first
/// terminals wrote it.
const SCHEMA_V0: &str = "
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

/// The first schema's write, as a program of that version (run again after a firmware
/// rollback) makes it.
fn put_v0(db: &rusqlite::Connection, n: i64, value: u32) {
    db.execute(
        "INSERT OR REPLACE INTO readings
         (slot, interval_min, ac_in, ac_in_unit, ac_out, ac_out_unit, meter_id, status, recovered, read_at)
         VALUES (?1, 30, ?2, 2, ?3, 2, X'4D455445522D30303031', 32, 0, ?4)",
        rusqlite::params![
            slot(n).timestamp(),
            value,
            99_999_999 - value,
            (slot(n) + TimeDelta::seconds(3)).timestamp()
        ],
    )
    .unwrap();
}

#[test]
fn sys04_a_store_of_the_first_schema_is_migrated_and_stays_usable_by_its_program() {
    let path = db("migrate");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(SCHEMA_V0).unwrap();
        put_v0(&old, 0, 100);
        put_v0(&old, 1, 200);
    }
    {
        let mut s = SqliteStore::open(&path).unwrap();
        // Every row is the first meter's, as it was.
        assert_eq!(
            s.range(M, slot(0), slot(1)).unwrap(),
            vec![reading(0, 100, 0x02), reading(1, 200, 0x02)]
        );
        assert_eq!(s.range(MeterKey(1), slot(0), slot(1)).unwrap(), vec![]);
        assert_eq!(s.put(MeterKey(1), &reading(1, 7, 0x02)), Ok(Put::Inserted));
    }
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    // The program of the first schema, after a rollback, still writes the first
    // meter's rows; opened again, nothing is migrated twice.
    put_v0(&rusqlite::Connection::open(&path).unwrap(), 2, 300);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.range(M, slot(0), slot(5)).unwrap().len(), 3);
    assert_eq!(s.last(M).unwrap(), Some(reading(2, 300, 0x02)));
    assert_eq!(s.last(MeterKey(1)).unwrap(), Some(reading(1, 7, 0x02)));
}

#[test]
fn sys04_a_store_of_a_schema_not_known_is_refused_untouched() {
    let path = db("future");
    {
        let future = rusqlite::Connection::open(&path).unwrap();
        future.execute_batch(SCHEMA_V0).unwrap();
        put_v0(&future, 0, 100);
        future.execute_batch("PRAGMA user_version = 9").unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Backend(e)) if e.contains("version 9")
    ));
    let n: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

/// One write of the property test: meter, slot, which value or a missing row, recovered
/// or not.
fn write() -> impl Strategy<Value = (MeterKey, Reading)> {
    (
        0u8..2,
        0i64..12,
        prop::option::of(0u32..100_000_000),
        any::<bool>(),
        prop::sample::select(vec![0x00u8, 0x02, 0x0A]),
    )
        .prop_map(|(meter, n, value, recovered, unit)| {
            let row = match value {
                Some(v) => Reading {
                    recovered,
                    ..reading(n, v, unit)
                },
                None => Reading::missing(slot(n), Interval::Half, Status::default()),
            };
            (MeterKey(meter), row)
        })
}

/// An offset from a whole second: none, a nanosecond either way, half a second.
fn off() -> impl Strategy<Value = TimeDelta> {
    prop::sample::select(vec![
        TimeDelta::zero(),
        TimeDelta::nanoseconds(1),
        TimeDelta::nanoseconds(-1),
        TimeDelta::milliseconds(500),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn trm03_sys04_sqlite_answers_as_the_model_does(
        writes in prop::collection::vec(write(), 1..40),
        cut in 0i64..12,
        (from, to) in (0i64..12, 0i64..12),
        // Bounds off the whole second, as a DLMS client's range or the load profile's
        // "newer than" look (a range's end plus a nanosecond) give them.
        (by_from, by_to, by_cut) in (off(), off(), off()),
    ) {
        let mut model = MemoryStore::new();
        let mut sql = SqliteStore::in_memory().unwrap();
        for (m, w) in &writes {
            prop_assert_eq!(sql.put(*m, w), model.put(*m, w));
        }
        for m in [MeterKey(0), MeterKey(1)] {
            prop_assert_eq!(sql.range(m, slot(0), slot(11)), model.range(m, slot(0), slot(11)));
            let (a, b) = (slot(from) + by_from, slot(to) + by_to);
            prop_assert_eq!(sql.range(m, a, b), model.range(m, a, b));
            prop_assert_eq!(sql.last(m), model.last(m));
        }
        let cut = slot(cut) + by_cut;
        prop_assert_eq!(sql.prune_before(cut), model.prune_before(cut));
        for m in [MeterKey(0), MeterKey(1)] {
            prop_assert_eq!(sql.range(m, slot(0), slot(11)), model.range(m, slot(0), slot(11)));
        }
    }
}
