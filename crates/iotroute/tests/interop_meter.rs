//! Our `iotroute meter` read by ECHONET Lite stacks we did not write: PyPI pychonet (the
//! library of Home Assistant's integration) and npm echonet-lite. Skipped with a notice
//! when the peers are not installed, failed instead under CI or IOTROUTE_INTEROP=1.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{addr, json, node_dir, python, run_with_timeout, start_meter};

/// Every EPC the meter object lists in its Get map (docs/echonet-028e.md).
const METER_GET_MAP: [&str; 30] = [
    "80", "81", "82", "83", "88", "8A", "98", "9D", "9E", "9F", "D0", "D1", "D2", "D3", "D4", "D5",
    "D6", "DA", "DB", "E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "EA",
];

const METER_ARGS: [&str; 8] = [
    "--unit",
    "0.01",
    "--start-in",
    "123456789",
    "--profile",
    "constant:0:0",
    "--id",
    "0102030405060708",
];

#[test]
fn trm07_pychonet_discovers_the_meter_and_reads_every_listed_property() {
    let Some(py) = python() else { return };
    let meter = start_meter(addr(101, 2), &METER_ARGS);
    let mut cmd = Command::new(py);
    cmd.arg(script("pychonet_read.py")).args([
        "127.0.101.2",
        "--bind",
        "127.0.101.3",
        "--timeout",
        "15",
    ]);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "pychonet failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["instances"], serde_json::json!(["028E01"]));
    let mut get: Vec<&str> = v["maps"]["028E01"]["get"]
        .as_array()
        .expect("get map")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    // pychonet walks the 17-byte bitmap byte by byte; the set is what must agree.
    get.sort_unstable();
    assert_eq!(
        get, METER_GET_MAP,
        "Get map (bitmap form) as pychonet decoded it"
    );
    let set = &v["maps"]["028E01"]["set"];
    assert_eq!(set, &serde_json::json!(["81", "98", "D5", "DA"]));
    let raw = &v["raw"]["028E01"];
    for epc in METER_GET_MAP {
        assert!(raw[epc].is_string(), "pychonet did not read {epc}: {raw}");
    }
    assert_eq!(raw["D1"], "0102030405060708");
    assert_eq!(raw["D4"], "02");
    assert_eq!(raw["E0"], "075BCD15");
    assert_eq!(raw["E2"], "00000000");
    assert_eq!(v["raw"]["0EF001"]["D6"], "01028E01");
    // pychonet's own decoding of the energy counters agrees with ours.
    assert_eq!(v["values"]["028E01"]["E0"], 123_456_789);
    drop(meter);
}

#[test]
fn pychonet_get_of_a_property_the_meter_lacks_gets_get_sna() {
    let Some(py) = python() else { return };
    let _meter = start_meter(addr(102, 2), &METER_ARGS);
    let mut cmd = Command::new(py);
    cmd.arg(script("pychonet_read.py")).args([
        "127.0.102.2",
        "--get",
        "028E01",
        "E0",
        "F5",
        "--bind",
        "127.0.102.3",
        "--timeout",
        "10",
    ]);
    let out = run_with_timeout(cmd, Duration::from_secs(40));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["esv"], "52");
    assert_eq!(v["props"]["E0"], "075BCD15");
    assert_eq!(v["props"]["F5"], "");
}

#[test]
fn trm07_npm_echonet_lite_controller_reads_the_meter() {
    let Some(dir) = node_dir() else { return };
    let _meter = start_meter(addr(103, 2), &METER_ARGS);
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("el_controller.js")).args([
        "127.0.103.2",
        "--addr",
        "127.0.103.3",
        "--epcs",
        "E0,E2,D1,D4",
        "--timeout",
        "10",
    ]);
    let out = run_with_timeout(cmd, Duration::from_secs(40));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["esv"]["028E01"], "72");
    assert_eq!(v["028E01"]["E0"], "075BCD15");
    assert_eq!(v["028E01"]["E2"], "00000000");
    assert_eq!(v["028E01"]["D1"], "0102030405060708");
    assert_eq!(v["028E01"]["D4"], "02");
    assert_eq!(v["0EF001"]["D6"], "01028E01");
}

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop")
        .join(name)
}
