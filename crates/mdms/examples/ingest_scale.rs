//! The MDMS at scale, alone: `points` supply points, one reading each per half hour for
//! `boundaries` boundaries, in the order a boundary's pushes arrive (shuffled by point),
//! taken in batches of 65,536 (the head end's; BATCH if given), by
//! `Mdms<Tailed<SqliteStore>>` on a scratch file as the simulator runs it. Prints one line per boundary (seconds, µs a
//! reading) and the bytes the database and its log take, for `scripts/bench mdms`.
//!
//! Usage: `ingest_scale POINTS BOUNDARIES DIR [BATCH]`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use mdms::{
    Arrival, Counter, Durability, Interval, Mdms, RawReading, SqliteStore, Status, SupplyPoint,
    Tailed, TerminalId, Vee,
};

/// The head end's batch (`headend::service::BATCH`), unless the command line gives one.
const BATCH: usize = 65_536;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (points, boundaries, dir, batch_size) = match args.as_slice() {
        [_, p, b, d] => (p, b, d, BATCH),
        [_, p, b, d, n] => (p, b, d, n.parse()?),
        _ => return Err("usage: ingest_scale POINTS BOUNDARIES DIR [BATCH]".into()),
    };
    let (points, boundaries): (u32, u32) = (points.parse()?, boundaries.parse()?);
    let path = std::path::Path::new(dir).join("mdms-scale.db");
    let _ = std::fs::remove_file(&path);
    let store = Tailed::new(SqliteStore::open_with(&path, Durability::Relaxed)?);
    let mut mdms = Mdms::new(
        store,
        Vee {
            max_power_w: 12_000,
        },
    )?;
    let ids: Vec<SupplyPoint> = (0..points)
        .map(|i| format!("03{i:020}").parse())
        .collect::<Result<_, _>>()?;
    let start: DateTime<Utc> = "2026-04-01T00:00:00Z".parse()?;
    // A fixed permutation step coprime with `points`: each boundary's pushes arrive in
    // an order unrelated to the points' order, as the radio delivers them.
    let step = (1..)
        .map(|k| 7_919 * k + 1)
        .find(|s| gcd(*s, u64::from(points)) == 1)
        .unwrap_or(1);
    let mut batch = Vec::with_capacity(batch_size);
    let mut total = 0.0;
    for b in 0..boundaries {
        let boundary = start + chrono::Duration::minutes(30 * i64::from(b));
        let began = Instant::now();
        for k in 0..u64::from(points) {
            let i = (k * step + u64::from(b)) % u64::from(points);
            let wh = u32::try_from((i % 97 + 1) * u64::from(b) % 100_000_000)?;
            batch.push(RawReading {
                point: ids[usize::try_from(i)?].clone(),
                terminal: TerminalId(i.to_be_bytes()),
                boundary,
                interval: Interval::Half,
                ac_in: Some(Counter::new(wh)?),
                ac_out: Some(Counter::new(0)?),
                status: Status(0),
                received_at: boundary + chrono::Duration::seconds(2),
                arrival: Arrival::Pushed,
            });
            if batch.len() == batch_size {
                mdms.ingest(&batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            mdms.ingest(&batch)?;
            batch.clear();
        }
        let s = began.elapsed().as_secs_f64();
        total += s;
        println!(
            "boundary {b} {s:.3} s {:.1} us/reading",
            s * 1e6 / f64::from(points)
        );
    }
    // The database and its write-ahead log: what the readings take on disk.
    let wal = path.with_extension("db-wal");
    let bytes = std::fs::metadata(&path)?.len() + std::fs::metadata(&wal).map_or(0, |m| m.len());
    println!(
        "total {total:.3} s {:.1} us/reading file {:.1} MB",
        total * 1e6 / f64::from(points) / f64::from(boundaries),
        bytes as f64 / 1e6
    );
    Ok(())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
