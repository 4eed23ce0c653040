//! Data (class 1, version 0): a single value. Used for the logical device name, the
//! terminal and meter IDs, the profile status, the event code and the two settings
//! (Pairing ID, authentication password).

use super::{logical_name_value, no_selector, octets, put, AccessResult, CosemObject, Obis, Value};
use crate::apdu::DataRef as Data;
use crate::apdu::{DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::codec::Writer;

/// Longest device authentication password accepted (ours: room for any passphrase the
/// link layer takes, small enough to bound memory).
pub const PASSWORD_MAX: usize = 32;
/// Shortest device authentication password accepted (ours).
pub const PASSWORD_MIN: usize = 8;

/// What a Data object holds and which writes it accepts.
#[derive(Clone, PartialEq)]
pub enum DataKind {
    /// A fixed value nobody writes over the air (IDs, status, event code).
    Fixed(Value),
    /// The Pairing ID: visible-string(8) of 0-9 A-Z (CON-03).
    PairingId(String),
    /// A write-only secret: never read back, never logged.
    Secret(Vec<u8>),
}

impl std::fmt::Debug for DataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(v) => f.debug_tuple("Fixed").field(v).finish(),
            Self::PairingId(p) => f.debug_tuple("PairingId").field(p).finish(),
            // Keys and passwords are never logged.
            Self::Secret(s) => write!(f, "Secret(<{} bytes>)", s.len()),
        }
    }
}

/// A Data (class 1) object.
#[derive(Debug, Clone, PartialEq)]
pub struct DataObject {
    logical_name: Obis,
    kind: DataKind,
}

/// True for a Pairing ID (CON-03): the link's own rule (`wisun::PairingId`: 8
/// characters of 0-9 A-Z starting "IOT"), so that the smart meter cannot set over DLMS a
/// Pairing ID the radio would refuse to put in its scan.
#[must_use]
pub fn is_pairing_id(s: &[u8]) -> bool {
    wisun::PairingId::from_bytes(s).is_ok()
}

impl DataObject {
    /// A Data object holding a fixed value.
    #[must_use]
    pub const fn fixed(logical_name: Obis, value: Value) -> Self {
        Self {
            logical_name,
            kind: DataKind::Fixed(value),
        }
    }

    /// A Data object holding an octet string (IDs, logical device name).
    #[must_use]
    pub fn octet_string(logical_name: Obis, bytes: &[u8]) -> Self {
        Self::fixed(logical_name, octets(bytes))
    }

    /// The Pairing ID object; the value must already be valid (checked by the model).
    #[must_use]
    pub const fn pairing_id(logical_name: Obis, value: String) -> Self {
        Self {
            logical_name,
            kind: DataKind::PairingId(value),
        }
    }

    /// A write-only secret.
    #[must_use]
    pub const fn secret(logical_name: Obis, value: Vec<u8>) -> Self {
        Self {
            logical_name,
            kind: DataKind::Secret(value),
        }
    }

    /// The value (for a secret: its bytes; callers must not log them).
    #[must_use]
    pub const fn kind(&self) -> &DataKind {
        &self.kind
    }

    /// Replace a fixed value (the model does this for the meter ID, status, event code).
    pub fn set_fixed(&mut self, value: Value) {
        self.kind = DataKind::Fixed(value);
    }

    /// The octet/visible string bytes of the value, if it is one.
    #[must_use]
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            DataKind::Fixed(Value::OctetString(b) | Value::VisibleString(b)) => Some(b),
            DataKind::PairingId(s) => Some(s.as_bytes()),
            DataKind::Secret(s) => Some(s),
            DataKind::Fixed(_) => None,
        }
    }
}

impl CosemObject for DataObject {
    fn class_id(&self) -> u16 {
        1
    }
    fn version(&self) -> u8 {
        0
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        2
    }

    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        no_selector(selective)?;
        match (attribute, &self.kind) {
            (1, _) => put(w, &logical_name_value(self.logical_name)),
            (2, DataKind::Fixed(v)) => put(w, v),
            (2, DataKind::PairingId(s)) => put(w, &Value::VisibleString(s.as_bytes().to_vec())),
            // Whatever the access table says, a secret is never read back.
            (2, DataKind::Secret(_)) => Err(DataAccessResult::ReadWriteDenied),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn set(&mut self, attribute: i8, value: &Data<'_>) -> AccessResult<()> {
        if attribute != 2 {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        match &mut self.kind {
            DataKind::Fixed(_) => Err(DataAccessResult::ReadWriteDenied),
            DataKind::PairingId(current) => {
                let bytes = match value {
                    Data::VisibleString(b) | Data::OctetString(b) => *b,
                    _ => return Err(DataAccessResult::TypeUnmatched),
                };
                if bytes.len() != 8 {
                    return Err(DataAccessResult::TypeUnmatched);
                }
                // CON-03: 8 characters of 0-9 A-Z.
                if !is_pairing_id(bytes) {
                    return Err(DataAccessResult::OtherReason);
                }
                *current = String::from_utf8_lossy(bytes).into_owned();
                Ok(())
            }
            DataKind::Secret(current) => {
                let bytes = match value {
                    Data::VisibleString(b) | Data::OctetString(b) => *b,
                    _ => return Err(DataAccessResult::TypeUnmatched),
                };
                if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&bytes.len()) {
                    return Err(DataAccessResult::OtherReason);
                }
                *current = bytes.to_vec();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosem::codes::AUTH_PASSWORD;

    #[test]
    fn con03_pairing_id_form() {
        assert!(is_pairing_id(b"IOT00901"));
        assert!(!is_pairing_id(b"IOT0090"));
        assert!(!is_pairing_id(b"iot00901"));
        assert!(!is_pairing_id(b"IOT-0901"));
        assert!(
            !is_pairing_id(b"ABC00901"),
            "CON-03: IOT + utility code + free code"
        );
    }

    #[test]
    fn a_secret_is_never_printed() {
        let o = DataObject::secret(AUTH_PASSWORD, b"hunter2-hunter2".to_vec());
        let s = format!("{o:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("15 bytes"));
    }
}
