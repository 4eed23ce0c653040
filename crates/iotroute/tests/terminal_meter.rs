//! `iotroute terminal --meter ADDR` as a process against `iotroute meter` (TRM-03/04/07):
//! the terminal reads its meter at every slot into its SQLite store (`DIR/readings.sqlite`);
//! killed outright (SIGKILL) at random moments many times, it never loses a committed
//! reading and never leaves the store damaged.
//!
//! Addresses: block 127.0.178.0/24 (meter on `.2`, terminal on `.3`), 127.0.179.0/24.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nodes::terminal::store::{Reading, ReadingStore, Status};
use support::{iotroute, Running};

fn data_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "iotroute-terminal-meter-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn meter(block: u8, speed: &str) -> Running {
    let mut cmd = iotroute();
    cmd.args([
        "meter",
        "--bind",
        &format!("127.0.{block}.2"),
        "--speed",
        speed,
    ]);
    Running::start(cmd, "listening")
}

fn terminal(block: u8, speed: &str, data: &Path) -> Running {
    let mut cmd = iotroute();
    cmd.args(["terminal", "--meter", &format!("127.0.{block}.2")])
        .args([
            "--echonet-bind",
            &format!("127.0.{block}.3"),
            "--speed",
            speed,
        ])
        .arg("--data")
        .arg(data)
        .env("IOTROUTE_LINK_PASSWORD", "TERMINALPASS");
    Running::start(cmd, "reading the meter")
}

fn rows(data: &Path) -> Vec<Reading> {
    let store =
        store::SqliteStore::open(&data.join("readings.sqlite")).expect("the store opens intact");
    let from = chrono::DateTime::from_timestamp(0, 0).unwrap();
    let to = chrono::DateTime::from_timestamp(i64::from(u32::MAX), 0).unwrap();
    store.range(from, to).unwrap()
}

#[test]
fn trm03_the_terminal_program_reads_its_meter_into_its_store() {
    let data = data_dir("reads");
    let _meter = meter(178, "600");
    let t = terminal(178, "600", &data);
    // 600×: a slot every 3 s.
    std::thread::sleep(Duration::from_secs(10));
    t.terminate();
    let rows = rows(&data);
    assert!(rows.len() >= 3, "{rows:?}");
    for pair in rows.windows(2) {
        assert_eq!((pair[1].slot - pair[0].slot).num_minutes(), 30);
        assert!(pair[0].ac_in.unwrap().digits() <= pair[1].ac_in.unwrap().digits());
    }
    for r in &rows {
        assert!(!r.is_missing(), "{r:?}");
        // Nobody set the terminal's clock (TRM-09): every row says so.
        assert!(r.status.has(Status::CLOCK_INVALID));
        assert!(r.meter_id.is_some());
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn trm03_a_terminal_killed_at_random_moments_loses_no_committed_reading() {
    let data = data_dir("kill");
    let _meter = meter(179, "1800");
    let mut kept: Vec<Reading> = Vec::new();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..10 {
        let t = terminal(179, "1800", &data);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(300 + rng % 2200));
        drop(t); // SIGKILL, wherever it is.
        let now = rows(&data);
        // Every row committed before stays, unchanged (a missing row may only have been
        // filled by recovery).
        for old in &kept {
            let new = now
                .iter()
                .find(|r| r.slot == old.slot)
                .expect("a committed reading was lost");
            if !(old.is_missing() && new.recovered) {
                assert_eq!(new, old);
            }
        }
        assert!(now.windows(2).all(|w| w[0].slot < w[1].slot));
        kept = now;
    }
    assert!(kept.len() >= 6, "{} rows", kept.len());
    let _ = std::fs::remove_dir_all(&data);
}
