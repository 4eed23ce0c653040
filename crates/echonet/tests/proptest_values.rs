//! Property tests of the typed property values (`echonet::objects`) and the TRM-03 energy
//! arithmetic (`echonet::energy`).
//!
//! Round trips are generated over each value's whole valid range, ranges are checked at
//! and just past their bounds, and every EDT a peer might send (SEC-06: random bytes,
//! random bytes of each property's own length) must decode or fail without a panic. The
//! expected ranges, the leap-year rule and the unit scale are written out here again
//! instead of being read from the crate, so a wrong constant there cannot pass by
//! agreeing with itself.

use echonet::energy::{Energy, EnergyUnit, MeterReading, COUNTER_MAX, READING_MODULUS};
use echonet::objects::{
    Date, FixedTimeReading, History, IdentificationNumber, MeterProperty, NodeProfileProperty,
    OperationStatus, SuperclassProperty, TimeOfDay, Value, HISTORY_LEN, MAX_CLASSES,
    MAX_HISTORY_DAYS, MAX_ID_LEN, MAX_INSTANCES, NOT_MEASURED, SLOTS_PER_DAY,
};
use echonet::{ClassCode, Eoj, PropertyMap, ValueError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const NODE: ClassCode = ClassCode::NODE_PROFILE;
const METER: ClassCode = ClassCode::DISTRIBUTED_GENERATION_METER;
/// Home air conditioner: a class without a typed decoder of its own, so only the super
/// class's properties decode for it.
const OTHER: ClassCode = ClassCode(0x0130);

/// The 9-digit counter's largest value, from the class specification.
const NINE_DIGITS: u32 = 999_999_999;
/// Power values 0x7FFFFFFE (overflow), 0x7FFFFFFF and 0x80000000 (underflow) are reserved.
const POWER_MIN: i32 = -2_147_483_647;
const POWER_MAX: i32 = 2_147_483_645;

// ---------------------------------------------------------------------------------------
// Strategies over the valid ranges.

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn valid_date() -> impl Strategy<Value = Date> {
    (1u16..=9999, 1u8..=12)
        .prop_flat_map(|(y, m)| (Just(y), Just(m), 1..=days_in(y, m)))
        .prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn valid_hms() -> impl Strategy<Value = TimeOfDay> {
    (0u8..24, 0u8..60, 0u8..60).prop_map(|(h, m, s)| TimeOfDay::new(h, m, s).unwrap())
}

fn any_map() -> impl Strategy<Value = PropertyMap> {
    (0usize..=128)
        .prop_flat_map(|n| subsequence((0x80..=0xFFu8).collect::<Vec<_>>(), n))
        .prop_map(|epcs| PropertyMap::from_epcs(&epcs).unwrap())
}

fn counter() -> impl Strategy<Value = u32> {
    prop_oneof![
        0..=NINE_DIGITS,
        Just(0),
        Just(NINE_DIGITS),
        Just(99_999_999)
    ]
}

fn any_unit() -> impl Strategy<Value = EnergyUnit> {
    select(EnergyUnit::ALL.to_vec())
}

fn superclass_value() -> impl Strategy<Value = SuperclassProperty> {
    use SuperclassProperty as P;
    prop_oneof![
        prop_oneof![Just(OperationStatus::On), Just(OperationStatus::Off)]
            .prop_map(P::OperationStatus),
        prop_oneof![
            (0u8..0xFF).prop_map(|code| vec![code]),
            any::<[u8; 16]>().prop_map(|pos| [&[0xFF][..], &pos].concat()),
        ]
        .prop_map(P::InstallationLocation),
        (b'A'..=b'Z', any::<u8>()).prop_map(|(r, revision)| P::StandardVersion {
            release: char::from(r),
            revision
        }),
        (any::<[u8; 3]>(), any::<[u8; 13]>()).prop_map(|(maker, unique)| P::IdentificationNumber(
            IdentificationNumber { maker, unique }
        )),
        any::<bool>().prop_map(P::FaultStatus),
        any::<[u8; 3]>().prop_map(P::ManufacturerCode),
        // 0x97 carries hours and minutes only.
        (0u8..24, 0u8..60).prop_map(|(h, m)| P::CurrentTime(TimeOfDay::new(h, m, 0).unwrap())),
        valid_date().prop_map(P::CurrentDate),
        any_map().prop_map(P::StatusChangeAnnouncementMap),
        any_map().prop_map(P::SetPropertyMap),
        any_map().prop_map(P::GetPropertyMap),
    ]
}

fn node_profile_value() -> impl Strategy<Value = NodeProfileProperty> {
    use NodeProfileProperty as P;
    let eoj = any::<[u8; 3]>().prop_map(Eoj::from_bytes);
    prop_oneof![
        (any::<u8>(), any::<u8>(), 1u8..=3).prop_map(|(major, minor, formats)| P::Version {
            major,
            minor,
            formats
        }),
        (0u32..=0xFF_FFFF).prop_map(P::InstanceCount),
        (1u16..=u16::MAX).prop_map(P::ClassCount),
        vec(eoj.clone(), 0..=84).prop_map(P::InstanceListNotification),
        vec(eoj, 0..=84).prop_map(P::InstanceList),
        vec(any::<u16>().prop_map(ClassCode), 0..=8).prop_map(P::ClassList),
    ]
}

fn history() -> impl Strategy<Value = History> {
    (
        0u16..=999,
        vec(proptest::option::of(counter()), SLOTS_PER_DAY),
    )
        .prop_map(|(day, slots)| History { day, slots })
}

fn fixed_time_reading() -> impl Strategy<Value = FixedTimeReading> {
    (
        valid_date(),
        0u8..24,
        prop_oneof![Just(0u8), Just(30u8)],
        proptest::option::of(counter()),
    )
        .prop_map(|(date, h, m, value)| FixedTimeReading {
            date,
            time: TimeOfDay::new(h, m, 0).unwrap(),
            value,
        })
}

fn meter_value() -> impl Strategy<Value = MeterProperty> {
    use MeterProperty as P;
    let raw = || vec(any::<u8>(), 1..=64);
    let power = || prop_oneof![POWER_MIN..=POWER_MAX, Just(POWER_MIN), Just(POWER_MAX)];
    prop_oneof![
        raw().prop_map(P::DeviceType),
        raw().prop_map(P::DeviceId),
        any::<u8>().prop_map(P::ToleranceClass),
        (1u16..=999).prop_map(P::HistoryDaysHeld),
        any_unit().prop_map(P::Unit),
        (0u16..=999).prop_map(P::HistoryDay),
        raw().prop_map(P::MeteredDeviceId),
        valid_hms().prop_map(P::CurrentTime),
        any::<bool>().prop_map(P::TimeSynchronised),
        counter().prop_map(P::CumulativeIn),
        history().prop_map(P::HistoryIn),
        counter().prop_map(P::CumulativeOut),
        history().prop_map(P::HistoryOut),
        counter().prop_map(P::CumulativeOutage),
        history().prop_map(P::HistoryOutage),
        fixed_time_reading().prop_map(P::FixedTimeIn),
        fixed_time_reading().prop_map(P::FixedTimeOut),
        fixed_time_reading().prop_map(P::FixedTimeOutage),
        power().prop_map(P::InstantaneousPower),
        power().prop_map(P::InstantaneousPowerOutage),
    ]
}

/// Values the types can hold but the class specifications do not allow, with the class
/// to decode them in.
fn out_of_range_value() -> impl Strategy<Value = (ClassCode, Value)> {
    use MeterProperty as M;
    use NodeProfileProperty as N;
    use SuperclassProperty as S;
    let node = |s: BoxedStrategy<N>| s.prop_map(|v| (NODE, Value::NodeProfile(v)));
    let meter = |s: BoxedStrategy<M>| s.prop_map(|v| (METER, Value::Meter(v)));
    let other = |s: BoxedStrategy<S>| s.prop_map(|v| (OTHER, Value::Superclass(v)));
    let eoj = any::<[u8; 3]>().prop_map(Eoj::from_bytes);
    let too_big = (NINE_DIGITS + 1)..=u32::MAX;
    prop_oneof![
        node(Just(N::ClassCount(0)).boxed()),
        node(
            (any::<u8>(), any::<u8>(), prop_oneof![Just(0u8), 4u8..])
                .prop_map(|(major, minor, formats)| N::Version {
                    major,
                    minor,
                    formats
                })
                .boxed()
        ),
        node(vec(eoj, 85..=100).prop_map(N::InstanceList).boxed()),
        node(
            vec(any::<u16>().prop_map(ClassCode), 9..=20)
                .prop_map(N::ClassList)
                .boxed()
        ),
        other(
            (any::<char>(), any::<u8>())
                .prop_filter("not A-Z", |(c, _)| !c.is_ascii_uppercase())
                .prop_map(|(release, revision)| S::StandardVersion { release, revision })
                .boxed()
        ),
        other(
            vec(any::<u8>(), 0..=20)
                .prop_filter("not a location", |b| match b.as_slice() {
                    [c] => *c == 0xFF,
                    [0xFF, rest @ ..] => rest.len() != 16,
                    _ => true,
                })
                .prop_map(S::InstallationLocation)
                .boxed()
        ),
        meter(too_big.clone().prop_map(M::CumulativeIn).boxed()),
        meter(too_big.clone().prop_map(M::CumulativeOutage).boxed()),
        meter(
            (history(), 0..SLOTS_PER_DAY, too_big)
                .prop_filter("not the marker", |(_, _, v)| *v != NOT_MEASURED)
                .prop_map(|(mut h, k, v)| {
                    h.slots[k] = Some(v);
                    M::HistoryOut(h)
                })
                .boxed()
        ),
        meter((1000u16..).prop_map(M::HistoryDay).boxed()),
        meter(
            prop_oneof![Just(0u16), 1000u16..]
                .prop_map(M::HistoryDaysHeld)
                .boxed()
        ),
        meter(
            prop_oneof![Just(0usize), 65usize..=255]
                .prop_map(|n| M::DeviceId(vec![0x31; n]))
                .boxed()
        ),
        meter(
            (fixed_time_reading(), 0u8..60)
                .prop_filter("off the half hour", |(_, m)| m % 30 != 0)
                .prop_map(|(mut r, m)| {
                    r.time = TimeOfDay::new(r.time.hour, m, 0).unwrap();
                    M::FixedTimeIn(r)
                })
                .boxed()
        ),
        meter(
            prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(i32::MAX - 1)]
                .prop_map(M::InstantaneousPower)
                .boxed()
        ),
    ]
}

/// `decode(class, epc, encode(v)) == v`, the EDT fits one PDC, and the EPC is the one
/// the value names.
fn check_round_trip(class: ClassCode, value: Value) -> Result<(), TestCaseError> {
    let edt = value
        .encode()
        .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
    prop_assert!(edt.len() <= 255, "{:?}: PDC {}", value, edt.len());
    let epc = value.epc();
    prop_assert_eq!(Value::decode(class, epc, &edt), Ok(value));
    Ok(())
}

/// What a hostile or broken peer may send (SEC-06): the decoder must not panic, and an
/// accepted EDT must re-encode to the same bytes (in any order for list-form maps).
fn check_hostile(class: ClassCode, epc: u8, edt: &[u8]) -> Result<(), TestCaseError> {
    let Ok(value) = Value::decode(class, epc, edt) else {
        return Ok(());
    };
    prop_assert_eq!(value.epc(), epc);
    let again = value
        .encode()
        .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
    prop_assert_eq!(again.len(), edt.len());
    let is_map = matches!(
        value,
        Value::Superclass(
            SuperclassProperty::StatusChangeAnnouncementMap(_)
                | SuperclassProperty::SetPropertyMap(_)
                | SuperclassProperty::GetPropertyMap(_)
        )
    );
    if !is_map {
        prop_assert_eq!(&again[..], edt);
    }
    prop_assert_eq!(Value::decode(class, epc, &again), Ok(value));
    Ok(())
}

fn is_range(r: Result<Value, ValueError>) -> bool {
    matches!(r, Err(ValueError::Range { .. }))
}

fn is_err(r: Result<Value, ValueError>) -> bool {
    r.is_err()
}

// ---------------------------------------------------------------------------------------
// Round trips.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn superclass_values_round_trip_in_any_device_class(v in superclass_value()) {
        prop_assert!(SuperclassProperty::EPCS.contains(&v.epc()));
        check_round_trip(OTHER, Value::Superclass(v.clone()))?;
        // The meter class has no property of its own in 0x80..=0x9F.
        check_round_trip(METER, Value::Superclass(v))?;
    }

    /// The node profile shares the super class's properties except 0x82, which is its own
    /// version property there.
    #[test]
    fn superclass_values_round_trip_in_the_node_profile_except_0x82(v in superclass_value()) {
        prop_assume!(v.epc() != 0x82);
        check_round_trip(NODE, Value::Superclass(v))?;
    }

    #[test]
    fn node_profile_values_round_trip(v in node_profile_value()) {
        prop_assert!(NodeProfileProperty::EPCS.contains(&v.epc()));
        check_round_trip(NODE, Value::NodeProfile(v))?;
    }

    #[test]
    fn meter_values_round_trip(v in meter_value()) {
        prop_assert!(MeterProperty::EPCS.contains(&v.epc()));
        if let Some(c) = v.cumulative_counts() {
            prop_assert!(c <= NINE_DIGITS);
        }
        check_round_trip(METER, Value::Meter(v))?;
    }

    // -----------------------------------------------------------------------------------
    // Hostile EDTs (SEC-06).

    #[test]
    fn sec06_random_edt_never_panics_in_any_class(
        class in select(vec![NODE, METER, OTHER]),
        epc in any::<u8>(),
        edt in vec(any::<u8>(), 0..=255),
    ) {
        check_hostile(class, epc, &edt)?;
    }

    /// Random bytes of each known property's usual lengths, so that the range checks
    /// behind the length checks run too.
    #[test]
    fn sec06_random_edt_of_plausible_length_never_panics(
        class in select(vec![NODE, METER, OTHER]),
        epc in select(
            [&SuperclassProperty::EPCS[..], &NodeProfileProperty::EPCS, &MeterProperty::EPCS]
                .concat()
        ),
        len in select(vec![0usize, 1, 2, 3, 4, 5, 11, 16, 17, 18, 25, 64, 65, HISTORY_LEN]),
        fill in vec(any::<u8>(), HISTORY_LEN),
    ) {
        check_hostile(class, epc, &fill[..len])?;
    }

    // -----------------------------------------------------------------------------------
    // Out of range.

    #[test]
    fn counters_above_nine_digits_are_rejected(epc in select(vec![0xE0u8, 0xE2, 0xE4]), v in (NINE_DIGITS + 1)..=u32::MAX) {
        prop_assert!(is_range(Value::decode(METER, epc, &v.to_be_bytes())));
    }

    #[test]
    fn history_slot_above_nine_digits_is_rejected(
        epc in select(vec![0xE1u8, 0xE3, 0xE5]),
        h in history(),
        slot in 0..SLOTS_PER_DAY,
        v in (NINE_DIGITS + 1)..=u32::MAX,
    ) {
        prop_assume!(v != NOT_MEASURED);
        let mut edt = MeterProperty::HistoryIn(h).encode().unwrap();
        edt[2 + 4 * slot..6 + 4 * slot].copy_from_slice(&v.to_be_bytes());
        prop_assert!(is_range(Value::decode(METER, epc, &edt)));
    }

    #[test]
    fn history_day_above_999_is_rejected(epc in select(vec![0xE1u8, 0xE3, 0xE5]), h in history(), day in 1000u16..) {
        let mut edt = MeterProperty::HistoryIn(h).encode().unwrap();
        edt[..2].copy_from_slice(&day.to_be_bytes());
        prop_assert!(is_range(Value::decode(METER, epc, &edt)));
        prop_assert!(is_range(Value::decode(METER, 0xD5, &day.to_be_bytes())));
        prop_assert!(is_range(Value::decode(METER, 0xD3, &day.to_be_bytes())));
    }

    #[test]
    fn history_of_the_wrong_length_is_rejected(epc in select(vec![0xE1u8, 0xE3, 0xE5]), len in 0usize..=255) {
        prop_assume!(len != 2 + 4 * 48);
        let edt = vec![0u8; len];
        let got = Value::decode(METER, epc, &edt);
        prop_assert!(matches!(got, Err(ValueError::Length { .. })), "{:?}", got);
    }

    #[test]
    fn fixed_time_off_the_half_hour_is_rejected(
        epc in select(vec![0xE6u8, 0xE7, 0xE8]),
        r in fixed_time_reading(),
        minute in 0u8..60,
        second in 0u8..60,
    ) {
        prop_assume!(minute % 30 != 0 || second != 0);
        let mut edt = MeterProperty::FixedTimeIn(r).encode().unwrap();
        edt[5] = minute;
        edt[6] = second;
        prop_assert!(is_range(Value::decode(METER, epc, &edt)));
    }

    #[test]
    fn fixed_time_with_an_impossible_date_or_hour_is_rejected(
        epc in select(vec![0xE6u8, 0xE7, 0xE8]),
        r in fixed_time_reading(),
        (at, bad) in prop_oneof![
            (Just(2usize), prop_oneof![Just(0u8), 13u8..]), // month
            (Just(3usize), prop_oneof![Just(0u8), 32u8..]), // day
            (Just(4usize), 24u8..),                         // hour
        ],
    ) {
        let mut edt = MeterProperty::FixedTimeIn(r).encode().unwrap();
        edt[at] = bad;
        prop_assert!(is_range(Value::decode(METER, epc, &edt)));
    }

    #[test]
    fn raw_identifiers_longer_than_64_or_empty_are_rejected(
        epc in select(vec![0xD0u8, 0xD1, 0xD6]),
        len in prop_oneof![Just(0usize), 65usize..=255],
    ) {
        prop_assert!(is_err(Value::decode(METER, epc, &vec![0x41; len])));
    }

    #[test]
    fn meter_time_out_of_range_is_rejected(h in any::<u8>(), m in any::<u8>(), s in any::<u8>()) {
        let ok = h < 24 && m < 60 && s < 60;
        prop_assert_eq!(Value::decode(METER, 0xDA, &[h, m, s]).is_ok(), ok);
        let ok = h < 24 && m < 60;
        prop_assert_eq!(Value::decode(OTHER, 0x97, &[h, m]).is_ok(), ok);
    }

    #[test]
    fn dates_follow_the_gregorian_calendar(y in any::<u16>(), m in any::<u8>(), d in any::<u8>()) {
        let valid = (1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in(y, m);
        prop_assert_eq!(Date::new(y, m, d).is_some(), valid);
        let [y0, y1] = y.to_be_bytes();
        prop_assert_eq!(Value::decode(OTHER, 0x98, &[y0, y1, m, d]).is_ok(), valid);
    }

    #[test]
    fn standard_version_needs_zero_prefix_and_a_release_letter(b in any::<[u8; 4]>()) {
        let ok = b[0] == 0 && b[1] == 0 && b[2].is_ascii_uppercase();
        prop_assert_eq!(Value::decode(OTHER, 0x82, &b).is_ok(), ok);
    }

    #[test]
    fn node_profile_version_needs_a_format_bit_and_a_zero_tail(b in any::<[u8; 4]>()) {
        let ok = (1..=3).contains(&b[2]) && b[3] == 0;
        prop_assert_eq!(Value::decode(NODE, 0x82, &b).is_ok(), ok);
    }

    #[test]
    fn identification_number_must_start_with_0xfe(b in any::<[u8; 17]>()) {
        prop_assert_eq!(Value::decode(OTHER, 0x83, &b).is_ok(), b[0] == 0xFE);
    }

    #[test]
    fn installation_location_is_a_code_or_0xff_and_16_bytes(edt in vec(any::<u8>(), 0..=20)) {
        let ok = match edt.as_slice() {
            [code] => *code != 0xFF,
            [0xFF, rest @ ..] => rest.len() == 16,
            _ => false,
        };
        prop_assert_eq!(Value::decode(OTHER, 0x81, &edt).is_ok(), ok);
    }

    #[test]
    fn instance_lists_are_capped_and_counted(
        epc in select(vec![0xD5u8, 0xD6]),
        count in any::<u8>(),
        entries in 0usize..=90,
    ) {
        let mut edt = vec![count];
        edt.extend(std::iter::repeat_n([0x02, 0x8E, 0x01], entries).flatten());
        let ok = usize::from(count) == entries && entries <= 84;
        prop_assert_eq!(Value::decode(NODE, epc, &edt).is_ok(), ok);
    }

    #[test]
    fn class_lists_are_capped_at_8_and_counted(count in any::<u8>(), entries in 0usize..=12) {
        let mut edt = vec![count];
        edt.extend(std::iter::repeat_n([0x02, 0x8E], entries).flatten());
        let ok = usize::from(count) == entries && entries <= 8;
        prop_assert_eq!(Value::decode(NODE, 0xD7, &edt).is_ok(), ok);
    }

    /// A value built outside its range (fields are public) does not encode: no EDT is
    /// produced that would be refused by a peer or read back as another value.
    #[test]
    fn out_of_range_values_do_not_encode(v in out_of_range_value()) {
        let (_, v) = v;
        prop_assert!(v.encode().is_err(), "{:?} encoded", v);
    }

    // -----------------------------------------------------------------------------------
    // TRM-03: 9-digit counter, 8-digit reading, exact kWh.

    #[test]
    fn trm03_reading_keeps_the_lower_eight_digits(c in any::<u32>(), unit in any_unit()) {
        match MeterReading::from_counter(c, unit) {
            Ok(r) => {
                prop_assert!(c <= NINE_DIGITS);
                prop_assert_eq!(r.digits(), c % 100_000_000);
                prop_assert_eq!(r.unit(), unit);
                prop_assert_eq!(r.energy(), Energy(u64::from(r.digits()) * tenth_wh(unit)));
            }
            Err(_) => prop_assert!(c > NINE_DIGITS),
        }
        prop_assert_eq!(MeterReading::from_digits(c, unit).is_ok(), c < 100_000_000);
    }

    #[test]
    fn trm03_delta_is_the_difference_modulo_ten_to_the_eight(
        a in counter(),
        b in counter(),
        unit in any_unit(),
    ) {
        let ra = MeterReading::from_counter(a, unit).unwrap();
        let rb = MeterReading::from_counter(b, unit).unwrap();
        let m = 100_000_000i64;
        let want = (i64::from(b % 100_000_000) - i64::from(a % 100_000_000)).rem_euclid(m);
        let delta = rb.since(ra).unwrap();
        prop_assert_eq!(delta, Energy(u64::try_from(want).unwrap() * tenth_wh(unit)));
        let (counts, exact) = delta.counts(unit);
        prop_assert!(exact);
        prop_assert!(counts < 100_000_000);
        prop_assert_eq!(ra.since(ra), Ok(Energy::ZERO));
    }

    /// Consumption since the last reading does not depend on whether the 8 digits (or the
    /// 9 digits) wrapped in between.
    #[test]
    fn trm03_delta_survives_the_wrap(start in counter(), used in 0u32..100_000_000, unit in any_unit()) {
        let end = (start + used) % (NINE_DIGITS + 1);
        let ra = MeterReading::from_counter(start, unit).unwrap();
        let rb = MeterReading::from_counter(end, unit).unwrap();
        prop_assert_eq!(rb.since(ra), Ok(unit.energy(used)));
    }

    #[test]
    fn trm03_delta_across_a_unit_change_is_refused(a in counter(), b in counter(), u in any_unit(), v in any_unit()) {
        prop_assume!(u != v);
        let ra = MeterReading::from_counter(a, u).unwrap();
        let rb = MeterReading::from_counter(b, v).unwrap();
        prop_assert!(rb.since(ra).is_err());
    }

    /// The kWh text is exact: the 8 digits scaled by the unit, with as many decimals as
    /// the unit has, computed here with plain integer arithmetic.
    #[test]
    fn trm03_reading_prints_exact_kwh(c in counter(), unit in any_unit()) {
        let r = MeterReading::from_counter(c, unit).unwrap();
        let tenths_of_wh = u64::from(c % 100_000_000) * tenth_wh(unit);
        let decimals = match unit.code() {
            0x04 => 4,
            0x03 => 3,
            0x02 => 2,
            0x01 => 1,
            _ => 0,
        };
        let whole = tenths_of_wh / 10_000;
        let frac = (tenths_of_wh % 10_000) / 10u64.pow(4 - decimals);
        let want = if decimals == 0 {
            format!("{whole} kWh")
        } else {
            format!("{whole}.{frac:0width$} kWh", width = decimals as usize)
        };
        prop_assert_eq!(r.to_string(), want);
    }
}

