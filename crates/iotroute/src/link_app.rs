//! What runs on top of the IoT-route link at each end, shared by the in-process
//! simulation (`sim --link`) and the node programs on the ZEP hub (`iotroute terminal`,
//! `iotroute smartmeter`): the terminal serving the `dlms serve` demo model over UDP 4059,
//! and the smart meter's reading sessions (TRM-06).
//!
//! A reading session: LLS association on the management client wPort (1), both energy
//! registers, the load profile of the last six hours by range (backfill: a slot missed by
//! one reading is read by the next), release. A session with no answer for
//! [`SESSION_TIMEOUT`] is dropped; the caller starts it again.
//!
//! Each terminal's LLS password is its own ([`dlms_password`]): derived one-way from the
//! terminal's EUI-64 and link password, which the smart meter registers per terminal
//! anyway. With one password for every terminal, a terminal that learnt it (it crosses
//! the link in the AARQ, readable under the group key every terminal of the PAN holds)
//! could open the management association of all the others.

use core::time::Duration;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use dlms::client::{Authentication, Client, ClientSettings, Event, Security};
use dlms::cosem::{range_selector, IotRouteModel, ModelConfig};
use dlms::server::access_record::access_code;
use dlms::server::{shared, Auth, Protection, ServeConfig, SharedModel, TerminalServer};
use dlms::wrapper::Wpdu;
use dlms::{Data, Obis};

use crate::household::Household;

/// DLMS/COSEM over UDP.
pub const DLMS_PORT: u16 = 4059;
/// The management association's client wPort.
const MANAGEMENT_WPORT: u16 = 1;
/// The domain-separation label of [`dlms_password`].
const DLMS_PASSWORD_LABEL: &[u8] = b"iotroute DLMS LLS v1";
/// How far back each reading reads the load profile.
const BACKFILL: chrono::Duration = chrono::Duration::hours(6);
/// A session with no answer for this long is dropped.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Terminal `eui64`'s LLS password for the management association (ours): the 32
/// upper-case hex digits of `SHA-256("iotroute DLMS LLS v1" ‖ EUI-64 ‖ len(password) as
/// u16 BE ‖ link password)[0..16]`.
///
/// Why derived: the terminal and the smart meter both hold the link password already
/// (the smart meter's registration `EUI64=PASSWORD`), so no second secret has to be
/// provisioned, yet each terminal's DLMS secret differs (the EUI-64 salts it) and
/// learning it (LLS sends it in the AARQ) tells nothing about the link password (a
/// one-way hash, its label keeping it apart from the EAP-PSK derivation of the same
/// password). Hex, so that `dlms get --password` can use it too.
#[must_use]
pub fn dlms_password(eui64: [u8; 8], link_password: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let len = u16::try_from(link_password.len()).unwrap_or(u16::MAX);
    let mut h = Sha256::new();
    h.update(DLMS_PASSWORD_LABEL);
    h.update(eui64);
    h.update(len.to_be_bytes());
    h.update(link_password);
    dlms::hex::encode(&h.finalize()[..16]).into_bytes()
}

/// The smart meter's side of [`dlms_password`]: each registered terminal's LLS
/// password, by EUI-64. `Debug` shows how many, never a password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TerminalSecrets(BTreeMap<[u8; 8], Vec<u8>>);

impl TerminalSecrets {
    /// Derive every terminal's DLMS password from its registration (EUI-64, link
    /// password).
    pub fn from_link_passwords<'a>(
        registrations: impl IntoIterator<Item = ([u8; 8], &'a [u8])>,
    ) -> Self {
        Self(
            registrations
                .into_iter()
                .map(|(eui, pw)| (eui, dlms_password(eui, pw)))
                .collect(),
        )
    }

    fn get(&self, terminal: [u8; 8]) -> Option<&[u8]> {
        self.0.get(&terminal).map(Vec::as_slice)
    }
}

impl core::fmt::Debug for TerminalSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TerminalSecrets({} terminals, <redacted>)", self.0.len())
    }
}

/// JST (UTC+9).
pub fn jst() -> FixedOffset {
    // 9 h is within ±24 h: always a valid offset.
    FixedOffset::east_opt(9 * 3600).unwrap_or(Utc.fix())
}

