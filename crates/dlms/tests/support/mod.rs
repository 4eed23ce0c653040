//! Finding the interop peer (the venv's Python with gurux-dlms) for the Gurux tests of
//! this crate. The rule is the one of crates/iotroute/tests/support/mod.rs: a missing peer
//! is a visible skip, and a failure under CI or IOTROUTE_INTEROP=1.

use std::path::PathBuf;

/// Whether a missing peer must fail the test (CI, or asked for) rather than skip it.
pub fn peers_required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0")
        || std::env::var("IOTROUTE_INTEROP").is_ok_and(|v| v == "1")
}

/// The venv's Python, or `None` after a visible skip (a panic when peers are required).
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("IOTROUTE_INTEROP_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => {
            assert!(
                !peers_required(),
                "interop peer missing: IOTROUTE_INTEROP_PYTHON (the venv with gurux-dlms; run scripts/test)"
            );
            eprintln!(
                "SKIPPED: interop peer missing: IOTROUTE_INTEROP_PYTHON (the venv with gurux-dlms)"
            );
            None
        }
    }
}

/// The repository's `interop/` directory, where the Gurux harness scripts live.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}
