//! A PaC (terminal) and a PAA (smart meter) written straight from RFC 5191 / RFC 4764 with
//! this crate's functions, no state machine: one full authentication as a list of
//! datagrams, for the exchange tests and the tshark pcap.

#![allow(dead_code)] // each test binary uses part of it

#[path = "../../../../test-support/skips.rs"]
pub mod skips;

use pana::avp::{result_code, termination_cause, Avp};
use pana::eap::Packet;
use pana::encr::{decrypt_avps, encrypt_avps, EncapContext, GroupKey, AES128_CTR, VENDOR_ID};
use pana::keys::{self, Integrity, Prf, Seed};
use pana::psk::{
    identity_from_eui64, key_setup, mac_p, mac_s, verify_mac_p, verify_mac_s, PChannelPlain,
    PskDerivation, PskMessage, ResultFlag, SaltedSha256, SessionKeys,
};
use pana::secret::{Aes128Key, AuthKey, Msk, Psk};
use pana::{AuthFailure, Flags, Message, MessageType};

pub const TERMINAL_EUI: [u8; 8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01];
pub const METER_EUI: [u8; 8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x02];
pub const SESSION: u32 = 0x1234_5678;
pub const PASSWORD: &[u8] = b"0123456789AB";
const PRF: Prf = Prf::HmacSha256;
const INTEGRITY: Integrity = Integrity::HmacSha256_128;
const KEY_ID: u32 = 1;

/// Who sent a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Pac,
    Paa,
}

/// The datagrams of a run, and what each side ended with.
#[derive(Debug, Default)]
pub struct Transcript {
    pub datagrams: Vec<(From, Vec<u8>)>,
    pub pac_group_keys: Vec<GroupKey>,
    pub pac_msk: Option<Msk>,
    pub paa_msk: Option<Msk>,
}

impl Transcript {
    fn send(&mut self, from: From, m: &Message) -> Vec<u8> {
        let b = m.emit().unwrap();
        self.datagrams.push((from, b.clone()));
        b
    }

    fn send_sealed(&mut self, from: From, m: Message, key: &AuthKey) -> Vec<u8> {
        let b = keys::emit_sealed(&m, INTEGRITY, key).unwrap();
        self.datagrams.push((from, b.clone()));
        b
    }
}

/// What the PAA knows of a terminal: its PSK, or why it is refused.
pub type Registry = dyn Fn(&[u8]) -> Result<Psk, AuthFailure>;

/// The PAA's registry holding our terminal with `password`.
pub fn registry_with(password: &'static [u8]) -> Box<Registry> {
    let id = identity_from_eui64(TERMINAL_EUI);
    Box::new(move |id_p| {
        if id_p == id.as_bytes() {
            Ok(SaltedSha256.derive(id_p, password))
        } else {
            Err(AuthFailure::UnknownId)
        }
    })
}

fn eap(m: &Message) -> Vec<u8> {
    m.eap_payload().unwrap().to_vec()
}

/// One authentication of the terminal (password `pac_password`) to the meter
/// (`registry`). Returns the transcript so far and the failure, if any: on failure the
/// PAA sends PAR[C] with EAP-Failure and Result-Code AUTHENTICATION_REJECTED and no key.
pub fn run(pac_password: &[u8], registry: &Registry) -> (Transcript, Result<(), AuthFailure>) {
    let mut t = Transcript::default();
    let r = run_inner(&mut t, pac_password, registry);
    (t, r)
}

