//! The one way an integration test says it skipped (part of) itself because an interop
//! peer (tshark, the Python venv, node) is missing: [`skip`].
//!
//! Why a file: the test runner (cargo-nextest) shows a passing test's stderr to nobody,
//! so a skip printed there reads as a pass. [`skip`] also appends one line to the file
//! named by [`ENV_SKIP_LOG`], which `scripts/test` sets under `target/`, empties before
//! the suite and prints after the runner's summary as a `SKIPPED (n):` block
//! (`scripts/skips-summary`). Under `CI` (non-empty, not "0") or `IOTROUTE_INTEROP=1`
//! a missing peer is a failure instead ([`peers_required`]), as `.ci/run` wants.
//!
//! Shared source: every crate's `tests/support` module includes this file with
//! `#[path = "../../../../test-support/skips.rs"] pub mod skips;`, so the rule and the
//! file format are written once.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Environment variable naming the file skips are recorded in (set by `scripts/test`).
/// Unset (a bare `cargo nextest run`): the skip goes to stderr only.
pub const ENV_SKIP_LOG: &str = "IOTROUTE_SKIP_LOG";

/// Whether a missing peer must fail the test (CI, or asked for) rather than skip it.
#[must_use]
pub fn peers_required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0")
        || std::env::var("IOTROUTE_INTEROP").is_ok_and(|v| v == "1")
}

/// The file skips are recorded in, if any.
#[must_use]
pub fn log_path() -> Option<PathBuf> {
    std::env::var_os(ENV_SKIP_LOG)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The test calling: `crate::binary test_name` (libtest names each test's thread after
/// the test; the binary is the executable's name without Cargo's `-hash`).
#[must_use]
pub fn current_test() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
            _ => s,
        })
        .unwrap_or_else(|| "?".to_owned());
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    format!("{}::{binary} {test}", env!("CARGO_PKG_NAME"))
}

/// A missing peer: fails the calling test when peers are required; otherwise prints
/// `SKIPPED: <test>: <what>` to stderr and records it in [`log_path`]'s file.
///
/// # Panics
/// When [`peers_required`] (that is the point), or when the record cannot be written
/// (a skip nobody sees is what this module exists to prevent).
pub fn skip(what: &str) {
    skip_with(
        log_path().as_deref(),
        peers_required(),
        &current_test(),
        what,
    );
}

/// [`skip`] with its inputs explicit (for its own tests).
///
/// # Panics
/// When `required`, or when the record cannot be written.
pub fn skip_with(log: Option<&Path>, required: bool, test: &str, what: &str) {
    assert!(
        !required,
        "{test}: {what} (CI or IOTROUTE_INTEROP=1: a missing interop peer fails; \
         scripts/test installs them)"
    );
    let line = format!("{test}: {what}");
    eprintln!("SKIPPED: {line}");
    if let Some(path) = log {
        if let Err(e) = record(path, &line) {
            panic!("{test}: cannot record the skip in {}: {e}", path.display());
        }
    }
}

/// Append `line` to `path` in one write (O_APPEND: lines of tests running in parallel
/// processes never interleave).
///
/// # Errors
/// When the file cannot be opened or written.
pub fn record(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let one_line: String = line
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    f.write_all(format!("{one_line}\n").as_bytes())
}
