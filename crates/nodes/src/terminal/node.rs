//! The terminal node's meter side and its DLMS view (TRM-02/03/05/06): the ECHONET
//! controller reading the meter at every slot ([`super::reader`]), the reading store
//! (the truth), and the DLMS/COSEM model of docs/iot-route-cosem.md as the store's
//! view — the load profile shows the store's rows where they are kept ([`super::view`]:
//! a recovered value shows in the row it fills) and the newest row sets the registers,
//! so what the smart meter or the handy terminal reads over DLMS is what the meter said.
//!
//! What clients change in the model the node acts on: a clock set by the smart meter or
//! the handy terminal becomes the terminal's clock (rows are no longer flagged, and the
//! meter's clock is set over ECHONET Lite where it allows it, TRM-09); a new capture
//! period switches the reading interval at the next boundary (TRM-11).
//!
//! The DLMS server engines and the IoT-route link are the driver's for now: it builds
//! `dlms::server::TerminalServer` over [`TerminalNode::model`] (as `dlms serve` does).
//! Sans-IO: the driver feeds datagrams and both clocks in, and sends what comes out.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use dlms::cipher::SystemTitle;
use dlms::cosem::{CosemError, EventCode, IotRouteModel, ModelChange, ModelConfig, Value};
use dlms::push::{PushSender, PUSH_DESTINATION_WPORT};
use dlms::server::{shared, SharedModel};
use dlms::wrapper::Wpdu;
use echonet::Eoj;

use super::guard::EchonetGuard;
use super::led::{Led, LedInputs, LinkView};
use super::meters::{MeterSide, SERVED};
use super::reader::{ReaderConfig, ReaderStats, SlotReader};
use super::slots::Interval;
use super::store::{MeterKey, Put, Reading, ReadingStore, SharedStore, StoreError};
use super::view::{energy_wh, profile_status, StoreRows};
use crate::controller::{Controller, ControllerConfig, Transmit};
use crate::flood::{FloodConfig, FloodReport, FloodSide};

/// How the node is set up.
#[derive(Debug, Clone)]
pub struct TerminalNodeConfig {
    /// The meter's address (registered: answers from anywhere else are dropped, SEC-06).
    pub meter: IpAddr,
    /// The meter object.
    pub meter_eoj: Eoj,
    /// The reading interval at start: also the load profile's capture period its DLMS
    /// clients read (whatever `model` says, TRM-11).
    pub interval: Interval,
    /// Retries of the slot reader.
    pub reader: ReaderConfig,
    /// The ECHONET controller.
    pub controller: ControllerConfig,
    /// The DLMS model (IDs, passwords, depth).
    pub model: ModelConfig,
    /// The meter ID (0xD1) registered for this terminal (SEC-07); `None`: the one the
    /// store's newest unflagged reading holds, else the first read.
    pub meter_id: Option<Vec<u8>>,
    /// The ECHONET side's gate (SEC-06 source filter, SEC-08 flood detection).
    pub guard: FloodConfig,
    /// How long rows are kept (default [`DEFAULT_RETENTION_DAYS`]): older ones are dropped
    /// once a slot is stored, so the store stays bounded on disk.
    pub retention: TimeDelta,
    /// How the management association's secret follows the authentication password.
    pub management_secret: ManagementSecret,
}

/// The management association's LLS secret (the smart meter's), as a function of the
/// terminal's authentication password (TRM-08: a new password works from the next
/// association), so that both ends can derive it from what they share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagementSecret {
    /// The password itself (no IoT route: a lab set-up).
    Password,
    /// Derived from the terminal's EUI-64 and the password
    /// ([`crate::app::secrets::dlms_password`]), as the smart meter derives it.
    Derived {
        /// The terminal's EUI-64.
        eui64: [u8; 8],
    },
}

impl ManagementSecret {
    /// The secret for `password`.
    #[must_use]
    pub fn of(self, password: &[u8]) -> Vec<u8> {
        match self {
            Self::Password => password.to_vec(),
            Self::Derived { eui64 } => crate::app::secrets::dlms_password(eui64, password),
        }
    }
}

/// Pushes kept for a driver that has not sent them (TRM-05): the newest win.
const PUSH_QUEUE: usize = 16;

/// Rows kept, days, unless configured otherwise (the default: the 90 days a
/// backfill can ask for).
pub const DEFAULT_RETENTION_DAYS: i64 = 90;

