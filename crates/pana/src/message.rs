//! PANA messages (RFC 5191 §6): a 16-byte header, Reserved (2) ‖ Message Length (2, the
//! whole message) ‖ Flags (2) ‖ Message Type (2) ‖ Session Identifier (4) ‖ Sequence
//! Number (4), all big-endian, then AVPs.
//!
//! Over UDP one datagram is one message, so [`Message::parse`] requires the Message Length
//! to equal the datagram's length: anything else is a framing error, not something to
//! repair. The Reserved field is ignored on receipt and sent as zero (RFC 5191 §6.2).

use alloc::vec::Vec;

use crate::avp::Avp;
use crate::error::{len16, take, Error, ErrorKind};

/// The IANA UDP port of PANA.
pub const UDP_PORT: u16 = 716;
/// PANA header length.
pub const HEADER_LEN: usize = 16;

/// The header flags (RFC 5191 §6.2), kept as the 16 bits received so that reserved bits
/// survive a re-emit and a state machine can see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// R: request (answer when clear).
    pub const REQUEST: Self = Self(0x8000);
    /// S: start of an authentication.
    pub const START: Self = Self(0x4000);
    /// C: completion of an authentication.
    pub const COMPLETE: Self = Self(0x2000);
    /// A: re-authentication.
    pub const REAUTH: Self = Self(0x1000);
    /// P: ping (liveness test).
    pub const PING: Self = Self(0x0800);
    /// I: IP reconfiguration.
    pub const IP_RECONFIG: Self = Self(0x0400);
    /// No flag set.
    pub const NONE: Self = Self(0);

    /// Whether every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two flag sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the R flag is set.
    #[must_use]
    pub const fn is_request(self) -> bool {
        self.contains(Self::REQUEST)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.with(rhs)
    }
}

/// PANA message types (IANA "PANA Message Types"); the R flag tells request from answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// PANA-Client-Initiation (PCI).
    ClientInitiation,
    /// PANA-Auth-Request / -Answer (PAR/PAN).
    Auth,
    /// PANA-Termination-Request / -Answer (PTR/PTA).
    Termination,
    /// PANA-Notification-Request / -Answer (PNR/PNA).
    Notification,
    /// PANA-Relay (PRY, RFC 6345).
    Relay,
}

impl MessageType {
    /// The type's number.
    #[must_use]
    pub const fn number(self) -> u16 {
        match self {
            Self::ClientInitiation => 1,
            Self::Auth => 2,
            Self::Termination => 3,
            Self::Notification => 4,
            Self::Relay => 5,
        }
    }

    /// The type for a number, if it is one of 1-5.
    #[must_use]
    pub const fn from_number(n: u16) -> Option<Self> {
        Some(match n {
            1 => Self::ClientInitiation,
            2 => Self::Auth,
            3 => Self::Termination,
            4 => Self::Notification,
            5 => Self::Relay,
            _ => return None,
        })
    }
}

/// One PANA message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Header flags.
    pub flags: Flags,
    /// Message type.
    pub kind: MessageType,
    /// Session Identifier (0 in a PCI).
    pub session_id: u32,
    /// Sequence Number.
    pub seq: u32,
    /// The AVPs, in order.
    pub avps: Vec<Avp>,
}

impl Message {
    /// A message without AVPs.
    #[must_use]
    pub const fn new(kind: MessageType, flags: Flags, session_id: u32, seq: u32) -> Self {
        Self {
            flags,
            kind,
            session_id,
            seq,
            avps: Vec::new(),
        }
    }

    /// The same message with `avp` appended.
    #[must_use]
    pub fn with(mut self, avp: Avp) -> Self {
        self.avps.push(avp);
        self
    }

