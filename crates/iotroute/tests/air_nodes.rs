//! The terminal and the smart meter as separate processes on the `iotroute air` hub
//! (issue 6, "so nodes can run as separate processes"): three programs, ZEP v2 over UDP
//! on loopback, the terminal scanning, joining with PANA + EAP-PSK, and the smart meter
//! reading its DLMS/COSEM model through the CCM*-secured link (RAD-01, CON-01, SEC-02,
//! SEC-03, TRM-06); a wrong password gets no reading.
//!
//! Addresses: block 127.0.175.0/24 (hub on `.2`), 127.0.176.0/24.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{iotroute, run_with_timeout, Running};

const TERMINAL_EUI: &str = "021a000000001001";

fn hub(block: u8) -> Running {
    let mut cmd = iotroute();
    cmd.args(["air", "--bind", &format!("127.0.{block}.2")]);
    Running::start(cmd, "listening")
}

fn terminal(block: u8, password: &str) -> Running {
    let mut cmd = iotroute();
    cmd.args(["terminal", "--air", &format!("127.0.{block}.2:17754")])
        .args([
            "--device-id",
            "2",
            "--eui64",
            TERMINAL_EUI,
            "--password",
            password,
        ])
        .args(["--seed", "8"]);
    Running::start(cmd, "listening")
}

fn smartmeter(block: u8) -> Command {
    let mut cmd = iotroute();
    cmd.args(["smartmeter", "--air", &format!("127.0.{block}.2:17754")])
        .args(["--device-id", "1", "--eui64", "025a000000002001"])
        .args(["--terminal", &format!("{TERMINAL_EUI}=IOTPASS00001")])
        .args(["--read-every", "2", "--seed", "7"])
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
    let _terminal = terminal(175, "IOTPASS00001");
    let out = meter.join().expect("smart meter");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
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
    let terminal = terminal(176, "WRONGPASSWRD");
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
    let rest = meter.terminate_and_collect().join("\n");
    assert!(!format!("{log}{rest}").contains("joined"), "{log}{rest}");
    let tlog = terminal.terminate_and_collect().join("\n");
    assert!(!tlog.contains("joined smart meter"), "{tlog}");
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
                "021a000000001001=0123456789AB",
                "--join-window",
                bad,
            ])
            .output()
            .expect("iotroute runs");
        assert_eq!(out.status.code(), Some(1), "--join-window {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("300-1800"), "{err}");
    }
}
