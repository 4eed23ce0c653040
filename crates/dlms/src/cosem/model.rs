//! The IoT-route object model: every object of `docs/iot-route-cosem.md`, dispatch of
//! GET/SET/ACTION with the access rights of the asking association, the capture of the
//! load profile, the event log, and the demo filler behind `dlms serve --demo-days`.
//!
//! Sans-IO: time comes in through [`IotRouteModel::set_now`] and the `now` arguments;
//! what the terminal node must act on (a clock set, a new Pairing ID, a push request, an
//! activated image...) comes out of [`IotRouteModel::take_changes`].

use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use chrono::{DateTime, Duration, Timelike, Utc};
use dlms_cosem_rs::codec::Writer;

use super::access::{self, AccessMode, Association};
use super::association::{AssociationLn, ObjectListElement, SapAssignment};
use super::clock::{Clock, STATUS_INVALID};
use super::codes::{
    ACCESS_CLIENT, ACCESS_CODE, ACCESS_LOG, ASSOCIATION, AUTH_PASSWORD, CLOCK, ENERGY_AC_INPUT,
    ENERGY_AC_OUTPUT, EVENT_CODE, EVENT_LOG, IMAGE_TRANSFER, LOAD_PROFILE, LOGICAL_DEVICE_NAME,
    MANAGEMENT_INVOCATION_COUNTER, METER_ID, PAIRING_ID, PROFILE_STATUS, PUSH_SETUP,
    SAP_ASSIGNMENT, SECURITY_SETUP, TERMINAL_ID,
};
use super::data::{is_pairing_id, DataKind, DataObject};
use super::image::{ImageTransfer, ImageVendorKey};
use super::profile::ProfileGeneric;
use super::push::PushSetup;
use super::register::{EnergyRegister, READING_MODULUS};
use super::security::SecuritySetup;
use super::{
    floor_to_period, octets, put, AccessResult, CaptureDef, CosemError, CosemObject, Obis, Value,
};

/// Load-profile status bits (the IDIS "AMR profile status" layout, bit 0 = LSB).
pub mod status {
    /// Bit 1: the clock was invalid when the row was captured.
    pub const CLOCK_INVALID: u8 = 0x02;
    /// Bit 2: the values are not valid (the meter could not be read, TRM-03).
    pub const DATA_NOT_VALID: u8 = 0x04;
    /// Bit 5: the clock was adjusted during the interval.
    pub const CLOCK_ADJUSTED: u8 = 0x20;
    /// Bit 6 **(ours**, reserved in IDIS): the values were recovered afterwards from
    /// the meter's own 30-minute history, not read at the slot (TRM-04).
    pub const RECOVERED: u8 = 0x40;
    /// Bit 7: a power failure occurred during the interval.
    pub const POWER_DOWN: u8 = 0x80;
}

/// The reading intervals TRM-11 allows: 30 and 15 minutes.
pub const CAPTURE_PERIODS: [u32; 2] = [1800, 900];
/// Longest ID the model accepts (the ECHONET Lite identifiers are at most 64 bytes).
pub const ID_MAX: usize = 64;

/// Event codes written into the event log (ours; SEC-09 evidence trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EventCode {
    /// The terminal started.
    PowerUp = 1,
    /// The clock was set or adjusted by a client.
    ClockSet = 2,
    /// The reading interval (load-profile capture period) changed.
    CapturePeriodChanged = 3,
    /// The Pairing ID changed.
    PairingIdChanged = 4,
    /// The device authentication password changed.
    AuthPasswordChanged = 5,
    /// An association secret changed.
    SecretChanged = 6,
    /// The connected meter's ID changed (SEC-07: a wrong or replaced meter).
    MeterIdChanged = 7,
    /// A firmware image was activated (SEC-10).
    ImageActivated = 8,
    /// The security policy was strengthened.
    SecurityActivated = 9,
    /// New keys were transferred.
    KeyTransfer = 10,
    /// The load profile was reset.
    ProfileReset = 11,
    /// An association's `object_list` changed (`add_object`/`remove_object`).
    ObjectListChanged = 12,
    /// A flood of datagrams was detected (SEC-08).
    FloodDetected = 13,
    /// A client accepted the meter connected now as the registered one (SEC-07).
    MeterAccepted = 14,
    /// The LED turned to an alarm (meter error, error, updating) or back to connected
    /// from one (TRM-10); details: the LED's name. Pushed, so the head end collects it.
    LedChanged = 15,
    /// The rows follow a new reading interval from a boundary on (TRM-11: where a capture
    /// period set earlier took effect); details: the interval's seconds and the boundary.
    /// Pushed, so the smart meter labels the rows before and after it right.
    IntervalSwitched = 16,
}

impl EventCode {
    /// Every code, in order.
    pub const ALL: [Self; 16] = [
        Self::PowerUp,
        Self::ClockSet,
        Self::CapturePeriodChanged,
        Self::PairingIdChanged,
        Self::AuthPasswordChanged,
        Self::SecretChanged,
        Self::MeterIdChanged,
        Self::ImageActivated,
        Self::SecurityActivated,
        Self::KeyTransfer,
        Self::ProfileReset,
        Self::ObjectListChanged,
        Self::FloodDetected,
        Self::MeterAccepted,
        Self::LedChanged,
        Self::IntervalSwitched,
    ];

    /// The code an event log row carries.
    #[must_use]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The event of a code read from an event log row.
    #[must_use]
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// A name for people and scripts (`clock_set`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::PowerUp => "power_up",
            Self::ClockSet => "clock_set",
            Self::CapturePeriodChanged => "interval_changed",
            Self::PairingIdChanged => "pairing_id_changed",
            Self::AuthPasswordChanged => "password_changed",
            Self::SecretChanged => "secret_changed",
            Self::MeterIdChanged => "meter_id_changed",
            Self::ImageActivated => "firmware_activated",
            Self::SecurityActivated => "security_activated",
            Self::KeyTransfer => "key_transfer",
            Self::ProfileReset => "profile_reset",
            Self::ObjectListChanged => "object_list_changed",
            Self::FloodDetected => "flood_detected",
            Self::MeterAccepted => "meter_accepted",
            Self::LedChanged => "led",
            Self::IntervalSwitched => "interval_switched",
        }
    }
}