/// Why the node stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The store failed: the reading could not be kept (the driver must not go on as if
    /// it had been).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The DLMS model could not be built or refused a row.
    #[error("DLMS model: {0}")]
    Model(String),
}

impl From<CosemError> for NodeError {
    fn from(e: CosemError) -> Self {
        Self::Model(e.to_string())
    }
}

/// A store that lets the node see what the readers wrote, to put it in the DLMS view.
struct Noting<'a> {
    inner: &'a mut dyn ReadingStore,
    written: Vec<(MeterKey, Reading)>,
}

impl ReadingStore for Noting<'_> {
    fn put(&mut self, meter: MeterKey, row: &Reading) -> Result<Put, StoreError> {
        let put = self.inner.put(meter, row)?;
        if put != Put::Unchanged {
            self.written.push((meter, row.clone()));
        }
        Ok(put)
    }

    fn range(
        &self,
        meter: MeterKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Reading>, StoreError> {
        self.inner.range(meter, from, to)
    }

    fn last(&self, meter: MeterKey) -> Result<Option<Reading>, StoreError> {
        self.inner.last(meter)
    }

    fn prune_before(&mut self, t: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.prune_before(t)
    }
}

/// What the node reports (for the logs, SEC-09, and `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A client set the terminal's clock: it now runs `offset_s` from the time source.
    ClockSet {
        /// Offset from the driver's clock, seconds.
        offset_s: i64,
    },
    /// The meter's clock was set after the terminal's (TRM-09), or could not be.
    MeterClock(Result<(), String>),
    /// The reading interval switches at the next boundary (TRM-11).
    IntervalSwitch(Interval),
    /// The rows follow `interval` from boundary `from` on (TRM-11): the switch took
    /// effect there, or the terminal restarted with another interval than its last
    /// row's and `from` is the first boundary it wrote since.
    IntervalSwitched {
        /// The first boundary on the new interval (the terminal's clock).
        from: DateTime<Utc>,
        /// The interval.
        interval: Interval,
    },
    /// A reading came from a meter whose ID is not the registered one (SEC-07): the
    /// row is flagged, and so are the next ones until the new meter is accepted.
    MeterIdMismatch {
        /// The registered ID.
        registered: Vec<u8>,
        /// The ID read.
        read: Vec<u8>,
    },
    /// A flood on one of the terminal's interfaces (SEC-08); readings go on.
    Dos(FloodReport),
    /// The LED changed (TRM-10).
    Led(Led),
    /// A client changed a setting (TRM-08): the driver keeps the settings
    /// ([`super::settings::Settings::of`] the model).
    SettingsChanged(Setting),
    /// A firmware image was activated (SEC-10), verified by the image transfer (the
    /// vendor's signature and [`super::firmware::TerminalImages`]): the driver installs
    /// `payload`'s program in the inactive slot and hands over to the launcher.
    FirmwareActivated {
        /// Its manifest.
        manifest: super::firmware::Manifest,
        /// The terminal program as the image carries it, checked against the manifest,
        /// where the image store keeps it (the driver unpacks it into the slot:
        /// [`super::firmware::unpack`] from [`super::firmware::Packed::reader`]).
        payload: super::firmware::Packed,
    },
    /// An activated image could not be read (it verified, so this is a bug or a
    /// policy-less model): nothing is installed.
    FirmwareRefused(String),
}

/// Which setting changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The Pairing ID (the link rescans with it at its next scan).
    PairingId,
    /// The device authentication password: the maintenance association's from its next
    /// association.
    AuthPassword,
    /// An association's secret.
    AssociationSecret(dlms::cosem::Association),
    /// The reading interval (also reported as [`NodeEvent::IntervalSwitch`]).
    Interval,
    /// The registered meter: a client accepted the one connected now (SEC-07).
    RegisteredMeter,
}

