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

proptest! {
    /// The profile keeps its rows encoded (the values A-XDR back to back, not a `Vec`
    /// of values): whatever was captured or put in its place reads back the same,
    /// decoded (`rows`, `select_rows`) and on the wire (the buffer's GET, where each
    /// row is the clock then the values as they encode).
    #[test]
    fn a_profile_gives_back_every_value_it_captured(
        rows in proptest::collection::vec(proptest::collection::vec(value(), 2), 1..12),
        replace in proptest::collection::vec(value(), 2),
    ) {
        use dlms::cosem::{CaptureDef, CosemObject, ProfileGeneric, ProfileRow};
        let mut p = ProfileGeneric::new(
            dlms::cosem::codes::LOAD_PROFILE,
            vec![
                CaptureDef::new(3, dlms::cosem::codes::ENERGY_AC_INPUT, 2, 0),
                CaptureDef::new(3, dlms::cosem::codes::ENERGY_AC_OUTPUT, 2, 0),
            ],
            1800,
            vec![1800],
            100,
        ).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let mut expected = Vec::new();
        for (i, values) in rows.into_iter().enumerate() {
            let time = t0 + chrono::Duration::minutes(30 * i64::try_from(i).unwrap());
            p.capture(time, values.clone()).unwrap();
            expected.push(ProfileRow { time, clock_status: 0, values });
        }
        let last = expected.len() - 1;
        expected[last].values.clone_from(&replace);
        p.upsert_row(expected[last].clone()).unwrap();
        prop_assert_eq!(p.rows().unwrap(), expected.clone());
        prop_assert_eq!(p.select_rows(None).unwrap(), expected.clone());
        let mut wire = Vec::new();
        p.get(2, None, &mut wire).unwrap();
        let Value::Array(read) = Value::decode(&wire).unwrap() else {
            panic!("the buffer is an array");
        };
        let values: Vec<Vec<Value>> = read
            .into_iter()
            .map(|r| match r {
                Value::Structure(mut cells) => cells.split_off(1),
                other => vec![other],
            })
            .collect();
        prop_assert_eq!(values, expected.into_iter().map(|r| r.values).collect::<Vec<_>>());
    }
}

#[derive(Debug, Clone, Copy)]
struct TestEntropy;

impl dlms::server::Entropy for TestEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        out.fill(0x33);
        true
    }
}

/// An open public association and an open management (no security) one, so that random
/// bytes reach the GET/SET/ACTION paths and not only the AARQ parser.
fn terminal() -> dlms::server::TerminalServer<TestEntropy> {
    use dlms::server::{Auth, Protection, ServeConfig, TerminalServer};
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap();
    let mut m = IotRouteModel::new(&ModelConfig::default(), now).unwrap();
    m.fill_demo(1, now).unwrap();
    let config = ServeConfig {
        auth: Auth::None,
        protection: Protection::None,
        keys: None,
        system_title: [0x4D, 0x4D, 0x4D, 0, 0, 0xBC, 0x61, 0x4E],
        max_pdu: 1024,
        invocation_counter: 0,
    };
    let mut s = TerminalServer::new(shared(m), config, TestEntropy).unwrap();
    // A minimal LN AARQ without authentication, proposing GET/SET/ACTION/selective access.
    let aarq = dlms::hex::decode("601DA109060760857405080101BE10040E01000000065F1F040000181DFFFF")
        .unwrap();
    let mut out = vec![0u8; 4096];
    for wport in [16, 1, 32] {
        let n = s.handle(wport, now, &aarq, &mut out).unwrap().unwrap();
        let aare = format!("{:?}", dlms::apdu::decode(&out[..n]).unwrap());
        assert!(aare.contains("Accepted"), "wPort {wport}: {aare}");
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_apdu_panics_the_terminal_server(
        apdus in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                // GET/SET/ACTION request headers with random tails.
                (prop_oneof![Just(0xC0u8), Just(0xC1), Just(0xC3)], 1u8..4, proptest::collection::vec(any::<u8>(), 0..48))
                    .prop_map(|(tag, kind, tail)| {
                        let mut v = vec![tag, kind, 0xC1];
                        v.extend(tail);
                        v
                    }),
            ],
            1..8,
        ),
        wport in prop_oneof![Just(16u16), Just(1), Just(32), any::<u16>()],
    ) {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap();
        let mut s = terminal();
        let mut out = vec![0u8; 200_000];
        for a in &apdus {
            let _ = s.handle(wport, now, a, &mut out);
        }
        prop_assert!(s.model().lock().is_ok());
    }
}

