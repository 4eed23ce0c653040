//! The IoT-route object model through the server store (`server::CosemStore`): every
//! attribute read, the refusals per association, clock setting, the load profile's
//! capture and selective access, `object_list`, the demo filler.

use chrono::{DateTime, TimeZone, Utc};
use dlms::apdu::{ActionResult, DataAccessResult, DataRef, SelectiveAccess};
use dlms::cosem::codes::{
    ASSOCIATION, AUTH_PASSWORD, CLOCK, ENERGY_AC_INPUT, ENERGY_AC_OUTPUT, EVENT_LOG,
    IMAGE_TRANSFER, LOAD_PROFILE, LOGICAL_DEVICE_NAME, MANAGEMENT_INVOCATION_COUNTER, METER_ID,
    PAIRING_ID, PUSH_SETUP, SAP_ASSIGNMENT, SECURITY_SETUP, TERMINAL_ID,
};
use dlms::cosem::image::{ImageStorage, ImageStore, ImageVendorKey, StoredImage, SIGNATURE_LEN};
use dlms::cosem::{
    to_cosem, Association, CaptureDef, IotRouteModel, ModelChange, ModelConfig, Obis,
    ProfileGeneric, Value,
};
use dlms::server::{shared, CosemStore};
use dlms_cosem_rs::axdr::DateTime as WireDateTime;
use dlms_cosem_rs::cosem::{EntryDescriptor, RangeDescriptor};

/// 2026-11-25 12:10:00 JST.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap()
}

fn jst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap() - chrono::Duration::hours(9)
}

fn model() -> IotRouteModel {
    IotRouteModel::new(&ModelConfig::default(), now()).unwrap()
}

fn stores(m: IotRouteModel) -> (CosemStore, CosemStore, CosemStore) {
    let m = shared(m);
    (
        CosemStore::new(m.clone(), Association::Public),
        CosemStore::new(m.clone(), Association::Management),
        CosemStore::new(m, Association::Maintenance),
    )
}

/// A value encoded and decoded as the upstream borrowed form a SET carries.
fn wire(v: &Value) -> Vec<u8> {
    v.encode().unwrap()
}

fn set(
    store: &mut CosemStore,
    class: u16,
    ln: Obis,
    attr: i8,
    v: &Value,
) -> Result<(), DataAccessResult> {
    let bytes = wire(v);
    let d = DataRef::from_bytes_in(&bytes).unwrap();
    store.set(class, ln, attr, d)
}

fn action(
    store: &mut CosemStore,
    class: u16,
    ln: Obis,
    method: i8,
    v: Option<&Value>,
) -> Result<Option<Value>, ActionResult> {
    let bytes = v.map(wire).unwrap_or_default();
    let d = v.map(|_| DataRef::from_bytes_in(&bytes).unwrap());
    store.action(class, ln, method, d)
}

fn cosem_jst(t: DateTime<Utc>) -> WireDateTime {
    to_cosem(t, -540, 0).into()
}

fn range(from: DateTime<Utc>, to: DateTime<Utc>, buf: &mut [u8]) -> SelectiveAccess<'_> {
    RangeDescriptor::by_clock(cosem_jst(from), cosem_jst(to))
        .to_selective_access(buf)
        .unwrap()
}

fn rows(v: &Value) -> &[Value] {
    match v {
        Value::Array(r) => r,
        other => panic!("not an array: {other:?}"),
    }
}

fn row_time(row: &Value) -> DateTime<Utc> {
    let Value::Structure(cells) = row else {
        panic!("row not a structure")
    };
    let dt = cells[0]
        .as_date_time()
        .expect("clock column is octet-string(12)");
    dt.to_chrono().unwrap().with_timezone(&Utc)
}

#[test]
fn every_readable_attribute_of_every_visible_object_reads_for_each_association() {
    let (public, management, maintenance) = stores(model());
    for store in [&public, &management, &maintenance] {
        let m = store.model().lock().unwrap();
        let objects = m.visible_objects(store.association());
        drop(m);
        assert!(!objects.is_empty());
        for (class, _version, ln) in objects {
            let mut read = 0;
            for attr in 1..=10 {
                let rights = store.model().lock().unwrap().attribute_rights(
                    store.association(),
                    class,
                    ln,
                    attr,
                );
                let Some(mode) = rights else { continue };
                let got = store.get(class, ln, attr, None);
                if mode.can_read() {
                    assert!(
                        got.is_ok(),
                        "{:?} {ln} attr {attr}: {got:?}",
                        store.association()
                    );
                    read += 1;
                } else {
                    assert_eq!(
                        got,
                        Err(DataAccessResult::ReadWriteDenied),
                        "{ln} attr {attr}"
                    );
                }
            }
            assert!(read >= 1, "{ln}: logical_name at least");
            assert_eq!(
                store.get(class, ln, 1, None).unwrap(),
                Value::OctetString(ln.as_bytes().to_vec())
            );
        }
    }
}

#[test]
fn trm05_energy_registers_in_wh_scaler_0_unit_wh() {
    let mut m = model();
    m.set_energy(12_345_678, 1_234);
    let (_, management, _) = stores(m);
    assert_eq!(
        management.get(3, ENERGY_AC_INPUT, 2, None).unwrap(),
        Value::DoubleLongUnsigned(12_345_678)
    );
    assert_eq!(
        management.get(3, ENERGY_AC_OUTPUT, 2, None).unwrap(),
        Value::DoubleLongUnsigned(1_234)
    );
    let su = Value::Structure(vec![Value::Integer(0), Value::Enum(30)]);
    assert_eq!(management.get(3, ENERGY_AC_INPUT, 3, None).unwrap(), su);
    assert_eq!(management.get(3, ENERGY_AC_OUTPUT, 3, None).unwrap(), su);
}

#[test]
fn trm03_registers_keep_the_lower_8_digits() {
    let mut m = model();
    m.set_energy(123_456_789, 100_000_000);
    assert_eq!(m.energy(), (23_456_789, 0));
}

#[test]
fn public_client_cannot_see_energy_or_profiles_object_undefined() {
    let mut m = model();
    m.fill_demo(1, now()).unwrap();
    let (public, _, _) = stores(m);
    for (class, ln) in [
        (3, ENERGY_AC_INPUT),
        (3, ENERGY_AC_OUTPUT),
        (7, LOAD_PROFILE),
        (7, EVENT_LOG),
    ] {
        for attr in [1, 2, 3] {
            assert_eq!(
                public.get(class, ln, attr, None),
                Err(DataAccessResult::ObjectUndefined),
                "{ln}"
            );
        }
    }
    for (class, ln) in [
        (1, PAIRING_ID),
        (1, AUTH_PASSWORD),
        (40, PUSH_SETUP),
        (18, IMAGE_TRANSFER),
        (64, SECURITY_SETUP),
    ] {
        assert_eq!(
            public.get(class, ln, 2, None),
            Err(DataAccessResult::ObjectUndefined),
            "{ln}"
        );
    }
}

#[test]
fn public_client_reads_clock_name_and_ids_but_cannot_set_the_clock() {
    let mut m = model();
    m.set_meter_id(now(), b"\xFE\x00\x00\x01METER0001").unwrap();
    let (mut public, _, _) = stores(m);
    assert!(public.get(8, CLOCK, 2, None).is_ok());
    assert_eq!(
        public.get(1, LOGICAL_DEVICE_NAME, 2, None).unwrap(),
        Value::OctetString(b"IRT0000000000001".to_vec())
    );
    assert_eq!(
        public.get(1, TERMINAL_ID, 2, None).unwrap(),
        Value::OctetString(b"IRT0000000000001".to_vec())
    );
    assert!(public.get(17, SAP_ASSIGNMENT, 2, None).is_ok());
    let t = Value::clock_octet_string(&to_cosem(now(), -540, 0));
    assert_eq!(
        set(&mut public, 8, CLOCK, 2, &t),
        Err(DataAccessResult::ReadWriteDenied)
    );
    assert_eq!(
        action(&mut public, 8, CLOCK, 1, Some(&Value::Integer(0))),
        Err(ActionResult::ReadWriteDenied)
    );
}

