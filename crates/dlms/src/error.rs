//! The codec error, with the byte offset the upstream decoder reports.
//!
//! Our own type rather than the upstream one so that callers (the CLI prints
//! `byte N: ...`, the fuzz targets compare kinds) never name `dlms_cosem_rs`.

use dlms_cosem_rs::ErrorKind as Up;

/// What went wrong while decoding or encoding DLMS bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// The input ended inside a value; `needed` more bytes were wanted at least.
    #[error("truncated, needed {needed} more byte(s)")]
    Truncated {
        /// Bytes the failing read still wanted.
        needed: usize,
    },
    /// A tag not defined at this position.
    #[error("invalid tag 0x{0:02X}")]
    InvalidTag(u8),
    /// A value outside the set the specification defines for this field.
    #[error("invalid value")]
    InvalidValue,
    /// A well-formed value of the wrong type for its position.
    #[error("value of the wrong type for this position")]
    TypeMismatch,
    /// A length that cannot be represented or exceeds the input.
    #[error("invalid length")]
    InvalidLength,
    /// Nesting deeper than the decoder follows (hostile input guard).
    #[error("nesting too deep")]
    DepthExceeded,
    /// A value that would take unbounded work to expand (compact arrays).
    #[error("value would take unbounded work to expand")]
    WorkExceeded,
    /// Bytes left over after a complete value.
    #[error("{0} trailing byte(s) after the value")]
    TrailingBytes(usize),
    /// The output buffer was too small.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// An authentication tag did not verify.
    #[error("authentication tag mismatch")]
    BadTag,
    /// An invocation counter already accepted.
    #[error("invocation counter replayed")]
    Replay,
    /// A message not allowed here.
    #[error("message not allowed here")]
    UnexpectedMessage,
    /// Not supported by this build.
    #[error("not supported")]
    Unsupported,
    /// Anything else the upstream codec reports (checksums of transports we do not use).
    #[error("malformed")]
    Other,
}

/// A codec error and the byte offset, from the start of the buffer given, where it
/// happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {kind}")]
pub struct CodecError {
    /// What went wrong.
    pub kind: CodecErrorKind,
    /// Offset into the input.
    pub offset: usize,
}

impl CodecError {
    /// An error of `kind` at `offset`.
    #[must_use]
    pub const fn new(kind: CodecErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// The same error shifted by `base` bytes: a sub-buffer's error reported in the
    /// frame it came from (an APDU inside a wrapper frame).
    #[must_use]
    pub const fn shifted(self, base: usize) -> Self {
        Self {
            kind: self.kind,
            offset: self.offset.saturating_add(base),
        }
    }
}

impl From<dlms_cosem_rs::Error> for CodecError {
    fn from(e: dlms_cosem_rs::Error) -> Self {
        let kind = match e.kind {
            Up::Truncated { needed } => CodecErrorKind::Truncated { needed },
            Up::InvalidTag(t) => CodecErrorKind::InvalidTag(t),
            Up::InvalidValue => CodecErrorKind::InvalidValue,
            Up::TypeMismatch => CodecErrorKind::TypeMismatch,
            Up::InvalidLength => CodecErrorKind::InvalidLength,
            Up::DepthExceeded => CodecErrorKind::DepthExceeded,
            Up::WorkExceeded => CodecErrorKind::WorkExceeded,
            Up::BufferTooSmall { .. } => CodecErrorKind::BufferTooSmall,
            Up::BadTag => CodecErrorKind::BadTag,
            Up::Replay => CodecErrorKind::Replay,
            Up::UnexpectedMessage => CodecErrorKind::UnexpectedMessage,
            Up::Unsupported => CodecErrorKind::Unsupported,
            _ => CodecErrorKind::Other,
        };
        Self {
            kind,
            offset: e.offset,
        }
    }
}
