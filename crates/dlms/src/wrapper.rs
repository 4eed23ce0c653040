//! RAD-01 (DLMS/COSEM messages over UDP): the DLMS wrapper (IEC 62056-4-7, Green Book
//! 7.3.3.4), the 8-byte header that carries an APDU over UDP (port 4059) or TCP: version
//! (always 1), source wPort, destination wPort, APDU length, all big-endian.
//!
//! Over UDP one datagram is one frame, so [`Wpdu::parse`] requires the declared length
//! to match the datagram exactly: a shorter or longer datagram is a framing error, not
//! something to repair.

use dlms_cosem_rs::codec::Encode as _;

/// The wrapper version this crate speaks (the only one defined).
pub const VERSION: u16 = 1;
/// The IANA port for DLMS/COSEM over UDP and TCP.
pub const DEFAULT_PORT: u16 = 4059;
/// Header length in bytes.
pub const HEADER_LEN: usize = 8;

/// Why a datagram is not a wrapper frame. Offsets are into the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WrapperError {
    /// Fewer than eight bytes.
    #[error("byte {len}: wrapper header truncated ({len} of 8 bytes)")]
    ShortHeader {
        /// Bytes present.
        len: usize,
    },
    /// A version other than 1 (offset 0).
    #[error("byte 0: wrapper version {0}, expected 1")]
    Version(u16),
    /// The length field (offset 6) does not match the bytes that follow the header.
    #[error("byte 6: wrapper length {declared} but {actual} byte(s) follow the header")]
    Length {
        /// The length field.
        declared: u16,
        /// Bytes actually after the header.
        actual: usize,
    },
    /// An APDU longer than the 16-bit length field can announce.
    #[error("APDU of {0} bytes does not fit the wrapper's 16-bit length")]
    TooLong(usize),
}

impl WrapperError {
    /// The byte offset in the datagram the error refers to.
    #[must_use]
    pub const fn offset(&self) -> usize {
        match self {
            Self::ShortHeader { len } => *len,
            Self::Version(_) | Self::TooLong(_) => 0,
            Self::Length { .. } => 6,
        }
    }
}

/// One wrapper frame, borrowing its APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wpdu<'a> {
    /// Source wPort (client SAP, e.g. 16 public, 1 management; server 1).
    pub source: u16,
    /// Destination wPort.
    pub destination: u16,
    /// The APDU.
    pub apdu: &'a [u8],
}

impl<'a> Wpdu<'a> {
    /// A frame from `source` to `destination` carrying `apdu`.
    #[must_use]
    pub const fn new(source: u16, destination: u16, apdu: &'a [u8]) -> Self {
        Self {
            source,
            destination,
            apdu,
        }
    }

    /// Parse one datagram; the length field must account for every byte after the
    /// header.
    ///
    /// # Errors
    /// [`WrapperError`] with its offset.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, WrapperError> {
        use dlms_cosem_rs::codec::Decode as _;
        use dlms_cosem_rs::transport::wrapper::Header;
        if datagram.len() < HEADER_LEN {
            return Err(WrapperError::ShortHeader {
                len: datagram.len(),
            });
        }
        let version = u16::from_be_bytes([datagram[0], datagram[1]]);
        if version != VERSION {
            return Err(WrapperError::Version(version));
        }
        let header = Header::decode(&mut dlms_cosem_rs::Reader::new(datagram)).map_err(|_| {
            WrapperError::ShortHeader {
                len: datagram.len(),
            }
        })?;
        let apdu = &datagram[HEADER_LEN..];
        if usize::from(header.length) != apdu.len() {
            return Err(WrapperError::Length {
                declared: header.length,
                actual: apdu.len(),
            });
        }
        Ok(Self {
            source: header.source,
            destination: header.destination,
            apdu,
        })
    }

    /// True when `bytes` starts like a wrapper frame whose length matches: what the
    /// translator uses to tell a frame from a bare APDU (no APDU tag is `00`).
    #[must_use]
    pub fn looks_like_frame(bytes: &[u8]) -> bool {
        bytes.len() >= HEADER_LEN && bytes[0] == 0 && bytes[1] == 1
    }

    /// The datagram.
    ///
    /// # Errors
    /// [`WrapperError::TooLong`] for an APDU above 65535 bytes.
    pub fn emit(&self) -> Result<Vec<u8>, WrapperError> {
        let w =
            dlms_cosem_rs::transport::wrapper::Wpdu::new(self.source, self.destination, self.apdu)
                .map_err(|_| WrapperError::TooLong(self.apdu.len()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + self.apdu.len());
        w.encode(&mut out)
            .map_err(|_| WrapperError::TooLong(self.apdu.len()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_frame_layout() {
        let f = Wpdu::new(0x10, 0x01, &[0xC0, 0x01, 0xC1]).emit().unwrap();
        assert_eq!(f, [0, 1, 0, 0x10, 0, 1, 0, 3, 0xC0, 0x01, 0xC1]);
        assert_eq!(
            Wpdu::parse(&f).unwrap(),
            Wpdu::new(0x10, 0x01, &[0xC0, 0x01, 0xC1])
        );
    }

    #[test]
    fn rad01_framing_errors_are_typed() {
        assert_eq!(
            Wpdu::parse(&[0, 1, 0]),
            Err(WrapperError::ShortHeader { len: 3 })
        );
        assert_eq!(
            Wpdu::parse(&[0, 2, 0, 1, 0, 1, 0, 0]),
            Err(WrapperError::Version(2))
        );
        let e = Wpdu::parse(&[0, 1, 0, 1, 0, 1, 0, 2, 0xC0]).unwrap_err();
        assert_eq!(
            e,
            WrapperError::Length {
                declared: 2,
                actual: 1
            }
        );
        assert_eq!(e.offset(), 6);
        assert!(Wpdu::parse(&[0, 1, 0, 1, 0, 1, 0, 0, 0xC0]).is_err());
        assert_eq!(
            Wpdu::new(1, 1, &vec![0; 70_000]).emit(),
            Err(WrapperError::TooLong(70_000))
        );
    }
}
