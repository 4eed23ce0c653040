//! `iotroute terminal --meter ADDR` as a process against `iotroute meter` (TRM-03/04/07):
//! the terminal reads its meter at every slot into its SQLite store (`DIR/readings.sqlite`);
//! killed outright (SIGKILL) at random moments many times, it never loses a committed
//! reading and never leaves the store damaged.
//!
//! Addresses: block 127.0.178.0/24 (meter on `.2`, terminal on `.3`), 127.0.179.0/24,
//! 127.0.180.0/24, 127.0.181.0/24 (a flooder on `.9`), 127.0.182.0/24, 127.0.184.0/24,
//! 127.0.185.0/24, 127.0.186.0/24, 127.0.187.0/24, 127.0.198.0/24 (npm echonet-lite), 127.0.199.0/24.

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
    Running::start(terminal_command(block, speed, data), "reading the meter")
}

/// `iotroute terminal` reading the meter of `block` on a `speed`× clock into `data`.
fn terminal_command(block: u8, speed: &str, data: &Path) -> std::process::Command {
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
    cmd
}

fn rows_of(data: &Path) -> Vec<Reading> {
    let store =
        store::SqliteStore::open(&data.join("readings.sqlite")).expect("the store opens intact");
    let from = chrono::DateTime::from_timestamp(0, 0).unwrap();
    let to = chrono::DateTime::from_timestamp(i64::from(u32::MAX), 0).unwrap();
    store
        .range(nodes::terminal::meters::SERVED, from, to)
        .unwrap()
}

