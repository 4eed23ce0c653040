//! The MDMS on whatever a head end might hand it: the first bytes as supply point and
//! terminal ID text (the parsers), the rest as readings, 12 bytes each (point, boundary
//! in any 5-minute step, interval, counters of any value, status, arrival, receipt).
//! Nothing panics; a reading the types accept is stored or refused with a reason; every
//! slot is 15 or 30 minutes with energies and counters below 10^8; ingesting the batch
//! again and in reverse changes no byte of the export.
#![no_main]

use chrono::{DateTime, TimeDelta};
use libfuzzer_sys::fuzz_target;
use mdms::{
    Arrival, Counter, Filter, Format, Interval, Mdms, MemoryStore, RawReading, Status, SupplyPoint,
    TerminalId, Vee,
};

fn export(m: &Mdms<MemoryStore>) -> Vec<u8> {
    let mut out = Vec::new();
    m.export(&Filter::default(), &mut out, Format::Csv).unwrap();
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&text_len, rest)) = data.split_first() else {
        return;
    };
    let (text, rest) = rest.split_at(usize::from(text_len).min(rest.len()));
    if let Ok(text) = std::str::from_utf8(text) {
        if let Ok(p) = text.parse::<SupplyPoint>() {
            assert_eq!(p.to_string().parse::<SupplyPoint>(), Ok(p));
        }
        if let Ok(t) = text.parse::<TerminalId>() {
            assert_eq!(t.to_string().parse::<TerminalId>(), Ok(t));
        }
    }
    let points: [SupplyPoint; 2] = [
        "0900000000000000000001".parse().unwrap(),
        "1000000000000000000002".parse().unwrap(),
    ];
    let base = DateTime::from_timestamp(1_796_400_000, 0).unwrap();
    let mut batch = Vec::new();
    for c in rest.chunks_exact(12) {
        let counter = |b: &[u8]| {
            Counter::new(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) % 100_000_100).ok()
        };
        batch.push(RawReading {
            point: points[usize::from(c[0] & 1)].clone(),
            terminal: TerminalId([c[0]; 8]),
            boundary: base + TimeDelta::minutes(5 * i64::from(c[1])),
            interval: if c[0] & 2 == 0 {
                Interval::Half
            } else {
                Interval::Quarter
            },
            ac_in: counter(&c[2..6]),
            ac_out: counter(&c[6..10]),
            status: Status(c[10]),
            arrival: if c[0] & 4 == 0 {
                Arrival::Pushed
            } else {
                Arrival::Backfilled
            },
            received_at: base + TimeDelta::seconds(i64::from(c[11]) * 97),
        });
    }
    let mut m = Mdms::new(MemoryStore::new(), Vee::default()).unwrap();
    let report = m.ingest(&batch).unwrap();
    assert_eq!(
        report.new + report.duplicate + report.conflict + report.rejected.len() as u64,
        batch.len() as u64
    );
    for p in &points {
        for s in m.slots(p, None, None).unwrap() {
            assert!(s.minutes == 15 || s.minutes == 30, "{s:?}");
            assert!(s.in_wh < mdms::MODULUS && s.out_wh < mdms::MODULUS);
            assert!(s.cum_in < mdms::MODULUS && s.cum_out < mdms::MODULUS);
        }
    }
    let once = export(&m);
    m.ingest(&batch).unwrap();
    assert_eq!(export(&m), once);
    let mut reversed = Mdms::new(MemoryStore::new(), Vee::default()).unwrap();
    batch.reverse();
    reversed.ingest(&batch).unwrap();
    assert_eq!(export(&reversed), once);
});