/// The node.
pub struct TerminalNode {
    guard: EchonetGuard,
    controller: Controller,
    /// The meters it serves, each with its reader and rows (SYS-04: one today).
    meters: Vec<MeterSide>,
    /// The rows, shared with the load profile that shows them.
    store: SharedStore,
    model: SharedModel,
    /// The terminal's clock: the driver's plus this (set by a client, TRM-09).
    clock_offset: TimeDelta,
    events: std::collections::VecDeque<NodeEvent>,
    /// The IoT route as the driver last reported it (TRM-10).
    link: LinkView,
    /// The store failed: the terminal cannot keep readings.
    fault: bool,
    /// A firmware image was activated: the driver is installing it (TRM-10 `updating`).
    updating: bool,
    /// Builds the slot pushes (TRM-05): plain, the link below is CCM*-secured.
    push_sender: PushSender,
    /// Pushes built, for the driver to send to the smart meter.
    pushes: std::collections::VecDeque<Vec<u8>>,
    /// Floods reported (SEC-08), every interface.
    floods: u64,
    led: Led,
    /// The LED the head end was last told of (an alarm, or connected after one).
    led_told: Led,
    /// An LED change to push at the next poll (TRM-10).
    led_to_tell: Option<Led>,
    retention: TimeDelta,
    /// The newest slot retention was applied after.
    pruned_after: Option<DateTime<Utc>>,
    /// How the management secret follows the authentication password (TRM-08).
    management_secret: ManagementSecret,
}

impl core::fmt::Debug for TerminalNode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TerminalNode")
            .field("meters", &self.meters)
            .finish_non_exhaustive()
    }
}

impl TerminalNode {
    /// The node at `wall`: the DLMS view rebuilt from the store (as deep as the profile),
    /// slots missed while it was down written missing, the next boundary to read.
    ///
    /// # Errors
    /// [`NodeError`] when the store or the model fails.
    pub fn new(
        config: TerminalNodeConfig,
        mut store: SharedStore,
        wall: DateTime<Utc>,
    ) -> Result<Self, NodeError> {
        // TRM-11: the interval it reads on is the capture period its clients see.
        let capture_period = u32::try_from(config.interval.seconds()).unwrap_or(1800);
        let mut model = IotRouteModel::new(
            &dlms::cosem::ModelConfig {
                capture_period,
                ..config.model.clone()
            },
            wall,
        )?;
        // The load profile shows the served meter's rows where they are kept (TRM-06).
        model.view_load_profile(std::sync::Arc::new(StoreRows::new(store.clone(), SERVED)));
        let depth = i64::from(model.load_profile().profile_entries()) * config.interval.seconds();
        let model = shared(model);
        let since = wall - TimeDelta::seconds(depth);
        // One meter per terminal (SYS-04), as the first of the collection.
        let mut reader = SlotReader::resume(
            config.reader,
            MeterKey::FIRST,
            config.meter,
            config.meter_eoj,
            config.interval,
            wall,
            &mut store,
        )?;
        let kept = store
            .range(reader.key(), since, wall)?
            .into_iter()
            .rev()
            .find(|r| !r.status.has(super::store::Status::METER_ID_MISMATCH))
            .and_then(|r| r.meter_id);
        if let Some(id) = config.meter_id.clone().or(kept) {
            reader.register_meter(id);
        }
        let meters = vec![MeterSide::new(reader)];
        let addresses: Vec<IpAddr> = meters.iter().map(|m| m.reader.meter().0).collect();
        let mut node = Self {
            guard: EchonetGuard::new(config.guard, &addresses),
            controller: Controller::new(config.controller),
            meters,
            store,
            model,
            clock_offset: TimeDelta::zero(),
            events: std::collections::VecDeque::new(),
            floods: 0,
            link: LinkView::Absent,
            fault: false,
            updating: false,
            push_sender: PushSender::new(
                None,
                None,
                SystemTitle(config.model.server_system_title),
                0,
            )
            .map_err(|e| NodeError::Model(e.to_string()))?,
            pushes: std::collections::VecDeque::new(),
            led: Led::Off,
            led_told: Led::Connected,
            led_to_tell: None,
            retention: config.retention,
            pruned_after: None,
            management_secret: config.management_secret,
        };
        node.take_auth_password()?;
        node.take_switches(wall)?;
        // Nobody has set the terminal's clock yet (TRM-09).
        node.set_clock_valid(false);
        // The DLMS view rebuilt from the rows, the missing ones just written included.
        let keys: Vec<MeterKey> = node.meters.iter().map(MeterSide::key).collect();
        for key in keys {
            let rows: Vec<_> = node
                .store
                .range(key, since, wall)?
                .into_iter()
                .map(|r| (key, r))
                .collect();
            node.apply(&rows, None)?;
        }
        Ok(node)
    }

