//! The retailer's reader of our EDI XML on any text: nothing panics; a message it takes
//! is one our writer writes back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = edi::read::message(text) {
        assert_eq!(edi::read::message(&m.to_xml()).as_ref(), Ok(&m));
    }
});