/// 0.0001 kWh per count of each unit, from the 0xD4 code table of the class
/// specification (0x00-0x04: 10^0..10^-4 kWh, 0x0A-0x0D: 10^1..10^4 kWh).
fn tenth_wh(unit: EnergyUnit) -> u64 {
    match unit.code() {
        c @ 0x00..=0x04 => 10u64.pow(4 - u32::from(c)),
        c @ 0x0A..=0x0D => 10u64.pow(4 + u32::from(c - 0x09)),
        c => panic!("no unit has code {c:02X}"),
    }
}

// ---------------------------------------------------------------------------------------
// Exhaustive checks of small domains.

#[test]
fn trm03_exactly_the_nine_unit_codes_decode() {
    let accepted: Vec<u8> = (0..=255u8)
        .filter(|&c| EnergyUnit::from_code(c).is_ok())
        .collect();
    assert_eq!(
        accepted,
        vec![0x00, 0x01, 0x02, 0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D]
    );
    for code in 0..=255u8 {
        let v = Value::decode(METER, 0xD4, &[code]);
        assert_eq!(v.is_ok(), accepted.contains(&code), "{code:02X}");
        if let Ok(unit) = EnergyUnit::from_code(code) {
            assert_eq!(unit.code(), code);
            assert_eq!(unit.subunits(), tenth_wh(unit));
        }
    }
}