/// Randomness for the DLMS engines (HLS challenges; LLS needs none but the engines
/// require a source): a seeded stream, so simulations repeat.
#[derive(Debug, Clone)]
pub struct Seeded(std::cell::Cell<u64>);

impl Seeded {
    /// Stream `stream` of `seed`. The two are mixed (splitmix64's finalizer) before the
    /// state is forced odd, so that seeds differing only in their lowest bit (2 and 3,
    /// `seed ^ k` for neighbouring nodes) give different streams.
    #[must_use]
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(std::cell::Cell::new(z | 1))
    }

    /// The next 64 bits (xorshift64*).
    pub fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next() >> 11) as f64 / 9_007_199_254_740_992.0;
        v
    }

    /// Fill `out`.
    pub fn bytes(&self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_be_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

impl nodes::link::pana::Entropy for Seeded {
    fn fill(&mut self, out: &mut [u8]) {
        self.bytes(out);
    }
}

impl dlms::client::Entropy for Seeded {
    fn fill(&self, out: &mut [u8]) -> bool {
        self.bytes(out);
        true
    }
}

/// The server engines' source (`Send + Clone`): one seeded stream that every call
/// continues, so two challenges are never the same bytes (a source that restarts at each
/// call hands out one "random" value for ever). Clones share the stream rather than copy
/// it, for the same reason: the engine may clone its source, and two copies of one state
/// would repeat each other.
#[derive(Debug, Clone)]
pub struct ServerEntropy(std::sync::Arc<std::sync::Mutex<Seeded>>);

impl ServerEntropy {
    /// Stream 7 of `seed` (the same seed gives the same stream, so simulations repeat).
    /// The seed is mixed first (splitmix64's finaliser): [`Seeded::new`] sets the low
    /// bit, so seeds differing only there (a terminal's `seed ^ k` for k = 2, 3) would
    /// otherwise share one stream.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(std::sync::Arc::new(std::sync::Mutex::new(Seeded::new(
            z, 7,
        ))))
    }
}

impl dlms::server::Entropy for ServerEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        match self.0.lock() {
            Ok(stream) => {
                stream.bytes(out);
                true
            }
            // A holder panicked mid-fill: say there is no entropy rather than guess.
            Err(_) => {
                tracing::error!("DLMS server entropy stream poisoned");
                false
            }
        }
    }
}

/// The terminal's DLMS side: a model behind a `TerminalServer` — the demo model that
/// grows like a household (the node programs on the hub), or the model a terminal node
/// keeps as the view of its reading store (`sim --link`).
pub struct TerminalApp {
    server: TerminalServer<ServerEntropy>,
    model: SharedModel,
    /// The demo's data source; `None` when the model is fed by a terminal node.
    household: Option<Household>,
}

impl core::fmt::Debug for TerminalApp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TerminalApp").finish_non_exhaustive()
    }
}

impl TerminalApp {
    /// The demo model (a day of rows before `start`), LLS with `password` (this
    /// terminal's own, [`dlms_password`]) on the management association, system title
    /// "IRT" + `serial`.
    ///
    /// # Errors
    /// When the model cannot be built.
    pub fn new(
        start: DateTime<Utc>,
        serial: u64,
        seed: u64,
        password: Vec<u8>,
    ) -> Result<Self, String> {
        let mut model =
            IotRouteModel::new(&model_config(password), start).map_err(|e| e.to_string())?;
        model.fill_demo(1, start);
        let mut app = Self::serving(shared(model), serial, seed)?;
        app.household = Some(Household::new(start));
        Ok(app)
    }