#[test]
fn sec07_meter_id_is_the_echonet_d1_value_and_a_change_is_logged() {
    let mut m = model();
    let id = b"\xFE\x00\x00\x01METER0001";
    m.set_meter_id(now(), id).unwrap();
    let before = m.event_log().entries_in_use().unwrap();
    m.set_meter_id(now(), b"\xFE\x00\x00\x01METER0002").unwrap();
    assert_eq!(
        m.event_log().entries_in_use().unwrap(),
        before + 1,
        "a changed meter is evidence"
    );
    let (public, mut management, _) = stores(m);
    assert_eq!(
        public.get(1, METER_ID, 2, None).unwrap(),
        Value::OctetString(b"\xFE\x00\x00\x01METER0002".to_vec())
    );
    // Writing back the old meter's ID (one not connected): refused — the only value
    // taken is the ID read now (the acceptance, below).
    let v = Value::OctetString(id.to_vec());
    assert_eq!(
        set(&mut management, 1, METER_ID, 2, &v),
        Err(DataAccessResult::OtherReason)
    );
}

#[test]
fn trm08_terminal_id_cannot_be_changed_by_anyone() {
    let (mut public, mut management, mut maintenance) = stores(model());
    let v = Value::OctetString(b"IRT9999999999999".to_vec());
    for s in [&mut public, &mut management, &mut maintenance] {
        assert_eq!(
            set(s, 1, TERMINAL_ID, 2, &v),
            Err(DataAccessResult::ReadWriteDenied)
        );
    }
}

#[test]
fn trm08_pairing_id_and_password_settings() {
    let (_, mut management, mut maintenance) = stores(model());
    let good = Value::VisibleString(b"IOT01123".to_vec());
    set(&mut management, 1, PAIRING_ID, 2, &good).unwrap();
    assert_eq!(management.get(1, PAIRING_ID, 2, None).unwrap(), good);
    assert_eq!(
        set(
            &mut maintenance,
            1,
            PAIRING_ID,
            2,
            &Value::VisibleString(b"iot01123".to_vec())
        ),
        Err(DataAccessResult::OtherReason),
        "CON-03: 0-9 A-Z only"
    );
    assert_eq!(
        set(
            &mut maintenance,
            1,
            PAIRING_ID,
            2,
            &Value::VisibleString(b"IOT0112".to_vec())
        ),
        Err(DataAccessResult::TypeUnmatched)
    );
    set(
        &mut maintenance,
        1,
        AUTH_PASSWORD,
        2,
        &Value::OctetString(b"new-password-1".to_vec()),
    )
    .unwrap();
    assert_eq!(
        maintenance.get(1, AUTH_PASSWORD, 2, None),
        Err(DataAccessResult::ReadWriteDenied)
    );
    let mut m = management.model().lock().unwrap();
    assert_eq!(m.pairing_id(), "IOT01123");
    assert_eq!(m.auth_password(), b"new-password-1");
    assert_eq!(
        m.take_changes(),
        vec![
            ModelChange::PairingIdChanged("IOT01123".into()),
            ModelChange::AuthPasswordChanged
        ]
    );
}

#[test]
fn trm09_clock_set_honours_the_deviation() {
    let (_, mut management, _) = stores(model());
    // 13:00:00 JST written with deviation −540 (Gurux in Japan).
    let target = jst(2026, 11, 25, 13, 0);
    let jst_value = Value::clock_octet_string(&to_cosem(target, -540, 0));
    set(&mut management, 8, CLOCK, 2, &jst_value).unwrap();
    assert_eq!(management.model().lock().unwrap().clock_time(), target);
    let Value::OctetString(b) = management.get(8, CLOCK, 2, None).unwrap() else {
        panic!()
    };
    assert_eq!(
        (b[5], b[6], b[9], b[10]),
        (13, 0, 0xFD, 0xE4),
        "13:00 local, deviation −540"
    );
    // The same instant written in UTC (deviation 0) is the same instant.
    let utc_value = Value::clock_octet_string(&to_cosem(target, 0, 0));
    set(&mut management, 8, CLOCK, 2, &utc_value).unwrap();
    assert_eq!(management.model().lock().unwrap().clock_time(), target);
    // The date-time tag is accepted too.
    let tagged = Value::DateTime(to_cosem(target, -540, 0));
    set(&mut management, 8, CLOCK, 2, &tagged).unwrap();
    assert_eq!(
        set(&mut management, 8, CLOCK, 2, &Value::Unsigned(1)),
        Err(DataAccessResult::TypeUnmatched)
    );
    let mut m = management.model().lock().unwrap();
    assert_eq!(
        m.take_changes().first(),
        Some(&ModelChange::ClockSet { offset_s: 3000 })
    );
}

#[test]
fn clock_adjust_methods() {
    let mut m = model();
    m.set_now(Utc.with_ymd_and_hms(2026, 11, 25, 3, 8, 31).unwrap());
    let (_, mut management, _) = stores(m);
    action(&mut management, 8, CLOCK, 1, Some(&Value::Integer(0))).unwrap();
    assert_eq!(
        management.model().lock().unwrap().clock_time(),
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 15, 0).unwrap()
    );
    action(&mut management, 8, CLOCK, 6, Some(&Value::Long(-30))).unwrap();
    assert_eq!(
        management.model().lock().unwrap().clock_time(),
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 14, 30).unwrap()
    );
    action(&mut management, 8, CLOCK, 3, Some(&Value::Integer(0))).unwrap();
    assert_eq!(
        management.model().lock().unwrap().clock_time(),
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 15, 0).unwrap()
    );
    assert_eq!(
        action(&mut management, 8, CLOCK, 6, Some(&Value::Long(901))),
        Err(ActionResult::OtherReason)
    );
    // adjust_to_measuring_period: the nearest half hour.
    action(&mut management, 8, CLOCK, 6, Some(&Value::Long(900))).unwrap();
    action(&mut management, 8, CLOCK, 2, Some(&Value::Integer(0))).unwrap();
    assert_eq!(
        management.model().lock().unwrap().clock_time(),
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 30, 0).unwrap()
    );
}

#[test]
fn trm06_demo_fill_two_days_is_96_rows_up_to_the_last_closed_slot() {
    let mut m = model();
    assert_eq!(m.fill_demo(2, now()).unwrap(), 96);
    let lp = m.load_profile();
    let rows = lp.rows().unwrap();
    assert_eq!(rows.len(), 96);
    assert_eq!(
        rows[95].time,
        jst(2026, 11, 25, 12, 0),
        "12:10 JST: the 12:00 slot is the last closed one"
    );
    assert_eq!(rows[0].time, jst(2026, 11, 23, 12, 30));
    for w in rows.windows(2) {
        assert_eq!(w[1].time - w[0].time, chrono::Duration::minutes(30));
        let (Value::DoubleLongUnsigned(a), Value::DoubleLongUnsigned(b)) =
            (&w[0].values[0], &w[1].values[0])
        else {
            panic!()
        };
        assert!(b > a, "a household's import grows every slot");
    }
    let Value::DoubleLongUnsigned(last_in) = rows[95].values[0] else {
        panic!()
    };
    assert_eq!(m.energy().0, last_in, "registers at the last row");
    // Exactly on a boundary, that slot is closed.
    let mut m = model();
    assert_eq!(m.fill_demo(1, jst(2026, 11, 25, 12, 0)).unwrap(), 48);
    assert_eq!(
        m.load_profile().last_time().unwrap().unwrap(),
        jst(2026, 11, 25, 12, 0)
    );
}

#[test]
fn trm11_demo_fill_at_15_minutes() {
    let mut m = model();
    m.set_capture_period(now(), 900).unwrap();
    assert_eq!(m.fill_demo(1, now()).unwrap(), 96);
    assert_eq!(
        m.load_profile().last_time().unwrap().unwrap(),
        jst(2026, 11, 25, 12, 0)
    );
}