#[test]
fn trm03_counter_bounds_are_exact() {
    let unit = EnergyUnit::Kwh0_001;
    assert_eq!(COUNTER_MAX, NINE_DIGITS);
    assert_eq!(READING_MODULUS, 100_000_000);
    assert!(MeterReading::from_counter(NINE_DIGITS, unit).is_ok());
    assert!(MeterReading::from_counter(NINE_DIGITS + 1, unit).is_err());
    assert!(MeterReading::from_digits(99_999_999, unit).is_ok());
    assert!(MeterReading::from_digits(100_000_000, unit).is_err());
    assert_eq!(
        MeterReading::from_counter(100_000_000, unit)
            .unwrap()
            .digits(),
        0
    );
    // The 8-digit wrap in kWh for the 1 Wh unit: 99,999.999 kWh is the last value.
    assert_eq!(
        MeterReading::from_counter(99_999_999, unit)
            .unwrap()
            .to_string(),
        "99999.999 kWh"
    );
}

#[test]
fn instantaneous_power_reserved_codes_are_rejected() {
    for epc in [0xE9, 0xEA] {
        for (raw, ok) in [
            (0x7FFF_FFFDu32, true),
            (0x7FFF_FFFE, false),
            (0x7FFF_FFFF, false),
            (0x8000_0000, false),
            (0x8000_0001, true),
            (0, true),
            (u32::MAX, true),
        ] {
            let got = Value::decode(METER, epc, &raw.to_be_bytes());
            assert_eq!(got.is_ok(), ok, "{epc:02X} {raw:08X}: {got:?}");
        }
    }
}

