//! `server::TerminalServer`: the three associations of the IoT-route model chosen by client
//! wPort, with the mechanisms `dlms serve` offers, driven by the upstream client in
//! memory: public without security, management with LLS and with HLS-GMAC + suite 0
//! (Green Book test keys), a secret changed over the air, an unknown wPort dropped.

mod engine_get;

use chrono::{DateTime, TimeZone, Utc};
use dlms::apdu::{DataAccessResult, DataRef};
use dlms::cosem::codes::{
    ACCESS_LOG, ASSOCIATION, CLOCK, ENERGY_AC_INPUT, EVENT_LOG, LOAD_PROFILE,
    MANAGEMENT_INVOCATION_COUNTER,
};
use dlms::cosem::model::{AccessCode, EventCode};
use dlms::cosem::{to_cosem, IotRouteModel, ModelConfig, Obis, Value};
use dlms::server::{
    shared, Auth, Entropy, Keys, Protection, ServeConfig, ServeError, TerminalServer,
};
use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::client::{AssociationStep, ClientConfig, ClientSession, Response};
use dlms_cosem_rs::cosem::RangeDescriptor;
use dlms_cosem_rs::security::{
    FixedRandom, KeyRing, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite, SystemTitle,
};
use dlms_cosem_rs::xdlms::{AttributeDescriptor, SelectiveAccess};

const EK: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const AK: [u8; 16] = [
    0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF,
];
const SERVER_TITLE: [u8; 8] = [0x4D, 0x4D, 0x4D, 0x00, 0x00, 0xBC, 0x61, 0x4E];

/// Test entropy only: a fixed challenge is never acceptable on a network.
#[derive(Debug, Clone, Copy)]
struct TestEntropy;

impl Entropy for TestEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        for (i, b) in out.iter_mut().enumerate() {
            *b = 0x5A ^ (i as u8);
        }
        true
    }
}

type Client = ClientSession<RustCryptoProvider<FixedRandom>, 16384>;

/// 2026-11-25 12:10:00 JST.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap()
}

fn server(auth: Auth, protection: Protection, max_pdu: u16) -> TerminalServer<TestEntropy> {
    let mut m = IotRouteModel::new(&ModelConfig::default(), now()).unwrap();
    m.fill_demo(2, now()).unwrap();
    let config = ServeConfig {
        auth,
        protection,
        keys: Some(Keys { ek: EK, ak: AK }),
        system_title: SERVER_TITLE,
        max_pdu,
        invocation_counter: 0,
    };
    TerminalServer::new(shared(m), config, TestEntropy).unwrap()
}

fn client(
    sap: u8,
    mechanism: AuthMechanism,
    password: Option<&[u8]>,
    security: SecurityPolicy,
) -> Client {
    ClientSession::new(
        ClientConfig {
            client_sap: sap,
            system_title: Some(SystemTitle::new(*b"CLIENT01")),
            mechanism,
            password: password.map(|p| Secret::new(p).unwrap()),
            security,
            max_pdu_size: 512,
            ..Default::default()
        },
        RustCryptoProvider::with_rng(KeyRing::new(EK, AK), FixedRandom(0x42)),
    )
}

fn exchange(s: &mut TerminalServer<TestEntropy>, wport: u16, req: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 4096];
    let n = s
        .handle(wport, now(), req, &mut out)
        .unwrap()
        .expect("served wPort");
    out.truncate(n);
    out
}

fn associate(c: &mut Client, s: &mut TerminalServer<TestEntropy>, wport: u16) -> AssociationStep {
    let mut req = [0u8; 1024];
    let n = c.associate_request(&mut req).unwrap();
    let resp = exchange(s, wport, &req[..n]);
    let step = c.handle_associate_response(&resp).unwrap();
    if step != AssociationStep::HlsReplyRequired {
        return step;
    }
    let n = c.hls_reply_request(&mut req).unwrap();
    let resp = exchange(s, wport, &req[..n]);
    c.handle_hls_reply_response(&resp).unwrap()
}