#[test]
fn trm06_range_read_returns_exactly_the_rows_in_range() {
    let mut m = model();
    m.fill_demo(2, now()).unwrap();
    let (_, management, maintenance) = stores(m);
    let mut buf = [0u8; 64];
    let sa = range(jst(2026, 11, 24, 10, 0), jst(2026, 11, 24, 12, 0), &mut buf);
    for store in [&management, &maintenance] {
        let v = store.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap();
        let times: Vec<_> = rows(&v).iter().map(row_time).collect();
        assert_eq!(
            times,
            vec![
                jst(2026, 11, 24, 10, 0),
                jst(2026, 11, 24, 10, 30),
                jst(2026, 11, 24, 11, 0),
                jst(2026, 11, 24, 11, 30),
                jst(2026, 11, 24, 12, 0)
            ],
            "both ends inclusive"
        );
        for r in rows(&v) {
            let Value::Structure(cells) = r else { panic!() };
            assert_eq!(cells.len(), 4, "clock, AC input, AC output, status");
            assert!(
                matches!(&cells[0], Value::OctetString(b) if b.len() == 12),
                "clock as octet-string(12)"
            );
        }
    }
    // A range between slots holds nothing; one before the data too.
    let sa = range(
        jst(2026, 11, 24, 10, 1),
        jst(2026, 11, 24, 10, 29),
        &mut buf,
    );
    assert!(rows(&management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap()).is_empty());
    let sa = range(jst(2020, 1, 1, 0, 0), jst(2020, 1, 2, 0, 0), &mut buf);
    assert!(rows(&management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap()).is_empty());
}

#[test]
fn trm06_range_read_with_gurux_style_bounds_and_selected_columns() {
    let mut m = model();
    m.fill_demo(1, now()).unwrap();
    let (_, management, _) = stores(m);
    // Gurux: octet-string(12) bounds, day of week 0xFF, hundredths 0, status 0.
    let mut from = to_cosem(jst(2026, 11, 25, 11, 0), -540, 0);
    from.day_of_week = 0xFF;
    let mut to = to_cosem(jst(2026, 11, 25, 12, 0), -540, 0);
    to.day_of_week = 0xFF;
    let params = Value::Structure(vec![
        CaptureDef::clock().to_value(),
        Value::clock_octet_string(&from),
        Value::clock_octet_string(&to),
        Value::Array(vec![
            CaptureDef::clock().to_value(),
            CaptureDef::new(3, ENERGY_AC_OUTPUT, 2, 0).to_value(),
        ]),
    ]);
    let bytes = wire(&params);
    let sa = SelectiveAccess {
        selector: 1,
        parameters: DataRef::from_bytes_in(&bytes).unwrap(),
    };
    let v = management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap();
    assert_eq!(rows(&v).len(), 3);
    for r in rows(&v) {
        let Value::Structure(cells) = r else { panic!() };
        assert_eq!(cells.len(), 2, "clock and AC output only");
    }
}

#[test]
fn trm06_entry_read() {
    let mut m = model();
    m.fill_demo(2, now()).unwrap();
    let (_, management, _) = stores(m);
    let mut buf = [0u8; 32];
    let sa = EntryDescriptor::entries(1, 3)
        .to_selective_access(&mut buf)
        .unwrap();
    let v = management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap();
    let times: Vec<_> = rows(&v).iter().map(row_time).collect();
    assert_eq!(
        times,
        vec![
            jst(2026, 11, 23, 12, 30),
            jst(2026, 11, 23, 13, 0),
            jst(2026, 11, 23, 13, 30)
        ]
    );
    let sa = EntryDescriptor::entries(95, 0)
        .to_selective_access(&mut buf)
        .unwrap();
    let v = management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap();
    assert_eq!(rows(&v).len(), 2, "to_entry 0: to the last");
    let sa = EntryDescriptor::entries(200, 300)
        .to_selective_access(&mut buf)
        .unwrap();
    assert!(rows(&management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap()).is_empty());
    let sa = EntryDescriptor {
        from_entry: 96,
        to_entry: 96,
        from_value: 2,
        to_value: 3,
    }
    .to_selective_access(&mut buf)
    .unwrap();
    let v = management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap();
    let Value::Structure(cells) = &rows(&v)[0] else {
        panic!()
    };
    assert_eq!(cells.len(), 2, "columns 2..=3: AC input and AC output");
    assert!(matches!(cells[0], Value::DoubleLongUnsigned(_)));
}

#[test]
fn unsupported_selectors_are_refused_not_ignored() {
    let mut m = model();
    m.fill_demo(1, now()).unwrap();
    let (_, management, _) = stores(m);
    let bytes = wire(&Value::Structure(vec![Value::Unsigned(0)]));
    let sa = SelectiveAccess {
        selector: 3,
        parameters: DataRef::from_bytes_in(&bytes).unwrap(),
    };
    assert_eq!(
        management.get(7, LOAD_PROFILE, 2, Some(sa)),
        Err(DataAccessResult::ScopeOfAccessViolated)
    );
    assert_eq!(
        management.get(8, CLOCK, 2, Some(sa)),
        Err(DataAccessResult::ScopeOfAccessViolated)
    );
    // A range on a register column.
    let params = Value::Structure(vec![
        CaptureDef::new(3, ENERGY_AC_INPUT, 2, 0).to_value(),
        Value::DoubleLongUnsigned(0),
        Value::DoubleLongUnsigned(10),
        Value::Array(vec![]),
    ]);
    let bytes = wire(&params);
    let sa = SelectiveAccess {
        selector: 1,
        parameters: DataRef::from_bytes_in(&bytes).unwrap(),
    };
    assert_eq!(
        management.get(7, LOAD_PROFILE, 2, Some(sa)),
        Err(DataAccessResult::ScopeOfAccessViolated)
    );
}

#[test]
fn trm06_capture_limit_drops_the_oldest_rows() {
    let mut p = ProfileGeneric::new(
        LOAD_PROFILE,
        vec![CaptureDef::new(3, ENERGY_AC_INPUT, 2, 0)],
        1800,
        vec![1800, 900],
        3,
    )
    .unwrap();
    for i in 0..5u32 {
        p.capture(jst(2026, 11, 25, i, 0), vec![Value::DoubleLongUnsigned(i)])
            .unwrap();
    }
    assert_eq!(p.entries_in_use().unwrap(), 3);
    let kept: Vec<_> = p
        .rows()
        .unwrap()
        .into_iter()
        .map(|r| r.values[0].clone())
        .collect();
    assert_eq!(
        kept,
        vec![
            Value::DoubleLongUnsigned(2),
            Value::DoubleLongUnsigned(3),
            Value::DoubleLongUnsigned(4)
        ]
    );
    assert!(p.capture(now(), vec![]).is_err(), "one value per column");
    p.set_profile_entries(1).unwrap();
    assert_eq!(p.entries_in_use().unwrap(), 1);
    assert!(p.set_profile_entries(0).is_err());
}

#[test]
fn trm03_capture_takes_clock_registers_and_status() {
    let mut m = model();
    m.set_energy(1_000, 20);
    m.capture(jst(2026, 11, 25, 12, 30)).unwrap();
    m.mark_data_not_valid();
    m.capture(jst(2026, 11, 25, 13, 0)).unwrap();
    let rows = m.load_profile().rows().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].time, jst(2026, 11, 25, 12, 30));
    assert_eq!(
        rows[0].values,
        vec![
            Value::DoubleLongUnsigned(1_000),
            Value::DoubleLongUnsigned(20),
            Value::Unsigned(0)
        ]
    );
    assert_eq!(rows[1].values[2], Value::Unsigned(0x04), "data not valid");
    // ACTION capture (method 2) by the management client is not granted.
    let (_, mut management, _) = stores(m);
    assert_eq!(
        action(
            &mut management,
            7,
            LOAD_PROFILE,
            2,
            Some(&Value::Integer(0))
        ),
        Err(ActionResult::ReadWriteDenied)
    );
}

