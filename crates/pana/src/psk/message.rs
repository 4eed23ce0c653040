//! The four EAP-PSK messages (RFC 4764 §5), as the Type-Data of an EAP Request/Response
//! of type 47. The first byte is the Flags: T (bits 7-6) numbers the message 0-3, the
//! other six bits are reserved (sent as zero, ignored on receipt).
//!
//! | T | EAP code | after Flags |
//! |---|---|---|
//! | 0 | Request | RAND_S (16) ‖ ID_S |
//! | 1 | Response | RAND_S (16) ‖ RAND_P (16) ‖ MAC_P (16) ‖ ID_P |
//! | 2 | Request | RAND_S (16) ‖ MAC_S (16) ‖ PCHANNEL_S_0 |
//! | 3 | Response | RAND_S (16) ‖ PCHANNEL_P_1 |
//!
//! PCHANNEL = Nonce (4) ‖ Tag (16) ‖ encrypted (R flag byte [‖ EXT]), see
//! [`super::PChannelPlain`].

use alloc::vec::Vec;

use crate::eap::{Packet, TYPE_PSK};
use crate::error::{take, Error, ErrorKind};

/// Length of RAND_S, RAND_P, MAC_P, MAC_S and the EAX tag.
pub const RAND_LEN: usize = 16;

/// A protected channel as carried: nonce, EAX tag, ciphertext (at least the R flag byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PChannel {
    /// The 32-bit nonce N.
    pub nonce: u32,
    /// The EAX tag.
    pub tag: [u8; 16],
    /// The encrypted R flag byte and optional extension.
    pub encrypted: Vec<u8>,
}

impl PChannel {
    fn parse(b: &[u8], at: usize) -> Result<Self, Error> {
        let nonce = u32::from_be_bytes(take::<4>(b, at)?);
        let tag = take::<16>(b, at + 4)?;
        let encrypted = b[at + 20..].to_vec();
        if encrypted.is_empty() {
            return Err(Error::new(
                at + 20,
                ErrorKind::Truncated {
                    needed: 1,
                    available: 0,
                },
            ));
        }
        Ok(Self {
            nonce,
            tag,
            encrypted,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.tag);
        out.extend_from_slice(&self.encrypted);
    }
}

/// One EAP-PSK message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PskMessage {
    /// Message 1 (server → peer).
    First {
        /// The server's random.
        rand_s: [u8; 16],
        /// The server's identity.
        id_s: Vec<u8>,
    },
    /// Message 2 (peer → server).
    Second {
        /// RAND_S echoed.
        rand_s: [u8; 16],
        /// The peer's random.
        rand_p: [u8; 16],
        /// CMAC-AES(AK, ID_P ‖ ID_S ‖ RAND_S ‖ RAND_P).
        mac_p: [u8; 16],
        /// The peer's identity.
        id_p: Vec<u8>,
    },
    /// Message 3 (server → peer).
    Third {
        /// RAND_S.
        rand_s: [u8; 16],
        /// CMAC-AES(AK, ID_S ‖ RAND_P).
        mac_s: [u8; 16],
        /// The server's result, protected.
        pchannel: PChannel,
    },
    /// Message 4 (peer → server).
    Fourth {
        /// RAND_S.
        rand_s: [u8; 16],
        /// The peer's result, protected.
        pchannel: PChannel,
    },
}

impl PskMessage {
    /// The T flag (0-3).
    #[must_use]
    pub const fn t(&self) -> u8 {
        match self {
            Self::First { .. } => 0,
            Self::Second { .. } => 1,
            Self::Third { .. } => 2,
            Self::Fourth { .. } => 3,
        }
    }

    /// RAND_S, present in every message.
    #[must_use]
    pub const fn rand_s(&self) -> &[u8; 16] {
        match self {
            Self::First { rand_s, .. }
            | Self::Second { rand_s, .. }
            | Self::Third { rand_s, .. }
            | Self::Fourth { rand_s, .. } => rand_s,
        }
    }

