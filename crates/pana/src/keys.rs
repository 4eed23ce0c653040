//! PANA key derivation and message integrity (RFC 5191 §5.3, §8.1; RFC 6786 §3).
//!
//! `prf+` is IKEv2's (RFC 4306 §2.13): `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`.
//! Both PRFs RFC 5191 names are here: PRF_HMAC_SHA1 (2, mandatory to implement) and
//! PRF_HMAC_SHA2_256 (5, what we offer first); likewise the integrity algorithms
//! AUTH_HMAC_SHA1_160 (7) and AUTH_HMAC_SHA2_256_128 (12).

use alloc::vec::Vec;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::avp::{code, Avp, Avps};
use crate::error::Error;
use crate::failure::AuthFailure;
use crate::message::{Message, HEADER_LEN};
use crate::secret::{Aes128Key, AuthKey, Msk};

/// A PRF-Algorithm (IKEv2 PRF transform IDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2).
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
}

impl Prf {
    /// The PRF-Algorithm AVP value.
    #[must_use]
    pub const fn id(self) -> u32 {
        match self {
            Self::HmacSha1 => 2,
            Self::HmacSha256 => 5,
        }
    }

    /// The PRF for an AVP value.
    ///
    /// # Errors
    /// [`AuthFailure::Algorithm`] for a PRF we do not implement.
    pub const fn from_id(id: u32) -> Result<Self, AuthFailure> {
        match id {
            2 => Ok(Self::HmacSha1),
            5 => Ok(Self::HmacSha256),
            n => Err(AuthFailure::Algorithm(n)),
        }
    }

    fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC accepts keys of any length: this cannot fail.
            let mut m = <M as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| <M as hmac::digest::KeyInit>::new(&Default::default()));
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Self::HmacSha1 => run::<Hmac<Sha1>>(key, parts),
            Self::HmacSha256 => run::<Hmac<Sha256>>(key, parts),
        }
    }

    /// `prf+(key, seed)` truncated to `out.len()` bytes (at most 255 PRF blocks).
    pub fn prf_plus(self, key: &[u8], seed: &[u8], out: &mut [u8]) {
        let mut t: Vec<u8> = Vec::new();
        let mut n: u8 = 1;
        for chunk in out.chunks_mut(self.output_len()) {
            t = self.mac(key, &[&t, seed, &[n]]);
            chunk.copy_from_slice(&t[..chunk.len()]);
            n = n.wrapping_add(1);
        }
    }

    /// Bytes of one PRF output block.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
        }
    }
}

/// An Integrity-Algorithm (IKEv2 integrity transform IDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// AUTH_HMAC_SHA1_160 (7): 20-byte key, 20-byte AUTH.
    HmacSha1_160,
    /// AUTH_HMAC_SHA2_256_128 (12, RFC 4868): 32-byte key, AUTH truncated to 16 bytes.
    HmacSha256_128,
}

impl Integrity {
    /// The Integrity-Algorithm AVP value.
    #[must_use]
    pub const fn id(self) -> u32 {
        match self {
            Self::HmacSha1_160 => 7,
            Self::HmacSha256_128 => 12,
        }
    }

    /// The algorithm for an AVP value.
    ///
    /// # Errors
    /// [`AuthFailure::Algorithm`] for one we do not implement.
    pub const fn from_id(id: u32) -> Result<Self, AuthFailure> {
        match id {
            7 => Ok(Self::HmacSha1_160),
            12 => Ok(Self::HmacSha256_128),
            n => Err(AuthFailure::Algorithm(n)),
        }
    }

    /// Length of PANA_AUTH_KEY for this algorithm (its HMAC key length).
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha1_160 => 20,
            Self::HmacSha256_128 => 32,
        }
    }

    /// Length of the AUTH AVP value.
    #[must_use]
    pub const fn auth_len(self) -> usize {
        match self {
            Self::HmacSha1_160 => 20,
            Self::HmacSha256_128 => 16,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let prf = match self {
            Self::HmacSha1_160 => Prf::HmacSha1,
            Self::HmacSha256_128 => Prf::HmacSha256,
        };
        let mut t = prf.mac(key, &[data]);
        t.truncate(self.auth_len());
        t
    }
}

/// The inputs RFC 5191 §5.3 and RFC 6786 §3 feed to prf+ after the label.
#[derive(Debug, Clone, Copy)]
pub struct Seed<'a> {
    /// I_PAR: the first PANA-Auth-Request of the session (S flag), as sent.
    pub i_par: &'a [u8],
    /// I_PAN: the answer to it, as sent.
    pub i_pan: &'a [u8],
    /// The Nonce AVP value the PaC sent.
    pub pac_nonce: &'a [u8],
    /// The Nonce AVP value the PAA sent.
    pub paa_nonce: &'a [u8],
    /// The Key-Id AVP value naming the MSK.
    pub key_id: u32,
}

