//! CCM* known answers from IEEE 802.15.4-2011 Annex C (the same frames as 2006 Annex C;
//! the vectors as published in nettle's test suite): the C.2.1 beacon frame (level 2,
//! MIC-64 only) and the C.2.3 command frame (level 6, whose 2006 command ID stays in the
//! clear while the command payload is encrypted). SEC-03.

use wisun::ccm_star::{self, Key};
use wisun::mac::{
    Address, AuxSecurityHeader, Eui64, Frame, FrameType, FrameVersion, Header, KeyIdentifier,
    SecurityLevel,
};

const KEY: Key = [
    0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF,
];
const SOURCE: Eui64 = Eui64([0xAC, 0xDE, 0x48, 0, 0, 0, 0, 0x01]);
const DESTINATION: Eui64 = Eui64([0xAC, 0xDE, 0x48, 0, 0, 0, 0, 0x02]);

fn header(frame_type: FrameType, level: SecurityLevel) -> Header {
    Header {
        frame_type,
        version: FrameVersion::V2006,
        frame_pending: false,
        ack_request: false,
        pan_id_compression: false,
        sequence_number: Some(0x84),
        dst_pan: None,
        dst: None,
        src_pan: Some(0x4321),
        src: Some(Address::Extended(SOURCE)),
        security: Some(AuxSecurityHeader {
            level,
            frame_counter: Some(5),
            asn_in_nonce: false,
            key_id: KeyIdentifier::Implicit,
        }),
        header_ies: vec![],
    }
}

fn keys(_: &KeyIdentifier, _: Eui64) -> Option<Key> {
    Some(KEY)
}

fn check(frame: &Frame, want: &[u8]) {
    assert_eq!(ccm_star::secure(frame, &KEY).expect("secure"), want);
    let opened = ccm_star::open(want, &keys).expect("open");
    assert_eq!(&opened.frame, frame);
    assert_eq!((opened.source, opened.frame_counter), (SOURCE, 5));
}

#[test]
fn sec03_annex_c_2_1_beacon_frame_mic_64() {
    let frame = Frame {
        header: header(FrameType::Beacon, SecurityLevel::Mic64),
        payload_ies: vec![],
        payload: vec![0x55, 0xCF, 0x00, 0x00, 0x51, 0x52, 0x53, 0x54],
    };
    let want = [
        0x08, 0xD0, 0x84, 0x21, 0x43, 0x01, 0x00, 0x00, 0x00, 0x00, 0x48, 0xDE, 0xAC, 0x02, 0x05,
        0x00, 0x00, 0x00, 0x55, 0xCF, 0x00, 0x00, 0x51, 0x52, 0x53, 0x54, // a
        0x22, 0x3B, 0xC1, 0xEC, 0x84, 0x1A, 0xB5, 0x53, // MIC
    ];
    check(&frame, &want);
}

#[test]
fn sec03_annex_c_2_3_command_frame_enc_mic_64() {
    let mut h = header(FrameType::Command, SecurityLevel::EncMic64);
    h.ack_request = true;
    h.dst_pan = Some(0x4321);
    h.dst = Some(Address::Extended(DESTINATION));
    h.src_pan = Some(0xFFFF);
    let frame = Frame {
        header: h,
        payload_ies: vec![],
        // Association Request, capability information 0xCE.
        payload: vec![0x01, 0xCE],
    };
    let want = [
        0x2B, 0xDC, 0x84, 0x21, 0x43, 0x02, 0x00, 0x00, 0x00, 0x00, 0x48, 0xDE, 0xAC, 0xFF, 0xFF,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x48, 0xDE, 0xAC, 0x06, 0x05, 0x00, 0x00, 0x00,
        0x01, // command ID, authenticated only
        0xD8, // encrypted capability information
        0x4F, 0xDE, 0x52, 0x90, 0x61, 0xF9, 0xC6, 0xF1, // MIC
    ];
    check(&frame, &want);
}

proptest::proptest! {
    /// Any 2006 frame type and payload at any level we accept opens to itself.
    #[test]
    fn sec03_legacy_frames_secure_then_open(
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60),
        level in proptest::sample::select(vec![1u8, 2, 3, 5, 6, 7]),
        command in proptest::prelude::any::<bool>(),
    ) {
        let frame_type = if command { FrameType::Command } else { FrameType::Data };
        let frame = Frame {
            header: header(frame_type, SecurityLevel::from_bits(level)),
            payload_ies: vec![],
            payload,
        };
        let mpdu = ccm_star::secure(&frame, &KEY).expect("secure");
        proptest::prop_assert_eq!(ccm_star::open(&mpdu, &keys).expect("open").frame, frame);
    }
}
