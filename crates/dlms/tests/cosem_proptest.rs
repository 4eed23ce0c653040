//! No panic on any input: arbitrary A-XDR values thrown at every attribute (SET), every
//! method (ACTION) and every selector (GET with selective access) of every object, for
//! every association. Each request gets a value or a Data-Access-Result / Action-Result,
//! never a panic, and the model stays readable afterwards.

use chrono::{TimeZone, Utc};
use dlms::apdu::{DataRef, SelectiveAccess};
use dlms::cosem::{Association, IotRouteModel, ModelConfig, Value};
use dlms::server::{shared, CosemStore};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        any::<i8>().prop_map(Value::Integer),
        any::<i16>().prop_map(Value::Long),
        any::<u8>().prop_map(Value::Unsigned),
        any::<u16>().prop_map(Value::LongUnsigned),
        any::<u32>().prop_map(Value::DoubleLongUnsigned),
        any::<i32>().prop_map(Value::DoubleLong),
        any::<u8>().prop_map(Value::Enum),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::OctetString),
        proptest::collection::vec(b'0'..=b'Z', 0..12).prop_map(Value::VisibleString),
        // Date-times as octet-string(12), wildcards and nonsense included.
        proptest::array::uniform12(any::<u8>()).prop_map(|b| Value::OctetString(b.to_vec())),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(inner, 0..5).prop_map(Value::Structure),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_request_panics_the_model(v in value(), selector in 0u8..4) {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap();
        let mut m = IotRouteModel::new(&ModelConfig::default(), now).unwrap();
        for h in 0..3 {
            m.capture(now - chrono::Duration::hours(h)).unwrap();
        }
        let model = shared(m);
        let all = model.lock().unwrap().visible_objects(Association::Management);
        let bytes = v.encode().unwrap();
        let d = DataRef::from_bytes_in(&bytes).unwrap();
        for association in Association::ALL {
            let mut store = CosemStore::new(model.clone(), association);
            for &(class, _, ln) in &all {
                for attr in -1..=10i8 {
                    let _ = store.set(class, ln, attr, d);
                    let sa = SelectiveAccess { selector, parameters: d };
                    let _ = store.get(class, ln, attr, Some(sa));
                    let _ = store.get(class, ln, attr, None);
                }
                for method in 0..=7i8 {
                    let _ = store.action(class, ln, method, Some(d));
                    let _ = store.action(class, ln, method, None);
                }
            }
        }
        // Still serving.
        let store = CosemStore::new(model, Association::Public);
        prop_assert!(store.get(8, dlms::cosem::codes::CLOCK, 2, None).is_ok());
    }
}
