//! Node profile properties (0x0EF0) as another node announces them: first byte EPC, rest
//! EDT. Decoding never panics; what decodes round trips exactly.
#![no_main]

use echonet::objects::{NodeProfileProperty, Value, MAX_CLASSES, MAX_INSTANCES};
use echonet::ClassCode;
use libfuzzer_sys::fuzz_target;

include!("../common/value_check.rs");

fuzz_target!(|data: &[u8]| {
    let Some(value) = check_value(ClassCode::NODE_PROFILE, data) else {
        return;
    };
    match value {
        Value::NodeProfile(NodeProfileProperty::InstanceList(l))
        | Value::NodeProfile(NodeProfileProperty::InstanceListNotification(l)) => {
            assert!(l.len() <= MAX_INSTANCES);
        }
        Value::NodeProfile(NodeProfileProperty::ClassList(l)) => assert!(l.len() <= MAX_CLASSES),
        _ => {}
    }
});
