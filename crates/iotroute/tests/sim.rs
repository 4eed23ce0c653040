//! `iotroute sim` end to end: the whole system in virtual time, and (`--loopback`) the
//! meter and terminal-side controller over loopback UDP.

mod support;

use std::time::Duration;

use support::{iotroute, run_with_timeout};

#[test]
fn trm03_sim_reads_every_half_hour_and_deltas_survive_the_counter_wrap() {
    let report = std::env::temp_dir().join(format!("iotroute-sim-{}.json", std::process::id()));
    let mut cmd = iotroute();
    cmd.args([
        "sim",
        "--loopback",
        "--readings",
        "4",
        "--speed",
        "3600",
        "--meter",
        "127.0.104.2",
        "--terminal",
        "127.0.104.3",
        "--profile",
        "constant:1800:3600",
        // 999,998,600 + 4 slots of 900 counts passes 999,999,999: the 9-digit counter
        // wraps to 0 and the 8 digits kept (TRM-03) wrap too.
        "--start-in",
        "999998600",
        "--report-json",
    ])
    .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sim failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("not built yet"),
        "sim must say what is missing:\n{stdout}"
    );
    let text = std::fs::read(&report).expect("report written");
    let _ = std::fs::remove_file(&report);
    let v: serde_json::Value = serde_json::from_slice(&text).expect("report is JSON");
    assert!(
        v["clock_set"]
            .as_str()
            .is_some_and(|s| s.starts_with("DateAndTime")),
        "{}",
        v["clock_set"]
    );
    let readings = v["readings"].as_array().expect("readings");
    assert_eq!(readings.len(), 4);
    assert!(v["failures"].as_array().is_some_and(|f| f.is_empty()));
    let mut wrapped = false;
    for r in readings {
        let slot = r["slot"].as_str().expect("slot");
        assert!(
            slot.ends_with(":00:00+09:00") || slot.ends_with(":30:00+09:00"),
            "{slot}"
        );
        assert_eq!(
            r["digits_in"].as_u64(),
            r["counter_in"].as_u64().map(|c| c % 100_000_000)
        );
        wrapped |= r["counter_in"].as_u64().is_some_and(|c| c < 999_000_000);
        // 1.8 kW in, 3.6 kW out for 30 minutes: 0.9 and 1.8 kWh, give or take the
        // few simulated seconds a loopback round trip costs at this speed.
        if let Some(d) = r["delta_input_kwh"].as_str() {
            let d: f64 = d.parse().expect("decimal kWh");
            assert!((d - 0.9).abs() < 0.03, "delta in {d}");
        }
        if let Some(d) = r["delta_output_kwh"].as_str() {
            let d: f64 = d.parse().expect("decimal kWh");
            assert!((d - 1.8).abs() < 0.06, "delta out {d}");
        }
    }
    assert!(
        wrapped,
        "the input counter should have wrapped: {readings:?}"
    );
}

/// `iotroute sim` without flags (the README's main job, shortened here by --hours):
/// each terminal's meter → ECHONET → store → DLMS → CCM* link → smart meter, and the
/// report shows, per terminal and slot, the meter's count against what the smart meter
/// received.
#[test]
fn sys01_sim_without_flags_carries_every_reading_from_the_meter_to_the_smart_meter() {
    let report = std::env::temp_dir().join(format!("iotroute-sim-sys-{}.json", std::process::id()));
    let mut cmd = iotroute();
    cmd.args(["sim", "--hours", "3", "--report-json"])
        .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sim failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("not part of this run yet"), "{stdout}");
    assert!(stdout.contains("(equal)"), "{stdout}");
    let text = std::fs::read(&report).expect("report written");
    let _ = std::fs::remove_file(&report);
    let v: serde_json::Value = serde_json::from_slice(&text).expect("report is JSON");
    assert_eq!(v["ok"], true);
    assert_eq!(v["terminal_count"], 4);
    let terminals = v["terminals"].as_array().expect("terminals");
    assert_eq!(terminals.len(), 4);
    for t in terminals {
        let slots = t["slots"].as_array().expect("slots");
        // 00:30 .. 03:00 JST.
        assert_eq!(slots.len(), 6, "{t}");
        for s in slots {
            assert_eq!(s["equal"], true, "{s}");
            assert!(s["meter_in_wh"].as_u64().is_some(), "{s}");
            assert_eq!(s["meter_in_wh"], s["received_in_wh"], "{s}");
            assert_eq!(s["meter_out_wh"], s["received_out_wh"], "{s}");
        }
        // The household's meter counted something in three hours.
        let first = slots[0]["meter_in_wh"].as_u64().unwrap_or(0);
        let last = slots[5]["meter_in_wh"].as_u64().unwrap_or(0);
        assert!(last > first, "{t}");
    }
    assert_eq!(v["readings"]["scheduled"], 24);
    assert_eq!(v["readings"]["arrived"], 24);
    // TRM-05: every push the terminals made arrived, each equal to the meter's count.
    assert_eq!(v["pushes"]["made"], 24, "{}", v["pushes"]);
    assert_eq!(v["pushes"]["equal"], 24, "{}", v["pushes"]);
    // TRM-09: the terminals' clocks start unset; each smart meter sets its terminals'
    // in the first reading session (one each), so the 00:30 row, read before, says its
    // clock was invalid (status bit 1) and the later ones do not.
    assert_eq!(v["sessions"]["clock_sets"], 4, "{}", v["sessions"]);
    for t in terminals {
        let slots = t["slots"].as_array().unwrap();
        let flagged = |s: &serde_json::Value| s["received_status"].as_u64().unwrap() & 0x02 != 0;
        assert!(flagged(&slots[0]), "{t}");
        assert!(slots[1..].iter().all(|s| !flagged(s)), "{t}");
    }
}