/// Access codes written into the access log (ours; SEC-09): one per association,
/// release, SET or ACTION, with its outcome. GETs are not recorded, so that reads cannot
/// push the records that matter out of a bounded log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum AccessCode {
    /// An association was accepted.
    AssociationAccepted = 1,
    /// An association was refused (authentication failure).
    AssociationRefused = 2,
    /// An association was released.
    Released = 3,
    /// A SET was carried out.
    SetAccepted = 4,
    /// A SET was refused.
    SetRefused = 5,
    /// An ACTION was carried out.
    ActionAccepted = 6,
    /// An ACTION was refused.
    ActionRefused = 7,
    /// A request from a client the interface does not serve was dropped.
    ClientRefused = 8,
    /// A flood was detected (SEC-08).
    FloodDetected = 9,
}

impl AccessCode {
    /// Every code, in order.
    pub const ALL: [Self; 9] = [
        Self::AssociationAccepted,
        Self::AssociationRefused,
        Self::Released,
        Self::SetAccepted,
        Self::SetRefused,
        Self::ActionAccepted,
        Self::ActionRefused,
        Self::ClientRefused,
        Self::FloodDetected,
    ];

    /// The code an access log row carries.
    #[must_use]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The access of a code read from an access log row.
    #[must_use]
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// A name for people and scripts.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AssociationAccepted => "association_accepted",
            Self::AssociationRefused => "association_refused",
            Self::Released => "released",
            Self::SetAccepted => "set_accepted",
            Self::SetRefused => "set_refused",
            Self::ActionAccepted => "action_accepted",
            Self::ActionRefused => "action_refused",
            Self::ClientRefused => "client_refused",
            Self::FloodDetected => "flood_detected",
        }
    }
}

/// Something the terminal node must act on, produced by a client's request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelChange {
    /// The clock now runs `offset_s` seconds from the time source.
    ClockSet {
        /// Offset from the caller's time source, seconds.
        offset_s: i64,
    },
    /// The reading interval changed (TRM-08, TRM-11).
    CapturePeriodChanged(u32),
    /// A new Pairing ID (CON-03/04): the link layer must rescan with it.
    PairingIdChanged(String),
    /// A client accepted the meter with this ID as the registered one (SEC-07).
    MeterAccepted(Vec<u8>),
    /// A new device authentication password ([`IotRouteModel::auth_password`]).
    AuthPasswordChanged,
    /// An association's secret changed ([`IotRouteModel::association_secret`]).
    SecretChanged(Association),
    /// A client asked for a push now.
    PushRequested,
    /// A firmware image was activated ([`IotRouteModel::take_activated_image`]).
    ImageActivated {
        /// The image identifier.
        identifier: Vec<u8>,
    },
    /// The security policy was strengthened to this (version-0) value.
    SecurityActivated(u8),
    /// Wrapped keys arrived ([`IotRouteModel::take_key_transfer`]); the key ids.
    KeyTransfer(Vec<u8>),
    /// `add_object`/`remove_object` changed this association's `object_list`.
    ObjectListChanged(Association),
}

/// What the terminal must keep across a restart (TRM-06: the stored readings are what
/// backfill sends; TRM-08: settings changed over the air stay changed), for the storage
/// layer to persist. Holds the secrets too: store it where the terminal keeps its
/// credentials. `Debug` never prints them.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelState {
    /// Load-profile rows, oldest first (none when the load profile is a view of the
    /// terminal's store, which keeps them).
    pub load_profile: Vec<super::ProfileRow>,
    /// Event-log rows, oldest first.
    pub event_log: Vec<super::ProfileRow>,
    /// The two registers, Wh.
    pub energy_wh: (u32, u32),
    /// The meter ID (ECHONET 0xD1).
    pub meter_id: Vec<u8>,
    /// The Pairing ID.
    pub pairing_id: String,
    /// The reading interval, s.
    pub capture_period: u32,
    /// The clock's offset from the time source, s.
    pub clock_offset_s: i64,
    /// The device authentication password.
    pub auth_password: Vec<u8>,
    /// The association secrets: public, management, maintenance.
    pub association_secrets: [Vec<u8>; 3],
    /// Objects `remove_object` took out of each association's `object_list` (same
    /// order); absent from states written before it existed.
    #[serde(default)]
    pub object_list_hidden: [Vec<Obis>; 3],
}

impl std::fmt::Debug for ModelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelState")
            .field("load_profile_rows", &self.load_profile.len())
            .field("event_log_rows", &self.event_log.len())
            .field("energy_wh", &self.energy_wh)
            .field("pairing_id", &self.pairing_id)
            .field("capture_period", &self.capture_period)
            .field("clock_offset_s", &self.clock_offset_s)
            .finish_non_exhaustive()
    }
}

/// How the model starts.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// Terminal ID = authentication ID (immutable, TRM-08).
    pub terminal_id: Vec<u8>,
    /// COSEM logical device name (3-letter flag + serial, up to 16 bytes).
    pub logical_device_name: Vec<u8>,
    /// Pairing ID (CON-03).
    pub pairing_id: String,
    /// Device authentication password (TRM-08).
    pub auth_password: Vec<u8>,
    /// LLS password of the management and maintenance associations.
    pub association_password: Vec<u8>,
    /// Reading interval: 1800 or 900 s (TRM-11).
    pub capture_period: u32,
    /// Load-profile depth.
    pub profile_entries: u32,
    /// Event-log depth.
    pub event_entries: u32,
    /// The server's system title (security setup attribute 5).
    pub server_system_title: [u8; 8],
    /// The vendor's firmware-signing key (SEC-10); `None`: no image verifies.
    pub image_vendor_key: Option<ImageVendorKey>,
    /// What the device accepts beyond the signature (SEC-10: its image format, no
    /// downgrade); `None`: any signed image.
    pub image_policy: Option<super::image::ImagePolicy>,
    /// Where the image being received is kept (SEC-10: a file on the terminal, so that an
    /// image of tens of MiB is never whole in memory); `None`: in memory.
    pub image_store: Option<super::image::ImageStorage>,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords are never logged.
        f.debug_struct("ModelConfig")
            .field("terminal_id", &String::from_utf8_lossy(&self.terminal_id))
            .field(
                "logical_device_name",
                &String::from_utf8_lossy(&self.logical_device_name),
            )
            .field("pairing_id", &self.pairing_id)
            .field("capture_period", &self.capture_period)
            .field("profile_entries", &self.profile_entries)
            .field("event_entries", &self.event_entries)
            .field("image_vendor_key", &self.image_vendor_key)
            .field("image_policy", &self.image_policy)
            .field("image_store", &self.image_store)
            .finish_non_exhaustive()
    }
}