    /// The authentication password the model holds now becomes the maintenance
    /// association's secret (the handy terminal logs in with it) and, through
    /// [`ManagementSecret`], the management association's (TRM-08). A secret that is no
    /// LLS secret (1 to 32 bytes) is logged and the old one kept.
    fn take_auth_password(&self) -> Result<(), NodeError> {
        let mut model = self
            .model
            .lock()
            .map_err(|_| NodeError::Model("model lock poisoned".to_owned()))?;
        let password = model.auth_password().to_vec();
        for (association, secret) in [
            (dlms::cosem::Association::Maintenance, password.clone()),
            (
                dlms::cosem::Association::Management,
                self.management_secret.of(&password),
            ),
        ] {
            if let Err(e) = model
                .association_mut()
                .set_initial_secret(association, &secret)
            {
                tracing::warn!(?association, error = ?e, "the password makes no LLS secret (1 to 32 bytes): the old one kept");
            }
        }
        Ok(())
    }

    /// The DLMS model the driver serves (the store's view).
    #[must_use]
    pub fn model(&self) -> SharedModel {
        self.model.clone()
    }

    /// The store (the handy terminal's and the smart meter's backfill reads go here, and
    /// `status`).
    #[must_use]
    pub fn store(&self) -> &dyn ReadingStore {
        &self.store
    }

    /// The slot readers' counters, every meter's together.
    #[must_use]
    pub fn reader_stats(&self) -> ReaderStats {
        self.meters
            .iter()
            .fold(ReaderStats::default(), |sum, m| sum.plus(m.reader.stats()))
    }

    /// The ECHONET controller (its counters: SEC-06 evidence).
    #[must_use]
    pub const fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Whether the terminal's clock has been set (TRM-09): its rows are flagged and its
    /// DLMS clock says invalid until it is.
    pub fn set_clock_valid(&mut self, valid: bool) {
        for m in &mut self.meters {
            m.reader.set_clock_valid(valid);
        }
        match self.model.lock() {
            Ok(mut m) => m.set_clock_valid(valid),
            Err(_) => tracing::error!("model lock poisoned: clock status not set"),
        }
    }

    /// When to call [`TerminalNode::poll`] next: the controller's deadline (monotonic)
    /// and the readers' (the driver's wall clock), whichever comes first for the driver.
    #[must_use]
    pub fn next_wakeup(&self) -> (Option<Instant>, DateTime<Utc>) {
        let reader = self
            .meters
            .iter()
            .map(|m| m.reader.next_wakeup())
            .min()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (self.controller.poll_timeout(), reader - self.clock_offset)
    }

    /// Whether [`TerminalNode::poll`] at `now` (`wall`, the driver's clock) has
    /// something to do besides the model's changes — a timer due, an LED change to
    /// tell —: a driver that knows when its DLMS server may have changed the model
    /// polls only then (a simulated terminal wakes about ten times a reading).
    #[must_use]
    pub fn has_work(&self, now: Instant, wall: DateTime<Utc>) -> bool {
        let (deadline, reader) = self.next_wakeup();
        deadline.is_some_and(|d| d <= now) || reader <= wall || self.led_to_tell.is_some()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        crate::queue::pop_front(&mut self.events)
    }

    /// The terminal's clock at the driver's `wall` (the driver's plus what a client set,
    /// TRM-09).
    #[must_use]
    pub fn clock(&self, wall: DateTime<Utc>) -> DateTime<Utc> {
        wall + self.clock_offset
    }

