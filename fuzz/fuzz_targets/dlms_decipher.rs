//! Ciphered APDUs under suite 0 with fixed keys (SEC-02): opening arbitrary bytes must
//! never panic (only a typed error), and a plaintext sealed with our encipher must open
//! to itself while a single flipped bit anywhere in the sealed APDU must not open to it.
#![no_main]

use dlms::cipher::{self, CipherForm, Keys, Protections, SystemTitle};
use libfuzzer_sys::fuzz_target;

const TITLE: SystemTitle = cipher::GREEN_BOOK_SERVER_TITLE;

fuzz_target!(|data: &[u8]| {
    let keys = Keys::GREEN_BOOK;
    let _ = cipher::decipher(data, &keys, Some(TITLE));
    let _ = cipher::decipher(data, &keys, None);

    // Round trip: first byte chooses form and protection, the rest is a GET-Response body.
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let form = if sel & 1 == 0 { CipherForm::Glo } else { CipherForm::GeneralGlo };
    let prot = match (sel >> 1) % 3 {
        0 => Protections::Auth,
        1 => Protections::Enc,
        _ => Protections::AuthEnc,
    };
    let mut plain = vec![0xC4, 0x01, 0xC1, 0x00, 0x09];
    plain.push(u8::try_from(rest.len().min(127)).unwrap_or(0));
    plain.extend_from_slice(&rest[..rest.len().min(127)]);
    let sealed = cipher::encipher(&plain, form, prot, &keys, TITLE, u32::from(sel)).expect("seal");
    let opened = cipher::decipher(&sealed, &keys, Some(TITLE)).expect("open our own APDU");
    assert_eq!(opened.plain, plain);
    if prot != Protections::Enc {
        let i = usize::from(sel) % sealed.len();
        let mut altered = sealed.clone();
        altered[i] ^= 0x01;
        if let Ok(o) = cipher::decipher(&altered, &keys, Some(TITLE)) {
            assert_ne!(o.plain, plain, "an altered authenticated APDU opened to the same plaintext at {i}");
        }
    }
});