#[test]
fn trm11_reading_interval_is_the_capture_period() {
    let (_, mut management, mut maintenance) = stores(model());
    set(
        &mut management,
        7,
        LOAD_PROFILE,
        4,
        &Value::DoubleLongUnsigned(900),
    )
    .unwrap();
    assert_eq!(
        management.get(7, LOAD_PROFILE, 4, None).unwrap(),
        Value::DoubleLongUnsigned(900)
    );
    set(
        &mut maintenance,
        7,
        LOAD_PROFILE,
        4,
        &Value::DoubleLongUnsigned(1800),
    )
    .unwrap();
    assert_eq!(
        set(
            &mut management,
            7,
            LOAD_PROFILE,
            4,
            &Value::DoubleLongUnsigned(600)
        ),
        Err(DataAccessResult::OtherReason)
    );
    assert_eq!(
        set(
            &mut management,
            7,
            LOAD_PROFILE,
            4,
            &Value::LongUnsigned(900)
        ),
        Err(DataAccessResult::TypeUnmatched)
    );
    assert_eq!(
        set(
            &mut management,
            7,
            LOAD_PROFILE,
            8,
            &Value::DoubleLongUnsigned(10)
        ),
        Err(DataAccessResult::ReadWriteDenied)
    );
    let changes = management.model().lock().unwrap().take_changes();
    assert_eq!(
        changes,
        vec![
            ModelChange::CapturePeriodChanged(900),
            ModelChange::CapturePeriodChanged(1800)
        ]
    );
}

#[test]
fn object_list_per_association() {
    let (public, management, maintenance) = stores(model());
    let lns = |store: &CosemStore| -> Vec<Obis> {
        let v = store.get(15, ASSOCIATION, 2, None).unwrap();
        rows(&v)
            .iter()
            .map(|e| {
                let Value::Structure(f) = e else { panic!() };
                let Value::OctetString(b) = &f[2] else {
                    panic!()
                };
                Obis::from_slice(b).unwrap()
            })
            .collect()
    };
    let p = lns(&public);
    assert_eq!(
        p,
        vec![
            ASSOCIATION,
            SAP_ASSIGNMENT,
            LOGICAL_DEVICE_NAME,
            CLOCK,
            TERMINAL_ID,
            METER_ID,
            MANAGEMENT_INVOCATION_COUNTER
        ]
    );
    let m = lns(&management);
    assert_eq!(m.len(), 21);
    assert!(
        m.contains(&LOAD_PROFILE) && m.contains(&ENERGY_AC_INPUT) && m.contains(&IMAGE_TRANSFER)
    );
    assert_eq!(lns(&maintenance), m);

    // The management client's entry for the load profile: class 7 version 1, attribute
    // 2 read with selectors 1 and 2, attribute 4 read-write.
    let v = management.get(15, ASSOCIATION, 2, None).unwrap();
    let entry = rows(&v)
        .iter()
        .find(|e| matches!(e, Value::Structure(f) if f[2] == Value::OctetString(LOAD_PROFILE.as_bytes().to_vec())))
        .unwrap();
    let Value::Structure(f) = entry else { panic!() };
    assert_eq!(
        (&f[0], &f[1]),
        (&Value::LongUnsigned(7), &Value::Unsigned(1))
    );
    let Value::Structure(rights) = &f[3] else {
        panic!()
    };
    let attrs = rows(&rights[0]);
    assert_eq!(attrs.len(), 8);
    assert_eq!(
        attrs[1],
        Value::Structure(vec![
            Value::Integer(2),
            Value::Enum(1),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        ])
    );
    assert_eq!(
        attrs[3],
        Value::Structure(vec![Value::Integer(4), Value::Enum(3), Value::Null])
    );
}

#[test]
fn association_partners_and_secret() {
    let (public, mut management, maintenance) = stores(model());
    assert_eq!(
        maintenance.get(15, ASSOCIATION, 3, None).unwrap(),
        Value::Structure(vec![Value::Integer(32), Value::LongUnsigned(1)])
    );
    assert_eq!(
        public.get(15, ASSOCIATION, 3, None).unwrap(),
        Value::Structure(vec![Value::Integer(16), Value::LongUnsigned(1)])
    );
    assert_eq!(
        management.get(15, ASSOCIATION, 7, None),
        Err(DataAccessResult::ReadWriteDenied)
    );
    set(
        &mut management,
        15,
        ASSOCIATION,
        7,
        &Value::OctetString(b"87654321".to_vec()),
    )
    .unwrap();
    let m = management.model().lock().unwrap();
    assert_eq!(m.association_secret(Association::Management), b"87654321");
    assert_eq!(
        m.association_secret(Association::Maintenance),
        b"12345678",
        "each association its own"
    );
}

#[test]
fn refusals_name_the_reason() {
    let (public, management, _) = stores(model());
    assert_eq!(
        management.get(1, Obis::new(0, 0, 96, 1, 9, 255), 2, None),
        Err(DataAccessResult::ObjectUndefined)
    );
    assert_eq!(
        management.get(3, CLOCK, 2, None),
        Err(DataAccessResult::ObjectClassInconsistent)
    );
    assert_eq!(
        management.get(8, CLOCK, 10, None),
        Err(DataAccessResult::ObjectUndefined)
    );
    assert_eq!(
        management.get(8, CLOCK, 0, None),
        Err(DataAccessResult::ObjectUndefined)
    );
    assert_eq!(
        public.get(3, CLOCK, 2, None),
        Err(DataAccessResult::ObjectClassInconsistent)
    );
    // Through the upstream seam: what the engine is told for an invisible object.
    use dlms_cosem_rs::server::ObjectStore;
    let wire_ln = dlms_cosem_rs::obis::Obis::from_bytes(*ENERGY_AC_INPUT.as_bytes());
    assert!(
        public.attribute_access(3, wire_ln, 2).can_read(),
        "passes through to name object-undefined"
    );
    let mut out = Vec::new();
    assert_eq!(
        public.get_attribute(3, wire_ln, 2, None, &mut out),
        Err(DataAccessResult::ObjectUndefined)
    );
    let clock_ln = dlms_cosem_rs::obis::Obis::from_bytes(*CLOCK.as_bytes());
    assert!(
        !public.attribute_access(8, clock_ln, 2).can_write(),
        "visible, not writable: the engine denies"
    );
}

#[test]
fn push_setup_and_push_request() {
    let (_, mut management, mut maintenance) = stores(model());
    let v = management.get(40, PUSH_SETUP, 2, None).unwrap();
    assert_eq!(rows(&v).len(), 5);
    set(&mut management, 40, PUSH_SETUP, 6, &Value::Unsigned(5)).unwrap();
    assert_eq!(
        set(&mut maintenance, 40, PUSH_SETUP, 6, &Value::Unsigned(1)),
        Err(DataAccessResult::ReadWriteDenied)
    );
    action(&mut management, 40, PUSH_SETUP, 1, Some(&Value::Integer(0))).unwrap();
    assert_eq!(
        management.model().lock().unwrap().take_changes(),
        vec![ModelChange::PushRequested]
    );
}

/// The vendor's signing key of the SEC-10 tests (a fixed scalar: deterministic tests).
fn vendor_signing_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn vendor_key(seed: u8) -> ImageVendorKey {
    let public = vendor_signing_key(seed)
        .verifying_key()
        .to_sec1_point(false);
    ImageVendorKey::from_sec1_bytes(public.as_bytes()).unwrap()
}

/// `firmware ‖ signature` as the vendor ships it: ECDSA P-256 / SHA-256 over
/// `len(identifier) ‖ identifier ‖ firmware`.
fn signed_image(seed: u8, identifier: &[u8], firmware: &[u8]) -> Vec<u8> {
    let image =
        dlms::cosem::image::sign_image(&vendor_signing_key(seed), identifier, firmware).unwrap();
    assert_eq!(image.len(), firmware.len() + SIGNATURE_LEN);
    image
}

fn firmware() -> Vec<u8> {
    (0..300u32).map(|i| (i % 251) as u8).collect()
}

/// A model whose image transfer trusts the vendor key of `seed`.
fn model_trusting(seed: u8) -> IotRouteModel {
    let config = ModelConfig {
        image_vendor_key: Some(vendor_key(seed)),
        ..ModelConfig::default()
    };
    IotRouteModel::new(&config, now()).unwrap()
}

