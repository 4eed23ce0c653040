//! Property tests of every wire format of the crate (SEC-02, RAD-01): `Repr` round trips
//! byte for byte, and hostile input (random, truncated) never panics and fails with an
//! offset inside the buffer.

use pana::avp::{code, Avp};
use pana::eap::{Packet, TYPE_PSK};
use pana::encr::{decrypt_avps, EncapContext, GroupKey, VENDOR_ID};
use pana::psk::{PChannel, PskMessage};
use pana::secret::{Aes128Key, Tek};
use pana::{Flags, Message, MessageType};
use proptest::collection::vec;
use proptest::prelude::*;

const TYPED: [u16; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13];

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn avp() -> impl Strategy<Value = Avp> {
    prop_oneof![
        bytes(24).prop_map(Avp::Auth),
        bytes(64).prop_map(Avp::EapPayload),
        any::<u32>().prop_map(Avp::IntegrityAlgorithm),
        any::<u32>().prop_map(Avp::KeyId),
        bytes(24).prop_map(Avp::Nonce),
        any::<u32>().prop_map(Avp::PrfAlgorithm),
        any::<u32>().prop_map(Avp::ResultCode),
        any::<u32>().prop_map(Avp::SessionLifetime),
        any::<u32>().prop_map(Avp::TerminationCause),
        bytes(48).prop_map(Avp::EncryptionEncap),
        any::<u32>().prop_map(Avp::EncryptionAlgorithm),
        (any::<u16>(), any::<u32>(), bytes(20)).prop_map(|(code, v, value)| Avp::Other {
            code,
            vendor: Some(v),
            value
        }),
        (any::<u16>(), bytes(20))
            .prop_filter("typed codes parse typed", |(c, _)| !TYPED.contains(c))
            .prop_map(|(code, value)| Avp::Other {
                code,
                vendor: None,
                value
            }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u16>(),
        1u16..=5,
        any::<u32>(),
        any::<u32>(),
        vec(avp(), 0..6),
    )
        .prop_map(|(flags, ty, session_id, seq, avps)| Message {
            flags: Flags(flags),
            kind: MessageType::from_number(ty).unwrap(),
            session_id,
            seq,
            avps,
        })
}

fn pchannel() -> impl Strategy<Value = PChannel> {
    (any::<u32>(), any::<[u8; 16]>(), vec(any::<u8>(), 1..24)).prop_map(
        |(nonce, tag, encrypted)| PChannel {
            nonce,
            tag,
            encrypted,
        },
    )
}

fn psk_message() -> impl Strategy<Value = PskMessage> {
    prop_oneof![
        (any::<[u8; 16]>(), bytes(40))
            .prop_map(|(rand_s, id_s)| PskMessage::First { rand_s, id_s }),
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            bytes(40)
        )
            .prop_map(|(rand_s, rand_p, mac_p, id_p)| PskMessage::Second {
                rand_s,
                rand_p,
                mac_p,
                id_p
            }),
        (any::<[u8; 16]>(), any::<[u8; 16]>(), pchannel()).prop_map(|(rand_s, mac_s, pchannel)| {
            PskMessage::Third {
                rand_s,
                mac_s,
                pchannel,
            }
        }),
        (any::<[u8; 16]>(), pchannel())
            .prop_map(|(rand_s, pchannel)| PskMessage::Fourth { rand_s, pchannel }),
    ]
}

fn eap_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (any::<u8>(), any::<u8>(), bytes(40)).prop_map(|(id, ty, data)| Packet::Request {
            id,
            ty,
            data
        }),
        (any::<u8>(), any::<u8>(), bytes(40)).prop_map(|(id, ty, data)| Packet::Response {
            id,
            ty,
            data
        }),
        any::<u8>().prop_map(|id| Packet::Success { id }),
        any::<u8>().prop_map(|id| Packet::Failure { id }),
    ]
}