#[test]
fn history_bounds_are_exact() {
    assert_eq!(HISTORY_LEN, 194);
    assert_eq!(MAX_HISTORY_DAYS, 999);
    assert_eq!(NOT_MEASURED, 0xFFFF_FFFE);
    let mut edt = vec![0x03, 0xE7]; // day 999
    edt.extend(std::iter::repeat_n(NINE_DIGITS.to_be_bytes(), 47).flatten());
    edt.extend(NOT_MEASURED.to_be_bytes());
    let Ok(Value::Meter(MeterProperty::HistoryIn(h))) = Value::decode(METER, 0xE1, &edt) else {
        panic!("day 999, all slots at the counter maximum but the last");
    };
    assert_eq!(h.day, 999);
    assert_eq!(h.slots[46], Some(NINE_DIGITS));
    assert_eq!(h.slots[47], None);
    // 0xFFFFFFFF is neither a counter nor the not-measured marker.
    edt[190..194].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Value::decode(METER, 0xE1, &edt).is_err());
}

#[test]
fn history_days_held_and_history_day_bounds() {
    let d = |v: u16| v.to_be_bytes();
    assert!(
        Value::decode(METER, 0xD3, &d(0)).is_err(),
        "a meter holds >= 1 day"
    );
    assert!(Value::decode(METER, 0xD3, &d(1)).is_ok());
    assert!(Value::decode(METER, 0xD3, &d(999)).is_ok());
    assert!(Value::decode(METER, 0xD5, &d(0)).is_ok(), "0 is today");
    assert!(Value::decode(METER, 0xD5, &d(999)).is_ok());
    assert!(Value::decode(METER, 0xD5, &d(1000)).is_err());
}

