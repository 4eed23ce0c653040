//! The sans-IO client (`dlms::client`) against the upstream server engine over wrapper
//! datagrams: no security, LLS, HLS-GMAC with suite-0 authenticated encryption, block
//! transfer of a 48-row profile at PDU 128, refusals, replay and wrong wPorts.
//! The server side here is a minimal store written for this test (the IoT-route object
//! model is `dlms::cosem`); it names the upstream crate, which only tests of this crate may.

use dlms::cipher::{Keys, GREEN_BOOK_CLIENT_TITLE, GREEN_BOOK_SERVER_TITLE};
use dlms::client::{
    AttributeRef, Authentication, Client, ClientError, ClientSettings, Entropy, Event, Security,
};
use dlms::wrapper::Wpdu;
use dlms::{CosemDateTime, Data, Obis};
use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::axdr::Data as Up;
use dlms_cosem_rs::codec::{Encode, Writer};
use dlms_cosem_rs::cosem::{AttributeAccess, MethodAccess};
use dlms_cosem_rs::security::{
    FixedRandom, KeyRing, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite, SystemTitle,
};
use dlms_cosem_rs::server::{ObjectStore, Server, ServerConfig, StoreResult};
use dlms_cosem_rs::xdlms::{ActionResult, DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::Obis as UpObis;

struct Store {
    terminal_id: Vec<u8>,
}

/// The return value of the long method.
const LONG_RESULT: [u8; 600] = {
    let mut b = [0u8; 600];
    let mut i = 0;
    while i < 600 {
        b[i] = (i % 251) as u8;
        i += 1;
    }
    b
};

fn clock_bytes() -> [u8; 12] {
    CosemDateTime::from_bytes([0x07, 0xEA, 11, 25, 0xFF, 9, 30, 0, 0, 0xFD, 0xE4, 0]).to_bytes()
}

fn profile() -> Data {
    Data::Array(
        (0..48u32)
            .map(|i| {
                let mut t = CosemDateTime::from_bytes([
                    0x07, 0xEA, 11, 24, 0xFF, 0, 0, 0, 0, 0xFD, 0xE4, 0,
                ]);
                t.hour = (i / 2) as u8;
                t.minute = ((i % 2) * 30) as u8;
                Data::Structure(vec![
                    Data::clock_octet_string(&t),
                    Data::DoubleLongUnsigned(12_345_678 + 150 * i),
                ])
            })
            .collect(),
    )
}

impl ObjectStore for Store {
    fn get_attribute(
        &self,
        class_id: u16,
        ln: UpObis,
        attribute_id: i8,
        _s: Option<SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> StoreResult<()> {
        let fail = |_| DataAccessResult::OtherReason;
        match (class_id, ln.0, attribute_id) {
            (8, [0, 0, 1, 0, 0, 255], 2) => Up::OctetString(&clock_bytes()).encode(w).map_err(fail),
            (3, [1, 0, 1, 8, 0, 255], 2) => {
                Up::DoubleLongUnsigned(12_345_678).encode(w).map_err(fail)
            }
            (1, [0, 0, 96, 1, 0, 255], 2) => {
                Up::OctetString(&self.terminal_id).encode(w).map_err(fail)
            }
            (7, [1, 0, 99, 1, 0, 255], 2) => w
                .write_bytes(
                    &profile()
                        .encode()
                        .map_err(|_| DataAccessResult::OtherReason)?,
                )
                .map_err(fail),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn set_attribute(
        &mut self,
        class_id: u16,
        ln: UpObis,
        attribute_id: i8,
        _s: Option<SelectiveAccess<'_>>,
        value: Up<'_>,
    ) -> StoreResult<()> {
        match (class_id, ln.0, attribute_id, value) {
            (1, [0, 0, 96, 1, 0, 255], 2, Up::OctetString(b)) => {
                self.terminal_id = b.to_vec();
                Ok(())
            }
            (1, [0, 0, 96, 1, 0, 255], 2, _) => Err(DataAccessResult::TypeUnmatched),
            _ => Err(DataAccessResult::ReadWriteDenied),
        }
    }

    fn invoke_method(
        &mut self,
        class_id: u16,
        ln: UpObis,
        method_id: i8,
        _p: Option<Up<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match (class_id, ln.0, method_id) {
            (8, [0, 0, 1, 0, 0, 255], 1) => Ok(false),
            // A method with a long result (600 bytes): in pblocks at PDU 128.
            (1, [0, 0, 96, 1, 0, 255], 1) => {
                Up::OctetString(&LONG_RESULT)
                    .encode(_w)
                    .map_err(|_| ActionResult::OtherReason)?;
                Ok(true)
            }
            _ => Err(ActionResult::ObjectUndefined),
        }
    }

    fn attribute_access(&self, class_id: u16, ln: UpObis, _a: i8) -> AttributeAccess {
        match (class_id, ln.0) {
            (1, _) => AttributeAccess::READ | AttributeAccess::WRITE,
            (3 | 7, _) => AttributeAccess::READ,
            (8, [0, 0, 1, 0, 0, 255]) => AttributeAccess::READ,
            _ => AttributeAccess::empty(),
        }
    }

    fn method_access(&self, class_id: u16, _ln: UpObis, _m: i8) -> MethodAccess {
        if class_id == 8 || class_id == 1 {
            MethodAccess::ACCESS
        } else {
            MethodAccess::empty()
        }
    }
}

/// Deterministic "entropy" for tests only.
struct TestEntropy;
impl Entropy for TestEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        for (i, b) in out.iter_mut().enumerate() {
            *b = 0x41 + (i % 26) as u8;
        }
        true
    }
}

type TestServer = Server<Store, RustCryptoProvider<FixedRandom>>;

fn server(
    mechanism: AuthMechanism,
    password: Option<&[u8]>,
    security: SecurityPolicy,
) -> TestServer {
    let config = ServerConfig {
        system_title: Some(SystemTitle::new(GREEN_BOOK_SERVER_TITLE.0)),
        mechanism,
        password: password.map(|p| Secret::new(p).unwrap()),
        security,
        max_pdu_size: 1024,
        ..ServerConfig::default()
    };
    let keys = Keys::GREEN_BOOK;
    Server::new(
        config,
        Store {
            terminal_id: b"T0".to_vec(),
        },
        RustCryptoProvider::with_rng(KeyRing::new(keys.ek, keys.ak), FixedRandom(0x5A)),
    )
}

/// One exchange: the client's datagram through the server, the answer back.
fn exchange(server: &mut TestServer, datagram: &[u8]) -> Vec<u8> {
    let w = Wpdu::parse(datagram).unwrap();
    let mut out = vec![0u8; 4096];
    let n = server.handle(w.apdu, &mut out).unwrap();
    Wpdu::new(w.destination, w.source, &out[..n])
        .emit()
        .unwrap()
}

fn open(client: &mut Client<TestEntropy>, server: &mut TestServer) -> Event {
    let aarq = client.associate().unwrap();
    let mut event = client.handle(&exchange(server, &aarq)).unwrap();
    while let Event::Send(d) = event {
        event = client.handle(&exchange(server, &d)).unwrap();
    }
    event
}

/// Send a request and follow Send events (block transfer) to the final event.
fn run(
    client: &mut Client<TestEntropy>,
    server: &mut TestServer,
    request: Vec<u8>,
) -> (Event, usize) {
    let mut event = client.handle(&exchange(server, &request)).unwrap();
    let mut rounds = 1;
    while let Event::Send(d) = event {
        event = client.handle(&exchange(server, &d)).unwrap();
        rounds += 1;
    }
    (event, rounds)
}

fn obis(s: &str) -> Obis {
    Obis::parse(s).unwrap()
}

#[test]
fn rad01_public_association_reads_writes_acts_and_releases() {
    let mut s = server(AuthMechanism::None, None, SecurityPolicy::NONE);
    let mut c = Client::new(ClientSettings::default(), TestEntropy).unwrap();
    assert_eq!(open(&mut c, &mut s), Event::Established);

    let req = c.get(8, obis("0-0:1.0.0.255"), 2, None).unwrap();
    let (e, _) = run(&mut c, &mut s, req);
    let Event::Value(v) = e else { panic!("{e:?}") };
    assert_eq!(
        v.as_date_time().unwrap().to_chrono().unwrap().to_rfc3339(),
        "2026-11-25T09:30:00+09:00"
    );

    let req = c.get(3, obis("1-0:1.8.0.255"), 2, None).unwrap();
    assert_eq!(
        run(&mut c, &mut s, req).0,
        Event::Value(Data::DoubleLongUnsigned(12_345_678))
    );

    let req = c.get(3, obis("1-0:2.8.0.255"), 2, None).unwrap();
    assert!(matches!(
        run(&mut c, &mut s, req).0,
        Event::AccessError { .. }
    ));

    let req = c
        .set(
            1,
            obis("0-0:96.1.0.255"),
            2,
            &Data::OctetString(b"TERM-42".to_vec()),
        )
        .unwrap();
    assert_eq!(run(&mut c, &mut s, req).0, Event::Done);
    let req = c.get(1, obis("0-0:96.1.0.255"), 2, None).unwrap();
    assert_eq!(
        run(&mut c, &mut s, req).0,
        Event::Value(Data::OctetString(b"TERM-42".to_vec()))
    );
    let req = c
        .set(1, obis("0-0:96.1.0.255"), 2, &Data::Unsigned(1))
        .unwrap();
    assert_eq!(
        run(&mut c, &mut s, req).0,
        Event::AccessError {
            code: 12,
            name: "TypeUnmatched".into()
        }
    );

    let req = c
        .action(8, obis("0-0:1.0.0.255"), 1, Some(&Data::Integer(0)))
        .unwrap();
    assert_eq!(
        run(&mut c, &mut s, req).0,
        Event::ActionResult {
            code: 0,
            value: None
        }
    );

    let req = c.release().unwrap();
    assert_eq!(run(&mut c, &mut s, req).0, Event::Released);
}

/// RAD-01: an answer to a GET-with-list that arrives but does not decode is named
/// `ListAnswerUndecodable` (not a stale or forged datagram), and the association stays
/// usable: the same objects are then read one by one. The bytes are Gurux-Python 1.0.203's
/// server blocking a with-list answer (with-list tag, datablock body without the raw-data
/// choice), cut short. A malformed answer to a single GET stays a session error.
#[test]
fn rad01_an_undecodable_list_answer_is_named_and_the_association_stays_usable() {
    let mut s = server(AuthMechanism::None, None, SecurityPolicy::NONE);
    let mut c = Client::new(ClientSettings::default(), TestEntropy).unwrap();
    assert_eq!(open(&mut c, &mut s), Event::Established);
    assert!(c.multiple_references());
    let items = [
        AttributeRef {
            class_id: 8,
            obis: obis("0-0:1.0.0.255"),
            attribute: 2,
            access: None,
        },
        AttributeRef {
            class_id: 1,
            obis: obis("0-0:96.1.0.255"),
            attribute: 2,
            access: None,
        },
    ];
    let invoke_id = |datagram: &[u8]| Wpdu::parse(datagram).unwrap().apdu[2];
    let req = c.get_with_list(&items).unwrap();
    let gurux = [
        0xC4,
        0x03,
        invoke_id(&req),
        0x00,
        0x00,
        0x00,
        0x00,
        0x01,
        0x77,
        0x07,
        0x00,
        0x09,
        0x0C,
        0x07,
        0xEA,
    ];
    let answer = Wpdu::new(1, 16, &gurux).emit().unwrap();
    assert!(
        matches!(
            c.handle(&answer),
            Err(ClientError::ListAnswerUndecodable(_))
        ),
        "named as an undecodable list answer"
    );
    for item in &items {
        let req = c
            .get(item.class_id, item.obis, item.attribute, None)
            .unwrap();
        let (e, _) = run(&mut c, &mut s, req);
        assert!(matches!(e, Event::Value(_)), "{e:?}");
    }
    let req = c.get(8, obis("0-0:1.0.0.255"), 2, None).unwrap();
    let bad = [0xC4, 0x01, invoke_id(&req), 0x00, 0x09, 0x0C, 0x07];
    let answer = Wpdu::new(1, 16, &bad).emit().unwrap();
    assert!(matches!(c.handle(&answer), Err(ClientError::Session(_))));
}

#[test]
fn rad01_profile_at_pdu_128_comes_in_blocks_and_is_reassembled() {
    let mut s = server(AuthMechanism::None, None, SecurityPolicy::NONE);
    let mut c = Client::new(
        ClientSettings {
            max_pdu: 128,
            ..ClientSettings::default()
        },
        TestEntropy,
    )
    .unwrap();
    assert_eq!(open(&mut c, &mut s), Event::Established);
    let req = c.get(7, obis("1-0:99.1.0.255"), 2, None).unwrap();
    let (e, rounds) = run(&mut c, &mut s, req);
    assert!(rounds > 5, "{rounds} rounds");
    assert_eq!(e, Event::Value(profile()));

    // A limit below the value's size stops the transfer with a typed error.
    let mut s = server(AuthMechanism::None, None, SecurityPolicy::NONE);
    let mut c = Client::new(
        ClientSettings {
            max_pdu: 128,
            max_value_bytes: 300,
            ..ClientSettings::default()
        },
        TestEntropy,
    )
    .unwrap();
    open(&mut c, &mut s);
    let mut d = exchange(&mut s, &c.get(7, obis("1-0:99.1.0.255"), 2, None).unwrap());
    let err = loop {
        match c.handle(&d) {
            Ok(Event::Send(next)) => d = exchange(&mut s, &next),
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err, ClientError::TooLarge(300));
}

#[test]
fn rad01_lls_password_is_checked() {
    let settings = |p: &[u8]| ClientSettings {
        client_wport: 1,
        authentication: Authentication::Low {
            password: p.to_vec(),
        },
        ..ClientSettings::default()
    };
    let mut s = server(AuthMechanism::Low, Some(b"12345678"), SecurityPolicy::NONE);
    let mut c = Client::new(settings(b"12345678"), TestEntropy).unwrap();
    assert_eq!(open(&mut c, &mut s), Event::Established);

    let mut s = server(AuthMechanism::Low, Some(b"12345678"), SecurityPolicy::NONE);
    let mut c = Client::new(settings(b"wrong"), TestEntropy).unwrap();
    assert!(matches!(open(&mut c, &mut s), Event::Rejected { .. }));
    assert!(
        !format!("{:?}", settings(b"secret")).contains("secret"),
        "passwords never in Debug"
    );
}

fn hls_settings() -> ClientSettings {
    ClientSettings {
        client_wport: 1,
        authentication: Authentication::HlsGmac,
        security: Security::AuthEnc,
        keys: Some(Keys::GREEN_BOOK),
        system_title: Some(GREEN_BOOK_CLIENT_TITLE),
        max_pdu: 128,
        ..ClientSettings::default()
    }
}

#[test]
fn sec02_hls_gmac_with_authenticated_encryption() {
    let mut s = server(
        AuthMechanism::HighGmac,
        None,
        SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0),
    );
    let mut c = Client::new(hls_settings(), TestEntropy).unwrap();
    assert_eq!(open(&mut c, &mut s), Event::Established);
    let req = c.get(7, obis("1-0:99.1.0.255"), 2, None).unwrap();
    assert!(
        matches!(req[8], 0xC8 | 0xDB),
        "a ciphered GET, not {:02X}",
        req[8]
    );
    assert_eq!(run(&mut c, &mut s, req).0, Event::Value(profile()));
    assert!(
        c.invocation_counter() > 5,
        "every ciphered request spends a counter"
    );

    // The server's answer replayed is refused.
    let req = c.get(3, obis("1-0:1.8.0.255"), 2, None).unwrap();
    let answer = exchange(&mut s, &req);
    assert_eq!(
        c.handle(&answer).unwrap(),
        Event::Value(Data::DoubleLongUnsigned(12_345_678))
    );
    assert!(
        matches!(c.handle(&answer), Err(ClientError::Session(_))),
        "replayed response accepted"
    );

    // Without keys, no HLS client.
    let err = Client::new(
        ClientSettings {
            keys: None,
            ..hls_settings()
        },
        TestEntropy,
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Settings(_)));
}

#[test]
fn rad01_frames_for_other_wports_and_garbage_are_refused() {
    let mut s = server(AuthMechanism::None, None, SecurityPolicy::NONE);
    let mut c = Client::new(ClientSettings::default(), TestEntropy).unwrap();
    open(&mut c, &mut s);
    let req = c.get(3, obis("1-0:1.8.0.255"), 2, None).unwrap();
    let answer = exchange(&mut s, &req);
    let w = Wpdu::parse(&answer).unwrap();
    let other = Wpdu::new(w.source, 17, w.apdu).emit().unwrap();
    assert!(matches!(
        c.handle(&other),
        Err(ClientError::WrongPorts {
            destination: 17,
            ..
        })
    ));
    assert!(matches!(c.handle(&[0, 1, 0]), Err(ClientError::Wrapper(_))));
    assert!(matches!(
        c.handle(&[0, 1, 0, 1, 0, 16, 0, 1, 0x77]),
        Err(ClientError::Session(_))
    ));
    assert_eq!(
        c.handle(&answer).unwrap(),
        Event::Value(Data::DoubleLongUnsigned(12_345_678))
    );
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives on the socket, in any state, the client answers with an
        /// event or a typed error, never a panic, and still completes a read afterwards.
        #[test]
        fn rad01_arbitrary_datagrams_never_panic_the_client(
            garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..6),
            framed in any::<bool>(),
            hls in any::<bool>(),
        ) {
            let (mut s, settings) = if hls {
                (
                    server(AuthMechanism::HighGmac, None, SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0)),
                    hls_settings(),
                )
            } else {
                (server(AuthMechanism::None, None, SecurityPolicy::NONE), ClientSettings::default())
            };
            let mut c = Client::new(settings.clone(), TestEntropy).unwrap();
            for g in &garbage {
                let d = if framed {
                    Wpdu::new(settings.server_wport, settings.client_wport, g).emit().unwrap()
                } else {
                    g.clone()
                };
                let _ = c.handle(&d);
            }
            prop_assert_eq!(open(&mut c, &mut s), Event::Established);
            for g in &garbage {
                let d = Wpdu::new(settings.server_wport, settings.client_wport, g).emit().unwrap();
                let _ = c.handle(&d);
            }
            let req = c.get(3, obis("1-0:1.8.0.255"), 2, None).unwrap();
            prop_assert_eq!(run(&mut c, &mut s, req).0, Event::Value(Data::DoubleLongUnsigned(12_345_678)));
        }
    }
}

