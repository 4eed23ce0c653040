//! `iotroute sim` end to end: meter and terminal-side controller over loopback UDP.

mod support;

use std::time::Duration;

use support::{iotroute, run_with_timeout};

#[test]
fn trm03_sim_reads_every_half_hour_and_deltas_survive_the_counter_wrap() {
    let report = std::env::temp_dir().join(format!("iotroute-sim-{}.json", std::process::id()));
    let mut cmd = iotroute();
    cmd.args([
        "sim",
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
