//! IF-01 / SYS-02: the device-point messages written, packed, and read back: every value
//! as given, every refusal typed.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use edi::archive;
use edi::files;
use edi::{EdiError, FileName, InfoCode, Message, PartyCode, Quality, Record};

fn sender() -> PartyCode {
    "9A01K".parse().unwrap()
}

fn retailer() -> PartyCode {
    "R0001".parse().unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Point `p`'s slot at `start`, its values made from both.
fn record(p: u32, start: DateTime<Utc>, interval_min: u8, quality: Quality) -> Record {
    let n = u32::try_from(start.timestamp() / 60 % 100_000).unwrap();
    Record {
        point: format!("09{p:020}").parse().unwrap(),
        terminal: [0x02, 0x1A, 0, 0, 0, 0, (p >> 8) as u8, p as u8],
        slot_start: start,
        interval_min,
        in_wh: (p * 37 + n) % 5000,
        out_wh: (p * 11 + n) % 900,
        cum_in_wh: u32::try_from(u64::from(p) * 1_000_003 % 99_999_000).unwrap() + n % 1000,
        cum_out_wh: (p * 7_919 + n) % 100_000_000,
        quality,
        received_at: (quality != Quality::Estimated).then(|| {
            start + Duration::minutes(i64::from(interval_min)) + Duration::milliseconds(455)
        }),
    }
}

fn day_of(points: u32, interval_min: u8) -> Vec<Record> {
    let midnight = utc("2026-04-01T00:00:00+09:00");
    let slots = 24 * 60 / u32::from(interval_min);
    (0..slots)
        .flat_map(|s| {
            let start = midnight + Duration::minutes(i64::from(s * u32::from(interval_min)));
            (1..=points).map(move |p| {
                let q = Quality::ALL[((p + s) % 5) as usize];
                record(p, start, interval_min, q)
            })
        })
        .collect()
}

#[test]
fn if01_a_slot_message_reads_back_as_written_through_its_zip() {
    let start = utc("2026-04-01T13:30:00+09:00");
    let records: Vec<_> = (1..=5)
        .rev()
        .map(|p| record(p, start, 30, Quality::ALL[p as usize % 5]))
        .collect();
    let m = Message::slot(
        sender(),
        retailer(),
        utc("2026-04-01T14:00:31.5+09:00"),
        records,
    )
    .unwrap();
    assert_eq!(m.info, InfoCode::Slot30);
    assert_eq!(m.slot_number(), Some(28));
    let points: Vec<_> = m.records.iter().map(|r| r.point.to_string()).collect();
    let mut sorted = points.clone();
    sorted.sort();
    assert_eq!(points, sorted, "written by point");
    let name = FileName::new(InfoCode::Slot30, m.file_time(), 0, 0).unwrap();
    assert_eq!(name.to_string(), "W41130202604011330000000.zip");
    let zip = archive::pack(&name, &m).unwrap();
    assert_eq!(
        archive::pack(&name, &m).unwrap(),
        zip,
        "the same bytes every time"
    );
    let back = archive::open(&name, &zip).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        back.created,
        utc("2026-04-01T14:00:31+09:00"),
        "whole seconds"
    );
}

#[test]
fn if01_a_daily_message_holds_every_slot_of_its_day_at_30_and_15_minutes() {
    for (interval, slots, info) in [
        (30u8, 48usize, InfoCode::Daily30),
        (15, 96, InfoCode::Daily15),
    ] {
        let records = day_of(3, interval);
        let m = Message::daily(
            sender(),
            retailer(),
            utc("2026-04-02T06:00:00+09:00"),
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
            records.clone(),
        )
        .unwrap();
        assert_eq!(m.info, info);
        assert_eq!(m.records.len(), 3 * slots);
        let xml = m.to_xml();
        assert_eq!(
            xml.matches("<JPMR00010>").count(),
            slots,
            "one group per slot"
        );
        assert_eq!(xml.matches("<JPMR00011>").count(), 3 * slots);
        assert!(xml.contains(&format!("<JP06219>{slots:02}</JP06219>")));
        assert_eq!(edi::read::message(&xml).unwrap(), m);
        let name = FileName::new(info, m.file_time(), 0, 0).unwrap();
        assert!(name.to_string().ends_with("0000000000.zip"), "{name}");
        assert_eq!(
            archive::open(&name, &archive::pack(&name, &m).unwrap()).unwrap(),
            m
        );
    }
}

