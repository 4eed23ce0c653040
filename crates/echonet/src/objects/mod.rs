//! Typed property values: the node profile (0x0EF0), the device object super class, and
//! the distributed generation electric energy meter (0x028E).
//!
//! Each class has an enum with `decode(epc, edt)`, `encode()` and `epc()`; [`Value`]
//! picks the right one for a class. Decoders are strict: a wrong length or a value
//! outside the class specification's range is a [`ValueError`], never a guess, and
//! `decode(encode(v)) == v` for every value they return.

mod dg_meter;
mod fields;
mod node_profile;
mod superclass;

use alloc::vec::Vec;
use core::fmt;

pub use dg_meter::{
    FixedTimeReading, History, MeterProperty, HISTORY_LEN, MAX_HISTORY_DAYS, MAX_ID_LEN,
    NOT_MEASURED, SLOTS_PER_DAY,
};
pub use fields::{Date, IdentificationNumber, OperationStatus, TimeOfDay};
pub use node_profile::{NodeProfileProperty, MAX_CLASSES, MAX_INSTANCES};
pub use superclass::SuperclassProperty;

use crate::{ClassCode, ValueError};

/// A decoded property of any class this crate knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(untagged))]
pub enum Value {
    NodeProfile(NodeProfileProperty),
    Superclass(SuperclassProperty),
    Meter(MeterProperty),
}

impl Value {
    /// Decode `edt` as property `epc` of an object of `class`. Class-specific properties
    /// come first; the rest fall back to the super class. Other classes decode only the
    /// super class's properties.
    pub fn decode(class: ClassCode, epc: u8, edt: &[u8]) -> Result<Value, ValueError> {
        if class == ClassCode::NODE_PROFILE && NodeProfileProperty::EPCS.contains(&epc) {
            return NodeProfileProperty::decode(epc, edt).map(Value::NodeProfile);
        }
        if class == ClassCode::DISTRIBUTED_GENERATION_METER && MeterProperty::EPCS.contains(&epc) {
            return MeterProperty::decode(epc, edt).map(Value::Meter);
        }
        if SuperclassProperty::EPCS.contains(&epc) {
            return SuperclassProperty::decode(epc, edt).map(Value::Superclass);
        }
        Err(ValueError::UnknownProperty {
            class: class.0,
            epc,
        })
    }

    pub fn epc(&self) -> u8 {
        match self {
            Value::NodeProfile(p) => p.epc(),
            Value::Superclass(p) => p.epc(),
            Value::Meter(p) => p.epc(),
        }
    }

    /// The EDT of this value; see [`MeterProperty::encode`].
    pub fn encode(&self) -> Result<Vec<u8>, ValueError> {
        match self {
            Value::NodeProfile(p) => p.encode(),
            Value::Superclass(p) => p.encode(),
            Value::Meter(p) => p.encode(),
        }
    }
}

impl From<NodeProfileProperty> for Value {
    fn from(p: NodeProfileProperty) -> Value {
        Value::NodeProfile(p)
    }
}

impl From<SuperclassProperty> for Value {
    fn from(p: SuperclassProperty) -> Value {
        Value::Superclass(p)
    }
}

impl From<MeterProperty> for Value {
    fn from(p: MeterProperty) -> Value {
        Value::Meter(p)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::NodeProfile(p) => write!(f, "{p}"),
            Value::Superclass(p) => write!(f, "{p}"),
            Value::Meter(p) => write!(f, "{p}"),
        }
    }
}

/// Returns `bytes` as the EDT of `value` only if they decode back to exactly `value`: a
/// value built out of range must not reach the wire as some other value.
fn checked_encode<T: PartialEq>(
    value: &T,
    epc: u8,
    bytes: Vec<u8>,
    decode: fn(u8, &[u8]) -> Result<T, ValueError>,
) -> Result<Vec<u8>, ValueError> {
    match decode(epc, &bytes) {
        Ok(back) if back == *value => Ok(bytes),
        _ => Err(ValueError::NotEncodable { epc }),
    }
}

/// Serialises raw octets as one hex string, as operators read them.
#[cfg(feature = "serde")]
pub(crate) fn hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&fields::Hex(bytes))
}

#[cfg(test)]
mod tests;