    /// Act on what clients changed in the model (TRM-09, TRM-11).
    fn model_changes(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), NodeError> {
        let (changes, clock_offset) = {
            let mut m = self
                .model
                .lock()
                .map_err(|_| NodeError::Model("model lock poisoned".to_owned()))?;
            (m.take_changes(), m.clock().offset())
        };
        for change in changes {
            match change {
                ModelChange::ClockSet { offset_s } => {
                    // The model's offset to the millisecond: whole seconds would put the
                    // terminal's slots and its DLMS clock a fraction apart.
                    self.clock_offset = clock_offset;
                    self.events.push_back(NodeEvent::ClockSet { offset_s });
                    let local = (self.clock(wall) + TimeDelta::hours(9)).naive_utc();
                    for m in &mut self.meters {
                        m.reader.set_clock_valid(true);
                        let (address, eoj) = m.reader.meter();
                        match self.controller.set_clock(now, address, eoj, local) {
                            Ok(id) => m.clock_request = Some(id),
                            Err(e) => self
                                .events
                                .push_back(NodeEvent::MeterClock(Err(e.to_string()))),
                        }
                    }
                }
                ModelChange::CapturePeriodChanged(seconds) => {
                    if let Some(i) = Interval::from_seconds(seconds) {
                        for m in &mut self.meters {
                            m.reader.switch_interval(i);
                        }
                        self.events.push_back(NodeEvent::IntervalSwitch(i));
                    }
                    self.events
                        .push_back(NodeEvent::SettingsChanged(Setting::Interval));
                }
                ModelChange::PairingIdChanged(_) => {
                    self.events
                        .push_back(NodeEvent::SettingsChanged(Setting::PairingId));
                }
                ModelChange::AuthPasswordChanged => {
                    // TRM-08: the new password from the next association (this one goes
                    // on), for the handy terminal and the smart meter alike.
                    self.take_auth_password()?;
                    self.events
                        .push_back(NodeEvent::SettingsChanged(Setting::AuthPassword));
                }
                ModelChange::SecretChanged(a) => {
                    self.events
                        .push_back(NodeEvent::SettingsChanged(Setting::AssociationSecret(a)));
                }
                ModelChange::ImageActivated { .. } => self.image_activated()?,
                ModelChange::PushRequested => self.push(wall)?,
                ModelChange::MeterAccepted(id) => {
                    self.accept_meter(id);
                    self.events
                        .push_back(NodeEvent::SettingsChanged(Setting::RegisteredMeter));
                }
                other => tracing::debug!(change = ?other, "model change not the meter side's"),
            }
        }
        Ok(())
    }

    /// Take the activated image from the model (SEC-10).
    fn image_activated(&mut self) -> Result<(), NodeError> {
        let taken = self
            .model
            .lock()
            .map_err(|_| NodeError::Model("model lock poisoned".to_owned()))?
            .take_activated_image();
        let Some((_, firmware)) = taken else {
            return Ok(());
        };
        // Read from the image store, never whole in memory (SEC-10).
        let checked = super::firmware::parse(&mut std::io::BufReader::new(firmware.reader(0)));
        match checked {
            Ok((manifest, at)) => {
                self.events.push_back(NodeEvent::FirmwareActivated {
                    manifest,
                    payload: super::firmware::Packed::new(firmware, at),
                });
                self.updating = true;
                self.refresh_led();
            }
            Err(e) => self
                .events
                .push_back(NodeEvent::FirmwareRefused(e.to_string())),
        }
        Ok(())
    }

    /// Timers due: the controller's retransmissions and timeouts, the reader's slots.
    ///
    /// # Errors
    /// [`NodeError`]: a row could not be stored or shown.
    pub fn poll(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), NodeError> {
        let result = self.timers(now, wall);
        self.noted(result)
    }

    fn timers(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), NodeError> {
        self.model_changes(now, wall)?;
        let wall = self.clock(wall);
        self.controller.handle_timeout(now);
        self.drain_events(now, wall)?;
        self.tell_led(wall)?;
        let mut noting = Noting {
            inner: &mut self.store,
            written: Vec::new(),
        };
        for m in &mut self.meters {
            m.reader
                .poll(now, wall, &mut self.controller, &mut noting)?;
        }
        let written = noting.written;
        self.take_switches(wall)?;
        // `wall` is the terminal's clock; the model takes the driver's.
        self.apply(&written, Some(wall - self.clock_offset))
    }

    /// The readers' interval switches that took effect (TRM-11), at `wall` (the
    /// terminal's clock): told to the driver, and to the smart meter as event 16, whose
    /// relay labels the rows by it.
    fn take_switches(&mut self, wall: DateTime<Utc>) -> Result<(), NodeError> {
        let switches: Vec<_> = self
            .meters
            .iter_mut()
            .filter_map(|m| m.reader.take_switch())
            .collect();
        for (from, interval) in switches {
            self.events
                .push_back(NodeEvent::IntervalSwitched { from, interval });
            let boundary = dlms::cosem::to_cosem(from, dlms::datetime::JST_DEVIATION, 0);
            let details = vec![
                Value::DoubleLongUnsigned(u32::try_from(interval.seconds()).unwrap_or(1800)),
                Value::clock_octet_string(&boundary),
            ];
            self.push_event(wall, EventCode::IntervalSwitched, details)?;
        }
        Ok(())
    }