impl Default for ModelConfig {
    /// Lab values: "IRT" (ours, not a registered FLAG id) + serial, the CON-03 example
    /// Pairing ID, the default LLS password, the Green Book server system title,
    /// 30-minute readings and 90 days of them (ours: the guideline names no backfill
    /// depth for TRM-06), and no image vendor key: no firmware image verifies until the
    /// terminal is given its vendor's key (a lab key whose private half is public would
    /// let anyone sign).
    fn default() -> Self {
        Self {
            terminal_id: b"IRT0000000000001".to_vec(),
            logical_device_name: b"IRT0000000000001".to_vec(),
            pairing_id: "IOT00901".to_owned(),
            auth_password: b"IOTROUTE-PASSWD1".to_vec(),
            association_password: b"12345678".to_vec(),
            capture_period: 1800,
            profile_entries: 90 * 48,
            event_entries: 500,
            server_system_title: [0x4D, 0x4D, 0x4D, 0x00, 0x00, 0xBC, 0x61, 0x4E],
            image_vendor_key: None,
            image_policy: None,
            image_store: None,
        }
    }
}

/// The whole object model of one terminal.
#[derive(Debug)]
pub struct IotRouteModel {
    now: DateTime<Utc>,
    clock: Clock,
    logical_device_name: DataObject,
    terminal_id: DataObject,
    meter_id: DataObject,
    energy_in: EnergyRegister,
    energy_out: EnergyRegister,
    profile_status: DataObject,
    status_bits: u8,
    load_profile: ProfileGeneric,
    event_code: DataObject,
    event_log: ProfileGeneric,
    access_code: DataObject,
    access_client: DataObject,
    access_log: ProfileGeneric,
    pairing_id: DataObject,
    auth_password: DataObject,
    push_setup: PushSetup,
    image_transfer: ImageTransfer,
    association: AssociationLn,
    sap_assignment: SapAssignment,
    security_setup: SecuritySetup,
    /// 0-0:43.1.0.255: the highest invocation counter accepted from the management
    /// client, kept up to date by the server (`TerminalServer`), which owns the replay
    /// window; not in `ModelState`, since the window is persisted by the driver.
    management_invocation_counter: DataObject,
    changes: Vec<ModelChange>,
}

/// The order objects appear in `object_list`.
const ORDER: [Obis; 21] = [
    ASSOCIATION,
    SAP_ASSIGNMENT,
    LOGICAL_DEVICE_NAME,
    CLOCK,
    TERMINAL_ID,
    METER_ID,
    ENERGY_AC_INPUT,
    ENERGY_AC_OUTPUT,
    PROFILE_STATUS,
    LOAD_PROFILE,
    EVENT_CODE,
    EVENT_LOG,
    ACCESS_CODE,
    ACCESS_CLIENT,
    ACCESS_LOG,
    PAIRING_ID,
    AUTH_PASSWORD,
    PUSH_SETUP,
    IMAGE_TRANSFER,
    SECURITY_SETUP,
    MANAGEMENT_INVOCATION_COUNTER,
];

fn check_len(what: &'static str, bytes: &[u8]) -> Result<(), CosemError> {
    if bytes.len() > ID_MAX {
        return Err(CosemError::TooLong { what, max: ID_MAX });
    }
    Ok(())
}

impl IotRouteModel {
    /// The model as configured, its clock reading `now`.
    ///
    /// # Errors
    /// A Pairing ID not of CON-03's form, a capture period other than 1800/900 s, a
    /// profile depth of 0 or above the maximum, an over-long ID.
    pub fn new(config: &ModelConfig, now: DateTime<Utc>) -> Result<Self, CosemError> {
        if !is_pairing_id(config.pairing_id.as_bytes()) {
            return Err(CosemError::PairingId);
        }
        if !CAPTURE_PERIODS.contains(&config.capture_period) {
            return Err(CosemError::CapturePeriod(config.capture_period));
        }
        check_len("terminal ID", &config.terminal_id)?;
        check_len("logical device name", &config.logical_device_name)?;
        let mut clock = Clock::new(CLOCK, now);
        clock.set_measuring_period(config.capture_period);
        let load_profile = ProfileGeneric::new(
            LOAD_PROFILE,
            vec![
                CaptureDef::new(3, ENERGY_AC_INPUT, 2, 0),
                CaptureDef::new(3, ENERGY_AC_OUTPUT, 2, 0),
                CaptureDef::new(1, PROFILE_STATUS, 2, 0),
            ],
            config.capture_period,
            CAPTURE_PERIODS.to_vec(),
            config.profile_entries,
        )?;
        let event_log = ProfileGeneric::new(
            EVENT_LOG,
            vec![CaptureDef::new(1, EVENT_CODE, 2, 0)],
            0,
            Vec::new(),
            config.event_entries,
        )?;
        let access_log = ProfileGeneric::new(
            ACCESS_LOG,
            vec![
                CaptureDef::new(1, ACCESS_CODE, 2, 0),
                CaptureDef::new(1, ACCESS_CLIENT, 2, 0),
            ],
            0,
            Vec::new(),
            config.event_entries,
        )?;
        let mut model = Self {
            now,
            clock,
            logical_device_name: DataObject::octet_string(
                LOGICAL_DEVICE_NAME,
                &config.logical_device_name,
            ),
            terminal_id: DataObject::octet_string(TERMINAL_ID, &config.terminal_id),
            meter_id: DataObject::octet_string(METER_ID, &[]),
            energy_in: EnergyRegister::new(ENERGY_AC_INPUT),
            energy_out: EnergyRegister::new(ENERGY_AC_OUTPUT),
            profile_status: DataObject::fixed(PROFILE_STATUS, Value::Unsigned(0)),
            status_bits: 0,
            load_profile,
            event_code: DataObject::fixed(EVENT_CODE, Value::LongUnsigned(0)),
            event_log,
            access_code: DataObject::fixed(ACCESS_CODE, Value::LongUnsigned(0)),
            access_client: DataObject::fixed(ACCESS_CLIENT, Value::LongUnsigned(0)),
            access_log,
            pairing_id: DataObject::pairing_id(PAIRING_ID, config.pairing_id.clone()),
            auth_password: DataObject::secret(AUTH_PASSWORD, config.auth_password.clone()),
            push_setup: PushSetup::slot_push(),
            image_transfer: ImageTransfer::new(
                IMAGE_TRANSFER,
                config.image_vendor_key.clone(),
                config.image_policy.clone(),
                config.image_store.clone(),
            ),
            association: AssociationLn::new(ASSOCIATION, &config.association_password),
            sap_assignment: SapAssignment::new(SAP_ASSIGNMENT, &config.logical_device_name),
            security_setup: SecuritySetup::new(SECURITY_SETUP, &config.server_system_title),
            management_invocation_counter: DataObject::fixed(
                MANAGEMENT_INVOCATION_COUNTER,
                Value::DoubleLongUnsigned(0),
            ),
            changes: Vec::new(),
        };
        model.log_event(now, EventCode::PowerUp);
        Ok(model)
    }

