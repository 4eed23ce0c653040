//! The emulated special-case meter (特例計量器): an ECHONET Lite node with a node profile
//! and one distributed generation electric energy meter object, class 0x028E.
//!
//! Sans-IO: the runtime feeds `(now, datagram)` to [`Meter::handle`] and sends back what
//! it returns, calls [`Meter::advance`] as time passes, and persists [`Meter::state`].
//! The meter answers like a real device: Get, SetC, SetI, INF_REQ, SetGet and INFC, with
//! the right SNA and the failing properties when a request cannot be served (never
//! silence), and drops and counts whatever is not a well-formed request for one of its
//! objects.

mod profile;
mod service;
mod state;

use chrono::{DateTime, Utc};
use echonet::energy::EnergyUnit;
use echonet::{Eoj, Esv, Message, Property, PropertyMap, Repr};
use serde::Serialize;

pub use profile::{Power, Profile, ProfileParseError};
pub use state::{Channel, Counter, DayHistory, FixedTime, MeterState};

/// The meter object's EOJ.
pub const METER_EOJ: Eoj = Eoj::new(0x02, 0x8E, 0x01);

/// Maker code we announce (0x8A): 0xFFFFFF is reserved by the ECHONET Consortium for
/// experimental use, which is what an emulator is.
pub const MAKER_CODE: [u8; 3] = [0xFF, 0xFF, 0xFF];

/// How the emulated meter is built.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterConfig {
    /// 0xD4.
    pub unit: EnergyUnit,
    /// 0xD1.
    pub device_id: Vec<u8>,
    /// 0xD6: identification number of the metered device.
    pub metered_device_id: Vec<u8>,
    /// 0xD0: kind of the metered device. We serve the class code of a residential PV
    /// power generation object (0x0279); the Appendix text that fixes this field is not
    /// available to us (see docs/echonet-028e.md).
    pub device_type: Vec<u8>,
    /// 0xD2.
    pub tolerance_class: u8,
    /// 0xD3.
    pub days_held: u16,
    pub profile: Profile,
}

impl Default for MeterConfig {
    fn default() -> MeterConfig {
        MeterConfig {
            unit: EnergyUnit::Kwh0_001,
            device_id: b"IOTROUTE-EMU-0001".to_vec(),
            metered_device_id: b"PV-INVERTER-0001".to_vec(),
            device_type: vec![0x02, 0x79],
            tolerance_class: 0x01,
            days_held: 45,
            profile: Profile::default(),
        }
    }
}

/// Counts of what the meter received, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MeterStats {
    /// Requests answered (or accepted silently, for SetI).
    pub requests: u64,
    /// Requests answered with an SNA.
    pub sna: u64,
    /// Datagrams that are not ECHONET Lite frames.
    pub malformed: u64,
    /// Format 2 frames: valid, but a meter has nothing to do with them.
    pub unsupported: u64,
    /// Well-formed frames that are not requests for one of our objects.
    pub ignored: u64,
}

/// The emulated meter.
#[derive(Debug)]
pub struct Meter {
    config: MeterConfig,
    state: MeterState,
    stats: MeterStats,
    tid: u16,
    /// Keeps a flood of bad datagrams from flooding the log; the stats count them all.
    log_budget: crate::log_limit::LogLimiter,
}

impl Meter {
    /// A new meter with counters at `start_in` / `start_out` counts.
    pub fn new(config: MeterConfig, start_in: u32, start_out: u32, now: DateTime<Utc>) -> Meter {
        let state = MeterState::new(start_in, start_out, config.days_held, now);
        Meter::from_state(config, state)
    }

    /// A meter resumed from a saved state.
    pub fn from_state(config: MeterConfig, mut state: MeterState) -> Meter {
        state.days_held = config.days_held.max(1);
        Meter {
            config,
            state,
            stats: MeterStats::default(),
            tid: 0,
            log_budget: crate::log_limit::LogLimiter::default(),
        }
    }

    pub fn config(&self) -> &MeterConfig {
        &self.config
    }

    pub fn state(&self) -> &MeterState {
        &self.state
    }

    pub fn stats(&self) -> MeterStats {
        self.stats
    }

    /// Integrates the counters up to `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        self.state
            .advance(now, &self.config.profile, self.config.unit);
    }

    /// The INF of the instance list (0xD5) a node multicasts when it starts.
    pub fn announcement(&mut self) -> Vec<u8> {
        let tid = self.next_tid();
        let edt = service::instance_list();
        let msg = Message::new(
            tid,
            Eoj::NODE_PROFILE,
            Eoj::NODE_PROFILE,
            Esv::Inf,
            vec![Property::new(0xD5, edt)],
        );
        Repr::from(msg).to_vec().unwrap_or_default()
    }

    fn next_tid(&mut self) -> u16 {
        self.tid = self.tid.wrapping_add(1);
        self.tid
    }

    /// Get map of the meter object.
    pub fn get_map() -> PropertyMap {
        service::meter_maps().get
    }
}