impl Seed<'_> {
    fn bytes(&self, label: &[u8]) -> Vec<u8> {
        let mut s = Vec::with_capacity(
            label.len()
                + self.i_par.len()
                + self.i_pan.len()
                + self.pac_nonce.len()
                + self.paa_nonce.len()
                + 4,
        );
        for part in [
            label,
            self.i_par,
            self.i_pan,
            self.pac_nonce,
            self.paa_nonce,
        ] {
            s.extend_from_slice(part);
        }
        s.extend_from_slice(&self.key_id.to_be_bytes());
        s
    }
}

/// PANA_AUTH_KEY = prf+(MSK, "IETF PANA" | I_PAR | I_PAN | PaC_nonce | PAA_nonce | Key_ID),
/// as long as the integrity algorithm's key.
#[must_use]
pub fn pana_auth_key(prf: Prf, integrity: Integrity, msk: &Msk, seed: &Seed<'_>) -> AuthKey {
    let mut k = alloc::vec![0; integrity.key_len()];
    prf.prf_plus(msk.as_bytes(), &seed.bytes(b"IETF PANA"), &mut k);
    AuthKey::from_vec(k)
}

/// PANA_PAA_ENCR_KEY = prf+(MSK, "IETF PANA PAA Encr" | I_PAR | I_PAN | PaC_nonce |
/// PAA_nonce | Key_ID), 16 bytes for AES128_CTR (RFC 6786 §3): what the PAA encrypts
/// Encryption-Encap AVPs with.
#[must_use]
pub fn pana_paa_encr_key(prf: Prf, msk: &Msk, seed: &Seed<'_>) -> Aes128Key {
    let mut k = [0; 16];
    prf.prf_plus(msk.as_bytes(), &seed.bytes(b"IETF PANA PAA Encr"), &mut k);
    Aes128Key::new(k)
}

/// Offset and length of the first AUTH AVP's value in `datagram`, if any.
fn auth_value_range(datagram: &[u8]) -> Result<Option<(usize, usize)>, Error> {
    let avps = datagram.get(HEADER_LEN..).unwrap_or_default();
    for raw in Avps::new(avps, HEADER_LEN) {
        let raw = raw?;
        if raw.code == code::AUTH && raw.vendor.is_none() {
            return Ok(Some((raw.value_at, raw.value.len())));
        }
    }
    Ok(None)
}

/// Fills the AUTH AVP of an emitted message (whose AUTH value is present, any content,
/// of the algorithm's length) with HMAC(PANA_AUTH_KEY, message with AUTH zeroed).
///
/// # Errors
/// [`AuthFailure::AuthAvpMissing`] without an AUTH AVP of the right length;
/// [`AuthFailure::Malformed`] for bytes that are not AVPs.
pub fn seal(datagram: &mut [u8], integrity: Integrity, key: &AuthKey) -> Result<(), AuthFailure> {
    let (at, len) = auth_value_range(datagram)?.ok_or(AuthFailure::AuthAvpMissing)?;
    if len != integrity.auth_len() {
        return Err(AuthFailure::AuthAvpMissing);
    }
    datagram[at..at + len].fill(0);
    let tag = integrity.hmac(key.as_bytes(), datagram);
    datagram[at..at + len].copy_from_slice(&tag);
    Ok(())
}

/// Verifies the AUTH AVP of a received datagram.
///
/// # Errors
/// [`AuthFailure::AuthAvpMissing`] without one, [`AuthFailure::AuthAvpMismatch`] when it
/// does not verify (compared in constant time).
pub fn verify(datagram: &[u8], integrity: Integrity, key: &AuthKey) -> Result<(), AuthFailure> {
    let (at, len) = auth_value_range(datagram)?.ok_or(AuthFailure::AuthAvpMissing)?;
    let mut copy = datagram.to_vec();
    copy[at..at + len].fill(0);
    let tag = integrity.hmac(key.as_bytes(), &copy);
    if crate::secret::ct_eq(&tag, &datagram[at..at + len]) {
        Ok(())
    } else {
        Err(AuthFailure::AuthAvpMismatch)
    }
}

/// The datagram of `msg` with an AUTH AVP appended last and sealed: how every message
/// after EAP success leaves (RFC 5191 §5.3).
///
/// # Errors
/// [`AuthFailure::Malformed`] when the message does not fit its length field.
pub fn emit_sealed(
    msg: &Message,
    integrity: Integrity,
    key: &AuthKey,
) -> Result<Vec<u8>, AuthFailure> {
    let mut m = msg.clone();
    m.avps.push(Avp::Auth(alloc::vec![0; integrity.auth_len()]));
    let mut datagram = m.emit()?;
    seal(&mut datagram, integrity, key)?;
    Ok(datagram)
}

/// The message of a received datagram whose AUTH AVP verifies: nothing of an
/// unauthenticated message reaches the caller.
///
/// # Errors
/// [`AuthFailure::Malformed`], [`AuthFailure::AuthAvpMissing`] or
/// [`AuthFailure::AuthAvpMismatch`].
pub fn parse_verified(
    datagram: &[u8],
    integrity: Integrity,
    key: &AuthKey,
) -> Result<Message, AuthFailure> {
    let m = Message::parse(datagram)?;
    verify(datagram, integrity, key)?;
    Ok(m)
}