    /// Set 0-0:43.1.0.255 to `highest`, the highest invocation counter the server has
    /// accepted from the management client (0 before any); the server calls this before
    /// serving each request.
    pub fn set_management_invocation_counter(&mut self, highest: u32) {
        self.management_invocation_counter
            .set_fixed(Value::DoubleLongUnsigned(highest));
    }

    /// Tell the model the time source's `now`; call before serving each request.
    pub fn set_now(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.clock.set_now(now);
    }

    /// The terminal clock's time now (time source + offset set by clients).
    #[must_use]
    pub fn clock_time(&self) -> DateTime<Utc> {
        self.clock.time()
    }

    /// The clock object.
    #[must_use]
    pub const fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether the clock's time is to be trusted (TRM-09): a terminal whose clock no
    /// client has set yet says so in the clock status (bit 0, invalid), which a client
    /// setting the time clears.
    pub fn set_clock_valid(&mut self, valid: bool) {
        let status = self.clock.status() & !super::clock::STATUS_INVALID;
        self.clock.set_status(if valid {
            status
        } else {
            status | super::clock::STATUS_INVALID
        });
    }

    /// Set both energy registers from readings in Wh; only the lower 8 digits are kept
    /// (TRM-03), reported as kWh with 3 decimals (TRM-05).
    pub fn set_energy(&mut self, ac_input_wh: u32, ac_output_wh: u32) {
        self.energy_in.set_value_wh(ac_input_wh);
        self.energy_out.set_value_wh(ac_output_wh);
        self.status_bits &= !status::DATA_NOT_VALID;
    }

    /// The two registers, Wh: (AC input, AC output).
    #[must_use]
    pub const fn energy(&self) -> (u32, u32) {
        (self.energy_in.value_wh(), self.energy_out.value_wh())
    }

    /// The meter could not be read: the next captured row is flagged "data not valid".
    pub fn mark_data_not_valid(&mut self) {
        self.status_bits |= status::DATA_NOT_VALID;
    }

    /// Set the meter ID read from the meter's ECHONET Lite 0xD1 (SEC-07). A change
    /// from a known ID is logged: the SM system uses the ID to detect a wrong meter.
    ///
    /// # Errors
    /// [`CosemError::TooLong`] above [`ID_MAX`] bytes.
    pub fn set_meter_id(&mut self, now: DateTime<Utc>, id: &[u8]) -> Result<(), CosemError> {
        check_len("meter ID", id)?;
        let old = self
            .meter_id
            .bytes()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if old != id {
            self.meter_id.set_fixed(octets(id));
            if !old.is_empty() {
                tracing::warn!("meter ID changed (SEC-07)");
                self.log_event(now, EventCode::MeterIdChanged);
            }
        }
        Ok(())
    }

    /// The meter ID (ECHONET 0xD1), empty until read.
    #[must_use]
    pub fn meter_id(&self) -> &[u8] {
        self.meter_id.bytes().unwrap_or(&[])
    }

    /// The Pairing ID.
    #[must_use]
    pub fn pairing_id(&self) -> &str {
        match self.pairing_id.kind() {
            DataKind::PairingId(s) => s,
            _ => "",
        }
    }

    /// The device authentication password (never log it).
    #[must_use]
    pub fn auth_password(&self) -> &[u8] {
        self.auth_password.bytes().unwrap_or(&[])
    }

    /// An association's secret (LLS password; never log it).
    #[must_use]
    pub fn association_secret(&self, association: Association) -> &[u8] {
        self.association.secret(association)
    }

    /// The Association LN object, for the driver to record mechanism and PDU size.
    pub fn association_mut(&mut self) -> &mut AssociationLn {
        &mut self.association
    }

    /// The security setup object, for the driver to record policy and client title.
    pub fn security_setup_mut(&mut self) -> &mut SecuritySetup {
        &mut self.security_setup
    }

    /// The load profile.
    #[must_use]
    pub const fn load_profile(&self) -> &ProfileGeneric {
        &self.load_profile
    }

    /// The event log.
    #[must_use]
    pub const fn event_log(&self) -> &ProfileGeneric {
        &self.event_log
    }

    /// The push setup.
    #[must_use]
    pub const fn push_setup(&self) -> &PushSetup {
        &self.push_setup
    }

    /// The body of a slot push (the Data-Notification's notification-body): a structure
    /// of the push_object_list's values, read now as the management client would read
    /// them. An object the list names that cannot be read is sent as null-data rather
    /// than dropping the push.
    #[must_use]
    pub fn push_body(&self) -> Value {
        let values = self
            .push_setup
            .push_object_list()
            .iter()
            .map(|c| {
                self.get_value(
                    Association::Management,
                    c.class_id,
                    c.logical_name,
                    c.attribute_index,
                    None,
                )
                .unwrap_or(Value::Null)
            })
            .collect();
        Value::Structure(values)
    }

    /// The reading interval (TRM-11), seconds.
    #[must_use]
    pub const fn capture_period(&self) -> u32 {
        self.load_profile.capture_period()
    }

    /// Change the reading interval (TRM-08 from the terminal's own settings, TRM-11).
    ///
    /// # Errors
    /// [`CosemError::CapturePeriod`] for anything but 1800 or 900.
    pub fn set_capture_period(
        &mut self,
        now: DateTime<Utc>,
        seconds: u32,
    ) -> Result<(), CosemError> {
        self.load_profile.set_capture_period(seconds)?;
        self.clock.set_measuring_period(seconds);
        self.log_event(now, EventCode::CapturePeriodChanged);
        Ok(())
    }

    /// Capture a load-profile row now (TRM-03: at every :00 and :30, or every 15 min
    /// under TRM-11): the clock's time, both registers and the status. The "clock
    /// adjusted" bit is cleared once captured.
    ///
    /// # Errors
    /// Only if the profile's columns were misconfigured.
    pub fn capture(&mut self, now: DateTime<Utc>) -> Result<(), CosemError> {
        let mut bits = self.status_bits;
        if self.clock.status() & STATUS_INVALID != 0 {
            bits |= status::CLOCK_INVALID;
        }
        self.profile_status.set_fixed(Value::Unsigned(bits));
        let time = self.clock.time_at(now);
        self.load_profile.capture_with_status(
            time,
            self.clock.status(),
            vec![
                Value::DoubleLongUnsigned(self.energy_in.value_wh()),
                Value::DoubleLongUnsigned(self.energy_out.value_wh()),
                Value::Unsigned(bits),
            ],
        )?;
        self.status_bits &= !status::CLOCK_ADJUSTED;
        Ok(())
    }

