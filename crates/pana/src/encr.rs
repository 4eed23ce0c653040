//! AVP encryption (RFC 6786) and the layer-2 group key we deliver with it.
//!
//! An Encryption-Encap AVP's value is the concatenation of whole AVPs (headers, values,
//! padding) encrypted with AES128_CTR (Encryption-Algorithm 1) under PANA_PAA_ENCR_KEY
//! ([`crate::keys::pana_paa_encr_key`]). CTR gives no integrity: the message carrying it
//! must carry an AUTH AVP (RFC 6786 §4), and a receiver verifies AUTH **before**
//! decrypting.
//!
//! **Counter block (ours, unverified; see docs/iot-route-link.md):** NIST SP 800-38C
//! Appendix A.3 counter blocks with n = 12, q = 3: `0x02 ‖ Key-Id (4) ‖ Session Identifier
//! (4) ‖ Sequence Number (4) ‖ i (3, big-endian)`, i from 1, all of the message that carries
//! the AVP, so no IV travels. We could not read RFC 6786's own text here; this is its §4.1
//! as the public pyPANA implementation quotes it in comments (nonce Key-Id | Session-ID |
//! Sequence Number, "n=12, q=3", flags 0x02, counter from 1; pyPANA's own code then drops
//! the flags byte). It never repeats under one key: the key changes with the Key-Id, and a
//! PAA never sends two different messages with one Sequence Number in a session.
//!
//! The group key rides inside as a vendor AVP ([`GroupKey`]), because no public AVP
//! carries a layer-2 key: the Wi-SUN HAN profile's is not public.

use alloc::vec::Vec;
use core::fmt;

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};

use crate::avp::Avp;
use crate::error::{take, Error, ErrorKind};
use crate::secret::Aes128Key;

/// Encryption-Algorithm AES128_CTR (RFC 6786 §5).
pub const AES128_CTR: u32 = 1;

/// The default Vendor-Id of our vendor AVPs (ours, a placeholder): 32473, the IANA
/// enterprise number reserved for documentation (RFC 5612), since the profile's own
/// vendor AVPs are not public. Every function here takes the Vendor-Id to use, so that a
/// deployment sets its own (`nodes::link::profile`).
pub const VENDOR_ID: u32 = 32473;
/// Our vendor AVP code of the group key (ours).
pub const GROUP_KEY_AVP: u16 = 1;
/// Our vendor AVP code of a key request (ours, empty value): in a PNR from the PaC whose
/// frame counter under the current group key nears its limit, asking the PAA to roll the
/// group key over (802.15.4 counters must never wrap; PANA has no message for this).
pub const KEY_REQUEST_AVP: u16 = 2;

/// The key request AVP under Vendor-Id `vendor`.
#[must_use]
pub const fn key_request(vendor: u32) -> Avp {
    Avp::Other {
        code: KEY_REQUEST_AVP,
        vendor: Some(vendor),
        value: Vec::new(),
    }
}

/// Whether `avp` is the key request under Vendor-Id `vendor`.
#[must_use]
pub fn is_key_request(avp: &Avp, vendor: u32) -> bool {
    matches!(
        avp,
        Avp::Other {
            code: KEY_REQUEST_AVP,
            vendor: Some(v),
            ..
        } if *v == vendor
    )
}

/// The first counter block; `Ctr32BE` then counts in its last 4 bytes, which equals the
/// 3-byte counter of SP 800-38C for any PANA message (< 2^12 blocks, never 2^24).
fn counter_block(key_id: u32, session_id: u32, seq: u32) -> [u8; 16] {
    let mut b = [0; 16];
    b[0] = 0x02; // flags: q - 1
    b[1..5].copy_from_slice(&key_id.to_be_bytes());
    b[5..9].copy_from_slice(&session_id.to_be_bytes());
    b[9..13].copy_from_slice(&seq.to_be_bytes());
    b[15] = 1;
    b
}

