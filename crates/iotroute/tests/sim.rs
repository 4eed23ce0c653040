//! `iotroute sim` end to end: the whole system in virtual time, and (`--loopback`) the
//! meter and terminal-side controller over loopback UDP.

mod support;

use std::time::Duration;

use support::{iotroute, run_with_timeout};

/// `iotroute sim` on the small system these tests check exactly: 4 terminals, 2 smart
/// meters (the default run is a hundred terminals, with faults unless a fault flag is
/// given).
fn small_sim() -> std::process::Command {
    let mut cmd = iotroute();
    cmd.args(["sim", "--terminals", "4", "--smartmeters", "2"]);
    cmd
}

/// An empty directory of its own for test `name`'s files.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("iotroute-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The report `y` says no slot was lost or doubled and no value differed from its
/// meter's count.
#[track_caller]
fn nothing_lost_doubled_or_differing(y: &serde_json::Value) {
    assert_eq!(
        (&y["lost"], &y["doubled"], &y["values_differ"]),
        (&0.into(), &0.into(), &0.into()),
        "{y}"
    );
}

/// `cmd` run to its end within `timeout`; it must exit 0 (its stdout shown if not).
fn succeeded(cmd: std::process::Command, timeout: Duration) -> std::process::Output {
    let out = run_with_timeout(cmd, timeout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// `small_sim()` with `args`: its `--report-json` report (the run must exit 0).
fn small_sim_report(name: &str, args: &[&str]) -> serde_json::Value {
    let report =
        std::env::temp_dir().join(format!("iotroute-sim-{name}-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args(args).arg("--report-json").arg(&report);
    succeeded(cmd, Duration::from_secs(120));
    let v = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    v
}

/// Without a fault flag a run shows every part working: a little loss, an outage, a
/// reboot, and three operator commands (a set-clock, a set-password, a set-interval),
/// every one done and nothing lost, and nothing left out of the run.
#[test]
fn sys01_trm08_trm09_trm11_the_default_run_has_an_outage_a_reboot_and_three_commands_done() {
    let v = small_sim_report("defaults", &["--hours", "6"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["lost"], 0);
    assert_eq!(v["doubled"], 0);
    assert_eq!(v["events"]["outage"], 1, "{}", v["events"]);
    assert_eq!(v["events"]["reboot"], 1, "{}", v["events"]);
    let commands = v["commands"].as_array().expect("commands in the report");
    let kinds: Vec<&str> = commands
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["set-clock", "set-password", "set-interval"],
        "{commands:?}"
    );
    assert_eq!(v["not_built"], serde_json::json!([]), "{}", v["not_built"]);
    assert!(
        commands.iter().all(|c| c["outcome"] == "done"),
        "{commands:?}"
    );
}

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
fn sys01_sim_without_flags_carries_every_reading_from_the_meter_to_the_mdms() {
    let report = std::env::temp_dir().join(format!("iotroute-sim-sys-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args(["--loss", "0", "--hours", "3", "--report-json"])
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
        // 00:00 .. 03:00 JST: the opening count of the first slot, and each slot's end.
        assert_eq!(slots.len(), 7, "{t}");
        for s in slots {
            assert_eq!(s["equal"], true, "{s}");
            assert!(s["meter_in_wh"].as_u64().is_some(), "{s}");
            assert_eq!(s["meter_in_wh"], s["received_in_wh"], "{s}");
            assert_eq!(s["meter_out_wh"], s["received_out_wh"], "{s}");
        }
        // The household's meter counted something in three hours.
        let first = slots[0]["meter_in_wh"].as_u64().unwrap_or(0);
        let last = slots[6]["meter_in_wh"].as_u64().unwrap_or(0);
        assert!(last > first, "{t}");
    }
    assert_eq!(v["readings"]["scheduled"], 28);
    assert_eq!(v["readings"]["arrived"], 28);
    // TRM-05: every push the terminals made arrived, each equal to the meter's count.
    assert_eq!(v["pushes"]["made"], 28, "{}", v["pushes"]);
    assert_eq!(v["pushes"]["equal"], 28, "{}", v["pushes"]);
    // TRM-09: the terminals' clocks start unset; each smart meter sets its terminals'
    // in the first reading session (one each), so the 00:00 row, read before, says its
    // clock was invalid (status bit 1) and the later ones do not.
    assert_eq!(v["sessions"]["clock_sets"], 4, "{}", v["sessions"]);
    for t in terminals {
        let slots = t["slots"].as_array().unwrap();
        let flagged = |s: &serde_json::Value| s["received_status"].as_u64().unwrap() & 0x02 != 0;
        assert!(flagged(&slots[0]), "{t}");
        assert!(slots[1..].iter().all(|s| !flagged(s)), "{t}");
    }
    // SYS-01: through the smart meters' relay and the head end, every slot of every
    // point (00:00-00:30 .. 02:30-03:00 JST: 6 each) is in the MDMS once, with the
    // energy and counters the terminals' meters counted; the report says when and how
    // the run was (the report contract, at its top level).
    let y = &v;
    assert_eq!(y["start"], "2026-04-01T00:00:00+09:00", "{y}");
    assert_eq!(y["seed"], 1, "{y}");
    assert_eq!(y["days"], 0.125, "{y}");
    assert_eq!(y["interval_min"], 30, "{y}");
    assert!(y["frames"].as_u64().unwrap() > 0 && y["air_time_s"].as_f64().unwrap() > 0.0);
    assert_eq!(y["points"], 4, "{y}");
    assert_eq!(y["expected"], 24, "{y}");
    assert_eq!(y["measured"], 24, "{y}");
    assert_eq!(y["values_equal"], 24, "{y}");
    nothing_lost_doubled_or_differing(y);
    assert!(y["a_route_messages"].as_u64().unwrap() >= 24, "{y}");
    assert_eq!(y["a_route_refused"], 0, "{y}");
    assert!(y["latency_s"]["max"].as_f64().unwrap() < 60.0, "{y}");
}

/// `sim --db FILE`: the head end's registry and the MDMS are kept in the file, which
/// `iotroute headend registry export` and `iotroute mdms export` read after the run;
/// the same seed again adds nothing (the export is byte for byte the same).
#[test]
fn sys01_sim_keeps_the_registry_and_the_mdms_in_its_database_file() {
    let dir = fresh_dir("db");
    let db = dir.join("system.db");
    let run = || {
        let mut cmd = small_sim();
        cmd.args(["--loss", "0", "--hours", "2", "--db"]).arg(&db);
        succeeded(cmd, Duration::from_secs(120));
    };
    let export = || {
        let out = iotroute()
            .args([
                "mdms",
                "export",
                "--format",
                "json",
                "--from",
                "2026-04-01T00:00:00+09:00",
                "--db",
            ])
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run();
    let first = export();
    let rows: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let rows = rows.as_array().unwrap();
    // 4 points × 4 slots (00:00, 00:30, 01:00, 01:30 JST) read at their slots.
    assert_eq!(rows.len(), 16, "{rows:?}");
    assert!(rows.iter().all(|r| r["quality"] == "measured"), "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["supply_point"].as_str().unwrap().starts_with("09")));
    let registry = iotroute()
        .args(["headend", "registry", "export", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&registry.stdout);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.starts_with(
        "supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer\n"
    ));
    run();
    assert_eq!(export(), first, "the same run again adds nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

/// OPS-07 through the whole system: the head end blocks a point for ten hours (recorded
/// with reason and who), its smart meter drops and refuses the terminal, and after the
/// reconnect every slot of the blocked period reaches the MDMS — what the terminal held
/// as pushes, the rest backfilled from its store — none lost, none doubled.
#[test]
fn ops07_a_blocked_point_is_backfilled_after_its_reconnect() {
    let v = small_sim_report(
        "block",
        &["--hours", "16", "--block", "0900000000000000100001@2h..12h"],
    );
    let y = &v;
    assert_eq!(y["lost"], 0, "{y}");
    assert_eq!(y["doubled"], 0, "{y}");
    assert_eq!(y["values_differ"], 0, "{y}");
    assert_eq!(y["expected"], y["values_equal"], "{y}");
    assert!(
        y["backfilled"].as_u64().unwrap() > 0,
        "some slots came only by backfill: {y}"
    );
    assert!(y["backfills"].as_u64().unwrap() > 0, "{y}");
    assert_eq!(y["events"]["block"], 1, "{y}");
    assert_eq!(y["events"]["reconnect"], 1, "{y}");
    let blocks = y["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1, "{y}");
    assert_eq!(blocks[0]["point"], "0900000000000000100001");
    assert_eq!(
        (&blocks[0]["reason"], &blocks[0]["by"]),
        (&"sim".into(), &"sim".into())
    );
    // 02:00 and 12:00 JST: offsets from the run's start.
    assert_eq!(blocks[0]["from"], "2026-03-31T17:00:00Z");
    assert_eq!(blocks[0]["to"], "2026-04-01T03:00:00Z");
    // While blocked the terminal was cut off: its slots of the period reached the smart
    // meter hours late, the others' at once.
    let late = |eui: &str| {
        v["terminals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["eui64"] == eui)
            .unwrap()["slots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["delay_s"].as_f64().unwrap() > 3600.0)
            .count()
    };
    assert!(
        late("02:1a:00:00:00:00:10:01") >= 15,
        "{}",
        v["terminals"][0]
    );
    assert_eq!(late("02:1a:00:00:00:00:10:02"), 0);
    assert!(v["link"]["refused"].as_u64().unwrap() > 0, "{}", v["link"]);
}

/// A smart meter out of power for two hours (`--outage`): its terminals lose it, hold
/// their pushes and join it again when it boots afresh; the head end registers them with
/// it again on its hello; every slot still reaches the MDMS once, with the meters' counts.
#[test]
fn sys01_a_smart_meter_outage_loses_no_slot() {
    let report =
        std::env::temp_dir().join(format!("iotroute-sim-outage-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args([
        "--hours",
        "12",
        "--outage",
        "025A000000002001@3h+2h",
        "--report-json",
    ])
    .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let y = &v;
    nothing_lost_doubled_or_differing(y);
    assert_eq!(y["expected"], y["values_equal"], "{y}");
    assert_eq!(y["events"]["outage"], 1, "{y}");
    // Its two terminals joined it again after the boot.
    assert_eq!(v["link"]["authentications"], 6, "{}", v["link"]);
    // Their slots of the outage arrived more than an hour late; the others' did not.
    let late = |k: usize| {
        v["terminals"][k]["slots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["delay_s"].as_f64().unwrap() > 3600.0)
            .count()
    };
    assert!(late(0) >= 2 && late(2) >= 2, "{}", v["terminals"]);
    assert_eq!(late(1) + late(3), 0);
}

/// Terminal reboots (`--reboots`): each terminal keeps its store and loses its link, its
/// held pushes and its clock; it joins again, its smart meter sets its clock again
/// (TRM-09), and every slot still reaches the MDMS once.
#[test]
fn sys01_terminal_reboots_lose_no_slot() {
    let report =
        std::env::temp_dir().join(format!("iotroute-sim-reboots-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args(["--hours", "12", "--reboots", "3", "--report-json"])
        .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let y = &v;
    nothing_lost_doubled_or_differing(y);
    assert_eq!(y["expected"], y["values_equal"], "{y}");
    assert_eq!(y["events"]["reboot"], 3, "{y}");
    assert_eq!(v["link"]["authentications"], 7, "{}", v["link"]);
    assert_eq!(v["sessions"]["clock_sets"], 7, "{}", v["sessions"]);
}

/// SEC-07 through the system (`--wrong-meter`): a registered point's meter swapped for
/// another mid-run; its terminal flags every reading from then on and pushes the change,
/// its smart meter relays the event, the head end counts it, and the MDMS keeps the
/// slots as flagged — present, not lost, not trusted.
#[test]
fn sec07_a_swapped_meter_is_flagged_through_to_the_mdms() {
    let report =
        std::env::temp_dir().join(format!("iotroute-sim-swap-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args(["--hours", "12", "--wrong-meter", "1", "--report-json"])
        .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let y = &v;
    nothing_lost_doubled_or_differing(y);
    assert_eq!(y["events"]["meter_id_mismatch"], 1, "{y}");
    let flagged = y["flagged"].as_u64().unwrap();
    assert!(flagged > 0, "{y}");
    assert_eq!(
        y["measured"].as_u64().unwrap() + flagged,
        y["expected"].as_u64().unwrap(),
        "{y}"
    );
}

/// Attackers (`--wrong-password`, `--wrong-pairing`): a device claiming a registered
/// terminal's ID with a wrong password is refused by that terminal's smart meter at every
/// try, one scanning for another Pairing ID is never answered (CON-01, CON-04); each
/// smart meter tells the head end (`auth_failure`, `foreign_pairing_scan`), and the
/// registered points lose nothing.
#[test]
fn con04_attackers_are_refused_and_reported_to_the_head_end() {
    let report =
        std::env::temp_dir().join(format!("iotroute-sim-attack-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args([
        "--hours",
        "6",
        "--wrong-password",
        "1",
        "--wrong-pairing",
        "1",
        "--report-json",
    ])
    .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let y = &v;
    nothing_lost_doubled_or_differing(y);
    assert!(y["events"]["auth_failure"].as_u64().unwrap() > 0, "{y}");
    assert!(
        y["events"]["foreign_pairing_scan"].as_u64().unwrap() > 0,
        "{y}"
    );
    // Only the four registered terminals ever authenticated; the attackers are not
    // reported as terminals.
    assert_eq!(v["link"]["authentications"], 4, "{}", v["link"]);
    assert_eq!(v["terminals"].as_array().unwrap().len(), 4);
}

/// SEC-08 through the system (`--flood`): two terminals flooded on their ECHONET Lite
/// side from another address each detect it, log it and push it; their smart meters
/// relay it and the head end counts `dos`; no slot is lost.
#[test]
fn sec08_floods_reach_the_head_end_and_lose_no_slot() {
    let report =
        std::env::temp_dir().join(format!("iotroute-sim-flood-{}.json", std::process::id()));
    let mut cmd = small_sim();
    cmd.args(["--hours", "6", "--flood", "2", "--report-json"])
        .arg(&report);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let y = &v;
    nothing_lost_doubled_or_differing(y);
    assert_eq!(y["events"]["dos"], 2, "{y}");
    let detected: u64 = v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["dos_events"].as_u64().unwrap())
        .sum();
    assert_eq!(detected, 2);
}

/// OPS-07 across a reboot: a smart meter that loses power forgets its blocks; the head
/// end blocks the terminal again on the smart meter's hello, so the block holds until the
/// reconnect (the period's slots arrive only after it), and nothing is lost.
#[test]
fn ops07_a_block_outlasts_its_smart_meters_reboot() {
    let report = std::env::temp_dir().join(format!(
        "iotroute-sim-block-reboot-{}.json",
        std::process::id()
    ));
    let mut cmd = small_sim();
    cmd.args([
        "--hours",
        "12",
        "--block",
        "0900000000000000100001@2h..8h",
        "--outage",
        "025A000000002001@3h+30m",
        "--report-json",
    ])
    .arg(&report);
    succeeded(cmd, Duration::from_secs(120));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    assert_eq!(v["lost"], 0, "{v}");
    // 05:00 .. 07:00 JST, long after the smart meter came back at 03:30: still blocked
    // (the reconnect is at 08:00).
    let slots = v["terminals"][0]["slots"].as_array().unwrap();
    let late: Vec<&serde_json::Value> = slots
        .iter()
        .filter(|s| {
            let t = s["slot"].as_str().unwrap();
            ("2026-04-01T05:00"..="2026-04-01T07:00").contains(&&t[..16])
        })
        .collect();
    assert_eq!(late.len(), 5);
    assert!(
        late.iter().all(|s| s["delay_s"].as_f64().unwrap() > 1800.0),
        "{late:?}"
    );
}

/// The invariant under faults (issue 12's proof): 30 % frame loss, a smart meter out of
/// power for an hour, two terminal reboots and the head end killed (-9) for an hour —
/// after backfill every slot of every point is in the MDMS once, none lost, none doubled,
/// and with a constant load each slot's energy is power × interval to within 1 % or one
/// counter unit, whichever is larger.
#[test]
fn sys01_under_loss_outage_and_reboots_every_slot_arrives_once_with_power_times_time() {
    let dir = fresh_dir("invariant");
    let db = dir.join("system.db");
    let report = dir.join("report.json");
    let mut cmd = iotroute();
    cmd.args([
        "sim",
        "--terminals",
        "8",
        "--smartmeters",
        "3",
        "--hours",
        "12",
        "--loss",
        "30",
        "--outage",
        "025A000000002002@3h+1h",
        "--reboots",
        "2",
        "--kill-headend",
        "6h+1h",
        "--profile",
        "constant:1800:600",
        "--db",
    ])
    .arg(&db)
    .arg("--report-json")
    .arg(&report);
    succeeded(cmd, Duration::from_secs(180));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let y = &v;
    nothing_lost_doubled_or_differing(y);
    assert_eq!(y["expected"], 8 * 24, "{y}");
    // What reached the dead head end was lost on the way; the restarted one backfilled
    // it from its database's view of what it had (fails when a restart forgets since
    // when each point is collected).
    assert_eq!(y["events"]["headend_restart"], 1, "{y}");
    assert!(y["backfilled"].as_u64().unwrap() >= 8, "{y}");
    let export = iotroute()
        .args([
            "mdms",
            "export",
            "--format",
            "json",
            "--from",
            "2026-04-01T00:00:00+09:00",
            "--to",
            "2026-04-01T12:00:00+09:00",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let slots: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 8 * 24);
    let kwh = |s: &serde_json::Value, k: &str| s[k].as_str().unwrap().parse::<f64>().unwrap();
    for s in slots {
        // 1.8 kW in and 0.6 kW out for half an hour; the counter unit is 0.001 kWh.
        assert!((kwh(s, "in_kwh") - 0.9).abs() <= 0.009_000_1, "{s}");
        assert!((kwh(s, "out_kwh") - 0.3).abs() <= 0.003_000_1, "{s}");
        assert_ne!(s["quality"], "estimated", "{s}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// TRM-11 in a 15-minute run: its set-interval switches the point to 30 minutes at the
/// next full or half hour after it is done; the MDMS holds the point's 15-minute slots up
/// to there and 30-minute ones after, each once. Seed 5 records it at 05:10:15 JST, so
/// the next boundary is 05:15, which a 30-minute slot may not start at (fails when the
/// switch takes effect there, run).
#[test]
fn trm11_a_15_minute_run_switches_a_point_to_30_minutes() {
    let dir = fresh_dir("quarter-to-half");
    let db = dir.join("system.db");
    let v = small_sim_report(
        "quarter-to-half",
        &[
            "--interval",
            "15",
            "--hours",
            "12",
            "--loss",
            "0",
            "--commands",
            "3",
            "--seed",
            "5",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    nothing_lost_doubled_or_differing(&v);
    assert_eq!(v["intervals_differ"], 0, "{v}");
    let command = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "set-interval")
        .unwrap()
        .clone();
    assert_eq!(command["outcome"], "done", "{command}");
    let point = command["point"].as_str().unwrap();
    let export = iotroute()
        .args([
            "mdms", "export", "--format", "json", "--point", point, "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let slots: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let minutes: Vec<(&str, &str)> = slots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["slot_start"].as_str().unwrap(),
                s["interval_min"].as_str().unwrap(),
            )
        })
        .collect();
    // 15 minutes, then 30 from a full or half hour on, never back.
    let switch = minutes
        .iter()
        .position(|m| m.1 == "30")
        .expect("a 30-minute slot");
    assert!(minutes[..switch].iter().all(|m| m.1 == "15"), "{minutes:?}");
    assert!(minutes[switch..].iter().all(|m| m.1 == "30"), "{minutes:?}");
    assert!(
        [":00:00", ":30:00"]
            .iter()
            .any(|t| minutes[switch].0[13..19] == **t),
        "{minutes:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--start` and `--interval 15` (TRM-11): a run starting off the grid covers the slots
/// starting at or after its start (09:15 .. 11:00 JST for 09:07 + 2 h), every terminal
/// reads every 15 minutes and its points are registered so; each slot in the MDMS is
/// 15 minutes of the constant load, and the run ends once backfill has settled.
#[test]
fn trm11_sim_from_a_chosen_start_at_fifteen_minutes() {
    let dir = fresh_dir("quarter");
    let (db, report) = (dir.join("system.db"), dir.join("report.json"));
    let mut cmd = small_sim();
    cmd.args([
        "--loss",
        "0",
        "--start",
        "2026-10-15T09:07:00+09:00",
        "--interval",
        "15",
        "--hours",
        "2",
        "--profile",
        "constant:1200:400",
        "--db",
    ])
    .arg(&db)
    .arg("--report-json")
    .arg(&report);
    succeeded(cmd, Duration::from_secs(120));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["start"], "2026-10-15T09:07:00+09:00", "{v}");
    assert_eq!(v["interval_min"], 15, "{v}");
    assert!(v["settled_s"].as_f64().is_some_and(|s| s <= 600.0), "{v}");
    // 4 points × 8 slots (09:15 .. 11:00).
    assert_eq!(v["expected"], 32, "{v}");
    assert_eq!(v["measured"], 32, "{v}");
    nothing_lost_doubled_or_differing(&v);
    let export = iotroute()
        .args(["mdms", "export", "--format", "json", "--db"])
        .arg(&db)
        .args(["--from", "2026-10-15T09:15:00+09:00"])
        .output()
        .unwrap();
    let slots: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 32, "{slots:?}");
    assert_eq!(slots[0]["slot_start"], "2026-10-15T09:15:00+09:00");
    let kwh = |s: &serde_json::Value, k: &str| s[k].as_str().unwrap().parse::<f64>().unwrap();
    for s in slots {
        assert_eq!(s["interval_min"], "15", "{s}");
        // 1.2 kW in, 0.4 kW out for a quarter hour; the counter unit is 0.001 kWh.
        assert!((kwh(s, "in_kwh") - 0.3).abs() <= 0.003_000_1, "{s}");
        assert!((kwh(s, "out_kwh") - 0.1).abs() <= 0.001_000_1, "{s}");
    }
    let registry = iotroute()
        .args(["headend", "registry", "export", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&registry.stdout);
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.split(',').nth(5) == Some("15")),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The head end killed (-9) at 11:00 for half an hour, its smart meters' pushes of 11:00
/// and 11:30 lost with it: started again on its database it still expects every slot
/// since its first start (kept in the database, not taken from the restart), so it
/// backfills the two boundaries — none lost, none doubled (fails when a restart expects
/// slots only from itself on).
#[test]
fn sys01_a_head_end_killed_and_restarted_backfills_what_it_missed() {
    let v = small_sim_report(
        "kill",
        &["--loss", "0", "--hours", "12", "--kill-headend", "11h+30m"],
    );
    assert_eq!(v["events"]["headend_restart"], 1, "{v}");
    assert_eq!(
        (
            &v["lost"],
            &v["doubled"],
            &v["estimated"],
            &v["values_differ"]
        ),
        (&0.into(), &0.into(), &0.into(), &0.into()),
        "{v}"
    );
    // 4 points × the slots ending at 11:00 and 11:30.
    assert_eq!(v["backfilled"], 8, "{v}");
    assert_eq!(v["measured"], 88, "{v}");
}

/// The same seed gives a byte-identical report and MDMS export (the contract),
/// with the default faults (loss, an outage, a reboot) in play, and with operator
/// commands (`--commands`, TRM-08/09) too; another seed does not.
#[test]
fn sys01_the_same_seed_gives_a_byte_identical_report_and_export() {
    let dir = fresh_dir("same");
    let run = |name: &str, seed: &str, more: &[&str]| {
        let (db, report) = (
            dir.join(format!("{name}.db")),
            dir.join(format!("{name}.json")),
        );
        let mut cmd = small_sim();
        cmd.args(["--hours", "6", "--seed", seed])
            .args(more)
            .arg("--db")
            .arg(&db)
            .arg("--report-json")
            .arg(&report);
        succeeded(cmd, Duration::from_secs(120));
        let export = iotroute()
            .args(["mdms", "export", "--format", "csv", "--db"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(export.status.success());
        (std::fs::read(&report).unwrap(), export.stdout)
    };
    let (a, b, c) = (run("a", "3", &[]), run("b", "3", &[]), run("c", "4", &[]));
    assert_eq!(a.0, b.0, "the report");
    assert_eq!(a.1, b.1, "the export");
    assert!(a.1.len() > 100);
    assert_ne!(a.0, c.0, "another seed, another run");
    let commands = ["--commands", "2"];
    let (d, e) = (run("d", "3", &commands), run("e", "3", &commands));
    assert_eq!(d.0, e.0, "the report with commands");
    assert_eq!(d.1, e.1, "the export with commands");
    assert!(String::from_utf8_lossy(&d.0).contains("set-password"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// TRM-08, TRM-09 through the whole system (`--commands`): operator commands recorded in
/// the head end's database at seeded times and points, set-clock and set-password
/// alternately, are sent to each point's smart meter, which carries them out in a DLMS
/// session with the terminal, and every one ends done. A new password holds through
/// everything after it: the terminal keeps it through its reboots and its smart meter
/// keeps it through an outage, so both authenticate it again and no slot is lost (fails
/// when a rebooted terminal or a smart meter after its outage goes back to the password
/// it was installed with: the terminal is refused from then on). The head end registers
/// the terminal with the secret derived from its new password.
#[test]
fn trm08_trm09_trm11_sim_commands_are_done_and_a_new_password_outlives_reboots_and_an_outage() {
    let dir = fresh_dir("commands");
    let db = dir.join("system.db");
    // Seed 2: terminal 1 (smart meter 2001) takes a new password and reboots after it;
    // the outage of its smart meter comes after every command.
    let v = small_sim_report(
        "commands",
        &[
            "--db",
            db.to_str().unwrap(),
            "--hours",
            "12",
            "--seed",
            "2",
            "--commands",
            "4",
            "--reboots",
            "3",
            "--outage",
            "025A000000002001@11h+30m",
        ],
    );
    nothing_lost_doubled_or_differing(&v);
    assert_eq!(v["expected"], v["values_equal"], "{v}");
    assert_eq!(v["events"]["reboot"], 3, "{v}");
    assert_eq!(v["events"]["outage"], 1, "{v}");
    let commands = v["commands"].as_array().unwrap();
    let kinds: Vec<&str> = commands
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["set-clock", "set-password", "set-interval", "set-clock"]
    );
    // TRM-11: the switched point's terminal is expected, and read, every 15 minutes from
    // the boundary it switched at: quarter-hour slots in its record, each equal to its
    // meter's count; the head end registers the point at 15 minutes.
    let switched = commands
        .iter()
        .find(|c| c["kind"] == "set-interval")
        .unwrap()["point"]
        .as_str()
        .unwrap();
    let k: u8 = switched[20..].parse().unwrap();
    let record = v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["eui64"] == format!("02:1a:00:00:00:00:10:{k:02x}"))
        .unwrap();
    let quarters: Vec<&serde_json::Value> = record["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| ["15", "45"].contains(&&s["slot"].as_str().unwrap()[14..16]))
        .collect();
    assert!(!quarters.is_empty(), "{record}");
    assert!(quarters.iter().all(|s| s["equal"] == true), "{quarters:?}");
    let registered = headend::sqlite::SqliteHeadendStore::open(&db)
        .unwrap()
        .points()
        .unwrap();
    let point = registered
        .iter()
        .find(|p| p.supply_point.to_string() == switched)
        .unwrap();
    assert_eq!(point.interval.minutes(), 15);
    assert!(
        commands
            .iter()
            .all(|c| c["outcome"] == "done" && c["reason"] == ""),
        "{commands:?}"
    );
    // The outage (02:00Z, 11 h into the run) comes after a new password of a terminal of
    // that smart meter (points ...01 and ...03).
    assert!(
        commands.iter().any(|c| c["kind"] == "set-password"
            && ["0900000000000000100001", "0900000000000000100003"]
                .contains(&c["point"].as_str().unwrap())
            && c["at"].as_str().unwrap() < "2026-04-01T02:00:00Z"),
        "{commands:?}"
    );
    // The clock commands set the clocks besides the readings' own (TRM-09).
    assert!(
        v["sessions"]["clock_sets"].as_u64().unwrap() >= 2,
        "{}",
        v["sessions"]
    );
    assert_eq!(v["not_built"], serde_json::json!([]), "{}", v["not_built"]);
    // The secret the head end registers a terminal with is the one derived from its new
    // password (kept in its database), not the installed `IOTPASS0000k`'s.
    use headend::storage::HeadendStore as _;
    let secrets = headend::sqlite::SqliteHeadendStore::open(&db)
        .unwrap()
        .terminal_secrets()
        .unwrap();
    let changed: std::collections::BTreeSet<u8> = commands
        .iter()
        .filter(|c| c["kind"] == "set-password")
        .map(|c| c["point"].as_str().unwrap()[20..].parse().unwrap())
        .collect();
    assert_eq!(secrets.len(), changed.len(), "{changed:?}");
    for k in changed {
        let eui = [0x02, 0x1A, 0, 0, 0, 0, 0x10, k];
        let secret = &secrets[&wisun::mac::Eui64(eui)];
        let installed =
            nodes::app::secrets::dlms_password(eui, format!("IOTPASS{k:05}").as_bytes());
        assert_ne!(secret, &installed, "terminal {k}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// TRM-11: a terminal switched to 15 minutes keeps its interval through its reboots (as
/// `iotroute terminal` keeps its settings) and the run checks it: seed 4 switches point
/// ...01, whose terminal then reboots three times. Every terminal ends on its registry's
/// interval (fails when a rebooted terminal goes back to the run's 30 minutes, run: no
/// slot is lost then — the head end follows the rows' labels —, only this check sees it).
#[test]
fn trm11_a_switched_terminal_keeps_its_interval_through_its_reboots() {
    let v = small_sim_report(
        "interval-reboots",
        &[
            "--hours",
            "12",
            "--seed",
            "4",
            "--commands",
            "3",
            "--reboots",
            "8",
        ],
    );
    nothing_lost_doubled_or_differing(&v);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["intervals_differ"], 0, "{v}");
    let switched: Vec<&str> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "set-interval" && c["outcome"] == "done")
        .map(|c| c["point"].as_str().unwrap())
        .collect();
    assert_eq!(switched, ["0900000000000000100001"], "{}", v["commands"]);
    assert_eq!(v["events"]["reboot"], 8, "{}", v["events"]);
}

/// `--commands`: a command that does not end done fails the run (exit 1), and the text
/// report says so; a run without the flag has no commands in its report.
#[test]
fn trm08_trm09_a_sim_command_not_done_fails_the_run() {
    let mut cmd = small_sim();
    // Both smart meters are off from before the first command (at least an hour into
    // the run) to past its end: the commands wait at the head end, pending, and the run
    // says so.
    cmd.args([
        "--hours",
        "4",
        "--loss",
        "0",
        "--commands",
        "2",
        "--outage",
        "025A000000002001@30m+2d",
        "--outage",
        "025A000000002002@30m+2d",
    ]);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("COMMANDS NOT DONE"), "{stdout}");
    let v = small_sim_report("no-commands", &["--hours", "2", "--loss", "0"]);
    assert!(v.get("commands").is_none(), "{v}");
}

/// Districts (`--district-smartmeters`): here each smart meter is a district of its own,
/// a radio's reach from the next, two of them on each of two threads. Faults strike
/// nodes of either thread's districts (an outage of the last smart meter, reboots,
/// operator's commands) and every slot still reaches the MDMS once with its meter's
/// values; the head end takes what the districts send in an order of their own, so the
/// same seed gives a byte-identical report however the threads ran (run twice: fails
/// when the head end takes the districts' messages as the threads hand them over).
#[test]
fn sys01_districts_run_side_by_side_and_the_same_seed_gives_the_same_report() {
    let dir = fresh_dir("districts");
    let run = |name: &str, size: &str| {
        let report = dir.join(format!("{name}.json"));
        let mut cmd = iotroute();
        cmd.args([
            "sim",
            "--terminals",
            "8",
            "--smartmeters",
            "4",
            "--hours",
            "6",
        ])
        .args(["--seed", "3", "--district-smartmeters", size])
        .args(["--outage", "025A000000002004@2h+30m", "--reboots", "2"])
        .args(["--commands", "3", "--report-json"])
        .arg(&report);
        succeeded(cmd, Duration::from_secs(180));
        std::fs::read(&report).unwrap()
    };
    let (a, b) = (run("a", "1"), run("b", "1"));
    assert_eq!(a, b, "the same seed, another report");
    let y: serde_json::Value = serde_json::from_slice(&a).unwrap();
    nothing_lost_doubled_or_differing(&y);
    assert_eq!(y["ok"], true, "{y}");
    assert_eq!(y["expected"], y["values_equal"], "{y}");
    assert_eq!(
        (&y["events"]["outage"], &y["events"]["reboot"]),
        (&1.into(), &2.into()),
        "{y}"
    );
    // One district: the street without gaps, another radio, the same system.
    let one: serde_json::Value = serde_json::from_slice(&run("one", "4")).unwrap();
    nothing_lost_doubled_or_differing(&one);
    assert_eq!(one["expected"], y["expected"]);
    assert_ne!(
        one["received"], y["received"],
        "the districts share a radio"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
