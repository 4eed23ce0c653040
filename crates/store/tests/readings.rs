//! The SQLite reading store (TRM-03, TRM-06): every field round-trips, a row is never
//! overwritten (a missing one filled only by a recovered value), rows survive closing and
//! reopening, retention drops old rows, a file that is not a store is refused; and, as a
//! property, any sequence of writes gives the same answers as the in-memory model.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use echonet::energy::{EnergyUnit, MeterReading};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{MemoryStore, Put, Reading, ReadingStore, Status, StoreError};
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

#[test]
fn trm03_rows_round_trip_survive_reopening_and_are_never_overwritten() {
    let path = db("roundtrip");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.put(&reading(0, 12_345_678, 0x02)), Ok(Put::Inserted));
        let gap = Reading::missing(slot(1), Interval::Quarter, Status(Status::CLOCK_INVALID));
        assert_eq!(s.put(&gap), Ok(Put::Inserted));
        assert_eq!(s.put(&reading(0, 12_345_678, 0x02)), Ok(Put::Unchanged));
        assert_eq!(
            s.put(&reading(0, 12_345_679, 0x02)),
            Err(StoreError::Conflict { slot: slot(0) })
        );
    }
    let mut s = SqliteStore::open(&path).unwrap();
    let rows = s.range(slot(0), slot(1)).unwrap();
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
    assert_eq!(s.put(&recovered), Ok(Put::Filled));
    assert_eq!(s.last().unwrap(), Some(recovered));
    assert_eq!(s.prune_before(slot(1)), Ok(1));
    assert_eq!(s.range(slot(-5), slot(5)).unwrap().len(), 1);
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

/// One write of the property test: slot, which value or a missing row, recovered or not.
fn write() -> impl Strategy<Value = Reading> {
    (
        0i64..12,
        prop::option::of(0u32..100_000_000),
        any::<bool>(),
        prop::sample::select(vec![0x00u8, 0x02, 0x0A]),
    )
        .prop_map(|(n, value, recovered, unit)| match value {
            Some(v) => Reading {
                recovered,
                ..reading(n, v, unit)
            },
            None => Reading::missing(slot(n), Interval::Half, Status::default()),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn trm03_sqlite_answers_as_the_model_does(writes in prop::collection::vec(write(), 1..40), cut in 0i64..12) {
        let mut model = MemoryStore::new();
        let mut sql = SqliteStore::in_memory().unwrap();
        for w in &writes {
            prop_assert_eq!(sql.put(w), model.put(w));
        }
        prop_assert_eq!(sql.range(slot(0), slot(11)), model.range(slot(0), slot(11)));
        prop_assert_eq!(sql.last(), model.last());
        prop_assert_eq!(sql.prune_before(slot(cut)), model.prune_before(slot(cut)));
        prop_assert_eq!(sql.range(slot(0), slot(11)), model.range(slot(0), slot(11)));
    }
}
