use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::energy::EnergyUnit;
use crate::{Eoj, PropertyMap};

const METER: ClassCode = ClassCode::DISTRIBUTED_GENERATION_METER;
const NODE: ClassCode = ClassCode::NODE_PROFILE;

fn round_trip(class: ClassCode, epc: u8, edt: &[u8]) -> Value {
    let v = Value::decode(class, epc, edt).unwrap_or_else(|e| panic!("{epc:02X}: {e}"));
    assert_eq!(v.epc(), epc);
    assert_eq!(v.encode().unwrap(), edt, "re-encode of {epc:02X}");
    v
}

#[test]
fn trm07_meter_identity_and_energy_decode() {
    let id = b"IOTROUTE-0001";
    assert_eq!(
        round_trip(METER, 0xD1, id),
        Value::Meter(MeterProperty::DeviceId(id.to_vec()))
    );
    assert_eq!(
        round_trip(METER, 0xD4, &[0x03]),
        Value::Meter(MeterProperty::Unit(EnergyUnit::Kwh0_001))
    );
    assert_eq!(
        round_trip(METER, 0xE0, &[0x3B, 0x9A, 0xC9, 0xFF]),
        Value::Meter(MeterProperty::CumulativeIn(999_999_999))
    );
    round_trip(METER, 0xE2, &[0, 0, 0, 0]);
}

#[test]
fn meter_values_out_of_range_are_refused() {
    let bad: &[(u8, &[u8])] = &[
        (0xE0, &[0x3B, 0x9A, 0xCA, 0x00]), // 1,000,000,000
        (0xE0, &[0, 0, 1]),
        (0xD4, &[0x05]),
        (0xD1, &[]),
        (0xDA, &[24, 0, 0]),
        (0xDA, &[12, 0]),
        (0xDB, &[0x40]),
        (0xD3, &[0, 0]),
        (0xD5, &[0x03, 0xE8]),
        (0xE9, &[0x7F, 0xFF, 0xFF, 0xFE]),
        (0xE9, &[0x80, 0, 0, 0]),
        (0xE6, &[0x07, 0xEA, 11, 25, 10, 15, 0, 0, 0, 0, 1]),
        (0xE6, &[0x07, 0xEA, 2, 30, 10, 0, 0, 0, 0, 0, 1]),
    ];
    for (epc, edt) in bad {
        assert!(
            Value::decode(METER, *epc, edt).is_err(),
            "{epc:02X} {edt:02X?} accepted"
        );
    }
}

#[test]
fn history_has_48_slots_and_marks_unmeasured() {
    let mut edt = vec![0x00, 0x01];
    for k in 0..48u32 {
        let v = if k == 47 { NOT_MEASURED } else { 1000 + k };
        edt.extend_from_slice(&v.to_be_bytes());
    }
    let Value::Meter(MeterProperty::HistoryIn(h)) = round_trip(METER, 0xE1, &edt) else {
        panic!("not a history");
    };
    assert_eq!(h.day, 1);
    assert_eq!(h.slots.len(), 48);
    assert_eq!(h.slots[0], Some(1000));
    assert_eq!(h.slots[47], None);
    assert!(Value::decode(METER, 0xE1, &edt[..193]).is_err());
    let mut over = edt.clone();
    over[2..6].copy_from_slice(&1_000_000_000u32.to_be_bytes());
    assert!(Value::decode(METER, 0xE3, &over).is_err());
}

#[test]
fn fixed_time_reading_decodes() {
    let edt = [0x07, 0xEA, 11, 25, 10, 30, 0, 0, 0, 0x30, 0x39];
    let Value::Meter(MeterProperty::FixedTimeIn(r)) = round_trip(METER, 0xE6, &edt) else {
        panic!("not a fixed-time reading");
    };
    assert_eq!(r.date, Date::new(2026, 11, 25).unwrap());
    assert_eq!(r.value, Some(12345));
}