    /// Serve `model`, kept up to date by its owner (a terminal node): system title
    /// "IRT" + `serial`, the LLS password the model holds.
    ///
    /// # Errors
    /// When the server cannot be built.
    pub fn serving(model: SharedModel, serial: u64, seed: u64) -> Result<Self, String> {
        let s = serial.to_be_bytes();
        let server = TerminalServer::new(
            model.clone(),
            ServeConfig {
                auth: Auth::Low,
                protection: Protection::None,
                keys: None,
                system_title: [b'I', b'R', b'T', s[3], s[4], s[5], s[6], s[7]],
                max_pdu: 1024,
                invocation_counter: 0,
            },
            ServerEntropy::new(seed),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            server,
            model,
            household: None,
        })
    }

    /// A slot boundary of the demo: grow the registers to `at` and capture the row (a
    /// model fed by a terminal node captures from its store instead).
    pub fn capture(&mut self, at: DateTime<Utc>) {
        let Some(household) = self.household.as_mut() else {
            return;
        };
        if let Ok(mut m) = self.model.lock() {
            household.advance(&mut m, at);
            if let Err(e) = m.capture(at) {
                tracing::error!(error = %e, "capture failed");
            }
        }
    }

    /// One wrapper frame from the smart meter at `now`: the wrapper frame to answer with.
    /// Associations, releases, SET and ACTION go into the model's access log (SEC-09).
    pub fn answer(&mut self, now: DateTime<Utc>, datagram: &[u8]) -> Option<Vec<u8>> {
        let frame = Wpdu::parse(datagram).ok()?;
        if let (Some(household), Ok(mut m)) = (self.household.as_mut(), self.model.lock()) {
            household.advance(&mut m, now);
        }
        let mut out = vec![0u8; 4096];
        let n = match self.server.handle(frame.source, now, frame.apdu, &mut out) {
            Ok(Some(n)) => n,
            Ok(None) | Err(_) => return None,
        };
        let apdu = out.get(..n)?;
        if let (Some(code), Ok(mut m)) = (access_code(apdu), self.model.lock()) {
            m.log_access(now, code, frame.source);
        }
        Wpdu::new(1, frame.source, apdu).emit().ok()
    }
}

/// The model config of a terminal whose management and maintenance associations take
/// `password` (LLS).
#[must_use]
pub fn model_config(password: Vec<u8>) -> ModelConfig {
    ModelConfig {
        association_password: password,
        ..ModelConfig::default()
    }
}

/// One load-profile row as the smart meter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRead {
    /// The clock column.
    pub time: DateTime<FixedOffset>,
    /// AC input, Wh.
    pub ac_in_wh: Option<u32>,
    /// AC output, Wh.
    pub ac_out_wh: Option<u32>,
    /// The status byte (bit 2: data not valid).
    pub status: Option<u8>,
}

/// A completed reading of one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// AC input register, Wh.
    pub energy_in_wh: Option<i128>,
    /// AC output register, Wh.
    pub energy_out_wh: Option<i128>,
    /// Every profile row read (the last six hours).
    pub rows: Vec<RowRead>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Associating,
    EnergyIn,
    EnergyOut,
    Profile,
    Releasing,
}

struct Session {
    client: Client<Seeded>,
    step: Step,
    last_activity: Duration,
    reading: Reading,
}

/// The smart meter's reading sessions, one per terminal at a time.
pub struct Reader {
    sessions: BTreeMap<[u8; 8], Session>,
    secrets: TerminalSecrets,
    rng: Seeded,
    /// Associations the terminal refused (a wrong DLMS secret, for one).
    pub refused: u64,
    /// Sessions started again after a timeout.
    pub restarts: u64,
    /// Sessions started.
    pub started: u64,
    /// Sessions that completed.
    pub completed: u64,
}

