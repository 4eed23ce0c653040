//! Register (class 3, version 0): the two cumulative energy registers (TRM-05, TRM-07).
//!
//! TRM-05 wants kWh with 3 decimals (the third decimal is 1 Wh). The Blue Book has no
//! kWh unit (unit 30 is Wh, and the physical value is `value × 10^scaler unit`), so the
//! only exact encoding is **value in Wh, scaler 0, unit Wh (30)**: the integer is the
//! kWh figure with its decimal point removed (12345.678 kWh → 12345678). A scaler of −3
//! with unit Wh would mean mWh, and a scaler of +3 would drop the three decimals.
//!
//! TRM-03: the terminal keeps the lower 8 digits of the meter's 9-digit counter, so the
//! value never exceeds 99,999,999 Wh and fits a double-long-unsigned; it wraps to 0 as
//! the kept digits do.

use super::{logical_name_value, no_selector, put, AccessResult, CosemObject, Obis, Value};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::codec::Writer;

/// Unit 30, Wh (Blue Book unit table).
pub const UNIT_WH: u8 = 30;

/// The modulus of the kept reading (TRM-03: lower 8 digits).
pub const READING_MODULUS: u32 = 100_000_000;

/// A cumulative energy register, in Wh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnergyRegister {
    logical_name: Obis,
    value_wh: u32,
}

impl EnergyRegister {
    /// A register at 0 Wh.
    #[must_use]
    pub const fn new(logical_name: Obis) -> Self {
        Self {
            logical_name,
            value_wh: 0,
        }
    }

    /// The value in Wh (= kWh × 1000).
    #[must_use]
    pub const fn value_wh(&self) -> u32 {
        self.value_wh
    }

    /// Set the value from a reading in Wh; only the lower 8 digits are kept (TRM-03).
    pub fn set_value_wh(&mut self, wh: u32) {
        self.value_wh = wh % READING_MODULUS;
    }

    /// The `scaler_unit`: scaler 0, unit Wh (TRM-05, see the module comment).
    #[must_use]
    pub const fn scaler_unit(&self) -> (i8, u8) {
        (0, UNIT_WH)
    }
}

impl CosemObject for EnergyRegister {
    fn class_id(&self) -> u16 {
        3
    }
    fn version(&self) -> u8 {
        0
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        3
    }
    fn method_count(&self) -> i8 {
        1
    }

    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        no_selector(selective)?;
        match attribute {
            1 => put(w, &logical_name_value(self.logical_name)),
            2 => put(w, &Value::DoubleLongUnsigned(self.value_wh)),
            3 => {
                let (scaler, unit) = self.scaler_unit();
                put(
                    w,
                    &Value::Structure(vec![Value::Integer(scaler), Value::Enum(unit)]),
                )
            }
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn set(&mut self, _attribute: i8, _value: &Data<'_>) -> AccessResult<()> {
        // The value comes from the meter, never from a client.
        Err(DataAccessResult::ReadWriteDenied)
    }

    fn invoke(
        &mut self,
        method: i8,
        _p: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match method {
            // reset exists in the class but no association may invoke it (access table).
            1 => Err(ActionResult::ReadWriteDenied),
            _ => Err(ActionResult::ObjectUndefined),
        }
    }
}