/// The logical names in `object_list` (attribute 2 of the current association) as
/// `store`'s association reads it.
fn listed(store: &CosemStore) -> Vec<dlms::cosem::Obis> {
    let Ok(Value::Array(entries)) = store.get(15, dlms::cosem::codes::ASSOCIATION, 2, None) else {
        panic!("object_list unreadable");
    };
    entries
        .iter()
        .map(|e| match e {
            Value::Structure(f) => match &f[2] {
                Value::OctetString(b) => dlms::cosem::Obis::from_slice(b).unwrap(),
                other => panic!("logical name {other:?}"),
            },
            other => panic!("entry {other:?}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// TRM-08, Association LN `add_object`/`remove_object` (docs/iot-route-cosem.md): after
    /// any sequence of them by the maintenance client, an object is reachable by an
    /// association exactly when its `object_list` lists it, the maintenance list is the
    /// access table's minus what was removed (never more, never the association object
    /// itself), the rights are the table's, and the other associations' lists do not move.
    #[test]
    fn trm08_object_list_and_reachability_stay_consistent(
        ops in proptest::collection::vec((any::<bool>(), 0usize..17, any::<bool>()), 0..24),
    ) {
        use dlms::cosem::access;
        use std::collections::BTreeSet;
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap();
        let model = shared(IotRouteModel::new(&ModelConfig::default(), now).unwrap());
        let all = model.lock().unwrap().visible_objects(Association::Maintenance);
        let stores: Vec<CosemStore> = Association::ALL
            .into_iter()
            .map(|a| CosemStore::new(model.clone(), a))
            .collect();
        let before: Vec<Vec<dlms::cosem::Obis>> = stores.iter().map(listed).collect();
        let mut maintenance = CosemStore::new(model.clone(), Association::Maintenance);
        let mut hidden = BTreeSet::new();
        for (add, i, right_class) in ops {
            let (class, version, ln) = all[i % all.len()];
            let element = Value::Structure(vec![
                Value::LongUnsigned(if right_class { class } else { class ^ 0x40 }),
                Value::Unsigned(version),
                Value::OctetString(ln.as_bytes().to_vec()),
                Value::Structure(vec![Value::Array(Vec::new()), Value::Array(Vec::new())]),
            ]);
            let bytes = element.encode().unwrap();
            let d = DataRef::from_bytes_in(&bytes).unwrap();
            let r = maintenance.action(15, dlms::cosem::codes::ASSOCIATION, if add { 3 } else { 4 }, Some(d));
            let removable = ln != dlms::cosem::codes::ASSOCIATION;
            prop_assert_eq!(r.is_ok(), right_class && (add || removable), "{:?}", r);
            if r.is_ok() {
                if add { hidden.remove(&ln); } else { hidden.insert(ln); }
            }
            for (k, store) in stores.iter().enumerate() {
                let a = Association::ALL[k];
                let list = listed(store);
                if a == Association::Maintenance {
                    let want: Vec<_> = all.iter().map(|o| o.2).filter(|ln| !hidden.contains(ln)).collect();
                    prop_assert_eq!(&list, &want);
                    prop_assert!(list.contains(&dlms::cosem::codes::ASSOCIATION));
                } else {
                    prop_assert_eq!(&list, &before[k]);
                }
                for &(class, _, ln) in &all {
                    let reachable = store.get(class, ln, 1, None).is_ok();
                    prop_assert_eq!(reachable, list.contains(&ln), "{:?} {}", a, ln);
                    let rights = model.lock().unwrap().attribute_rights(a, class, ln, 2);
                    prop_assert_eq!(rights, reachable.then(|| access::attribute(a, ln, 2)));
                }
            }
        }
    }
}

/// Rows in a vector, as the terminal's store gives them to its load profile.
struct VecRows(Vec<dlms::cosem::ProfileRow>);

impl dlms::cosem::RowSource for VecRows {
    fn rows_between(
        &self,
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
    ) -> Result<(Vec<dlms::cosem::ProfileRow>, usize), dlms::cosem::SourceError> {
        let picked = self
            .0
            .iter()
            .filter(|r| r.time >= from && r.time <= to)
            .cloned()
            .collect();
        Ok((picked, self.0.iter().filter(|r| r.time > to).count()))
    }

    fn last_time(&self) -> Result<Option<chrono::DateTime<Utc>>, dlms::cosem::SourceError> {
        Ok(self.0.last().map(|r| r.time))
    }
}

proptest! {
    /// TRM-06: a load profile that shows a store's rows reads, byte for byte, as one
    /// that keeps the same rows: whole, by time range, by entry range, and its
    /// `entries_in_use`, at any depth — the newest `profile_entries` rows either way.
    #[test]
    fn trm06_a_view_reads_as_a_profile_keeping_the_same_rows(
        hours in proptest::collection::btree_set(0u32..40, 0..24),
        entries in 1u32..20,
        (from, to) in (0u32..45, 0u32..45),
        (first, last) in (0u32..25, 0u32..25),
    ) {
        use dlms::cosem::{CaptureDef, CosemObject, ProfileGeneric, ProfileRow};
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let at = |h: u32| t0 + chrono::Duration::hours(i64::from(h));
        let profile = || ProfileGeneric::new(
            dlms::cosem::codes::LOAD_PROFILE,
            vec![CaptureDef::new(3, dlms::cosem::codes::ENERGY_AC_INPUT, 2, 0)],
            1800,
            vec![1800],
            entries,
        ).unwrap();
        let rows: Vec<ProfileRow> = hours
            .iter()
            .map(|&h| ProfileRow {
                time: at(h),
                clock_status: 0,
                values: vec![Value::DoubleLongUnsigned(h * 1000)],
            })
            .collect();
        let mut kept = profile();
        for r in &rows {
            kept.upsert_row(r.clone()).unwrap();
        }
        let mut view = profile();
        view.view(std::sync::Arc::new(VecRows(rows)));
        let by_time = Value::Structure(vec![
            CaptureDef::clock().to_value(),
            Value::clock_octet_string(&dlms::cosem::to_cosem(at(from), -540, 0)),
            Value::clock_octet_string(&dlms::cosem::to_cosem(at(to), -540, 0)),
            Value::Array(vec![]),
        ]);
        let by_entry = Value::Structure(vec![
            Value::DoubleLongUnsigned(first),
            Value::DoubleLongUnsigned(last),
            Value::LongUnsigned(0),
            Value::LongUnsigned(0),
        ]);
        let read = |p: &ProfileGeneric, attribute: i8, selector: Option<(u8, &Value)>| {
            let mut params = Vec::new();
            let sa = selector.map(|(selector, v)| {
                v.encode_into(&mut params).unwrap();
                SelectiveAccess { selector, parameters: DataRef::from_bytes_in(&params).unwrap() }
            });
            let mut out = Vec::new();
            p.get(attribute, sa.as_ref(), &mut out).map(|()| out)
        };
        for (attribute, selector) in [
            (2, None),
            (2, Some((1, &by_time))),
            (2, Some((2, &by_entry))),
            (7, None),
        ] {
            prop_assert_eq!(read(&view, attribute, selector), read(&kept, attribute, selector));
        }
        prop_assert_eq!(view.rows().unwrap(), kept.rows().unwrap());
    }
}