impl core::fmt::Debug for Reader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("sessions", &self.sessions.len())
            .field("completed", &self.completed)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// No session yet; `secrets` gives each terminal's LLS password.
    #[must_use]
    pub fn new(seed: u64, secrets: TerminalSecrets) -> Self {
        Self {
            sessions: BTreeMap::new(),
            secrets,
            rng: Seeded::new(seed, 0x5EED),
            refused: 0,
            restarts: 0,
            started: 0,
            completed: 0,
        }
    }

    /// Whether a session with `terminal` is under way.
    #[must_use]
    pub fn busy(&self, terminal: [u8; 8]) -> bool {
        self.sessions.contains_key(&terminal)
    }

    /// Start a reading of `terminal` at `now`: the AARQ to send (wrapper frame, UDP
    /// 4059). A session already under way is replaced. `None` (logged) for a terminal
    /// without a DLMS secret.
    pub fn start(&mut self, now: Duration, terminal: [u8; 8], restart: bool) -> Option<Vec<u8>> {
        let Some(password) = self.secrets.get(terminal) else {
            tracing::warn!(
                terminal = %dlms::hex::encode(&terminal),
                "no DLMS secret for this terminal: not read"
            );
            return None;
        };
        let settings = ClientSettings {
            client_wport: MANAGEMENT_WPORT,
            server_wport: 1,
            authentication: Authentication::Low {
                password: password.to_vec(),
            },
            security: Security::None,
            max_pdu: 1024,
            ..ClientSettings::default()
        };
        let mut client = Client::new(settings, Seeded::new(self.rng.next(), 1)).ok()?;
        let aarq = client.associate().ok()?;
        if restart {
            self.restarts += 1;
        } else {
            self.started += 1;
        }
        self.sessions.insert(
            terminal,
            Session {
                client,
                step: Step::Associating,
                last_activity: now,
                reading: Reading {
                    energy_in_wh: None,
                    energy_out_wh: None,
                    rows: Vec::new(),
                },
            },
        );
        Some(aarq)
    }

    /// Forget `terminal`'s session (it left).
    pub fn forget(&mut self, terminal: [u8; 8]) {
        self.sessions.remove(&terminal);
    }

    /// When the next session times out.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        self.sessions
            .values()
            .map(|s| s.last_activity + SESSION_TIMEOUT)
            .min()
    }

    /// Sessions with no answer for [`SESSION_TIMEOUT`] at `now`, dropped: start them
    /// again.
    pub fn stalled(&mut self, now: Duration) -> Vec<[u8; 8]> {
        let mut gone = Vec::new();
        self.sessions.retain(|t, s| {
            let alive = now < s.last_activity + SESSION_TIMEOUT;
            if !alive {
                gone.push(*t);
            }
            alive
        });
        gone
    }

    /// One wrapper frame from `terminal` at `now` (`wall` the time the profile range
    /// ends at): the next request to send, and the reading when this answer completed it.
    pub fn answer(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        terminal: [u8; 8],
        datagram: &[u8],
    ) -> (Option<Vec<u8>>, Option<Reading>) {
        let Some(s) = self.sessions.get_mut(&terminal) else {
            return (None, None);
        };
        s.last_activity = now;
        let event = match s.client.handle(datagram) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "DLMS answer refused by the client");
                return (None, None);
            }
        };
        let to = wall.with_timezone(&jst());
        let range = range_selector(&(to - BACKFILL), &to);
        let mut done = None;
        let next = match (s.step, event) {
            (_, Event::Send(bytes)) => Some(Ok(bytes)),
            (Step::Associating, Event::Established) => {
                s.step = Step::EnergyIn;
                Some(s.client.get(3, Obis::new(1, 0, 1, 8, 0, 255), 2, None))
            }
            (Step::EnergyIn, Event::Value(v)) => {
                s.reading.energy_in_wh = v.as_i128();
                s.step = Step::EnergyOut;
                Some(s.client.get(3, Obis::new(1, 0, 2, 8, 0, 255), 2, None))
            }
            (Step::EnergyOut, Event::Value(v)) => {
                s.reading.energy_out_wh = v.as_i128();
                s.step = Step::Profile;
                Some(
                    s.client
                        .get(7, Obis::new(1, 0, 99, 1, 0, 255), 2, Some((1, &range))),
                )
            }
            (Step::Profile, Event::Value(rows)) => {
                s.reading.rows = profile_rows(&rows);
                done = Some(s.reading.clone());
                s.step = Step::Releasing;
                Some(s.client.release())
            }
            (Step::Associating, Event::Rejected { reason }) => {
                tracing::warn!(
                    terminal = %dlms::hex::encode(&terminal),
                    %reason,
                    "the terminal refused the association (wrong DLMS secret?): session dropped"
                );
                self.refused += 1;
                self.sessions.remove(&terminal);
                None
            }
            (Step::Releasing, Event::Released) => {
                self.sessions.remove(&terminal);
                self.completed += 1;
                None
            }
            (step, other) => {
                tracing::debug!(?step, event = ?other, "unexpected DLMS event: session dropped");
                self.sessions.remove(&terminal);
                None
            }
        };
        let next = match next {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "DLMS request not built");
                None
            }
            None => None,
        };
        (next, done)
    }
}