#[test]
fn if01_records_that_do_not_make_the_message_are_refused() {
    let start = utc("2026-04-01T13:30:00+09:00");
    let created = utc("2026-04-01T14:00:00+09:00");
    let two_slots = vec![
        record(1, start, 30, Quality::Measured),
        record(2, start + Duration::minutes(30), 30, Quality::Measured),
    ];
    assert!(matches!(
        Message::slot(sender(), retailer(), created, two_slots),
        Err(EdiError::Message(_))
    ));
    let twice = vec![
        record(1, start, 30, Quality::Measured),
        record(1, start, 30, Quality::Backfilled),
    ];
    assert!(Message::slot(sender(), retailer(), created, twice).is_err());
    let mut off_grid = record(1, start, 30, Quality::Measured);
    off_grid.slot_start += Duration::minutes(15);
    assert!(Message::slot(sender(), retailer(), created, vec![off_grid]).is_err());
    let mut estimate_received = record(1, start, 30, Quality::Estimated);
    estimate_received.received_at = Some(created);
    assert!(Message::slot(sender(), retailer(), created, vec![estimate_received]).is_err());
    let mut reading_unreceived = record(1, start, 30, Quality::Backfilled);
    reading_unreceived.received_at = None;
    assert!(Message::slot(sender(), retailer(), created, vec![reading_unreceived]).is_err());
    // A flagged slot across a gap has estimated values and no receipt time: taken, and
    // read back as it was.
    let mut flagged_gap = record(1, start, 30, Quality::Flagged);
    flagged_gap.received_at = None;
    let m = Message::slot(sender(), retailer(), created, vec![flagged_gap]).unwrap();
    assert_eq!(edi::read::message(&m.to_xml()).unwrap(), m);
    let mut above = record(1, start, 30, Quality::Measured);
    above.cum_in_wh = 100_000_000;
    assert!(Message::slot(sender(), retailer(), created, vec![above]).is_err());
    assert!(Message::slot(sender(), retailer(), created, Vec::new()).is_err());
    let other_day = vec![record(
        1,
        utc("2026-04-02T00:00:00+09:00"),
        30,
        Quality::Measured,
    )];
    let day = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    assert!(Message::daily(sender(), retailer(), created, day, other_day).is_err());
    let mixed = vec![
        record(1, start, 30, Quality::Measured),
        record(2, start, 15, Quality::Measured),
    ];
    assert!(Message::daily(sender(), retailer(), created, day, mixed).is_err());
}

#[test]
fn if01_a_zip_not_of_its_name_or_damaged_is_refused() {
    let start = utc("2026-04-01T13:30:00+09:00");
    let m = Message::slot(
        sender(),
        retailer(),
        utc("2026-04-01T14:00:00+09:00"),
        vec![record(1, start, 30, Quality::Measured)],
    )
    .unwrap();
    let name = FileName::new(InfoCode::Slot30, m.file_time(), 0, 0).unwrap();
    let zip = archive::pack(&name, &m).unwrap();
    // Another slot's name: not the message it holds (the entry's name differs too).
    let other = FileName::new(
        InfoCode::Slot30,
        m.file_time() + Duration::minutes(30),
        0,
        0,
    )
    .unwrap();
    assert!(matches!(archive::open(&other, &zip), Err(EdiError::Zip(_))));
    assert!(archive::pack(&other, &m).is_err());
    // A later update of the same: the entry is named for issue 00.
    assert!(archive::open(&name.with_update(1).unwrap(), &zip).is_err());
    // Any byte of the compressed data changed: the CRC or the inflater refuses it.
    let data = 30 + name.xml_name().len();
    for i in [data, data + 10, zip.len() / 2] {
        let mut bad = zip.clone();
        bad[i] ^= 0x55;
        assert!(archive::open(&name, &bad).is_err(), "byte {i}");
    }
    assert!(archive::open(&name, b"not a zip").is_err());
    assert!(archive::open(&name, &zip[..zip.len() - 1]).is_err());
}