#[test]
fn superclass_properties_decode_for_any_class() {
    round_trip(METER, 0x80, &[0x30]);
    round_trip(METER, 0x82, &[0, 0, b'Q', 0]);
    round_trip(METER, 0x88, &[0x42]);
    round_trip(METER, 0x8A, &[0x00, 0x00, 0x77]);
    round_trip(METER, 0x98, &[0x07, 0xEA, 2, 29 - 1]);
    round_trip(METER, 0x97, &[23, 59]);
    let mut id = vec![0xFE, 0x00, 0x00, 0x77];
    id.extend_from_slice(&[7; 13]);
    round_trip(METER, 0x83, &id);
    assert!(Value::decode(METER, 0x98, &[0x07, 0xE9, 2, 29]).is_err()); // 2025 is not leap
    assert!(Value::decode(METER, 0x98, &[0x07, 0xE8, 2, 29]).is_ok()); // 2024 is
    assert!(Value::decode(METER, 0x82, &[0, 0, b'q', 0]).is_err());
    assert!(Value::decode(METER, 0x80, &[0x32]).is_err());
    assert!(Value::decode(METER, 0x83, &id[..16]).is_err());
    assert!(matches!(
        Value::decode(METER, 0xF0, &[0]),
        Err(ValueError::UnknownProperty { .. })
    ));
}

#[test]
fn node_profile_lists_decode_and_check_counts() {
    round_trip(NODE, 0x82, &[0x01, 0x0E, 0x01, 0x00]);
    round_trip(NODE, 0xD3, &[0, 0, 1]);
    round_trip(NODE, 0xD4, &[0, 2]);
    let list = round_trip(NODE, 0xD6, &[1, 0x02, 0x8E, 0x01]);
    assert_eq!(
        list,
        Value::NodeProfile(NodeProfileProperty::InstanceList(vec![Eoj::new(
            0x02, 0x8E, 0x01
        )]))
    );
    round_trip(NODE, 0xD5, &[1, 0x02, 0x8E, 0x01]);
    round_trip(NODE, 0xD7, &[1, 0x02, 0x8E]);
    assert!(Value::decode(NODE, 0xD6, &[2, 0x02, 0x8E, 0x01]).is_err());
    assert!(Value::decode(NODE, 0xD6, &[]).is_err());
    assert!(Value::decode(
        NODE,
        0xD7,
        &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    )
    .is_err());
    // The node profile's 0x82 is its version, not the super class's release letter.
    assert!(Value::decode(NODE, 0x82, &[0, 0, b'Q', 0]).is_err());
}

#[test]
fn property_maps_decode_through_value() {
    let map = PropertyMap::from_epcs(&[0x80, 0x9D, 0x9E, 0x9F]).unwrap();
    let Value::Superclass(SuperclassProperty::GetPropertyMap(m)) =
        round_trip(METER, 0x9F, &map.encode())
    else {
        panic!("not a map");
    };
    assert_eq!(m, map);
    let epcs: Vec<u8> = (0x80..=0x8F).chain(0xE0..=0xEA).collect();
    let big = PropertyMap::from_epcs(&epcs).unwrap();
    round_trip(METER, 0x9F, &big.encode());
}

#[test]
fn values_outside_their_edt_do_not_encode() {
    let too_many = NodeProfileProperty::InstanceCount(0x0100_0001);
    assert_eq!(
        too_many.encode(),
        Err(ValueError::NotEncodable { epc: 0xD3 })
    );
    let seconds = SuperclassProperty::CurrentTime(TimeOfDay::new(10, 20, 30).unwrap());
    assert!(seconds.encode().is_err(), "0x97 carries no seconds");
    let short = MeterProperty::HistoryIn(History {
        day: 0,
        slots: vec![Some(1); 47],
    });
    assert!(short.encode().is_err(), "a history has 48 slots");
    let big = MeterProperty::CumulativeIn(1_000_000_000);
    assert!(big.encode().is_err());
    assert!(Value::from(big).encode().is_err());
}