    /// The reading interval in force (the served meter's reader's, TRM-11).
    #[must_use]
    pub fn interval(&self) -> Interval {
        self.meters
            .first()
            .map_or(Interval::Half, |m| m.reader.interval())
    }

    /// Retention: after a new slot is stored (or the store is opened), drop the rows
    /// older than the retention before it.
    fn prune(&mut self) -> Result<(), NodeError> {
        let Some(newest) = self
            .meters
            .iter()
            .filter_map(|m| m.last_slot.map(|(slot, _)| slot))
            .max()
        else {
            return Ok(());
        };
        if self.pruned_after.is_some_and(|p| p >= newest) {
            return Ok(());
        }
        self.pruned_after = Some(newest);
        let dropped = self.store.prune_before(newest - self.retention)?;
        if dropped > 0 {
            tracing::info!(dropped, before = %(newest - self.retention), "rows past retention dropped");
        }
        Ok(())
    }

    /// An ECHONET Lite datagram from `from`: the meter's answers. One from another
    /// address is dropped unparsed by the gate, anything else unasked for by the
    /// controller, both counted (SEC-06); floods raise [`NodeEvent::Dos`] (SEC-08).
    ///
    /// # Errors
    /// [`NodeError`]: a row could not be stored or shown.
    pub fn handle_echonet(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), NodeError> {
        let (admitted, alarm) = self.guard.admit(now, from.ip());
        if let Some(alarm) = alarm {
            self.report_flood(wall, &alarm.report(FloodSide::Echonet))?;
        }
        if !admitted {
            return Ok(());
        }
        let result = self.model_changes(now, wall).and_then(|()| {
            let wall = self.clock(wall);
            self.controller.handle_datagram(now, from, datagram);
            self.drain_events(now, wall)?;
            self.tell_led(wall)
        });
        self.noted(result)
    }

    /// Push the LED change waiting to be told (TRM-10), at `wall`: in the event log and
    /// to the smart meter (event 15).
    fn tell_led(&mut self, wall: DateTime<Utc>) -> Result<(), NodeError> {
        let Some(led) = self.led_to_tell.take() else {
            return Ok(());
        };
        self.led_told = led;
        let name = Value::VisibleString(led.name().as_bytes().to_vec());
        self.push_event(wall, EventCode::LedChanged, vec![name])
    }

    /// A store failure turns the LED to error (TRM-10) before the driver hears of it.
    fn noted(&mut self, result: Result<(), NodeError>) -> Result<(), NodeError> {
        if let Err(NodeError::Store(e)) = &result {
            tracing::error!(error = %e, "the store failed: readings cannot be kept");
            self.fault = true;
            self.refresh_led();
        }
        result
    }

    /// The IoT route's phase, from the driver that runs the link (TRM-10).
    pub fn set_link(&mut self, link: LinkView) {
        // Told at every frame a simulated terminal acts on: the LED is looked at again
        // only when the link moved (its other inputs look at it when they change).
        if link != self.link {
            self.link = link;
            self.refresh_led();
        }
    }

    /// What the LED shows (TRM-10).
    #[must_use]
    pub const fn led(&self) -> Led {
        self.led
    }

    /// The registered meter ID (SEC-07) of the meter the DLMS model serves, if any.
    #[must_use]
    pub fn registered_meter(&self) -> Option<&[u8]> {
        self.served()?.reader.registered_meter()
    }

    /// The meter the DLMS model shows ([`SERVED`]).
    fn served(&self) -> Option<&MeterSide> {
        self.meters.iter().find(|m| m.key() == SERVED)
    }

    fn refresh_led(&mut self) {
        let led = Led::of(LedInputs {
            link: self.link,
            meter_ok: self
                .meters
                .iter()
                .all(|m| m.last_slot.is_none_or(|(_, ok)| ok)),
            updating: self.updating,
            error: self.fault,
        });
        if led != self.led {
            tracing::info!(led = led.name(), pattern = led.pattern(), "LED");
            self.led = led;
            self.events.push_back(NodeEvent::Led(led));
            // The head end hears of an alarm and of its end, not of the link's phases
            // (its smart meter tells those): pushed at the next poll, which has a clock.
            let alarm = matches!(led, Led::MeterError | Led::Error | Led::Updating);
            if alarm || (led == Led::Connected && self.led_told != Led::Connected) {
                self.led_to_tell = Some(led);
            }
        }
    }