fn run_inner(
    t: &mut Transcript,
    pac_password: &[u8],
    registry: &Registry,
) -> Result<(), AuthFailure> {
    let id_p = identity_from_eui64(TERMINAL_EUI).into_bytes();
    let id_s = identity_from_eui64(METER_EUI).into_bytes();
    let (pac_nonce, paa_nonce) = ([0xA1u8; 16], [0xB2u8; 16]);
    let (rand_s, rand_p) = ([0x20u8; 16], [0x10u8; 16]);
    let mut paa_seq = 1000;
    let pac_seq = 7000;

    // PCI, PAR[S], PAN[S].
    t.send(
        From::Pac,
        &Message::new(MessageType::ClientInitiation, Flags::NONE, 0, 0),
    );
    let i_par = t.send(
        From::Paa,
        &Message::new(
            MessageType::Auth,
            Flags::REQUEST | Flags::START,
            SESSION,
            paa_seq,
        )
        .with(Avp::PrfAlgorithm(PRF.id()))
        .with(Avp::IntegrityAlgorithm(INTEGRITY.id()))
        .with(Avp::EncryptionAlgorithm(AES128_CTR)),
    );
    let i_pan = t.send(
        From::Pac,
        &Message::new(MessageType::Auth, Flags::START, SESSION, paa_seq)
            .with(Avp::PrfAlgorithm(PRF.id()))
            .with(Avp::IntegrityAlgorithm(INTEGRITY.id()))
            .with(Avp::EncryptionAlgorithm(AES128_CTR)),
    );

    // PAR: Nonce + EAP-PSK 1.
    paa_seq += 1;
    let psk1 = PskMessage::First {
        rand_s,
        id_s: id_s.clone(),
    };
    let par = t.send(
        From::Paa,
        &Message::new(MessageType::Auth, Flags::REQUEST, SESSION, paa_seq)
            .with(Avp::Nonce(paa_nonce.to_vec()))
            .with(Avp::EapPayload(psk1.emit_eap(1)?)),
    );

    // PaC: PAN with Nonce + EAP-PSK 2.
    let (id1, m1) = PskMessage::parse_eap(&eap(&Message::parse(&par)?))?;
    let PskMessage::First {
        rand_s: rs,
        id_s: got_id_s,
    } = m1
    else {
        panic!("expected EAP-PSK 1");
    };
    let pac_psk = SaltedSha256.derive(&id_p, pac_password);
    let (pac_ak, pac_kdk) = key_setup(&pac_psk);
    let psk2 = PskMessage::Second {
        rand_s: rs,
        rand_p,
        mac_p: mac_p(&pac_ak, &id_p, &got_id_s, &rs, &rand_p),
        id_p: id_p.clone(),
    };
    let pan = t.send(
        From::Pac,
        &Message::new(MessageType::Auth, Flags::NONE, SESSION, paa_seq)
            .with(Avp::Nonce(pac_nonce.to_vec()))
            .with(Avp::EapPayload(psk2.emit_eap(id1)?)),
    );

    // PAA: check ID_P and MAC_P; EAP-PSK 3 or the failure.
    let (_, m2) = PskMessage::parse_eap(&eap(&Message::parse(&pan)?))?;
    let PskMessage::Second {
        rand_s: echoed,
        rand_p: got_rand_p,
        mac_p: got_mac_p,
        id_p: got_id_p,
    } = m2
    else {
        panic!("expected EAP-PSK 2");
    };
    let checked = (|| {
        if echoed != rand_s {
            return Err(AuthFailure::RandSMismatch);
        }
        let psk = registry(&got_id_p)?;
        let (ak, kdk) = key_setup(&psk);
        verify_mac_p(&ak, &got_id_p, &id_s, &rand_s, &got_rand_p, &got_mac_p)?;
        Ok((ak, kdk))
    })();
    paa_seq += 1;
    let (paa_ak, paa_kdk) = match checked {
        Ok(k) => k,
        Err(f) => {
            t.send(
                From::Paa,
                &Message::new(
                    MessageType::Auth,
                    Flags::REQUEST | Flags::COMPLETE,
                    SESSION,
                    paa_seq,
                )
                .with(Avp::EapPayload(Packet::Failure { id: 2 }.emit()?))
                .with(Avp::ResultCode(result_code::AUTHENTICATION_REJECTED)),
            );
            return Err(f);
        }
    };
    let paa_keys = SessionKeys::derive(&paa_kdk, &got_rand_p);
    let psk3 = PskMessage::seal_third(
        2,
        rand_s,
        mac_s(&paa_ak, &id_s, &got_rand_p),
        &paa_keys.tek,
        0,
        &PChannelPlain::done(ResultFlag::DoneSuccess),
    )?;
    let par = t.send(
        From::Paa,
        &Message::new(MessageType::Auth, Flags::REQUEST, SESSION, paa_seq)
            .with(Avp::EapPayload(psk3)),
    );

    // PaC: check MAC_S, open PCHANNEL_S_0, answer with PCHANNEL_P_1.
    let eap3 = eap(&Message::parse(&par)?);
    let (id3, m3) = PskMessage::parse_eap(&eap3)?;
    let PskMessage::Third {
        mac_s: got_mac_s, ..
    } = m3
    else {
        panic!("expected EAP-PSK 3");
    };
    verify_mac_s(&pac_ak, &got_id_s, &rand_p, &got_mac_s)?;
    let pac_keys = SessionKeys::derive(&pac_kdk, &rand_p);
    let (m3, plain) = PskMessage::open_pchannel(&eap3, &pac_keys.tek)?;
    let PskMessage::Third { pchannel, .. } = m3 else {
        panic!("expected EAP-PSK 3");
    };
    if plain.result != ResultFlag::DoneSuccess {
        return Err(AuthFailure::Rejected);
    }
    let psk4 = PskMessage::seal_fourth(
        id3,
        rand_s,
        &pac_keys.tek,
        pchannel.nonce.wrapping_add(1),
        &PChannelPlain::done(ResultFlag::DoneSuccess),
    )?;
    let pan = t.send(
        From::Pac,
        &Message::new(MessageType::Auth, Flags::NONE, SESSION, paa_seq).with(Avp::EapPayload(psk4)),
    );

    // PAA: open PCHANNEL_P_1 (nonce must be 1); PAR[C] with the group key.
    let (m4, plain) = PskMessage::open_pchannel(&eap(&Message::parse(&pan)?), &paa_keys.tek)?;
    let PskMessage::Fourth { pchannel, .. } = m4 else {
        panic!("expected EAP-PSK 4");
    };
    if pchannel.nonce != 1 {
        return Err(AuthFailure::PChannelNonce {
            got: pchannel.nonce,
            expected: 1,
        });
    }
    if plain.result != ResultFlag::DoneSuccess {
        return Err(AuthFailure::Rejected);
    }
    let seed = Seed {
        i_par: &i_par,
        i_pan: &i_pan,
        pac_nonce: &pac_nonce,
        paa_nonce: &paa_nonce,
        key_id: KEY_ID,
    };
    let paa_auth = keys::pana_auth_key(PRF, INTEGRITY, &paa_keys.msk, &seed);
    let paa_encr = keys::pana_paa_encr_key(PRF, &paa_keys.msk, &seed);
    paa_seq += 1;
    let gk = GroupKey {
        index: 1,
        active: true,
        lifetime_s: 86_400,
        key: Aes128Key::new([0x5A; 16]),
    };
    let ctx = |seq| EncapContext {
        key_id: KEY_ID,
        session_id: SESSION,
        seq,
    };
    let par_c = t.send_sealed(
        From::Paa,
        Message::new(
            MessageType::Auth,
            Flags::REQUEST | Flags::COMPLETE,
            SESSION,
            paa_seq,
        )
        .with(Avp::EapPayload(Packet::Success { id: 2 }.emit()?))
        .with(Avp::ResultCode(result_code::SUCCESS))
        .with(Avp::SessionLifetime(86_400))
        .with(Avp::KeyId(KEY_ID))
        .with(encrypt_avps(
            &paa_encr,
            ctx(paa_seq),
            &[gk.to_avp(VENDOR_ID)],
        )?),
        &paa_auth,
    );
    t.paa_msk = Some(paa_keys.msk.clone());

    // PaC: derive the same keys, verify AUTH, then decrypt; PAN[C].
    let pac_auth = keys::pana_auth_key(PRF, INTEGRITY, &pac_keys.msk, &seed);
    let pac_encr = keys::pana_paa_encr_key(PRF, &pac_keys.msk, &seed);
    let m = keys::parse_verified(&par_c, INTEGRITY, &pac_auth)?;
    assert_eq!(m.result_code(), Some(result_code::SUCCESS));
    receive_group_keys(t, &m, &pac_encr);
    t.pac_msk = Some(pac_keys.msk.clone());
    t.send_sealed(
        From::Pac,
        Message::new(MessageType::Auth, Flags::COMPLETE, SESSION, paa_seq).with(Avp::KeyId(KEY_ID)),
        &pac_auth,
    );

    // Ping from the PaC (its own sequence numbers), rollover from the PAA, termination.
    let pnr = t.send_sealed(
        From::Pac,
        Message::new(
            MessageType::Notification,
            Flags::REQUEST | Flags::PING,
            SESSION,
            pac_seq,
        ),
        &pac_auth,
    );
    keys::verify(&pnr, INTEGRITY, &paa_auth)?;
    t.send_sealed(
        From::Paa,
        Message::new(MessageType::Notification, Flags::PING, SESSION, pac_seq),
        &paa_auth,
    );
    paa_seq += 1;
    let next = GroupKey {
        index: 2,
        active: false,
        lifetime_s: 86_400,
        key: Aes128Key::new([0x6B; 16]),
    };
    let pnr = t.send_sealed(
        From::Paa,
        Message::new(MessageType::Notification, Flags::REQUEST, SESSION, paa_seq)
            .with(Avp::KeyId(KEY_ID))
            .with(encrypt_avps(
                &paa_encr,
                ctx(paa_seq),
                &[next.to_avp(VENDOR_ID)],
            )?),
        &paa_auth,
    );
    let pnr = keys::parse_verified(&pnr, INTEGRITY, &pac_auth)?;
    receive_group_keys(t, &pnr, &pac_encr);
    t.send_sealed(
        From::Pac,
        Message::new(MessageType::Notification, Flags::NONE, SESSION, paa_seq),
        &pac_auth,
    );
    t.send_sealed(
        From::Pac,
        Message::new(
            MessageType::Termination,
            Flags::REQUEST,
            SESSION,
            pac_seq + 1,
        )
        .with(Avp::TerminationCause(termination_cause::LOGOUT)),
        &pac_auth,
    );
    t.send_sealed(
        From::Paa,
        Message::new(MessageType::Termination, Flags::NONE, SESSION, pac_seq + 1),
        &paa_auth,
    );
    Ok(())
}

fn receive_group_keys(t: &mut Transcript, m: &Message, encr: &Aes128Key) {
    let ctx = EncapContext {
        key_id: m.key_id().unwrap(),
        session_id: m.session_id,
        seq: m.seq,
    };
    for a in &m.avps {
        if let Avp::EncryptionEncap(v) = a {
            for inner in decrypt_avps(encr, ctx, v).unwrap() {
                if let Some(gk) = GroupKey::from_avp(&inner, VENDOR_ID) {
                    t.pac_group_keys.push(gk.unwrap());
                }
            }
        }
    }
}
