//! The MDMS's rules on the in-memory store: slot energy from counter steps modulo 10^8
//! (TRM-03), gaps estimated and replaced by backfilled values (TRM-06), spikes and
//! negative steps, duplicates and conflicts, the 30→15 switch (TRM-11), quality
//! precedence with the SEC-07 flag, refused readings. docs/mdms.md states each rule.

mod common;

use chrono::TimeDelta;
use common::*;
use mdms::{
    Filter, Interval, Mdms, MdmsError, MemoryStore, Quality, RawReading, ReadingError, Slot,
    Status, Vee,
};

fn mdms() -> Mdms<MemoryStore> {
    Mdms::new(MemoryStore::new(), Vee::default()).unwrap()
}

fn slots(m: &Mdms<MemoryStore>) -> Vec<Slot> {
    m.slots(&point(), None, None).unwrap()
}

#[test]
fn trm03_a_counter_rolling_over_from_99999999_to_0_is_a_small_step() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 99_999_900, 99_999_999), pushed(2, 50, 1)])
        .unwrap();
    let s = slots(&m);
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].in_wh, s[0].out_wh), (150, 2));
    assert_eq!((s[0].cum_in, s[0].cum_out), (50, 1));
    assert_eq!(s[0].quality, Quality::Measured);
    assert_eq!(s[0].minutes, 30);
    assert_eq!(s[0].received_at, Some(at(2) + TimeDelta::seconds(5)));
}

#[test]
fn trm06_a_gap_is_estimated_then_replaced_by_the_backfilled_value_and_the_raw_kept() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 1000, 0), pushed(4, 3000, 100)])
        .unwrap();
    let s = slots(&m);
    assert_eq!(s.len(), 2, "the gap's boundary at :30 makes two slots");
    assert!(s
        .iter()
        .all(|s| s.quality == Quality::Estimated && s.received_at.is_none()));
    // Linear interpolation of the counter: half the step in each half hour.
    assert_eq!((s[0].in_wh, s[0].cum_in, s[0].out_wh), (1000, 2000, 50));
    assert_eq!((s[1].in_wh, s[1].cum_in, s[1].out_wh), (1000, 3000, 50));

    let late = at(20);
    let report = m.ingest(&[backfilled(2, 1400, 30, late)]).unwrap();
    assert_eq!((report.new, report.conflict), (1, 0));
    let s = slots(&m);
    assert_eq!((s[0].in_wh, s[0].cum_in, s[0].out_wh), (400, 1400, 30));
    assert_eq!((s[1].in_wh, s[1].cum_in, s[1].out_wh), (1600, 3000, 70));
    for slot in &s {
        assert_eq!(slot.quality, Quality::Backfilled);
        assert_eq!(slot.received_at, Some(late));
    }
    assert_eq!(m.readings(&point(), None, None).unwrap().len(), 3);
}

#[test]
fn trm06_a_missing_row_is_estimated_until_the_terminal_recovers_it_and_both_rows_are_kept() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 1000, 0), missing(2), pushed(4, 2000, 0)])
        .unwrap();
    assert!(slots(&m).iter().all(|s| s.quality == Quality::Estimated));
    let recovered = RawReading {
        status: Status(Status::RECOVERED),
        ..backfilled(2, 1300, 0, at(9))
    };
    let report = m.ingest(&[recovered]).unwrap();
    assert_eq!(
        (report.new, report.conflict),
        (1, 0),
        "a fill is no conflict"
    );
    let s = slots(&m);
    assert_eq!((s[0].in_wh, s[1].in_wh), (300, 700));
    assert!(s.iter().all(|s| s.quality == Quality::Recovered));
    assert_eq!(m.readings(&point(), None, None).unwrap().len(), 4);
}

#[test]
fn no_slot_is_made_up_after_the_last_reading_nor_before_the_first() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 0, 0), missing(2), missing(4)])
        .unwrap();
    assert!(slots(&m).is_empty());
    m.ingest(&[pushed(6, 300, 0)]).unwrap();
    assert_eq!(slots(&m).len(), 3);
}

#[test]
fn duplicates_change_nothing_and_ingesting_twice_exports_the_same_bytes() {
    let mut m = mdms();
    let batch = [pushed(0, 10, 0), pushed(2, 20, 0), pushed(6, 60, 5)];
    let first = m.ingest(&batch).unwrap();
    assert_eq!((first.new, first.duplicate), (3, 0));
    let before = csv(&m);
    let again = m.ingest(&batch).unwrap();
    assert_eq!((again.new, again.duplicate, again.conflict), (0, 3, 0));
    assert_eq!(csv(&m), before);
    assert_eq!(m.readings(&point(), None, None).unwrap().len(), 3);
}

