//! docs/edi.md shows what the writer writes: its example file is this message, byte for
//! byte (the test fails when either changes alone).

use chrono::{DateTime, Utc};
use edi::{FileName, Message, Quality, Record};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Two device points of retailer R0001 at the slot 13:30-14:00 of 2026-04-01: one
/// measured, one estimated (VEE, no receipt time).
fn example() -> Message {
    let start = utc("2026-04-01T13:30:00+09:00");
    let records = vec![
        Record {
            point: "0900000000000000000001".parse().unwrap(),
            terminal: [0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01],
            slot_start: start,
            interval_min: 30,
            in_wh: 412,
            out_wh: 1_250,
            cum_in_wh: 10_234_567,
            cum_out_wh: 2_345_678,
            quality: Quality::Measured,
            received_at: Some(utc("2026-04-01T14:00:00.455+09:00")),
        },
        Record {
            point: "0900000000000000000002".parse().unwrap(),
            terminal: [0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x02],
            slot_start: start,
            interval_min: 30,
            in_wh: 300,
            out_wh: 0,
            cum_in_wh: 55_000_300,
            cum_out_wh: 0,
            quality: Quality::Estimated,
            received_at: None,
        },
    ];
    Message::slot(
        "9A01K".parse().unwrap(),
        "R0001".parse().unwrap(),
        utc("2026-04-01T14:00:41+09:00"),
        records,
    )
    .unwrap()
}

#[test]
fn if01_docs_edi_md_shows_the_files_we_write() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/edi.md"))
        .expect("docs/edi.md");
    let m = example();
    let name = FileName::new(m.info, m.file_time(), 0, 0).unwrap();
    let xml = m.to_xml();
    let block = format!(
        "`{name}` holds `{}`:\n\n```xml\n{xml}```\n",
        name.xml_name()
    );
    assert!(
        doc.contains(&block),
        "docs/edi.md should show, exactly:\n{block}"
    );
    assert_eq!(edi::read::message(&xml).unwrap(), m);
}