#[test]
fn if01_a_large_retailer_is_split_by_point_with_every_slot_of_a_point_in_one_file() {
    let points = u32::try_from(edi::message::POINTS_PER_FILE).unwrap() + 3;
    let start = utc("2026-04-01T00:00:00+09:00");
    let records: Vec<_> = (1..=points)
        .map(|p| record(p, start, 30, Quality::Measured))
        .collect();
    let created = utc("2026-04-01T00:30:30+09:00");
    let slot_files = files::slot(sender(), retailer(), created, 2, records).unwrap();
    let names: Vec<_> = slot_files.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "W41130202604010000020000.zip",
            "W41130202604010000020001.zip"
        ]
    );
    assert_eq!(slot_files[1].records, 3);
    let opened = archive::open(&slot_files[1].name, &slot_files[1].zip).unwrap();
    assert_eq!(
        opened.records[0].point.to_string(),
        format!("09{:020}", points - 2)
    );

    // The daily message: two slots of each point.
    let mut day = Vec::new();
    for p in 1..=points {
        day.push(record(p, start, 30, Quality::Measured));
        day.push(record(
            p,
            start + Duration::minutes(30),
            30,
            Quality::Backfilled,
        ));
    }
    let date = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let daily = files::daily(sender(), retailer(), created, date, 0, day).unwrap();
    assert_eq!(daily.len(), 2);
    assert_eq!(
        (daily[0].records, daily[1].records),
        (2 * (points as usize - 3), 6)
    );
    for f in &daily {
        let m = archive::open(&f.name, &f.zip).unwrap();
        let mut seen: Vec<_> = m.records.iter().map(|r| r.point).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len() * 2, m.records.len(), "both slots of every point");
    }
}

#[test]
fn if01_a_message_whose_parts_disagree_is_refused() {
    let start = utc("2026-04-01T13:30:00+09:00");
    let m = Message::slot(
        sender(),
        retailer(),
        utc("2026-04-01T14:00:00+09:00"),
        vec![
            record(1, start, 30, Quality::Measured),
            record(2, start, 30, Quality::Estimated),
        ],
    )
    .unwrap();
    let xml = m.to_xml();
    assert_eq!(edi::read::message(&xml).unwrap(), m);
    let refused = |from: &str, to: &str| {
        assert_eq!(xml.matches(from).count(), 1, "{from}");
        let bad = xml.replacen(from, to, 1);
        assert!(
            matches!(
                edi::read::message(&bad),
                Err(EdiError::Xml(_)
                    | EdiError::Message(_)
                    | EdiError::SupplyPoint(_)
                    | EdiError::PartyCode(_)
                    | EdiError::InfoCode(_))
            ),
            "{from} -> {to} taken"
        );
    };
    // An estimate under status 0 would be billed by an importer that reads JP06122 only.
    refused("<JP06122>1</JP06122>", "<JP06122>0</JP06122>");
    refused("<JPC21>2</JPC21>", "<JPC21>3</JPC21>");
    refused("<JP06219>28</JP06219>", "<JP06219>29</JP06219>");
    refused("<JP06116>20260401</JP06116>", "<JP06116>20260402</JP06116>");
    refused("<JPC09>R0001</JPC09>", "<JPC09>R0002</JPC09>");
    refused("<JPC11>1130</JPC11>", "<JPC11>1140</JPC11>");
    refused("<JP00002>1130</JP00002>", "<JP00002>1110</JP00002>");
    refused("<JPX0104>estimated</JPX0104>", "<JPX0104>guessed</JPX0104>");
    refused(
        "<JPX0107>30</JPX0107>\n</JPMR00010>\n</JPM00010>",
        "<JPX0107>15</JPX0107>\n</JPMR00010>\n</JPM00010>",
    );
    refused(
        "<JP06400>0900000000000000000001</JP06400>",
        "<JP06400>0900000000000000000002</JP06400>",
    );
    refused(
        "<JP06400>0900000000000000000002</JP06400>",
        "<JP06400>090000000000000000002</JP06400>",
    );
    refused("+09:00</JPX0108>", "Z</JPX0108>");
}
