//! Security setup (class 64, version 0): the security policy and suite of the DLMS
//! layer and the system titles. The keys themselves live in the key ring of the driver
//! (never in the model, never logged); `global_key_transfer` hands the wrapped keys to
//! it (`ModelChange::KeyTransfer`), unwrapped there with the master key.

use super::{logical_name_value, no_selector, octets, put, AccessResult, CosemObject, Obis, Value};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::codec::Writer;

/// The security setup object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySetup {
    logical_name: Obis,
    policy: u8,
    suite: u8,
    client_system_title: Vec<u8>,
    server_system_title: Vec<u8>,
    pending_keys: Vec<(u8, Vec<u8>)>,
}

impl SecuritySetup {
    /// Policy 0 (nothing required), suite 0, with the server's system title.
    #[must_use]
    pub fn new(logical_name: Obis, server_system_title: &[u8]) -> Self {
        Self {
            logical_name,
            policy: 0,
            suite: 0,
            client_system_title: Vec::new(),
            server_system_title: server_system_title.to_vec(),
            pending_keys: Vec::new(),
        }
    }

    /// The version-0 policy: 0 none, 1 authenticated, 2 encrypted, 3 both.
    #[must_use]
    pub const fn policy(&self) -> u8 {
        self.policy
    }

    /// Record what the driver configured.
    pub fn configure(&mut self, policy: u8, client_system_title: &[u8]) {
        self.policy = policy.min(3);
        self.client_system_title = client_system_title.to_vec();
    }

    /// The key ids of the pending key transfer.
    #[must_use]
    pub fn pending_key_ids(&self) -> Vec<u8> {
        self.pending_keys.iter().map(|(id, _)| *id).collect()
    }

    /// Take the wrapped keys of the last `global_key_transfer` (key id, wrapped key).
    pub fn take_key_transfer(&mut self) -> Vec<(u8, Vec<u8>)> {
        std::mem::take(&mut self.pending_keys)
    }
}

impl CosemObject for SecuritySetup {
    fn class_id(&self) -> u16 {
        64
    }
    fn version(&self) -> u8 {
        0
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        5
    }
    fn method_count(&self) -> i8 {
        2
    }

    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        no_selector(selective)?;
        let v = match attribute {
            1 => logical_name_value(self.logical_name),
            2 => Value::Enum(self.policy),
            3 => Value::Enum(self.suite),
            4 => octets(&self.client_system_title),
            5 => octets(&self.server_system_title),
            _ => return Err(DataAccessResult::ObjectUndefined),
        };
        put(w, &v)
    }

    fn invoke(
        &mut self,
        method: i8,
        p: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match method {
            // security_activate: the policy may only be strengthened.
            1 => {
                let Some(Data::Enum(policy)) = p else {
                    return Err(ActionResult::TypeUnmatched);
                };
                if *policy > 3 || *policy < self.policy {
                    return Err(ActionResult::OtherReason);
                }
                self.policy = *policy;
                Ok(false)
            }
            // global_key_transfer: array of { key_id enum, key_wrapped octet-string }.
            2 => {
                let list = p
                    .and_then(Data::as_array)
                    .ok_or(ActionResult::TypeUnmatched)?;
                let mut keys = Vec::new();
                for item in list.iter() {
                    let s = item
                        .ok()
                        .and_then(|i| i.as_structure())
                        .ok_or(ActionResult::TypeUnmatched)?;
                    let (Ok(Data::Enum(id)), Ok(Data::OctetString(wrapped))) = (s.get(0), s.get(1))
                    else {
                        return Err(ActionResult::TypeUnmatched);
                    };
                    // 0 global unicast, 1 broadcast, 2 authentication, 3 master; AES key
                    // wrap of a 128-bit key is 24 bytes.
                    if id > 3 || wrapped.len() != 24 {
                        return Err(ActionResult::OtherReason);
                    }
                    keys.push((id, wrapped.to_vec()));
                }
                self.pending_keys = keys;
                Ok(false)
            }
            _ => Err(ActionResult::ObjectUndefined),
        }
    }
}