proptest! {
    #[test]
    fn sec02_pana_message_round_trips_byte_for_byte(m in message()) {
        let b = m.emit().unwrap();
        prop_assert_eq!(b.len(), m.wire_len());
        let back = Message::parse(&b).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.emit().unwrap(), b);
    }

    #[test]
    fn sec02_pana_message_prefixes_are_errors(m in message(), cut in any::<prop::sample::Index>()) {
        let b = m.emit().unwrap();
        let n = cut.index(b.len());
        let e = Message::parse(&b[..n]).unwrap_err();
        prop_assert!(e.offset() <= b.len());
    }

    #[test]
    fn sec06_random_bytes_never_panic_as_pana(b in bytes(200)) {
        match Message::parse(&b) {
            Ok(m) => prop_assert_eq!(Message::parse(&m.emit().unwrap()).unwrap(), m),
            Err(e) => prop_assert!(e.offset() <= b.len()),
        }
    }

    #[test]
    fn sec06_random_avp_area_never_panics(b in bytes(120), mut header in any::<[u8; 16]>()) {
        // A valid header whose length covers random AVP bytes.
        let len = (16 + b.len()) as u16;
        header[0..2].copy_from_slice(&[0, 0]);
        header[2..4].copy_from_slice(&len.to_be_bytes());
        header[6..8].copy_from_slice(&[0, 2]);
        let mut d = header.to_vec();
        d.extend_from_slice(&b);
        match Message::parse(&d) {
            Ok(m) => prop_assert_eq!(Message::parse(&m.emit().unwrap()).unwrap(), m),
            Err(e) => prop_assert!(e.offset() <= d.len(), "{e}"),
        }
    }

    #[test]
    fn sec02_eap_packet_round_trips_byte_for_byte(p in eap_packet()) {
        let b = p.emit().unwrap();
        prop_assert_eq!(Packet::parse(&b).unwrap(), p);
    }

    #[test]
    fn sec06_random_bytes_as_eap_reemit_exactly_or_fail(b in bytes(80)) {
        match Packet::parse(&b) {
            Ok(p) => prop_assert_eq!(p.emit().unwrap(), b),
            Err(e) => prop_assert!(e.offset() <= b.len()),
        }
    }

    #[test]
    fn sec02_eap_psk_message_round_trips_byte_for_byte(m in psk_message(), id in any::<u8>()) {
        let b = m.emit_eap(id).unwrap();
        prop_assert_eq!(b[4], TYPE_PSK);
        let (id2, back) = PskMessage::parse_eap(&b).unwrap();
        prop_assert_eq!(id2, id);
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.emit_eap(id).unwrap(), b);
    }

    #[test]
    fn sec06_random_bytes_never_panic_as_eap_psk(b in bytes(120), tek in any::<[u8; 16]>()) {
        match PskMessage::parse_eap(&b) {
            Ok((id, m)) => {
                prop_assert_eq!(PskMessage::parse_eap(&m.emit_eap(id).unwrap()).unwrap(), (id, m));
            }
            Err(e) => prop_assert!(e.offset() <= b.len()),
        }
        // Opening a random protected channel fails cleanly.
        prop_assert!(PskMessage::open_pchannel(&b, &Tek::new(tek)).is_err());
    }

    #[test]
    fn sec03_group_key_round_trips(index in 1u8.., active in any::<bool>(), lifetime_s in any::<u32>(), key in any::<[u8; 16]>()) {
        let g = GroupKey { index, active, lifetime_s, key: Aes128Key::new(key) };
        prop_assert_eq!(GroupKey::from_avp(&g.to_avp(VENDOR_ID), VENDOR_ID).unwrap().unwrap(), g);
    }

    #[test]
    fn sec06_random_encryption_encap_never_panics(v in bytes(100), key in any::<[u8; 16]>(), seq in any::<u32>()) {
        let ctx = EncapContext { key_id: 1, session_id: 2, seq };
        if let Ok(avps) = decrypt_avps(&Aes128Key::new(key), ctx, &v) {
            for a in &avps {
                let _ = GroupKey::from_avp(a, VENDOR_ID);
            }
        }
    }
}

#[test]
fn sec02_vendor_avp_with_a_typed_code_stays_opaque() {
    let a = Avp::Other {
        code: code::KEY_ID,
        vendor: Some(9),
        value: vec![1, 2, 3],
    };
    let m = Message::new(MessageType::Notification, Flags::REQUEST, 1, 2).with(a.clone());
    let back = Message::parse(&m.emit().unwrap()).unwrap();
    assert_eq!(back.avps, [a]);
    assert_eq!(back.key_id(), None);
}
