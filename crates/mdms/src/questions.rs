//! What the store tests share (tests only): readings, slots and the steps a store is
//! driven by, and the questions two stores must answer alike after each step.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use crate::error::MdmsError;
use crate::ids::{SupplyPoint, TerminalId};
use crate::reading::{Arrival, Counter, Interval, RawReading, Status};
use crate::slot::{Quality, Slot};
use crate::store::{Filter, MdmsStore};

fn point(other: bool) -> SupplyPoint {
    let digits = if other {
        "0100000000000000000002"
    } else {
        "0900000000000000000001"
    };
    digits.parse().expect("a supply point")
}

fn at(q: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0)
        .single()
        .expect("a time")
        + TimeDelta::minutes(15 * q)
}

fn reading(other: bool, q: i64, usable: bool, wh: u32) -> RawReading {
    let counter = Counter::new(wh).ok();
    RawReading {
        point: point(other),
        terminal: TerminalId([0, 0x1D, 0x12, 0x90, 0, 0, 0, 1]),
        boundary: at(q),
        interval: Interval::Quarter,
        ac_in: counter.filter(|_| usable),
        ac_out: counter,
        status: Status::default(),
        received_at: at(q) + TimeDelta::seconds(i64::from(wh % 60)),
        arrival: Arrival::Pushed,
    }
}

fn slot(other: bool, q: i64, wh: u32) -> Slot {
    Slot {
        point: point(other),
        terminal: TerminalId([0, 0x1D, 0x12, 0x90, 0, 0, 0, 1]),
        start: at(q),
        minutes: 15,
        in_wh: wh,
        out_wh: 0,
        cum_in: wh,
        cum_out: 0,
        quality: Quality::Measured,
        received_at: None,
    }
}

/// One step on both stores: a write, or the end of a transaction.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Insert {
        other: bool,
        q: i64,
        usable: bool,
        wh: u32,
    },
    Replace {
        other: bool,
        from: Option<i64>,
        to: Option<i64>,
        starts: Vec<i64>,
        wh: u32,
    },
    /// What a recomputation after the latest reading writes: from the `back`-th
    /// latest usable boundary to the end.
    Recompute {
        other: bool,
        back: usize,
        starts: Vec<i64>,
        wh: u32,
    },
    Put {
        other: bool,
        q: i64,
        wh: u32,
    },
    Delete {
        other: bool,
        q: i64,
    },
    Commit,
    Rollback,
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 0i64..16, prop::bool::weighted(0.8), 0u32..1000)
            .prop_map(|(other, q, usable, wh)| Op::Insert { other, q, usable, wh }),
        3 => (any::<bool>(), prop::option::of(0i64..16), prop::option::of(0i64..18),
              prop::collection::btree_set(0i64..18, 0..8), 0u32..1000)
            .prop_map(|(other, from, to, starts, wh)| Op::Replace {
                other,
                from,
                to,
                starts: starts.into_iter().collect(),
                wh,
            }),
        3 => (any::<bool>(), 1usize..7, prop::collection::btree_set(0i64..18, 0..8), 0u32..1000)
            .prop_map(|(other, back, starts, wh)| Op::Recompute {
                other,
                back,
                starts: starts.into_iter().collect(),
                wh,
            }),
        1 => (any::<bool>(), 0i64..18, 0u32..1000).prop_map(|(other, q, wh)| Op::Put { other, q, wh }),
        1 => (any::<bool>(), 0i64..18).prop_map(|(other, q)| Op::Delete { other, q }),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
    ]
}

fn apply<S: MdmsStore>(store: &mut S, op: &Op, open: bool) -> Result<(), MdmsError> {
    if !open && !matches!(op, Op::Commit | Op::Rollback) {
        store.begin()?;
    }
    match op {
        Op::Insert {
            other,
            q,
            usable,
            wh,
        } => {
            // As the engine does: a reading stored already is not stored again.
            let r = reading(*other, *q, *usable, *wh);
            if store.readings_at(&r.point, r.boundary)?.contains(&r) {
                Ok(())
            } else {
                store.insert_reading(&r)
            }
        }
        Op::Replace {
            other,
            from,
            to,
            starts,
            wh,
        } => {
            let inside = |q: &&i64| from.is_none_or(|f| **q >= f) && to.is_none_or(|t| **q < t);
            let slots: Vec<Slot> = starts
                .iter()
                .filter(inside)
                .map(|q| slot(*other, *q, *wh))
                .collect();
            store.replace_slots(&point(*other), from.map(at), to.map(at), &slots)
        }
        Op::Recompute {
            other,
            back,
            starts,
            wh,
        } => {
            let p = point(*other);
            let from = store.usable_before(&p, at(100), *back)?.last().copied();
            let slots: Vec<Slot> = starts
                .iter()
                .filter(|q| from.is_none_or(|f| at(**q) >= f))
                .map(|q| slot(*other, *q, *wh))
                .collect();
            store.replace_slots(&p, from, None, &slots)
        }
        Op::Put { other, q, wh } => store.put_slot(&slot(*other, *q, *wh)),
        Op::Delete { other, q } => store.delete_slot(&point(*other), at(*q)),
        Op::Commit if open => store.commit(),
        Op::Rollback if open => store.rollback(),
        Op::Commit | Op::Rollback => Ok(()),
    }
}