fn get(
    c: &mut Client,
    s: &mut TerminalServer<TestEntropy>,
    wport: u16,
    class: u16,
    ln: Obis,
    attr: i8,
    access: Option<SelectiveAccess<'_>>,
) -> Result<Value, DataAccessResult> {
    engine_get::get(c, |req| exchange(s, wport, req), class, ln, attr, access)
}

/// The management client (wPort 1, HLS-GMAC, suite 0 auth+enc) starting above `ic`.
fn management_client(ic: u32) -> Client {
    ClientSession::new(
        ClientConfig {
            client_sap: 1,
            system_title: Some(SystemTitle::new(*b"CLIENT01")),
            mechanism: AuthMechanism::HighGmac,
            security: SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0),
            max_pdu_size: 512,
            invocation_counter: ic,
            ..Default::default()
        },
        RustCryptoProvider::with_rng(KeyRing::new(EK, AK), FixedRandom(0x42)),
    )
}

#[test]
fn public_wport_16_without_security_and_an_unknown_wport_is_dropped() {
    let mut s = server(Auth::Low, Protection::None, 1024);
    let mut c = client(16, AuthMechanism::None, None, SecurityPolicy::NONE);
    assert_eq!(associate(&mut c, &mut s, 16), AssociationStep::Established);
    assert!(get(&mut c, &mut s, 16, 8, CLOCK, 2, None).is_ok());
    assert_eq!(
        get(&mut c, &mut s, 16, 3, ENERGY_AC_INPUT, 2, None),
        Err(DataAccessResult::ObjectUndefined)
    );
    let mut out = [0u8; 64];
    assert_eq!(
        s.handle(0x30, now(), &[0x60, 0x00], &mut out).unwrap(),
        None
    );
}

#[test]
fn trm05_management_wport_1_with_lls_reads_energy_and_refuses_a_wrong_password() {
    let mut s = server(Auth::Low, Protection::None, 1024);
    let mut bad = client(
        1,
        AuthMechanism::Low,
        Some(b"wrong-pw"),
        SecurityPolicy::NONE,
    );
    assert!(matches!(
        associate(&mut bad, &mut s, 1),
        AssociationStep::Rejected { .. }
    ));
    let mut c = client(
        1,
        AuthMechanism::Low,
        Some(b"12345678"),
        SecurityPolicy::NONE,
    );
    assert_eq!(associate(&mut c, &mut s, 1), AssociationStep::Established);
    let (ac_in, _) = s.model().lock().unwrap().energy();
    assert_eq!(
        get(&mut c, &mut s, 1, 3, ENERGY_AC_INPUT, 2, None).unwrap(),
        Value::DoubleLongUnsigned(ac_in)
    );
    // The association object names the mechanism: LLS (1).
    let Value::Structure(mech) = get(&mut c, &mut s, 1, 15, ASSOCIATION, 6, None).unwrap() else {
        panic!()
    };
    assert_eq!(mech[6], Value::Unsigned(1));
}

#[test]
fn trm06_management_with_hls_gmac_auth_enc_reads_a_day_by_range_at_pdu_128() {
    let mut s = server(Auth::HlsGmac, Protection::AuthEnc, 128);
    let mut c = client(
        1,
        AuthMechanism::HighGmac,
        None,
        SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0),
    );
    assert_eq!(associate(&mut c, &mut s, 1), AssociationStep::Established);
    let jst = |d, h, mi| {
        Utc.with_ymd_and_hms(2026, 11, d, h, mi, 0).unwrap() - chrono::Duration::hours(9)
    };
    let mut buf = [0u8; 64];
    let from = to_cosem(jst(24, 12, 30), -540, 0).into();
    let to = to_cosem(jst(25, 12, 0), -540, 0).into();
    let sa = RangeDescriptor::by_clock(from, to)
        .to_selective_access(&mut buf)
        .unwrap();
    let Value::Array(rows) = get(&mut c, &mut s, 1, 7, LOAD_PROFILE, 2, Some(sa)).unwrap() else {
        panic!()
    };
    assert_eq!(rows.len(), 48);
    assert!(
        s.invocation_counter() > 0,
        "the server ciphered its answers"
    );
    // A plain client on the same wPort is refused: the policy demands ciphering.
    let mut s2 = server(Auth::HlsGmac, Protection::AuthEnc, 1024);
    let mut plain = client(1, AuthMechanism::None, None, SecurityPolicy::NONE);
    assert!(matches!(
        associate(&mut plain, &mut s2, 1),
        AssociationStep::Rejected { .. }
    ));
}

