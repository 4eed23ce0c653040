//! PANA AVPs (RFC 5191 §8, RFC 6786 §3): Code (2) ‖ Flags (2, V = 0x8000: a Vendor-Id
//! follows) ‖ Length (2, **of the value only**) ‖ Reserved (2) ‖ [Vendor-Id (4)] ‖ Value,
//! padded with zeros to a multiple of 4.
//!
//! The AVPs PANA and RFC 6786 define are typed; every other AVP (vendor AVPs, codes 10
//! and 11, future codes) is kept opaque so that a message re-emits byte for byte. PANA has
//! no "mandatory" AVP flag (RFC 5191 dropped Diameter's M bit): a receiver ignores AVPs it
//! does not know, which is what keeping them opaque allows the state machines to do.
//! Reserved flag bits, the Reserved field and the padding bytes are ignored on receipt and
//! sent as zero (RFC 5191 §8.1).

use alloc::vec::Vec;

use crate::error::{take, Error, ErrorKind};

/// The V (vendor) flag.
pub const FLAG_VENDOR: u16 = 0x8000;
/// AVP header length without a Vendor-Id.
pub const HEADER_LEN: usize = 8;

/// AVP codes (IANA "PANA AVP Codes").
pub mod code {
    /// AUTH (RFC 5191 §8.1): the message's integrity tag.
    pub const AUTH: u16 = 1;
    /// EAP-Payload: one EAP packet.
    pub const EAP_PAYLOAD: u16 = 2;
    /// Integrity-Algorithm (IKEv2 integrity transform ID).
    pub const INTEGRITY_ALGORITHM: u16 = 3;
    /// Key-Id: names the MSK in use.
    pub const KEY_ID: u16 = 4;
    /// Nonce: PaC_nonce / PAA_nonce for key derivation.
    pub const NONCE: u16 = 5;
    /// PRF-Algorithm (IKEv2 PRF transform ID).
    pub const PRF_ALGORITHM: u16 = 6;
    /// Result-Code.
    pub const RESULT_CODE: u16 = 7;
    /// Session-Lifetime, seconds.
    pub const SESSION_LIFETIME: u16 = 8;
    /// Termination-Cause.
    pub const TERMINATION_CAUSE: u16 = 9;
    /// Encryption-Encap (RFC 6786): encrypted AVPs.
    pub const ENCRYPTION_ENCAP: u16 = 12;
    /// Encryption-Algorithm (RFC 6786).
    pub const ENCRYPTION_ALGORITHM: u16 = 13;
}

/// Result-Code values (RFC 5191 §8.7).
pub mod result_code {
    /// PANA_SUCCESS.
    pub const SUCCESS: u32 = 0;
    /// PANA_AUTHENTICATION_REJECTED: EAP failed.
    pub const AUTHENTICATION_REJECTED: u32 = 1;
    /// PANA_AUTHORIZATION_REJECTED: EAP succeeded, access refused.
    pub const AUTHORIZATION_REJECTED: u32 = 2;
}

/// Termination-Cause values (RFC 5191 §8.9, Diameter's codes).
pub mod termination_cause {
    /// LOGOUT: the PaC leaves.
    pub const LOGOUT: u32 = 1;
    /// ADMINISTRATIVE: the PAA removes the PaC.
    pub const ADMINISTRATIVE: u32 = 4;
    /// SESSION_TIMEOUT: the session lifetime ran out.
    pub const SESSION_TIMEOUT: u32 = 8;
}

/// One AVP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Avp {
    /// AUTH: HMAC over the message (length set by the integrity algorithm).
    Auth(Vec<u8>),
    /// EAP-Payload: the EAP packet's bytes (parse with [`crate::eap::Packet::parse`]).
    EapPayload(Vec<u8>),
    /// Integrity-Algorithm.
    IntegrityAlgorithm(u32),
    /// Key-Id.
    KeyId(u32),
    /// Nonce.
    Nonce(Vec<u8>),
    /// PRF-Algorithm.
    PrfAlgorithm(u32),
    /// Result-Code (see [`result_code`]).
    ResultCode(u32),
    /// Session-Lifetime in seconds.
    SessionLifetime(u32),
    /// Termination-Cause (see [`termination_cause`]).
    TerminationCause(u32),
    /// Encryption-Encap: AVPs encrypted with PANA_PAA/PAC_ENCR_KEY ([`crate::encr`]).
    EncryptionEncap(Vec<u8>),
    /// Encryption-Algorithm.
    EncryptionAlgorithm(u32),
    /// Any other AVP, vendor-specific or not, kept as received.
    Other {
        /// The AVP code.
        code: u16,
        /// The Vendor-Id when the V flag is set.
        vendor: Option<u32>,
        /// The value.
        value: Vec<u8>,
    },
}

