//! EAP-PSK cryptography (RFC 4764 §3-§5), as hostapd computes it:
//!
//! - key setup: `B = AES(PSK, 0¹²⁸)`, `AK = AES(PSK, B ⊕ 1)`, `KDK = AES(PSK, B ⊕ 2)`
//!   (⊕ on the last byte);
//! - derivation: `H = AES(KDK, RAND_P)`, `TEK = AES(KDK, H ⊕ 1)`, MSK = the blocks for
//!   counters 2-5, EMSK for 6-9;
//! - `MAC_P = CMAC(AK, ID_P ‖ ID_S ‖ RAND_S ‖ RAND_P)`, `MAC_S = CMAC(AK, ID_S ‖ RAND_P)`;
//! - the protected channel: AES-EAX under TEK with a 16-byte nonce of 12 zero bytes ‖ N
//!   (big-endian), the header being the first 22 bytes of the EAP packet (Code, Identifier,
//!   Length, Type, Flags, RAND_S), the plaintext the R flag byte and optional extension.
//!   The server's message 3 uses N = 0, the peer's message 4 N + 1 (§5.3, §5.4).

use alloc::vec::Vec;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac};
use eax::aead::AeadInPlace;
use eax::Eax;

use super::message::{PChannel, PskMessage};
use crate::error::{Error, ErrorKind};
use crate::failure::AuthFailure;
use crate::secret::{Ak, Emsk, Kdk, Msk, Psk, Tek};

fn aes(key: &[u8; 16], block: [u8; 16]) -> [u8; 16] {
    let mut b = block.into();
    Aes128::new(key.into()).encrypt_block(&mut b);
    b.into()
}

fn xor_last(mut b: [u8; 16], c: u8) -> [u8; 16] {
    b[15] ^= c;
    b
}

/// AK and KDK from the PSK (RFC 4764 §3.2).
#[must_use]
pub fn key_setup(psk: &Psk) -> (Ak, Kdk) {
    let b = aes(psk.as_bytes(), [0; 16]);
    (
        Ak::new(aes(psk.as_bytes(), xor_last(b, 1))),
        Kdk::new(aes(psk.as_bytes(), xor_last(b, 2))),
    )
}

/// The keys one EAP-PSK run derives (RFC 4764 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Keys the protected channel.
    pub tek: Tek,
    /// Exported to PANA.
    pub msk: Msk,
    /// Exported, unused by PANA.
    pub emsk: Emsk,
}

impl SessionKeys {
    /// TEK, MSK and EMSK from KDK and RAND_P.
    #[must_use]
    pub fn derive(kdk: &Kdk, rand_p: &[u8; 16]) -> Self {
        let k = kdk.as_bytes();
        let h = aes(k, *rand_p);
        let mut msk = [0; 64];
        let mut emsk = [0; 64];
        for (i, chunk) in msk.chunks_exact_mut(16).enumerate() {
            chunk.copy_from_slice(&aes(k, xor_last(h, 2 + i as u8)));
        }
        for (i, chunk) in emsk.chunks_exact_mut(16).enumerate() {
            chunk.copy_from_slice(&aes(k, xor_last(h, 6 + i as u8)));
        }
        Self {
            tek: Tek::new(aes(k, xor_last(h, 1))),
            msk: Msk::new(msk),
            emsk: Emsk::new(emsk),
        }
    }
}

fn cmac(ak: &Ak, parts: &[&[u8]]) -> Cmac<Aes128> {
    let mut m = <Cmac<Aes128> as KeyInit>::new(ak.as_bytes().into());
    for p in parts {
        m.update(p);
    }
    m
}

/// MAC_P = CMAC-AES-128(AK, ID_P ‖ ID_S ‖ RAND_S ‖ RAND_P).
#[must_use]
pub fn mac_p(ak: &Ak, id_p: &[u8], id_s: &[u8], rand_s: &[u8; 16], rand_p: &[u8; 16]) -> [u8; 16] {
    cmac(ak, &[id_p, id_s, rand_s, rand_p])
        .finalize()
        .into_bytes()
        .into()
}

/// MAC_S = CMAC-AES-128(AK, ID_S ‖ RAND_P).
#[must_use]
pub fn mac_s(ak: &Ak, id_s: &[u8], rand_p: &[u8; 16]) -> [u8; 16] {
    cmac(ak, &[id_s, rand_p]).finalize().into_bytes().into()
}

