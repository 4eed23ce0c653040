//! `iotroute handy` against a real terminal process (`iotroute terminal --maintenance`)
//! reading `iotroute meter`: stored readings with gaps as null rows (TRM-06), settings and
//! the password (TRM-08), the clock (TRM-09), the logs over DLMS (SEC-09) and the firmware
//! image transfer (SEC-10), with the contract's exit codes (0 done, 1 error, 2 refused).
//!
//! Addresses: blocks 127.0.188.0/24 and 127.0.189.0/24 (meter `.2`, terminal `.3`,
//! handy `.4`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use nodes::terminal::store::ReadingStore;
use support::{iotroute, Running};

const BLOCK: u8 = 188;

fn data_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotroute-handy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `iotroute handy --json ARGS` with `password`.
fn handy(password: &str, args: &[&str]) -> Output {
    let mut c = iotroute();
    c.args(["handy", "--target", &format!("127.0.{BLOCK}.3:4059")])
        .args(["--bind", &format!("127.0.{BLOCK}.4"), "--timeout", "2"])
        .args(args)
        .arg("--json")
        .env("IOTROUTE_DLMS_PASSWORD", password);
    support::run_with_timeout(c, Duration::from_secs(60))
}

fn ok(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    support::json(out)
}

#[test]
fn trm06_trm08_trm09_sec09_sec10_the_handy_terminal_reads_sets_and_updates_a_running_terminal() {
    let data = data_dir("all");
    let keys = data_dir("keys");
    let key = keys.join("vendor.key");
    support::firmware(&["keygen", "--out"], &[&key]);
    let _meter = support::start_meter(support::addr(BLOCK, 2), &["--speed", "600"]);
    let mut cmd = iotroute();
    cmd.args(["terminal", "--meter", &format!("127.0.{BLOCK}.2")])
        .args(["--echonet-bind", &format!("127.0.{BLOCK}.3")])
        .args(["--speed", "600", "--start", "2026-12-05T10:01:00+09:00"])
        .args(["--maintenance", &format!("127.0.{BLOCK}.3:4059")])
        .arg("--firmware-key")
        .arg(keys.join("vendor.key.pub"))
        .arg("--data")
        .arg(&data)
        .env("IOTROUTE_LINK_PASSWORD", "TERMINALPASS");
    let terminal = Running::start(cmd, "maintenance interface listening");
    // 600×: a 30-minute slot every 3 s; wait for three rows.
    let mut rows = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        let v = ok(&handy("TERMINALPASS", &["read"]));
        rows = v["rows"].as_array().unwrap().clone();
        if rows.len() >= 3 {
            break;
        }
    }
    assert!(rows.len() >= 3, "{rows:?}");
    let first = rows[0]["time"].as_str().unwrap().to_owned();
    let last = rows[2]["time"].as_str().unwrap().to_owned();
    // A range that starts an hour before the first stored slot: the two slots the
    // terminal holds nothing for come back as null rows flagged not valid (bit 2).
    let from = (chrono::DateTime::parse_from_rfc3339(&first).unwrap() - chrono::Duration::hours(1))
        .to_rfc3339();
    let v = ok(&handy(
        "TERMINALPASS",
        &["read", "--from", &from, "--to", &last],
    ));
    let ranged = v["rows"].as_array().unwrap();
    assert_eq!(ranged.len(), 5, "{v}");
    for gap in &ranged[..2] {
        assert!(
            gap["ac_in_wh"].is_null() && gap["ac_out_wh"].is_null(),
            "{gap}"
        );
        assert_eq!(gap["status"].as_u64().unwrap() & 4, 4, "{gap}");
        assert_eq!(gap["recovered"], false);
    }
    assert_eq!(&ranged[2..], &rows[..3]);

    // Settings.
    let v = ok(&handy("TERMINALPASS", &["set", "interval", "15"]));
    assert_eq!(v["interval_min"], 15);
    ok(&handy("TERMINALPASS", &["set", "pairing-id", "IOT00555"]));
    let out = handy("TERMINALPASS", &["set", "pairing-id", "bad id!"]);
    assert_eq!(out.status.code(), Some(2), "a refused SET exits 2");
    let v = ok(&handy("TERMINALPASS", &["clock"]));
    assert!(
        v["clock"].as_str().unwrap().starts_with("2026-12-05"),
        "{v}"
    );
    ok(&handy(
        "TERMINALPASS",
        &["clock", "--set", "2026-12-06T08:00:00+09:00"],
    ));
    let v = ok(&handy("TERMINALPASS", &["clock"]));
    let clock = chrono::DateTime::parse_from_rfc3339(v["clock"].as_str().unwrap()).unwrap();
    let set = chrono::DateTime::parse_from_rfc3339("2026-12-06T08:00:00+09:00").unwrap();
    assert!(
        clock >= set && clock - set < chrono::Duration::hours(2),
        "{v}"
    );
    assert_eq!(v["valid"], true, "set by a client: valid (TRM-09)");

    // The password: the next association takes the new one only.
    ok(&handy("TERMINALPASS", &["password", "NEWPASSWORD9"]));
    let out = handy("TERMINALPASS", &["clock"]);
    assert_eq!(out.status.code(), Some(2), "the old password is refused");
    assert_eq!(support::json(&out)["refused"], true);

    // Logs over DLMS.
    let v = ok(&handy("NEWPASSWORD9", &["logs", "events"]));
    let events: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for e in [
        "interval_changed",
        "pairing_id_changed",
        "clock_set",
        "password_changed",
    ] {
        assert!(events.contains(&e), "{e}: {events:?}");
    }
    let v = ok(&handy("NEWPASSWORD9", &["logs", "access"]));
    let access: Vec<(String, u64)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["access"].as_str().unwrap_or("?").to_owned(),
                e["client"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for a in [
        "association_accepted",
        "association_refused",
        "set_accepted",
        "set_refused",
        "released",
    ] {
        assert!(access.contains(&(a.to_owned(), 32)), "{a}: {access:?}");
    }

    // Firmware: a good image verifies and activates; a tampered one is refused.
    let payload = keys.join("payload.bin");
    std::fs::write(&payload, vec![0x5a; 1000]).unwrap();
    let image = keys.join("image.signed");
    support::firmware(
        &["sign", "--version", "2", "--key"],
        &[
            &key,
            Path::new("--image"),
            &payload,
            Path::new("--out"),
            &image,
        ],
    );
    // The signature trailer damaged: the manifest still reads, the terminal's signature
    // check refuses it.
    let mut tampered = std::fs::read(&image).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let bad = keys.join("tampered.signed");
    std::fs::write(&bad, tampered).unwrap();
    let out = handy("NEWPASSWORD9", &["firmware", "push", bad.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a wrong signature is refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = ok(&handy("NEWPASSWORD9", &["firmware", "status"]));
    assert_eq!(v["status"], "verification_failed", "{v}");
    let out = handy("NEWPASSWORD9", &["firmware", "activate"]);
    assert_eq!(out.status.code(), Some(2), "nothing verified to activate");
    let v = ok(&handy(
        "NEWPASSWORD9",
        &["firmware", "push", image.to_str().unwrap()],
    ));
    assert_eq!(v["status"], "verified", "{v}");
    assert_eq!(v["identifier"], "iotroute-terminal-2", "{v}");
    // SEC-10: the terminal keeps the image it receives in a file, not in memory.
    let incoming = data.join("firmware/incoming.image");
    assert_eq!(
        std::fs::metadata(&incoming).map(|m| m.len()).ok(),
        Some(std::fs::metadata(&image).unwrap().len()),
        "the image is kept in {}",
        incoming.display()
    );
    // The slot it goes to cannot be written (a file where its directory goes): the
    // terminal logs it and goes on, and the image's file goes all the same.
    std::fs::write(data.join("firmware/a"), b"").unwrap();
    let v = ok(&handy("NEWPASSWORD9", &["firmware", "activate"]));
    assert_eq!(v["status"], "activated", "{v}");
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while incoming.exists() {
        assert!(
            std::time::Instant::now() < end,
            "the incoming image stays after its activation"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap_or_default();
    assert!(events.contains("firmware_not_installed"), "{events}");
    let v = ok(&handy("NEWPASSWORD9", &["firmware", "status"]));
    assert_eq!(v["status"], "activated", "{v}");

    // A usage error exits 1, not 2.
    let out = handy(
        "NEWPASSWORD9",
        &["read", "--from", "yesterday", "--to", "now"],
    );
    assert_eq!(out.status.code(), Some(1));
    terminal.terminate();

    // What `read` printed is what the store holds.
    let store = store::SqliteStore::open(&data.join("readings.sqlite")).unwrap();
    for row in &rows[..3] {
        let t = chrono::DateTime::parse_from_rfc3339(row["time"].as_str().unwrap()).unwrap();
        let stored = store
            .range(nodes::terminal::meters::SERVED, t.into(), t.into())
            .unwrap();
        let wh = stored[0].ac_in.map(|r| u64::from(r.digits()));
        assert_eq!(row["ac_in_wh"].as_u64(), wh, "{row}");
    }
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&keys);
}

/// `iotroute terminal status --data DIR --json`.
fn status(data: &Path) -> serde_json::Value {
    let out = iotroute()
        .args(["terminal", "status", "--json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Poll the status until `until` holds (at most `secs`).
fn status_until(
    data: &Path,
    secs: u64,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let s = status(data);
        if until(&s) {
            return s;
        }
        assert!(
            std::time::Instant::now() < end,
            "status never got there: {s}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// SEC-10 end to end on a running terminal: a good image (a program that runs the
/// terminal) is installed in slot A, started by the launcher on trial, confirms itself
/// and reports its version; the same version again is refused (no downgrade) and
/// logged; an image whose program exits 1 is rolled back, the previous one running
/// again, the failure in the event log.
#[test]
fn sec10_a_good_image_runs_from_its_slot_and_a_failing_one_rolls_back() {
    const BLOCK: u8 = 189;
    let data = data_dir("slots");
    let keys = data_dir("slots-keys");
    let key = keys.join("vendor.key");
    support::firmware(&["keygen", "--out"], &[&key]);
    let _meter = support::start_meter(support::addr(BLOCK, 2), &["--speed", "600"]);
    let mut cmd = iotroute();
    cmd.args(["terminal", "--meter", &format!("127.0.{BLOCK}.2")])
        .args(["--echonet-bind", &format!("127.0.{BLOCK}.3")])
        .args(["--speed", "600"])
        .args(["--maintenance", &format!("127.0.{BLOCK}.3:4059")])
        .arg("--firmware-key")
        .arg(keys.join("vendor.key.pub"))
        .arg("--data")
        .arg(&data)
        .env("IOTROUTE_LINK_PASSWORD", "TERMINALPASS");
    let terminal = Running::start(cmd, "maintenance interface listening");
    let handy = |args: &[&str]| {
        let mut c = iotroute();
        c.args(["handy", "--target", &format!("127.0.{BLOCK}.3:4059")])
            .args(["--bind", &format!("127.0.{BLOCK}.4"), "--timeout", "2"])
            .args(args)
            .arg("--json")
            .env("IOTROUTE_DLMS_PASSWORD", "TERMINALPASS");
        support::run_with_timeout(c, Duration::from_secs(120))
    };
    let s = status_until(&data, 30, |s| s["state"] == "running");
    assert_eq!(s["firmware"]["version"], 1, "the factory image: {s}");

    // A good image: a program that is the terminal.
    let program = env!("CARGO_BIN_EXE_iotroute");
    let good = support::signed_image(
        &keys,
        &key,
        "2",
        &format!("#!/bin/sh\nexec {program} \"$@\"\n"),
    );
    let v = ok(&handy(&["firmware", "push", good.to_str().unwrap()]));
    assert_eq!(v["status"], "verified", "{v}");
    ok(&handy(&["firmware", "activate"]));
    let s = status_until(&data, 60, |s| {
        s["firmware"]["version"] == 2 && s["state"] == "running"
    });
    assert_eq!(s["firmware"]["slot"], "a", "{s}");
    // The terminal from slot A serves the handy terminal again.
    let v = ok(&handy(&["firmware", "status"]));
    assert_eq!(v["status"], "idle", "{v}");

    // The same version again: not newer, refused at verification (exit 2) and logged.
    let out = handy(&["firmware", "push", good.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let access = std::fs::read_to_string(data.join("logs/access.jsonl")).unwrap();
    assert!(access.contains("\"access\":\"action_refused\""), "{access}");
    // The image's blocks are counted, not recorded one by one (SEC-09).
    assert!(access.contains("\"image_blocks_before\":"), "{access}");
    assert!(
        access.matches("\"access\":\"action_accepted\"").count() < 10,
        "{access}"
    );

    // An image whose program exits 1: rolled back, version 2 from slot A running again.
    let bad = support::signed_image(&keys, &key, "3", "#!/bin/sh\nexit 1\n");
    ok(&handy(&["firmware", "push", bad.to_str().unwrap()]));
    ok(&handy(&["firmware", "activate"]));
    let events_with = |kind: &str| {
        std::fs::read_to_string(data.join("logs/event.jsonl"))
            .unwrap_or_default()
            .contains(kind)
    };
    let end = std::time::Instant::now() + Duration::from_secs(120);
    while !events_with("firmware_rolled_back") {
        assert!(std::time::Instant::now() < end, "no rollback logged");
        std::thread::sleep(Duration::from_millis(250));
    }
    let s = status_until(&data, 60, |s| {
        s["state"] == "running" && s["firmware"]["version"] == 2
    });
    assert_eq!(s["firmware"]["slot"], "a", "{s}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("firmware/state.json")).unwrap()).unwrap();
    assert_eq!(state["failed"][0], 3, "{state}");
    ok(&handy(&["clock"]));
    assert!(events_with("firmware_installed") && events_with("firmware_confirmed"));
    terminal.terminate();
    for log in ["access", "event"] {
        support::logs_verify(&data.join(format!("logs/{log}.jsonl")));
    }
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&keys);
}

/// SEC-07 with the handy terminal: a terminal registered with another meter's ID flags
/// its readings; `handy accept-meter` registers the meter connected, later readings are
/// not flagged, and the acceptance outlives a restart with the old `--meter-id`.
#[test]
fn sec07_the_handy_terminal_accepts_the_meter_connected_and_it_stays_registered() {
    const BLOCK: u8 = 194;
    let data = data_dir("accept");
    let _meter = support::start_meter(support::addr(BLOCK, 2), &["--speed", "600"]);
    let start = || {
        let mut cmd = iotroute();
        cmd.args(["terminal", "--meter", &format!("127.0.{BLOCK}.2")])
            .args(["--echonet-bind", &format!("127.0.{BLOCK}.3")])
            .args(["--speed", "600", "--meter-id", "0102"])
            .args(["--maintenance", &format!("127.0.{BLOCK}.3:4059")])
            .arg("--data")
            .arg(&data)
            .env("IOTROUTE_LINK_PASSWORD", "TERMINALPASS");
        Running::start(cmd, "maintenance interface listening")
    };
    let handy = |args: &[&str]| {
        let mut c = iotroute();
        c.args(["handy", "--target", &format!("127.0.{BLOCK}.3:4059")])
            .args(["--bind", &format!("127.0.{BLOCK}.4"), "--timeout", "2"])
            .args(args)
            .arg("--json")
            .env("IOTROUTE_DLMS_PASSWORD", "TERMINALPASS");
        support::run_with_timeout(c, Duration::from_secs(60))
    };
    let flagged = |r: &serde_json::Value| r["status"].as_u64().unwrap() & 1 == 1;
    let rows_until = |enough: &dyn Fn(&[serde_json::Value]) -> bool| {
        let end = std::time::Instant::now() + Duration::from_secs(40);
        loop {
            let v = ok(&handy(&["read"]));
            let rows = v["rows"].as_array().unwrap().clone();
            if enough(&rows) {
                return rows;
            }
            assert!(std::time::Instant::now() < end, "{rows:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let terminal = start();
    let rows = rows_until(&|r| !r.is_empty());
    assert!(rows.iter().all(flagged), "another meter: flagged {rows:?}");
    let v = ok(&handy(&["accept-meter"]));
    assert!(v["meter_id"].as_str().is_some_and(|m| m != "0102"), "{v}");
    let n = rows.len();
    let rows = rows_until(&|r| r.len() > n + 1);
    assert!(!flagged(rows.last().unwrap()), "accepted: {rows:?}");
    terminal.terminate();
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    assert!(events.contains("RegisteredMeter"), "{events}");
    // Restarted with the old --meter-id: the accepted meter is still the registered one.
    let terminal = start();
    let before = ok(&handy(&["read"]))["rows"].as_array().unwrap().len();
    let rows = rows_until(&|r| r.len() > before);
    assert!(!flagged(rows.last().unwrap()), "{rows:?}");
    terminal.terminate();
    let _ = std::fs::remove_dir_all(&data);
}
