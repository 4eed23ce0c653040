//! The head end's secrets files (an operator's files): whatever the text,
//! `keys::parse` and `keys::parse_secrets` never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = headend::keys::parse(text);
        let _ = headend::keys::parse_secrets(text);
    }
});
