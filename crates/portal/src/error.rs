//! What can go wrong when publishing or serving files.

use chrono::NaiveDateTime;
use edi::{InfoCode, PartyCode};

/// A portal error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    /// The records do not make a message, or a name or ZIP could not be made.
    #[error("EDI: {0}")]
    Edi(#[from] edi::EdiError),
    /// A message changed more often than its two-digit update number can tell.
    #[error("{retailer}: the {info} message of {at} has had its 100 issues (00-99)")]
    UpdatesExhausted {
        /// The retailer.
        retailer: PartyCode,
        /// The message.
        info: InfoCode,
        /// Its time (a slot's start, or midnight of its day).
        at: NaiveDateTime,
    },
    /// An issue the store refuses: not the next update number, or a file name it holds.
    #[error("issue refused: {0}")]
    Refused(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
    /// The MDMS's records changed while a day's messages were made from them (read
    /// twice: digested, then made into files); nothing was issued, the next round
    /// issues what they are then.
    #[error("{retailer}: the records of the daily message of {at} changed while it was made")]
    Changed {
        /// The retailer.
        retailer: PartyCode,
        /// Midnight of the day.
        at: NaiveDateTime,
    },
}
