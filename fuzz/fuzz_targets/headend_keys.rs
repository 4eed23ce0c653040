//! The head end's smart-meter keys file (an operator's file): whatever the text,
//! `keys::parse` never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = headend::keys::parse(text);
    }
});
