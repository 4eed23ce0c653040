//! EDI files built per second (issue 13): the slot message of 100,000 device points
//! (10 files of 10,000) and a daily message file of 10,000 points (480,000 records; the
//! daily message of 100,000 points is ten of them), each written as XML straight into
//! its deflated ZIP. The peer, `interop/bench_edi.py`, builds the same daily file with
//! Python's string joins and `zipfile` in the same run (`scripts/bench edi`).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use edi::{files, PartyCode, Quality, Record};

fn midnight() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-01T00:00:00+09:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn record(p: u32, slot: u32) -> Record {
    let start = midnight() + TimeDelta::minutes(i64::from(slot) * 30);
    Record {
        point: format!("09{p:020}").parse().unwrap(),
        terminal: [2, 0x1A, 0, 0, (p >> 16) as u8, (p >> 8) as u8, p as u8, 1],
        slot_start: start,
        interval_min: 30,
        in_wh: (p * 7 + slot * 13) % 2_000,
        out_wh: (p + slot) % 500,
        cum_in_wh: (p * 1_000 + slot * 300) % 100_000_000,
        cum_out_wh: (p * 10 + slot * 50) % 100_000_000,
        quality: Quality::Measured,
        received_at: Some(start + TimeDelta::milliseconds(1_800_455)),
    }
}

fn build(c: &mut Criterion) {
    let (sender, retailer): (PartyCode, PartyCode) =
        ("IOT09".parse().unwrap(), "R0001".parse().unwrap());
    let created = midnight() + TimeDelta::hours(25);
    let mut g = c.benchmark_group("edi_files");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    let slot: Vec<Record> = (1..=100_000).map(|p| record(p, 27)).collect();
    g.bench_function("slot_100000_points", |b| {
        b.iter(|| {
            let f = files::slot(sender, retailer, created, 0, slot.clone()).unwrap();
            assert_eq!(f.len(), 10);
            f
        });
    });
    let day: Vec<Record> = (1..=10_000)
        .flat_map(|p| (0..48).map(move |s| record(p, s)))
        .collect();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    g.bench_function("daily_10000_points", |b| {
        b.iter(|| {
            let f = files::daily(sender, retailer, created, date, 0, day.clone()).unwrap();
            assert_eq!(f.len(), 1);
            f
        });
    });
    g.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
