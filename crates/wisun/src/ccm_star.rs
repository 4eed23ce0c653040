//! CCM* for IEEE 802.15.4 frames with AES-128 (SEC-03: encryption at layer 2 with a
//! NIST cipher), as 802.15.4-2015 §9.3 and Wireshark 4.0 define it:
//!
//! - nonce (13 bytes) = source EUI-64 (most significant byte first) ‖ frame counter
//!   (big-endian, unlike the little-endian field on the air) ‖ security level;
//! - `a` (authenticated) = the MAC header through the auxiliary security header and the
//!   Header IEs (with HT1/HT2);
//! - `m` (encrypted at levels 5-7) = Payload IEs and MAC payload, the command ID of a
//!   2015 command frame included (a 2003/2006 command frame keeps its command ID in
//!   `a`); at levels 1-3 `a` is the whole frame and `m` empty;
//! - output = header ‖ ciphertext ‖ MIC (4, 8 or 16 bytes); the FCS goes over that.
//!
//! Level 4 (encryption without MIC) is reserved since 802.15.4-2015 and level 0 gives
//! no protection: both refused, as are frame counter suppression and the ASN nonce
//! (TSCH only) and key index 0 (ours: indices start at 1, so a zeroed field never names
//! a key). Replay checking is `mac::counters`, after the MIC verified.

use aes::Aes128;
use alloc::vec::Vec;
use ccm::{
    aead::{
        generic_array::{ArrayLength, GenericArray},
        AeadInPlace, KeyInit,
    },
    consts::{U13, U16, U4, U8},
    Ccm, TagSize,
};

use crate::mac::{
    AuxSecurityHeader, Eui64, Frame, FrameError, FrameType, FrameVersion, Header, KeyIdentifier,
    SecuredFrame, SecurityLevel, MAX_PSDU_LEN,
};

/// An AES-128 link key.
pub type Key = [u8; 16];

/// The level we send by default (ours, SEC-03): ENC-MIC-32.
pub const DEFAULT_LEVEL: SecurityLevel = SecurityLevel::EncMic32;

/// Finds the key a received frame names.
pub trait KeyLookup {
    /// The key for `key_id` on a frame from `source`, if known.
    fn key(&self, key_id: &KeyIdentifier, source: Eui64) -> Option<Key>;
}

impl<F: Fn(&KeyIdentifier, Eui64) -> Option<Key>> KeyLookup for F {
    fn key(&self, key_id: &KeyIdentifier, source: Eui64) -> Option<Key> {
        self(key_id, source)
    }
}

/// Why a frame could not be secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecureError {
    /// The frame has no auxiliary security header.
    #[error("frame has no auxiliary security header")]
    NoSecurityHeader,
    /// A security policy refusal (level, key index, nonce options).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The source is not an extended address and none was given for the nonce.
    #[error("CCM* nonce needs the source EUI-64")]
    NoExtendedSource,
    /// The frame itself cannot be emitted.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Security headers we neither send nor accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Level 0 (no protection) or 4 (reserved since 2015, no MIC).
    #[error("security level {0:?} not allowed")]
    Level(SecurityLevel),
    /// Key index 0 (ours).
    #[error("key index 0 never names a key")]
    KeyIndexZero,
    /// Frame counter suppressed or ASN in nonce (TSCH features).
    #[error("frame counter suppression / ASN nonce not supported")]
    Nonce,
}

/// Why a received frame was not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Malformed bytes (before or after decryption), with the offset.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Security Enabled is 0.
    #[error("frame is not secured")]
    NotSecured,
    /// A security policy refusal.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The source is not an extended address and none was given for the nonce.
    #[error("CCM* nonce needs the source EUI-64")]
    NoExtendedSource,
    /// No key for this key identifier and source.
    #[error("no key for {0:?}")]
    UnknownKey(KeyIdentifier),
    /// The MIC does not verify: wrong key, or a forged or damaged frame.
    #[error("MIC check failed")]
    Mic,
}

