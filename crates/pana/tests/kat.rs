//! Known-answer tests (SEC-02): EAP-PSK key setup and derivation, MAC_P / MAC_S, the
//! AES-EAX protected channel of messages 3 and 4, prf+ with both PRFs, PANA_AUTH_KEY and
//! the AUTH AVP, PANA_PAA_ENCR_KEY and the Encryption-Encap AVP, our PSK derivation.
//!
//! The expected values were computed once, independently of this crate, by
//! `tests/vectors/gen_kat.py` (Python `cryptography` for AES and AES-CMAC, the standard
//! library for HMAC and SHA, AES-EAX written there from its definition and checked against
//! the EAX paper's vector). Re-run it to re-derive every constant below.

use pana::avp::Avp;
use pana::encr::{decrypt_avps, encrypt_avps, EncapContext, GroupKey, VENDOR_ID};
use pana::keys::{self, Integrity, Prf, Seed};
use pana::psk::{
    key_setup, mac_p, mac_s, verify_mac_p, PChannelPlain, PskDerivation, PskMessage, ResultFlag,
    SaltedSha256, SessionKeys,
};
use pana::secret::{Aes128Key, Psk};
use pana::{AuthFailure, Flags, Message, MessageType};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

const AK: &str = "18b62d2c84c5e4571afc41a29db71f4d";
const KDK: &str = "97b704350085028363924612565b9b0d";
const TEK: &str = "4a60ff36b8435790bfc64569b677d613";
const MSK: &str = "3d57fffaa740360b2b43888b4ce41fa529e312778f8229003bb5bc14b27d6d2d881186b8ae4d7c0ad958f78c47a6fa2b548f4f4a046f44e6ab57a80eb60c7fda";
const EMSK: &str = "6ece6f68c11f4478a3727a47b40e2a44b5b16a1a8c37f76222ed64675796671cf1310d5eef048aab68da1fa507338efe0a1915ec9d1bfae0f591fc058cd9fc14";
const MAC_P: &str = "54538f6a86aad12965a5cc68b7314cf9";
const MAC_S: &str = "b698d298ff3b40a12deb46ad3dc1b5fc";
const PSK3: &str = "0103003b2f80202122232425262728292a2b2c2d2e2fb698d298ff3b40a12deb46ad3dc1b5fc00000000fdb6fe2551b59730582134ac06adbc73a7";
const PSK4: &str =
    "0203002b2fc0202122232425262728292a2b2c2d2e2f000000017be408fecc8bec285307a927fbcda2a664";
const PRF_PLUS_SHA256: &str = "a2392e429a99b173341b368bb5ce320bfd483d89567c14ec187c2d77e3c0a208ba45d21d42611712996c0cd4b329ac8681e093a8a5bbbbf0fb8c9d1cf674f7423fe3d2fbd6641ff544749daa37804f04";
const PRF_PLUS_SHA1: &str = "0a4dd4d286ae93c5e1d24f24f3756216b533dd67ad15d19cef25f483bcc5300fd5487404a2c5000664d807a67dba048c69ac226939eb01a5b44c634ad5b79dcd667a4120a8eab5b472d4316d27b4059b";
const AUTH_KEY: &str = "95f88adcb169e545d8e560eda9fd30da2a95c1de466d1c219e2241e601f74625";
const PAA_ENCR_KEY: &str = "26139419e6a28490d7c153258c1a183d";
const PAN_COMPLETE: &str = "0000003420000002123456780000000500040000000400000000000100010000001000009f00cae3b83cef4d70281d94d7c50851";
const GROUP_KEY_AVP: &str =
    "000180000018000000007ed902010000000151805a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const ENCAP: &str = "2c7766918b79dfe4fb34be2cdc8c93b65e01a0508900e96f6d2379293a01813c3f99ad55";
const SALTED_PSK: &str = "84611d99b78729f0e6e48d55ebbd819b";