fn image_block(n: usize, chunk: &[u8]) -> Value {
    Value::Structure(vec![
        Value::DoubleLongUnsigned(u32::try_from(n).unwrap()),
        Value::OctetString(chunk.to_vec()),
    ])
}

/// `image_transfer_initiate` and every block, as the maintenance client.
fn transfer(store: &mut CosemStore, identifier: &[u8], image: &[u8]) {
    let init = Value::Structure(vec![
        Value::OctetString(identifier.to_vec()),
        Value::DoubleLongUnsigned(u32::try_from(image.len()).unwrap()),
    ]);
    action(store, 18, IMAGE_TRANSFER, 1, Some(&init)).unwrap();
    for (n, chunk) in image.chunks(128).enumerate() {
        action(store, 18, IMAGE_TRANSFER, 2, Some(&image_block(n, chunk)))
            .unwrap_or_else(|e| panic!("block {n}: {e:?}"));
    }
}

fn verify(store: &mut CosemStore) -> Result<Option<Value>, ActionResult> {
    action(store, 18, IMAGE_TRANSFER, 3, Some(&Value::Integer(0)))
}

fn activate(store: &mut CosemStore) -> Result<Option<Value>, ActionResult> {
    action(store, 18, IMAGE_TRANSFER, 4, Some(&Value::Integer(0)))
}

fn image_status(store: &CosemStore) -> Value {
    store.get(18, IMAGE_TRANSFER, 6, None).unwrap()
}

const VERIFIED: Value = Value::Enum(3);
const VERIFICATION_FAILED: Value = Value::Enum(4);
const ACTIVATED: Value = Value::Enum(6);

#[test]
fn sec10_image_transfer_by_the_maintenance_client() {
    let (mut public, _, mut maintenance) = stores(model_trusting(1));
    let image = signed_image(1, b"fw-1.1", &firmware());
    let init = Value::Structure(vec![
        Value::OctetString(b"fw-1.1".to_vec()),
        Value::DoubleLongUnsigned(u32::try_from(image.len()).unwrap()),
    ]);
    // The public client cannot touch it.
    assert!(action(&mut public, 18, IMAGE_TRANSFER, 1, Some(&init)).is_err());
    action(&mut maintenance, 18, IMAGE_TRANSFER, 1, Some(&init)).unwrap();
    for (n, chunk) in image.chunks(128).enumerate() {
        if n == 0 {
            // Not everything yet: verification fails.
            action(
                &mut maintenance,
                18,
                IMAGE_TRANSFER,
                2,
                Some(&image_block(n, chunk)),
            )
            .unwrap();
            assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
            assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
            assert_eq!(
                maintenance.get(18, IMAGE_TRANSFER, 4, None).unwrap(),
                Value::DoubleLongUnsigned(1)
            );
            continue;
        }
        action(
            &mut maintenance,
            18,
            IMAGE_TRANSFER,
            2,
            Some(&image_block(n, chunk)),
        )
        .unwrap_or_else(|e| panic!("block {n}: {e:?}"));
    }
    verify(&mut maintenance).unwrap();
    assert_eq!(image_status(&maintenance), VERIFIED);
    activate(&mut maintenance).unwrap();
    assert_eq!(image_status(&maintenance), ACTIVATED);
    let mut m = maintenance.model().lock().unwrap();
    assert_eq!(
        m.take_changes(),
        vec![ModelChange::ImageActivated {
            identifier: b"fw-1.1".to_vec()
        }]
    );
    // The node gets the firmware, without the signature trailer.
    assert_eq!(
        activated_image(&mut m),
        Some((b"fw-1.1".to_vec(), firmware()))
    );
}

/// The activated image, its firmware read whole from the image store.
fn activated_image(m: &mut IotRouteModel) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::io::Read as _;
    let (identifier, firmware) = m.take_activated_image()?;
    let mut bytes = Vec::new();
    firmware.reader(0).read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, firmware.size());
    Some((identifier, bytes))
}

/// The smart meter may carry the user business's image (the head end relays it): the
/// management association drives the same transfer, and the same signature decides.
#[test]
fn sec10_the_smart_meter_carries_an_image_through_the_management_association() {
    let (_, mut management, _) = stores(model_trusting(1));
    let image = signed_image(1, b"fw-1.2", &firmware());
    transfer(&mut management, b"fw-1.2", &image);
    verify(&mut management).unwrap();
    activate(&mut management).unwrap();
    assert_eq!(image_status(&management), ACTIVATED);
    // An image signed by another key: refused at verification, whoever carries it.
    let (_, mut management, _) = stores(model_trusting(1));
    let forged = signed_image(2, b"fw-1.3", &firmware());
    transfer(&mut management, b"fw-1.3", &forged);
    assert_eq!(verify(&mut management), Err(ActionResult::OtherReason));
    assert_eq!(activate(&mut management), Err(ActionResult::OtherReason));
}

#[test]
fn sec10_signed_image_verifies_and_image_to_activate_info_names_its_signature() {
    let (_, _, mut maintenance) = stores(model_trusting(1));
    let image = signed_image(1, b"fw-2.0", &firmware());
    transfer(&mut maintenance, b"fw-2.0", &image);
    verify(&mut maintenance).unwrap();
    assert_eq!(
        maintenance.get(18, IMAGE_TRANSFER, 7, None).unwrap(),
        Value::Array(vec![Value::Structure(vec![
            Value::DoubleLongUnsigned(u32::try_from(image.len()).unwrap()),
            Value::OctetString(b"fw-2.0".to_vec()),
            Value::OctetString(image[image.len() - SIGNATURE_LEN..].to_vec()),
        ])])
    );
    activate(&mut maintenance).unwrap();
    assert_eq!(image_status(&maintenance), ACTIVATED);
}

#[test]
fn sec10_tampered_byte_fails_verification_and_activation_is_refused() {
    let good = signed_image(1, b"fw-1.1", &firmware());
    // A byte of the firmware, a byte of the signature.
    for at in [5, good.len() - 1] {
        let (_, _, mut maintenance) = stores(model_trusting(1));
        let mut image = good.clone();
        image[at] ^= 0x01;
        transfer(&mut maintenance, b"fw-1.1", &image);
        assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
        assert_eq!(image_status(&maintenance), VERIFICATION_FAILED, "byte {at}");
        assert_eq!(
            maintenance.get(18, IMAGE_TRANSFER, 7, None).unwrap(),
            Value::Array(Vec::new()),
            "nothing to activate"
        );
        assert_eq!(activate(&mut maintenance), Err(ActionResult::OtherReason));
        assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
        {
            let mut m = maintenance.model().lock().unwrap();
            assert_eq!(m.take_activated_image(), None);
            assert!(m.take_changes().is_empty());
        }
        // The client sends the damaged block again, right this time, and verifies anew.
        let n = at / 128;
        let chunk = &good[n * 128..good.len().min(n * 128 + 128)];
        action(
            &mut maintenance,
            18,
            IMAGE_TRANSFER,
            2,
            Some(&image_block(n, chunk)),
        )
        .unwrap();
        verify(&mut maintenance).unwrap();
        activate(&mut maintenance).unwrap();
        assert_eq!(image_status(&maintenance), ACTIVATED);
    }
}

#[test]
fn sec10_wrong_key_fails_verification() {
    let (_, _, mut maintenance) = stores(model_trusting(1));
    transfer(
        &mut maintenance,
        b"fw-1.1",
        &signed_image(2, b"fw-1.1", &firmware()),
    );
    assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
    assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
    assert_eq!(activate(&mut maintenance), Err(ActionResult::OtherReason));
}

#[test]
fn sec10_the_signature_binds_the_identifier() {
    let (_, _, mut maintenance) = stores(model_trusting(1));
    // A genuine image, initiated under another image's name.
    transfer(
        &mut maintenance,
        b"fw-9.9",
        &signed_image(1, b"fw-1.1", &firmware()),
    );
    assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
    assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
}

