//! Any datagram from the LAN (SEC-06): checking and parsing must never panic, the view
//! and `Repr::parse_bytes` must agree, and an accepted frame must re-emit to exactly the
//! bytes it came from. The wire format has one encoding per `Repr`, so a parse that does
//! not round trip exactly has lost or invented something.
#![no_main]

use echonet::{Frame, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = Frame::new_checked(data);
    let parsed = Repr::parse_bytes(data);
    assert_eq!(checked.is_ok(), parsed.is_ok(), "view and Repr disagree");
    let (Ok(frame), Ok(repr)) = (checked, parsed) else {
        return;
    };
    assert_eq!(Repr::parse(&frame), repr);
    assert_eq!(repr.buffer_len(), data.len(), "buffer_len of {repr:?}");
    let emitted = repr.to_vec().expect("an accepted frame must be emittable");
    assert_eq!(emitted, data, "re-emitted bytes differ");
    assert_eq!(Repr::parse_bytes(&emitted), Ok(repr));
});
