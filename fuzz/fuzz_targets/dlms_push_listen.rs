//! Any datagram's APDU handed to the push listener (SEC-02): never a panic, and the replay
//! window moves only for a push that verified, to exactly its counter.
#![no_main]

use dlms::cipher::{Keys, Protections, SystemTitle, GREEN_BOOK_SERVER_TITLE};
use dlms::push::PushListener;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for required in [None, Some(Protections::Auth), Some(Protections::AuthEnc)] {
        let mut l = PushListener::new(required);
        l.add_sender(GREEN_BOOK_SERVER_TITLE, Keys::GREEN_BOOK, Some(5));
        let before = l.highest_seen(GREEN_BOOK_SERVER_TITLE);
        match l.handle(data) {
            Ok(n) => {
                if let (Some(SystemTitle(t)), Some(c)) = (n.system_title, n.invocation_counter) {
                    assert_eq!(t, GREEN_BOOK_SERVER_TITLE.0);
                    assert!(c > 5, "a counter at or below the window was accepted");
                    assert_eq!(l.highest_seen(GREEN_BOOK_SERVER_TITLE), Some(c));
                } else {
                    assert!(
                        required.is_none(),
                        "a plain push passed a protection demand"
                    );
                }
            }
            Err(_) => assert_eq!(l.highest_seen(GREEN_BOOK_SERVER_TITLE), before),
        }
    }
});
