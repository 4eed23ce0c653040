//! What the edi crate's integration tests share: the one way to say a peer was missing.

#[path = "../../../../test-support/skips.rs"]
pub mod skips;
