//! Any APDU from the network (TRM-02): decoding must never panic; an accepted APDU must
//! re-encode, and that encoding must decode and re-encode to itself. The translator
//! (`iotroute dlms translate`) must render whatever it accepts, to XML and JSON.
#![no_main]

use dlms::apdu;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = apdu::decode(data) {
        if let Ok(encoded) = apdu::encode(&a) {
            let again = apdu::decode(&encoded).expect("our own encoding must decode");
            assert_eq!(apdu::encode(&again).expect("re-encode"), encoded, "encoding is not stable");
        }
    }
    if let Ok(node) = dlms::translate::translate(data, None) {
        let _ = node.to_xml();
        let _ = node.to_json();
    }
});
