//! Property tests of the property map EDT (EPC 0x9D/0x9E/0x9F): round trips at every size,
//! the choice between the list and the bitmap form, and the bitmap bit positions checked
//! against the Appendix's rule computed here independently of `propmap.rs`, so a
//! transposed bitmap (a mistake several published stacks make) cannot pass by agreeing
//! with itself.

use std::collections::BTreeSet;

use echonet::PropertyMap;
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::test_runner::TestRunner;

/// Every EPC a property map can describe.
fn all_epcs() -> Vec<u8> {
    (0x80..=0xFF).collect()
}

/// A set of exactly `size` distinct EPCs in 0x80..=0xFF, in random order.
fn epcs_of_size(size: usize) -> impl Strategy<Value = Vec<u8>> {
    subsequence(all_epcs(), size).prop_shuffle()
}

/// A set of EPCs of any size 0..=128, with the sizes around the form switch (15, 16, 17)
/// and the ends drawn as often as the rest.
fn any_epcs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        0usize..=128,
        proptest::sample::select(vec![0usize, 1, 15, 16, 17, 127, 128]),
    ]
    .prop_flat_map(epcs_of_size)
}

/// (EDT byte, bit) of `epc` in the 17-byte bitmap form, straight from the Appendix:
/// byte `1 + low nibble`, bit `high nibble - 8`.
fn spec_position(epc: u8) -> (usize, u8) {
    (1 + usize::from(epc & 0x0F), (epc >> 4) - 8)
}

/// The expected EDT of a set of EPCs, built from the spec rule alone.
fn spec_encoding(epcs: &BTreeSet<u8>) -> Vec<u8> {
    let count = u8::try_from(epcs.len()).unwrap();
    if epcs.len() < 16 {
        let mut out = vec![count];
        out.extend(epcs.iter().copied());
        return out;
    }
    let mut out = vec![0u8; 17];
    out[0] = count;
    for &epc in epcs {
        let (byte, bit) = spec_position(epc);
        out[byte] |= 1 << bit;
    }
    out
}

fn check_map(epcs: &[u8]) -> Result<(), TestCaseError> {
    let map = PropertyMap::from_epcs(epcs).unwrap();
    let set: BTreeSet<u8> = epcs.iter().copied().collect();
    prop_assert_eq!(map.len(), set.len());
    prop_assert_eq!(map.iter().collect::<BTreeSet<u8>>(), set.clone());

    let edt = map.encode();
    prop_assert_eq!(usize::from(edt[0]), set.len());
    if set.len() < 16 {
        prop_assert_eq!(edt.len(), 1 + set.len(), "list form below 16");
    } else {
        prop_assert_eq!(edt.len(), 17, "bitmap form from 16 on");
    }
    prop_assert_eq!(&edt, &spec_encoding(&set));
    prop_assert_eq!(PropertyMap::decode(&edt), Ok(map));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn decode_of_encode_is_identity_and_matches_the_spec_layout(epcs in any_epcs()) {
        check_map(&epcs)?;
    }

    /// The list form may list EPCs in any order; decoding does not depend on it.
    #[test]
    fn list_form_decodes_in_any_order(epcs in (0usize..16).prop_flat_map(epcs_of_size)) {
        let mut edt = vec![u8::try_from(epcs.len()).unwrap()];
        edt.extend_from_slice(&epcs);
        let want: PropertyMap = epcs.iter().copied().collect();
        prop_assert_eq!(PropertyMap::decode(&edt), Ok(want));
    }

    /// Hostile EDTs from a peer's 0x9D-0x9F answers (SEC-06): any bytes, no panic, and
    /// whatever is accepted is exactly what the encoder would have produced for it.
    #[test]
    fn sec06_random_edt_never_panics_and_accepted_edt_is_canonical_modulo_order(
        edt in proptest::collection::vec(any::<u8>(), 0..=40),
    ) {
        if let Ok(map) = PropertyMap::decode(&edt) {
            let again = map.encode();
            prop_assert_eq!(PropertyMap::decode(&again), Ok(map));
            prop_assert_eq!(again.len(), edt.len());
            prop_assert_eq!(again[0], edt[0]);
            if edt.len() == 17 && edt[0] >= 16 {
                // The bitmap form has one encoding.
                prop_assert_eq!(again, edt);
            }
        }
    }

    /// Random 17-byte bitmaps with a count that is one off their population are refused.
    #[test]
    fn sec06_bitmap_count_must_match_population(bitmap in any::<[u8; 16]>(), up in any::<bool>()) {
        let population: u32 = bitmap.iter().map(|b| b.count_ones()).sum();
        let wrong = if up { population + 1 } else { population.wrapping_sub(1) };
        prop_assume!((16..=255).contains(&wrong));
        let mut edt = vec![u8::try_from(wrong).unwrap()];
        edt.extend_from_slice(&bitmap);
        prop_assert!(PropertyMap::decode(&edt).is_err());
    }

    /// A list naming an EPC below 0x80 is refused: a map cannot describe it.
    #[test]
    fn sec06_list_with_an_epc_below_0x80_is_rejected(
        mut epcs in (1usize..16).prop_flat_map(epcs_of_size),
        low in 0u8..0x80,
        at in any::<prop::sample::Index>(),
    ) {
        let i = at.index(epcs.len());
        epcs[i] = low;
        let mut edt = vec![u8::try_from(epcs.len()).unwrap()];
        edt.extend_from_slice(&epcs);
        prop_assert!(PropertyMap::decode(&edt).is_err());
        prop_assert!(PropertyMap::from_epcs(&epcs).is_err());
    }

    /// A list that repeats an EPC is refused even though its count matches its length.
    #[test]
    fn sec06_list_with_a_duplicate_is_rejected(
        epcs in (2usize..16).prop_flat_map(epcs_of_size),
        from in any::<prop::sample::Index>(),
        to in any::<prop::sample::Index>(),
    ) {
        let (from, to) = (from.index(epcs.len()), to.index(epcs.len()));
        prop_assume!(from != to);
        let mut dup = epcs.clone();
        dup[to] = dup[from];
        let mut edt = vec![u8::try_from(dup.len()).unwrap()];
        edt.extend_from_slice(&dup);
        prop_assert!(PropertyMap::decode(&edt).is_err());
    }

    /// A wrong length is refused in both forms: list length != count, bitmap != 17 bytes.
    #[test]
    fn sec06_wrong_length_is_rejected(epcs in any_epcs(), extra in any::<u8>(), grow in any::<bool>()) {
        let mut edt = PropertyMap::from_epcs(&epcs).unwrap().encode();
        if grow {
            edt.push(extra);
        } else {
            prop_assume!(edt.len() > 1);
            edt.pop();
        }
        prop_assert!(PropertyMap::decode(&edt).is_err());
    }
}

