//! Round-trip properties of our face over the codec: A-XDR data, OBIS codes, the
//! wrapper, and suite-0 ciphering. Any value we can build encodes, decodes to itself and
//! re-encodes to the same bytes; any bytes at all decode without panicking.

use dlms::cipher::{self, CipherForm, Keys, Protections, SystemTitle};
use dlms::datetime::{CosemDate, CosemDateTime, CosemTime};
use dlms::wrapper::Wpdu;
use dlms::{Data, Obis};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Data> {
    prop_oneof![
        Just(Data::Null),
        any::<bool>().prop_map(Data::Boolean),
        (0usize..40)
            .prop_flat_map(|bits| (
                Just(bits),
                proptest::collection::vec(any::<u8>(), bits.div_ceil(8))
            ))
            .prop_map(|(bits, bytes)| Data::BitString { bits, bytes }),
        any::<i8>().prop_map(Data::Integer),
        any::<i16>().prop_map(Data::Long),
        any::<i32>().prop_map(Data::DoubleLong),
        any::<i64>().prop_map(Data::Long64),
        any::<u8>().prop_map(Data::Unsigned),
        any::<u16>().prop_map(Data::LongUnsigned),
        any::<u32>().prop_map(Data::DoubleLongUnsigned),
        any::<u64>().prop_map(Data::Long64Unsigned),
        any::<u8>().prop_map(Data::Enum),
        // NaN is not equal to itself: compare floats through their bits below.
        any::<f32>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Data::Float32),
        any::<f64>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Data::Float64),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Data::OctetString),
        proptest::collection::vec(0x20u8..0x7F, 0..40).prop_map(Data::VisibleString),
        ".{0,20}".prop_map(|s: String| Data::Utf8String(s.into_bytes())),
        any::<[u8; 12]>().prop_map(|b| Data::DateTime(CosemDateTime::from_bytes(b))),
        any::<[u8; 5]>().prop_map(|b| Data::Date(CosemDate::from_bytes(b))),
        any::<[u8; 4]>().prop_map(|b| Data::Time(CosemTime::from_bytes(b))),
        any::<i8>().prop_map(Data::Bcd),
        Just(Data::DontCare),
        any::<i8>().prop_map(Data::DeltaInteger),
        any::<i16>().prop_map(Data::DeltaLong),
        any::<i32>().prop_map(Data::DeltaDoubleLong),
        any::<u8>().prop_map(Data::DeltaUnsigned),
        any::<u16>().prop_map(Data::DeltaLongUnsigned),
        any::<u32>().prop_map(Data::DeltaDoubleLongUnsigned),
    ]
}

fn data() -> impl Strategy<Value = Data> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Data::Array),
            proptest::collection::vec(inner, 0..8).prop_map(Data::Structure),
        ]
    })
}

