//! `iotroute logs verify FILE` (SEC-09): exit 0 for an intact log, 1 naming the first bad
//! record and why — an edited record, a removed one, a cut-off end, a missing head.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::iotroute;

fn log_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotroute-logs-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let mut log = logs::FileLog::open(
        &d,
        "access",
        logs::Retention::default(),
        "2026-12-05T10:00:00+09:00",
    )
    .unwrap();
    for i in 0..5 {
        log.append(
            &format!("2026-12-05T10:0{i}:00+09:00"),
            "association",
            serde_json::json!({ "client": 32, "result": "accepted", "n": i }),
        )
        .unwrap();
    }
    d
}

fn verify(file: &Path) -> Output {
    iotroute()
        .args(["logs", "verify"])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn sec09_logs_verify_passes_an_intact_log_and_names_the_first_bad_record() {
    let d = log_dir("cli");
    let file = d.join("access.jsonl");
    let out = verify(&file);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("intact, records 1 to 5"),
        "{out:?}"
    );
    let original = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    for (tampered, why) in [
        (
            original.replace("\"n\":3", "\"n\":4"),
            "record 4 (line 4): its content does not match its hash (edited)",
        ),
        (
            [lines[0], lines[1], lines[3], lines[4]].join("\n") + "\n",
            "record 4 (line 3): expected record 3 here",
        ),
        (
            lines[..3].join("\n") + "\n",
            "records 4 to 5 are missing (truncated)",
        ),
    ] {
        std::fs::write(&file, &tampered).unwrap();
        let out = verify(&file);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(why), "{err}");
    }
    std::fs::write(&file, &original).unwrap();
    std::fs::remove_file(d.join("access.head.json")).unwrap();
    let out = verify(&file);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("access.head.json"));
    let _ = std::fs::remove_dir_all(&d);
}