    /// Parses the EAP packet `bytes` (offsets relative to it) into its Identifier and the
    /// EAP-PSK message.
    ///
    /// # Errors
    /// [`Error`] for a malformed packet, another EAP type, or a T flag that does not fit
    /// the code.
    pub fn parse_eap(bytes: &[u8]) -> Result<(u8, Self), Error> {
        let (code, id, ty) = match Packet::parse(bytes)? {
            Packet::Request { id, ty, .. } => (1, id, ty),
            Packet::Response { id, ty, .. } => (2, id, ty),
            Packet::Success { .. } => return Err(Error::new(0, ErrorKind::EapCode(3))),
            Packet::Failure { .. } => return Err(Error::new(0, ErrorKind::EapCode(4))),
        };
        if ty != TYPE_PSK {
            return Err(Error::new(4, ErrorKind::EapType(ty)));
        }
        let [flags] = take::<1>(bytes, 5)?;
        let t = flags >> 6;
        if (t % 2 == 0) != (code == 1) {
            return Err(Error::new(5, ErrorKind::PskDirection { code, t }));
        }
        let rand_s = take::<16>(bytes, 6)?;
        let msg = match t {
            0 => Self::First {
                rand_s,
                id_s: bytes[22..].to_vec(),
            },
            1 => Self::Second {
                rand_s,
                rand_p: take::<16>(bytes, 22)?,
                mac_p: take::<16>(bytes, 38)?,
                id_p: bytes.get(54..).unwrap_or_default().to_vec(),
            },
            2 => Self::Third {
                rand_s,
                mac_s: take::<16>(bytes, 22)?,
                pchannel: PChannel::parse(bytes, 38)?,
            },
            _ => Self::Fourth {
                rand_s,
                pchannel: PChannel::parse(bytes, 22)?,
            },
        };
        Ok((id, msg))
    }

    /// The EAP packet (Request for T = 0, 2; Response for T = 1, 3) with Identifier `id`.
    #[must_use]
    pub fn to_eap(&self, id: u8) -> Packet {
        let mut data = Vec::with_capacity(64);
        data.push(self.t() << 6);
        data.extend_from_slice(self.rand_s());
        match self {
            Self::First { id_s, .. } => data.extend_from_slice(id_s),
            Self::Second {
                rand_p,
                mac_p,
                id_p,
                ..
            } => {
                data.extend_from_slice(rand_p);
                data.extend_from_slice(mac_p);
                data.extend_from_slice(id_p);
            }
            Self::Third {
                mac_s, pchannel, ..
            } => {
                data.extend_from_slice(mac_s);
                pchannel.emit(&mut data);
            }
            Self::Fourth { pchannel, .. } => pchannel.emit(&mut data),
        }
        if self.t() % 2 == 0 {
            Packet::Request {
                id,
                ty: TYPE_PSK,
                data,
            }
        } else {
            Packet::Response {
                id,
                ty: TYPE_PSK,
                data,
            }
        }
    }

    /// The EAP packet's bytes.
    ///
    /// # Errors
    /// [`ErrorKind::TooLong`] for identities that overflow the EAP length.
    pub fn emit_eap(&self, id: u8) -> Result<Vec<u8>, Error> {
        self.to_eap(id).emit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn sec02_psk_first_message_layout() {
        let m = PskMessage::First {
            rand_s: [0xAA; 16],
            id_s: b"SM".to_vec(),
        };
        let b = m.emit_eap(1).unwrap();
        assert_eq!(&b[..6], [1, 1, 0, 24, 47, 0x00]);
        assert_eq!(&b[22..], b"SM");
        assert_eq!(PskMessage::parse_eap(&b).unwrap(), (1, m));
    }

    #[test]
    fn sec02_psk_errors_are_typed() {
        let m = PskMessage::Fourth {
            rand_s: [1; 16],
            pchannel: PChannel {
                nonce: 1,
                tag: [2; 16],
                encrypted: vec![3],
            },
        };
        let mut b = m.emit_eap(9).unwrap();
        assert_eq!(PskMessage::parse_eap(&b).unwrap(), (9, m));
        b[0] = 1; // a request carrying T = 3
        assert_eq!(
            PskMessage::parse_eap(&b).unwrap_err(),
            Error::new(5, ErrorKind::PskDirection { code: 1, t: 3 })
        );
        b[0] = 2;
        b[4] = 4;
        assert_eq!(
            PskMessage::parse_eap(&b).unwrap_err(),
            Error::new(4, ErrorKind::EapType(4))
        );
        // PCHANNEL without its R flag byte.
        let short = [2, 9, 0, 42, 47, 0xC0];
        let mut s = short.to_vec();
        s.resize(42, 0);
        assert_eq!(PskMessage::parse_eap(&s).unwrap_err().at, 42);
        assert_eq!(
            PskMessage::parse_eap(&[3, 1, 0, 4]).unwrap_err().kind,
            ErrorKind::EapCode(3)
        );
    }
}
