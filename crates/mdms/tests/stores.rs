//! The SQLite store (alone and with the tails in front of it) against the in-memory
//! model, and the order of arrival: for any set
//! of readings (gaps, missing rows, backfills, conflicts, glitches, the 30→15 switch,
//! two points), taken in in any order, batching and duplication, every store exports
//! the same bytes as one batch into the model. Plus what only a file shows: a store
//! survives closing and reopening, a file that is not one is refused.

mod common;

use std::path::PathBuf;

use chrono::TimeDelta;
use common::*;
use mdms::{
    Arrival, Counter, Interval, Mdms, MdmsError, MdmsStore, MemoryStore, RawReading, SqliteStore,
    Status, Tailed, Vee,
};
use proptest::prelude::*;

fn db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "iotroute-mdms-{}-{name}.sqlite",
        std::process::id()
    ));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

/// One generated reading: point (0/1), quarter-hour, interval, counter step taken from
/// a per-point running counter, what happened to it.
#[derive(Debug, Clone)]
struct Spec {
    other: bool,
    q: i64,
    quarter: bool,
    in_step: u32,
    out_step: u32,
    kind: u8,
    late: i64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        0i64..24,
        any::<bool>(),
        prop_oneof![0u32..2000, 0u32..20_000_000],
        0u32..500,
        0u8..10,
        0i64..3,
    )
        .prop_map(|(other, q, quarter, in_step, out_step, kind, late)| Spec {
            other,
            q,
            quarter,
            in_step,
            out_step,
            kind,
            late,
        })
}

/// Readings from specs: counters run up from near the wrap; `kind` makes some missing,
/// recovered, flagged, backfilled, or a second, conflicting reading of the boundary.
fn readings(specs: &[Spec]) -> Vec<RawReading> {
    let mut counters = [(99_990_000u32, 0u32); 2];
    let mut out = Vec::new();
    for s in specs {
        let c = &mut counters[usize::from(s.other)];
        c.0 = (c.0 + s.in_step) % mdms::MODULUS;
        c.1 = (c.1 + s.out_step) % mdms::MODULUS;
        let mut r = pushed(s.q, c.0, c.1);
        if s.other {
            r.point = other_point();
        }
        if s.quarter {
            r.interval = Interval::Quarter;
        }
        r.received_at += TimeDelta::minutes(7 * s.late);
        match s.kind {
            0 => {
                r.ac_in = None;
                r.ac_out = None;
                r.status = Status(Status::DATA_NOT_VALID);
            }
            1 => {
                r.status = Status(Status::RECOVERED);
                r.arrival = Arrival::Backfilled;
            }
            2 => r.status = Status(Status::METER_ID_MISMATCH),
            3 => r.arrival = Arrival::Backfilled,
            4 => {
                out.push(RawReading {
                    ac_in: Counter::new((c.0 + 7) % mdms::MODULUS).ok(),
                    received_at: r.received_at + TimeDelta::seconds(1),
                    ..r.clone()
                });
            }
            5 => r.ac_out = None,
            _ => {}
        }
        out.push(r);
    }
    out
}

fn one_batch_into_the_model(all: &[RawReading]) -> String {
    let mut m = Mdms::new(MemoryStore::new(), Vee::default()).unwrap();
    m.ingest(all).unwrap();
    csv(&m)
}

/// `all` shuffled by `order`, some readings repeated, cut into batches of `cuts`.
fn arrivals(all: &[RawReading], order: &[usize], cuts: &[usize]) -> Vec<Vec<RawReading>> {
    let mut seq: Vec<RawReading> = Vec::new();
    for (i, &o) in order.iter().enumerate() {
        let r = &all[o % all.len()];
        seq.push(r.clone());
        if i % 3 == 0 {
            seq.push(r.clone());
        }
    }
    seq.extend(all.iter().cloned()); // every reading at least once
    let mut batches = Vec::new();
    let mut rest = seq.as_slice();
    for &c in cuts {
        let (head, tail) = rest.split_at(c.min(rest.len()));
        batches.push(head.to_vec());
        rest = tail;
    }
    batches.push(rest.to_vec());
    batches
}

