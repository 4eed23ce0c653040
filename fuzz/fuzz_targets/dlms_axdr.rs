//! Any A-XDR data from the network (a GET-Response body, a push, a SET value): decoding
//! must never panic, our one-pass decoder must agree with upstream's, and an accepted value must re-encode to bytes that decode to the
//! same value and re-encode to themselves (canonical form: the decoder accepts
//! non-minimal lengths, so the first encoding may differ from the input). Encodings are
//! compared rather than values because a NaN float is not equal to itself.
#![no_main]

use dlms::Data;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Our one-pass owned decoder and the upstream decoder agree: same value (compared
    // by encoding), same length, or the same error at the same offset.
    let ours = Data::decode_prefix(data).map(|(d, n)| (d.encode().ok(), n));
    let theirs = Data::decode_prefix_upstream(data).map(|(d, n)| (d.encode().ok(), n));
    assert_eq!(ours, theirs, "one-pass decoder disagrees with upstream");
    let Ok(value) = Data::decode(data) else {
        return;
    };
    let encoded = value.encode().expect("an accepted value must re-encode");
    let again = Data::decode(&encoded).expect("our own encoding must decode");
    assert_eq!(
        again.encode().expect("re-encode"),
        encoded,
        "encoding is not stable"
    );
    let _ = value.as_date_time().map(|d| d.to_chrono());
    let _ = dlms::translate::data_node(&value).to_xml();
});
