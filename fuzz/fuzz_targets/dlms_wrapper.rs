//! Any UDP datagram on port 4059 (RAD-01): wrapper parsing must never panic, and an
//! accepted frame must re-emit to exactly the datagram (one encoding per frame).
#![no_main]

use dlms::wrapper::Wpdu;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Wpdu::parse(data) {
        Ok(w) => assert_eq!(w.emit().expect("re-emit"), data, "re-emitted frame differs"),
        Err(e) => assert!(e.offset() <= data.len().max(8), "offset {} past the datagram", e.offset()),
    }
});
