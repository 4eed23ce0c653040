//! The reference frames of the spec notes (Appendix B; tshark decodes and decrypts them)
//! parsed, rebuilt from our own constructors and re-emitted byte for byte, and the
//! CCM* known-answer DATA frame reproduced and opened (SEC-03).

mod support;

use support::{hex, keys, DATA, DATA_PLAINTEXT, EB, EBR, KEY, METER, TERMINAL};
use wisun::ccm_star::{self, OpenError};
use wisun::mac::{
    beacon, fcs, fcs::FcsKind, Address, AuxSecurityHeader, CommandId, Frame, FrameType, Header,
    HeaderIe, Mpdu, Oui, SecurityLevel,
};
use wisun::pairing_id::{PairingIeContent, PairingIeFormat};
use wisun::PairingId;

fn mpdu(psdu_hex: &str) -> Vec<u8> {
    fcs::strip(&hex(psdu_hex), FcsKind::Crc16)
        .expect("FCS")
        .to_vec()
}

fn pairing_id() -> PairingId {
    PairingId::from_codes("00", "12345678901").expect("CON-03 example")
}

#[test]
fn con01_reference_ebr_parses_and_our_constructor_emits_it_byte_for_byte() {
    let bytes = mpdu(EBR);
    let frame = Frame::parse(&bytes).expect("EBR");
    assert!(frame.is_enhanced_beacon_request());
    assert_eq!(frame.command_id(), Some(CommandId::BeaconRequest));
    assert_eq!(frame.header.src, Some(Address::Extended(TERMINAL)));
    assert_eq!(
        PairingIeFormat::default().find(&frame.header.header_ies),
        PairingIeContent::Valid(pairing_id())
    );
    assert_eq!(frame.emit().expect("emit"), bytes);
    let built =
        beacon::enhanced_beacon_request(1, TERMINAL, &pairing_id(), &PairingIeFormat::default());
    assert_eq!(built, frame);
    let psdu = fcs::append(&built.emit().expect("emit"), FcsKind::Crc16).expect("fcs");
    assert_eq!(psdu, hex(EBR));
}

#[test]
fn con01_reference_eb_echoes_the_pairing_id_byte_for_byte() {
    let bytes = mpdu(EB);
    let frame = Frame::parse(&bytes).expect("EB");
    assert!(frame.is_enhanced_beacon());
    assert_eq!(frame.header.src_pan, Some(0x1234));
    assert_eq!(
        frame.header.header_ies,
        [HeaderIe::Vendor {
            oui: Oui(0x12_34_56),
            data: b"IOT00901".to_vec()
        }]
    );
    let built = beacon::enhanced_beacon(
        0x5a,
        0x1234,
        METER,
        &pairing_id(),
        &PairingIeFormat::default(),
    );
    assert_eq!(built, frame);
    assert_eq!(
        fcs::append(&built.emit().expect("emit"), FcsKind::Crc16).expect("fcs"),
        hex(EB)
    );
}

#[test]
fn rad01_reference_data_frame_parses_as_secured_and_re_emits() {
    let bytes = mpdu(DATA);
    let Mpdu::Secured(secured) = Mpdu::parse(&bytes).expect("DATA") else {
        panic!("DATA is secured");
    };
    assert_eq!(secured.header.frame_type, FrameType::Data);
    assert!(secured.header.ack_request);
    assert_eq!(secured.header.dst, Some(Address::Extended(METER)));
    assert_eq!(
        secured.header.security,
        Some(AuxSecurityHeader::new(SecurityLevel::EncMic32, 1, 1))
    );
    assert_eq!(secured.emit().expect("emit"), bytes);
}

fn reference_data_plaintext() -> Frame {
    let mut header = Header::new_2015(
        FrameType::Data,
        Some(2),
        (None, Some(Address::Extended(METER))),
        (None, Some(Address::Extended(TERMINAL))),
    )
    .expect("Table 7-2 row ext/ext");
    header.ack_request = true;
    header.security = Some(AuxSecurityHeader::new(ccm_star::DEFAULT_LEVEL, 1, 1));
    Frame {
        header,
        payload_ies: vec![],
        payload: hex(DATA_PLAINTEXT),
    }
}

#[test]
fn sec03_ccm_star_reproduces_the_reference_data_frame() {
    let mpdu = ccm_star::secure(&reference_data_plaintext(), &KEY).expect("secure");
    assert_eq!(fcs::append(&mpdu, FcsKind::Crc16).expect("fcs"), hex(DATA));
}

#[test]
fn sec03_ccm_star_opens_the_reference_data_frame() {
    let opened = ccm_star::open(&mpdu(DATA), &keys).expect("open");
    assert_eq!(opened.frame, reference_data_plaintext());
    assert_eq!(opened.source, TERMINAL);
    assert_eq!(opened.frame_counter, 1);
}

#[test]
fn sec03_tampered_or_wrongly_keyed_reference_frame_is_refused() {
    let mut bytes = mpdu(DATA);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    assert_eq!(ccm_star::open(&bytes, &keys), Err(OpenError::Mic));
    // The frame counter is authenticated (it is in the nonce and in `a`).
    let mut bytes = mpdu(DATA);
    bytes[20] = 2;
    assert_eq!(ccm_star::open(&bytes, &keys), Err(OpenError::Mic));
    let wrong = |_: &_, _| Some([0x55; 16]);
    assert_eq!(ccm_star::open(&mpdu(DATA), &wrong), Err(OpenError::Mic));
    let none = |_: &_, _| None;
    assert!(matches!(
        ccm_star::open(&mpdu(DATA), &none),
        Err(OpenError::UnknownKey(_))
    ));
}

#[test]
fn sec03_replayed_reference_frame_is_refused_and_counted() {
    use wisun::mac::counters::ReplayGuard;
    let mut guard = ReplayGuard::new();
    let mut receive = |bytes: &[u8]| {
        let opened = ccm_star::open(bytes, &keys).expect("MIC verifies");
        let key_index = opened.frame.header.security.and_then(|s| s.key_id.index());
        guard.accept(
            opened.source,
            key_index.expect("mode 1"),
            opened.frame_counter,
        )
    };
    assert_eq!(receive(&mpdu(DATA)), Ok(()));
    let replay = receive(&mpdu(DATA)).expect_err("same counter again");
    assert_eq!(
        (replay.peer, replay.received, replay.last),
        (TERMINAL, 1, 1)
    );
    // A fresh frame from the same sender with the next counter passes.
    let mut next = reference_data_plaintext();
    if let Some(sec) = next.header.security.as_mut() {
        sec.frame_counter = Some(2);
    }
    assert_eq!(
        receive(&ccm_star::secure(&next, &KEY).expect("secure")),
        Ok(())
    );
    assert_eq!(guard.replays(), 1);
}