/// The clock column of the profile rows a range read returned.
/// The rows of a load-profile buffer (clock, AC input, AC output, status); a row
/// whose clock does not decode is left out.
fn profile_rows(rows: &Data) -> Vec<RowRead> {
    let Data::Array(rows) = rows else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|row| {
            let Data::Structure(cols) = row else {
                return None;
            };
            let time = cols
                .first()?
                .as_date_time()?
                .to_chrono_or(dlms::datetime::JST_DEVIATION)?;
            let int = |i: usize| cols.get(i).and_then(Data::as_i128);
            Some(RowRead {
                time,
                ac_in_wh: int(1).and_then(|v| u32::try_from(v).ok()),
                ac_out_wh: int(2).and_then(|v| u32::try_from(v).ok()),
                status: int(3).and_then(|v| u8::try_from(v).ok()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec02_seeds_differing_in_their_lowest_bit_give_different_streams() {
        for (a, b) in [(2, 3), (42, 43), (0, 1)] {
            assert_ne!(
                Seeded::new(a, 5).next(),
                Seeded::new(b, 5).next(),
                "{a} {b}"
            );
        }
        assert_ne!(Seeded::new(7, 1).next(), Seeded::new(7, 2).next());
        assert_eq!(Seeded::new(7, 1).next(), Seeded::new(7, 1).next());
    }
    use dlms::server::Entropy as _;

    fn draw(e: &ServerEntropy) -> [u8; 16] {
        let mut b = [0u8; 16];
        assert!(e.fill(&mut b));
        b
    }

    #[test]
    fn sec02_server_entropy_is_a_stream_each_call_continues() {
        let e = ServerEntropy::new(1);
        let (a, b) = (draw(&e), draw(&e));
        assert_ne!(a, b, "two calls gave the same bytes");
        // A clone continues the same stream; it does not replay it.
        let c = draw(&e.clone());
        assert_ne!(c, a);
        assert_ne!(c, b);
    }

    #[test]
    fn sec02_server_entropy_same_seed_same_stream() {
        let (x, y) = (ServerEntropy::new(42), ServerEntropy::new(42));
        let xs: Vec<[u8; 16]> = (0..4).map(|_| draw(&x)).collect();
        let ys: Vec<[u8; 16]> = (0..4).map(|_| draw(&y)).collect();
        assert_eq!(xs, ys);
        // Neighbouring seeds (terminal k's `seed ^ k`) give streams of their own.
        for (a, b) in [(42, 43), (2, 3), (0, 1)] {
            assert_ne!(draw(&ServerEntropy::new(a)), draw(&ServerEntropy::new(b)));
        }
    }

    const A: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 1];
    const B: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 2];

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-04-01T12:10:00+09:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// One whole reading session of `terminal` (served by `app`) by `reader`: the
    /// reading, if one completed.
    fn read(reader: &mut Reader, app: &mut TerminalApp, terminal: [u8; 8]) -> Option<Reading> {
        let now = start() + chrono::Duration::minutes(20);
        let mut request = reader.start(Duration::ZERO, terminal, false);
        for _ in 0..64 {
            let answer = app.answer(now, &request?)?;
            let (next, reading) = reader.answer(Duration::ZERO, now, terminal, &answer);
            if reading.is_some() {
                return reading;
            }
            request = next;
        }
        None
    }

    #[test]
    fn sec02_each_terminal_has_its_own_dlms_password() {
        let (a, b) = (
            dlms_password(A, b"IOTPASS00001"),
            dlms_password(B, b"IOTPASS00002"),
        );
        assert_ne!(a, b);
        // The same link password on two terminals still gives two DLMS passwords.
        assert_ne!(dlms_password(A, b"same"), dlms_password(B, b"same"));
        assert_eq!(a, dlms_password(A, b"IOTPASS00001"), "deterministic");
        assert_eq!(a.len(), 32);
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        assert!(
            !a.windows(8).any(|w| w == b"IOTPASS0"),
            "the link password is not in it"
        );
        let secrets = TerminalSecrets::from_link_passwords([(A, &b"IOTPASS00001"[..])]);
        assert!(!format!("{secrets:?}").contains(&String::from_utf8(a).unwrap()));
    }

    #[test]
    fn trm06_sec02_the_smart_meter_cannot_read_terminal_b_with_terminal_a_secret() {
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, b"IOTPASS00002")).unwrap();
        // B registered under A's DLMS secret.
        let wrong = TerminalSecrets([(B, dlms_password(A, b"IOTPASS00001"))].into());
        let mut reader = Reader::new(1, wrong);
        assert_eq!(read(&mut reader, &mut b, B), None);
        assert_eq!(reader.refused, 1, "{reader:?}");
        assert_eq!(reader.completed, 0);
        assert!(!reader.busy(B), "the refused session is dropped");

        // The old fixed password opens nothing either.
        let fixed = TerminalSecrets([(B, b"12345678".to_vec())].into());
        let mut reader = Reader::new(1, fixed);
        assert_eq!(read(&mut reader, &mut b, B), None);
        assert_eq!(reader.refused, 1);

        // SEC-09: the refused associations are in B's access log over DLMS, as the
        // management client's (wPort 1).
        let refused = dlms::cosem::AccessCode::AssociationRefused.code();
        let logged = b
            .model
            .lock()
            .unwrap()
            .access_log()
            .rows()
            .filter(|r| {
                r.values
                    == vec![
                        dlms::cosem::Value::LongUnsigned(refused),
                        dlms::cosem::Value::LongUnsigned(1),
                    ]
            })
            .count();
        assert_eq!(logged, 2);

        // B's own secret reads it.
        let right = TerminalSecrets::from_link_passwords([
            (A, &b"IOTPASS00001"[..]),
            (B, &b"IOTPASS00002"[..]),
        ]);
        let mut reader = Reader::new(1, right);
        let reading = read(&mut reader, &mut b, B).expect("B read with its own secret");
        assert!(
            reading.energy_in_wh.is_some() && !reading.rows.is_empty(),
            "{reading:?}"
        );
        assert_eq!(reader.refused, 0);
    }

    #[test]
    fn trm06_a_terminal_without_a_dlms_secret_is_not_read() {
        let mut reader = Reader::new(1, TerminalSecrets::default());
        assert_eq!(reader.start(Duration::ZERO, A, false), None);
        assert!(!reader.busy(A));
    }
}