fn apply(key: &Aes128Key, key_id: u32, session_id: u32, seq: u32, data: &mut [u8]) {
    let iv = counter_block(key_id, session_id, seq);
    let mut c = ctr::Ctr32BE::<Aes128>::new(key.as_bytes().into(), (&iv).into());
    c.apply_keystream(data);
}

/// Where an Encryption-Encap AVP goes: the message's Key-Id, Session Identifier and
/// Sequence Number, which make its counter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncapContext {
    /// The Key-Id AVP value of the message.
    pub key_id: u32,
    /// The message's Session Identifier.
    pub session_id: u32,
    /// The message's Sequence Number.
    pub seq: u32,
}

/// An Encryption-Encap AVP holding `avps`, encrypted under `key`.
///
/// # Errors
/// [`ErrorKind::TooLong`] when an inner AVP does not fit its length field.
pub fn encrypt_avps(key: &Aes128Key, ctx: EncapContext, avps: &[Avp]) -> Result<Avp, Error> {
    let mut plain = Vec::new();
    for a in avps {
        a.emit(&mut plain)?;
    }
    apply(key, ctx.key_id, ctx.session_id, ctx.seq, &mut plain);
    Ok(Avp::EncryptionEncap(plain))
}

/// The AVPs of an Encryption-Encap value. Verify the message's AUTH AVP first: with a wrong
/// key or a tampered value this yields garbage or a parse error, never a detected forgery.
///
/// # Errors
/// [`Error`] when the decrypted bytes are not AVPs (offsets into the value).
pub fn decrypt_avps(key: &Aes128Key, ctx: EncapContext, value: &[u8]) -> Result<Vec<Avp>, Error> {
    let mut plain = value.to_vec();
    apply(key, ctx.key_id, ctx.session_id, ctx.seq, &mut plain);
    Avp::parse_all(&plain, 0)
}

/// The layer-2 (802.15.4 CCM*) group key the PAA hands to a PaC (ours): carried as our
/// vendor AVP inside an Encryption-Encap AVP in the final `PAR[C]`, and in a PNR for each
/// rollover.
///
/// Value (24 bytes): key index (1, never 0) ‖ flags (1: bit 0 = active) ‖ reserved (2) ‖
/// lifetime in seconds (4, big-endian; 0 = until replaced) ‖ key (16).
///
/// A key delivered inactive is installed for receiving only; the PaC sends with it once
/// a later delivery of the same index says active (the key-switch notice). The lifetime
/// tells the PaC when to expect a rollover, so it can re-authenticate if none comes.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupKey {
    /// The 802.15.4 Key Index (key identifier mode 1), 1-255.
    pub index: u8,
    /// Whether senders use this key from now on.
    pub active: bool,
    /// Seconds the key stays valid from delivery (0: until replaced).
    pub lifetime_s: u32,
    /// The AES-128 key.
    pub key: Aes128Key,
}

impl fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupKey")
            .field("index", &self.index)
            .field("active", &self.active)
            .field("lifetime_s", &self.lifetime_s)
            .field("key", &self.key)
            .finish()
    }
}

impl GroupKey {
    /// Value length.
    pub const LEN: usize = 24;
    const ACTIVE: u8 = 0x01;

