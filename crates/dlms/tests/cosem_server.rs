//! The object model behind the real engine: an upstream `Server` per association with a
//! `CosemStore`, driven by the upstream client over APDUs in memory (no sockets). Proves
//! the store's refusals survive the engine and that a profile range read larger than the
//! negotiated PDU arrives by block transfer.

mod engine_get;

use chrono::{DateTime, TimeZone, Utc};
use dlms::apdu::{DataAccessResult, DataRef};
use dlms::cosem::codes::{CLOCK, ENERGY_AC_INPUT, LOAD_PROFILE, TERMINAL_ID};
use dlms::cosem::{to_cosem, Association, IotRouteModel, ModelConfig, Obis, Value};
use dlms::server::{shared, CosemStore, SharedModel};
use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::client::{AssociationStep, ClientConfig, ClientSession, Response};
use dlms_cosem_rs::cosem::RangeDescriptor;
use dlms_cosem_rs::security::{KeyRing, RustCryptoProvider, Secret};
use dlms_cosem_rs::server::{Server, ServerConfig};
use dlms_cosem_rs::xdlms::{AttributeDescriptor, SelectiveAccess};

/// The value buffer bounds the largest attribute (a profile of 90 days is ~130 kB; the
/// tests need a day).
type Engine = Server<CosemStore, RustCryptoProvider, 16384>;
type Client = ClientSession<RustCryptoProvider, 16384>;

const PASSWORD: &[u8] = b"12345678";

/// 2026-11-25 12:10:00 JST.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap()
}

fn jst(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, mi, 0).unwrap() - chrono::Duration::hours(9)
}

fn demo() -> SharedModel {
    let mut m = IotRouteModel::new(&ModelConfig::default(), now()).unwrap();
    m.fill_demo(2, now()).unwrap();
    shared(m)
}

fn pair(model: &SharedModel, association: Association, max_pdu: u16) -> (Client, Engine) {
    let (mechanism, password) = match association {
        Association::Public => (AuthMechanism::None, None),
        _ => (AuthMechanism::Low, Some(Secret::new(PASSWORD).unwrap())),
    };
    let server = Server::new(
        ServerConfig {
            mechanism,
            password: password.clone(),
            ..Default::default()
        },
        CosemStore::new(model.clone(), association),
        RustCryptoProvider::new(KeyRing::default()),
    );
    let client = ClientSession::new(
        ClientConfig {
            client_sap: u8::try_from(association.client_sap()).unwrap(),
            mechanism,
            password,
            max_pdu_size: max_pdu,
            ..Default::default()
        },
        RustCryptoProvider::new(KeyRing::default()),
    );
    let mut c = client;
    let mut s = server;
    let mut req = [0u8; 2048];
    let mut resp = [0u8; 2048];
    let n = c.associate_request(&mut req).unwrap();
    let m = s.handle(&req[..n], &mut resp).unwrap();
    assert_eq!(
        c.handle_associate_response(&resp[..m]).unwrap(),
        AssociationStep::Established
    );
    (c, s)
}

/// A GET through both engines, following blocks; the value or the refusal.
fn get(
    c: &mut Client,
    s: &mut Engine,
    class: u16,
    ln: Obis,
    attr: i8,
    access: Option<SelectiveAccess<'_>>,
) -> Result<Value, DataAccessResult> {
    let mut resp = [0u8; 2048];
    let exchange = |req: &[u8]| {
        let m = s.handle(req, &mut resp).unwrap();
        resp[..m].to_vec()
    };
    engine_get::get(c, exchange, class, ln, attr, access)
}

#[test]
fn public_association_reads_clock_and_ids_and_is_refused_energy_through_the_engine() {
    let model = demo();
    let (mut c, mut s) = pair(&model, Association::Public, 1024);
    s.store().set_now(now());
    let Value::OctetString(clock) = get(&mut c, &mut s, 8, CLOCK, 2, None).unwrap() else {
        panic!()
    };
    assert_eq!((clock[5], clock[6]), (12, 10), "12:10 JST");
    assert!(get(&mut c, &mut s, 1, TERMINAL_ID, 2, None).is_ok());
    assert_eq!(
        get(&mut c, &mut s, 3, ENERGY_AC_INPUT, 2, None),
        Err(DataAccessResult::ObjectUndefined)
    );
    assert_eq!(
        get(&mut c, &mut s, 7, LOAD_PROFILE, 2, None),
        Err(DataAccessResult::ObjectUndefined)
    );
}

#[test]
fn public_association_cannot_set_the_clock_through_the_engine() {
    let model = demo();
    let (mut c, mut s) = pair(&model, Association::Public, 1024);
    let wire_ln = dlms_cosem_rs::obis::Obis::from_bytes(*CLOCK.as_bytes());
    let value = Value::clock_octet_string(&to_cosem(now(), -540, 0))
        .encode()
        .unwrap();
    let mut req = [0u8; 512];
    let mut resp = [0u8; 512];
    let mut scratch = [0u8; 512];
    let n = c
        .set_request(
            AttributeDescriptor::new(8, wire_ln, 2),
            None,
            DataRef::from_bytes_in(&value).unwrap(),
            &mut req,
        )
        .unwrap();
    let m = s.handle(&req[..n], &mut resp).unwrap();
    let r = c.handle_response(&resp[..m], &mut scratch).unwrap();
    assert!(
        matches!(r, Response::DataError(DataAccessResult::ReadWriteDenied)),
        "{r:?}"
    );
}

#[test]
fn trm05_management_reads_the_registers_through_the_engine() {
    let model = demo();
    let (mut c, mut s) = pair(&model, Association::Management, 1024);
    let (ac_in, _) = model.lock().unwrap().energy();
    assert_eq!(
        get(&mut c, &mut s, 3, ENERGY_AC_INPUT, 2, None).unwrap(),
        Value::DoubleLongUnsigned(ac_in)
    );
    assert_eq!(
        get(&mut c, &mut s, 3, ENERGY_AC_INPUT, 3, None).unwrap(),
        Value::Structure(vec![Value::Integer(0), Value::Enum(30)])
    );
}

#[test]
fn trm06_management_reads_a_day_by_range_with_block_transfer() {
    let model = demo();
    // PDU 128 forces GET-with-datablock, as the Gurux interop test does.
    let (mut c, mut s) = pair(&model, Association::Management, 128);
    let mut buf = [0u8; 64];
    let from = to_cosem(jst(24, 12, 30), -540, 0).into();
    let to = to_cosem(jst(25, 12, 0), -540, 0).into();
    let sa = RangeDescriptor::by_clock(from, to)
        .to_selective_access(&mut buf)
        .unwrap();
    let v = get(&mut c, &mut s, 7, LOAD_PROFILE, 2, Some(sa)).unwrap();
    let Value::Array(rows) = v else { panic!() };
    assert_eq!(
        rows.len(),
        48,
        "one day of 30-minute slots, both ends inclusive"
    );
    let Value::Structure(first) = &rows[0] else {
        panic!()
    };
    let t = first[0]
        .as_date_time()
        .unwrap()
        .to_chrono()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(t, jst(24, 12, 30));
}
