//! Property tests of the frame codec: `Repr` round trips for every service and both
//! formats, and the hostile-input guarantees (SEC-06) on random, truncated, extended and
//! OPC-mutated datagrams.
//!
//! The truncation and mutation properties are stated as precisely as the codec allows,
//! not as "some error": a format 2 frame has no length field, so its prefixes of four
//! bytes or more are themselves valid frames; and raising the first OPC of a SetGet frame
//! can re-slice its bytes into a different, valid frame (see
//! `raising_the_set_opc_of_set_get_can_yield_a_different_valid_frame`).

use echonet::{
    ArbitraryMessage, Eoj, Esv, Frame, FrameError, Message, Property, PropertyRef, Repr, EHD1,
    EHD2_ARBITRARY, EHD2_SPECIFIED, HEADER_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

/// Bytes of a format 1 frame before the first property (header, EOJs, ESV, OPC).
const FORMAT1_FIXED: usize = 12;
/// Offset of the first OPC in a format 1 frame.
const OPC_AT: usize = 11;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn any_esv() -> impl Strategy<Value = Esv> {
    proptest::sample::select(Esv::ALL.to_vec())
}

fn any_eoj() -> impl Strategy<Value = Eoj> {
    any::<[u8; 3]>().prop_map(Eoj::from_bytes)
}

/// EDT lengths are weighted towards the short values real properties have, with the
/// occasional long one up to the PDC limit of 255.
fn any_property() -> impl Strategy<Value = Property> {
    let edt = prop_oneof![
        4 => vec(any::<u8>(), 0..=8),
        1 => vec(any::<u8>(), 0..=255),
    ];
    (any::<u8>(), edt).prop_map(|(epc, edt)| Property::new(epc, edt))
}

fn any_list() -> impl Strategy<Value = Vec<Property>> {
    vec(any_property(), 0..=12)
}

/// A format 1 message of the given service with a shape `emit` accepts: a get list only
/// for the SetGet family.
fn message_of(esv: Esv) -> impl Strategy<Value = Message> {
    let get_list = if esv.has_two_lists() {
        any_list().boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (any::<u16>(), any_eoj(), any_eoj(), any_list(), get_list).prop_map(
        move |(tid, seoj, deoj, props, get_props)| Message {
            tid,
            seoj,
            deoj,
            esv,
            props,
            get_props,
        },
    )
}

fn any_message() -> impl Strategy<Value = Message> {
    any_esv().prop_flat_map(message_of)
}

fn any_arbitrary() -> impl Strategy<Value = ArbitraryMessage> {
    (any::<u16>(), vec(any::<u8>(), 0..=300))
        .prop_map(|(tid, edata)| ArbitraryMessage { tid, edata })
}

fn any_repr() -> impl Strategy<Value = Repr> {
    prop_oneof![
        4 => any_message().prop_map(Repr::Specified),
        1 => any_arbitrary().prop_map(Repr::Arbitrary),
    ]
}

/// Byte strings that get past the header checks often enough to exercise the list
/// walker: a valid EHD, an ESV that is usually known, then random bytes.
fn plausible_datagram() -> impl Strategy<Value = Vec<u8>> {
    let ehd2 = prop_oneof![Just(EHD2_SPECIFIED), Just(EHD2_ARBITRARY), any::<u8>()];
    let esv = prop_oneof![4 => any_esv().prop_map(Esv::code), 1 => any::<u8>()];
    (
        ehd2,
        any::<[u8; 8]>(),
        esv,
        vec(any::<u8>(), 0..=64),
        0usize..=12,
    )
        .prop_map(|(ehd2, middle, esv, tail, cut)| {
            let mut b = vec![EHD1, ehd2];
            b.extend_from_slice(&middle);
            b.push(esv);
            b.extend_from_slice(&tail);
            // Sometimes cut into the fixed part so the short-buffer paths run too.
            if cut < FORMAT1_FIXED {
                b.truncate(cut);
            }
            b
        })
}

/// Check `bytes`, and if they are accepted, require that parsing agrees with the view and
/// that emitting reproduces the input byte for byte: the wire format has exactly one
/// encoding of each `Repr`, so anything else would be a lossy parse.
fn check_accepted_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    let checked = Frame::new_checked(bytes);
    let parsed = Repr::parse_bytes(bytes);
    prop_assert_eq!(checked.is_ok(), parsed.is_ok());
    if let (Ok(frame), Ok(repr)) = (checked, parsed) {
        prop_assert_eq!(&Repr::parse(&frame), &repr);
        prop_assert_eq!(repr.buffer_len(), bytes.len());
        let emitted = repr.to_vec();
        prop_assert_eq!(emitted.as_deref(), Ok(bytes));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn format1_round_trips(m in any_message()) {
        let repr = Repr::Specified(m.clone());
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert_eq!(&bytes[..4], &[EHD1, EHD2_SPECIFIED, (m.tid >> 8) as u8, m.tid as u8][..]);
        prop_assert_eq!(bytes[10], m.esv.code());
        prop_assert_eq!(Repr::parse_bytes(&bytes), Ok(repr));
    }

    /// The borrowed message of a checked frame re-emits the same bytes and owns up to the
    /// same `Message` that `Repr::parse` gives.
    #[test]
    fn format1_borrowed_message_round_trips(m in any_message()) {
        let bytes = Repr::Specified(m.clone()).to_vec().unwrap();
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        let borrowed = frame.message().unwrap();
        prop_assert_eq!(borrowed.buffer_len(), bytes.len());
        let mut out = vec![0u8; bytes.len()];
        prop_assert_eq!(borrowed.emit(&mut out), Ok(bytes.len()));
        prop_assert_eq!(&out, &bytes);
        prop_assert_eq!(borrowed.to_owned(), m);
        let mut short = vec![0u8; bytes.len() - 1];
        let too_small = matches!(borrowed.emit(&mut short), Err(FrameError::BufferTooSmall { .. }));
        prop_assert!(too_small);
    }

    /// The checked view sees the same lists as `Repr`, including the get list that only the
    /// SetGet family has.
    #[test]
    fn format1_view_accessors_agree_with_the_message(m in any_message()) {
        let bytes = Repr::Specified(m.clone()).to_vec().unwrap();
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        prop_assert!(frame.is_specified());
        prop_assert_eq!(frame.tid(), m.tid);
        prop_assert_eq!(frame.seoj(), m.seoj);
        prop_assert_eq!(frame.deoj(), m.deoj);
        prop_assert_eq!(frame.esv(), Some(m.esv));
        let props: Vec<PropertyRef<'_>> = frame.properties().collect();
        let want: Vec<PropertyRef<'_>> =
            m.props.iter().map(|p| PropertyRef { epc: p.epc, edt: &p.edt }).collect();
        prop_assert_eq!(props, want);
        let get: Vec<PropertyRef<'_>> = frame.get_properties().collect();
        let want: Vec<PropertyRef<'_>> =
            m.get_props.iter().map(|p| PropertyRef { epc: p.epc, edt: &p.edt }).collect();
        prop_assert_eq!(get, want);
        prop_assert!(frame.arbitrary_data().is_empty());
    }

    #[test]
    fn format2_round_trips(a in any_arbitrary()) {
        let repr = Repr::Arbitrary(a.clone());
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        prop_assert_eq!(bytes.len(), HEADER_LEN + a.edata.len());
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        prop_assert!(!frame.is_specified());
        prop_assert_eq!(frame.esv(), None);
        prop_assert_eq!(frame.arbitrary_data(), &a.edata[..]);
        prop_assert_eq!(frame.properties().count(), 0);
        prop_assert_eq!(Repr::parse_bytes(&bytes), Ok(repr));
    }

    /// A service outside the SetGet family with a get list has no wire form; `emit` says
    /// so instead of silently dropping the list.
    #[test]
    fn format1_get_list_on_a_single_list_service_is_rejected(
        m in any_message(),
        extra in vec(any_property(), 1..=4),
    ) {
        prop_assume!(!m.esv.has_two_lists());
        let esv = m.esv;
        let repr = Repr::Specified(Message { get_props: extra, ..m });
        prop_assert_eq!(repr.to_vec(), Err(FrameError::BodyMismatch { esv }));
    }

    #[test]
    fn sec06_random_bytes_never_panic(bytes in vec(any::<u8>(), 0..=128)) {
        check_accepted_is_canonical(&bytes)?;
    }

    #[test]
    fn sec06_plausible_headers_never_panic_and_accepted_frames_are_canonical(
        bytes in plausible_datagram(),
    ) {
        check_accepted_is_canonical(&bytes)?;
    }

    /// Every strict prefix of a format 1 frame is rejected, and as a length problem: the
    /// walker reads the same OPC and PDC bytes as for the whole frame, so it needs bytes
    /// past the cut. A prefix of a format 2 frame is a format 2 frame as soon as its header
    /// is complete, because EDATA has no length field.
    #[test]
    fn sec06_truncated_frames_are_rejected_precisely(repr in any_repr(), cut_seed in any::<usize>()) {
        let bytes = repr.to_vec().unwrap();
        let cut = cut_seed % bytes.len();
        let prefix = &bytes[..cut];
        let got = Repr::parse_bytes(prefix);
        if cut < HEADER_LEN {
            prop_assert_eq!(got, Err(FrameError::Truncated { needed: HEADER_LEN, available: cut }));
            return Ok(());
        }
        match &repr {
            Repr::Arbitrary(a) => {
                prop_assert_eq!(got, Ok(Repr::Arbitrary(ArbitraryMessage {
                    tid: a.tid,
                    edata: a.edata[..cut - HEADER_LEN].to_vec(),
                })));
            }
            Repr::Specified(_) if cut < FORMAT1_FIXED => {
                prop_assert_eq!(got, Err(FrameError::Truncated { needed: FORMAT1_FIXED, available: cut }));
            }
            Repr::Specified(_) => {
                prop_assert!(
                    matches!(
                        got,
                        Err(FrameError::Truncated { available, .. }) if available == cut
                    ) || matches!(got, Err(FrameError::OpcOverrun { .. }))
                        || matches!(got, Err(FrameError::PdcOverrun { .. })),
                    "cut at {} of {}: {:?}", cut, bytes.len(), got
                );
            }
        }
    }

    /// The exhaustive version of the truncation property for one frame of every service:
    /// every cut point, not a sampled one.
    #[test]
    fn sec06_every_prefix_of_a_format1_frame_is_an_error(m in any_message()) {
        let bytes = Repr::Specified(m).to_vec().unwrap();
        for cut in 0..bytes.len() {
            let got = Repr::parse_bytes(&bytes[..cut]);
            prop_assert!(
                matches!(
                    got,
                    Err(FrameError::Truncated { .. }
                        | FrameError::OpcOverrun { .. }
                        | FrameError::PdcOverrun { .. })
                ),
                "cut at {}: {:?}", cut, got
            );
        }
    }

    /// One byte past the last property of a format 1 frame is `TrailingBytes(1)`, whatever
    /// its value; for format 2 it is one more byte of EDATA.
    #[test]
    fn sec06_appended_byte_is_trailing_in_format1_and_edata_in_format2(
        repr in any_repr(),
        extra in any::<u8>(),
    ) {
        let mut bytes = repr.to_vec().unwrap();
        bytes.push(extra);
        match repr {
            Repr::Specified(_) => {
                prop_assert_eq!(Repr::parse_bytes(&bytes), Err(FrameError::TrailingBytes(1)));
            }
            Repr::Arbitrary(mut a) => {
                a.edata.push(extra);
                prop_assert_eq!(Repr::parse_bytes(&bytes), Ok(Repr::Arbitrary(a)));
            }
        }
    }

    #[test]
    fn sec06_appended_bytes_count_as_trailing(m in any_message(), extra in vec(any::<u8>(), 1..=40)) {
        let mut bytes = Repr::Specified(m).to_vec().unwrap();
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(Repr::parse_bytes(&bytes), Err(FrameError::TrailingBytes(extra.len())));
    }

    /// Raising the OPC of the last list claims properties that are not there: exactly
    /// `OpcOverrun` with the true count as `found`. For single-list services that is the
    /// only OPC; for the SetGet family it is the get list's OPCGet.
    #[test]
    fn sec06_raised_last_opc_is_an_overrun(m in any_message(), raise in 1u8..=255) {
        let bytes = Repr::Specified(m.clone()).to_vec().unwrap();
        let (opc_at, found) = if m.esv.has_two_lists() {
            let set_len: usize = m.props.iter().map(|p| 2 + p.edt.len()).sum();
            (OPC_AT + 1 + set_len, m.get_props.len())
        } else {
            (OPC_AT, m.props.len())
        };
        let found = u8::try_from(found).unwrap();
        prop_assume!(found.checked_add(raise).is_some());
        let mut mutated = bytes.clone();
        mutated[opc_at] = found + raise;
        prop_assert_eq!(
            Repr::parse_bytes(&mutated),
            Err(FrameError::OpcOverrun { declared: found + raise, found })
        );
    }

    /// Raising the set list's OPC of a SetGet-family frame makes the walker read the get
    /// list as set properties. It is usually an error, but the bytes can line up into a
    /// different valid frame; what must never happen is a parse to the original message.
    #[test]
    fn sec06_raised_first_opc_never_parses_to_the_original(
        m in any_esv().prop_filter("SetGet family", |e| e.has_two_lists()).prop_flat_map(message_of),
        raise in 1u8..=255,
    ) {
        let found = u8::try_from(m.props.len()).unwrap();
        prop_assume!(found.checked_add(raise).is_some());
        let repr = Repr::Specified(m);
        let mut mutated = repr.to_vec().unwrap();
        mutated[OPC_AT] = found + raise;
        match Repr::parse_bytes(&mutated) {
            Ok(other) => {
                prop_assert_ne!(&other, &repr);
                prop_assert_eq!(other.to_vec().unwrap(), mutated);
            }
            Err(e) => prop_assert!(
                matches!(
                    e,
                    FrameError::Truncated { .. }
                        | FrameError::OpcOverrun { .. }
                        | FrameError::PdcOverrun { .. }
                        | FrameError::TrailingBytes(_)
                ),
                "{:?}", e
            ),
        }
    }
}

/// Every service, both list shapes: emit then parse gives back the same `Repr`, and
/// `buffer_len` is the emitted length. One runner per ESV so that none of the sixteen,
/// and in particular none of the three two-list services, depends on sampling luck.
#[test]
fn format1_every_esv_round_trips() {
    for esv in Esv::ALL {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(128));
        runner
            .run(&message_of(esv), |m| {
                let repr = Repr::Specified(m);
                let bytes = repr.to_vec().unwrap();
                prop_assert_eq!(bytes.len(), repr.buffer_len());
                prop_assert_eq!(bytes[10], esv.code());
                prop_assert_eq!(Repr::parse_bytes(&bytes), Ok(repr));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{esv:?}: {e}"));
    }
}

/// The counterexample behind the weaker property above: set list OPC 0 and a get list of
/// one property (EPC 0x01, PDC 1, EDT 0x00). Raising the set OPC to 1 re-slices the same
/// bytes into set {0x01: [0x01]} and an empty get list. Checking OPC against the bytes
/// cannot catch this; only the application can (a SetGet_Res with no get list).
#[test]
fn raising_the_set_opc_of_set_get_can_yield_a_different_valid_frame() {
    let original = hex("1081 0001 05FF01 028E01 6E 00 01 01 01 00");
    let Ok(Repr::Specified(m)) = Repr::parse_bytes(&original) else {
        panic!("the original must be valid");
    };
    assert!(m.props.is_empty());
    assert_eq!(m.get_props, vec![Property::new(0x01, [0x00])]);

    let mut mutated = original.clone();
    mutated[OPC_AT] = 1;
    let Ok(Repr::Specified(other)) = Repr::parse_bytes(&mutated) else {
        panic!("the re-sliced frame is valid too");
    };
    assert_eq!(other.props, vec![Property::new(0x01, [0x01])]);
    assert!(other.get_props.is_empty());
}

/// OPC and PDC are single bytes: 255 properties of 255 bytes each is the largest list,
/// and one more of either is refused by `emit` rather than wrapped.
#[test]
fn list_and_edt_limits_are_exact() {
    let max = Message::new(
        0xFFFF,
        Eoj::CONTROLLER,
        Eoj::NODE_PROFILE,
        Esv::Inf,
        vec![Property::new(0xE0, vec![0xA5; 255]); 255],
    );
    let repr = Repr::Specified(max.clone());
    let bytes = repr.to_vec().unwrap();
    assert_eq!(bytes.len(), FORMAT1_FIXED + 255 * 257);
    assert_eq!(bytes.len(), repr.buffer_len());
    assert_eq!(Repr::parse_bytes(&bytes), Ok(repr));

    let mut too_many = max.clone();
    too_many.props.push(Property::empty(0x80));
    assert_eq!(
        Repr::Specified(too_many).to_vec(),
        Err(FrameError::TooManyProperties(256))
    );

    let mut too_long = max;
    too_long.props[7].edt.push(0);
    assert_eq!(
        Repr::Specified(too_long).to_vec(),
        Err(FrameError::EdtTooLong {
            epc: 0xE0,
            len: 256
        })
    );
}

/// The SetGet family's get list is limited like the first one.
#[test]
fn get_list_limits_are_exact() {
    let mut m = Message::new(1, Eoj::CONTROLLER, Eoj::NODE_PROFILE, Esv::SetGet, vec![]);
    m.get_props = vec![Property::empty(0x80); 256];
    assert_eq!(
        Repr::Specified(m.clone()).to_vec(),
        Err(FrameError::TooManyProperties(256))
    );
    m.get_props = vec![Property::new(0x81, vec![0; 256])];
    assert_eq!(
        Repr::Specified(m).to_vec(),
        Err(FrameError::EdtTooLong {
            epc: 0x81,
            len: 256
        })
    );
}

/// A header of 0x10 with every other EHD2 byte and every EHD1 other than 0x10 is refused
/// by name, before any length reasoning.
#[test]
fn sec06_every_foreign_ehd_is_rejected_by_name() {
    for b in 0..=255u8 {
        if b != EHD1 {
            assert_eq!(
                Repr::parse_bytes(&[b, EHD2_SPECIFIED, 0, 0]),
                Err(FrameError::BadEhd1(b))
            );
        }
        if b != EHD2_SPECIFIED && b != EHD2_ARBITRARY {
            assert_eq!(
                Repr::parse_bytes(&[EHD1, b, 0, 0]),
                Err(FrameError::BadEhd2(b))
            );
        }
    }
}

/// Every ESV byte that names no service is refused, whatever follows.
#[test]
fn sec06_every_unknown_esv_is_rejected() {
    for code in 0..=255u8 {
        let mut b = hex("1081 0001 05FF01 0EF001");
        b.extend_from_slice(&[code, 0x00]);
        let got = Repr::parse_bytes(&b);
        match Esv::from_u8(code) {
            Some(esv) if esv.has_two_lists() => {
                // Zero set properties, then the OPCGet is missing.
                assert_eq!(
                    got,
                    Err(FrameError::Truncated {
                        needed: 13,
                        available: 12
                    })
                );
            }
            Some(_) => assert!(got.is_ok(), "{code:02X}"),
            None => assert_eq!(got, Err(FrameError::UnknownEsv(code))),
        }
    }
}