/// SEC-02: 0-0:43.1.0.255 tells the public client the highest invocation counter the
/// server accepted from the management client, so that a client that kept no counter
/// (a replaced head end; Gurux's clients read it first) starts above it instead of being
/// refused as a replay. Nobody writes it.
#[test]
fn sec02_the_public_client_reads_the_management_invocation_counter_and_a_client_without_state_resumes_above_it(
) {
    let mut s = server(Auth::HlsGmac, Protection::AuthEnc, 1024);
    let counter = |s: &mut TerminalServer<TestEntropy>| {
        let mut public = client(16, AuthMechanism::None, None, SecurityPolicy::NONE);
        assert_eq!(associate(&mut public, s, 16), AssociationStep::Established);
        get(
            &mut public,
            s,
            16,
            1,
            MANAGEMENT_INVOCATION_COUNTER,
            2,
            None,
        )
    };
    assert_eq!(counter(&mut s), Ok(Value::DoubleLongUnsigned(0)));
    let management = management_client;
    let mut first: Client = management(5000);
    assert_eq!(
        associate(&mut first, &mut s, 1),
        AssociationStep::Established
    );
    get(&mut first, &mut s, 1, 8, CLOCK, 2, None).unwrap();
    let used = first.invocation_counter();
    assert!(used > 5000);
    assert_eq!(counter(&mut s), Ok(Value::DoubleLongUnsigned(used)));
    // A management client that starts from 0 again is refused; one that starts above the
    // value read is served.
    let mut stateless: Client = management(0);
    let mut req = [0u8; 1024];
    let n = stateless.associate_request(&mut req).unwrap();
    let refused = exchange(&mut s, 1, &req[..n]);
    assert!(
        !matches!(
            stateless.handle_associate_response(&refused),
            Ok(AssociationStep::HlsReplyRequired | AssociationStep::Established)
        ),
        "a counter at or below {used} must not open the association"
    );
    let mut resumed: Client = management(used + 1);
    assert_eq!(
        associate(&mut resumed, &mut s, 1),
        AssociationStep::Established
    );
    assert!(get(&mut resumed, &mut s, 1, 8, CLOCK, 2, None).is_ok());
    // Read-only for everyone: only the server moves it.
    let mut public = client(16, AuthMechanism::None, None, SecurityPolicy::NONE);
    associate(&mut public, &mut s, 16);
    let mut buf = [0u8; 256];
    let wire_ln = dlms_cosem_rs::obis::Obis::from_bytes(*MANAGEMENT_INVOCATION_COUNTER.as_bytes());
    let zero = Value::DoubleLongUnsigned(0).encode().unwrap();
    let n = public
        .set_request(
            AttributeDescriptor::new(1, wire_ln, 2),
            None,
            DataRef::from_bytes_in(&zero).unwrap(),
            &mut buf,
        )
        .unwrap();
    let answer = exchange(&mut s, 16, &buf[..n]);
    let mut out = [0u8; 256];
    assert_eq!(
        public.handle_response(&answer, &mut out).unwrap(),
        Response::DataError(DataAccessResult::ReadWriteDenied)
    );
}