    /// ECHONET Lite datagrams dropped so far, by reason (SEC-06): `foreign_source` (not
    /// the meter's address), then the controller's `malformed`, `unsolicited`,
    /// `mismatched`, `late` and `notifications`.
    #[must_use]
    pub fn echonet_dropped(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let c = self.controller.stats();
        [
            ("foreign_source", self.guard.foreign_dropped()),
            ("malformed", c.malformed),
            ("unsolicited", c.unsolicited),
            ("mismatched", c.mismatched),
            ("late", c.late),
            ("notifications", c.notifications),
        ]
        .into_iter()
        .collect()
    }

    /// Floods detected so far on every interface (SEC-08): by the node's gate on the
    /// ECHONET side, by the drivers on the others ([`Self::report_flood`]).
    #[must_use]
    pub const fn dos_events(&self) -> u64 {
        self.floods
    }

    /// The next slot push (TRM-05): a wrapper datagram (server wPort 1 to the management
    /// client's 1) carrying an unconfirmed Data-Notification of the push setup's
    /// objects, for the driver to send to the smart meter.
    pub fn poll_push(&mut self) -> Option<Vec<u8>> {
        crate::queue::pop_front(&mut self.pushes)
    }

    /// A flood detected (SEC-08) — on the ECHONET side by the node's gate, or on another
    /// of the terminal's sockets by its driver: written to the event log (code 13) and
    /// pushed to the smart meter with its source and count. `wall`: the driver's clock.
    ///
    /// # Errors
    /// [`NodeError::Model`] when the model's lock is poisoned.
    pub fn report_flood(
        &mut self,
        wall: DateTime<Utc>,
        flood: &FloodReport,
    ) -> Result<(), NodeError> {
        self.floods += 1;
        self.events.push_back(NodeEvent::Dos(flood.clone()));
        let details = vec![
            Value::OctetString(flood.source.clone().unwrap_or_default().into_bytes()),
            Value::DoubleLongUnsigned(flood.count),
        ];
        self.push_event(wall, EventCode::FloodDetected, details)
    }

    /// Build one push of the push setup's objects as they are at the driver's `wall`.
    fn push(&mut self, wall: DateTime<Utc>) -> Result<(), NodeError> {
        let (body, clock) = {
            let mut m = self
                .model
                .lock()
                .map_err(|_| NodeError::Model("model lock poisoned".to_owned()))?;
            m.set_now(wall);
            (m.push_body(), m.clock_time())
        };
        self.queue_push(clock, &body);
        Ok(())
    }

    /// An event for the smart meter (ours, docs/iot-route-cosem.md): logged in the
    /// event log and pushed as `{event code, clock, details}` — told apart from a slot
    /// push by its first element, a long-unsigned rather than a logical name.
    fn push_event(
        &mut self,
        wall: DateTime<Utc>,
        code: EventCode,
        details: Vec<Value>,
    ) -> Result<(), NodeError> {
        let clock = {
            let mut m = self
                .model
                .lock()
                .map_err(|_| NodeError::Model("model lock poisoned".to_owned()))?;
            m.set_now(wall);
            m.log_event(wall, code);
            m.clock_time()
        };
        let at = dlms::cosem::to_cosem(clock, dlms::datetime::JST_DEVIATION, 0);
        let body = Value::Structure(vec![
            Value::LongUnsigned(code.code()),
            Value::clock_octet_string(&at),
            Value::Structure(details),
        ]);
        self.queue_push(clock, &body);
        Ok(())
    }

