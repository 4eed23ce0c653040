//! Push setup (class 40, version 0) for the slot push: at each closed slot the terminal
//! pushes the clock, both energy registers and the status to the smart meter as a
//! Data-Notification. The object only holds the configuration and records push
//! requests; sending is the terminal node's (sans-IO: the model has no socket).

use super::codes::{CLOCK, ENERGY_AC_INPUT, ENERGY_AC_OUTPUT, PROFILE_STATUS, PUSH_SETUP};
use super::{
    logical_name_value, no_selector, octets, put, AccessResult, CaptureDef, CosemObject, Obis,
    Value,
};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::codec::Writer;

/// `transport_service` 1: UDP (the IoT route is UDP over 6LoWPAN, RAD-01).
pub const TRANSPORT_UDP: u8 = 1;
/// `message_type` 0: A-XDR encoded xDLMS APDU.
pub const MESSAGE_AXDR: u8 = 0;

/// The push setup object.
#[derive(Debug, Clone, PartialEq)]
pub struct PushSetup {
    logical_name: Obis,
    push_object_list: Vec<CaptureDef>,
    transport: u8,
    destination: Vec<u8>,
    message: u8,
    window: Vec<([u8; 12], [u8; 12])>,
    randomisation_start_interval: u16,
    number_of_retries: u8,
    repetition_delay: u16,
}

impl PushSetup {
    /// The slot push: the push setup itself (so the receiver knows which push this is),
    /// the clock, AC input, AC output, status; to the association's peer over UDP
    /// (empty destination = the smart meter this terminal is paired with); no window;
    /// 3 retries 30 s apart (ours).
    #[must_use]
    pub fn slot_push() -> Self {
        Self {
            logical_name: PUSH_SETUP,
            push_object_list: vec![
                CaptureDef::new(40, PUSH_SETUP, 1, 0),
                CaptureDef::new(8, CLOCK, 2, 0),
                CaptureDef::new(3, ENERGY_AC_INPUT, 2, 0),
                CaptureDef::new(3, ENERGY_AC_OUTPUT, 2, 0),
                CaptureDef::new(1, PROFILE_STATUS, 2, 0),
            ],
            transport: TRANSPORT_UDP,
            destination: Vec::new(),
            message: MESSAGE_AXDR,
            window: Vec::new(),
            randomisation_start_interval: 0,
            number_of_retries: 3,
            repetition_delay: 30,
        }
    }

    /// What the push carries.
    #[must_use]
    pub fn push_object_list(&self) -> &[CaptureDef] {
        &self.push_object_list
    }

    /// The destination (empty: the paired smart meter).
    #[must_use]
    pub fn destination(&self) -> &[u8] {
        &self.destination
    }

    /// Retries and the delay between them, in seconds.
    #[must_use]
    pub const fn retries(&self) -> (u8, u16) {
        (self.number_of_retries, self.repetition_delay)
    }

    /// Randomisation of the push start, seconds (spreads the pushes of several
    /// terminals on one smart meter, SYS-03).
    #[must_use]
    pub const fn randomisation_start_interval(&self) -> u16 {
        self.randomisation_start_interval
    }
}

fn capture_list(v: &Data<'_>) -> AccessResult<Vec<CaptureDef>> {
    let list = v.as_array().ok_or(DataAccessResult::TypeUnmatched)?;
    list.iter()
        .map(|item| {
            let item = item.map_err(|_| DataAccessResult::TypeUnmatched)?;
            CaptureDef::from_ref(&item).ok_or(DataAccessResult::TypeUnmatched)
        })
        .collect()
}

impl CosemObject for PushSetup {
    fn class_id(&self) -> u16 {
        40
    }
    fn version(&self) -> u8 {
        0
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        7
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
        let v = match attribute {
            1 => logical_name_value(self.logical_name),
            2 => Value::Array(
                self.push_object_list
                    .iter()
                    .map(CaptureDef::to_value)
                    .collect(),
            ),
            3 => Value::Structure(vec![
                Value::Enum(self.transport),
                octets(&self.destination),
                Value::Enum(self.message),
            ]),
            4 => Value::Array(
                self.window
                    .iter()
                    .map(|(a, b)| Value::Structure(vec![octets(a), octets(b)]))
                    .collect(),
            ),
            5 => Value::LongUnsigned(self.randomisation_start_interval),
            6 => Value::Unsigned(self.number_of_retries),
            7 => Value::LongUnsigned(self.repetition_delay),
            _ => return Err(DataAccessResult::ObjectUndefined),
        };
        put(w, &v)
    }

    fn set(&mut self, attribute: i8, value: &Data<'_>) -> AccessResult<()> {
        let bad = DataAccessResult::TypeUnmatched;
        match (attribute, value) {
            (2, v) => self.push_object_list = capture_list(v)?,
            (3, v) => {
                let s = v.as_structure().ok_or(bad)?;
                let f = |i: usize| s.get(i).map_err(|_| bad);
                let (Data::Enum(t), Data::OctetString(d), Data::Enum(m)) = (f(0)?, f(1)?, f(2)?)
                else {
                    return Err(bad);
                };
                self.transport = t;
                self.destination = d.to_vec();
                self.message = m;
            }
            (4, v) => {
                let list = v.as_array().ok_or(bad)?;
                let mut window = Vec::new();
                for item in list.iter() {
                    let s = item.ok().and_then(|i| i.as_structure()).ok_or(bad)?;
                    let dt = |i: usize| {
                        s.get(i)
                            .ok()
                            .and_then(|v| super::datetime_of(&v))
                            .map(|d| d.to_bytes())
                            .ok_or(bad)
                    };
                    window.push((dt(0)?, dt(1)?));
                }
                self.window = window;
            }
            (5, Data::LongUnsigned(v)) => self.randomisation_start_interval = *v,
            (6, Data::Unsigned(v)) => self.number_of_retries = *v,
            (7, Data::LongUnsigned(v)) => self.repetition_delay = *v,
            (5..=7, _) => return Err(bad),
            (1, _) => return Err(DataAccessResult::ReadWriteDenied),
            _ => return Err(DataAccessResult::ObjectUndefined),
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        method: i8,
        p: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match method {
            1 => match p {
                // The push itself is the terminal's: the model records the request
                // (ModelChange::PushRequested).
                None | Some(Data::Integer(0)) => Ok(false),
                Some(_) => Err(ActionResult::TypeUnmatched),
            },
            _ => Err(ActionResult::ObjectUndefined),
        }
    }
}
