//! Why bytes are not a PANA message, an EAP packet or an EAP-PSK message: one error type
//! for every wire format of the crate, always with the byte offset it refers to, so that
//! a log line can point at the offending byte of a datagram even when the fault sits in an
//! EAP packet nested inside an AVP (offsets are shifted to the outermost buffer).

use core::fmt;

/// A wire-format error at byte `at` of the buffer handed to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {at}: {kind}")]
pub struct Error {
    /// Offset of the offending field in the outermost buffer parsed.
    pub at: usize,
    /// What is wrong there.
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) const fn new(at: usize, kind: ErrorKind) -> Self {
        Self { at, kind }
    }

    /// The same error seen from a buffer in which the parsed one starts at `base`.
    #[must_use]
    pub const fn shifted(self, base: usize) -> Self {
        Self {
            at: self.at + base,
            kind: self.kind,
        }
    }

    /// The byte offset the error refers to.
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.at
    }
}

/// The kinds of wire-format error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A field needs `needed` bytes but only `available` remain.
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the buffer.
        available: usize,
    },
    /// A length field disagrees with the bytes present (`declared` vs `actual`).
    Length {
        /// The length field.
        declared: usize,
        /// The bytes actually there.
        actual: usize,
    },
    /// A PANA message type outside 1-5.
    MessageType(u16),
    /// An AVP's value has the wrong size for its type.
    AvpValueLength {
        /// The AVP code.
        code: u16,
        /// The value length found.
        len: usize,
    },
    /// Bytes after the last AVP that do not form one, or an AVP missing its padding.
    AvpPadding,
    /// An EAP code outside 1-4.
    EapCode(u8),
    /// An EAP Request/Response of another method where EAP-PSK (47) was expected.
    EapType(u8),
    /// An EAP-PSK PCHANNEL R flag of 0 (reserved).
    ResultFlag,
    /// An EAP-PSK message whose T flag does not fit the EAP code (messages 1 and 3 are
    /// requests, 2 and 4 responses).
    PskDirection {
        /// The EAP code.
        code: u8,
        /// The T flag (0-3).
        t: u8,
    },
    /// An EAP-PSK message 1 or 2 where message 3 or 4 (with a protected channel) was
    /// expected.
    NoPChannel {
        /// The T flag found.
        t: u8,
    },
    /// A message longer than its 16-bit length field can announce.
    TooLong(usize),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated: {needed} byte(s) needed, {available} present")
            }
            Self::Length { declared, actual } => {
                write!(
                    f,
                    "length field says {declared} but {actual} byte(s) are present"
                )
            }
            Self::MessageType(t) => write!(f, "PANA message type {t} unknown"),
            Self::AvpValueLength { code, len } => {
                write!(f, "AVP {code}: value of {len} byte(s) has the wrong size")
            }
            Self::AvpPadding => f.write_str("AVP padding missing or trailing bytes"),
            Self::EapCode(c) => write!(f, "EAP code {c} unknown"),
            Self::EapType(t) => write!(f, "EAP type {t}, expected EAP-PSK (47)"),
            Self::ResultFlag => f.write_str("EAP-PSK R flag 0 is reserved"),
            Self::PskDirection { code, t } => {
                write!(f, "EAP-PSK message T={t} cannot travel in EAP code {code}")
            }
            Self::NoPChannel { t } => write!(f, "EAP-PSK message T={t} has no protected channel"),
            Self::TooLong(n) => write!(f, "{n} bytes do not fit a 16-bit length field"),
        }
    }
}

/// Reads `N` bytes at `at`, or a [`ErrorKind::Truncated`] error there.
pub(crate) fn take<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], Error> {
    buf.get(at..at + N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Error::new(
            at,
            ErrorKind::Truncated {
                needed: N,
                available: buf.len().saturating_sub(at),
            },
        ))
}

/// A length that must fit 16 bits, or [`ErrorKind::TooLong`].
pub(crate) fn len16(n: usize) -> Result<u16, Error> {
    u16::try_from(n).map_err(|_| Error::new(0, ErrorKind::TooLong(n)))
}