/// Every size 0..=128, not a sample: for each, a few random sets.
#[test]
fn every_size_from_0_to_128_round_trips_in_the_right_form() {
    for size in 0..=128 {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(16));
        runner
            .run(&epcs_of_size(size), |epcs| check_map(&epcs))
            .unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}

/// The spec's own examples, with the EDT byte and bit spelled out rather than computed.
#[test]
fn bitmap_positions_of_named_epcs() {
    // (EPC, EDT byte, bit)
    let cases = [
        (0x80, 1, 0),
        (0x8F, 16, 0),
        (0x9D, 14, 1),
        (0x9E, 15, 1),
        (0x9F, 16, 1),
        (0xE0, 1, 6),
        (0xF0, 1, 7),
        (0xFF, 16, 7),
    ];
    // Fifteen EPCs from 0xA0..=0xAE that none of the cases use, to reach the bitmap form.
    let filler: Vec<u8> = (0xA0..=0xAE).collect();
    for (epc, byte, bit) in cases {
        assert_eq!(spec_position(epc), (byte, bit), "rule for {epc:02X}");
        let mut epcs = filler.clone();
        epcs.push(epc);
        let edt = PropertyMap::from_epcs(&epcs).unwrap().encode();
        assert_eq!(edt.len(), 17);
        assert_eq!(edt[0], 16);
        assert_ne!(
            edt[byte] & (1 << bit),
            0,
            "EPC {epc:02X}: byte {byte} bit {bit}"
        );
        // Remove the filler (column 0xA_ = bit 2 of bytes 1..=15): only the EPC is left.
        let mut rest = edt.clone();
        for b in &mut rest[1..16] {
            *b &= !(1 << 2);
        }
        rest[0] = 0;
        let set: Vec<(usize, u8)> = (1..17)
            .flat_map(|i| (0..8).map(move |j| (i, j)))
            .filter(|&(i, j)| rest[i] & (1 << j) != 0)
            .collect();
        assert_eq!(set, vec![(byte, bit)], "EPC {epc:02X}");
    }
}

/// Exactly one EPC per (byte, bit) cell: the 128 EPCs fill the 16 x 8 bitmap bijectively.
#[test]
fn bitmap_cells_are_a_bijection_of_the_128_epcs() {
    let cells: BTreeSet<(usize, u8)> = (0x80..=0xFFu8).map(spec_position).collect();
    assert_eq!(cells.len(), 128);
    for epc in 0x80..=0xFFu8 {
        let (byte, bit) = spec_position(epc);
        assert!((1..=16).contains(&byte) && bit < 8, "{epc:02X}");
    }
}

/// 15 properties is the largest list, 16 the smallest bitmap.
#[test]
fn form_switches_between_15_and_16() {
    let fifteen: Vec<u8> = (0x80..0x8F).collect();
    let sixteen: Vec<u8> = (0x80..=0x8F).collect();
    assert_eq!(PropertyMap::from_epcs(&fifteen).unwrap().encode().len(), 16);
    assert_eq!(PropertyMap::from_epcs(&sixteen).unwrap().encode().len(), 17);
    // A count of 16 in list form is refused, as is a count of 15 in bitmap form.
    let mut list16 = vec![16u8];
    list16.extend_from_slice(&sixteen);
    assert!(PropertyMap::decode(&list16).is_err());
    let mut bitmap15 = vec![15u8];
    bitmap15.extend([0x01; 15]);
    bitmap15.push(0);
    assert!(PropertyMap::decode(&bitmap15).is_err());
}
