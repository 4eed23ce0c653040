//! Property map EDTs (0x9D/0x9E/0x9F) from a peer: decoding must never panic, and an
//! accepted map must survive encode/decode unchanged, in the same form (list below 16
//! properties, 17-byte bitmap from 16 on) and at the same length as the input.
#![no_main]

use echonet::PropertyMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(map) = PropertyMap::decode(data) else {
        return;
    };
    let edt = map.encode();
    assert_eq!(PropertyMap::decode(&edt), Ok(map));
    assert_eq!(
        edt.len(),
        data.len(),
        "{map:?} re-encoded to another length"
    );
    assert_eq!(edt[0], data[0], "count byte changed");
    assert_eq!(usize::from(edt[0]), map.len());
    assert!(map.iter().all(|epc| epc >= 0x80));
});
