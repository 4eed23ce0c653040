//! Readings stored per second (issue 11): `SqliteStore::put` — one row per transaction,
//! WAL, `synchronous=FULL`, the node's rule for an existing row checked inside the
//! transaction, as the terminal writes — against a peer measured in the same run: a bare
//! rusqlite INSERT of the same row into the same table with the same durability. And the
//! store's half of a 90-day backfill: reading 4,320 rows back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use echonet::energy::{EnergyUnit, MeterReading};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{MeterKey, Reading, ReadingStore, Status};
use rusqlite::{params, Connection};
use store::SqliteStore;

fn db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "iotroute-store-bench-{}-{name}.sqlite",
        std::process::id()
    ));
    remove(&p);
    p
}

fn remove(p: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
}

fn slot(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap() + TimeDelta::minutes(30 * n)
}

fn reading(n: i64) -> Reading {
    let wh = u32::try_from(n % 99_999_999).unwrap();
    Reading {
        slot: slot(n),
        interval: Interval::Half,
        ac_in: MeterReading::from_digits(wh, EnergyUnit::from_code(0x02).unwrap()).ok(),
        ac_out: MeterReading::from_digits(wh / 2, EnergyUnit::from_code(0x02).unwrap()).ok(),
        meter_id: Some(b"IOTROUTE-EMU-0001".to_vec()),
        status: Status(0),
        recovered: false,
        read_at: Some(slot(n) + TimeDelta::seconds(3)),
    }
}

fn put(c: &mut Criterion) {
    let mut g = c.benchmark_group("store_put");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let ours = db("ours");
    {
        let mut s = SqliteStore::open(&ours).unwrap();
        let mut n = 0;
        g.bench_function("sqlite_store", |b| {
            b.iter(|| {
                s.put(MeterKey::FIRST, &reading(n)).unwrap();
                n += 1;
            });
        });
    }
    let peer = db("peer");
    {
        // The same file layout (schema made by the store), then bare inserts.
        drop(SqliteStore::open(&peer).unwrap());
        let conn = Connection::open(&peer).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        let mut n = 0;
        g.bench_function("rusqlite_insert", |b| {
            b.iter(|| {
                let r = reading(n);
                conn.execute(
                    "INSERT INTO readings
                     (slot, interval_min, ac_in, ac_in_unit, ac_out, ac_out_unit, meter_id, status, recovered, read_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        r.slot.timestamp(),
                        r.interval.minutes(),
                        r.ac_in.map(MeterReading::digits),
                        r.ac_in.map(|v| v.unit().code()),
                        r.ac_out.map(MeterReading::digits),
                        r.ac_out.map(|v| v.unit().code()),
                        r.meter_id,
                        r.status.0,
                        r.recovered,
                        r.read_at.map(|t| t.timestamp()),
                    ],
                )
                .unwrap();
                n += 1;
            });
        });
    }
    g.finish();
    remove(&ours);
    remove(&peer);
}

fn range(c: &mut Criterion) {
    let path = db("range");
    let mut s = SqliteStore::open(&path).unwrap();
    for n in 0..4_320 {
        s.put(MeterKey::FIRST, &reading(n)).unwrap();
    }
    let mut g = c.benchmark_group("store_range");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("90_days_4320_rows", |b| {
        b.iter(|| {
            let rows = s.range(MeterKey::FIRST, slot(0), slot(4_319)).unwrap();
            assert_eq!(rows.len(), 4_320);
        });
    });
    g.finish();
    remove(&path);
}

criterion_group!(benches, put, range);
criterion_main!(benches);