#[test]
fn rad01_a_long_action_result_comes_in_pblocks_and_is_reassembled() {
    let mut srv = server(AuthMechanism::None, None, SecurityPolicy::NONE);
    let mut client = Client::new(
        ClientSettings {
            max_pdu: 128,
            ..ClientSettings::default()
        },
        TestEntropy,
    )
    .unwrap();
    assert_eq!(open(&mut client, &mut srv), Event::Established);
    let request = client
        .action(1, obis("0-0:96.1.0.255"), 1, Some(&Data::Integer(0)))
        .unwrap();
    let (event, rounds) = run(&mut client, &mut srv, request);
    assert_eq!(
        event,
        Event::ActionResult {
            code: 0,
            value: Some(Data::OctetString(LONG_RESULT.to_vec()))
        }
    );
    assert!(
        rounds > 4,
        "ACTION-next-pblock asked for each block: {rounds}"
    );
    // A GET afterwards still reassembles GET blocks.
    let request = client.get(7, obis("1-0:99.1.0.255"), 2, None).unwrap();
    let (event, _) = run(&mut client, &mut srv, request);
    assert_eq!(event, Event::Value(profile()));
}

#[test]
fn rad01_a_set_larger_than_the_servers_pdu_goes_in_blocks() {
    let keys = Keys::GREEN_BOOK;
    let mut srv: TestServer = Server::new(
        ServerConfig {
            system_title: Some(SystemTitle::new(GREEN_BOOK_SERVER_TITLE.0)),
            max_pdu_size: 128,
            ..ServerConfig::default()
        },
        Store {
            terminal_id: b"T0".to_vec(),
        },
        RustCryptoProvider::with_rng(KeyRing::new(keys.ek, keys.ak), FixedRandom(0x5A)),
    );
    let mut client = Client::new(ClientSettings::default(), TestEntropy).unwrap();
    assert_eq!(open(&mut client, &mut srv), Event::Established);
    let id: Vec<u8> = (0..500u32).map(|i| (i % 97) as u8).collect();
    let encoded = Data::OctetString(id.clone()).encode().unwrap();
    assert!(client.set_fits(10) && !client.set_fits(encoded.len()));
    let ln = obis("0-0:96.1.0.255");
    let (mut transfer, first) = client.set_in_blocks(1, ln, 2, &encoded).unwrap();
    let mut event = client.handle(&exchange(&mut srv, &first)).unwrap();
    let mut blocks = 1;
    while let Event::BlockAccepted { .. } = event {
        let next = client.next_block(&mut transfer).unwrap();
        event = client.handle(&exchange(&mut srv, &next)).unwrap();
        blocks += 1;
    }
    assert_eq!(event, Event::Done);
    assert!(transfer.is_done());
    assert!(blocks >= 4, "{blocks} blocks");
    // Read back (in GET blocks).
    let request = client.get(1, ln, 2, None).unwrap();
    let (event, _) = run(&mut client, &mut srv, request);
    assert_eq!(event, Event::Value(Data::OctetString(id)));
}
