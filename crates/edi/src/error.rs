//! What can be wrong with an EDI value, name, message or file.

/// An EDI error: what was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdiError {
    /// A sender or receiver code that is not five characters of 0-9 and A-Z.
    #[error("party code {0:?}: five characters of 0-9 and A-Z")]
    PartyCode(String),
    /// A supply point number that is not 22 digits.
    #[error("supply point {0:?}: 22 digits")]
    SupplyPoint(String),
    /// An information code that is none of ours.
    #[error("information code {0:?} is none of the device-point messages")]
    InfoCode(String),
    /// A file name not of the form `W4` + code + time + update + split + `.zip`.
    #[error("file name {name:?}: {why}")]
    FileName {
        /// The name refused.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// Records that do not make the message asked for (another slot, another day,
    /// another interval, a point twice).
    #[error("message: {0}")]
    Message(String),
    /// An XML file that is not one of our messages, or holds a value out of its range.
    #[error("XML: {0}")]
    Xml(String),
    /// A ZIP that is not one XML file of a sane size under the expected name.
    #[error("ZIP: {0}")]
    Zip(String),
}