/// One AVP as it sits in a buffer, before typing: what [`Avps`] yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAvp<'a> {
    /// Offset of the AVP header in the buffer iterated.
    pub at: usize,
    /// The AVP code.
    pub code: u16,
    /// The Vendor-Id when the V flag is set.
    pub vendor: Option<u32>,
    /// Offset of the value in the buffer iterated.
    pub value_at: usize,
    /// The value (without padding).
    pub value: &'a [u8],
}

/// Iterator over the AVPs of a buffer (a PANA message's AVP area, or a decrypted
/// Encryption-Encap value); stops after the first error.
#[derive(Debug, Clone)]
pub struct Avps<'a> {
    buf: &'a [u8],
    at: usize,
    base: usize,
    failed: bool,
}

impl<'a> Avps<'a> {
    /// AVPs of `buf`, reporting offsets as `base + offset in buf`.
    #[must_use]
    pub const fn new(buf: &'a [u8], base: usize) -> Self {
        Self {
            buf,
            at: 0,
            base,
            failed: false,
        }
    }

    fn next_raw(&mut self) -> Result<RawAvp<'a>, Error> {
        let start = self.at;
        let [c0, c1, f0, f1, l0, l1, _, _] = take::<HEADER_LEN>(self.buf, start)?;
        let code = u16::from_be_bytes([c0, c1]);
        let flags = u16::from_be_bytes([f0, f1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let mut value_at = start + HEADER_LEN;
        let vendor = if flags & FLAG_VENDOR != 0 {
            let v = u32::from_be_bytes(take::<4>(self.buf, value_at)?);
            value_at += 4;
            Some(v)
        } else {
            None
        };
        let value = self.buf.get(value_at..value_at + len).ok_or(Error::new(
            start + 4,
            ErrorKind::Length {
                declared: len,
                actual: self.buf.len().saturating_sub(value_at),
            },
        ))?;
        let end = value_at + len + padding(len);
        if end > self.buf.len() {
            return Err(Error::new(value_at + len, ErrorKind::AvpPadding));
        }
        self.at = end;
        Ok(RawAvp {
            at: start,
            code,
            vendor,
            value_at,
            value,
        })
    }
}

impl<'a> Iterator for Avps<'a> {
    type Item = Result<RawAvp<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.buf.len() {
            return None;
        }
        let r = self.next_raw().map_err(|e| e.shifted(self.base));
        self.failed = r.is_err();
        Some(r.map(|mut a| {
            a.at += self.base;
            a.value_at += self.base;
            a
        }))
    }
}

/// Zero bytes after a value of `len` bytes.
#[must_use]
pub const fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn u32_value(raw: &RawAvp<'_>) -> Result<u32, Error> {
    <[u8; 4]>::try_from(raw.value)
        .map(u32::from_be_bytes)
        .map_err(|_| {
            Error::new(
                raw.at + 4,
                ErrorKind::AvpValueLength {
                    code: raw.code,
                    len: raw.value.len(),
                },
            )
        })
}

impl Avp {
    /// Types one raw AVP. Vendor AVPs are never the IETF ones, whatever their code.
    ///
    /// # Errors
    /// [`ErrorKind::AvpValueLength`] for an Unsigned32 AVP whose value is not 4 bytes.
    pub fn from_raw(raw: &RawAvp<'_>) -> Result<Self, Error> {
        let v = raw.value.to_vec();
        if raw.vendor.is_some() {
            return Ok(Self::Other {
                code: raw.code,
                vendor: raw.vendor,
                value: v,
            });
        }
        Ok(match raw.code {
            code::AUTH => Self::Auth(v),
            code::EAP_PAYLOAD => Self::EapPayload(v),
            code::INTEGRITY_ALGORITHM => Self::IntegrityAlgorithm(u32_value(raw)?),
            code::KEY_ID => Self::KeyId(u32_value(raw)?),
            code::NONCE => Self::Nonce(v),
            code::PRF_ALGORITHM => Self::PrfAlgorithm(u32_value(raw)?),
            code::RESULT_CODE => Self::ResultCode(u32_value(raw)?),
            code::SESSION_LIFETIME => Self::SessionLifetime(u32_value(raw)?),
            code::TERMINATION_CAUSE => Self::TerminationCause(u32_value(raw)?),
            code::ENCRYPTION_ENCAP => Self::EncryptionEncap(v),
            code::ENCRYPTION_ALGORITHM => Self::EncryptionAlgorithm(u32_value(raw)?),
            code => Self::Other {
                code,
                vendor: None,
                value: v,
            },
        })
    }

    /// Parses every AVP of `buf` (offsets reported from `base`).
    ///
    /// # Errors
    /// The first malformed AVP.
    pub fn parse_all(buf: &[u8], base: usize) -> Result<Vec<Self>, Error> {
        Avps::new(buf, base)
            .map(|r| r.and_then(|raw| Self::from_raw(&raw)))
            .collect()
    }