#[test]
fn single_byte_enumerations_accept_exactly_their_codes() {
    for b in 0..=255u8 {
        assert_eq!(
            Value::decode(OTHER, 0x80, &[b]).is_ok(),
            b == 0x30 || b == 0x31,
            "0x80 {b:02X}"
        );
        assert_eq!(
            Value::decode(OTHER, 0x88, &[b]).is_ok(),
            b == 0x41 || b == 0x42,
            "0x88 {b:02X}"
        );
        assert_eq!(
            Value::decode(METER, 0xDB, &[b]).is_ok(),
            b == 0x41 || b == 0x42,
            "0xDB {b:02X}"
        );
    }
}

#[test]
fn class_count_zero_is_rejected() {
    assert!(Value::decode(NODE, 0xD4, &[0, 0]).is_err());
    assert!(Value::decode(NODE, 0xD4, &[0, 1]).is_ok());
}

#[test]
fn list_caps_match_the_specification() {
    // 1 + 3 × 84 = 253 bytes is the longest instance list one PDC holds; 8 classes for 0xD7.
    assert_eq!(MAX_INSTANCES, 84);
    assert_eq!(MAX_CLASSES, 8);
    assert_eq!(MAX_ID_LEN, 64);
}

/// Every EPC outside a class's decoders is `UnknownProperty` naming that class, not a
/// silent fallback to raw bytes.
#[test]
fn unknown_epcs_name_their_class() {
    for (class, own) in [
        (NODE, &NodeProfileProperty::EPCS[..]),
        (METER, &MeterProperty::EPCS[..]),
        (OTHER, &[][..]),
    ] {
        for epc in 0..=255u8 {
            if own.contains(&epc) || SuperclassProperty::EPCS.contains(&epc) {
                continue;
            }
            assert_eq!(
                Value::decode(class, epc, &[0]),
                Err(ValueError::UnknownProperty {
                    class: class.0,
                    epc
                }),
                "{class} {epc:02X}"
            );
        }
    }
}

/// Leap years by the Gregorian rule, over the whole range the date fields allow.
#[test]
fn february_29_exists_exactly_in_leap_years() {
    for year in 0..=10_000u16 {
        let want = (1..=9999).contains(&year) && is_leap(year);
        assert_eq!(Date::new(year, 2, 29).is_some(), want, "{year}");
    }
    assert!(Date::new(2000, 2, 29).is_some());
    assert!(Date::new(2100, 2, 29).is_none());
}
