//! The MAC codec case by case (RAD-01): acknowledgments, sequence number suppression,
//! Header IEs before a MIC, and each malformation with its typed error and offset.

mod support;

use support::{KEY, METER, TERMINAL};
use wisun::ccm_star;
use wisun::mac::{
    ack, Address, AuxSecurityHeader, Frame, FrameError, FrameType, FrameVersion, Header, HeaderIe,
    Mpdu, Oui, PayloadIe, SecurityLevel, MAX_PSDU_LEN,
};

fn data_header() -> Header {
    Header::new_2015(
        FrameType::Data,
        Some(9),
        (None, Some(Address::Extended(METER))),
        (None, Some(Address::Extended(TERMINAL))),
    )
    .expect("ext/ext row")
}

#[test]
fn rad01_imm_ack_of_a_2006_frame_is_three_bytes() {
    let bytes = [0x02, 0x00, 0x05];
    let frame = Frame::parse(&bytes).expect("Imm-Ack");
    assert_eq!(frame, ack::imm_ack(5, false));
    assert_eq!(frame.emit().expect("emit"), bytes);
    let mut sent = data_header();
    sent.sequence_number = Some(5);
    assert!(frame.acknowledges(&sent));
    sent.sequence_number = Some(6);
    assert!(!frame.acknowledges(&sent));
}

#[test]
fn rad01_enh_ack_names_the_originator_and_round_trips() {
    let ack = ack::enhanced_ack(9, Address::Extended(TERMINAL));
    let bytes = ack.emit().expect("emit");
    // Ack, PAN ID Compression, dst extended, frame version 2; SN; dst EUI-64 LSB first.
    assert_eq!(bytes[..3], [0x42, 0x2c, 0x09]);
    assert_eq!(bytes[3..], TERMINAL.to_air());
    assert_eq!(Frame::parse(&bytes), Ok(ack.clone()));
    assert!(ack.acknowledges(&data_header()));
    let mut other = data_header();
    other.src = Some(Address::Extended(METER));
    assert!(!ack.acknowledges(&other));
}

#[test]
fn rad01_suppressed_sequence_number_leaves_no_byte() {
    let mut header = Header::new_2015(
        FrameType::Data,
        None,
        (Some(0x1234), Some(Address::Short(0x0001))),
        (None, Some(Address::Short(0x0002))),
    )
    .expect("short/short row with compression");
    header.ack_request = true;
    let frame = Frame {
        header,
        payload_ies: vec![],
        payload: vec![0xaa],
    };
    let bytes = frame.emit().expect("emit");
    assert_eq!(
        bytes,
        [0x61, 0xa9, 0x34, 0x12, 0x01, 0x00, 0x02, 0x00, 0xaa]
    );
    assert_eq!(Frame::parse(&bytes), Ok(frame));
}

#[test]
fn sec03_header_ies_stop_before_the_mic() {
    // A secured frame whose Header IEs end the frame (no HT): the MIC must not be read
    // as Header IEs.
    let mut header = data_header();
    header.security = Some(AuxSecurityHeader::new(SecurityLevel::EncMic64, 7, 1));
    header.header_ies = vec![HeaderIe::Vendor {
        oui: Oui(0x12_34_56),
        data: b"IOT00901".to_vec(),
    }];
    let frame = Frame {
        header,
        payload_ies: vec![],
        payload: vec![],
    };
    let mpdu = ccm_star::secure(&frame, &KEY).expect("secure");
    let Ok(Mpdu::Secured(s)) = Mpdu::parse(&mpdu) else {
        panic!("secured frame");
    };
    assert_eq!(s.header, frame.header);
    assert_eq!(s.sealed.len(), 8);
    let opened = ccm_star::open(&mpdu, &|_: &_, _| Some(KEY)).expect("open");
    assert_eq!(opened.frame, frame);
}

#[test]
fn rad01_malformed_frames_get_typed_errors_with_offsets() {
    let cases: &[(&[u8], FrameError)] = &[
        (
            &[],
            FrameError::Truncated {
                offset: 0,
                needed: 2,
            },
        ),
        (&[0x05, 0x00], FrameError::UnsupportedFrameType(5)),
        (&[0x01, 0x30, 0x00], FrameError::ReservedVersion),
        (
            &[0x81, 0x00, 0x00],
            FrameError::ReservedBits { mask: 0x0080 },
        ),
        (
            &[0x01, 0x12, 0x00],
            FrameError::ReservedBits { mask: 0x0200 },
        ),
        (&[0x01, 0x14, 0x00], FrameError::ReservedAddressingMode),
        (
            &[0x41, 0x90, 0x00, 0x34, 0x12],
            FrameError::PanIdCompression,
        ),
        (&[0x09, 0x00, 0x00], FrameError::Security2003),
        (
            &[0x01, 0xc8, 0x00, 0xff, 0xff, 0x01, 0x02],
            FrameError::Truncated {
                offset: 7,
                needed: 2,
            },
        ),
        (&[0x01, 0x22, 0x07], FrameError::NoIe { offset: 3 }),
        (
            &[0x01, 0x22, 0x07, 0x01, 0x3f, 0x00],
            FrameError::TerminationLength { offset: 3 },
        ),
        (
            &[0x01, 0x22, 0x07, 0x00, 0x80],
            FrameError::IeType { offset: 3 },
        ),
        (
            &[0x01, 0x22, 0x07, 0x02, 0x00, 0x56, 0x34],
            FrameError::VendorIeTooShort { offset: 3 },
        ),
        (
            &[0x01, 0x22, 0x07, 0x00, 0x3f, 0x00, 0x00],
            FrameError::IeType { offset: 5 },
        ),
        (
            &[0x01, 0x22, 0x07, 0x00, 0x3f, 0x02, 0x88, 0x01],
            FrameError::Truncated {
                offset: 7,
                needed: 1,
            },
        ),
        (
            &[0x09, 0x20, 0x07, 0x05, 0x01, 0x00, 0x00, 0x00, 0x01, 0xaa],
            FrameError::MicMissing {
                offset: 8,
                mic_len: 4,
            },
        ),
        (
            &[0x09, 0x20, 0x07, 0x85],
            FrameError::ReservedSecurityBits { offset: 3 },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            Mpdu::parse(bytes).as_ref().err(),
            Some(want),
            "{bytes:02x?}"
        );
    }
    let long = [0u8; MAX_PSDU_LEN + 1];
    assert_eq!(
        Mpdu::parse(&long),
        Err(FrameError::TooLong {
            len: MAX_PSDU_LEN + 1
        })
    );
}