/// The server's check of message 2 (constant time).
///
/// # Errors
/// [`AuthFailure::MacPMismatch`]: the peer's PSK differs from ours (wrong password).
pub fn verify_mac_p(
    ak: &Ak,
    id_p: &[u8],
    id_s: &[u8],
    rand_s: &[u8; 16],
    rand_p: &[u8; 16],
    got: &[u8; 16],
) -> Result<(), AuthFailure> {
    cmac(ak, &[id_p, id_s, rand_s, rand_p])
        .verify_slice(got)
        .map_err(|_| AuthFailure::MacPMismatch)
}

/// The peer's check of message 3 (constant time).
///
/// # Errors
/// [`AuthFailure::MacSMismatch`]: the server does not hold our PSK.
pub fn verify_mac_s(
    ak: &Ak,
    id_s: &[u8],
    rand_p: &[u8; 16],
    got: &[u8; 16],
) -> Result<(), AuthFailure> {
    cmac(ak, &[id_s, rand_p])
        .verify_slice(got)
        .map_err(|_| AuthFailure::MacSMismatch)
}

/// The R flag: the sender's view of the outcome (RFC 4764 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultFlag {
    /// CONT (1): more protected-channel messages follow (no extension uses it).
    Cont,
    /// DONE_SUCCESS (2).
    DoneSuccess,
    /// DONE_FAILURE (3).
    DoneFailure,
}

/// An EAP-PSK extension (E flag set): EXT_Type ‖ EXT_Payload (RFC 4764 §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskExt {
    /// EXT_Type.
    pub ty: u8,
    /// EXT_Payload.
    pub payload: Vec<u8>,
}

/// The protected channel's plaintext: R (2 bits) ‖ E (1 bit) ‖ reserved (5 bits, zero)
/// [‖ EXT].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PChannelPlain {
    /// The outcome.
    pub result: ResultFlag,
    /// The extension when the E flag is set.
    pub ext: Option<PskExt>,
}

const E_FLAG: u8 = 0x20;

impl PChannelPlain {
    /// A result without extension.
    #[must_use]
    pub const fn done(result: ResultFlag) -> Self {
        Self { result, ext: None }
    }

    fn encode(&self) -> Vec<u8> {
        let r: u8 = match self.result {
            ResultFlag::Cont => 1,
            ResultFlag::DoneSuccess => 2,
            ResultFlag::DoneFailure => 3,
        };
        let mut v = alloc::vec![r << 6];
        if let Some(ext) = &self.ext {
            v[0] |= E_FLAG;
            v.push(ext.ty);
            v.extend_from_slice(&ext.payload);
        }
        v
    }

    fn decode(b: &[u8]) -> Result<Self, Error> {
        let [first] = crate::error::take::<1>(b, 0)?;
        let result = match first >> 6 {
            1 => ResultFlag::Cont,
            2 => ResultFlag::DoneSuccess,
            3 => ResultFlag::DoneFailure,
            _ => return Err(Error::new(0, ErrorKind::ResultFlag)),
        };
        let ext = if first & E_FLAG != 0 {
            let [ty] = crate::error::take::<1>(b, 1)?;
            Some(PskExt {
                ty,
                payload: b[2..].to_vec(),
            })
        } else {
            None
        };
        Ok(Self { result, ext })
    }
}

fn eax_nonce(n: u32) -> [u8; 16] {
    let mut nonce = [0; 16];
    nonce[12..].copy_from_slice(&n.to_be_bytes());
    nonce
}

/// Bytes of the EAP packet the EAX header covers.
const EAX_HEADER_LEN: usize = 22;

impl PskMessage {
    /// Message 3 with its protected channel sealed under TEK, as EAP packet bytes.
    ///
    /// # Errors
    /// [`ErrorKind::TooLong`] for an extension overflowing the EAP length.
    pub fn seal_third(
        id: u8,
        rand_s: [u8; 16],
        mac_s: [u8; 16],
        tek: &Tek,
        nonce: u32,
        plain: &PChannelPlain,
    ) -> Result<Vec<u8>, Error> {
        Self::seal(
            Self::Third {
                rand_s,
                mac_s,
                pchannel: placeholder(nonce, plain),
            },
            id,
            tek,
            plain,
        )
    }

    /// Message 4 with its protected channel sealed under TEK, as EAP packet bytes.
    ///
    /// # Errors
    /// [`ErrorKind::TooLong`] for an extension overflowing the EAP length.
    pub fn seal_fourth(
        id: u8,
        rand_s: [u8; 16],
        tek: &Tek,
        nonce: u32,
        plain: &PChannelPlain,
    ) -> Result<Vec<u8>, Error> {
        Self::seal(
            Self::Fourth {
                rand_s,
                pchannel: placeholder(nonce, plain),
            },
            id,
            tek,
            plain,
        )
    }

