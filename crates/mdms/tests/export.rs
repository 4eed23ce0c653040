//! The export's contract: the CSV header exactly, JSON an array of objects with the same
//! keys and only strings, kWh with three decimals, times in +09:00, rows ordered by
//! point then slot, the filter's point and half-open time range.

mod common;

use common::*;
use mdms::{Filter, Format, Mdms, MemoryStore, RawReading, Vee, COLUMNS};

const HEADER: &str = "supply_point,terminal_id,slot_start,interval_min,in_kwh,out_kwh,cum_in_kwh,cum_out_kwh,quality,received_at";

/// Two points, ingested latest first, one gap.
fn two_points() -> Mdms<MemoryStore> {
    let mut m = Mdms::new(MemoryStore::new(), Vee::default()).unwrap();
    let other = |r: RawReading| RawReading {
        point: other_point(),
        ..r
    };
    m.ingest(&[
        pushed(6, 3500, 12),
        other(pushed(2, 20, 0)),
        pushed(2, 1500, 2),
        other(pushed(0, 0, 0)),
        pushed(0, 1000, 1),
    ])
    .unwrap();
    m
}

#[test]
fn csv_has_the_header_exactly_and_rows_by_point_then_slot() {
    let out = csv(&two_points());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], HEADER);
    assert_eq!(COLUMNS.join(","), HEADER);
    assert_eq!(
        &lines[1..],
        [
            "0100000000000000000002,001D129000000001,2026-12-05T00:00:00+09:00,30,0.020,0.000,0.020,0.000,measured,2026-12-05T00:30:05+09:00",
            "0900000000000000000001,001D129000000001,2026-12-05T00:00:00+09:00,30,0.500,0.001,1.500,0.002,measured,2026-12-05T00:30:05+09:00",
            "0900000000000000000001,001D129000000001,2026-12-05T00:30:00+09:00,30,1.000,0.005,2.500,0.007,estimated,",
            "0900000000000000000001,001D129000000001,2026-12-05T01:00:00+09:00,30,1.000,0.005,3.500,0.012,estimated,",
        ]
    );
}

#[test]
fn json_is_an_array_of_objects_with_the_csv_keys_in_order_and_only_strings() {
    let m = two_points();
    let json = export(&m, &Filter::default(), Format::Json);
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 4);
    let csv = csv(&m);
    for (row, line) in rows.iter().zip(csv.lines().skip(1)) {
        assert!(row.values().all(serde_json::Value::is_string), "{row:?}");
        let values: Vec<&str> = COLUMNS.iter().map(|k| row[*k].as_str().unwrap()).collect();
        assert_eq!(values.join(","), line);
        assert_eq!(row.len(), COLUMNS.len());
    }
    // Keys written in the header's order (a reader that keeps the order sees it).
    let first = json.lines().nth(1).unwrap();
    let positions: Vec<usize> = COLUMNS
        .iter()
        .map(|k| first.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert_eq!(
        export(
            &m,
            &Filter {
                point: Some("0900000000000000000009".parse().unwrap()),
                ..Filter::default()
            },
            Format::Json
        ),
        "[]\n"
    );
}

#[test]
fn every_energy_has_three_decimals_and_every_time_is_jst() {
    let csv = csv(&two_points());
    for line in csv.lines().skip(1) {
        let v: Vec<&str> = line.split(',').collect();
        for kwh in &v[4..8] {
            let (_, decimals) = kwh.split_once('.').unwrap();
            assert_eq!(decimals.len(), 3, "{line}");
        }
        assert!(v[2].ends_with("+09:00"), "{line}");
        assert!(v[9].is_empty() || v[9].ends_with("+09:00"), "{line}");
    }
}

#[test]
fn the_filter_takes_one_point_and_slots_starting_from_inclusive_to_exclusive() {
    let m = two_points();
    let filter = Filter {
        point: Some(point()),
        from: Some(at(2)),
        to: Some(at(4)),
    };
    let out = export(&m, &filter, Format::Csv);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("0900000000000000000001,001D129000000001,2026-12-05T00:30:00+09:00,")
    );
}