    /// Frame a push of `body` captured at `clock` and queue it for the driver.
    fn queue_push(&mut self, clock: DateTime<Utc>, body: &Value) {
        let at = dlms::cosem::to_cosem(clock, dlms::datetime::JST_DEVIATION, 0);
        let apdu = match self.push_sender.notify(Some(at), body) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "push not built");
                return;
            }
        };
        match Wpdu::new(1, PUSH_DESTINATION_WPORT, &apdu).emit() {
            Ok(d) => {
                // A bounded queue: a driver without a smart meter to send to never
                // lets it grow (the profile keeps the values for backfill anyway).
                if self.pushes.len() >= PUSH_QUEUE {
                    self.pushes.pop_front();
                }
                self.pushes.push_back(d);
            }
            Err(e) => tracing::error!(error = %e, "push not framed"),
        }
    }

    /// The next ECHONET Lite datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.controller.poll_transmit()
    }

    fn drain_events(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), NodeError> {
        let mut noting = Noting {
            inner: &mut self.store,
            written: Vec::new(),
        };
        while let Some(event) = self.controller.poll_event() {
            if let crate::controller::Event::ClockSet { id, result } = &event {
                if let Some(m) = self
                    .meters
                    .iter_mut()
                    .find(|m| m.clock_request == Some(*id))
                {
                    m.clock_request = None;
                    let outcome = result.as_ref().map(|_| ()).map_err(ToString::to_string);
                    self.events.push_back(NodeEvent::MeterClock(outcome));
                    continue;
                }
            }
            // The reader whose request it answers takes it.
            let mut ours = false;
            for m in &mut self.meters {
                ours = m
                    .reader
                    .handle(now, wall, &event, &mut self.controller, &mut noting)?;
                if ours {
                    break;
                }
            }
            if !ours {
                tracing::debug!(?event, "controller event not a reader's");
            }
        }
        let written = noting.written;
        self.apply(&written, Some(wall - self.clock_offset))
    }

    /// Accept the meter now connected (its ID read last) as the registered one
    /// (SEC-07: the handy terminal or the smart meter decides, over DLMS); readings are
    /// no longer flagged.
    fn accept_meter(&mut self, id: Vec<u8>) {
        tracing::info!(id = %String::from_utf8_lossy(&id), "meter accepted");
        if let Some(m) = self.meters.iter_mut().find(|m| m.key() == SERVED) {
            m.reader.register_meter(id);
            m.mismatch_pushed = None;
        }
    }

    /// Show rows written to the store in the DLMS view (the served meter's, [`SERVED`]:
    /// the registers and status of the newest; the load profile reads the store itself)
    /// and a mismatched meter ID into the events and the model's meter ID object, whose
    /// change the model logs. When `push_at` (the driver's wall clock) is given: a row
    /// for a slot newer than any before is pushed (TRM-05), and a meter ID not pushed yet
    /// goes to the smart meter as an event with both IDs (SEC-07).
    fn apply(
        &mut self,
        rows: &[(MeterKey, Reading)],
        push_at: Option<DateTime<Utc>>,
    ) -> Result<(), NodeError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut model = self
            .model
            .lock()
            .map_err(|_| NodeError::Model("model lock poisoned".to_owned()))?;
        let mut new_slot = false;
        let mut mismatches = Vec::new();
        for (key, row) in rows {
            // Rows come from the meters' own readers: every key is one of them.
            let Some(m) = self.meters.iter_mut().find(|m| m.key() == *key) else {
                continue;
            };
            new_slot |= m.last_slot.is_none_or(|(slot, _)| row.slot > slot);
            if m.last_slot.is_none_or(|(slot, _)| row.slot >= slot) {
                m.last_slot = Some((row.slot, !row.is_missing()));
            }
            let served = *key == SERVED;
            if served {
                model.put_slot(row.slot, energy_wh(row), profile_status(row))?;
            }
            let (Some(read), Some(at)) = (&row.meter_id, row.read_at) else {
                continue;
            };
            if served && model.meter_id() != read.as_slice() {
                model.set_meter_id(at, read)?;
            }
            if row.status.has(super::store::Status::METER_ID_MISMATCH) {
                let registered = m.reader.registered_meter().unwrap_or_default().to_vec();
                self.events.push_back(NodeEvent::MeterIdMismatch {
                    registered: registered.clone(),
                    read: read.clone(),
                });
                if push_at.is_some() && m.mismatch_pushed.as_ref() != Some(read) {
                    m.mismatch_pushed = Some(read.clone());
                    mismatches.push((registered, read.clone()));
                }
            }
        }
        drop(model);
        if let Some(wall) = push_at {
            for (registered, read) in mismatches {
                let details = vec![Value::OctetString(registered), Value::OctetString(read)];
                self.push_event(wall, EventCode::MeterIdChanged, details)?;
            }
            if new_slot {
                self.push(wall)?;
            }
        }
        self.refresh_led();
        self.prune()
    }
}