proptest! {
    #[test]
    fn data_round_trips(d in data()) {
        let b = d.encode().unwrap();
        let back = Data::decode(&b).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.encode().unwrap(), b);
    }

    #[test]
    fn data_encoder_matches_the_upstream_codec(d in data()) {
        prop_assert_eq!(d.encode().unwrap(), d.encode_via_upstream().unwrap());
    }

    #[test]
    fn data_one_pass_decoder_agrees_with_upstream_on_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let ours = Data::decode_prefix(&b).map(|(d, n)| (d.encode().unwrap(), n));
        let theirs = Data::decode_prefix_upstream(&b).map(|(d, n)| (d.encode().unwrap(), n));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn data_one_pass_decoder_agrees_with_upstream_on_valid_values(d in data(), cut in any::<proptest::sample::Index>()) {
        let b = d.encode().unwrap();
        let ours = Data::decode_prefix(&b).map(|(d, n)| (d.encode().unwrap(), n));
        let theirs = Data::decode_prefix_upstream(&b).map(|(d, n)| (d.encode().unwrap(), n));
        prop_assert_eq!(&ours, &theirs);
        // And on every truncation of it: same error, same offset.
        let t = &b[..cut.index(b.len())];
        let ours = Data::decode_prefix(t).map(|(d, n)| (d.encode().unwrap(), n));
        let theirs = Data::decode_prefix_upstream(t).map(|(d, n)| (d.encode().unwrap(), n));
        prop_assert_eq!(ours, theirs);
    }

    /// Sequences wider than the decoder's 64 inline pending elements (a 96-slot
    /// 15-minute day, a list of them) spill to the heap: same values, both entry points
    /// (bytes, and the borrowed view an APDU decodes to), same results as upstream.
    #[test]
    fn data_wide_sequences_decode_through_both_entry_points(
        rows in proptest::collection::vec(proptest::collection::vec(leaf(), 0..4), 0..200),
        nest in any::<bool>(),
    ) {
        let rows = Data::Array(rows.into_iter().map(Data::Structure).collect());
        let d = if nest { Data::Structure(vec![Data::Unsigned(1), rows.clone(), rows]) } else { rows };
        let b = d.encode().unwrap();
        prop_assert_eq!(&Data::decode(&b).unwrap(), &d);
        let view = dlms::apdu::data_ref(&b).unwrap();
        prop_assert_eq!(&dlms::apdu::to_owned_data(&view).unwrap(), &d);
        let theirs = Data::decode_prefix_upstream(&b).unwrap();
        prop_assert_eq!(theirs.0.encode().unwrap(), b);
    }

    /// A value the encoder refuses, however deep, leaves the caller's buffer as it was,
    /// with the error at the offset where the value would have started.
    #[test]
    fn data_refused_encoding_leaves_the_buffer_as_it_was(
        prefix in proptest::collection::vec(any::<u8>(), 0..8),
        before in proptest::collection::vec(leaf(), 0..4),
    ) {
        let mut elements = before;
        elements.push(Data::BitString { bits: 9, bytes: vec![0] });
        let bad = Data::Array(vec![Data::Structure(elements)]);
        let mut out = prefix.clone();
        let e = bad.encode_into(&mut out).unwrap_err();
        prop_assert_eq!(e.offset, prefix.len());
        prop_assert_eq!(out, prefix);
    }

    #[test]
    fn data_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(d) = Data::decode(&b) {
            // Accepted input re-encodes to something that decodes to the same value
            // (not necessarily the same bytes: lengths may have been non-minimal).
            let again = d.encode().unwrap();
            prop_assert_eq!(Data::decode(&again).unwrap().encode().unwrap(), again);
        }
    }

    #[test]
    fn obis_round_trips(b in any::<[u8; 6]>()) {
        let o = Obis(b);
        prop_assert_eq!(o.to_string().parse::<Obis>().unwrap(), o);
        let dotted = b.iter().map(u8::to_string).collect::<Vec<_>>().join(".");
        prop_assert_eq!(Obis::parse(&dotted).unwrap(), o);
    }

    #[test]
    fn obis_parse_never_panics(s in "[0-9.:*x-]{0,24}") {
        let _ = Obis::parse(&s);
    }

    #[test]
    fn rad01_wrapper_round_trips(src in any::<u16>(), dst in any::<u16>(), apdu in proptest::collection::vec(any::<u8>(), 0..600)) {
        let f = Wpdu::new(src, dst, &apdu).emit().unwrap();
        prop_assert_eq!(Wpdu::parse(&f).unwrap(), Wpdu::new(src, dst, &apdu));
    }

    #[test]
    fn rad01_wrapper_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..32)) {
        if let Ok(w) = Wpdu::parse(&b) {
            prop_assert_eq!(w.emit().unwrap(), b);
        }
    }

    #[test]
    fn sec02_cipher_round_trips(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        ic in any::<u32>(),
        title in any::<[u8; 8]>(),
        general in any::<bool>(),
        prot in 0u8..3,
    ) {
        // A GET-Response-Normal carrying an octet string: any service with a glo- form.
        let mut plain = vec![0xC4, 0x01, 0xC1, 0x00];
        plain.extend(Data::OctetString(body).encode().unwrap());
        let form = if general { CipherForm::GeneralGlo } else { CipherForm::Glo };
        let prot = [Protections::Auth, Protections::Enc, Protections::AuthEnc][usize::from(prot)];
        let sealed = cipher::encipher(&plain, form, prot, &Keys::GREEN_BOOK, SystemTitle(title), ic).unwrap();
        let opened = cipher::decipher(&sealed, &Keys::GREEN_BOOK, Some(SystemTitle(title))).unwrap();
        prop_assert_eq!(opened.plain, plain);
        prop_assert_eq!(opened.invocation_counter, ic);
    }
}