#[test]
fn the_same_reading_delivered_again_by_backfill_is_a_duplicate_and_the_first_delivery_counts() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 10, 0), pushed(2, 20, 0)]).unwrap();
    let before = csv(&m);
    let report = m.ingest(&[backfilled(2, 20, 0, at(30))]).unwrap();
    assert_eq!((report.new, report.duplicate, report.conflict), (0, 1, 0));
    assert_eq!(csv(&m), before);
    assert_eq!(slots(&m)[0].quality, Quality::Measured);
}

#[test]
fn a_spike_above_the_maximum_power_is_estimated_as_zero_and_its_readings_kept() {
    let mut m = mdms();
    // 50 kW for 30 minutes is 25 kWh; 30 kWh is a spike.
    m.ingest(&[
        pushed(0, 1000, 0),
        pushed(2, 31_000, 0),
        pushed(4, 31_500, 0),
    ])
    .unwrap();
    let s = slots(&m);
    assert_eq!(s[0].quality, Quality::Estimated);
    assert_eq!(
        (s[0].in_wh, s[0].cum_in),
        (0, 31_000),
        "the counter is shown as read"
    );
    assert_eq!(s[0].received_at, None);
    assert_eq!((s[1].quality, s[1].in_wh), (Quality::Measured, 500));
    // 25 kWh exactly is believable.
    let mut m = mdms();
    m.ingest(&[pushed(0, 1000, 0), pushed(2, 26_000, 0)])
        .unwrap();
    assert_eq!(
        (slots(&m)[0].quality, slots(&m)[0].in_wh),
        (Quality::Measured, 25_000)
    );
}

#[test]
fn a_negative_step_is_estimated_as_zero_per_channel_and_its_readings_kept() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 5000, 700), pushed(2, 4990, 800)])
        .unwrap();
    let s = slots(&m);
    assert_eq!(s[0].quality, Quality::Estimated);
    assert_eq!((s[0].in_wh, s[0].cum_in), (0, 4990));
    assert_eq!(s[0].out_wh, 100, "the output counter is fine");
    assert_eq!(m.readings(&point(), None, None).unwrap().len(), 2);
}

#[test]
fn a_gap_across_a_step_that_fails_validation_is_not_spread_over_the_gap() {
    let mut m = mdms();
    m.ingest(&[pushed(0, 5000, 0), pushed(4, 4000, 0)]).unwrap();
    let s = slots(&m);
    assert_eq!((s[0].in_wh, s[0].cum_in), (0, 5000));
    assert_eq!((s[1].in_wh, s[1].cum_in), (0, 4000));
    assert!(s.iter().all(|s| s.quality == Quality::Estimated));
}

fn quarter(q: i64, ac_in: u32) -> RawReading {
    RawReading {
        interval: Interval::Quarter,
        ..pushed(q, ac_in, 0)
    }
}

/// Slots cover the time from the first to the last reading once: each starts where the
/// one before ended.
fn assert_contiguous(s: &[Slot]) {
    for w in s.windows(2) {
        assert_eq!(
            w[0].start + TimeDelta::minutes(i64::from(w[0].minutes)),
            w[1].start,
            "{s:#?}"
        );
    }
}

#[test]
fn trm11_30_and_15_minute_slots_stand_side_by_side_across_the_switch() {
    let mut m = mdms();
    // 30-minute boundaries at 00:00, 00:30; the switch at 01:00 (read with the new
    // interval, as the terminal does), 15-minute boundaries after.
    m.ingest(&[
        pushed(0, 0, 0),
        pushed(2, 300, 0),
        quarter(4, 600),
        quarter(5, 700),
        quarter(6, 900),
    ])
    .unwrap();
    let s = slots(&m);
    let shape: Vec<_> = s.iter().map(|s| (s.start, s.minutes, s.in_wh)).collect();
    assert_eq!(
        shape,
        [
            (at(0), 30, 300),
            (at(2), 30, 300),
            (at(4), 15, 100),
            (at(5), 15, 200)
        ]
    );
    assert_contiguous(&s);
}

