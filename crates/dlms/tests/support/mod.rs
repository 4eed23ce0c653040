//! Finding the interop peer (the venv's Python with gurux-dlms) for the Gurux tests of
//! this crate. The rule is the one of crates/iotroute/tests/support/mod.rs: a missing peer
//! is a visible skip, and a failure under CI or IOTROUTE_INTEROP=1.

#[path = "../../../../test-support/skips.rs"]
pub mod skips;

use std::path::PathBuf;

/// The venv's Python, or `None` after a skip listed by `scripts/test` (a failure when
/// peers are required; [`skips::skip`]).
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("IOTROUTE_INTEROP_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => {
            skips::skip(
                "interop peer missing: IOTROUTE_INTEROP_PYTHON (the venv with gurux-dlms; run scripts/test)",
            );
            None
        }
    }
}

/// The repository's `interop/` directory, where the Gurux harness scripts live.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}
