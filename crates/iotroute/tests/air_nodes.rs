//! The terminal and the smart meter as separate processes on the `iotroute air` hub
//! (issue 6, "so nodes can run as separate processes"): three programs, ZEP v2 over UDP
//! on loopback, the terminal scanning, joining with PANA + EAP-PSK, and the smart meter
//! reading its DLMS/COSEM model through the CCM*-secured link (RAD-01, CON-01, SEC-02,
//! SEC-03, TRM-06); a wrong password gets no reading. Link passwords reach the programs
//! through `IOTROUTE_LINK_PASSWORD` and a `--secrets` file (SEC-02), never the command
//! line, and appear in no log line (the programs run with `RUST_LOG=debug`).
//!
//! Addresses: block 127.0.175.0/24 (hub on `.2`), 127.0.176.0/24, 127.0.177.0/24,
//! 127.0.183.0/24, 127.0.193.0/24, 127.0.195.0/24, 127.0.196.0/24, 127.0.197.0/24,
//! 127.0.203.0/24, 127.0.204.0/24, 127.0.205.0/24.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{audit, iotroute, run_with_timeout, Running};

const TERMINAL_EUI: &str = "021a000000001001";
/// The terminal's link password (registered by the smart meter).
const PASSWORD: &str = "IOTPASS00001";