    /// The vendor AVP under Vendor-Id `vendor`.
    #[must_use]
    pub fn to_avp(&self, vendor: u32) -> Avp {
        let mut v = Vec::with_capacity(Self::LEN);
        v.push(self.index);
        v.push(if self.active { Self::ACTIVE } else { 0 });
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&self.lifetime_s.to_be_bytes());
        v.extend_from_slice(self.key.as_bytes());
        Avp::Other {
            code: GROUP_KEY_AVP,
            vendor: Some(vendor),
            value: v,
        }
    }

    /// The group key of an AVP under Vendor-Id `vendor`, `None` when the AVP is another
    /// one.
    ///
    /// # Errors
    /// [`ErrorKind::AvpValueLength`] for a value of the wrong size, and the same for a key
    /// index of 0 (802.15.4 keeps index 0 out of use).
    pub fn from_avp(avp: &Avp, vendor: u32) -> Option<Result<Self, Error>> {
        match avp {
            Avp::Other {
                code: GROUP_KEY_AVP,
                vendor: Some(v),
                value,
            } if *v == vendor => Some(Self::parse(value)),
            _ => None,
        }
    }

    fn parse(v: &[u8]) -> Result<Self, Error> {
        let bad = Error::new(
            0,
            ErrorKind::AvpValueLength {
                code: GROUP_KEY_AVP,
                len: v.len(),
            },
        );
        if v.len() != Self::LEN || v[0] == 0 {
            return Err(bad);
        }
        Ok(Self {
            index: v[0],
            active: v[1] & Self::ACTIVE != 0,
            lifetime_s: u32::from_be_bytes(take::<4>(v, 4)?),
            key: Aes128Key::new(take::<16>(v, 8)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn gk() -> GroupKey {
        GroupKey {
            index: 2,
            active: true,
            lifetime_s: 86_400,
            key: Aes128Key::new([0x5A; 16]),
        }
    }

    #[test]
    fn sec03_group_key_round_trips_and_never_prints_the_key() {
        let a = gk().to_avp(VENDOR_ID);
        assert_eq!(GroupKey::from_avp(&a, VENDOR_ID).unwrap().unwrap(), gk());
        // Under another Vendor-Id it is not ours.
        assert!(GroupKey::from_avp(&a, 4).is_none());
        assert_eq!(
            GroupKey::from_avp(&gk().to_avp(4), 4).unwrap().unwrap(),
            gk()
        );
        assert!(!format!("{:?}", gk()).contains("5a"));
        assert!(!format!("{:?}", gk()).contains("90"));
        assert!(GroupKey::from_avp(&Avp::KeyId(1), VENDOR_ID).is_none());
    }

    #[test]
    fn sec03_the_key_request_survives_a_message_and_nothing_else_is_one() {
        use crate::message::{Flags, Message, MessageType};
        let m = Message::new(MessageType::Notification, Flags::REQUEST, 7, 9)
            .with(key_request(VENDOR_ID));
        let back = Message::parse(&m.emit().unwrap()).unwrap();
        assert!(back.avps.iter().any(|a| is_key_request(a, VENDOR_ID)));
        assert!(!back.avps.iter().any(|a| is_key_request(a, 4)));
        assert!(!is_key_request(
            &Avp::Other {
                code: KEY_REQUEST_AVP,
                vendor: None,
                value: Vec::new()
            },
            VENDOR_ID
        ));
        assert!(!is_key_request(
            &Avp::Other {
                code: GROUP_KEY_AVP,
                vendor: Some(VENDOR_ID),
                value: Vec::new()
            },
            VENDOR_ID
        ));
    }

    #[test]
    fn sec03_group_key_index_zero_and_bad_sizes_are_refused() {
        let mut g = gk().to_avp(VENDOR_ID);
        if let Avp::Other { value, .. } = &mut g {
            value[0] = 0;
        }
        assert!(GroupKey::from_avp(&g, VENDOR_ID).unwrap().is_err());
        let short = Avp::Other {
            code: GROUP_KEY_AVP,
            vendor: Some(VENDOR_ID),
            value: alloc::vec![1; 23],
        };
        assert!(GroupKey::from_avp(&short, VENDOR_ID).unwrap().is_err());
    }

    #[test]
    fn sec03_encryption_encap_round_trips_and_depends_on_the_counter_block() {
        let key = Aes128Key::new([7; 16]);
        let ctx = EncapContext {
            key_id: 1,
            session_id: 0x1234_5678,
            seq: 9,
        };
        let avps = [gk().to_avp(VENDOR_ID), Avp::SessionLifetime(3600)];
        let Avp::EncryptionEncap(v) = encrypt_avps(&key, ctx, &avps).unwrap() else {
            unreachable!()
        };
        assert_eq!(decrypt_avps(&key, ctx, &v).unwrap(), avps);
        let other = EncapContext { seq: 10, ..ctx };
        assert_ne!(decrypt_avps(&key, other, &v).ok(), Some(avps.to_vec()));
    }
}