    /// Emits `msg` (whose PCHANNEL holds the plaintext and a zero tag), then encrypts the
    /// PCHANNEL in place with the packet's first 22 bytes as EAX header.
    fn seal(msg: Self, id: u8, tek: &Tek, plain: &PChannelPlain) -> Result<Vec<u8>, Error> {
        let nonce = match &msg {
            Self::Third { pchannel, .. } | Self::Fourth { pchannel, .. } => pchannel.nonce,
            _ => 0,
        };
        let mut bytes = msg.emit_eap(id)?;
        let plain_len = plain.encode().len();
        let split = bytes.len() - plain_len - 16;
        let (head, rest) = bytes.split_at_mut(split);
        let (tag_out, body) = rest.split_at_mut(16);
        let cipher = <Eax<Aes128> as KeyInit>::new(tek.as_bytes().into());
        let tag = cipher
            .encrypt_in_place_detached((&eax_nonce(nonce)).into(), &head[..EAX_HEADER_LEN], body)
            .map_err(|_| Error::new(0, ErrorKind::TooLong(plain_len)))?;
        tag_out.copy_from_slice(&tag);
        Ok(bytes)
    }

    /// Opens the protected channel of message 3 or 4 given as EAP packet bytes.
    ///
    /// # Errors
    /// [`AuthFailure::Malformed`] for a packet that is not message 3 or 4;
    /// [`AuthFailure::PChannelTag`] when the tag does not verify.
    pub fn open_pchannel(eap: &[u8], tek: &Tek) -> Result<(Self, PChannelPlain), AuthFailure> {
        let (_, msg) = Self::parse_eap(eap)?;
        let pchannel = match &msg {
            Self::Third { pchannel, .. } | Self::Fourth { pchannel, .. } => pchannel,
            _ => return Err(Error::new(5, ErrorKind::NoPChannel { t: msg.t() }).into()),
        };
        let mut body = pchannel.encrypted.clone();
        let cipher = <Eax<Aes128> as KeyInit>::new(tek.as_bytes().into());
        cipher
            .decrypt_in_place_detached(
                (&eax_nonce(pchannel.nonce)).into(),
                &eap[..EAX_HEADER_LEN],
                &mut body,
                (&pchannel.tag).into(),
            )
            .map_err(|_| AuthFailure::PChannelTag)?;
        let at = eap.len() - body.len();
        let plain = PChannelPlain::decode(&body).map_err(|e| e.shifted(at))?;
        Ok((msg, plain))
    }
}

fn placeholder(nonce: u32, plain: &PChannelPlain) -> PChannel {
    PChannel {
        nonce,
        tag: [0; 16],
        encrypted: plain.encode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn sec02_pchannel_extension_and_failure_results_round_trip() {
        let tek = Tek::new([0x33; 16]);
        for plain in [
            PChannelPlain::done(ResultFlag::DoneFailure),
            PChannelPlain {
                result: ResultFlag::Cont,
                ext: Some(PskExt {
                    ty: 7,
                    payload: vec![1, 2, 3],
                }),
            },
        ] {
            let m = PskMessage::seal_fourth(4, [9; 16], &tek, 1, &plain).unwrap();
            let (_, back) = PskMessage::open_pchannel(&m, &tek).unwrap();
            assert_eq!(back, plain);
        }
    }

    #[test]
    fn sec02_pchannel_r_flag_zero_is_malformed() {
        assert_eq!(
            PChannelPlain::decode(&[0x00]),
            Err(Error::new(0, ErrorKind::ResultFlag))
        );
        assert!(PChannelPlain::decode(&[]).is_err());
        // E set but no EXT_Type.
        assert!(PChannelPlain::decode(&[0x80 | E_FLAG]).is_err());
    }

    #[test]
    fn sec02_wrong_tek_fails_the_tag() {
        let ok = PChannelPlain::done(ResultFlag::DoneSuccess);
        let m = PskMessage::seal_third(2, [1; 16], [2; 16], &Tek::new([3; 16]), 0, &ok).unwrap();
        assert_eq!(
            PskMessage::open_pchannel(&m, &Tek::new([4; 16])).unwrap_err(),
            AuthFailure::PChannelTag
        );
    }
}