/// A push a terminal sent, as the smart meter reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The push number (long invoke id).
    pub number: u32,
    /// When the terminal captured it (its clock).
    pub captured_at: Option<DateTime<FixedOffset>>,
    /// What it carries.
    pub what: PushKind,
}

/// A slot's values or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushKind {
    /// A slot push (TRM-05).
    Slot {
        /// AC input, Wh.
        energy_in_wh: Option<u32>,
        /// AC output, Wh.
        energy_out_wh: Option<u32>,
        /// The load-profile status.
        status: Option<u8>,
    },
    /// An event push (ours): the event log's code and its details (SEC-07: registered
    /// and read meter IDs; SEC-08: the flood's source and count).
    Event {
        /// The event code.
        code: u16,
        /// The details, plain (`@HEX` octet strings, numbers).
        details: Vec<serde_json::Value>,
    },
}

/// The push in `datagram`, if it is one (a wrapper frame to the management client's
/// wPort carrying a Data-Notification): `None` for anything else (an answer), `Some(Err)`
/// for a push that does not read. Plain: the IoT route below is CCM*-secured.
pub fn read_push(datagram: &[u8]) -> Option<Result<Pushed, String>> {
    let frame = Wpdu::parse(datagram).ok()?;
    if frame.destination != dlms::push::PUSH_DESTINATION_WPORT || frame.apdu.first() != Some(&0x0F)
    {
        return None;
    }
    let n = match dlms::push::PushListener::new(None).handle(frame.apdu) {
        Ok(n) => n,
        Err(e) => return Some(Err(e.to_string())),
    };
    let body = n.body.elements().unwrap_or(&[]);
    let number = |i: usize| body.get(i).and_then(Data::as_i128);
    let what = match body.first() {
        // An event push: {event code, clock, details}.
        Some(Data::LongUnsigned(code)) => PushKind::Event {
            code: *code,
            details: body
                .get(2)
                .and_then(Data::elements)
                .unwrap_or(&[])
                .iter()
                .map(|d| dlms::text::plain(d, false))
                .collect(),
        },
        // The push setup's objects: (push setup, clock, AC input, AC output, status).
        _ => PushKind::Slot {
            energy_in_wh: number(2).and_then(|v| u32::try_from(v).ok()),
            energy_out_wh: number(3).and_then(|v| u32::try_from(v).ok()),
            status: number(4).and_then(|v| u8::try_from(v).ok()),
        },
    };
    Some(Ok(Pushed {
        number: n.long_invoke_id,
        captured_at: n
            .captured_at
            .and_then(|t| t.to_chrono_or(dlms::datetime::JST_DEVIATION)),
        what,
    }))
}