#[test]
fn a_secret_changed_over_the_air_applies_to_the_next_association() {
    let mut s = server(Auth::Low, Protection::None, 1024);
    let mut c = client(
        1,
        AuthMechanism::Low,
        Some(b"12345678"),
        SecurityPolicy::NONE,
    );
    assert_eq!(associate(&mut c, &mut s, 1), AssociationStep::Established);
    let wire_ln = dlms_cosem_rs::obis::Obis::from_bytes(*ASSOCIATION.as_bytes());
    let value = Value::OctetString(b"abcdefgh".to_vec()).encode().unwrap();
    let mut req = [0u8; 256];
    let mut scratch = [0u8; 256];
    let n = c
        .set_request(
            AttributeDescriptor::new(15, wire_ln, 7),
            None,
            DataRef::from_bytes_in(&value).unwrap(),
            &mut req,
        )
        .unwrap();
    let resp = exchange(&mut s, 1, &req[..n]);
    assert!(matches!(
        c.handle_response(&resp, &mut scratch).unwrap(),
        Response::Ok
    ));
    let n = c.release_request(&mut req).unwrap();
    let _ = exchange(&mut s, 1, &req[..n]);

    let mut old = client(
        1,
        AuthMechanism::Low,
        Some(b"12345678"),
        SecurityPolicy::NONE,
    );
    assert!(matches!(
        associate(&mut old, &mut s, 1),
        AssociationStep::Rejected { .. }
    ));
    let mut new = client(
        1,
        AuthMechanism::Low,
        Some(b"abcdefgh"),
        SecurityPolicy::NONE,
    );
    assert_eq!(associate(&mut new, &mut s, 1), AssociationStep::Established);
    // The maintenance association kept its own.
    let mut m = client(
        32,
        AuthMechanism::Low,
        Some(b"12345678"),
        SecurityPolicy::NONE,
    );
    assert_eq!(associate(&mut m, &mut s, 32), AssociationStep::Established);
}

#[test]
fn hls_or_ciphering_without_keys_is_refused_at_set_up() {
    let m = IotRouteModel::new(&ModelConfig::default(), now()).unwrap();
    let config = ServeConfig {
        auth: Auth::HlsGmac,
        protection: Protection::None,
        keys: None,
        system_title: SERVER_TITLE,
        max_pdu: 1024,
        invocation_counter: 0,
    };
    assert!(matches!(
        TerminalServer::new(shared(m), config, TestEntropy),
        Err(ServeError::MissingKeys)
    ));
}

#[test]
fn the_server_can_move_to_a_tokio_task() {
    fn assert_send<T: Send>() {}
    assert_send::<TerminalServer<TestEntropy>>();
    assert_send::<dlms::server::CosemStore>();
}

/// TRM-06: the deepest profile is readable whole over the maintenance association (the
/// handy terminal, wPort 32); the management (the smart meter) and public engines hold
/// values of `MANAGEMENT_VALUE_BUFFER` (16 KiB) — every smart meter holds one open at
/// the same moments — and refuse it with other-reason, the association going on.
#[test]
fn trm06_the_deepest_profile_is_readable_whole_by_the_handy_terminal_only() {
    let config = ModelConfig {
        profile_entries: dlms::cosem::profile::PROFILE_ENTRIES_MAX,
        ..ModelConfig::default()
    };
    let mut m = IotRouteModel::new(&config, now()).unwrap();
    assert_eq!(m.fill_demo(100, now()).unwrap(), 4608);
    let serve = ServeConfig {
        auth: Auth::None,
        protection: Protection::None,
        keys: None,
        system_title: SERVER_TITLE,
        max_pdu: 0xFFFF,
        invocation_counter: 0,
    };
    let mut s = TerminalServer::new(shared(m), serve, TestEntropy).unwrap();
    let mut handy = client(32, AuthMechanism::None, None, SecurityPolicy::NONE);
    assert_eq!(
        associate(&mut handy, &mut s, 32),
        AssociationStep::Established
    );
    let Value::Array(rows) = get(&mut handy, &mut s, 32, 7, LOAD_PROFILE, 2, None).unwrap() else {
        panic!()
    };
    assert_eq!(rows.len(), 4608);
    let mut meter = client(1, AuthMechanism::None, None, SecurityPolicy::NONE);
    assert_eq!(
        associate(&mut meter, &mut s, 1),
        AssociationStep::Established
    );
    assert_eq!(
        get(&mut meter, &mut s, 1, 7, LOAD_PROFILE, 2, None),
        Err(DataAccessResult::OtherReason)
    );
    assert!(
        get(&mut meter, &mut s, 1, 8, CLOCK, 2, None).is_ok(),
        "the association goes on after the refusal"
    );
}

