//! Any UDP datagram on port 716 (SEC-02): PANA parsing must never panic, an accepted
//! message must re-emit to bytes that parse to the same message, and the AUTH check and
//! Encryption-Encap decryption must fail cleanly on whatever the datagram holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pana::avp::Avp;
use pana::encr::{decrypt_avps, EncapContext, GroupKey};
use pana::keys::{self, Integrity, Prf, Seed};
use pana::secret::{Aes128Key, Msk};
use pana::Message;

fuzz_target!(|data: &[u8]| {
    let m = match Message::parse(data) {
        Ok(m) => m,
        Err(e) => {
            assert!(
                e.offset() <= data.len(),
                "offset {} past the datagram",
                e.offset()
            );
            return;
        }
    };
    let again = Message::parse(&m.emit().expect("re-emit")).expect("re-parse");
    assert_eq!(again, m, "re-emitted message parses differently");

    let seed = Seed {
        i_par: data,
        i_pan: &[],
        pac_nonce: &[],
        paa_nonce: &[],
        key_id: 1,
    };
    let key = keys::pana_auth_key(
        Prf::HmacSha256,
        Integrity::HmacSha256_128,
        &Msk::new([7; 64]),
        &seed,
    );
    let _ = keys::verify(data, Integrity::HmacSha256_128, &key);
    let ctx = EncapContext {
        key_id: m.key_id().unwrap_or(0),
        session_id: m.session_id,
        seq: m.seq,
    };
    for a in &m.avps {
        if let Avp::EncryptionEncap(v) = a {
            if let Ok(inner) = decrypt_avps(&Aes128Key::new([9; 16]), ctx, v) {
                inner.iter().for_each(|a| drop(GroupKey::from_avp(a, pana::encr::VENDOR_ID)));
            }
        }
    }
});