#[test]
fn rad01_frames_a_receiver_could_not_parse_back_are_not_emitted() {
    let plain = |header: Header, payload_ies: Vec<PayloadIe>, payload: Vec<u8>| Frame {
        header,
        payload_ies,
        payload,
    };
    let mut h = data_header();
    h.dst_pan = Some(0x1234);
    assert_eq!(
        plain(h, vec![], vec![]).emit(),
        Err(FrameError::PanIdPresence)
    );
    let mut h = data_header();
    h.version = FrameVersion::V2006;
    h.pan_id_compression = true;
    h.dst_pan = Some(0x1234);
    h.sequence_number = None;
    assert_eq!(
        plain(h, vec![], vec![]).emit(),
        Err(FrameError::NeedsVersion2)
    );
    let vendor = PayloadIe::Vendor {
        oui: Oui(1),
        data: vec![],
    };
    assert!(matches!(
        plain(data_header(), vec![vendor], vec![]).emit(),
        Err(FrameError::IeTermination(_))
    ));
    let mut h = data_header();
    h.header_ies = vec![HeaderIe::Other {
        id: 0x1a,
        content: vec![],
    }];
    assert!(matches!(
        plain(h, vec![], vec![1]).emit(),
        Err(FrameError::IeTermination(_))
    ));
    let mut h = data_header();
    h.header_ies = vec![HeaderIe::Other {
        id: 0x1a,
        content: vec![0; 128],
    }];
    assert!(matches!(
        plain(h, vec![], vec![]).emit(),
        Err(FrameError::IeField(_))
    ));
    let mut h = data_header();
    h.security = Some(AuxSecurityHeader::new(SecurityLevel::EncMic32, 1, 1));
    assert_eq!(
        plain(h, vec![], vec![]).emit(),
        Err(FrameError::NeedsSecuring)
    );
    assert!(matches!(
        plain(data_header(), vec![], vec![0; MAX_PSDU_LEN]).emit(),
        Err(FrameError::TooLong { .. })
    ));
}

#[test]
fn sec03_level_0_and_4_index_0_and_suppressed_counters_are_refused() {
    use wisun::ccm_star::{OpenError, PolicyError, SecureError};
    use wisun::mac::KeyIdentifier;
    let frame = |sec: AuxSecurityHeader| {
        let mut header = data_header();
        header.security = Some(sec);
        Frame {
            header,
            payload_ies: vec![],
            payload: vec![1, 2, 3],
        }
    };
    for level in [SecurityLevel::None, SecurityLevel::Enc] {
        assert_eq!(
            ccm_star::secure(&frame(AuxSecurityHeader::new(level, 1, 1)), &KEY),
            Err(SecureError::Policy(PolicyError::Level(level)))
        );
    }
    assert_eq!(
        ccm_star::secure(
            &frame(AuxSecurityHeader::new(SecurityLevel::EncMic32, 1, 0)),
            &KEY
        ),
        Err(SecureError::Policy(PolicyError::KeyIndexZero))
    );
    let mut suppressed = AuxSecurityHeader::new(SecurityLevel::EncMic32, 1, 1);
    suppressed.frame_counter = None;
    assert_eq!(
        ccm_star::secure(&frame(suppressed), &KEY),
        Err(SecureError::Policy(PolicyError::Nonce))
    );
    // The same refusals when opening: a level-0 "secured" frame carries no protection.
    let mut header = data_header();
    header.security = Some(AuxSecurityHeader::new(SecurityLevel::None, 1, 1));
    let mut bytes = Frame {
        header: data_header(),
        payload_ies: vec![],
        payload: vec![],
    }
    .emit()
    .expect("emit");
    bytes[0] |= 0x08;
    bytes.extend_from_slice(&[0x08, 1, 0, 0, 0, 1]);
    assert_eq!(
        ccm_star::open(&bytes, &|_: &KeyIdentifier, _| Some(KEY)),
        Err(OpenError::Policy(PolicyError::Level(SecurityLevel::None)))
    );
    let plain = Frame {
        header: data_header(),
        payload_ies: vec![],
        payload: vec![],
    };
    assert_eq!(
        ccm_star::open(&plain.emit().expect("emit"), &|_: &KeyIdentifier, _| Some(
            KEY
        )),
        Err(OpenError::NotSecured)
    );
}
