//! `iotroute mdms export` (docs/mdms.md): a store written through the library, exported
//! as CSV and JSON, whole and filtered by point and time; usage and store errors exit 1.
//! And the status bits the MDMS reads are the ones the terminal writes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mdms::{Arrival, Counter, Interval, Mdms, RawReading, SqliteStore, Status, TerminalId, Vee};
use support::iotroute;

const HEADER: &str = "supply_point,terminal_id,slot_start,interval_min,in_kwh,out_kwh,cum_in_kwh,cum_out_kwh,quality,received_at";
const KYUSHU: &str = "0900000000000000000001";
const TOKYO: &str = "0300000000000000000007";

/// 2026-12-05 00:00 JST plus `q` quarter-hours.
fn at(q: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0).unwrap() + TimeDelta::minutes(15 * q)
}

fn reading(point: &str, q: i64, ac_in: u32) -> RawReading {
    RawReading {
        point: point.parse().unwrap(),
        terminal: TerminalId([0, 0x1D, 0x12, 0x90, 0, 0, 0, 9]),
        boundary: at(q),
        interval: Interval::Half,
        ac_in: Some(Counter::new(ac_in).unwrap()),
        ac_out: Some(Counter::new(0).unwrap()),
        status: Status::default(),
        received_at: at(q) + TimeDelta::seconds(2),
        arrival: Arrival::Pushed,
    }
}

/// A store with two points, three slots each, one gap in Tokyo's.
fn store(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "iotroute-mdms-cli-{}-{name}.sqlite",
        std::process::id()
    ));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let mut m = Mdms::new(SqliteStore::open(&path).unwrap(), Vee::default()).unwrap();
    let batch: Vec<RawReading> = (0..4)
        .map(|n| reading(KYUSHU, 2 * n, (99_999_000 + 500 * n as u32) % 100_000_000))
        .chain([0, 4, 6].map(|n| reading(TOKYO, n, 100 * n as u32)))
        .collect();
    m.ingest(&batch).unwrap();
    path
}

fn export(db: &Path, extra: &[&str]) -> Output {
    iotroute()
        .args(["mdms", "export", "--db"])
        .arg(db)
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn mdms_export_writes_csv_ordered_by_point_then_slot() {
    let db = store("csv");
    let csv = stdout(&export(&db, &["--format", "csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], HEADER);
    assert_eq!(lines.len(), 1 + 3 + 3, "{csv}");
    assert_eq!(
        lines[1],
        "0300000000000000000007,001D129000000009,2026-12-05T00:00:00+09:00,30,0.200,0.000,0.200,0.000,estimated,"
    );
    assert_eq!(
        lines[4],
        "0900000000000000000001,001D129000000009,2026-12-05T00:00:00+09:00,30,0.500,0.000,99999.500,0.000,measured,2026-12-05T00:30:02+09:00"
    );
    // TRM-03: across the wrap.
    assert_eq!(
        lines[5],
        "0900000000000000000001,001D129000000009,2026-12-05T00:30:00+09:00,30,0.500,0.000,0.000,0.000,measured,2026-12-05T01:00:02+09:00"
    );
}

#[test]
fn mdms_export_filters_by_point_and_time_in_csv_and_json_alike() {
    let db = store("filter");
    let args = [
        "--point",
        KYUSHU,
        "--from",
        "2026-12-05T00:30:00+09:00",
        "--to",
        "2026-12-04T16:30:00Z",
    ];
    let csv = stdout(&export(&db, &[&args[..], &["--format", "csv"]].concat()));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows.iter().all(|r| r.starts_with(KYUSHU)));
    assert!(rows[0].contains(",2026-12-05T00:30:00+09:00,"));
    assert!(rows[1].contains(",2026-12-05T01:00:00+09:00,"));

    let json = stdout(&export(&db, &[&args[..], &["--format", "json"]].concat()));
    let objects: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&json).unwrap();
    assert_eq!(objects.len(), 2);
    for (object, row) in objects.iter().zip(&rows) {
        assert!(
            object.values().all(serde_json::Value::is_string),
            "{object:?}"
        );
        let values: Vec<&str> = HEADER
            .split(',')
            .map(|k| object[k].as_str().unwrap())
            .collect();
        assert_eq!(values.join(","), *row);
    }
}

#[test]
fn mdms_export_exits_1_on_usage_a_bad_point_or_no_store() {
    let db = store("errors");
    for args in [
        &["--format", "xml"][..],
        &[][..],
        &["--format", "csv", "--point", "1100000000000000000001"][..],
        &["--format", "csv", "--from", "yesterday"][..],
    ] {
        let out = export(&db, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    }
    let absent = db.with_extension("absent");
    let out = export(&absent, &["--format", "csv"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!absent.exists());
}

#[test]
fn sec07_trm06_the_status_bits_the_mdms_reads_are_the_ones_the_terminal_writes() {
    use dlms::cosem::model::status;
    use nodes::terminal::store::Status as Terminal;
    assert_eq!(Status::METER_ID_MISMATCH, Terminal::METER_ID_MISMATCH);
    assert_eq!(Status::CLOCK_INVALID, status::CLOCK_INVALID);
    assert_eq!(Status::DATA_NOT_VALID, status::DATA_NOT_VALID);
    assert_eq!(Status::CLOCK_ADJUSTED, status::CLOCK_ADJUSTED);
    assert_eq!(Status::RECOVERED, status::RECOVERED);
}