/// Waits until the store in `data` holds at least `n` rows (polled; panics after 30 s).
fn rows_once(data: &Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The terminal opened its store before it says it reads the meter.
        let have = rows_of(data).len();
        if have >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{have} rows of {n}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn trm03_the_terminal_program_reads_its_meter_into_its_store() {
    let data = data_dir("reads");
    let _meter = meter(178, "600");
    let t = terminal(178, "600", &data);
    // 600×: a slot every 3 s.
    std::thread::sleep(Duration::from_secs(10));
    t.terminate();
    let rows = rows_of(&data);
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
    for _ in 0..5 {
        let t = terminal(179, "1800", &data);
        // Each life stores at least two new rows before its kill, however slow the machine
        // (a fixed sleep found too few under load); the kill then falls anywhere in the
        // next 2.2 s (1800×: a slot a second).
        rows_once(&data, kept.len() + 2);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % 2200));
        drop(t); // SIGKILL, wherever it is.
        let now = rows_of(&data);
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

/// `iotroute terminal status --data DIR --json`, which must give one.
fn status_of(data: &Path) -> serde_json::Value {
    let s = support::terminal_status(data);
    assert!(s.is_object(), "no status in {}", data.display());
    s
}

/// The status once `until` holds of it (polled, also while the terminal has written
/// none yet; panics after 30 s with the last one).
fn status_once(data: &Path, until: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = support::terminal_status(data);
        if until(&s) {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `iotroute dlms get` against the handy terminal's interface at `block`.3:4059.
/// `cmd` (a terminal) started with its maintenance interface on `block`.3:4059.
fn with_maintenance(mut cmd: std::process::Command, block: u8) -> Running {
    cmd.args(["--maintenance", &format!("127.0.{block}.3:4059")]);
    Running::start(cmd, "maintenance interface listening")
}

/// The handy terminal's request was served (exit 0).
fn assert_served(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn handy_get(block: u8, client: &str, password: &str, objects: &[&str]) -> std::process::Output {
    handy(block, "get", client, password, objects)
}

/// `iotroute dlms VERB` (get, set) against the handy terminal's interface at
/// `block`.3:4059.
fn handy(
    block: u8,
    verb: &str,
    client: &str,
    password: &str,
    args: &[&str],
) -> std::process::Output {
    let mut c = iotroute();
    c.args([
        "dlms",
        verb,
        "--host",
        &format!("127.0.{block}.3"),
        "--port",
        "4059",
    ])
    .args([
        "--bind",
        &format!("127.0.{block}.4"),
        "--json",
        "--timeout",
        "2",
    ])
    .args(["--client", client, "--auth", "low"])
    .args(args)
    .env("IOTROUTE_DLMS_PASSWORD", password);
    support::run_with_timeout(c, Duration::from_secs(30))
}

#[test]
fn trm06_the_handy_terminals_interface_serves_the_store_to_our_client_and_to_gurux() {
    let block = 180;
    let data = data_dir("handy");
    let _meter = meter(block, "600");
    // Started five hours ago on a 600× clock: its rows fall within Gurux's "last six
    // hours" of real time.
    let start = (chrono::Utc::now() - chrono::Duration::hours(5)).to_rfc3339();
    let mut cmd = terminal_command(block, "600", &data);
    cmd.args(["--start", &start]);
    let t = with_maintenance(cmd, block);
    std::thread::sleep(Duration::from_secs(8));
    // The maintenance association with the terminal's authentication password.
    let out = handy_get(block, "32", "TERMINALPASS", &["1-0:1.8.0.255"]);
    assert_served(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let served = v["results"][0]["value"].as_u64().expect("register value");
    // A wrong password: the association is refused; the management client (the smart
    // meter's, over the IoT route only) gets no answer here at all.
    let out = handy_get(block, "32", "WRONGPASSWORD", &["1-0:1.8.0.255"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("AuthenticationFailure"),
        "{err}"
    );
    let out = handy_get(block, "1", "TERMINALPASS", &["1-0:1.8.0.255"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !err.contains("association refused"),
        "{err}"
    );
    // Gurux-Python reads it as a handy terminal would: registers and the profile by range.
    if let Some(python) = support::python() {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/gurux_client.py");
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&script)
            .arg(format!("127.0.{block}.3"))
            .args(["--bind", &format!("127.0.{block}.5"), "--mode", "lls"])
            .args([
                "--client",
                "32",
                "--password",
                "TERMINALPASS",
                "--hours",
                "6",
            ]);
        let out = support::run_with_timeout(cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j = support::json(&out);
        assert!(j["registers"]["1.0.1.8.0.255"]["value"].as_u64() >= Some(served));
        let rows = j["profile"].as_array().expect("profile");
        assert!(rows.len() >= 2, "{j}");
        // Each row Gurux read is the store's row of that slot (Wh: the emulated meter
        // counts in 0.001 kWh).
        let stored = rows_of(&data);
        for row in rows {
            let time = chrono::DateTime::parse_from_rfc3339(row[0].as_str().unwrap()).unwrap();
            let r = stored
                .iter()
                .find(|r| r.slot == time)
                .expect("a profile row the store does not hold");
            assert_eq!(row[1].as_u64(), Some(u64::from(r.ac_in.unwrap().digits())));
        }
    }
    // The refused association is counted (the status catches up within seconds).
    let s = status_once(&data, |s| s["counters"]["auth_failures"].as_u64() > Some(0));
    assert_eq!(s["counters"]["auth_failures"], 1, "{s}");
    t.terminate();
    // SEC-09: the access log holds the handy sessions and the refused client, the event
    // log the start and stop; both verify.
    let access = std::fs::read_to_string(data.join("logs/access.jsonl")).unwrap();
    assert!(access.contains("\"kind\":\"association\""), "{access}");
    assert!(access.contains("\"kind\":\"refused\""), "{access}");
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    assert!(
        events.contains("\"kind\":\"started\"") && events.contains("\"kind\":\"stopped\""),
        "{events}"
    );
    for log in ["access", "event"] {
        support::logs_verify(&data.join(format!("logs/{log}.jsonl")));
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// SEC-08 (and SEC-06): another address floods the terminal's ECHONET socket with 10,000
/// datagrams a second — spoofed answers and malformed frames — while slots pass: every
/// slot is still read (none missing), the flood is detected and logged as an event (not
/// one line per datagram), and the drops are counted by reason.
#[test]
fn sec08_a_flood_on_the_echonet_socket_is_detected_and_no_reading_is_lost() {
    let block = 181;
    let data = data_dir("flood");
    let _meter = meter(block, "600");
    let t = terminal(block, "600", &data);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind(format!("127.0.{block}.9:0")).unwrap();
            let to = format!("127.0.{block}.3:3610");
            let started = std::time::Instant::now();
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Paced: 100 datagrams every 10 ms.
                let due = started + Duration::from_millis(sent / 100 * 10);
                if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                    std::thread::sleep(wait);
                }
                for _ in 0..100 {
                    let tid = u16::try_from(sent % 65_536).unwrap().to_be_bytes();
                    let datagram: &[u8] = if sent % 10 == 0 {
                        &[0x10, 0x81, 0xff]
                    } else {
                        &[
                            0x10, 0x81, tid[0], tid[1], 0x02, 0x8E, 0x01, 0x05, 0xFF, 0x01, 0x72,
                            0x01, 0xE0, 0x04, 0x00, 0x00, 0x00, 0x01,
                        ]
                    };
                    let _ = socket.send_to(datagram, &to);
                    sent += 1;
                }
            }
            (sent, started.elapsed())
        })
    };
    // 600×: a slot every 3 s; about four pass under the flood.
    std::thread::sleep(Duration::from_secs(13));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, took) = flooder.join().unwrap();
    t.terminate();
    let rate = sent as f64 / took.as_secs_f64();
    assert!(rate > 9_000.0, "the flood ran at {rate:.0}/s");
    let rows = rows_of(&data);
    assert!(rows.len() >= 3, "{rows:?}");
    for r in &rows {
        assert!(!r.is_missing(), "a reading lost under the flood: {r:?}");
    }
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let alarms: Vec<_> = records
        .iter()
        .filter(|r| r["kind"] == "dos_detected")
        .collect();
    // One per hold-off (60 s), not one per datagram.
    assert_eq!(alarms.len(), 1, "{events}");
    assert_eq!(alarms[0]["details"]["source"], format!("127.0.{block}.9"));
    let stopped = records
        .iter()
        .find(|r| r["kind"] == "stopped")
        .expect("a stopped record");
    let dropped = stopped["details"]["echonet_dropped"]["foreign_source"]
        .as_u64()
        .unwrap();
    // Most of the flood reached the socket (the kernel may drop some under load).
    assert!(dropped > sent / 2, "{dropped} of {sent}");
    assert_eq!(stopped["details"]["dos_events"], 1);
    let _ = std::fs::remove_dir_all(&data);
}

/// TRM-10 and `terminal status`: a terminal whose meter does not answer shows the meter
/// error (its slot a missing row: null values, status bit 2 data not valid); once the
/// meter answers, the LED is back (off: no IoT route configured). Every change is in the
/// event log; the status names the state (`running`, `stopped`, `down` after a SIGKILL),
/// the meter ID registered and last read, the counters and the firmware.
#[test]
fn trm10_terminal_status_shows_the_led_the_meter_and_the_counters() {
    let block = 182;
    let data = data_dir("status");
    let t = terminal(block, "600", &data);
    // 600×: a slot every 3 s; no meter yet: once its attempts (timeouts in real time)
    // are over, the slot is missing.
    let s = status_once(&data, |s| s["led"]["state"] == "meter_error");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["link"], serde_json::Value::Null);
    let missing = s["last_readings"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(missing["ac_in_wh"], serde_json::Value::Null, "{s}");
    assert_ne!(missing["status"].as_u64().unwrap() & 4, 0, "{s}");
    assert!(s["counters"]["missing"].as_u64() >= Some(1), "{s}");
    assert!(s["counters"]["echonet_dropped"]["foreign_source"].is_u64());
    assert!(s["counters"]["dos_events"].is_u64() && s["counters"]["auth_failures"].is_u64());
    assert_eq!(s["firmware"]["version"], 1, "the factory image");
    assert!(s["firmware"]["slot"].is_null());
    // The meter comes up: the next slot is read.
    let _meter = meter(block, "600");
    let s = status_once(&data, |s| s["led"]["state"] == "off");
    let id = s["meter_id"]["last_read"]
        .as_str()
        .expect("a meter ID read");
    assert_eq!(s["meter_id"]["registered"], id);
    let last = s["last_readings"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last["ac_in_wh"].is_u64(), "{s}");
    t.terminate();
    assert_eq!(status_of(&data)["state"], "stopped");
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    let leds: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "led")
        .map(|r| r["details"]["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(leds, ["meter_error", "off"], "{events}");
    // Killed outright: the status says the terminal is down.
    let t = terminal(block, "600", &data);
    status_once(&data, |s| s["state"] == "running");
    drop(t);
    assert_eq!(status_of(&data)["state"], "down");
    let _ = std::fs::remove_dir_all(&data);
}

/// TRM-08: the handy terminal changes the authentication password and the Pairing ID
/// over its interface; the new password works from the next association and the old one
/// no longer; the terminal ID's SET is refused (exit 2) and the refusal is in the access
/// log. Restarted with the command line's password, the terminal keeps the changed
/// settings (`DIR/settings.json`, owner-only).
#[test]
fn trm08_settings_changed_by_the_handy_terminal_take_effect_and_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt as _;
    let block = 184;
    let data = data_dir("settings");
    let start = |data: &Path| with_maintenance(terminal_command(block, "1", data), block);
    let t = start(&data);
    let register = ["1-0:1.8.0.255"];
    let code = |out: &std::process::Output| out.status.code();
    let out = handy(
        block,
        "set",
        "32",
        "TERMINALPASS",
        &[
            "1/0-0:128.0.2.255",
            "@4e455750415353574f524431", // NEWPASSWORD1
            "1/0-0:128.0.1.255",
            "IOT00777",
        ],
    );
    assert_served(&out);
    // The next association takes the new password only.
    let out = handy_get(block, "32", "NEWPASSWORD1", &register);
    assert_served(&out);
    let out = handy_get(block, "32", "TERMINALPASS", &register);
    assert_ne!(code(&out), Some(0));
    // The terminal ID can never be changed.
    let out = handy(
        block,
        "set",
        "32",
        "NEWPASSWORD1",
        &["1/0-0:96.1.0.255", "@414e4f54484552"],
    );
    assert_eq!(
        code(&out),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.terminate();
    let kept = data.join("settings.json");
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "settings hold secrets: {mode:o}");
    let access = std::fs::read_to_string(data.join("logs/access.jsonl")).unwrap();
    assert!(
        access.contains("\"result\":\"ReadWriteDenied\""),
        "the refused SET is logged: {access}"
    );
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    assert!(events.contains("\"setting\":\"AuthPassword\""), "{events}");
    assert!(!events.contains("NEWPASSWORD1") && !access.contains("NEWPASSWORD1"));
    // Restarted with the old password on its command line: the changed one wins.
    let t = start(&data);
    let out = handy_get(block, "32", "TERMINALPASS", &register);
    assert_ne!(code(&out), Some(0));
    let out = handy_get(
        block,
        "32",
        "NEWPASSWORD1",
        &["1-0:1.8.0.255", "0-0:128.0.1.255"],
    );
    assert_served(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("IOT00777"), "{v}");
    t.terminate();
    let _ = std::fs::remove_dir_all(&data);
}

/// TRM-09: the terminal's clock is kept in `DIR` while it runs; started again with the
/// same (earlier) `--start`, it resumes from the kept clock — ahead of the newest reading
/// it stored — never from `--start`: its clock never goes back.
#[test]
fn trm09_the_clock_kept_in_dir_wins_over_an_earlier_start() {
    let block = 185;
    let data = data_dir("clock");
    let _meter = meter(block, "600");
    let start = "2026-12-01T10:00:00+09:00";
    let run = || {
        let mut cmd = terminal_command(block, "600", &data);
        cmd.args(["--start", start]);
        Running::start(cmd, "reading the meter")
    };
    let time = |s: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(s["updated"].as_str().unwrap()).unwrap()
    };
    let t = run();
    // 600×: about 40 minutes of the terminal's time, past the 10:30 slot.
    let before = status_once(&data, |s| {
        s["last_readings"].as_array().is_some_and(|r| !r.is_empty())
            && time(s) >= chrono::DateTime::parse_from_rfc3339("2026-12-01T10:40:00+09:00").unwrap()
    });
    t.terminate();
    let stopped = time(&status_of(&data));
    assert!(stopped >= time(&before));
    // The newest row alone would restart the clock earlier than where it stopped.
    let newest = rows_of(&data)
        .last()
        .map(|r| r.read_at.unwrap_or(r.slot))
        .unwrap();
    assert!(stopped > newest, "{stopped} vs {newest}");
    let t = run();
    let after = status_once(&data, |s| s["state"] == "running");
    assert!(
        time(&after) >= stopped,
        "{} went back from {stopped}",
        time(&after)
    );
    t.terminate();
    let _ = std::fs::remove_dir_all(&data);
}

/// SEC-08 on the maintenance interface: a flood of frames for a client it does not serve
/// (and of garbage) from another address is detected (`dos_detected` in the access log,
/// `dos_events` in the status, `flood_detected` in the event log over DLMS), the refusals are logged within a budget (not one record
/// per frame), and the handy terminal is still served meanwhile.
#[test]
fn sec08_a_flood_on_the_maintenance_interface_is_detected_and_the_handy_terminal_served() {
    let block = 186;
    let data = data_dir("maintenance-flood");
    let _meter = meter(block, "600");
    let t = with_maintenance(terminal_command(block, "600", &data), block);
    let socket = std::net::UdpSocket::bind(format!("127.0.{block}.9:0")).unwrap();
    let to = format!("127.0.{block}.3:4059");
    // Wrapper frames from wPort 1 (served over the IoT route only) and garbage.
    let wrapped = [0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x60];
    for i in 0..5_000 {
        let datagram: &[u8] = if i % 2 == 0 { &wrapped } else { &[0xff, 0x00] };
        let _ = socket.send_to(datagram, &to);
    }
    let out = handy_get(block, "32", "TERMINALPASS", &["1-0:1.8.0.255"]);
    assert_served(&out);
    let s = status_once(&data, |s| s["counters"]["dos_events"].as_u64() > Some(0));
    assert_eq!(s["counters"]["dos_events"], 1, "{s}");
    // The node logged it in the event log over DLMS (and queued it for the smart meter).
    let mut c = iotroute();
    c.args(["handy", "--target", &format!("127.0.{block}.3:4059")])
        .args(["--bind", &format!("127.0.{block}.4"), "--timeout", "2"])
        .args(["logs", "events", "--json"])
        .env("IOTROUTE_DLMS_PASSWORD", "TERMINALPASS");
    let out = support::run_with_timeout(c, Duration::from_secs(30));
    assert_served(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "flood_detected"),
        "{v}"
    );
    t.terminate();
    let access = std::fs::read_to_string(data.join("logs/access.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = access
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let floods: Vec<_> = records
        .iter()
        .filter(|r| r["kind"] == "dos_detected")
        .collect();
    assert_eq!(floods.len(), 1, "{access}");
    assert_eq!(floods[0]["details"]["side"], "maintenance");
    assert_eq!(floods[0]["details"]["source"], format!("127.0.{block}.9"));
    let refused = records.iter().filter(|r| r["kind"] == "refused").count();
    assert!((1..=20).contains(&refused), "{refused} refusal records");
    let _ = std::fs::remove_dir_all(&data);
}

/// SEC-06/SEC-08: malformed datagrams from the meter's own address (spoofed, or a meter
/// gone mad) pass the gate — the meter is never refused — and are dropped by the
/// controller: counted in full, warned about within the log budget (not one line each),
/// detected as a flood of the meter's address, and the slots are still read.
#[test]
fn sec06_a_flood_from_the_meters_address_is_counted_logged_within_budget_and_detected() {
    let block = 187;
    let data = data_dir("meter-flood");
    let _meter = meter(block, "600");
    let t = terminal(block, "600", &data);
    let socket = std::net::UdpSocket::bind(format!("127.0.{block}.2:0")).unwrap();
    for _ in 0..2_000 {
        let _ = socket.send_to(&[0x10, 0x81, 0xff], format!("127.0.{block}.3:3610"));
    }
    let s = status_once(&data, |s| {
        // Most of the burst may be lost to the socket's buffer; enough arrives.
        s["counters"]["echonet_dropped"]["malformed"].as_u64() >= Some(150)
            && s["counters"]["read"].as_u64() >= Some(2)
    });
    assert_eq!(s["counters"]["missing"], 0, "{s}");
    assert_eq!(s["counters"]["dos_events"], 1, "{s}");
    let lines = t.terminate_and_collect();
    let warned = lines
        .iter()
        .filter(|l| l.contains("malformed ECHONET Lite datagram dropped"))
        .count();
    assert!((1..=21).contains(&warned), "{warned} warnings");
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    assert!(
        events.contains(&format!("\"source\":\"127.0.{block}.2\"")),
        "{events}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// The terminal program against a meter we did not write: npm `echonet-lite` serving a
/// 0x028E meter (interop/el_device.js: unit 0.01 kWh, AC input 12,345,678 and output
/// 12,345 counts, answering from port 23610). Every slot is stored with the meter's
/// counts, and the handy terminal reads them back over the maintenance interface as
/// Wh (TRM-03, TRM-07, TRM-06).
#[test]
fn trm03_trm07_the_terminal_program_reads_the_npm_echonet_lite_meter() {
    let Some(dir) = support::node_dir() else {
        return;
    };
    let block = 198;
    let _device = support::ElDevice::start(&dir, support::addr(block, 2));
    let data = data_dir("npm-meter");
    let mut cmd = terminal_command(block, "600", &data);
    cmd.args(["--maintenance", &format!("127.0.{block}.4:4059")]);
    let t = Running::start(cmd, "reading the meter");
    // 600×: a slot every 3 s.
    let s = status_once(&data, |s| {
        s["last_readings"].as_array().is_some_and(|r| r.len() >= 2)
    });
    let mut handy = iotroute();
    handy
        .args(["handy", "--target", &format!("127.0.{block}.4:4059")])
        .args(["--bind", &format!("127.0.{block}.5"), "read", "--json"])
        .env("IOTROUTE_DLMS_PASSWORD", "TERMINALPASS");
    let out = support::run_with_timeout(handy, Duration::from_secs(60));
    t.terminate();
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{s}");
    let rows = rows_of(&data);
    assert!(rows.len() >= 2, "{rows:?}");
    for r in &rows {
        assert!(!r.is_missing(), "{r:?}");
        assert_eq!(r.ac_in.unwrap().digits(), 12_345_678, "{r:?}");
        assert_eq!(r.ac_out.unwrap().digits(), 12_345, "{r:?}");
        assert_eq!(r.meter_id.as_deref(), Some(&b"ELDEVICE0001"[..]), "{r:?}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let read: Vec<&serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["ac_in_wh"].is_null())
        .collect();
    assert!(read.len() >= 2, "{v}");
    for r in read {
        // 123,456.78 kWh and 123.45 kWh, lower 8 digits of Wh.
        assert_eq!(r["ac_in_wh"], 23_456_780, "{r}");
        assert_eq!(r["ac_out_wh"], 123_450, "{r}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// SEC-08 without false alarms: a handy terminal that asks as fast as the answers come
/// (500 GETs in one association, as a 90-day backfill or a firmware push does) is no
/// flood: no `dos_detected`, `dos_events` stays 0.
#[test]
fn sec08_a_handy_terminal_asking_in_bursts_is_no_flood() {
    use dlms::client::{Authentication, Client, ClientSettings, Event, Security};
    let block = 199;
    let data = data_dir("maintenance-burst");
    let _meter = meter(block, "600");
    let t = with_maintenance(terminal_command(block, "600", &data), block);
    let socket = std::net::UdpSocket::bind(format!("127.0.{block}.9:0")).unwrap();
    socket.connect(format!("127.0.{block}.3:4059")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut client = Client::new(
        ClientSettings {
            client_wport: 32,
            server_wport: 1,
            authentication: Authentication::Low {
                password: b"TERMINALPASS".to_vec(),
            },
            security: Security::None,
            max_pdu: 1024,
            ..ClientSettings::default()
        },
        nodes::app::entropy::Seeded::new(1, 1),
    )
    .unwrap();
    let mut buf = [0u8; 2048];
    let mut exchange = |client: &mut Client<nodes::app::entropy::Seeded>, request: Vec<u8>| {
        socket.send(&request).unwrap();
        let n = socket.recv(&mut buf).unwrap();
        client.handle(&buf[..n]).unwrap()
    };
    let aarq = client.associate().unwrap();
    assert!(matches!(exchange(&mut client, aarq), Event::Established));
    // 600 requests in bursts of 120 sent back to back: each burst (more than the
    // 100 a second a source may send refused datagrams) arrives within one second,
    // whatever the machine's speed (no timed assertion). Every one is answered.
    let get = client
        .get(8, dlms::Obis::new(0, 0, 1, 0, 0, 255), 2, None)
        .unwrap();
    let first = exchange(&mut client, get.clone());
    assert!(matches!(first, Event::Value(_)), "{first:?}");
    for _ in 0..5 {
        for _ in 0..120 {
            socket.send(&get).unwrap();
        }
        for _ in 0..120 {
            let n = socket
                .recv(&mut buf)
                .expect("every request of a burst answered");
            // An answer to the same GET: a GET.response-normal (C4 01) with data (result 00).
            assert_eq!(&buf[8..10], [0xC4, 0x01], "{:02X?}", &buf[..n]);
            assert_eq!(buf[11], 0x00, "{:02X?}", &buf[..n]);
        }
    }
    // Stopped, the terminal has written its last status.
    t.terminate();
    let s = status_of(&data);
    assert_eq!(s["state"], "stopped", "{s}");
    assert_eq!(s["counters"]["dos_events"], 0, "{s}");
    let access = std::fs::read_to_string(data.join("logs/access.jsonl")).unwrap();
    assert!(!access.contains("dos_detected"), "{access}");
    let _ = std::fs::remove_dir_all(&data);
}