fn ingest_all<S: MdmsStore>(m: &mut Mdms<S>, batches: &[Vec<RawReading>]) {
    for b in batches {
        m.ingest(b).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_answers_as_the_model_for_any_batches_in_any_order(
        specs in prop::collection::vec(spec(), 1..40),
        order in prop::collection::vec(any::<usize>(), 0..60),
        cuts in prop::collection::vec(0usize..8, 0..10),
    ) {
        let all = readings(&specs);
        let batches = arrivals(&all, &order, &cuts);
        let mut model = Mdms::new(MemoryStore::new(), Vee::default()).unwrap();
        let mut sqlite = Mdms::new(SqliteStore::in_memory().unwrap(), Vee::default()).unwrap();
        let mut tailed =
            Mdms::new(Tailed::new(SqliteStore::in_memory().unwrap()), Vee::default()).unwrap();
        ingest_all(&mut model, &batches);
        ingest_all(&mut sqlite, &batches);
        ingest_all(&mut tailed, &batches);
        prop_assert_eq!(csv(&sqlite), csv(&model));
        prop_assert_eq!(csv(&tailed), csv(&model));
        prop_assert_eq!(
            sqlite.readings(&point(), None, None).unwrap().len(),
            model.readings(&point(), None, None).unwrap().len()
        );
        // A slot of every point, as the public server reads it: SQLite's indexed query
        // answers as the model's scan, for every start there is and one there is not.
        let starts: std::collections::BTreeSet<_> = model
            .slots(&point(), None, None)
            .unwrap()
            .iter()
            .map(|s| s.start)
            .collect();
        for start in starts.iter().copied().chain(starts.first().map(|t| *t + chrono::TimeDelta::seconds(60))) {
            let at = |m: &dyn MdmsStore| m.slots_starting(start).unwrap();
            prop_assert_eq!(at(sqlite.store()), at(model.store()));
        }
    }

    #[test]
    fn any_order_batching_or_duplication_of_the_same_readings_exports_the_same(
        specs in prop::collection::vec(spec(), 1..40),
        order in prop::collection::vec(any::<usize>(), 0..60),
        cuts in prop::collection::vec(0usize..8, 0..10),
    ) {
        let all = readings(&specs);
        let reference = one_batch_into_the_model(&all);
        let mut m = Mdms::new(MemoryStore::new(), Vee::default()).unwrap();
        ingest_all(&mut m, &arrivals(&all, &order, &cuts));
        prop_assert_eq!(csv(&m), reference);
    }
}

#[test]
fn a_store_file_keeps_every_batch_across_reopening() {
    let path = db("reopen");
    let before = {
        let mut m = Mdms::new(SqliteStore::open(&path).unwrap(), Vee::default()).unwrap();
        m.ingest(&[pushed(0, 0, 0), pushed(2, 10, 1)]).unwrap();
        m.ingest(&[pushed(4, 30, 2)]).unwrap();
        csv(&m)
    };
    let m = Mdms::open(SqliteStore::open_existing(&path).unwrap()).unwrap();
    assert_eq!(csv(&m), before);
    assert_eq!(m.readings(&point(), None, None).unwrap().len(), 3);
    assert!(matches!(
        Mdms::new(SqliteStore::open(&path).unwrap(), Vee { max_power_w: 7 }),
        Err(MdmsError::VeeMismatch { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_none_is_created_for_an_export() {
    let path = db("junk");
    std::fs::write(&path, vec![0xA5; 8192]).unwrap();
    assert!(matches!(SqliteStore::open(&path), Err(MdmsError::Store(_))));
    let absent = db("absent");
    assert!(SqliteStore::open_existing(&absent).is_err());
    assert!(!absent.exists());
}
