//! IF-01 against a reader we did not write: Python's own `zipfile` and
//! `xml.etree.ElementTree` open our ZIP, walk the tree as a retailer's importer would,
//! and get back every value as `mdms export` writes it.

mod support;

use std::process::Command;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use edi::message::{jst, kwh};
use edi::{archive, FileName, Message, Quality, Record};

/// Walks SBD-MSG/JPMGRP/JPTRM/JPM00010/JPMR00010/JPM00011/JPMR00011 and prints one CSV
/// line per record: point, slot number, slot start, in, out, cum in, cum out, quality,
/// status, received at.
const READER: &str = r#"
import sys, zipfile, xml.etree.ElementTree as ET
path, want = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as z:
    names = z.namelist()
    assert names == [want], names
    assert z.testzip() is None
    root = ET.fromstring(z.read(want))
assert root.tag == "SBD-MSG", root.tag
trm = root.find("JPMGRP/JPTRM")
print(trm.findtext("JP00002"), trm.findtext("JP06110"), trm.findtext("JP06112"), trm.findtext("JP06116"))
for slot in trm.findall("JPM00010/JPMR00010"):
    number = slot.findtext("JP06219")
    for r in slot.findall("JPM00011/JPMR00011"):
        t = lambda tag: r.findtext(tag) or ""
        print(",".join([t("JP06400"), number, t("JPX0106"), t("JP06125"), t("JPX0101"),
                        t("JPX0102"), t("JPX0103"), t("JPX0104"), t("JP06122"), t("JPX0108")]))
"#;

fn python() -> Option<()> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(());
    }
    support::skips::skip("python3 not found");
    None
}

#[test]
fn if01_python_reads_our_daily_zip_to_the_exports_values() {
    if python().is_none() {
        return;
    }
    let midnight = DateTime::parse_from_rfc3339("2026-04-01T00:00:00+09:00")
        .unwrap()
        .with_timezone(&Utc);
    let mut records = Vec::new();
    for s in 0..48u32 {
        for p in 1..=3u32 {
            let start = midnight + Duration::minutes(i64::from(s * 30));
            let quality = Quality::ALL[((s + p) % 5) as usize];
            records.push(Record {
                point: format!("09{:020}", p * 1_000_001).parse().unwrap(),
                terminal: [0x02, 0x1A, 0, 0, 0, 0, 0x10, p as u8],
                slot_start: start,
                interval_min: 30,
                in_wh: s * 97 + p,
                out_wh: (s * 13) % 700,
                cum_in_wh: 99_999_000 + s * 40 % 999,
                cum_out_wh: s * 5 + p,
                quality,
                received_at: (quality != Quality::Estimated)
                    .then(|| start + Duration::minutes(30) + Duration::microseconds(455_123)),
            });
        }
    }
    let date = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let created = midnight + Duration::hours(30);
    let m = Message::daily(
        "9A01K".parse().unwrap(),
        "R0001".parse().unwrap(),
        created,
        date,
        records,
    )
    .unwrap();
    let name = FileName::new(m.info, m.file_time(), 0, 0).unwrap();
    let dir = tempfile_dir();
    let path = dir.join(name.to_string());
    std::fs::write(&path, archive::pack(&name, &m).unwrap()).unwrap();
    let out = Command::new("python3")
        .args(["-c", READER])
        .arg(&path)
        .arg(name.xml_name())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1140 9A01K R0001 20260401"));
    let expected: Vec<String> = m
        .records
        .iter()
        .map(|r| {
            [
                r.point.to_string(),
                format!("{:02}", r.slot_number()),
                jst(r.slot_start),
                kwh(r.in_wh),
                kwh(r.out_wh),
                kwh(r.cum_in_wh),
                kwh(r.cum_out_wh),
                r.quality.as_str().to_owned(),
                r.quality.status().to_owned(),
                r.received_at.map(jst).unwrap_or_default(),
            ]
            .join(",")
        })
        .collect();
    assert_eq!(lines.map(str::to_owned).collect::<Vec<_>>(), expected);
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edi-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