    /// The AVP code.
    #[must_use]
    pub const fn code(&self) -> u16 {
        match self {
            Self::Auth(_) => code::AUTH,
            Self::EapPayload(_) => code::EAP_PAYLOAD,
            Self::IntegrityAlgorithm(_) => code::INTEGRITY_ALGORITHM,
            Self::KeyId(_) => code::KEY_ID,
            Self::Nonce(_) => code::NONCE,
            Self::PrfAlgorithm(_) => code::PRF_ALGORITHM,
            Self::ResultCode(_) => code::RESULT_CODE,
            Self::SessionLifetime(_) => code::SESSION_LIFETIME,
            Self::TerminationCause(_) => code::TERMINATION_CAUSE,
            Self::EncryptionEncap(_) => code::ENCRYPTION_ENCAP,
            Self::EncryptionAlgorithm(_) => code::ENCRYPTION_ALGORITHM,
            Self::Other { code, .. } => *code,
        }
    }

    fn vendor(&self) -> Option<u32> {
        match self {
            Self::Other { vendor, .. } => *vendor,
            _ => None,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            Self::Auth(v) | Self::EapPayload(v) | Self::Nonce(v) | Self::EncryptionEncap(v) => {
                v.len()
            }
            Self::Other { value, .. } => value.len(),
            _ => 4,
        }
    }

    /// Bytes this AVP takes on the wire, padding included.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        let v = self.value_len();
        HEADER_LEN + if self.vendor().is_some() { 4 } else { 0 } + v + padding(v)
    }

    /// Appends the AVP (header, value, padding) to `out`.
    ///
    /// # Errors
    /// [`ErrorKind::TooLong`] for a value above 65535 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let len = crate::error::len16(self.value_len())?;
        let flags = if self.vendor().is_some() {
            FLAG_VENDOR
        } else {
            0
        };
        out.extend_from_slice(&self.code().to_be_bytes());
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        if let Some(v) = self.vendor() {
            out.extend_from_slice(&v.to_be_bytes());
        }
        match self {
            Self::Auth(v) | Self::EapPayload(v) | Self::Nonce(v) | Self::EncryptionEncap(v) => {
                out.extend_from_slice(v);
            }
            Self::Other { value, .. } => out.extend_from_slice(value),
            Self::IntegrityAlgorithm(n)
            | Self::KeyId(n)
            | Self::PrfAlgorithm(n)
            | Self::ResultCode(n)
            | Self::SessionLifetime(n)
            | Self::TerminationCause(n)
            | Self::EncryptionAlgorithm(n) => out.extend_from_slice(&n.to_be_bytes()),
        }
        out.resize(out.len() + padding(usize::from(len)), 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn sec02_avp_layout_value_length_excludes_header_and_padding() {
        let mut out = Vec::new();
        Avp::Nonce(vec![1, 2, 3, 4, 5]).emit(&mut out).unwrap();
        assert_eq!(out, [0, 5, 0, 0, 0, 5, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(
            Avp::parse_all(&out, 0).unwrap(),
            vec![Avp::Nonce(vec![1, 2, 3, 4, 5])]
        );
    }

    #[test]
    fn sec02_vendor_avp_carries_its_vendor_id_and_stays_opaque() {
        let a = Avp::Other {
            code: 1,
            vendor: Some(32473),
            value: vec![9; 6],
        };
        let mut out = Vec::new();
        a.emit(&mut out).unwrap();
        assert_eq!(&out[..12], [0, 1, 0x80, 0, 0, 6, 0, 0, 0, 0, 0x7E, 0xD9]);
        assert_eq!(out.len(), a.wire_len());
        assert_eq!(Avp::parse_all(&out, 0).unwrap(), vec![a]);
    }

    #[test]
    fn sec02_avp_errors_are_typed_with_offsets() {
        // Key-Id with a 3-byte value.
        let bad = [0, 4, 0, 0, 0, 3, 0, 0, 1, 2, 3, 0];
        let e = Avp::parse_all(&bad, 16).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AvpValueLength { code: 4, len: 3 });
        assert_eq!(e.at, 20);
        // Value longer than the buffer.
        let e = Avp::parse_all(&[0, 5, 0, 0, 0, 9, 0, 0, 1], 0).unwrap_err();
        assert_eq!(e.at, 4);
        // Missing padding after a 1-byte value.
        let e = Avp::parse_all(&[0, 5, 0, 0, 0, 1, 0, 0, 1], 0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AvpPadding);
        // Trailing bytes that are not an AVP.
        let e = Avp::parse_all(&[0, 5, 0], 0).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
    }
}
