//! Device object super class properties (0x80-0x9F) of a class this crate has no typed
//! decoder for: first byte EPC, rest EDT. Decoding never panics; what decodes round trips
//! exactly, through both `Value` and `SuperclassProperty` directly.
#![no_main]

use echonet::objects::{SuperclassProperty, Value};
use echonet::ClassCode;
use libfuzzer_sys::fuzz_target;

include!("../common/value_check.rs");

/// Home air conditioner: an ordinary device class whose specific EPCs have no decoder,
/// so everything that decodes here is the super class's.
const OTHER_CLASS: ClassCode = ClassCode(0x0130);

fuzz_target!(|data: &[u8]| {
    let via_value = check_value(OTHER_CLASS, data);
    let Some((&epc, edt)) = data.split_first() else {
        return;
    };
    let direct = SuperclassProperty::decode(epc, edt).ok();
    assert_eq!(via_value, direct.map(Value::Superclass));
});