    /// Parses one datagram.
    ///
    /// # Errors
    /// [`Error`] with the offset of the first fault.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let h = take::<HEADER_LEN>(datagram, 0)?;
        let declared = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if declared != datagram.len() || declared < HEADER_LEN {
            return Err(Error::new(
                2,
                ErrorKind::Length {
                    declared,
                    actual: datagram.len(),
                },
            ));
        }
        let ty = u16::from_be_bytes([h[6], h[7]]);
        let kind = MessageType::from_number(ty).ok_or(Error::new(6, ErrorKind::MessageType(ty)))?;
        Ok(Self {
            flags: Flags(u16::from_be_bytes([h[4], h[5]])),
            kind,
            session_id: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            seq: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            avps: Avp::parse_all(&datagram[HEADER_LEN..], HEADER_LEN)?,
        })
    }

    /// Bytes the message takes on the wire.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.avps.iter().map(Avp::wire_len).sum::<usize>()
    }

    /// The datagram.
    ///
    /// # Errors
    /// [`ErrorKind::TooLong`] when the message exceeds 65535 bytes.
    pub fn emit(&self) -> Result<Vec<u8>, Error> {
        let len = len16(self.wire_len())?;
        let mut out = Vec::with_capacity(usize::from(len));
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.flags.0.to_be_bytes());
        out.extend_from_slice(&self.kind.number().to_be_bytes());
        out.extend_from_slice(&self.session_id.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        for a in &self.avps {
            a.emit(&mut out)?;
        }
        Ok(out)
    }

    /// The first AVP with `code` (vendor AVPs excluded).
    #[must_use]
    pub fn avp(&self, code: u16) -> Option<&Avp> {
        self.avps.iter().find(|a| {
            a.code() == code
                && !matches!(
                    a,
                    Avp::Other {
                        vendor: Some(_),
                        ..
                    }
                )
        })
    }

    /// The EAP packet carried, if any.
    #[must_use]
    pub fn eap_payload(&self) -> Option<&[u8]> {
        self.avps.iter().find_map(|a| match a {
            Avp::EapPayload(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    /// The Nonce AVP's value, if any.
    #[must_use]
    pub fn nonce(&self) -> Option<&[u8]> {
        self.avps.iter().find_map(|a| match a {
            Avp::Nonce(v) => Some(v.as_slice()),
            _ => None,
        })
    }

    /// The Key-Id AVP's value, if any.
    #[must_use]
    pub fn key_id(&self) -> Option<u32> {
        self.avps.iter().find_map(|a| match a {
            Avp::KeyId(k) => Some(*k),
            _ => None,
        })
    }

    /// The Result-Code AVP's value, if any.
    #[must_use]
    pub fn result_code(&self) -> Option<u32> {
        self.avps.iter().find_map(|a| match a {
            Avp::ResultCode(k) => Some(*k),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The `PAR[S]` of the spec notes' `mkpana.py` (pana_230.pcap): PRF-Algorithm 5,
    /// Integrity-Algorithm 12.
    const PAR_START: [u8; 40] = [
        0, 0, 0, 40, 0xC0, 0, 0, 2, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, //
        0, 6, 0, 0, 0, 4, 0, 0, 0, 0, 0, 5, //
        0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 12,
    ];

    #[test]
    fn sec02_parses_the_spec_notes_par_start() {
        let m = Message::parse(&PAR_START).unwrap();
        assert_eq!(
            m,
            Message::new(
                MessageType::Auth,
                Flags::REQUEST | Flags::START,
                0x1234_5678,
                1
            )
            .with(Avp::PrfAlgorithm(5))
            .with(Avp::IntegrityAlgorithm(12))
        );
        assert_eq!(m.emit().unwrap(), PAR_START);
    }

    #[test]
    fn sec02_pci_is_a_bare_header() {
        let pci = Message::new(MessageType::ClientInitiation, Flags::NONE, 0, 0);
        assert_eq!(
            pci.emit().unwrap(),
            [0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn sec02_message_framing_errors_are_typed() {
        let mut long = PAR_START.to_vec();
        long.push(0);
        let e = Message::parse(&long).unwrap_err();
        assert_eq!(e.at, 2);
        assert_eq!(
            e.kind,
            ErrorKind::Length {
                declared: 40,
                actual: 41
            }
        );
        let mut bad = PAR_START;
        bad[7] = 9;
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            Error::new(6, ErrorKind::MessageType(9))
        );
        assert!(matches!(
            Message::parse(&PAR_START[..10]).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
        let big = Message::new(MessageType::Auth, Flags::NONE, 1, 1)
            .with(Avp::EapPayload(vec![0; 65_530]));
        assert!(matches!(
            big.emit().unwrap_err().kind,
            ErrorKind::TooLong(_)
        ));
    }
}
