//! Why an authentication fails, as the state machines will report, log and count it
//! (SEC-02). Each reason is decided at the wire + crypto level by this crate's verify
//! functions, except the PAA's own policy decisions (unknown ID, blocked terminal, no room),
//! which are here so that every failure the link can report has one type.

use crate::error::Error;

/// A failed authentication step. No variant carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// PAA: MAC_P of EAP-PSK message 2 does not verify under the PSK registered for ID_P:
    /// the terminal's password (or PSK) is wrong.
    #[error("EAP-PSK MAC_P mismatch: wrong password for this terminal")]
    MacPMismatch,
    /// PaC: MAC_S of EAP-PSK message 3 does not verify: the smart meter does not hold our
    /// PSK (a wrong or impostor server).
    #[error("EAP-PSK MAC_S mismatch: the server does not know our PSK")]
    MacSMismatch,
    /// PAA: ID_P is not registered.
    #[error("unknown terminal ID")]
    UnknownId,
    /// PAA: ID_P is registered but blocked by the operator.
    #[error("terminal blocked")]
    Blocked,
    /// PAA: the smart meter already serves its maximum of terminals (SYS-03).
    #[error("no room for another terminal")]
    NoRoom,
    /// The protected channel's EAX tag does not verify (tampered message or wrong TEK).
    #[error("EAP-PSK protected channel does not authenticate")]
    PChannelTag,
    /// The protected channel's nonce is not the one expected (replay or reordering).
    #[error("EAP-PSK protected channel nonce {got}, expected {expected}")]
    PChannelNonce {
        /// The nonce received.
        got: u32,
        /// The nonce the exchange requires.
        expected: u32,
    },
    /// An EAP-PSK message echoes a RAND_S other than the one sent.
    #[error("EAP-PSK RAND_S does not match the one sent")]
    RandSMismatch,
    /// An EAP-PSK message names another server than the one we talk to (ID_S).
    #[error("EAP-PSK ID_S differs from the expected server identity")]
    IdSMismatch,
    /// The server's protected channel says DONE_FAILURE, or the peer's does.
    #[error("EAP-PSK result is DONE_FAILURE")]
    Rejected,
    /// The protected channel asks to continue (R = CONT), which neither side supports
    /// (no extension is defined).
    #[error("EAP-PSK R flag CONT is not supported")]
    Unsupported,
    /// A PANA message that must carry an AUTH AVP carries none.
    #[error("AUTH AVP missing")]
    AuthAvpMissing,
    /// The AUTH AVP does not verify under PANA_AUTH_KEY.
    #[error("AUTH AVP mismatch")]
    AuthAvpMismatch,
    /// The authentication succeeded but delivered no group key we can read (the two
    /// sides disagree on the vendor AVPs' Vendor-Id, say): no link without a key.
    #[error("no readable group key delivered")]
    NoGroupKey,
    /// A PRF, integrity or encryption algorithm number we do not implement.
    #[error("algorithm {0} not supported")]
    Algorithm(u32),
    /// The message is malformed.
    #[error("malformed: {0}")]
    Malformed(#[from] Error),
}
