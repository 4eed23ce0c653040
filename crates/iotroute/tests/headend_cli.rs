//! `iotroute headend registry import|export`, `block`, `reconnect` and `blocks` (OPS-07)
//! as the contract spells them: a registry imported whole or not at all (a bad row named
//! by its line), exported as imported; blocks and reconnects recorded with reason, time
//! and who, refused (exit 2) when they make no sense, and listed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::iotroute;

const REGISTRY: &str = "\
supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer
0900000000000000000001,0211223344550001,IOT00901,02AABBCCDD000001,4D2D30303031,30,A1239
0900000000000000000002,0211223344550002,IOT00901,02AABBCCDD000001,,30,A1239
";

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotroute-headend-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn headend(args: &[&str], at: &Path) -> Output {
    iotroute()
        .arg("headend")
        .args(args)
        .current_dir(at)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn ops07_registry_import_export_block_reconnect_and_list() {
    let d = dir();
    std::fs::write(d.join("points.csv"), REGISTRY).unwrap();
    let o = headend(&["registry", "import", "--db", "hes.db", "points.csv"], &d);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 added"), "{}", text(&o));

    // A file with a bad third line: refused naming it, nothing of it kept.
    let bad = format!(
        "{REGISTRY}0900000000000000000003,0211223344550003,IOT00901,02aabbccdd000001,,30,A1239\n09000000000000000000x4,0211223344550004,IOT00901,02aabbccdd000001,,30,A1239\n"
    );
    std::fs::write(d.join("bad.csv"), bad).unwrap();
    let o = headend(&["registry", "import", "--db", "hes.db", "bad.csv"], &d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("line 5"), "{}", text(&o));
    let o = headend(&["registry", "export", "--db", "hes.db"], &d);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), REGISTRY);

    let point = "0900000000000000000001";
    let blk = |action: &str| {
        headend(
            &[
                action,
                "--db",
                "hes.db",
                point,
                "--reason",
                "tampering suspected",
                "--by",
                "operator-7",
            ],
            &d,
        )
    };
    assert!(blk("block").status.success());
    assert_eq!(blk("block").status.code(), Some(2), "blocked already");
    assert!(blk("reconnect").status.success());
    assert_eq!(blk("reconnect").status.code(), Some(2), "not blocked");
    let o = headend(
        &[
            "block",
            "--db",
            "hes.db",
            "0900000000000000000099",
            "--reason",
            "x",
            "--by",
            "y",
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "not registered: {}", text(&o));

    let o = headend(&["blocks", "--db", "hes.db", "--json"], &d);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["point"], point);
    assert_eq!(list[0]["reason"], "tampering suspected");
    assert_eq!(list[0]["by"], "operator-7");
    assert!(list[0]["from"].as_str().unwrap() <= list[0]["to"].as_str().unwrap());
    let o = headend(&["blocks", "--db", "hes.db"], &d);
    assert!(text(&o).contains(point), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}