const ID_P: &[u8] = b"0211223344550001";
const ID_S: &[u8] = b"0211223344550002";

fn psk() -> Psk {
    Psk::new(arr("000102030405060708090a0b0c0d0e0f"))
}
fn rand_p() -> [u8; 16] {
    arr("101112131415161718191a1b1c1d1e1f")
}
fn rand_s() -> [u8; 16] {
    arr("202122232425262728292a2b2c2d2e2f")
}

#[test]
fn sec02_eap_psk_key_setup_and_derivation_known_answers() {
    let (ak, kdk) = key_setup(&psk());
    assert_eq!(ak.as_bytes().to_vec(), hex(AK));
    assert_eq!(kdk.as_bytes().to_vec(), hex(KDK));
    let keys = SessionKeys::derive(&kdk, &rand_p());
    assert_eq!(keys.tek.as_bytes().to_vec(), hex(TEK));
    assert_eq!(keys.msk.as_bytes().to_vec(), hex(MSK));
    assert_eq!(keys.emsk.as_bytes().to_vec(), hex(EMSK));
}

#[test]
fn sec02_eap_psk_mac_p_mac_s_known_answers() {
    let (ak, _) = key_setup(&psk());
    let mp = mac_p(&ak, ID_P, ID_S, &rand_s(), &rand_p());
    assert_eq!(mp.to_vec(), hex(MAC_P));
    assert_eq!(mac_s(&ak, ID_S, &rand_p()).to_vec(), hex(MAC_S));
    assert_eq!(
        verify_mac_p(&ak, ID_P, ID_S, &rand_s(), &rand_p(), &mp),
        Ok(())
    );
}

#[test]
fn sec02_eap_psk_pchannel_eax_known_answers() {
    let tek = pana::secret::Tek::new(arr(TEK));
    let ok = PChannelPlain::done(ResultFlag::DoneSuccess);
    let m3 = PskMessage::seal_third(3, rand_s(), arr(MAC_S), &tek, 0, &ok).unwrap();
    assert_eq!(m3, hex(PSK3));
    let m4 = PskMessage::seal_fourth(3, rand_s(), &tek, 1, &ok).unwrap();
    assert_eq!(m4, hex(PSK4));
    let (msg, plain) = PskMessage::open_pchannel(&m4, &tek).unwrap();
    assert_eq!(plain, ok);
    assert!(matches!(msg, PskMessage::Fourth { pchannel, .. } if pchannel.nonce == 1));
    // Message 1 has no protected channel to open.
    let first = PskMessage::First {
        rand_s: rand_s(),
        id_s: ID_S.to_vec(),
    }
    .emit_eap(1)
    .unwrap();
    assert!(matches!(
        PskMessage::open_pchannel(&first, &tek),
        Err(AuthFailure::Malformed(e)) if e.kind == pana::ErrorKind::NoPChannel { t: 0 }
    ));
    // A flipped header byte (the Identifier) fails the tag: the header is authenticated.
    let mut tampered = m3.clone();
    tampered[1] ^= 1;
    assert_eq!(
        PskMessage::open_pchannel(&tampered, &tek).unwrap_err(),
        AuthFailure::PChannelTag
    );
}

#[test]
fn sec02_prf_plus_known_answers_both_prfs() {
    let mut out = [0; 80];
    Prf::HmacSha256.prf_plus(b"key", b"seed", &mut out);
    assert_eq!(out.to_vec(), hex(PRF_PLUS_SHA256));
    Prf::HmacSha1.prf_plus(b"key", b"seed", &mut out);
    assert_eq!(out.to_vec(), hex(PRF_PLUS_SHA1));
}

fn seed_parts() -> (Vec<u8>, Vec<u8>) {
    (
        hex("0000001cc00000021234567800000001"),
        hex("00000010400000021234567800000001"),
    )
}

