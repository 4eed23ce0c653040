//! Property tests for every wire format of the crate: built values survive
//! emit → parse, accepted bytes re-emit to themselves, arbitrary bytes never panic.

mod support;

use proptest::prelude::*;
use wisun::ccm_star::{self, Key};
use wisun::mac::{
    fcs::{self, FcsKind},
    ie, Address, AuxSecurityHeader, Eui64, Frame, FrameType, FrameVersion, Header, HeaderIe,
    KeyIdentifier, MlmeSubIe, Mpdu, Oui, PayloadIe, SecurityLevel,
};
use wisun::pcap::{self, tap::TapHeader};
use wisun::PairingId;

fn address() -> impl Strategy<Value = Option<Address>> {
    prop_oneof![
        Just(None),
        any::<u16>().prop_map(|a| Some(Address::Short(a))),
        any::<[u8; 8]>().prop_map(|e| Some(Address::Extended(Eui64(e)))),
    ]
}

fn frame_type() -> impl Strategy<Value = FrameType> {
    prop_oneof![
        Just(FrameType::Beacon),
        Just(FrameType::Data),
        Just(FrameType::Ack),
        Just(FrameType::Command),
    ]
}

fn header_ie() -> impl Strategy<Value = HeaderIe> {
    prop_oneof![
        (0u32..0x100_0000, prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(oui, data)| {
            HeaderIe::Vendor {
                oui: Oui(oui),
                data,
            }
        }),
        (1u8..0x7e, prop::collection::vec(any::<u8>(), 0..30))
            .prop_map(|(id, content)| HeaderIe::Other { id, content }),
    ]
}

fn payload_ie() -> impl Strategy<Value = PayloadIe> {
    let sub = prop_oneof![
        (0u8..0x80, prop::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(sub_id, content)| MlmeSubIe::Short { sub_id, content }),
        (0u8..0x10, prop::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(sub_id, content)| MlmeSubIe::Long { sub_id, content }),
    ];
    prop_oneof![
        prop::collection::vec(sub, 0..3).prop_map(PayloadIe::Mlme),
        (0u32..0x100_0000, prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(oui, data)| {
            PayloadIe::Vendor {
                oui: Oui(oui),
                data,
            }
        }),
        (
            prop::sample::select(vec![0u8, 3, 4, 5, 9, 0xe]),
            prop::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(group_id, content)| PayloadIe::Other { group_id, content }),
    ]
}

fn security() -> impl Strategy<Value = AuxSecurityHeader> {
    let key_id = prop_oneof![
        Just(KeyIdentifier::Implicit),
        (1u8..).prop_map(KeyIdentifier::Index),
        (any::<[u8; 4]>(), 1u8..)
            .prop_map(|(source, index)| KeyIdentifier::Source4 { source, index }),
        (any::<[u8; 8]>(), 1u8..)
            .prop_map(|(source, index)| KeyIdentifier::Source8 { source, index }),
    ];
    (
        prop::sample::select(vec![1u8, 2, 3, 5, 6, 7]),
        any::<u32>(),
        key_id,
    )
        .prop_map(|(level, fc, key_id)| AuxSecurityHeader {
            level: SecurityLevel::from_bits(level),
            frame_counter: Some(fc),
            asn_in_nonce: false,
            key_id,
        })
}

/// Headers of both versions whose PAN IDs agree with the compression table.
fn header() -> impl Strategy<Value = Header> {
    let v2015 = (
        frame_type(),
        any::<(bool, bool)>(),
        prop::option::of(any::<u8>()),
        address(),
        address(),
        any::<(bool, bool, u16, u16)>(),
        prop::collection::vec(header_ie(), 0..3),
    )
        .prop_filter_map(
            "no Table 7-2 row",
            |(t, (fp, ar), sn, dst, src, (dp, sp, dpan, span), ies)| {
                let mut h =
                    Header::new_2015(t, sn, (dp.then_some(dpan), dst), (sp.then_some(span), src))?;
                h.frame_pending = fp;
                h.ack_request = ar;
                h.header_ies = ies;
                Some(h)
            },
        );
    let v2006 = (
        frame_type(),
        any::<u8>(),
        address(),
        address(),
        any::<(bool, u16, u16)>(),
    )
        .prop_map(|(t, sn, dst, src, (compress, dpan, span))| {
            let compress = compress && dst.is_some() && src.is_some();
            Header {
                frame_type: t,
                version: FrameVersion::V2006,
                frame_pending: false,
                ack_request: false,
                pan_id_compression: compress,
                sequence_number: Some(sn),
                dst_pan: dst.map(|_| dpan),
                dst,
                src_pan: src.filter(|_| !compress).map(|_| span),
                src,
                security: None,
                header_ies: vec![],
            }
        });
    prop_oneof![v2015, v2006]
}