#[test]
fn trm11_a_gap_at_the_switch_loses_no_slot_and_doubles_none_once_backfilled() {
    let mut m = mdms();
    m.ingest(&[
        pushed(0, 0, 0),
        pushed(2, 300, 0),
        quarter(5, 700),
        quarter(6, 900),
    ])
    .unwrap();
    let s = slots(&m);
    assert_contiguous(&s);
    assert_eq!(
        s.iter().map(|s| (s.start, s.minutes)).collect::<Vec<_>>(),
        [(at(0), 30), (at(2), 30), (at(4), 15), (at(5), 15)],
        "the gap follows the 30-minute grid up to the first 15-minute reading"
    );
    m.ingest(&[RawReading {
        arrival: mdms::Arrival::Backfilled,
        ..quarter(4, 600)
    }])
    .unwrap();
    let s = slots(&m);
    assert_contiguous(&s);
    assert_eq!(s.len(), 4);
    assert_eq!(s.iter().map(|s| s.in_wh).sum::<u32>(), 900);
}

#[test]
fn sec07_slots_bounded_by_a_reading_taken_while_the_meter_id_did_not_match_are_flagged() {
    let mut m = mdms();
    let wrong = RawReading {
        status: Status(Status::METER_ID_MISMATCH | Status::RECOVERED),
        ..pushed(2, 200, 0)
    };
    m.ingest(&[
        pushed(0, 100, 0),
        wrong,
        pushed(4, 300, 0),
        pushed(6, 400, 0),
    ])
    .unwrap();
    let q: Vec<_> = slots(&m).iter().map(|s| s.quality).collect();
    assert_eq!(q, [Quality::Flagged, Quality::Flagged, Quality::Measured]);
    let counts = m.counts(&Filter::default()).unwrap();
    assert_eq!((counts.flagged, counts.measured, counts.total()), (2, 1, 3));
}

#[test]
fn quality_precedence_is_flagged_estimated_recovered_backfilled_measured() {
    let mut m = mdms();
    let recovered = RawReading {
        status: Status(Status::RECOVERED),
        ..backfilled(2, 200, 0, at(40))
    };
    let flagged_estimated = RawReading {
        status: Status(Status::METER_ID_MISMATCH | Status::DATA_NOT_VALID),
        ac_in: None,
        ac_out: None,
        ..pushed(8, 0, 0)
    };
    m.ingest(&[
        pushed(0, 100, 0),
        recovered,
        backfilled(4, 300, 0, at(40)),
        pushed(6, 400, 0),
        flagged_estimated,
        pushed(10, 600, 0),
        pushed(12, 700, 0),
    ])
    .unwrap();
    let q: Vec<_> = slots(&m).iter().map(|s| s.quality).collect();
    assert_eq!(
        q,
        [
            Quality::Recovered,  // measured | recovered
            Quality::Recovered,  // recovered | backfilled
            Quality::Backfilled, // backfilled | measured
            Quality::Flagged,    // measured | flagged (estimated)
            Quality::Flagged,    // flagged (estimated) | measured
            Quality::Measured,
        ]
    );
    assert!(Quality::Flagged > Quality::Estimated && Quality::Estimated > Quality::Recovered);
    assert!(Quality::Recovered > Quality::Backfilled && Quality::Backfilled > Quality::Measured);
}

#[test]
fn a_different_reading_for_a_stored_boundary_is_kept_counted_and_the_first_received_counts() {
    let first = pushed(2, 200, 0);
    let second = RawReading {
        received_at: first.received_at + TimeDelta::seconds(1),
        ..pushed(2, 250, 0)
    };
    let mut exports = Vec::new();
    for order in [
        [first.clone(), second.clone()],
        [second.clone(), first.clone()],
    ] {
        let mut m = mdms();
        m.ingest(&[pushed(0, 100, 0), pushed(4, 300, 0)]).unwrap();
        assert_eq!(m.ingest(&order[..1]).unwrap().new, 1);
        assert_eq!(m.ingest(&order[1..]).unwrap().conflict, 1);
        assert_eq!(
            m.readings(&point(), Some(at(2)), Some(at(2)))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(slots(&m)[0].in_wh, 100, "the first received, 200, counts");
        exports.push(csv(&m));
    }
    assert_eq!(exports[0], exports[1]);
}

#[test]
fn a_reading_off_the_15_minute_grid_is_refused_alone_and_the_rest_of_its_batch_kept() {
    let mut m = mdms();
    let off = RawReading {
        boundary: at(1) + TimeDelta::minutes(1),
        ..pushed(0, 5, 0)
    };
    let report = m
        .ingest(&[pushed(0, 0, 0), off.clone(), pushed(2, 10, 0)])
        .unwrap();
    assert_eq!(report.new, 2);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].index, 1);
    assert_eq!(
        report.rejected[0].error,
        ReadingError::Misaligned(off.boundary)
    );
    assert_eq!(slots(&m).len(), 1);

    // Refusals are reported in the batch's order, whatever order the MDMS takes the
    // readings in (by boundary, then point).
    let later_off = RawReading {
        boundary: at(5) + TimeDelta::minutes(1),
        ..pushed(0, 5, 0)
    };
    let report = mdms()
        .ingest(&[pushed(0, 0, 0), later_off, pushed(2, 10, 0), off])
        .unwrap();
    let indices: Vec<usize> = report.rejected.iter().map(|r| r.index).collect();
    assert_eq!(indices, [1, 3]);
}

