// The oracle shared by the typed-value targets, included with `include!` so that each
// target stays a single-file binary without a library crate beside it.

/// Decode `data` (first byte EPC, rest EDT) as a property of `class`. An accepted value
/// must name the EPC it came from, fit in one PDC, re-encode to the input (the decoders
/// are strict, so each value has one encoding; property maps in list form are the one
/// exception, as their EPCs may come in any order), and decode again to itself.
fn check_value(class: echonet::ClassCode, data: &[u8]) -> Option<echonet::objects::Value> {
    use echonet::objects::{SuperclassProperty, Value};

    let (&epc, edt) = data.split_first()?;
    let value = Value::decode(class, epc, edt).ok()?;
    assert_eq!(value.epc(), epc, "{value:?}");
    let encoded = value.encode().expect("a decoded value encodes");
    assert!(encoded.len() <= 255, "{value:?} needs PDC {}", encoded.len());
    assert_eq!(encoded.len(), edt.len(), "{value:?}");
    let is_map = matches!(
        value,
        Value::Superclass(
            SuperclassProperty::StatusChangeAnnouncementMap(_)
                | SuperclassProperty::SetPropertyMap(_)
                | SuperclassProperty::GetPropertyMap(_)
        )
    );
    if !is_map {
        assert_eq!(encoded, edt, "{value:?} re-encodes to other bytes");
    }
    assert_eq!(Value::decode(class, epc, &encoded), Ok(value.clone()));
    Some(value)
}