/// A frame that passed CCM*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The frame in the clear (its header keeps the auxiliary security header).
    pub frame: Frame,
    /// The sender's EUI-64 (used in the nonce).
    pub source: Eui64,
    /// The frame counter, for `mac::counters::ReplayGuard`.
    pub frame_counter: u32,
}

/// Check a security header against our policy; returns the frame counter.
fn policy(sec: &AuxSecurityHeader) -> Result<u32, PolicyError> {
    if matches!(sec.level, SecurityLevel::None | SecurityLevel::Enc) {
        return Err(PolicyError::Level(sec.level));
    }
    if sec.key_id.index() == Some(0) {
        return Err(PolicyError::KeyIndexZero);
    }
    match sec.frame_counter {
        Some(fc) if !sec.asn_in_nonce => Ok(fc),
        _ => Err(PolicyError::Nonce),
    }
}

/// The 13-byte CCM* nonce.
#[must_use]
pub fn nonce(source: Eui64, frame_counter: u32, level: SecurityLevel) -> [u8; 13] {
    let mut n = [0; 13];
    n[..8].copy_from_slice(&source.0);
    n[8..12].copy_from_slice(&frame_counter.to_be_bytes());
    n[12] = level.bits();
    n
}

/// A key's check value: the first 8 bytes of AES-128 under the key of an all-zero
/// block (the usual key check value, longer so that two keys of a node's lifetime never
/// share one). It names a key where the key itself must not be written — the frame
/// counters a node persists per key (SEC-03) — and reveals nothing of it.
#[must_use]
pub fn key_check_value(key: &Key) -> [u8; 8] {
    use aes::cipher::{BlockEncrypt, KeyInit as _};
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let mut block = GenericArray::default();
    cipher.encrypt_block(&mut block);
    let mut kcv = [0; 8];
    kcv.copy_from_slice(&block[..8]);
    kcv
}

/// A MIC of up to 16 bytes and its length, without an allocation.
struct Mic {
    bytes: [u8; 16],
    len: usize,
}

