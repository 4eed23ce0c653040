//! What can go wrong in the MDMS as a whole. A bad reading is not among them: it is
//! refused on its own (`crate::IngestReport::rejected`), the rest of its batch stored.

use crate::vee::Vee;

/// Why an MDMS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MdmsError {
    /// The store failed, or holds what this program could not have written.
    #[error("mdms store: {0}")]
    Store(String),
    /// The store was created with other validation limits: slots derived under both
    /// would depend on when they were computed.
    #[error("the store's validation limits are {stored:?}, not {given:?}")]
    VeeMismatch {
        /// In the store.
        stored: Vee,
        /// Asked for.
        given: Vee,
    },
    /// The store holds no MDMS data (no validation limits recorded).
    #[error("not an MDMS store (no validation limits recorded)")]
    NotInitialised,
    /// Writing the export failed.
    #[error("export: {0}")]
    Io(#[from] std::io::Error),
}
