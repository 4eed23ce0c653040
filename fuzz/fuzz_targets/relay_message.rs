//! The A route's input (a smart meter's or a head end's, untrusted): bytes cut into
//! wrapper frames, opened by the channel, decoded as a message or a command. Whatever
//! the bytes, nothing panics; a message that decodes encodes to bytes that decode to it again.
#![no_main]

use chrono::TimeZone;
use dlms::cipher::{Keys, SystemTitle, GREEN_BOOK_AK, GREEN_BOOK_EK};
use dlms::relay::channel::Channel;
use dlms::relay::message::{decode_answer, Command, Uplink};
use dlms::relay::stream::FrameReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = Keys::from_slices(&GREEN_BOOK_EK, &GREEN_BOOK_AK).expect("test keys");
    let mut channel = Channel::new(
        SystemTitle(*b"HES\x00\x00\x00\x00\x01"),
        SystemTitle([0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 1]),
        keys,
        0,
        None,
    );
    let mut reader = FrameReader::new();
    reader.push(data);
    while let Ok(Some(frame)) = reader.next_frame() {
        let _ = channel.open(&frame.apdu);
        if let Ok(m) = Uplink::decode(&frame.apdu) {
            let at = chrono::Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
            // Bytes, not values: a float in an event's details may be NaN.
            let bytes = m.encode(1, at).expect("encodes");
            let again = Uplink::decode(&bytes).expect("decodes");
            assert_eq!(again.encode(1, at).expect("encodes"), bytes);
        }
        if let Ok((id, c)) = Command::decode(&frame.apdu) {
            assert_eq!(Command::decode(&c.encode(id).expect("encodes")).expect("decodes"), (id, c));
        }
        let _ = decode_answer(&frame.apdu);
    }
});