/// A secrets file only its owner may read, holding `text`.
fn secrets_file(name: &str, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("iotroute-air-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The JSON lines of `text` (the programs print one object a line; other lines skipped).
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn hub(block: u8) -> Running {
    let mut cmd = iotroute();
    cmd.args(["air", "--bind", &format!("127.0.{block}.2")]);
    Running::start(cmd, "listening")
}

/// A fresh data directory for a terminal.
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "iotroute-air-nodes-{}-data-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn terminal(block: u8, password: &str, data: &Path) -> Running {
    let mut cmd = iotroute();
    cmd.args(["terminal", "--air", &format!("127.0.{block}.2:17754")])
        .args(["--device-id", "2", "--eui64", TERMINAL_EUI])
        .args(["--seed", "8"])
        .arg("--data")
        .arg(data)
        .env("IOTROUTE_LINK_PASSWORD", password)
        .env("RUST_LOG", "debug");
    Running::start(cmd, "listening")
}

/// A terminal on the hub of `block` reading the emulated meter at `.3` on a 600× clock
/// into `data` (a slot every 3 s), its link password from the environment.
fn terminal_with_meter(block: u8, data: &Path) -> Command {
    let mut t = iotroute();
    t.args(["terminal", "--air", &format!("127.0.{block}.2:17754")])
        .args(["--device-id", "2", "--eui64", TERMINAL_EUI])
        .args(["--meter", &format!("127.0.{block}.3")])
        .args(["--echonet-bind", &format!("127.0.{block}.4")])
        .args(["--speed", "600"])
        .arg("--data")
        .arg(data)
        .env("IOTROUTE_LINK_PASSWORD", PASSWORD);
    t
}

/// A terminal with its meter ([`terminal_with_meter`]) serving the handy terminal on
/// `maintenance`, started.
fn terminal_with_maintenance(block: u8, data: &Path, maintenance: &str) -> Running {
    let mut t = terminal_with_meter(block, data);
    t.args(["--maintenance", maintenance]);
    Running::start(t, "listening")
}

fn smartmeter(block: u8) -> Command {
    smartmeter_registering(block, PASSWORD)
}

/// A smart meter that registers the terminal with `password`.
fn smartmeter_registering(block: u8, password: &str) -> Command {
    let mut cmd = iotroute();
    cmd.args(["smartmeter", "--air", &format!("127.0.{block}.2:17754")])
        .args(["--device-id", "1", "--eui64", "025a000000002001"])
        .args(["--terminal", TERMINAL_EUI])
        .arg("--secrets")
        .arg(secrets_file(
            &format!("meter-{block}"),
            &format!("# registrations\nterminal.{TERMINAL_EUI}={password}\n"),
            0o600,
        ))
        // The terminals run on a faster clock: set only one never set (TRM-09).
        .args(["--read-every", "2", "--seed", "7", "--clock-sync", "unset"])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn rad01_trm06_terminal_and_smart_meter_processes_read_through_the_hub() {
    let _hub = hub(175);
    let mut cmd = smartmeter(175);
    cmd.args(["--readings", "2"]);
    let meter = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(90)));
    std::thread::sleep(Duration::from_millis(500));
    let data = data_dir("read");
    let terminal = terminal(175, PASSWORD, &data);
    let out = meter.join().expect("smart meter");
    let text = String::from_utf8_lossy(&out.stdout);
    let meter_log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{meter_log}");
    // TRM-10: a terminal without a meter side (the link alone) shows its status too.
    let status = iotroute()
        .args(["terminal", "status", "--json", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["led"]["state"], "connected", "{s}");
    assert_eq!(s["link"]["phase"], "connected", "{s}");
    assert!(s["meter_id"]["registered"].is_null(), "{s}");
    assert_eq!(s["last_readings"], serde_json::json!([]), "{s}");
    let terminal_log = terminal.terminate_and_collect().join("\n");
    // SEC-02: neither the link password nor the DLMS secret derived from it is logged.
    let dlms_secret = {
        let eui: Vec<u8> = (0..8)
            .map(|i| u8::from_str_radix(&TERMINAL_EUI[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        derived_dlms_password(&eui)
    };
    for log in [&*meter_log, &*terminal_log, &*text] {
        assert!(
            !log.contains(PASSWORD),
            "the link password was logged: {log}"
        );
        assert!(
            !log.contains(&dlms_secret),
            "the DLMS secret was logged: {log}"
        );
    }
    assert!(
        meter_log.contains("DEBUG"),
        "debug logging was on: {meter_log}"
    );
    let readings: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(readings.len(), 2, "{text}");
    for r in &readings {
        assert_eq!(r["terminal"], TERMINAL_EUI.to_uppercase());
        assert!(r["rows"].as_u64().is_some_and(|n| n > 0), "{r}");
        let wh: u64 = r["energy_in_wh"].as_str().unwrap().parse().unwrap();
        assert!(wh > 0, "{r}");
    }
}

#[test]
fn sec02_a_terminal_with_a_wrong_password_is_never_read() {
    let _hub = hub(176);
    // The smart meter first, so that the terminal's first scan finds it.
    let meter = Running::start(smartmeter(176), "listening");
    // With a meter side (its meter absent), so that the terminal keeps its event log.
    let data = data_dir("wrong");
    let mut cmd = iotroute();
    cmd.args(["terminal", "--air", "127.0.176.2:17754"])
        .args(["--device-id", "2", "--eui64", TERMINAL_EUI, "--seed", "8"])
        .args(["--meter", "127.0.176.3", "--echonet-bind", "127.0.176.4"])
        .arg("--data")
        .arg(&data)
        .env("IOTROUTE_LINK_PASSWORD", "WRONGPASSWRD");
    let terminal = Running::start(cmd, "listening");
    // Wait (generously) until the smart meter has refused it.
    let mut log = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log.contains("PANA authentication failed") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        for line in meter.drain() {
            log.push_str(&line);
            log.push('\n');
        }
    }
    assert!(log.contains("PANA authentication failed"), "{log}");
    assert!(
        log.contains("MAC_P mismatch"),
        "the reason is logged: {log}"
    );
    // SEC-09: the failed authentication reaches the terminal's event log (the refusal
    // arrives there a moment after the smart meter logged it).
    let failed = "\"kind\":\"link_auth_failed\"";
    let read_events = || std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !read_events().contains(failed) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let rest = meter.terminate_and_collect().join("\n");
    assert!(!format!("{log}{rest}").contains("joined"), "{log}{rest}");
    let tlog = terminal.terminate_and_collect().join("\n");
    assert!(!tlog.contains("joined smart meter"), "{tlog}");
    let events = read_events();
    assert!(events.contains(failed), "{events}");
}

/// `iotroute::link_app::dlms_password`, recomputed here (the binary's internals are not a
/// library): the 32 hex digits of SHA-256(label ‖ EUI-64 ‖ len ‖ password)[0..16].
fn derived_dlms_password(eui: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"iotroute DLMS LLS v1");
    h.update(eui);
    h.update(u16::try_from(PASSWORD.len()).unwrap().to_be_bytes());
    h.update(PASSWORD.as_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[test]
fn sec02_link_passwords_never_in_help() {
    for (cmd, env) in [
        ("terminal", "IOTROUTE_LINK_PASSWORD".to_owned()),
        (
            "smartmeter",
            format!("IOTROUTE_LINK_PASSWORD_{}", TERMINAL_EUI.to_uppercase()),
        ),
    ] {
        let out = iotroute()
            .args([cmd, "--help"])
            .env(&env, "hunter2-secret")
            .output()
            .expect("iotroute runs");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{help}");
        assert!(
            !help.contains("hunter2"),
            "{cmd} --help shows the password: {help}"
        );
        assert!(
            help.contains("IOTROUTE_LINK_PASSWORD"),
            "{cmd} --help names the variable: {help}"
        );
        assert!(help.contains("--secrets"), "{help}");
    }
}

#[test]
fn sec02_a_group_readable_link_secrets_file_is_refused() {
    let path = secrets_file(
        "open",
        &format!("terminal.{TERMINAL_EUI}=hunter2-secret\n"),
        0o640,
    );
    let out = iotroute()
        .args([
            "smartmeter",
            "--device-id",
            "1",
            "--eui64",
            "025a000000002001",
        ])
        .arg("--secrets")
        .arg(&path)
        .output()
        .expect("iotroute runs");
    assert_refused_for_mode_without_the_secret(&out);
    // The terminal refuses it too.
    let tpath = secrets_file("open-terminal", "password=hunter2-secret\n", 0o604);
    let out = iotroute()
        .args(["terminal", "--air", "127.0.0.1:17754"])
        .args(["--device-id", "2", "--eui64", TERMINAL_EUI])
        .arg("--data")
        .arg(data_dir("open-secrets"))
        .arg("--secrets")
        .arg(&tpath)
        .env_remove("IOTROUTE_LINK_PASSWORD")
        .output()
        .expect("iotroute runs");
    assert_refused_for_mode_without_the_secret(&out);
}

/// A secrets file readable by others stops the node (exit 1) with advice to `chmod 600`,
/// and the message never repeats the secret.
fn assert_refused_for_mode_without_the_secret(out: &std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn sys03_smartmeter_refuses_a_join_window_outside_300_to_1800_seconds() {
    for bad in ["200", "1801"] {
        let out = iotroute()
            .args([
                "smartmeter",
                "--device-id",
                "1",
                "--eui64",
                "025a000000002001",
                "--terminal",
                "021a000000001001",
                "--join-window",
                bad,
            ])
            .env("IOTROUTE_LINK_PASSWORD_021A000000001001", "0123456789AB")
            .output()
            .expect("iotroute runs");
        assert_eq!(out.status.code(), Some(1), "--join-window {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("300-1800"), "{err}");
    }
}

#[test]
fn sec03_a_killed_terminal_restarts_above_its_frame_counters_and_is_read_at_once() {
    let pcap = data_dir("restart").with_extension("pcap");
    let hub = {
        let mut cmd = iotroute();
        cmd.args(["air", "--bind", "127.0.177.2", "--pcap"])
            .arg(&pcap);
        Running::start(cmd, "listening")
    };
    let mut cmd = smartmeter(177);
    cmd.args(["--readings", "6"]);
    let meter = std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(120)));
    std::thread::sleep(Duration::from_millis(500));
    let data = data_dir("restart");
    let first = terminal(177, PASSWORD, &data);
    // Joined and read a couple of times (every 2 s), then killed outright (SIGKILL).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    while !log.contains("joined smart meter") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        log.extend(first.drain().into_iter().map(|l| l + "\n"));
    }
    assert!(log.contains("joined smart meter"), "{log}");
    std::thread::sleep(Duration::from_secs(5));
    drop(first);
    let kept = std::fs::read_to_string(data.join("link-counters.json")).expect("counters kept");
    assert!(kept.contains("\"keys\""), "{kept}");
    // Started again on the same data: it joins again and the readings go on.
    let second = terminal(177, PASSWORD, &data);
    let out = meter.join().expect("smart meter");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 6, "{text}");
    drop(second);
    drop(hub);
    // On the air, across the kill: no (source, key, counter) on two different frames.
    let audit = audit(&pcap);
    assert!(audit.secured > 10, "{audit:?}");
    assert_eq!(audit.reused(), &[]);
    assert_eq!(audit.imm_acks_to_2015, 0);
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_dir_all(&data);
}

/// TRM-10: a whole terminal (meter side and link) shows on its LED and in `terminal
/// status` that it is connected to the smart meter, with the smart meter, the channel,
/// the RSSI and the group key it sends with.
#[test]
fn trm10_a_joined_terminal_shows_connected_with_its_smart_meter() {
    let block = 183;
    let _hub = hub(block);
    let _meter = Running::start(smartmeter(block), "listening");
    let data = data_dir("status");
    let mut cmd = iotroute();
    cmd.args(["terminal", "--air", &format!("127.0.{block}.2:17754")])
        .args(["--device-id", "2", "--eui64", TERMINAL_EUI])
        .args(["--meter", &format!("127.0.{block}.3")])
        .args(["--echonet-bind", &format!("127.0.{block}.4")])
        .args(["--maintenance", &format!("127.0.{block}.4:4059")])
        .arg("--data")
        .arg(&data)
        .env("IOTROUTE_LINK_PASSWORD", PASSWORD);
    let terminal = Running::start(cmd, "maintenance interface listening");
    let status = || support::terminal_status(&data);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut s = status();
    while s["link"]["phase"] != "connected" && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        s = status();
    }
    assert_eq!(s["link"]["phase"], "connected", "{s}");
    assert_eq!(s["led"]["state"], "connected", "{s}");
    assert_eq!(
        s["link"]["smart_meter"].as_str().map(str::to_lowercase),
        Some("025a000000002001".to_owned()),
        "{s}"
    );
    assert!(
        s["link"]["channel"].is_u64() && s["link"]["rssi_dbm"].is_i64(),
        "{s}"
    );
    assert!(s["link"]["key_id"].is_u64(), "{s}");
    assert_eq!(s["link"]["auth_failures"], 0);
    // TRM-08: the handy terminal sets a new Pairing ID; the link takes it for its next
    // scan and stays up meanwhile.
    let mut set = iotroute();
    set.args(["dlms", "set", "--host", &format!("127.0.{block}.4")])
        .args(["--bind", &format!("127.0.{block}.5"), "--timeout", "2"])
        .args(["--client", "32", "--auth", "low"])
        .args(["1/0-0:128.0.1.255", "IOT00777"])
        .env("IOTROUTE_DLMS_PASSWORD", PASSWORD);
    let out = run_with_timeout(set, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while !log.contains("new Pairing ID") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        for line in terminal.drain() {
            log.push_str(&line);
            log.push('\n');
        }
    }
    assert!(
        log.contains("new Pairing ID: used from the next scan"),
        "{log}"
    );
    assert_eq!(status()["link"]["phase"], "connected");
    drop(terminal);
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    assert!(events.contains("\"kind\":\"led\""), "{events}");
}

/// TRM-05 and SEC-07 over the IoT route: a terminal reading its meter (`iotroute meter`,
/// 600×) pushes each slot to the smart meter it joined, which prints the push; the values
/// are the ones the terminal stored for that slot. Registered with another meter's ID,
/// it also pushes one meter-ID event with both IDs. The smart meter starts after the first
/// slots: pushes made before the terminal joined wait for the link, the event too.
#[test]
fn trm05_sec07_the_terminal_pushes_each_slot_and_a_meter_id_change_to_its_smart_meter() {
    let block = 193;
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let data = data_dir("pushes");
    let mut t = terminal_with_meter(block, &data);
    t.args(["--meter-id", "0102"]);
    let terminal = Running::start(t, "listening");
    // Two slots (3 s each at 600×) before there is a smart meter to join.
    std::thread::sleep(Duration::from_secs(7));
    let mut cmd = smartmeter(block);
    cmd.args(["--pushes", "3"]);
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    terminal.terminate();
    let lines = json_lines(&text);
    let pushes: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v.get("push").is_some() && v.get("event").is_none())
        .collect();
    assert_eq!(pushes.len(), 3, "{text}");
    let events: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v.get("event").is_some()).collect();
    assert_eq!(events.len(), 1, "one event per change: {text}");
    assert_eq!(events[0]["event"], "meter_id_changed", "{text}");
    assert_eq!(events[0]["details"][0], "@0102", "{text}");
    let store = store::SqliteStore::open(&data.join("readings.sqlite")).unwrap();
    let from = chrono::DateTime::from_timestamp(0, 0).unwrap();
    let to = chrono::DateTime::from_timestamp(i64::from(u32::MAX), 0).unwrap();
    let rows = nodes::terminal::store::ReadingStore::range(
        &store,
        nodes::terminal::meters::SERVED,
        from,
        to,
    )
    .unwrap();
    for p in &pushes {
        let at = chrono::DateTime::parse_from_rfc3339(p["captured_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        // The slot the push is for: the newest stored at or before its capture.
        let row = rows
            .iter()
            .rev()
            .find(|r| r.slot <= at)
            .unwrap_or_else(|| panic!("no row before {at}: {p}"));
        let stored = row.ac_in.map(|v| v.digits().to_string());
        assert_eq!(p["energy_in_wh"].as_str().map(str::to_owned), stored, "{p}");
        assert!(at - row.slot < chrono::Duration::minutes(30), "{p}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// SEC-08, radio side: another device on the terminal's channel floods it with
/// malformed frames. The terminal's link detects it, its node writes `dos_detected`
/// (side `radio`) to the event log, counts it in `terminal status` and pushes the event
/// to the smart meter, while the readings go on being pushed.
#[test]
fn sec08_a_radio_flood_is_logged_counted_and_pushed_and_the_pushes_go_on() {
    let block = 196;
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let data = data_dir("radio-flood");
    let t = terminal_with_meter(block, &data);
    let terminal = Running::start(t, "listening");
    // Once the terminal has joined (on the smart meter's channel 33): 3 s of 100
    // malformed frames a second from ZEP device 9 (over the refused-frame limit of 20).
    let hub_addr: std::net::SocketAddr = format!("127.0.{block}.2:17754").parse().unwrap();
    let watched = data.clone();
    let flooder = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let s = support::terminal_status(&watched);
            if s["link"]["phase"] == "connected" {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let socket = std::net::UdpSocket::bind(format!("127.0.{block}.9:0")).unwrap();
        let psdu = [
            0x41u8, 0x98, 0x00, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88, 0x77,
        ];
        let mut buf = [0u8; 128];
        for sequence in 0..300u32 {
            let repr = sim::zep::DataRepr::to_hub(9, 33, sequence, &psdu);
            let n = repr.emit(&mut buf).unwrap();
            socket.send_to(&buf[..n], hub_addr).unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mut cmd = smartmeter(block);
    // The pushes held while no smart meter was there, then some 20 s of new ones.
    cmd.args(["--pushes", "12"]);
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    flooder.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&text);
    let floods: Vec<_> = lines
        .iter()
        .filter(|v| v["event"] == "flood_detected")
        .collect();
    assert_eq!(
        floods.len(),
        1,
        "one alarm per source per 60 s: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The source (an octet string, printed as hex) and the frames counted.
    let unparsable: String = b"unparsable".iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(floods[0]["details"][0], format!("@{unparsable}"), "{text}");
    assert!(floods[0]["details"][1].as_u64() > Some(20), "{text}");
    let s = support::terminal_status(&data);
    assert_eq!(s["counters"]["dos_events"], 1, "{s}");
    terminal.terminate();
    let events = std::fs::read_to_string(data.join("logs/event.jsonl")).unwrap();
    let alarms: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "dos_detected")
        .collect();
    assert_eq!(alarms.len(), 1, "{events}");
    assert_eq!(alarms[0]["details"]["side"], "radio", "{events}");
    assert_eq!(alarms[0]["details"]["source"], "unparsable", "{events}");
    let _ = std::fs::remove_dir_all(&data);
}

/// TRM-08: a password the handy terminal changed is the one the terminal uses on the IoT
/// route after a restart (kept in `DIR`, it wins over the command line's), for PANA and
/// for the smart meter's DLMS association (whose secret it derives): a smart meter that
/// registers the new password reads the terminal.
#[test]
fn trm08_a_password_changed_by_the_handy_terminal_is_used_on_the_iot_route_after_a_restart() {
    let block = 197;
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let data = data_dir("new-password");
    let maintenance = format!("127.0.{block}.5:4059");
    let start_terminal = || terminal_with_maintenance(block, &data, &maintenance);
    let terminal = start_terminal();
    let out = iotroute()
        .args([
            "handy",
            "--target",
            &maintenance,
            "password",
            "NEWPASSWORD1",
        ])
        .env("IOTROUTE_DLMS_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    terminal.terminate();
    // Started again with the old password on its command line.
    let terminal = start_terminal();
    let mut cmd = smartmeter_registering(block, "NEWPASSWORD1");
    cmd.args(["--readings", "1"]);
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    let log = terminal.terminate_and_collect().join("\n");
    assert!(
        out.status.success(),
        "{}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// SEC-10 through the smart meter: the user business's signed image, carried by
/// `iotroute smartmeter --firmware` over the IoT route through the terminal's image
/// transfer on the management association. The terminal verifies it with its own key,
/// installs it, runs it from its slot and comes back on the link with the new version,
/// and the smart meter reads it again. An image signed by another key is refused at
/// verification.
#[test]
fn sec10_the_smart_meter_carries_a_signed_image_and_the_terminal_runs_it() {
    let block = 195;
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let data = data_dir("firmware");
    let keys = data_dir("firmware-keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = keys.join("vendor.key");
    support::firmware(&["keygen", "--out"], &[&key]);
    let mut t = terminal_with_meter(block, &data);
    t.arg("--firmware-key").arg(keys.join("vendor.key.pub"));
    let terminal = Running::start(t, "listening");
    // A good image: a program that is the terminal (it re-executes the real one).
    let program = env!("CARGO_BIN_EXE_iotroute");
    let good = support::signed_image(
        &keys,
        &key,
        "2",
        &format!("#!/bin/sh\nexec {program} \"$@\"\n"),
    );
    let mut cmd = smartmeter(block);
    cmd.arg("--firmware").arg(&good).args(["--readings", "1"]);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&text);
    let carried = lines
        .iter()
        .find(|l| l.get("firmware").is_some())
        .unwrap_or_else(|| panic!("no firmware line: {text}"));
    if carried["firmware"] != "activated" {
        let log = terminal.terminate_and_collect().join("\n");
        panic!("{text}\n{log}");
    }
    assert_eq!(carried["identifier"], "iotroute-terminal-2", "{text}");
    // The reading came after the image, from the terminal running it.
    let reading = lines
        .iter()
        .position(|l| l.get("rows").is_some())
        .expect("a reading");
    let pushed = lines
        .iter()
        .position(|l| l.get("firmware").is_some())
        .unwrap();
    assert!(pushed < reading, "{text}");
    // The new program confirms itself (SEC-10: within 60 s) and reports its version.
    let deadline = std::time::Instant::now() + Duration::from_secs(70);
    let s = loop {
        let s = support::terminal_status(&data);
        if s["firmware"]["version"] == 2 || std::time::Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(s["firmware"]["version"], 2, "{s}");
    assert_eq!(s["firmware"]["slot"], "a", "{s}");
    // SEC-09: the smart meter's requests are in the access log file, the image's blocks
    // counted (3) and told with the verification that followed them.
    let access = std::fs::read_to_string(data.join("logs/access.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = access
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let over_the_route = |kind: &str| {
        records
            .iter()
            .filter(|r| r["kind"] == kind && r["details"]["interface"] == "iot_route")
            .count()
    };
    assert!(over_the_route("association") >= 2, "{access}");
    let verify = records
        .iter()
        .find(|r| r["details"]["image_blocks_before"] == 3)
        .unwrap_or_else(|| panic!("no image blocks counted: {access}"));
    assert_eq!(verify["details"]["interface"], "iot_route", "{verify}");
    assert_eq!(verify["details"]["client"], 1, "{verify}");

    // Another vendor's image: refused at verification, nothing installed.
    let other = keys.join("other.key");
    support::firmware(&["keygen", "--out"], &[&other]);
    let forged = support::signed_image(&keys, &other, "3", "#!/bin/sh\nexit 1\n");
    let mut cmd = smartmeter(block);
    cmd.arg("--firmware").arg(&forged).args(["--readings", "1"]);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\"firmware\":\"refused\"") && text.contains("image_verify"),
        "{text}"
    );
    terminal.terminate();
    // Both interfaces' records in one chain, intact.
    support::logs_verify(&data.join("logs/access.jsonl"));
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&keys);
}

/// The system as processes (SYS-01): the meter, the terminal, the smart meter relaying to
/// the head end over the A route (TCP), and the head end feeding the MDMS in its
/// database — five programs on loopback. Slots the terminal read reach the MDMS, and
/// after a kill -9 of the head end and its restart every slot is there once, in order:
/// read, or — what was in flight to the dead head end — estimated until the head end's
/// backfill, which waits 15 real minutes (the terminal's clock runs at 600×; the
/// simulator shows that backfill: `sim::sys01_a_head_end_killed_and_restarted_*`).
#[test]
fn sys01_meter_terminal_smart_meter_and_head_end_as_processes_fill_the_mdms() {
    let block = 203;
    let files = head_end_files(block, "system");
    let db = &files.db;
    let start_hes = || Running::start(files.serve(), "head end listening");
    let hes = start_hes();
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let data = data_dir("system-terminal");
    let terminal = Running::start(terminal_with_meter(block, &data), "listening");
    let sm_data = data_dir("system-sm");
    std::fs::create_dir_all(&sm_data).unwrap();
    let sm = smartmeter_relaying(block, &files, &sm_data);
    // A slot every 3 s at 600×: wait for `n` slots of the point in the MDMS.
    let slots_when = |n: usize| mdms_slots(db, n);
    let before = slots_when(2);
    // The head end killed outright (SIGKILL) for a couple of slots, then started again
    // on its database: the smart meter connects again, and every slot of the point is
    // in the MDMS once, one after the other.
    drop(hes);
    std::thread::sleep(Duration::from_secs(4));
    let hes = start_hes();
    let slots = slots_when(before.len() + 3);
    let sm_lines = sm.terminate_and_collect();
    let hes_lines = hes.terminate_and_collect();
    terminal.terminate();
    assert!(
        before.len() >= 2 && slots.len() >= before.len() + 3,
        "{slots:?}\nsmart meter:\n{}\nhead end:\n{}",
        sm_lines.join("\n"),
        hes_lines.join("\n")
    );
    assert!(slots
        .iter()
        .all(|s| s["supply_point"] == "0900000000000000100001"));
    let starts: Vec<chrono::DateTime<chrono::FixedOffset>> = slots
        .iter()
        .map(|s| chrono::DateTime::parse_from_rfc3339(s["slot_start"].as_str().unwrap()).unwrap())
        .collect();
    assert!(
        starts
            .windows(2)
            .all(|w| w[1] - w[0] == chrono::TimeDelta::minutes(30)),
        "every slot once, none missing: {starts:?}"
    );
    assert!(
        slots[..before.len()]
            .iter()
            .chain(slots.last())
            .all(|s| s["quality"] == "measured"),
        "{slots:?}"
    );
    assert!(
        !hes_lines.iter().any(|l| l.contains("refused")),
        "the restarted head end takes the smart meter's frames: {hes_lines:?}"
    );
    assert!(
        sm_data.join("a-route.json").exists(),
        "the relay's counters are kept"
    );
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&files.dir);
}

/// The MDMS's slots in `db` (`mdms export`) once there are `n` of them and none is an
/// estimate (a gap's slots are estimated until its backfill brings the real readings:
/// on a loaded machine a later push can arrive first), or what there is after 60 s.
fn mdms_slots(db: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = iotroute()
            .args(["mdms", "export", "--format", "json", "--db"])
            .arg(db)
            .output()
            .unwrap();
        let slots: Vec<serde_json::Value> =
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
        let settled = slots.iter().all(|s| s["quality"] != "estimated");
        if (slots.len() >= n && settled) || std::time::Instant::now() > deadline {
            break slots;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The terminal's point in the registries of the head-end tests.
const POINT: &str = "0900000000000000100001";

/// A head end's files: a fresh database with the terminal's point registered, its smart
/// meter's A-route keys and the terminal's DLMS secret derived from [`PASSWORD`]; it
/// listens at `.5` of its block.
struct HeadEndFiles {
    dir: PathBuf,
    db: PathBuf,
    keys: PathBuf,
    secrets: PathBuf,
    listen: String,
}

fn head_end_files(block: u8, name: &str) -> HeadEndFiles {
    let dir = data_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("system.db");
    std::fs::write(
        dir.join("points.csv"),
        format!(
            "supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer\n\
             {POINT},021A000000001001,IOT00901,025A000000002001,,30,A0019\n"
        ),
    )
    .unwrap();
    support::headend_registry_import(&db, &dir.join("points.csv"));
    let keys = secrets_file(
        &format!("a-route.keys-{block}"),
        "025A000000002001 000102030405060708090A0B0C0D0E0F D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\n",
        0o600,
    );
    let secrets = secrets_file(
        &format!("terminal.secrets-{block}"),
        &format!(
            "{TERMINAL_EUI} {}\n",
            derived_dlms_password(&dlms::hex::decode(TERMINAL_EUI).unwrap())
        ),
        0o600,
    );
    HeadEndFiles {
        dir,
        db,
        keys,
        secrets,
        listen: format!("127.0.{block}.5:4059"),
    }
}

impl HeadEndFiles {
    /// `headend serve --poll 1` on them (to start).
    fn serve(&self) -> Command {
        let mut hes = iotroute();
        hes.args([
            "headend",
            "serve",
            "--poll",
            "1",
            "--listen",
            &self.listen,
            "--db",
        ])
        .arg(&self.db)
        .arg("--smartmeter-keys")
        .arg(&self.keys)
        .arg("--terminal-secrets")
        .arg(&self.secrets);
        hes
    }
}

/// A running head end on its files ([`head_end_files`]), `RUST_LOG=debug`.
struct HeadEndRunning {
    files: HeadEndFiles,
    process: Running,
}

fn head_end(block: u8, name: &str) -> HeadEndRunning {
    let files = head_end_files(block, name);
    let mut hes = files.serve();
    hes.env("RUST_LOG", "debug");
    let process = Running::start(hes, "head end listening");
    HeadEndRunning { files, process }
}

/// A smart meter relaying to the head end of `head_end`, keeping its state in `data` (its
/// `--secrets` registering the terminal with [`PASSWORD`]).
fn smartmeter_relaying(block: u8, head_end: &HeadEndFiles, data: &Path) -> Running {
    let mut sm = smartmeter(block);
    sm.args(["--headend", &head_end.listen, "--headend-key"])
        .arg(&head_end.keys)
        .arg("--data")
        .arg(data);
    Running::start(sm, "listening")
}

/// A terminal with [`PASSWORD`] on the command line and a data directory of its own
/// (device 3, no meter): what a terminal still on the old password looks like.
fn terminal_on_the_old_password(block: u8, name: &str) -> (Running, PathBuf) {
    let stale = data_dir(name);
    let mut old = iotroute();
    old.args(["terminal", "--air", &format!("127.0.{block}.2:17754")])
        .args(["--device-id", "3", "--eui64", TERMINAL_EUI])
        .arg("--data")
        .arg(&stale)
        .env("IOTROUTE_LINK_PASSWORD", PASSWORD);
    (Running::start(old, "listening"), stale)
}

/// TRM-08: the smart meter started again on `sm_data`, its `--secrets` still giving the
/// old [`PASSWORD`], refuses a terminal on the old password and admits the terminal
/// `start_terminal` starts, on the new one it kept in `DIR/terminal-passwords.json`. Its
/// log lines, for the caller to look for secrets in.
fn restarted_admits_the_new_password_only(
    block: u8,
    head_end: &HeadEndFiles,
    sm_data: &Path,
    start_terminal: impl Fn() -> Running,
    stale_name: &str,
) -> String {
    let sm = smartmeter_relaying(block, head_end, sm_data);
    let (old, stale) = terminal_on_the_old_password(block, stale_name);
    let mut sm_log = refuses_the_terminal(&sm, "the old password is refused after the restart");
    old.terminate();
    let _ = std::fs::remove_dir_all(&stale);
    let terminal = start_terminal();
    let log = lines_until(&sm, &["joined"], Duration::from_secs(60));
    sm_log.push_str(&log);
    sm_log.push_str(&sm.terminate_and_collect().join("\n"));
    terminal.terminate();
    assert!(
        log.contains("joined"),
        "the new password is taken after the restart:\n{log}"
    );
    sm_log
}

/// Lines of smart meter `sm` until it refused a PANA authentication (TRM-08: a terminal on
/// a password it does not take), which must come before it admits the terminal: all of
/// them. `why` the refusal means.
fn refuses_the_terminal(sm: &Running, why: &str) -> String {
    let log = lines_until(
        sm,
        &["PANA authentication failed", "joined"],
        Duration::from_secs(60),
    );
    assert!(
        log.contains("PANA authentication failed") && !log.contains("joined"),
        "{why}:\n{log}"
    );
    log
}

/// Lines of `running` until one contains one of `wanted` (or `limit` passes): all of them.
fn lines_until(running: &Running, wanted: &[&str], limit: Duration) -> String {
    let mut log = String::new();
    let deadline = std::time::Instant::now() + limit;
    while !wanted.iter().any(|w| log.contains(w)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        for line in running.drain() {
            log.push_str(&line);
            log.push('\n');
        }
    }
    log
}

/// TRM-08 with SEC-02, issue 12: the head end's `set-password`, carried out by an
/// `iotroute smartmeter --headend --data DIR` process, outlives a restart of that process:
/// started again with its `--secrets` file still naming the old password, it admits the
/// terminal with the new one (which the terminal kept in its own `DIR`) and refuses the
/// old one — its `DIR/terminal-passwords.json` wins over the stale file. The new password
/// is in none of the smart meter's log lines (`RUST_LOG=debug`).
#[test]
fn trm08_sec02_a_smart_meter_restarted_after_a_done_set_password_admits_the_new_password_only() {
    const NEW: &str = "NEWPASSWORD-204";
    let block = 204;
    let he = head_end(block, "restart-password");
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let sm_data = data_dir("restart-password-sm");
    std::fs::create_dir_all(&sm_data).unwrap();
    let sm = smartmeter_relaying(block, &he.files, &sm_data);
    let data = data_dir("restart-password-terminal");
    let terminal = Running::start(terminal_with_meter(block, &data), "listening");
    let log = lines_until(&sm, &["joined"], Duration::from_secs(60));
    assert!(log.contains("joined"), "{log}");

    let recorded = iotroute()
        .args(["headend", "set-password", "--db"])
        .arg(&he.files.db)
        .args([POINT, "--by", "operator"])
        .env("IOTROUTE_NEW_PASSWORD", NEW)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(recorded.status.success(), "{recorded:?}");
    let list = support::headend_commands_ended(&he.files.db, Duration::from_secs(60));
    let mut sm_log = sm.terminate_and_collect().join("\n");
    assert_eq!(list[0]["outcome"], "done", "{list:?}\n{sm_log}");
    terminal.terminate();

    // Started again on the same files: the old password is refused, the new one taken.
    sm_log.push_str(&restarted_admits_the_new_password_only(
        block,
        &he.files,
        &sm_data,
        || Running::start(terminal_with_meter(block, &data), "listening"),
        "restart-password-stale",
    ));
    drop(he.process);
    let hex_new = dlms::hex::encode(NEW.as_bytes());
    assert!(
        !sm_log.contains(NEW) && !sm_log.contains(&hex_new),
        "the new password was logged:\n{sm_log}"
    );
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&sm_data);
    let _ = std::fs::remove_dir_all(&he.files.dir);
}

/// TRM-08 with SEC-02, issue 12: a password changed with the handy terminal (`iotroute
/// handy password`) reaches the smart meter through the head end. The terminal, on its
/// new password, is refused by a smart meter started since, which registered the old one
/// (`--secrets`) and never saw the terminal authenticate — until `headend terminal-secret`
/// records the password: the running head end sends it (A route method 9), the smart
/// meter takes it without a session with the terminal and answers done, the terminal
/// joins and its readings reach the MDMS. The smart meter kept it in
/// `DIR/terminal-passwords.json`: started again on its old `--secrets`, it refuses the old
/// password and admits the new one. The password is in none of the smart meter's or the
/// head end's log lines (`RUST_LOG=debug`).
#[test]
fn trm08_sec02_a_password_changed_by_the_handy_terminal_and_told_by_terminal_secret_reaches_the_mdms(
) {
    const NEW: &str = "HANDYPASS-205";
    let block = 205;
    let he = head_end(block, "terminal-secret");
    let _hub = hub(block);
    let _meter = support::start_meter(support::addr(block, 3), &["--speed", "600"]);
    let data = data_dir("terminal-secret-terminal");
    let maintenance = format!("127.0.{block}.6:4059");
    let start_terminal = || terminal_with_maintenance(block, &data, &maintenance);
    let terminal = start_terminal();
    // The new password on the handy terminal's stdin, not its command line.
    let mut handy = iotroute()
        .args(["handy", "--target", &maintenance, "password"])
        .env("IOTROUTE_DLMS_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = handy.stdin.take().unwrap();
        stdin.write_all(format!("{NEW}\n").as_bytes()).unwrap();
    }
    let out = handy.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let sm_data = data_dir("terminal-secret-sm");
    std::fs::create_dir_all(&sm_data).unwrap();
    let sm = smartmeter_relaying(block, &he.files, &sm_data);
    let mut sm_log =
        refuses_the_terminal(&sm, "the smart meter does not know the new password yet");

    let recorded = iotroute()
        .args(["headend", "terminal-secret", "--db"])
        .arg(&he.files.db)
        .args([POINT, "--by", "operator"])
        .env("IOTROUTE_NEW_PASSWORD", NEW)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(recorded.status.success(), "{recorded:?}");
    let list = support::headend_commands_ended(&he.files.db, Duration::from_secs(60));
    let log = lines_until(&sm, &["joined"], Duration::from_secs(90));
    sm_log.push_str(&log);
    assert_eq!(
        (&list[0]["kind"], &list[0]["outcome"]),
        (&"terminal-secret".into(), &"done".into()),
        "{list:?}\n{sm_log}"
    );
    assert!(
        log.contains("joined"),
        "the new password is taken:\n{sm_log}"
    );
    let slots = mdms_slots(&he.files.db, 1);
    assert!(
        !slots.is_empty() && slots.iter().all(|s| s["supply_point"] == POINT),
        "the terminal's readings reach the MDMS: {slots:?}\n{sm_log}"
    );
    sm_log.push_str(&sm.terminate_and_collect().join("\n"));
    terminal.terminate();

    sm_log.push_str(&restarted_admits_the_new_password_only(
        block,
        &he.files,
        &sm_data,
        start_terminal,
        "terminal-secret-stale",
    ));
    let hes_log = he.process.terminate_and_collect().join("\n");
    let hex_new = dlms::hex::encode(NEW.as_bytes());
    for (who, log) in [
        ("smart meter", &sm_log),
        ("head end", &hes_log),
        ("headend terminal-secret", &format!("{recorded:?}")),
    ] {
        assert!(
            !log.contains(NEW) && !log.contains(&hex_new),
            "the password in the {who}'s log:\n{log}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&sm_data);
    let _ = std::fs::remove_dir_all(&he.files.dir);
}
