//! A test whose interop peer is missing must be seen to skip: `test-support/skips.rs`
//! records it in the file `scripts/test` names (`IOTROUTE_SKIP_LOG`), and
//! `scripts/skips-summary` prints the `SKIPPED (n):` block after the runner's summary.
//! Under CI the same call fails the test instead.
//!
//! The end-to-end checks call the real lookup (`support::python()`) with the interop venv
//! made missing through the environment and a private skip log, so the real log of the
//! run is never written to. The environment is the process's: the tests that change it
//! hold one lock and put it back (cargo-nextest runs each test in a process of its own;
//! `cargo test` runs them as threads of one).

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

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

static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with the venv missing, skips recorded in `log` and CI as `ci` says, then puts
/// the environment back.
fn venv_missing<T>(log: &Path, ci: bool, f: impl FnOnce() -> T) -> T {
    let _guard = ENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let vars: [(&str, Option<OsString>); 4] = [
        (skips::ENV_SKIP_LOG, Some(log.into())),
        (
            "IOTROUTE_INTEROP_PYTHON",
            Some(log.with_extension("no-such-python").into()),
        ),
        ("IOTROUTE_INTEROP", None),
        ("CI", ci.then(|| "1".into())),
    ];
    let saved: Vec<(&str, Option<OsString>)> = vars
        .iter()
        .map(|(k, _)| (*k, std::env::var_os(k)))
        .collect();
    for (k, v) in &vars {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    out.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[test]
fn rad01_a_missing_peer_is_recorded_and_listed_in_the_summary() {
    let dir = temp_dir("record");
    let log = dir.join("test-skips.log");
    assert!(venv_missing(&log, false, support::python).is_none());
    let text = std::fs::read_to_string(&log).expect("the skip was not recorded");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with(
            "iotroute::test_skips rad01_a_missing_peer_is_recorded_and_listed_in_the_summary: \
             interop peer missing: IOTROUTE_INTEROP_PYTHON"
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
    let failed = venv_missing(&log, true, || {
        std::panic::catch_unwind(support::python).is_err()
    });
    assert!(failed, "a missing peer passed under CI");
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