#[test]
fn sec10_without_a_vendor_key_or_a_trailer_nothing_verifies() {
    // No key configured (the default): fail closed, even for a well-signed image.
    let (_, _, mut maintenance) = stores(model());
    transfer(
        &mut maintenance,
        b"fw-1.1",
        &signed_image(1, b"fw-1.1", &firmware()),
    );
    assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
    assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
    assert_eq!(activate(&mut maintenance), Err(ActionResult::OtherReason));

    // An image no longer than a signature, and a trailer that is no signature.
    let (_, _, mut maintenance) = stores(model_trusting(1));
    transfer(&mut maintenance, b"fw-1.1", &[0xAB; SIGNATURE_LEN]);
    assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
    assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
    let mut unsigned = firmware();
    unsigned.extend_from_slice(&[0; SIGNATURE_LEN]);
    transfer(&mut maintenance, b"fw-1.1", &unsigned);
    assert_eq!(verify(&mut maintenance), Err(ActionResult::OtherReason));
    assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
}

/// A vendor signing with its own tools: key and signature made by OpenSSL 3.0
/// (`openssl ecparam -name prime256v1 -genkey`, `openssl dgst -sha256 -sign` over
/// `len(identifier) ‖ identifier ‖ firmware`, the DER signature turned into `r ‖ s`), not
/// by the crate that verifies.
#[test]
fn sec10_an_image_signed_with_openssl_verifies() {
    const PUBLIC: &str = "042ede4aba6d9755ad258c443e6f9d132cf02d6b4dbd947a1857421d20b44301b7\
                          be5cb7b1f5500e91c330347eaead0aba45a238ea69f5e05883ff161491cb0845";
    const SIGNATURE: &str = "2f385cd16ffeece3aba2d2f7f0f01a2a7d4e608fef5ebf42b61d5eafd9074a66\
                             bac06961ecb4354834afb7a530512d3a6479aad6434a6ecb2dd4057e8fa6afdb";
    let config = ModelConfig {
        image_vendor_key: Some(
            ImageVendorKey::from_sec1_bytes(&dlms::hex::decode(PUBLIC).unwrap()).unwrap(),
        ),
        ..ModelConfig::default()
    };
    let (_, _, mut maintenance) = stores(IotRouteModel::new(&config, now()).unwrap());
    let firmware: Vec<u8> = (0..200u32).map(|i| ((i * 7 + 3) % 256) as u8).collect();
    let mut image = firmware.clone();
    image.extend(dlms::hex::decode(SIGNATURE).unwrap());
    transfer(&mut maintenance, b"vendor-fw-3.2", &image);
    verify(&mut maintenance).unwrap();
    activate(&mut maintenance).unwrap();
    assert_eq!(
        activated_image(&mut maintenance.model().lock().unwrap()),
        Some((b"vendor-fw-3.2".to_vec(), firmware))
    );
}

/// An image store whose step `fail` names ("begin", "write", "read") fails, as a full
/// or broken disk would.
#[derive(Debug, Default)]
struct Flaky(std::sync::Arc<std::sync::Mutex<Option<&'static str>>>);

impl Flaky {
    fn check(fail: &std::sync::Mutex<Option<&'static str>>, step: &str) -> std::io::Result<()> {
        match *fail.lock().unwrap() {
            Some(f) if f == step => Err(std::io::Error::other(format!("{step} failed"))),
            _ => Ok(()),
        }
    }
}

struct FlakyImage(
    Vec<u8>,
    std::sync::Arc<std::sync::Mutex<Option<&'static str>>>,
);

impl ImageStore for Flaky {
    fn begin(&self, size: u32) -> std::io::Result<Box<dyn StoredImage>> {
        Self::check(&self.0, "begin")?;
        Ok(Box::new(FlakyImage(vec![0; size as usize], self.0.clone())))
    }
}

impl StoredImage for FlakyImage {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        Flaky::check(&self.1, "write")?;
        self.0.write_at(offset, bytes)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        Flaky::check(&self.1, "read")?;
        self.0.read_at(offset, buf)
    }
}

/// SEC-10: the image goes to the store the model was given, and a store that fails
/// fails the ACTION with a hardware fault (logged), never a panic; the transfer goes on
/// once the store works again.
#[test]
fn sec10_the_image_is_kept_in_the_configured_store_and_its_failures_are_hardware_faults() {
    let store = Flaky::default();
    let fail = store.0.clone();
    let config = ModelConfig {
        image_vendor_key: Some(vendor_key(1)),
        image_store: Some(ImageStorage(std::sync::Arc::new(store))),
        ..ModelConfig::default()
    };
    let (_, _, mut maintenance) = stores(IotRouteModel::new(&config, now()).unwrap());
    let image = signed_image(1, b"fw-4.0", &firmware());
    let init = Value::Structure(vec![
        Value::OctetString(b"fw-4.0".to_vec()),
        Value::DoubleLongUnsigned(u32::try_from(image.len()).unwrap()),
    ]);
    *fail.lock().unwrap() = Some("begin");
    assert_eq!(
        action(&mut maintenance, 18, IMAGE_TRANSFER, 1, Some(&init)),
        Err(ActionResult::HardwareFault)
    );
    assert_eq!(image_status(&maintenance), Value::Enum(0));
    *fail.lock().unwrap() = Some("write");
    action(&mut maintenance, 18, IMAGE_TRANSFER, 1, Some(&init)).unwrap();
    assert_eq!(
        action(
            &mut maintenance,
            18,
            IMAGE_TRANSFER,
            2,
            Some(&image_block(0, &image[..128]))
        ),
        Err(ActionResult::HardwareFault)
    );
    assert_eq!(
        maintenance.get(18, IMAGE_TRANSFER, 4, None).unwrap(),
        Value::DoubleLongUnsigned(0),
        "the block is still missing"
    );
    *fail.lock().unwrap() = Some("read");
    transfer(&mut maintenance, b"fw-4.0", &image);
    assert_eq!(verify(&mut maintenance), Err(ActionResult::HardwareFault));
    assert_eq!(image_status(&maintenance), VERIFICATION_FAILED);
    *fail.lock().unwrap() = None;
    verify(&mut maintenance).unwrap();
    activate(&mut maintenance).unwrap();
    assert_eq!(
        activated_image(&mut maintenance.model().lock().unwrap()),
        Some((b"fw-4.0".to_vec(), firmware()))
    );
}

#[test]
fn sec10_vendor_key_must_be_a_p256_public_key() {
    let public = vendor_signing_key(1).verifying_key().to_sec1_point(true);
    assert_eq!(public.as_bytes().len(), 33);
    assert_eq!(
        ImageVendorKey::from_sec1_bytes(public.as_bytes()).unwrap(),
        vendor_key(1),
        "compressed and uncompressed forms are the same key"
    );
    for bad in [&[][..], &[0x04; 65][..], &[0x02; 32][..]] {
        assert_eq!(
            ImageVendorKey::from_sec1_bytes(bad).unwrap_err().len,
            bad.len()
        );
    }
    // The key never appears in logs.
    let config = ModelConfig {
        image_vendor_key: Some(vendor_key(1)),
        ..ModelConfig::default()
    };
    assert!(format!("{config:?}").contains("ImageVendorKey(P-256)"));
}

#[test]
fn event_log_records_settings_changes() {
    let (_, mut management, _) = stores(model());
    let before = management
        .model()
        .lock()
        .unwrap()
        .event_log()
        .entries_in_use()
        .unwrap();
    set(
        &mut management,
        1,
        PAIRING_ID,
        2,
        &Value::VisibleString(b"IOT02555".to_vec()),
    )
    .unwrap();
    let v = management.get(7, EVENT_LOG, 2, None).unwrap();
    assert_eq!(rows(&v).len(), before + 1);
    let Value::Structure(last) = rows(&v).last().unwrap() else {
        panic!()
    };
    assert_eq!(last[1], Value::LongUnsigned(4), "Pairing ID changed");
}