    /// A slot's row from the terminal's store (TRM-03/06): the load profile row at
    /// `slot` with the two registers in Wh (`None`: the meter could not be read) and the
    /// status byte; a row with values newer than any before also sets the registers and
    /// the status object. A load profile that is a view of the store
    /// ([`IotRouteModel::view_load_profile`]) shows the row from there; one that keeps
    /// its rows puts it in, replacing a row of the same slot (a value recovered later).
    ///
    /// # Errors
    /// A view's source that fails; a profile whose columns were misconfigured.
    pub fn put_slot(
        &mut self,
        slot: DateTime<Utc>,
        energy_wh: Option<(u32, u32)>,
        status_bits: u8,
    ) -> Result<(), CosemError> {
        let newest = self.load_profile.last_time()?.is_none_or(|t| t <= slot);
        if newest {
            if let Some((i, o)) = energy_wh {
                self.energy_in.set_value_wh(i);
                self.energy_out.set_value_wh(o);
            }
            self.profile_status.set_fixed(Value::Unsigned(status_bits));
        }
        if self.load_profile.is_view() {
            return Ok(());
        }
        // A missing slot: the registers' last values, flagged not valid (the row's
        // status says so; the values are not a reading).
        let (wh_in, wh_out) = energy_wh.unwrap_or_else(|| self.energy());
        self.load_profile.upsert_row(super::ProfileRow {
            time: slot,
            clock_status: 0,
            values: vec![
                Value::DoubleLongUnsigned(wh_in),
                Value::DoubleLongUnsigned(wh_out),
                Value::Unsigned(status_bits),
            ],
        })
    }

    /// Show `source`'s rows as the load profile from now on: the terminal's reading
    /// store, the truth (TRM-06), so that its rows are kept once. The terminal's source
    /// gives a missing slot's row the values of the newest valid row before it, flagged
    /// not valid (a profile that keeps its rows holds the registers' values when the row
    /// was put: the same but for a slot recovered after a later missing one).
    pub fn view_load_profile(&mut self, source: std::sync::Arc<dyn super::RowSource>) {
        self.load_profile.view(source);
    }

    /// Append an access record to the access log at the clock's time (SEC-09): what a
    /// client (its wPort) did and how it ended.
    pub fn log_access(&mut self, now: DateTime<Utc>, code: AccessCode, client: u16) {
        let code = code.code();
        self.access_code.set_fixed(Value::LongUnsigned(code));
        self.access_client.set_fixed(Value::LongUnsigned(client));
        let time = self.clock.time_at(now);
        if let Err(e) = self.access_log.capture(
            time,
            vec![Value::LongUnsigned(code), Value::LongUnsigned(client)],
        ) {
            tracing::error!(error = %e, "access log capture failed");
        }
    }

    /// The access log.
    #[must_use]
    pub const fn access_log(&self) -> &ProfileGeneric {
        &self.access_log
    }

    /// Append an event to the event log at the clock's time (SEC-09).
    pub fn log_event(&mut self, now: DateTime<Utc>, code: EventCode) {
        let code = code.code();
        self.event_code.set_fixed(Value::LongUnsigned(code));
        let time = self.clock.time_at(now);
        if let Err(e) = self
            .event_log
            .capture(time, vec![Value::LongUnsigned(code)])
        {
            tracing::error!(error = %e, "event log capture failed");
        }
    }

    /// What to persist (see [`ModelState`]).
    #[must_use]
    pub fn snapshot(&self) -> ModelState {
        ModelState {
            load_profile: self.load_profile.kept_rows(),
            event_log: self.event_log.kept_rows(),
            energy_wh: self.energy(),
            meter_id: self.meter_id().to_vec(),
            pairing_id: self.pairing_id().to_owned(),
            capture_period: self.capture_period(),
            clock_offset_s: self.clock.offset().num_seconds(),
            auth_password: self.auth_password().to_vec(),
            association_secrets: Association::ALL.map(|a| self.association_secret(a).to_vec()),
            object_list_hidden: Association::ALL.map(|a| self.association.hidden(a).to_vec()),
        }
    }

    /// The model as `config` makes it, then the persisted `state` put back over it
    /// (readings, settings changed over the air, the clock offset), and a power-up event.
    ///
    /// # Errors
    /// As [`IotRouteModel::new`], and for a saved Pairing ID, capture period, password or
    /// meter ID that is no longer valid.
    pub fn restore(
        config: &ModelConfig,
        state: ModelState,
        now: DateTime<Utc>,
    ) -> Result<Self, CosemError> {
        let config = ModelConfig {
            pairing_id: state.pairing_id,
            capture_period: state.capture_period,
            auth_password: state.auth_password,
            ..config.clone()
        };
        let mut m = Self::new(&config, now)?;
        m.clock.restore_offset(Duration::seconds(
            state.clock_offset_s.clamp(-(1 << 40), 1 << 40),
        ));
        m.set_energy(state.energy_wh.0, state.energy_wh.1);
        m.set_meter_id(now, &state.meter_id)?;
        for (a, secret) in Association::ALL.into_iter().zip(state.association_secrets) {
            let _ = m.association.set_for(a, 7, &Data::OctetString(&secret));
        }
        for (a, hidden) in Association::ALL.into_iter().zip(state.object_list_hidden) {
            m.association.restore_hidden(a, hidden);
        }
        // The power-up event of `new` goes after the restored ones.
        let mut events = state.event_log;
        events.extend(m.event_log.kept_rows());
        m.event_log.restore_rows(events)?;
        m.load_profile.restore_rows(state.load_profile)?;
        Ok(m)
    }