#[test]
fn a_store_keeps_the_validation_limits_it_was_made_with() {
    let m = mdms();
    let store = m.store().clone();
    assert_eq!(Mdms::open(store.clone()).unwrap().vee(), Vee::default());
    assert!(matches!(
        Mdms::new(store, Vee { max_power_w: 1 }),
        Err(MdmsError::VeeMismatch { .. })
    ));
    assert!(matches!(
        Mdms::open(MemoryStore::new()),
        Err(MdmsError::NotInitialised)
    ));
}

/// One glitched reading between two good ones (5,000 → 90,000,000 → 5,100 Wh): an outlier,
/// not used; the two slots around it are estimated across it (50 + 50 Wh), the raw
/// reading kept — whatever order the three arrive in (the recomputation window reaches
/// the readings that judge it).
#[test]
fn an_outlier_between_two_good_readings_is_estimated_across_in_any_arrival_order() {
    let readings = [
        pushed(0, 5000, 100),
        pushed(2, 90_000_000, 100),
        pushed(4, 5100, 200),
        pushed(6, 5200, 300),
    ];
    for order in [[0, 1, 2, 3], [1, 2, 3, 0], [3, 0, 2, 1], [2, 3, 1, 0]] {
        let mut m = mdms();
        for i in order {
            m.ingest(&[readings[i].clone()]).unwrap();
        }
        let s = slots(&m);
        assert_eq!(s.len(), 3, "{order:?}");
        assert_eq!(
            [(s[0].in_wh, s[0].out_wh), (s[1].in_wh, s[1].out_wh)],
            [(50, 50), (50, 50)],
            "{order:?}: {s:?}"
        );
        assert_eq!(s[0].cum_in, 5050, "{order:?}");
        assert!(
            s[..2].iter().all(|s| s.quality == Quality::Estimated),
            "{order:?}"
        );
        assert_eq!((s[2].quality, s[2].in_wh), (Quality::Measured, 100));
        assert_eq!(m.readings(&point(), None, None).unwrap().len(), 4);
    }
}

/// Glitches side by side (5,000 → 90,000,000 → 5,100 → 90,000,100 → 5,300): each
/// looks like an outlier against the others, so none is one (docs/mdms.md,
/// "Outliers"); their steps fail and are estimated as zero, the other channel keeps its
/// energy; the reading after them is used again. The same in any arrival order: a
/// reading judged against neighbours that were themselves dropped made chains of
/// outliers, and estimates across them, no bounded recomputation could follow.
#[test]
fn glitches_side_by_side_are_not_outliers_and_their_steps_fail_in_any_arrival_order() {
    let readings = [
        pushed(0, 5000, 100),
        pushed(2, 90_000_000, 200),
        pushed(4, 5100, 300),
        pushed(6, 90_000_100, 400),
        pushed(8, 5300, 500),
        pushed(10, 5400, 600),
    ];
    let mut reference = mdms();
    reference.ingest(&readings).unwrap();
    let s = slots(&reference);
    assert_eq!(s.len(), 5);
    for slot in &s[..4] {
        assert_eq!(
            (slot.in_wh, slot.out_wh, slot.quality),
            (0, 100, Quality::Estimated),
            "{s:?}"
        );
    }
    assert_eq!(s[1].cum_in, 5100);
    assert_eq!((s[4].in_wh, s[4].quality), (100, Quality::Measured));
    for order in [
        [5, 4, 3, 2, 1, 0],
        [0, 2, 4, 1, 3, 5],
        [3, 0, 5, 1, 4, 2],
        [1, 3, 0, 2, 5, 4],
    ] {
        let mut m = mdms();
        for i in order {
            m.ingest(&[readings[i].clone()]).unwrap();
        }
        assert_eq!(csv(&m), csv(&reference), "{order:?}");
    }
}