#[test]
fn trm06_profile_sizes_documented_in_iot_route_cosem_md() {
    let config = ModelConfig {
        profile_entries: 4320,
        ..ModelConfig::default()
    };
    let mut m = IotRouteModel::new(&config, now()).unwrap();
    m.fill_demo(90, now()).unwrap();
    let (_, management, _) = stores(m);
    let mut buf = [0u8; 64];
    let sa = range(
        jst(2026, 11, 24, 12, 30),
        jst(2026, 11, 25, 12, 0),
        &mut buf,
    );
    let day = management.get(7, LOAD_PROFILE, 2, Some(sa)).unwrap();
    assert_eq!(
        wire(&day).len(),
        1_346,
        "48 rows of 28 bytes and the array header"
    );
    let all = management.get(7, LOAD_PROFILE, 2, None).unwrap();
    assert_eq!(rows(&all).len(), 4320);
    assert_eq!(wire(&all).len(), 120_964);
}

#[test]
fn trm05_slot_push_body_carries_clock_registers_and_status() {
    let mut m = model();
    m.set_energy(12_345_678, 9_876);
    let Value::Structure(body) = m.push_body() else {
        panic!()
    };
    assert_eq!(body.len(), 5);
    assert_eq!(body[0], Value::OctetString(PUSH_SETUP.as_bytes().to_vec()));
    assert!(matches!(&body[1], Value::OctetString(b) if b.len() == 12));
    assert_eq!(body[2], Value::DoubleLongUnsigned(12_345_678));
    assert_eq!(body[3], Value::DoubleLongUnsigned(9_876));
    assert_eq!(body[4], Value::Unsigned(0));
}

#[test]
fn trm06_rows_between_matches_the_range_read() {
    let mut m = model();
    m.fill_demo(2, now()).unwrap();
    let n = m
        .load_profile()
        .rows_between(jst(2026, 11, 24, 0, 0), jst(2026, 11, 24, 23, 30))
        .unwrap()
        .len();
    assert_eq!(n, 48);
}

#[test]
fn trm06_trm08_state_survives_a_restart() {
    let mut m = model();
    m.fill_demo(2, now()).unwrap();
    m.set_meter_id(now(), b"\xFE\x00\x00\x01METER0001").unwrap();
    let (_, mut management, _) = stores(m);
    set(
        &mut management,
        1,
        PAIRING_ID,
        2,
        &Value::VisibleString(b"IOT01123".to_vec()),
    )
    .unwrap();
    set(
        &mut management,
        1,
        AUTH_PASSWORD,
        2,
        &Value::OctetString(b"new-password-1".to_vec()),
    )
    .unwrap();
    set(
        &mut management,
        15,
        ASSOCIATION,
        7,
        &Value::OctetString(b"87654321".to_vec()),
    )
    .unwrap();
    set(
        &mut management,
        7,
        LOAD_PROFILE,
        4,
        &Value::DoubleLongUnsigned(900),
    )
    .unwrap();
    let target = jst(2026, 11, 25, 12, 20);
    set(
        &mut management,
        8,
        CLOCK,
        2,
        &Value::clock_octet_string(&to_cosem(target, -540, 0)),
    )
    .unwrap();
    let before = management.model().lock().unwrap().snapshot();
    let debug = format!("{before:?}");
    assert!(
        !debug.contains("87654321") && !debug.contains("new-password"),
        "{debug}"
    );

    // Through JSON, as the storage layer would keep it.
    let json = serde_json::to_string(&before).unwrap();
    let state = serde_json::from_str(&json).unwrap();
    let later = now() + chrono::Duration::hours(1);
    let m = IotRouteModel::restore(&ModelConfig::default(), state, later).unwrap();
    assert_eq!(m.load_profile().entries_in_use().unwrap(), 96);
    assert_eq!(m.load_profile().rows().unwrap(), before.load_profile);
    assert_eq!(m.energy(), before.energy_wh);
    assert_eq!(m.meter_id(), b"\xFE\x00\x00\x01METER0001");
    assert_eq!(m.pairing_id(), "IOT01123");
    assert_eq!(m.auth_password(), b"new-password-1");
    assert_eq!(m.association_secret(Association::Management), b"87654321");
    assert_eq!(m.capture_period(), 900);
    assert_eq!(
        m.clock().time_at(later),
        target + chrono::Duration::hours(1),
        "the offset is kept"
    );
    assert_eq!(
        m.event_log().entries_in_use().unwrap(),
        before.event_log.len() + 1,
        "plus a power-up"
    );
}

/// The `object_list_element` of Association LN methods 3 and 4, with empty rights.
fn element(class: u16, version: u8, ln: Obis) -> Value {
    Value::Structure(vec![
        Value::LongUnsigned(class),
        Value::Unsigned(version),
        Value::OctetString(ln.as_bytes().to_vec()),
        Value::Structure(vec![Value::Array(Vec::new()), Value::Array(Vec::new())]),
    ])
}

fn listed(store: &CosemStore) -> Vec<Obis> {
    let v = store.get(15, ASSOCIATION, 2, None).unwrap();
    rows(&v)
        .iter()
        .map(|e| {
            let Value::Structure(f) = e else { panic!() };
            let Value::OctetString(b) = &f[2] else {
                panic!()
            };
            Obis::from_slice(b).unwrap()
        })
        .collect()
}

#[test]
fn trm08_remove_object_and_add_object_change_the_maintenance_view_only() {
    let (_, management, mut maintenance) = stores(model());
    let pairing = element(1, 0, PAIRING_ID);
    assert_eq!(
        action(&mut maintenance, 15, ASSOCIATION, 4, Some(&pairing)),
        Ok(None)
    );
    // Out of the maintenance association's object_list, and so unreachable by it, as an
    // object that does not exist.
    assert!(!listed(&maintenance).contains(&PAIRING_ID));
    assert_eq!(
        maintenance.get(1, PAIRING_ID, 2, None),
        Err(DataAccessResult::ObjectUndefined)
    );
    {
        let m = maintenance.model().lock().unwrap();
        assert!(!m
            .visible_objects(Association::Maintenance)
            .iter()
            .any(|(_, _, ln)| *ln == PAIRING_ID));
        assert_eq!(
            m.attribute_rights(Association::Maintenance, 1, PAIRING_ID, 2),
            None
        );
    }
    // The management association's view is its own.
    assert!(listed(&management).contains(&PAIRING_ID));
    management.get(1, PAIRING_ID, 2, None).unwrap();

    // Removing again is a success that changes nothing (a retried request).
    assert_eq!(
        action(&mut maintenance, 15, ASSOCIATION, 4, Some(&pairing)),
        Ok(None)
    );
    assert_eq!(
        action(&mut maintenance, 15, ASSOCIATION, 3, Some(&pairing)),
        Ok(None)
    );
    assert_eq!(listed(&maintenance), listed(&management));
    // Back with the table's rights, whatever the element asked for.
    assert_eq!(
        maintenance.model().lock().unwrap().attribute_rights(
            Association::Maintenance,
            1,
            PAIRING_ID,
            2
        ),
        Some(dlms::cosem::AccessMode::ReadWrite)
    );
    maintenance.get(1, PAIRING_ID, 2, None).unwrap();
    let mut m = maintenance.model().lock().unwrap();
    assert_eq!(
        m.take_changes(),
        vec![
            ModelChange::ObjectListChanged(Association::Maintenance),
            ModelChange::ObjectListChanged(Association::Maintenance)
        ],
        "one change per effective request"
    );
}