/// The management engine's 16 KiB values hold the event and access logs full (500
/// entries each, the default depth): the smart meter reads them whole.
#[test]
fn sec09_full_event_and_access_logs_fit_the_management_engine() {
    let config = ModelConfig::default();
    let mut m = IotRouteModel::new(&config, now()).unwrap();
    for i in 0..config.event_entries {
        let at = now() + chrono::Duration::seconds(i64::from(i));
        m.log_event(at, EventCode::ClockSet);
        m.log_access(at, AccessCode::AssociationRefused, 32);
    }
    let serve = ServeConfig {
        auth: Auth::None,
        protection: Protection::None,
        keys: None,
        system_title: SERVER_TITLE,
        max_pdu: 0xFFFF,
        invocation_counter: 0,
    };
    let mut s = TerminalServer::new(shared(m), serve, TestEntropy).unwrap();
    let mut meter = client(1, AuthMechanism::None, None, SecurityPolicy::NONE);
    assert_eq!(
        associate(&mut meter, &mut s, 1),
        AssociationStep::Established
    );
    for log in [EVENT_LOG, ACCESS_LOG] {
        let Value::Array(rows) = get(&mut meter, &mut s, 1, 7, log, 2, None).unwrap() else {
            panic!("{log:?}: not an array")
        };
        assert_eq!(rows.len(), 500, "{log:?}");
    }
}

/// SEC-02: the server keeps no engine between associations (an engine holds two value
/// buffers; a terminal is associated seconds a day), yet what protects the next one
/// survives the release: a management client going on from the counters of a released
/// association is refused, one above them is served, and the server's own counter never
/// goes back.
#[test]
fn sec02_counters_and_replay_window_survive_a_released_association() {
    let mut s = server(Auth::HlsGmac, Protection::AuthEnc, 1024);
    let management = management_client;
    let mut first = management(100);
    assert_eq!(
        associate(&mut first, &mut s, 1),
        AssociationStep::Established
    );
    get(&mut first, &mut s, 1, 8, CLOCK, 2, None).unwrap();
    let mut req = [0u8; 256];
    let n = first.release_request(&mut req).unwrap();
    exchange(&mut s, 1, &req[..n]);
    let (used, served) = (first.invocation_counter(), s.invocation_counter());
    assert!(served > 0);
    // The same counters again, as a replay of the released association would bring.
    let mut again = management(100);
    let mut aarq = [0u8; 1024];
    let n = again.associate_request(&mut aarq).unwrap();
    let refused = exchange(&mut s, 1, &aarq[..n]);
    assert!(
        !matches!(
            again.handle_associate_response(&refused),
            Ok(AssociationStep::HlsReplyRequired | AssociationStep::Established)
        ),
        "a counter at or below {used} must not open an association after the release"
    );
    let mut next = management(used + 1);
    assert_eq!(
        associate(&mut next, &mut s, 1),
        AssociationStep::Established
    );
    get(&mut next, &mut s, 1, 8, CLOCK, 2, None).unwrap();
    assert!(
        s.invocation_counter() > served,
        "the server's counter goes on"
    );
}
