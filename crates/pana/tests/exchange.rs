//! A whole authentication between a simulated terminal (PaC) and smart meter (PAA) at
//! the function level (SEC-02): EAP-PSK's four messages in PANA, the MSK on both sides,
//! PANA_AUTH_KEY protecting PAR[C] onwards, the group key delivered encrypted (SEC-03),
//! and the failures a state machine will report.

mod support;

use pana::avp::{result_code, Avp};
use pana::eap::Packet;
use pana::keys::{self, Integrity};
use pana::secret::AuthKey;
use pana::{AuthFailure, Message};
use support::{registry_with, run, From, PASSWORD};

#[test]
fn sec02_sec03_full_exchange_gives_both_sides_the_msk_and_the_terminal_the_group_key() {
    let (t, r) = run(PASSWORD, &*registry_with(PASSWORD));
    assert_eq!(r, Ok(()));
    assert!(t.pac_msk.is_some());
    assert_eq!(t.pac_msk, t.paa_msk);
    let keys: Vec<_> = t
        .pac_group_keys
        .iter()
        .map(|g| (g.index, g.active))
        .collect();
    assert_eq!(keys, [(1, true), (2, false)]);
    // PCI, PAR[S], PAN[S], 2 × (PAR, PAN) EAP-PSK, PAR[C], PAN[C], PNR/PNA ping,
    // PNR/PNA rollover, PTR/PTA.
    assert_eq!(t.datagrams.len(), 15);
    for (_, d) in &t.datagrams {
        assert_eq!(&Message::parse(d).unwrap().emit().unwrap(), d);
    }
}

#[test]
fn sec02_eap_psk_wrong_password_gives_mac_p_mismatch_and_no_key() {
    let (t, r) = run(b"WRONGPASSWRD", &*registry_with(PASSWORD));
    assert_eq!(r, Err(AuthFailure::MacPMismatch));
    assert!(t.pac_msk.is_none() && t.paa_msk.is_none());
    assert!(t.pac_group_keys.is_empty());
    // The PAA's last word: PAR[C] with EAP-Failure and AUTHENTICATION_REJECTED, no AUTH.
    let (from, last) = t.datagrams.last().unwrap();
    assert_eq!(*from, From::Paa);
    let m = Message::parse(last).unwrap();
    assert_eq!(m.result_code(), Some(result_code::AUTHENTICATION_REJECTED));
    assert_eq!(
        Packet::parse(m.eap_payload().unwrap()).unwrap(),
        Packet::Failure { id: 2 }
    );
    assert!(!m.avps.iter().any(|a| matches!(a, Avp::Auth(_))));
}

#[test]
fn sec02_unknown_and_blocked_terminals_are_typed_failures() {
    let (_, r) = run(PASSWORD, &|_: &[u8]| Err(AuthFailure::UnknownId));
    assert_eq!(r, Err(AuthFailure::UnknownId));
    let (t, r) = run(PASSWORD, &|_: &[u8]| Err(AuthFailure::Blocked));
    assert_eq!(r, Err(AuthFailure::Blocked));
    assert!(t.pac_group_keys.is_empty());
}

#[test]
fn sec02_tampered_or_wrongly_keyed_messages_fail_the_auth_avp() {
    let (t, _) = run(PASSWORD, &*registry_with(PASSWORD));
    let par_c = &t.datagrams[7].1;
    let m = Message::parse(par_c).unwrap();
    assert!(m.avps.iter().any(|a| matches!(a, Avp::Auth(_))));
    let wrong: AuthKey = keys::pana_auth_key(
        keys::Prf::HmacSha256,
        Integrity::HmacSha256_128,
        &pana::secret::Msk::new([0; 64]),
        &keys::Seed {
            i_par: &[],
            i_pan: &[],
            pac_nonce: &[],
            paa_nonce: &[],
            key_id: 1,
        },
    );
    assert_eq!(
        keys::verify(par_c, Integrity::HmacSha256_128, &wrong),
        Err(AuthFailure::AuthAvpMismatch)
    );
    // A PAN[S] has no AUTH AVP at all.
    assert_eq!(
        keys::verify(&t.datagrams[2].1, Integrity::HmacSha256_128, &wrong),
        Err(AuthFailure::AuthAvpMissing)
    );
}