#[test]
fn trm08_add_object_and_remove_object_refusals() {
    let (mut public, mut management, mut maintenance) = stores(model());
    let pairing = element(1, 0, PAIRING_ID);
    // Only the maintenance association (ours).
    for store in [&mut public, &mut management] {
        for method in [3, 4] {
            assert_eq!(
                action(store, 15, ASSOCIATION, method, Some(&pairing)),
                Err(ActionResult::ReadWriteDenied)
            );
        }
    }
    {
        let m = maintenance.model().lock().unwrap();
        assert_eq!(
            m.method_rights(Association::Maintenance, 15, ASSOCIATION, 3),
            Some(true)
        );
        assert_eq!(
            m.method_rights(Association::Management, 15, ASSOCIATION, 4),
            Some(false)
        );
    }
    let cases = [
        // No such object: nothing above the access table can be listed.
        (
            Some(element(1, 0, Obis::new(0, 0, 96, 1, 9, 255))),
            ActionResult::ObjectUndefined,
        ),
        // Another class or version than the object has.
        (
            Some(element(3, 0, PAIRING_ID)),
            ActionResult::ObjectClassInconsistent,
        ),
        (
            Some(element(7, 0, LOAD_PROFILE)),
            ActionResult::ObjectClassInconsistent,
        ),
        // Not an object_list_element.
        (None, ActionResult::TypeUnmatched),
        (Some(Value::Unsigned(1)), ActionResult::TypeUnmatched),
        (
            Some(Value::Structure(vec![
                Value::LongUnsigned(1),
                Value::Unsigned(0),
                Value::OctetString(vec![0, 0, 128]),
                Value::Structure(vec![Value::Array(Vec::new()), Value::Array(Vec::new())]),
            ])),
            ActionResult::TypeUnmatched,
        ),
        (
            Some(Value::Structure(vec![
                Value::LongUnsigned(1),
                Value::Unsigned(0),
                Value::OctetString(PAIRING_ID.as_bytes().to_vec()),
                Value::Null,
            ])),
            ActionResult::TypeUnmatched,
        ),
    ];
    for (p, want) in cases {
        for method in [3, 4] {
            assert_eq!(
                action(&mut maintenance, 15, ASSOCIATION, method, p.as_ref()),
                Err(want),
                "method {method} with {p:?}"
            );
        }
    }
    // The association object itself stays: without it the list could never be put back.
    assert_eq!(
        action(
            &mut maintenance,
            15,
            ASSOCIATION,
            4,
            Some(&element(15, 1, ASSOCIATION))
        ),
        Err(ActionResult::ReadWriteDenied)
    );
    assert_eq!(listed(&maintenance), listed(&management));
    assert!(maintenance
        .model()
        .lock()
        .unwrap()
        .take_changes()
        .is_empty());
}

#[test]
fn trm08_removed_objects_stay_removed_across_a_restart() {
    let (_, _, mut maintenance) = stores(model());
    action(
        &mut maintenance,
        15,
        ASSOCIATION,
        4,
        Some(&element(18, 0, IMAGE_TRANSFER)),
    )
    .unwrap();
    let state = maintenance.model().lock().unwrap().snapshot();
    let json = serde_json::to_string(&state).unwrap();
    let m = IotRouteModel::restore(
        &ModelConfig::default(),
        serde_json::from_str(&json).unwrap(),
        now(),
    )
    .unwrap();
    let seen = |m: &IotRouteModel, a| {
        m.visible_objects(a)
            .iter()
            .any(|(_, _, ln)| *ln == IMAGE_TRANSFER)
    };
    assert!(!seen(&m, Association::Maintenance));
    assert!(seen(&m, Association::Management));

    // A state written before object lists could change restores with nothing hidden.
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("object_list_hidden");
    let m = IotRouteModel::restore(
        &ModelConfig::default(),
        serde_json::from_value(old).unwrap(),
        now(),
    )
    .unwrap();
    assert!(seen(&m, Association::Maintenance));
}

#[test]
fn trm06_slots_from_the_store_fill_the_profile_in_time_order_and_a_recovered_one_replaces_its_row()
{
    let mut m = model();
    let before = m.load_profile().entries_in_use().unwrap();
    let t = |h: u32, min: u32| Utc.with_ymd_and_hms(2026, 11, 25, h, min, 0).unwrap();
    let not_valid = dlms::cosem::model::status::DATA_NOT_VALID;
    m.put_slot(t(1, 0), Some((1000, 10)), 0).unwrap();
    m.put_slot(t(2, 0), Some((1300, 30)), 0).unwrap();
    // A missing slot, written late (the store's order is the slots', not the writes').
    m.put_slot(t(1, 30), None, not_valid).unwrap();
    assert_eq!(
        m.energy(),
        (1300, 30),
        "only the newest slot sets the registers"
    );
    let rows: Vec<(DateTime<Utc>, Value)> = m
        .load_profile()
        .rows()
        .unwrap()
        .into_iter()
        .skip(before)
        .map(|r| (r.time, r.values[2].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (t(1, 0), Value::Unsigned(0)),
            (t(1, 30), Value::Unsigned(not_valid)),
            (t(2, 0), Value::Unsigned(0))
        ]
    );
    // Recovered later: the same row, now with its values and valid.
    m.put_slot(t(1, 30), Some((1150, 20)), 0).unwrap();
    let row = m
        .load_profile()
        .rows()
        .unwrap()
        .into_iter()
        .find(|r| r.time == t(1, 30))
        .unwrap();
    assert_eq!(
        row.values,
        vec![
            Value::DoubleLongUnsigned(1150),
            Value::DoubleLongUnsigned(20),
            Value::Unsigned(0)
        ]
    );
    assert_eq!(m.load_profile().entries_in_use().unwrap(), before + 3);
    assert_eq!(m.energy(), (1300, 30));
}

/// SEC-09: the access log (ours, 0-0:99.98.128.255) records each access with its code
/// and the client's wPort, in order, readable by management and maintenance only.
#[test]
fn sec09_the_access_log_records_code_and_client_in_order() {
    use dlms::cosem::AccessCode;
    let mut m = model();
    m.log_access(now(), AccessCode::AssociationRefused, 32);
    m.log_access(now(), AccessCode::SetAccepted, 32);
    let rows: Vec<_> = m
        .access_log()
        .rows()
        .unwrap()
        .into_iter()
        .map(|r| r.values.clone())
        .collect();
    assert_eq!(
        rows,
        [
            vec![Value::LongUnsigned(2), Value::LongUnsigned(32)],
            vec![Value::LongUnsigned(4), Value::LongUnsigned(32)],
        ]
    );
    let log = dlms::cosem::codes::ACCESS_LOG;
    use dlms::cosem::access::{attribute, AccessMode};
    use dlms::cosem::Association;
    assert_eq!(attribute(Association::Public, log, 2), AccessMode::NoAccess);
    assert_eq!(
        attribute(Association::Maintenance, log, 2),
        AccessMode::Read
    );
    assert_eq!(
        AccessCode::from_code(AccessCode::ClientRefused.code()),
        Some(AccessCode::ClientRefused)
    );
}

/// SEC-07: the meter connected now is accepted by writing its own ID back to the meter
/// ID object (management or maintenance); any other ID, an empty one or another type is
/// refused, the public client cannot, and the acceptance is logged and reported.
#[test]
fn sec07_a_client_accepts_the_meter_connected_by_writing_its_id_back() {
    use dlms::cosem::codes::METER_ID;
    let mut m = model();
    m.set_meter_id(now(), b"METER-B").unwrap();
    let shared_model = shared(m);
    let mut public = CosemStore::new(shared_model.clone(), Association::Public);
    let mut management = CosemStore::new(shared_model.clone(), Association::Management);
    let mut maintenance = CosemStore::new(shared_model.clone(), Association::Maintenance);
    let other = Value::OctetString(b"METER-C".to_vec());
    assert_eq!(
        set(&mut management, 1, METER_ID, 2, &other),
        Err(DataAccessResult::OtherReason),
        "a meter that is not there"
    );
    assert_eq!(
        set(
            &mut maintenance,
            1,
            METER_ID,
            2,
            &Value::VisibleString(b"METER-B".to_vec())
        ),
        Err(DataAccessResult::TypeUnmatched)
    );
    let this = Value::OctetString(b"METER-B".to_vec());
    assert!(set(&mut public, 1, METER_ID, 2, &this).is_err());
    assert!(shared_model.lock().unwrap().take_changes().is_empty());
    set(&mut maintenance, 1, METER_ID, 2, &this).unwrap();
    let mut m = shared_model.lock().unwrap();
    assert_eq!(
        m.take_changes(),
        vec![ModelChange::MeterAccepted(b"METER-B".to_vec())]
    );
    assert_eq!(
        m.meter_id(),
        b"METER-B",
        "the object still holds the ID read"
    );
    let last = m
        .event_log()
        .rows()
        .unwrap()
        .into_iter()
        .last()
        .unwrap()
        .values
        .clone();
    assert_eq!(
        last,
        vec![Value::LongUnsigned(
            dlms::cosem::EventCode::MeterAccepted.code()
        )]
    );
}
