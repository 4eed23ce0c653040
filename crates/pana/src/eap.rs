//! EAP packets (RFC 3748 §4): Code (1) ‖ Identifier (1) ‖ Length (2, the whole packet) ‖
//! for Request/Response: Type (1) ‖ Type-Data. Success and Failure are 4 bytes.
//!
//! Inside PANA the EAP-Payload AVP holds exactly one packet, so [`Packet::parse`] requires
//! the Length field to equal the bytes given (RFC 3748 would let trailing link padding
//! follow; PANA's AVP length leaves none).

use alloc::vec::Vec;

use crate::error::{len16, take, Error, ErrorKind};

/// EAP method type of EAP-PSK (RFC 4764).
pub const TYPE_PSK: u8 = 47;
/// EAP method type Identity.
pub const TYPE_IDENTITY: u8 = 1;
/// Header length of a Request/Response including the Type byte.
pub const HEADER_LEN: usize = 5;

/// One EAP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Code 1.
    Request {
        /// Identifier.
        id: u8,
        /// Method type.
        ty: u8,
        /// Type-Data.
        data: Vec<u8>,
    },
    /// Code 2.
    Response {
        /// Identifier.
        id: u8,
        /// Method type.
        ty: u8,
        /// Type-Data.
        data: Vec<u8>,
    },
    /// Code 3.
    Success {
        /// Identifier.
        id: u8,
    },
    /// Code 4.
    Failure {
        /// Identifier.
        id: u8,
    },
}

impl Packet {
    /// Parses one packet (offsets relative to `bytes`).
    ///
    /// # Errors
    /// [`Error`] at the first fault.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let [code, id, l0, l1] = take::<4>(bytes, 0)?;
        let declared = usize::from(u16::from_be_bytes([l0, l1]));
        let length_error = Error::new(
            2,
            ErrorKind::Length {
                declared,
                actual: bytes.len(),
            },
        );
        if declared != bytes.len() {
            return Err(length_error);
        }
        match code {
            1 | 2 => {
                let [ty] = take::<1>(bytes, 4)?;
                let data = bytes[HEADER_LEN..].to_vec();
                Ok(if code == 1 {
                    Self::Request { id, ty, data }
                } else {
                    Self::Response { id, ty, data }
                })
            }
            3 | 4 if declared != 4 => Err(length_error),
            3 => Ok(Self::Success { id }),
            4 => Ok(Self::Failure { id }),
            c => Err(Error::new(0, ErrorKind::EapCode(c))),
        }
    }

    /// The Identifier.
    #[must_use]
    pub const fn id(&self) -> u8 {
        match self {
            Self::Request { id, .. }
            | Self::Response { id, .. }
            | Self::Success { id }
            | Self::Failure { id } => *id,
        }
    }

    /// The packet's bytes.
    ///
    /// # Errors
    /// [`ErrorKind::TooLong`] above 65535 bytes.
    pub fn emit(&self) -> Result<Vec<u8>, Error> {
        let (code, id, body) = match self {
            Self::Request { id, ty, data } => (1, *id, Some((*ty, data))),
            Self::Response { id, ty, data } => (2, *id, Some((*ty, data))),
            Self::Success { id } => (3, *id, None),
            Self::Failure { id } => (4, *id, None),
        };
        let len = len16(4 + body.map_or(0, |(_, d)| 1 + d.len()))?;
        let mut out = Vec::with_capacity(usize::from(len));
        out.push(code);
        out.push(id);
        out.extend_from_slice(&len.to_be_bytes());
        if let Some((ty, data)) = body {
            out.push(ty);
            out.extend_from_slice(data);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn sec02_eap_packets_round_trip() {
        for p in [
            Packet::Request {
                id: 1,
                ty: TYPE_PSK,
                data: vec![0, 1, 2],
            },
            Packet::Response {
                id: 200,
                ty: TYPE_IDENTITY,
                data: vec![],
            },
            Packet::Success { id: 3 },
            Packet::Failure { id: 4 },
        ] {
            assert_eq!(Packet::parse(&p.emit().unwrap()).unwrap(), p);
        }
        assert_eq!(Packet::Success { id: 7 }.emit().unwrap(), [3, 7, 0, 4]);
    }

    #[test]
    fn sec02_eap_errors_are_typed() {
        assert_eq!(
            Packet::parse(&[5, 1, 0, 4]).unwrap_err(),
            Error::new(0, ErrorKind::EapCode(5))
        );
        assert_eq!(Packet::parse(&[3, 1, 0, 5, 0]).unwrap_err().at, 2);
        assert_eq!(Packet::parse(&[1, 1, 0, 5]).unwrap_err().at, 2);
        assert!(matches!(
            Packet::parse(&[1, 1, 0, 4]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
    }
}
