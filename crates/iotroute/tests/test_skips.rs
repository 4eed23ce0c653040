//! A test whose interop peer is missing must be seen to skip: `test-support/skips.rs`
//! records it in the file `scripts/test` names (`IOTROUTE_SKIP_LOG`), and
//! `scripts/skips-summary` prints the `SKIPPED (n):` block after the runner's summary.
//! Under CI the same call fails the test instead.
//!
//! The end-to-end checks run this binary again as a child (the `#[ignore]`d
//! `rad01_skip_child`, which does nothing unless `IOTROUTE_SKIP_CHILD=1`) with a missing
//! peer and a private skip log, so the real log of the run is never written to.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::skips;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iotroute-skips-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn summary(log: &Path) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/skips-summary");
    let out = Command::new(script).arg(log).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `rad01_skip_child` in a child process with the interop venv missing.
fn child(log: &Path, ci: bool) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "rad01_skip_child", "--ignored", "--nocapture"])
        .env("IOTROUTE_SKIP_CHILD", "1")
        .env(skips::ENV_SKIP_LOG, log)
        .env(
            "IOTROUTE_INTEROP_PYTHON",
            log.with_extension("no-such-python"),
        )
        .env_remove("IOTROUTE_INTEROP")
        .env_remove("CI");
    if ci {
        cmd.env("CI", "1");
    }
    cmd.output().unwrap()
}

/// Not a test of its own: the child of the end-to-end tests below.
#[test]
#[ignore = "run by the other tests of this file as a child process"]
fn rad01_skip_child() {
    if std::env::var("IOTROUTE_SKIP_CHILD").as_deref() != Ok("1") {
        return;
    }
    assert!(support::python().is_none());
}

#[test]
fn rad01_a_missing_peer_is_recorded_and_listed_in_the_summary() {
    let dir = temp_dir("record");
    let log = dir.join("test-skips.log");
    let out = child(&log, false);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&log).expect("the skip was not recorded");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with(
            "iotroute::test_skips rad01_skip_child: interop peer missing: IOTROUTE_INTEROP_PYTHON"
        ),
        "{text}"
    );
    let shown = summary(&log);
    assert!(shown.contains("SKIPPED (1):"), "{shown}");
    assert!(shown.contains(lines[0]), "{shown}");

    // Tests in parallel processes append to the one file; each skip is one line.
    skips::skip_with(
        Some(&log),
        false,
        "crate::bin other_test",
        "tshark not found",
    );
    let shown = summary(&log);
    assert!(shown.contains("SKIPPED (2):"), "{shown}");
    assert!(
        shown.contains("crate::bin other_test: tshark not found"),
        "{shown}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rad01_under_ci_a_missing_peer_fails_and_is_not_a_skip() {
    let dir = temp_dir("ci");
    let log = dir.join("test-skips.log");
    let out = child(&log, true);
    assert!(!out.status.success(), "a missing peer passed under CI");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rad01_skip_child"),
        "{out:?}"
    );
    assert!(!log.exists(), "a failure must not be listed as a skip");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rad01_no_skips_no_summary_block() {
    let dir = temp_dir("none");
    let log = dir.join("test-skips.log");
    assert_eq!(summary(&log), "", "missing file");
    std::fs::write(&log, "").unwrap();
    assert_eq!(summary(&log), "", "empty file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rad01_an_unwritable_skip_log_fails_the_test() {
    let dir = temp_dir("unwritable");
    // A directory where the file should be: the record cannot be written.
    let r = std::panic::catch_unwind(|| {
        skips::skip_with(Some(&dir), false, "t", "peer missing");
    });
    assert!(r.is_err(), "a skip nobody will see passed silently");
    let _ = std::fs::remove_dir_all(&dir);
}