fn all_slots(store: &dyn MdmsStore) -> Vec<Slot> {
    scan(store, &Filter::default())
}

/// When [`drive`] asks its questions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ask {
    /// After every step, on the grid only (what a wrapper in front of a store answers
    /// differently inside a transaction and out of it).
    EveryStep,
    /// After each transaction's end and at the end, on the grid and off it (what a
    /// store answers from its own layout).
    TransactionsOffGrid,
}

/// `ops` applied to `store` and to the `model` alike, the same answers asked as `ask`
/// says.
pub(crate) fn drive<A: MdmsStore, B: MdmsStore>(
    ops: &[Op],
    store: &mut A,
    model: &mut B,
    ask: Ask,
) -> Result<(), TestCaseError> {
    let mut open = false;
    for op in ops {
        apply(model, op, open).expect("the model");
        apply(store, op, open).expect("the store");
        open = !matches!(op, Op::Commit | Op::Rollback);
        match ask {
            Ask::EveryStep => same_answers(store, model, false)?,
            Ask::TransactionsOffGrid if !open => same_answers(store, model, true)?,
            Ask::TransactionsOffGrid => {}
        }
    }
    same_answers(store, model, matches!(ask, Ask::TransactionsOffGrid))
}

/// Every question asked of both stores, of both points, at every quarter hour around
/// what the steps write (and `off_grid`, a second and half a second past each), with
/// every count and range a caller asks: the same answers.
fn same_answers(a: &dyn MdmsStore, b: &dyn MdmsStore, off_grid: bool) -> Result<(), TestCaseError> {
    let past: &[TimeDelta] = if off_grid {
        &[
            TimeDelta::zero(),
            TimeDelta::seconds(1),
            TimeDelta::milliseconds(500),
        ]
    } else {
        &[TimeDelta::zero()]
    };
    for other in [false, true] {
        let p = point(other);
        for q in -1i64..19 {
            for t in past.iter().map(|d| at(q) + *d) {
                prop_assert_eq!(a.readings_at(&p, t)?, b.readings_at(&p, t)?);
                for n in [1, 3, 5, 6] {
                    prop_assert_eq!(a.usable_before(&p, t, n)?, b.usable_before(&p, t, n)?);
                    prop_assert_eq!(a.usable_after(&p, t, n)?, b.usable_after(&p, t, n)?);
                }
                for to in [None, Some(at(q + 4)), Some(t)] {
                    prop_assert_eq!(a.readings(&p, Some(t), to)?, b.readings(&p, Some(t), to)?);
                    prop_assert_eq!(a.readings(&p, None, to)?, b.readings(&p, None, to)?);
                    let filter = Filter {
                        point: Some(p.clone()),
                        from: Some(t),
                        to,
                    };
                    prop_assert_eq!(scan(a, &filter), scan(b, &filter), "{:?}", filter);
                    let filter = Filter {
                        point: None,
                        from: Some(t),
                        to,
                    };
                    prop_assert_eq!(scan(a, &filter), scan(b, &filter), "{:?}", filter);
                }
                prop_assert_eq!(a.slots_starting(t)?, b.slots_starting(t)?);
            }
        }
        prop_assert_eq!(a.readings(&p, None, None)?, b.readings(&p, None, None)?);
        let filter = Filter {
            point: Some(p.clone()),
            from: None,
            to: None,
        };
        prop_assert_eq!(scan(a, &filter), scan(b, &filter), "{:?}", filter);
    }
    prop_assert_eq!(all_slots(a), all_slots(b));
    Ok(())
}

/// What `filter` admits, in scan order.
fn scan(store: &dyn MdmsStore, filter: &Filter) -> Vec<Slot> {
    let mut out = Vec::new();
    store
        .scan_slots(filter, &mut |s| {
            out.push(s.clone());
            Ok(())
        })
        .expect("a scan");
    out
}