impl Mic {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

fn seal<M: ArrayLength<u8> + TagSize>(
    key: &Key,
    nonce: &[u8; 13],
    a: &[u8],
    m: &mut [u8],
) -> Option<Mic> {
    let cipher = Ccm::<Aes128, M, U13>::new(&(*key).into());
    let tag = cipher
        .encrypt_in_place_detached(&(*nonce).into(), a, m)
        .ok()?;
    let mut mic = Mic {
        bytes: [0; 16],
        len: tag.len(),
    };
    mic.bytes.get_mut(..tag.len())?.copy_from_slice(&tag);
    Some(mic)
}

fn unseal<M: ArrayLength<u8> + TagSize>(
    key: &Key,
    nonce: &[u8; 13],
    a: &[u8],
    c: &mut [u8],
    mic: &[u8],
) -> bool {
    let cipher = Ccm::<Aes128, M, U13>::new(&(*key).into());
    let Some(mic) = GenericArray::<u8, M>::from_exact_iter(mic.iter().copied()) else {
        return false;
    };
    cipher
        .decrypt_in_place_detached(&(*nonce).into(), a, c, &mic)
        .is_ok()
}

/// The MIC over `a` (and `m`, encrypted in place when the level encrypts).
fn mic(level: SecurityLevel, key: &Key, nonce: &[u8; 13], a: &[u8], m: &mut [u8]) -> Option<Mic> {
    match level.mic_len() {
        4 => seal::<U4>(key, nonce, a, m),
        8 => seal::<U8>(key, nonce, a, m),
        _ => seal::<U16>(key, nonce, a, m),
    }
}

fn verify(
    level: SecurityLevel,
    key: &Key,
    nonce: &[u8; 13],
    a: &[u8],
    c: &mut [u8],
    tag: &[u8],
) -> bool {
    match level.mic_len() {
        4 => unseal::<U4>(key, nonce, a, c, tag),
        8 => unseal::<U8>(key, nonce, a, c, tag),
        _ => unseal::<U16>(key, nonce, a, c, tag),
    }
}

/// How many bytes after the header stay in the clear (authenticated only): all of them
/// at levels 1-3; at levels 5-7 the command ID of a 2003/2006 command frame, which those
/// versions keep outside the private payload (802.15.4-2006 §7.5.8.2.1; a 2015 frame
/// puts it after the Payload IEs, encrypted with them, as Wireshark reads it).
fn clear_len(header: &Header, level: SecurityLevel, body_len: usize) -> usize {
    if !level.encrypts() {
        body_len
    } else if header.frame_type == FrameType::Command && header.version < FrameVersion::V2015 {
        body_len.min(1)
    } else {
        0
    }
}

/// Secure a frame whose header carries the auxiliary security header, using its
/// extended source address in the nonce; returns the MPDU (add the FCS with
/// `mac::fcs::append`).
///
/// # Errors
/// [`SecureError`].
pub fn secure(frame: &Frame, key: &Key) -> Result<Vec<u8>, SecureError> {
    let source = frame
        .header
        .src_eui64()
        .ok_or(SecureError::NoExtendedSource)?;
    secure_with_source(frame, key, source)
}

/// As [`secure`] with the nonce's EUI-64 given (a frame sent from a short address).
///
/// # Errors
/// [`SecureError`].
pub fn secure_with_source(frame: &Frame, key: &Key, source: Eui64) -> Result<Vec<u8>, SecureError> {
    let sec = frame.header.security.ok_or(SecureError::NoSecurityHeader)?;
    let fc = policy(&sec)?;
    // Header, body and MIC in one allocation for the usual frame (header <= 64 bytes).
    let mut out = Vec::with_capacity(64 + frame.payload.len() + 16);
    frame.header.emit(&mut out)?;
    let header_len = out.len();
    frame.emit_body(&mut out)?;
    let len = out.len() + sec.level.mic_len();
    if len > MAX_PSDU_LEN {
        return Err(FrameError::TooLong { len }.into());
    }
    let n = nonce(source, fc, sec.level);
    let clear = clear_len(&frame.header, sec.level, out.len() - header_len);
    let (a, m) = out.split_at_mut(header_len + clear);
    let tag = mic(sec.level, key, &n, a, m).ok_or(FrameError::TooLong { len })?;
    out.extend_from_slice(tag.as_slice());
    Ok(out)
}

/// As [`secure`] for a frame the caller gives up: the MPDU is built in the payload's own
/// buffer (the header is written behind the payload and rotated to the front, the MIC
/// appended), so a payload allocated with room for the header, MIC and FCS costs no
/// second allocation and no copy into one. A frame with Payload IEs goes through
/// [`secure`].
///
/// # Errors
/// [`SecureError`], as [`secure`].
pub fn secure_owned(frame: Frame, key: &Key) -> Result<Vec<u8>, SecureError> {
    if !frame.payload_ies.is_empty() {
        return secure(&frame, key);
    }
    let source = frame
        .header
        .src_eui64()
        .ok_or(SecureError::NoExtendedSource)?;
    let sec = frame.header.security.ok_or(SecureError::NoSecurityHeader)?;
    let fc = policy(&sec)?;
    let Frame {
        header, payload, ..
    } = frame;
    let body_len = payload.len();
    let mut out = payload;
    // The checks in `secure`'s order, so that both refuse a frame alike.
    header.emit(&mut out)?;
    crate::mac::check_body_layout(&header, body_len == 0)?;
    let header_len = out.len() - body_len;
    out.rotate_right(header_len);
    let len = out.len() + sec.level.mic_len();
    if len > MAX_PSDU_LEN {
        return Err(FrameError::TooLong { len }.into());
    }
    let n = nonce(source, fc, sec.level);
    let clear = clear_len(&header, sec.level, body_len);
    let (a, m) = out.split_at_mut(header_len + clear);
    let tag = mic(sec.level, key, &n, a, m).ok_or(FrameError::TooLong { len })?;
    out.extend_from_slice(tag.as_slice());
    Ok(out)
}

/// Verify and decrypt a secured MPDU (FCS already stripped), using its extended source
/// address in the nonce.
///
/// # Errors
/// [`OpenError`].
pub fn open(mpdu: &[u8], keys: &impl KeyLookup) -> Result<Opened, OpenError> {
    open_inner(mpdu, None, keys)
}

/// As [`open`] with the nonce's EUI-64 given (a frame from a short address).
///
/// # Errors
/// [`OpenError`].
pub fn open_with_source(
    mpdu: &[u8],
    source: Eui64,
    keys: &impl KeyLookup,
) -> Result<Opened, OpenError> {
    open_inner(mpdu, Some(source), keys)
}

/// As [`open`] for an MPDU the caller has already split with
/// [`Mpdu::parse`](crate::mac::Mpdu::parse) (a
/// receiver looks at the header before security, for the addressing and the
/// acknowledgment): the header is not parsed again and the sealed bytes are decrypted in
/// the `Vec` that `secured` already holds, so the payload costs no further copy.
///
/// `secured` must be what `Mpdu::parse(mpdu)` returned: its header is used as it is.
/// When its sealed bytes are not `mpdu`'s tail, this falls back to [`open`].
///
/// # Errors
/// [`OpenError`], as [`open`].
pub fn open_parsed(
    mpdu: &[u8],
    secured: SecuredFrame,
    keys: &impl KeyLookup,
) -> Result<Opened, OpenError> {
    let SecuredFrame { header, sealed } = secured;
    match mpdu.len().checked_sub(sealed.len()) {
        Some(header_len)
            if mpdu.len() <= MAX_PSDU_LEN && mpdu.get(header_len..) == Some(&sealed[..]) =>
        {
            open_split(mpdu, header, header_len, Some(sealed), None, keys)
        }
        _ => open(mpdu, keys),
    }
}

fn open_inner(
    mpdu: &[u8],
    source: Option<Eui64>,
    keys: &impl KeyLookup,
) -> Result<Opened, OpenError> {
    // The header only: the sealed part is verified and decrypted straight from `mpdu`.
    if mpdu.len() > MAX_PSDU_LEN {
        return Err(FrameError::TooLong { len: mpdu.len() }.into());
    }
    let (header, header_len) = Header::parse(mpdu)?;
    open_split(mpdu, header, header_len, None, source, keys)
}

/// Open `mpdu` whose header, `header_len` bytes long, is `header`. `sealed`, when given,
/// holds a copy of the bytes after the header, decrypted in place.
fn open_split(
    mpdu: &[u8],
    header: Header,
    header_len: usize,
    sealed: Option<Vec<u8>>,
    source: Option<Eui64>,
    keys: &impl KeyLookup,
) -> Result<Opened, OpenError> {
    let Some(sec) = header.security else {
        return Err(OpenError::NotSecured);
    };
    let mic_len = sec.level.mic_len();
    let sealed_bytes = mpdu.get(header_len..).unwrap_or_default();
    let Some(body_len) = sealed_bytes.len().checked_sub(mic_len) else {
        return Err(FrameError::MicMissing {
            offset: header_len,
            mic_len,
        }
        .into());
    };
    let frame_counter = policy(&sec)?;
    let source = source
        .or_else(|| header.src_eui64())
        .ok_or(OpenError::NoExtendedSource)?;
    let key = keys
        .key(&sec.key_id, source)
        .ok_or(OpenError::UnknownKey(sec.key_id))?;
    let (body, tag) = sealed_bytes.split_at(body_len);
    let n = nonce(source, frame_counter, sec.level);
    let clear = clear_len(&header, sec.level, body_len);
    let a = mpdu.get(..header_len + clear).unwrap_or_default();
    let mut plain = match sealed {
        Some(mut v) => {
            v.truncate(body_len);
            v
        }
        None => body.to_vec(),
    };
    let ok = verify(
        sec.level,
        &key,
        &n,
        a,
        plain.get_mut(clear..).unwrap_or_default(),
        tag,
    );
    if !ok {
        return Err(OpenError::Mic);
    }
    let frame = Frame::parse_body_vec(header, plain, header_len)?;
    Ok(Opened {
        frame,
        source,
        frame_counter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec03_key_check_value_is_aes_of_the_zero_block() {
        // AES-128 of the zero block under the zero key: 66e94bd4ef8a2c3b884cfa59ca342b2e.
        assert_eq!(
            key_check_value(&[0; 16]),
            [0x66, 0xe9, 0x4b, 0xd4, 0xef, 0x8a, 0x2c, 0x3b]
        );
        assert_ne!(key_check_value(&[1; 16]), key_check_value(&[2; 16]));
    }
    use crate::mac::{Address, Mpdu};

    const KEY: Key = [7; 16];
    const SRC: Eui64 = Eui64([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);

    fn keys(id: &KeyIdentifier, _source: Eui64) -> Option<Key> {
        (id.index() == Some(1)).then_some(KEY)
    }

    fn secured_mpdu(level: SecurityLevel, payload: &[u8]) -> Vec<u8> {
        secure(&secured_frame(level, payload.to_vec()), &KEY).unwrap()
    }

    fn secured_frame(level: SecurityLevel, payload: Vec<u8>) -> Frame {
        let mut header = Header::new_2015(
            FrameType::Data,
            Some(9),
            (
                Some(0x1234),
                Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 1]))),
            ),
            (None, Some(Address::Extended(SRC))),
        )
        .unwrap();
        header.security = Some(AuxSecurityHeader::new(level, 77, 1));
        Frame {
            header,
            payload_ies: Vec::new(),
            payload,
        }
    }