    /// What clients changed since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<ModelChange> {
        std::mem::take(&mut self.changes)
    }

    /// Whether clients changed something not yet taken with
    /// [`IotRouteModel::take_changes`]: a driver that persists state before answering
    /// saves the model with it, so that a change and the counter of the request that
    /// made it reach the disk together.
    #[must_use]
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The activated firmware image `(identifier, firmware to read from the image store)`,
    /// once (SEC-10).
    pub fn take_activated_image(&mut self) -> Option<(Vec<u8>, super::image::ImageFirmware)> {
        self.image_transfer.take_activated()
    }

    /// The wrapped keys of the last key transfer `(key id, wrapped)`, once.
    pub fn take_key_transfer(&mut self) -> Vec<(u8, Vec<u8>)> {
        self.security_setup.take_key_transfer()
    }

    /// Fill the load profile with every slot of the last `days` days up to the last
    /// closed slot at `now` (a slot is closed when its boundary is not in the future),
    /// with counters growing like a household's: low at night, peaks in the morning and
    /// evening, PV export around noon. Replaces what the profile held and leaves the
    /// registers at the last row's values. Returns the rows now in the profile (fewer
    /// than asked when `profile_entries` is smaller).
    ///
    /// # Errors
    /// [`CosemError::ProfileIsView`]: the load profile shows a store's rows.
    pub fn fill_demo(&mut self, days: u32, now: DateTime<Utc>) -> Result<usize, CosemError> {
        let period = self.load_profile.capture_period().max(1);
        let last = floor_to_period(self.clock.time_at(now), period);
        let n = u64::from(days) * 86_400 / u64::from(period);
        let first_index = n.saturating_sub(u64::from(self.load_profile.profile_entries()));
        self.load_profile.reset()?;
        let (mut ac_in, mut ac_out) = (1_234_567u64, 345_678u64);
        for k in 0..n {
            let back = i64::try_from((n - 1 - k) * u64::from(period)).unwrap_or(i64::MAX);
            let Some(t) = last.checked_sub_signed(Duration::seconds(back)) else {
                continue;
            };
            let (imp, exp) = demo_slot_wh(t, period);
            ac_in += imp;
            ac_out += exp;
            if k < first_index {
                continue;
            }
            let in_wh = u32::try_from(ac_in % u64::from(READING_MODULUS)).unwrap_or(0);
            let out_wh = u32::try_from(ac_out % u64::from(READING_MODULUS)).unwrap_or(0);
            let values = vec![
                Value::DoubleLongUnsigned(in_wh),
                Value::DoubleLongUnsigned(out_wh),
                Value::Unsigned(0),
            ];
            if let Err(e) = self.load_profile.capture_with_status(t, 0, values) {
                tracing::error!(error = %e, "demo capture failed");
                break;
            }
            self.energy_in.set_value_wh(in_wh);
            self.energy_out.set_value_wh(out_wh);
        }
        self.load_profile.entries_in_use()
    }

    fn find(&self, ln: Obis) -> Option<&dyn CosemObject> {
        Some(match ln {
            CLOCK => &self.clock,
            LOGICAL_DEVICE_NAME => &self.logical_device_name,
            TERMINAL_ID => &self.terminal_id,
            METER_ID => &self.meter_id,
            ENERGY_AC_INPUT => &self.energy_in,
            ENERGY_AC_OUTPUT => &self.energy_out,
            PROFILE_STATUS => &self.profile_status,
            LOAD_PROFILE => &self.load_profile,
            EVENT_CODE => &self.event_code,
            EVENT_LOG => &self.event_log,
            ACCESS_CODE => &self.access_code,
            ACCESS_CLIENT => &self.access_client,
            ACCESS_LOG => &self.access_log,
            PAIRING_ID => &self.pairing_id,
            AUTH_PASSWORD => &self.auth_password,
            PUSH_SETUP => &self.push_setup,
            IMAGE_TRANSFER => &self.image_transfer,
            ASSOCIATION => &self.association,
            SAP_ASSIGNMENT => &self.sap_assignment,
            SECURITY_SETUP => &self.security_setup,
            MANAGEMENT_INVOCATION_COUNTER => &self.management_invocation_counter,
            _ => return None,
        })
    }

    fn find_mut(&mut self, ln: Obis) -> Option<&mut dyn CosemObject> {
        Some(match ln {
            CLOCK => &mut self.clock,
            LOGICAL_DEVICE_NAME => &mut self.logical_device_name,
            TERMINAL_ID => &mut self.terminal_id,
            METER_ID => &mut self.meter_id,
            ENERGY_AC_INPUT => &mut self.energy_in,
            ENERGY_AC_OUTPUT => &mut self.energy_out,
            PROFILE_STATUS => &mut self.profile_status,
            LOAD_PROFILE => &mut self.load_profile,
            EVENT_CODE => &mut self.event_code,
            EVENT_LOG => &mut self.event_log,
            ACCESS_CODE => &mut self.access_code,
            ACCESS_CLIENT => &mut self.access_client,
            ACCESS_LOG => &mut self.access_log,
            PAIRING_ID => &mut self.pairing_id,
            AUTH_PASSWORD => &mut self.auth_password,
            PUSH_SETUP => &mut self.push_setup,
            IMAGE_TRANSFER => &mut self.image_transfer,
            ASSOCIATION => &mut self.association,
            SAP_ASSIGNMENT => &mut self.sap_assignment,
            SECURITY_SETUP => &mut self.security_setup,
            MANAGEMENT_INVOCATION_COUNTER => &mut self.management_invocation_counter,
            _ => return None,
        })
    }

    /// The object `ln` as `association` sees it: `object-undefined` when it does not
    /// exist or is not visible (not in that association's `object_list`),
    /// `object-class-inconsistent` when the class is wrong.
    fn lookup(
        &self,
        association: Association,
        class_id: u16,
        ln: Obis,
    ) -> AccessResult<&dyn CosemObject> {
        let obj = self
            .find(ln)
            .filter(|_| self.listed(association, ln))
            .ok_or(DataAccessResult::ObjectUndefined)?;
        if obj.class_id() != class_id {
            return Err(DataAccessResult::ObjectClassInconsistent);
        }
        Ok(obj)
    }

    /// The rights `association` has on an attribute; `None` when the request must be
    /// refused for another reason (undefined object or attribute, wrong class), which
    /// [`IotRouteModel::get`] and [`IotRouteModel::set`] then name.
    #[must_use]
    pub fn attribute_rights(
        &self,
        association: Association,
        class_id: u16,
        ln: Obis,
        attribute: i8,
    ) -> Option<AccessMode> {
        let obj = self.lookup(association, class_id, ln).ok()?;
        (1..=obj.attribute_count())
            .contains(&attribute)
            .then(|| access::attribute(association, ln, attribute))
    }

    /// The rights `association` has on a method; `None` as for
    /// [`IotRouteModel::attribute_rights`].
    #[must_use]
    pub fn method_rights(
        &self,
        association: Association,
        class_id: u16,
        ln: Obis,
        method: i8,
    ) -> Option<bool> {
        let obj = self.lookup(association, class_id, ln).ok()?;
        (1..=obj.method_count())
            .contains(&method)
            .then(|| access::method(association, ln, method))
    }

    /// Whether `ln` is in `association`'s `object_list`, and so reachable by it: the
    /// access table lets it see the object and `remove_object` has not taken it out.
    fn listed(&self, association: Association, ln: Obis) -> bool {
        access::visible(association, ln) && self.association.lists(association, ln)
    }

    /// The objects visible to `association`, in `object_list` order:
    /// `(class_id, version, logical_name)`.
    #[must_use]
    pub fn visible_objects(&self, association: Association) -> Vec<(u16, u8, Obis)> {
        ORDER
            .iter()
            .filter(|ln| self.listed(association, **ln))
            .filter_map(|ln| self.find(*ln))
            .map(|o| (o.class_id(), o.version(), o.logical_name()))
            .collect()
    }

    /// `object_list` of the current association as `association` sees it: every
    /// visible object with that association's attribute and method access (version-1
    /// enumerations); the profiles' buffers list selectors 1 (range) and 2 (entry).
    fn object_list(&self, association: Association) -> Value {
        let mut list = Vec::new();
        for ln in ORDER.iter().filter(|ln| self.listed(association, **ln)) {
            let Some(obj) = self.find(*ln) else { continue };
            let attrs = (1..=obj.attribute_count())
                .map(|a| {
                    let selectors = if a == 2 && obj.class_id() == 7 {
                        Value::Array(vec![Value::Integer(1), Value::Integer(2)])
                    } else {
                        Value::Null
                    };
                    Value::Structure(vec![
                        Value::Integer(a),
                        Value::Enum(access::attribute(association, *ln, a).code()),
                        selectors,
                    ])
                })
                .collect();
            let methods = (1..=obj.method_count())
                .map(|m| {
                    Value::Structure(vec![
                        Value::Integer(m),
                        Value::Enum(u8::from(access::method(association, *ln, m))),
                    ])
                })
                .collect();
            list.push(Value::Structure(vec![
                Value::LongUnsigned(obj.class_id()),
                Value::Unsigned(obj.version()),
                octets(ln.as_bytes()),
                Value::Structure(vec![Value::Array(attrs), Value::Array(methods)]),
            ]));
        }
        Value::Array(list)
    }

    /// GET: write attribute `attribute` of `ln` into `w` as `association` may see it.
    ///
    /// # Errors
    /// `object-undefined` (no such object, not visible to this association, or no such
    /// attribute), `object-class-inconsistent`, `read-write-denied` (visible, not
    /// readable here), or what the object itself refuses.
    pub fn get(
        &self,
        association: Association,
        class_id: u16,
        ln: Obis,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        let obj = self.lookup(association, class_id, ln)?;
        if !(1..=obj.attribute_count()).contains(&attribute) {
            return Err(DataAccessResult::ObjectUndefined);
        }
        if !access::attribute(association, ln, attribute).can_read() {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        match (ln, attribute) {
            (ASSOCIATION, 2) => {
                super::no_selector(selective)?;
                put(w, &self.object_list(association))
            }
            (ASSOCIATION, _) => self
                .association
                .get_for(association, attribute, selective, w),
            _ => obj.get(attribute, selective, w),
        }
    }

    /// GET into an owned value (tests, the CLI's local reads).
    ///
    /// # Errors
    /// As [`IotRouteModel::get`].
    pub fn get_value(
        &self,
        association: Association,
        class_id: u16,
        ln: Obis,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
    ) -> AccessResult<Value> {
        let mut bytes = Vec::new();
        self.get(association, class_id, ln, attribute, selective, &mut bytes)?;
        Value::decode(&bytes).map_err(|_| DataAccessResult::OtherReason)
    }

    /// SET: write an attribute as `association`.
    ///
    /// # Errors
    /// As [`IotRouteModel::get`], plus `type-unmatched` for a value of the wrong type and
    /// `other-reason` for a value out of range.
    pub fn set(
        &mut self,
        association: Association,
        class_id: u16,
        ln: Obis,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        value: &Data<'_>,
    ) -> AccessResult<()> {
        let obj = self.lookup(association, class_id, ln)?;
        if !(1..=obj.attribute_count()).contains(&attribute) {
            return Err(DataAccessResult::ObjectUndefined);
        }
        if !access::attribute(association, ln, attribute).can_write() {
            return Err(DataAccessResult::ReadWriteDenied);
        }
        super::no_selector(selective)?;
        let now = self.now;
        match (ln, attribute) {
            (ASSOCIATION, _) => {
                self.association.set_for(association, attribute, value)?;
                self.log_event(now, EventCode::SecretChanged);
                self.changes.push(ModelChange::SecretChanged(association));
            }
            (CLOCK, 2) => {
                self.clock.set(attribute, value)?;
                self.clock_changed();
            }
            (LOAD_PROFILE, 4) => {
                self.load_profile.set(attribute, value)?;
                let p = self.load_profile.capture_period();
                self.clock.set_measuring_period(p);
                self.log_event(now, EventCode::CapturePeriodChanged);
                self.changes.push(ModelChange::CapturePeriodChanged(p));
            }
            (PAIRING_ID, _) => {
                self.pairing_id.set(attribute, value)?;
                self.log_event(now, EventCode::PairingIdChanged);
                self.changes
                    .push(ModelChange::PairingIdChanged(self.pairing_id().to_owned()));
            }
            (METER_ID, 2) => {
                // SEC-07: accepting the meter connected now — the only value taken is the
                // ID it reports; the registered ID becomes it, readings are no longer
                // flagged. Any other value: the client cannot register a meter that is
                // not there.
                let Data::OctetString(id) = value else {
                    return Err(DataAccessResult::TypeUnmatched);
                };
                if id.is_empty() || *id != self.meter_id() {
                    return Err(DataAccessResult::OtherReason);
                }
                let id = id.to_vec();
                self.log_event(now, EventCode::MeterAccepted);
                self.changes.push(ModelChange::MeterAccepted(id));
            }
            (AUTH_PASSWORD, _) => {
                self.auth_password.set(attribute, value)?;
                self.log_event(now, EventCode::AuthPasswordChanged);
                self.changes.push(ModelChange::AuthPasswordChanged);
            }
            _ => {
                let obj = self.find_mut(ln).ok_or(DataAccessResult::ObjectUndefined)?;
                obj.set(attribute, value)?;
            }
        }
        Ok(())
    }

    /// The clock was set or adjusted: log it, flag the interval, tell the node.
    fn clock_changed(&mut self) {
        let now = self.now;
        self.status_bits |= status::CLOCK_ADJUSTED;
        self.log_event(now, EventCode::ClockSet);
        self.changes.push(ModelChange::ClockSet {
            offset_s: self.clock.offset().num_seconds(),
        });
    }

    /// ACTION: invoke a method as `association`; `Ok(true)` when a return value was
    /// written into `w`.
    ///
    /// # Errors
    /// The Action-Result for the client, with the same rules as [`IotRouteModel::get`].
    pub fn invoke(
        &mut self,
        association: Association,
        class_id: u16,
        ln: Obis,
        method: i8,
        parameters: Option<&Data<'_>>,
        w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        let obj = self
            .lookup(association, class_id, ln)
            .map_err(|e| ActionResult::from_u8(e.as_u8()))?;
        if !(1..=obj.method_count()).contains(&method) {
            return Err(ActionResult::ObjectUndefined);
        }
        if !access::method(association, ln, method) {
            return Err(ActionResult::ReadWriteDenied);
        }
        let now = self.now;
        match (ln, method) {
            (LOAD_PROFILE, 2) => {
                self.capture(now).map_err(|_| ActionResult::OtherReason)?;
                Ok(false)
            }
            (LOAD_PROFILE, 1) => {
                self.load_profile
                    .reset()
                    .map_err(|_| ActionResult::OtherReason)?;
                self.log_event(now, EventCode::ProfileReset);
                Ok(false)
            }
            (ASSOCIATION, 3 | 4) => {
                let element = ObjectListElement::from_data(parameters)?;
                let ln = element.logical_name;
                // The ceiling: what the access table lets this association see.
                let ceiling = self
                    .find(ln)
                    .filter(|_| access::visible(association, ln))
                    .map(|o| (o.class_id(), o.version()));
                let changed =
                    self.association
                        .change_object_list(association, method, &element, ceiling)?;
                if changed {
                    self.log_event(now, EventCode::ObjectListChanged);
                    self.changes
                        .push(ModelChange::ObjectListChanged(association));
                }
                Ok(false)
            }
            (ASSOCIATION, _) => {
                let r = self
                    .association
                    .invoke_for(association, method, parameters)?;
                self.log_event(now, EventCode::SecretChanged);
                self.changes.push(ModelChange::SecretChanged(association));
                Ok(r)
            }
            (CLOCK, _) => {
                let before = self.clock.offset();
                let r = self.clock.invoke(method, parameters, w)?;
                if self.clock.offset() != before {
                    self.clock_changed();
                }
                Ok(r)
            }
            _ => {
                let obj = self.find_mut(ln).ok_or(ActionResult::ObjectUndefined)?;
                let r = obj.invoke(method, parameters, w)?;
                match (ln, method) {
                    (PUSH_SETUP, 1) => self.changes.push(ModelChange::PushRequested),
                    (IMAGE_TRANSFER, 4) => {
                        self.log_event(now, EventCode::ImageActivated);
                        let identifier = self
                            .image_transfer
                            .activated_identifier()
                            .unwrap_or_default();
                        self.changes
                            .push(ModelChange::ImageActivated { identifier });
                    }
                    (SECURITY_SETUP, 1) => {
                        self.log_event(now, EventCode::SecurityActivated);
                        self.changes
                            .push(ModelChange::SecurityActivated(self.security_setup.policy()));
                    }
                    (SECURITY_SETUP, 2) => {
                        self.log_event(now, EventCode::KeyTransfer);
                        let ids = self.security_setup.pending_key_ids();
                        self.changes.push(ModelChange::KeyTransfer(ids));
                    }
                    _ => {}
                }
                Ok(r)
            }
        }
    }
}