/// Frames laid out as Table 7-6 wants (terminations from `ie::terminate`).
fn frame() -> impl Strategy<Value = Frame> {
    (
        header(),
        prop::collection::vec(payload_ie(), 0..3),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(mut header, payload_ies, payload)| {
            if header.version < FrameVersion::V2015 {
                return Frame {
                    header,
                    payload_ies: vec![],
                    payload,
                };
            }
            let (h, p) = ie::terminate(header.header_ies, payload_ies, !payload.is_empty());
            header.header_ies = h;
            Frame {
                header,
                payload_ies: p,
                payload,
            }
        })
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..160)
}

fn keys(id: &KeyIdentifier, _: Eui64) -> Option<Key> {
    id.index().map(|i| [i; 16])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rad01_frame_emit_then_parse_is_identity(f in frame()) {
        let bytes = f.emit().expect("a valid frame emits");
        prop_assert_eq!(Frame::parse(&bytes), Ok(f));
    }

    #[test]
    fn rad01_accepted_mpdu_re_emits_to_the_same_bytes(b in any_bytes()) {
        if let Ok(m) = Mpdu::parse(&b) {
            prop_assert_eq!(m.emit(), Ok(b));
        }
    }

    #[test]
    fn rad01_frame_like_bytes_re_emit_or_are_refused(f in frame(), cut in any::<usize>(), flip in any::<(usize, u8)>()) {
        // Valid frames damaged by a cut or a byte flip: parse never panics, and what it
        // accepts still re-emits exactly.
        let mut b = f.emit().expect("emit");
        let (at, x) = flip;
        if !b.is_empty() { let i = at % b.len(); b[i] ^= x; }
        b.truncate(cut % (b.len() + 1));
        if let Ok(m) = Mpdu::parse(&b) {
            prop_assert_eq!(m.emit(), Ok(b));
        }
    }

    /// A receiver that only checks a frame for another node (header, then the body
    /// checked, not made) refuses exactly what it refuses when it makes the frame, for
    /// the same reason: plain and secured frames, whole, cut or damaged, and noise.
    #[test]
    fn rad01_a_frame_checked_is_refused_as_a_frame_made(
        f in frame(),
        sec in proptest::option::of(security()),
        cut in any::<usize>(),
        flip in any::<(usize, u8)>(),
        noise in any_bytes(),
    ) {
        let mut f = f;
        f.header.security = sec;
        let key = [0x42; 16];
        let made = match sec {
            Some(_) => ccm_star::secure(&f, &key).ok(),
            None => f.emit().ok(),
        };
        let mut damaged = made.clone().unwrap_or_default();
        let (at, x) = flip;
        if !damaged.is_empty() { let i = at % damaged.len(); damaged[i] ^= x; }
        damaged.truncate(cut % (damaged.len() + 1));
        for b in made.into_iter().chain([damaged, noise]) {
            let checked = Mpdu::parse_header(&b)
                .and_then(|(h, end)| Mpdu::check_body(&h, &b, end).map(|()| h));
            let parsed = Mpdu::parse(&b).map(|m| m.header().clone());
            prop_assert_eq!(checked, parsed);
        }
    }

    #[test]
    fn sec03_secure_then_open_is_identity(f in frame(), sec in security()) {
        let mut f = f;
        f.header.security = Some(sec);
        f.header.version = FrameVersion::V2015;
        f.header.src = Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 9])));
        let Some(h) = Header::new_2015(f.header.frame_type, f.header.sequence_number,
            (f.header.dst_pan, f.header.dst), (None, f.header.src)) else { return Ok(()) };
        f.header.pan_id_compression = h.pan_id_compression;
        f.header.src_pan = None;
        let key = keys(&sec.key_id, Eui64([0; 8])).unwrap_or([0x42; 16]);
        let lookup = |id: &KeyIdentifier, _: Eui64| Some(id.index().map_or([0x42; 16], |i| [i; 16]));
        let mpdu = ccm_star::secure(&f, &key).expect("secure");
        let opened = ccm_star::open(&mpdu, &lookup).expect("open");
        prop_assert_eq!(opened.frame, f);
        prop_assert_eq!(Some(opened.frame_counter), sec.frame_counter);
    }

    /// `secure_owned` (the MPDU built in the payload's buffer) gives `secure`'s bytes or
    /// error for any frame, whatever room its payload buffer has.
    #[test]
    fn sec03_secure_owned_equals_secure(f in frame(), sec in security(), room in 0usize..80, src in any::<bool>()) {
        let mut f = f;
        f.header.security = Some(sec);
        if src {
            f.header.src = Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 9])));
        }
        let key = [0x42; 16];
        let want = ccm_star::secure(&f, &key);
        let mut g = f.clone();
        let mut payload = Vec::with_capacity(g.payload.len() + room);
        payload.extend_from_slice(&g.payload);
        g.payload = payload;
        prop_assert_eq!(ccm_star::secure_owned(g, &key), want);
    }

    #[test]
    fn sec03_open_of_arbitrary_bytes_never_panics(b in any_bytes()) {
        let _ = ccm_star::open(&b, &keys);
    }

    #[test]
    fn rad01_fcs_append_then_strip_is_identity(b in any_bytes(), crc32 in any::<bool>()) {
        let kind = if crc32 { FcsKind::Crc32 } else { FcsKind::Crc16 };
        let psdu = fcs::append(&b, kind).expect("short");
        prop_assert_eq!(fcs::strip(&psdu, kind), Ok(&b[..]));
        let _ = fcs::strip(&b, kind);
    }

    #[test]
    fn rad01_tap_header_round_trip(
        rss in prop::option::of(-120.0f32..10.0),
        channel in prop::option::of((any::<u16>(), any::<u8>())),
        khz in prop::option::of(900_000.0f32..930_000.0),
        fcs in prop::sample::select(vec![None, Some(FcsKind::Crc16), Some(FcsKind::Crc32)]),
        psdu in any_bytes(),
    ) {
        let h = TapHeader { fcs, rss_dbm: rss, channel, centre_khz: khz };
        let record = h.wrap(&psdu);
        prop_assert_eq!(TapHeader::unwrap(&record), Ok((h, &psdu[..])));
    }

    #[test]
    fn rad01_tap_and_pcap_readers_never_panic(b in any_bytes()) {
        let _ = TapHeader::unwrap(&b);
        let _ = pcap::read(&b);
    }

    #[test]
    fn rad01_pcap_records_read_back(records in prop::collection::vec((any::<u32>(), 0u32..1_000_000, any_bytes()), 0..5)) {
        let mut file = pcap::file_header(pcap::LINKTYPE_IEEE802_15_4_TAP).to_vec();
        for (s, us, d) in &records {
            pcap::record(&mut file, *s, *us, d);
        }
        let (linktype, read) = pcap::read(&file).expect("read");
        prop_assert_eq!(linktype, 283);
        let read: Vec<_> = read.into_iter().map(|r| (r.seconds, r.micros, r.data.to_vec())).collect();
        prop_assert_eq!(read, records);
    }

    #[test]
    fn con03_pairing_id_validation_never_panics_and_round_trips(b in prop::collection::vec(any::<u8>(), 0..10)) {
        if let Ok(id) = PairingId::from_bytes(&b) {
            prop_assert_eq!(id.as_bytes().as_slice(), &b[..]);
            prop_assert_eq!(id.as_str().parse::<PairingId>(), Ok(id));
        }
    }

    #[test]
    fn con03_every_pair_of_codes_gives_a_valid_pairing_id(u in "[0-9]{2}", f in "[0-9]{11}") {
        let id = PairingId::from_codes(&u, &f).expect("valid codes");
        prop_assert_eq!(id.as_str(), format!("IOT{u}{}", &f[8..]));
    }
}

