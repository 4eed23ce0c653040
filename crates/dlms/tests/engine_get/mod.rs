//! A GET through the upstream client session against a server reached by `exchange`,
//! following blocks: the loop the engine-level tests (`cosem_server`, `cosem_terminal`)
//! share. Tests of this crate may name the upstream crate.

use dlms::apdu::DataAccessResult;
use dlms::cosem::{Obis, Value};
use dlms_cosem_rs::client::{ClientSession, Response};
use dlms_cosem_rs::codec::Encode;
use dlms_cosem_rs::security::CryptoProvider;
use dlms_cosem_rs::xdlms::{AttributeDescriptor, SelectiveAccess};

/// The value of `class`/`ln`/`attr` (with `access`), or the server's refusal.
pub fn get<P: CryptoProvider, const N: usize>(
    c: &mut ClientSession<P, N>,
    mut exchange: impl FnMut(&[u8]) -> Vec<u8>,
    class: u16,
    ln: Obis,
    attr: i8,
    access: Option<SelectiveAccess<'_>>,
) -> Result<Value, DataAccessResult> {
    let wire_ln = dlms_cosem_rs::obis::Obis::from_bytes(*ln.as_bytes());
    let mut req = [0u8; 2048];
    let mut scratch = [0u8; 4096];
    let mut n = c
        .get_request(
            AttributeDescriptor::new(class, wire_ln, attr),
            access,
            &mut req,
        )
        .unwrap();
    let mut assembled = Vec::new();
    loop {
        let resp = exchange(&req[..n]);
        match c.handle_response(&resp, &mut scratch).unwrap() {
            Response::Data(d) => {
                let mut bytes = Vec::new();
                d.encode(&mut bytes).unwrap();
                return Ok(Value::decode(&bytes).unwrap());
            }
            Response::DataError(e) => return Err(e),
            Response::Block { last, number, data } => {
                assembled.extend_from_slice(data);
                if last {
                    return Ok(Value::decode(&assembled).unwrap());
                }
                n = c.get_next_block_request(number, &mut req).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