    #[test]
    fn sec03_secure_owned_builds_the_mpdu_in_the_payload_buffer() {
        for level in [
            SecurityLevel::Mic32,
            SecurityLevel::EncMic32,
            SecurityLevel::EncMic128,
        ] {
            let mut payload = Vec::with_capacity(100 + 64);
            payload.extend((0..100u8).map(|b| b.wrapping_mul(7)));
            let at = payload.as_ptr();
            let frame = secured_frame(level, payload);
            let want = secure(&frame, &KEY).unwrap();
            let got = secure_owned(frame, &KEY).unwrap();
            assert_eq!(got, want, "{level:?}");
            assert_eq!(got.as_ptr(), at, "{level:?}: no second buffer");
            // Without room it still works (the buffer grows).
            let tight = secured_frame(level, (0..100u8).map(|b| b.wrapping_mul(7)).collect());
            assert_eq!(secure_owned(tight, &KEY).unwrap(), want);
        }
    }

    fn split(mpdu: &[u8]) -> SecuredFrame {
        match Mpdu::parse(mpdu).unwrap() {
            Mpdu::Secured(s) => s,
            Mpdu::Plain(_) => panic!("secured"),
        }
    }

    #[test]
    fn sec03_open_parsed_equals_open() {
        for level in [
            SecurityLevel::Mic32,
            SecurityLevel::EncMic32,
            SecurityLevel::EncMic64,
            SecurityLevel::EncMic128,
        ] {
            for len in [0, 1, 100] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mpdu = secured_mpdu(level, &payload);
                let opened = open_parsed(&mpdu, split(&mpdu), &keys).unwrap();
                assert_eq!(opened.frame.payload, payload);
                assert_eq!(Ok(opened), open(&mpdu, &keys));
                // Damaged: the same refusal as `open`.
                let mut bad = mpdu.clone();
                *bad.last_mut().unwrap() ^= 1;
                assert_eq!(open_parsed(&bad, split(&bad), &keys), Err(OpenError::Mic));
                let unknown = |_: &KeyIdentifier, _: Eui64| None;
                assert_eq!(
                    open_parsed(&mpdu, split(&mpdu), &unknown),
                    open(&mpdu, &unknown)
                );
            }
        }
    }

    #[test]
    fn sec03_open_parsed_of_another_mpdu_falls_back_to_open() {
        let a = secured_mpdu(SecurityLevel::EncMic32, b"first");
        let b = secured_mpdu(SecurityLevel::EncMic32, b"second frame");
        assert_eq!(open_parsed(&a, split(&b), &keys), open(&a, &keys));
        assert_eq!(
            open_parsed(&a, split(&b), &keys).unwrap().frame.payload,
            b"first"
        );
    }
}