/// Energy of one demo slot ending at `t` (UTC), Wh: (import, export). Deterministic, so
/// a demo server answers the same on every run for the same `now`.
fn demo_slot_wh(t: DateTime<Utc>, period: u32) -> (u64, u64) {
    // The slot *ending* at t covers the local (JST) hour of t − 1 s.
    let local_hour = t
        .checked_add_signed(Duration::seconds(9 * 3600 - 1))
        .map_or(0, |l| l.hour());
    let import_per_half_hour: u64 = match local_hour {
        0..=5 => 120,   // fridge, standby: ~240 W
        6..=8 => 380,   // breakfast, water heater
        9..=16 => 200,  // daytime, partly covered by PV
        17..=22 => 460, // cooking, lights, air conditioning
        _ => 220,
    };
    let export_per_half_hour: u64 = match local_hour {
        9 | 14 => 150,
        10 | 13 => 300,
        11 | 12 => 420,
        _ => 0,
    };
    // ±20 % variation from the slot's own timestamp (splitmix64 finaliser).
    let mut x = u64::try_from(t.timestamp())
        .unwrap_or(0)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let factor = 80 + x % 41; // 80..=120 %
    let scale = |wh: u64| wh * factor / 100 * u64::from(period) / 1800;
    (scale(import_per_half_hour), scale(export_per_half_hour))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 10, 0).unwrap()
    }

    #[test]
    fn demo_slots_look_like_a_household() {
        let noon = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap(); // 12:00 JST
        let night = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap(); // 03:00 JST
        let evening = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap(); // 19:00 JST
        let (noon_in, noon_out) = demo_slot_wh(noon, 1800);
        let (night_in, night_out) = demo_slot_wh(night, 1800);
        let (evening_in, _) = demo_slot_wh(evening, 1800);
        assert!(noon_out > 0 && night_out == 0, "PV around noon only");
        assert!(evening_in > night_in && noon_in > 0);
        assert_eq!(
            demo_slot_wh(noon, 1800),
            (noon_in, noon_out),
            "deterministic"
        );
        let (q_in, _) = demo_slot_wh(noon, 900);
        assert!(q_in <= noon_in, "a 15-minute slot holds half as much");
    }

    #[test]
    fn trm06_demo_fill_beyond_the_depth_keeps_the_newest() {
        let config = ModelConfig {
            profile_entries: 10,
            ..ModelConfig::default()
        };
        let mut m = IotRouteModel::new(&config, now()).unwrap();
        assert_eq!(m.fill_demo(2, now()), Ok(10));
        let last = m.load_profile().last_time().unwrap();
        assert_eq!(last, Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).single());
    }

    #[test]
    fn a_bad_configuration_is_a_typed_error() {
        let bad = ModelConfig {
            pairing_id: "IOT0090".into(),
            ..ModelConfig::default()
        };
        assert_eq!(
            IotRouteModel::new(&bad, now()).unwrap_err(),
            CosemError::PairingId
        );
        let bad = ModelConfig {
            capture_period: 600,
            ..ModelConfig::default()
        };
        assert_eq!(
            IotRouteModel::new(&bad, now()).unwrap_err(),
            CosemError::CapturePeriod(600)
        );
        let bad = ModelConfig {
            profile_entries: 0,
            ..ModelConfig::default()
        };
        assert!(IotRouteModel::new(&bad, now()).is_err());
    }

    #[test]
    fn config_debug_hides_passwords() {
        let s = format!("{:?}", ModelConfig::default());
        assert!(!s.contains("12345678") && !s.contains("PASSWD"), "{s}");
    }
}