#[test]
fn sec02_pana_auth_key_auth_avp_and_encr_key_known_answers() {
    let (i_par, i_pan) = seed_parts();
    let seed = Seed {
        i_par: &i_par,
        i_pan: &i_pan,
        pac_nonce: &[0xA1; 16],
        paa_nonce: &[0xB2; 16],
        key_id: 1,
    };
    let msk = pana::secret::Msk::new(arr(MSK));
    let auth_key = keys::pana_auth_key(Prf::HmacSha256, Integrity::HmacSha256_128, &msk, &seed);
    assert_eq!(auth_key.as_bytes(), hex(AUTH_KEY));
    let encr = keys::pana_paa_encr_key(Prf::HmacSha256, &msk, &seed);
    assert_eq!(encr.as_bytes().to_vec(), hex(PAA_ENCR_KEY));

    let mut pan = Message::new(MessageType::Auth, Flags::COMPLETE, 0x1234_5678, 5)
        .with(Avp::KeyId(1))
        .with(Avp::Auth(vec![0; 16]))
        .emit()
        .unwrap();
    keys::seal(&mut pan, Integrity::HmacSha256_128, &auth_key).unwrap();
    assert_eq!(pan, hex(PAN_COMPLETE));
    assert_eq!(
        keys::verify(&pan, Integrity::HmacSha256_128, &auth_key),
        Ok(())
    );
}

#[test]
fn sec03_encryption_encap_known_answer() {
    let key = Aes128Key::new(arr(PAA_ENCR_KEY));
    let gk = GroupKey {
        index: 2,
        active: true,
        lifetime_s: 86_400,
        key: Aes128Key::new([0x5A; 16]),
    };
    let mut plain = Vec::new();
    gk.to_avp(VENDOR_ID).emit(&mut plain).unwrap();
    assert_eq!(plain, hex(GROUP_KEY_AVP));
    let ctx = EncapContext {
        key_id: 1,
        session_id: 0x1234_5678,
        seq: 7,
    };
    let encap = encrypt_avps(&key, ctx, &[gk.to_avp(VENDOR_ID)]).unwrap();
    assert_eq!(encap, Avp::EncryptionEncap(hex(ENCAP)));
    let back = decrypt_avps(&key, ctx, &hex(ENCAP)).unwrap();
    assert_eq!(
        GroupKey::from_avp(&back[0], VENDOR_ID).unwrap().unwrap(),
        gk
    );
}

#[test]
fn sec02_salted_psk_derivation_known_answer() {
    assert_eq!(
        SaltedSha256
            .derive(ID_P, b"0123456789AB")
            .as_bytes()
            .to_vec(),
        hex(SALTED_PSK)
    );
}

/// RFC 4493 §4, example 2 (AES-CMAC of one block) and the EAX paper's first vector:
/// the RustCrypto primitives we build on, pinned.
#[test]
fn sec02_rustcrypto_cmac_and_eax_published_vectors() {
    use aes::Aes128;
    use cmac::{Cmac, Mac};
    use eax::aead::{AeadInPlace, KeyInit};
    let mut m =
        <Cmac<Aes128> as Mac>::new_from_slice(&hex("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
    m.update(&hex("6bc1bee22e409f96e93d7e117393172a"));
    assert_eq!(
        m.finalize().into_bytes().to_vec(),
        hex("070a16b46b4d4144f79bdd9dd04a287c")
    );
    let eax = eax::Eax::<Aes128>::new_from_slice(&hex("233952DEE4D5ED5F9B9C6D6FF80FF478")).unwrap();
    let tag = eax
        .encrypt_in_place_detached(
            hex("62EC67F9C3A4A407FCB2A8C49031A8B3").as_slice().into(),
            &hex("6BFB914FD07EAE6B"),
            &mut [],
        )
        .unwrap();
    assert_eq!(tag.to_vec(), hex("E037830E8389F27B025A2D6527E79D01"));
}