/// A secured data frame from `src` with `counter` carrying `payload`.
fn secured_data(src: u8, counter: u32, payload: &[u8]) -> Vec<u8> {
    let mut header = Header::new_2015(
        FrameType::Data,
        Some(1),
        (
            Some(0x4000),
            Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 0xFE]))),
        ),
        (
            None,
            Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, src]))),
        ),
    )
    .expect("a PAN ID compression row");
    header.security = Some(AuxSecurityHeader::new(SecurityLevel::EncMic32, counter, 1));
    let frame = Frame {
        header,
        payload_ies: Vec::new(),
        payload: payload.to_vec(),
    };
    ccm_star::secure(&frame, &[0x42; 16]).expect("secure")
}

proptest! {
    /// The capture audit (SEC-03): frames with distinct nonces, each sent any number of
    /// times, show no reuse; one more frame on a nonce already used is found.
    #[test]
    fn sec03_the_capture_audit_finds_exactly_the_reused_nonces(
        frames in prop::collection::btree_map((1u8..4, 0u32..50), prop::collection::vec(any::<u8>(), 1..20), 1..12),
        repeats in prop::collection::vec(0usize..12, 0..10),
    ) {
        let sent: Vec<((u8, u32), Vec<u8>)> = frames
            .iter()
            .map(|(&(src, counter), payload)| ((src, counter), secured_data(src, counter, payload)))
            .collect();
        let mut audit = wisun::mac::audit::CaptureAudit::new();
        for (_, mpdu) in &sent {
            audit.add(mpdu);
        }
        for r in &repeats {
            audit.add(&sent[r % sent.len()].1);
        }
        prop_assert!(audit.reused().is_empty());
        let ((src, counter), _) = &sent[0];
        let mut other = frames[&(*src, *counter)].clone();
        other.push(0xA5);
        audit.add(&secured_data(*src, *counter, &other));
        prop_assert_eq!(audit.reused().len(), 1);
        prop_assert_eq!(audit.reused()[0].frame_counter, *counter);
    }
}
