//! The smart meter's DLMS/COSEM sessions with its terminals, one per terminal at a time:
//! its readings (TRM-06) and the head end's commands it carries out, each a SET over the
//! management association (TRM-08 password, TRM-09 clock, TRM-11 interval).

use core::time::Duration;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use dlms::client::{Authentication, Client, ClientError, ClientSettings, Event, Security};
use dlms::cosem::codes::{AUTH_PASSWORD, CLOCK, LOAD_PROFILE};
use dlms::cosem::range_selector;
use dlms::relay::message::Outcome;
use dlms::text::jst;
use dlms::{CosemDateTime, Data, Obis};

use super::entropy::Seeded;
use super::secrets::{dlms_password, TerminalSecrets};
use super::MANAGEMENT_WPORT;
use crate::terminal::slots::Interval;

/// How far back each reading reads the load profile.
const BACKFILL: chrono::Duration = chrono::Duration::hours(6);

/// The longest profile range one GET asks for **(ours)**: a day (48 rows at 30 minutes,
/// 96 at 15, under 3 KB encoded); a longer backfill is read a day at a time in the same
/// session. The terminal's management association answers values up to
/// `dlms::server::terminal::MANAGEMENT_VALUE_BUFFER` (16 KiB): an engine's two value
/// buffers are held for every open association, and every smart meter holds one open at
/// the same moments.
pub const RANGE_PER_GET: chrono::Duration = chrono::Duration::days(1);
/// How far the terminal's clock may be from the smart meter's before a reading sets it,
/// unless configured otherwise (ours: well inside a slot, well above a reading's own
/// delay).
pub const CLOCK_TOLERANCE: chrono::Duration = chrono::Duration::seconds(10);

/// When a reading session sets the terminal's clock to the smart meter's (TRM-09).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSync {
    /// Never (the terminal's clock is someone else's business).
    Off,
    /// Only a clock the terminal says is invalid (never set): a lab whose terminals run
    /// on a faster clock keeps it.
    Unset,
    /// An invalid clock, or one further than this from the smart meter's.
    Within(chrono::Duration),
}
/// A session with no answer for this long is dropped.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

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

/// What a head end's command changes on a terminal: one SET over the management
/// association, the one allowed to write all three (`dlms::cosem::access`). `Debug`
/// never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    /// Its clock, to the smart meter's, however little it is off (TRM-09).
    Clock,
    /// Its reading interval: the load profile's capture period (TRM-11); the terminal
    /// switches at its next boundary.
    Interval(Interval),
    /// Its authentication password (TRM-08): its PANA/EAP-PSK link password, from which
    /// both ends derive its management association's LLS secret
    /// ([`super::secrets::dlms_password`]).
    Password(Vec<u8>),
}

impl core::fmt::Debug for Change {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Clock => f.write_str("Clock"),
            Self::Interval(i) => f.debug_tuple("Interval").field(i).finish(),
            Self::Password(_) => f.write_str("Password(<redacted>)"),
        }
    }
}

/// A head end's command a session carried out, or could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The head end's request number.
    pub request: u32,
    /// What it changed.
    pub change: Change,
    /// How it went.
    pub outcome: Outcome,
    /// Why, when it was not done.
    pub why: String,
}

impl Carried {
    /// The password the terminal took (TRM-08): that of a password change done — what
    /// the smart meter authenticates it with from then on, and what a driver keeps.
    #[must_use]
    pub fn new_password(&self) -> Option<&[u8]> {
        match (&self.change, self.outcome) {
            (Change::Password(password), Outcome::Done) => Some(password),
            _ => None,
        }
    }
}

/// What a session ended with, for the smart meter to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A reading completed.
    Read(Reading),
    /// A command was carried out, or refused.
    Carried(Carried),
}

/// Why a session reads a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The smart meter's own reading at a slot: the registers and the profile of the
    /// last six hours.
    Periodic,
    /// The head end's backfill `request`: the profile rows with `from <= slot <= to`.
    Backfill {
        /// The head end's request number.
        request: u32,
        /// From.
        from: DateTime<Utc>,
        /// To.
        to: DateTime<Utc>,
    },
    /// The head end's command `request`: `change`, then release.
    Command {
        /// The head end's request number.
        request: u32,
        /// What to change.
        change: Change,
    },
}

impl Purpose {
    /// The head end's request this session answers, if it asked for it.
    #[must_use]
    pub const fn request(&self) -> Option<u32> {
        match self {
            Self::Periodic => None,
            Self::Backfill { request, .. } | Self::Command { request, .. } => Some(*request),
        }
    }
}

/// A completed reading of one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Why it was read.
    pub purpose: Purpose,
    /// AC input register, Wh.
    pub energy_in_wh: Option<i128>,
    /// AC output register, Wh.
    pub energy_out_wh: Option<i128>,
    /// Every profile row read (the last six hours, or the backfill's range).
    pub rows: Vec<RowRead>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Associating,
    Clock,
    ClockSet,
    EnergyIn,
    EnergyOut,
    Profile,
    /// A command's SET sent.
    Set,
    /// A password command whose association under the old secret was refused: associating
    /// under the new one, to learn whether the terminal took it already.
    Confirming,
    Releasing,
}

struct Session {
    client: Client<Seeded>,
    step: Step,
    last_activity: Duration,
    reading: Reading,
    /// The profile range still to read after the GET in flight: (from, to).
    rest: Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
}

impl Session {
    /// The GET of the profile rows from `from` to `to`, at most [`RANGE_PER_GET`] of
    /// them; what is left for the next (the range is inclusive at both ends: the next
    /// starts a second after this one ends).
    fn profile_from(
        &mut self,
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> Result<Vec<u8>, ClientError> {
        let end = to.min(from + RANGE_PER_GET);
        self.rest = (end < to).then(|| (end + chrono::Duration::seconds(1), to));
        self.step = Step::Profile;
        let range = range_selector(&from, &end);
        self.client.get(7, LOAD_PROFILE, 2, Some((1, &range)))
    }
}

/// The smart meter's DLMS sessions (readings, commands), one per terminal at a time.
pub struct Reader {
    /// Boxed: a session holds a DLMS client (about 2.8 KiB), and a map's node holds
    /// eleven entries whatever their number — a smart meter with one session open
    /// held 31 KiB (7.8 of a 1,000-terminal run's 78.7 MB peak heap).
    sessions: BTreeMap<[u8; 8], Box<Session>>,
    clock_sync: ClockSync,
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
    /// Terminal clocks set (TRM-09).
    pub clock_sets: u64,
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
            clock_sync: ClockSync::Within(CLOCK_TOLERANCE),
            secrets,
            rng: Seeded::new(seed, 0x5EED),
            refused: 0,
            restarts: 0,
            started: 0,
            completed: 0,
            clock_sets: 0,
        }
    }

    /// Set terminals' clocks as `sync` says (default: within [`CLOCK_TOLERANCE`]).
    #[must_use]
    pub const fn with_clock_sync(mut self, sync: ClockSync) -> Self {
        self.clock_sync = sync;
        self
    }

    /// Whether a session with `terminal` is under way.
    #[must_use]
    pub fn busy(&self, terminal: [u8; 8]) -> bool {
        self.sessions.contains_key(&terminal)
    }

    /// Whether the smart meter holds `terminal`'s DLMS secret (it can open a session).
    #[must_use]
    pub fn holds_secret(&self, terminal: [u8; 8]) -> bool {
        self.secrets.get(terminal).is_some()
    }

    /// The terminals' DLMS secrets, to change one whose password changed (TRM-08).
    pub(super) fn secrets_mut(&mut self) -> &mut TerminalSecrets {
        &mut self.secrets
    }

    /// Start a session with `terminal` at `now` for `purpose`: the AARQ to send (wrapper
    /// frame, UDP 4059). A session already under way is replaced. `None` (logged) for a
    /// terminal without a DLMS secret.
    pub fn start(
        &mut self,
        now: Duration,
        terminal: [u8; 8],
        purpose: Purpose,
        restart: bool,
    ) -> Option<Vec<u8>> {
        let Some(password) = self.secrets.get(terminal).map(<[u8]>::to_vec) else {
            tracing::warn!(
                terminal = %dlms::hex::encode(&terminal),
                "no DLMS secret for this terminal: not read"
            );
            return None;
        };
        let (client, aarq) = self.associate(password)?;
        if restart {
            self.restarts += 1;
        } else {
            self.started += 1;
        }
        self.sessions.insert(
            terminal,
            Box::new(Session {
                client,
                step: Step::Associating,
                last_activity: now,
                reading: Reading {
                    purpose,
                    energy_in_wh: None,
                    energy_out_wh: None,
                    rows: Vec::new(),
                },
                rest: None,
            }),
        );
        Some(aarq)
    }

    /// A management-association client with LLS secret `password`, and its AARQ.
    fn associate(&mut self, password: Vec<u8>) -> Option<(Client<Seeded>, Vec<u8>)> {
        let settings = ClientSettings {
            client_wport: MANAGEMENT_WPORT,
            server_wport: 1,
            authentication: Authentication::Low { password },
            security: Security::None,
            max_pdu: 1024,
            ..ClientSettings::default()
        };
        let mut client = Client::new(settings, Seeded::new(self.rng.next(), 1)).ok()?;
        let aarq = client.associate().ok()?;
        Some((client, aarq))
    }

    /// Forget `terminal`'s session (it left): its purpose, unless what it was for was
    /// done already (only its release was under way).
    pub fn forget(&mut self, terminal: [u8; 8]) -> Option<Purpose> {
        self.sessions
            .remove(&terminal)
            .filter(|s| s.step != Step::Releasing)
            .map(|s| s.reading.purpose)
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
    /// again (for the same purpose). One silent in its release only is not: what it was
    /// for was done and told already (a reading read twice, a command's outcome told
    /// twice, otherwise).
    pub fn stalled(&mut self, now: Duration) -> Vec<([u8; 8], Purpose)> {
        let mut gone = Vec::new();
        self.sessions.retain(|t, s| {
            let alive = now < s.last_activity + SESSION_TIMEOUT;
            if !alive && s.step != Step::Releasing {
                gone.push((*t, s.reading.purpose.clone()));
            }
            alive
        });
        gone
    }

    /// One wrapper frame from `terminal` at `now` (`wall` the smart meter's clock: the
    /// time the profile range ends at, the time a clock is set to): the next request to
    /// send, and what the session ended with when this answer ended it — a reading, a
    /// command carried out or refused.
    pub fn answer(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        terminal: [u8; 8],
        datagram: &[u8],
    ) -> (Option<Vec<u8>>, Option<Ended>) {
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
        let mut ended = None;
        let next = match (s.step, event) {
            (_, Event::Send(bytes)) => Some(Ok(bytes)),
            (Step::Associating, Event::Established) => match &s.reading.purpose {
                Purpose::Command { change, .. } => {
                    s.step = Step::Set;
                    if *change == Change::Clock {
                        self.clock_sets += 1;
                    }
                    Some(set(&mut s.client, change, wall))
                }
                _ if self.clock_sync == ClockSync::Off => {
                    s.step = Step::EnergyIn;
                    Some(s.client.get(3, Obis::new(1, 0, 1, 8, 0, 255), 2, None))
                }
                _ => {
                    s.step = Step::Clock;
                    Some(s.client.get(8, CLOCK, 2, None))
                }
            },
            // TRM-09: the smart meter keeps the terminal's clock: set when it says it is
            // invalid (never set) or, as configured, is too far off.
            (Step::Clock, Event::Value(v)) => {
                let to = wall.with_timezone(&jst());
                let sync = self.clock_sync;
                let off = v.as_date_time().and_then(|t| {
                    let at = t.to_chrono_or(dlms::datetime::JST_DEVIATION)?;
                    Some(
                        t.status.invalid()
                            || matches!(sync, ClockSync::Within(d) if (at - to).abs() > d),
                    )
                });
                if off.unwrap_or(true) {
                    s.step = Step::ClockSet;
                    self.clock_sets += 1;
                    Some(set(&mut s.client, &Change::Clock, wall))
                } else {
                    s.step = Step::EnergyIn;
                    Some(s.client.get(3, Obis::new(1, 0, 1, 8, 0, 255), 2, None))
                }
            }
            (Step::ClockSet, Event::Done) => {
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
                let (from, to) = match s.reading.purpose {
                    Purpose::Backfill { from, to, .. } => {
                        (from.with_timezone(&jst()), to.with_timezone(&jst()))
                    }
                    _ => {
                        let to = wall.with_timezone(&jst());
                        (to - BACKFILL, to)
                    }
                };
                Some(s.profile_from(from, to))
            }
            (Step::Profile, Event::Value(rows)) => {
                s.reading.rows.extend(profile_rows(&rows));
                match s.rest {
                    Some((from, to)) => Some(s.profile_from(from, to)),
                    None => {
                        ended = Some(Ended::Read(s.reading.clone()));
                        s.step = Step::Releasing;
                        Some(s.client.release())
                    }
                }
            }
            // The command's SET taken: done (a password is the terminal's from its next
            // association, TRM-08), told before the release as a reading is.
            (Step::Set, Event::Done) | (Step::Confirming, Event::Established) => {
                if s.step == Step::Confirming {
                    tracing::info!(
                        terminal = %dlms::hex::encode(&terminal),
                        "the terminal holds the new password already: the command is done"
                    );
                }
                ended = carried(&s.reading.purpose, Outcome::Done, String::new());
                s.step = Step::Releasing;
                Some(s.client.release())
            }
            (Step::Set, Event::AccessError { name, .. }) => {
                tracing::warn!(terminal = %dlms::hex::encode(&terminal), result = %name, "the terminal refused the command's SET");
                ended = carried(
                    &s.reading.purpose,
                    Outcome::Refused,
                    format!("the terminal refused the SET: {name}"),
                );
                s.step = Step::Releasing;
                Some(s.client.release())
            }
            (Step::Associating | Step::Confirming, Event::Rejected { reason }) => {
                tracing::warn!(
                    terminal = %dlms::hex::encode(&terminal),
                    %reason,
                    "the terminal refused the association (wrong DLMS secret?): session dropped"
                );
                self.refused += 1;
                let first = s.step == Step::Associating;
                let Some(s) = self.sessions.remove(&terminal) else {
                    return (None, None);
                };
                // TRM-08: a password command refused under the old secret may find the
                // terminal holding the new one already (its SET's answer was lost, and
                // this is the session started again): an association under the new
                // one tells.
                if let (
                    true,
                    Purpose::Command {
                        change: Change::Password(new),
                        ..
                    },
                ) = (first, &s.reading.purpose)
                {
                    let secret = dlms_password(terminal, new);
                    if let Some((client, aarq)) = self.associate(secret) {
                        self.sessions.insert(
                            terminal,
                            Box::new(Session {
                                client,
                                step: Step::Confirming,
                                last_activity: now,
                                reading: s.reading,
                                rest: None,
                            }),
                        );
                        return (Some(aarq), None);
                    }
                }
                let why = format!("the terminal refused the association: {reason}");
                return (None, carried(&s.reading.purpose, Outcome::Refused, why));
            }
            (Step::Releasing, Event::Released) => {
                self.sessions.remove(&terminal);
                self.completed += 1;
                None
            }
            (step, other) => {
                tracing::debug!(?step, event = ?other, "unexpected DLMS event: session dropped");
                let why = format!("unexpected answer from the terminal: {other:?}");
                ended = self
                    .sessions
                    .remove(&terminal)
                    .filter(|_| step != Step::Releasing)
                    .and_then(|s| carried(&s.reading.purpose, Outcome::Failed, why));
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
        (next, ended)
    }
}

/// The SET that makes `change` (over the management association; TRM-09 the clock at
/// the smart meter's `wall`, JST).
fn set(
    client: &mut Client<Seeded>,
    change: &Change,
    wall: DateTime<Utc>,
) -> Result<Vec<u8>, ClientError> {
    match change {
        Change::Clock => {
            let to = CosemDateTime::from_chrono(&wall.with_timezone(&jst()));
            client.set(8, CLOCK, 2, &Data::clock_octet_string(&to))
        }
        // The capture period, seconds (TRM-11).
        Change::Interval(i) => {
            let seconds = u32::try_from(i.seconds()).unwrap_or(u32::MAX);
            client.set(7, LOAD_PROFILE, 4, &Data::DoubleLongUnsigned(seconds))
        }
        Change::Password(p) => client.set(1, AUTH_PASSWORD, 2, &Data::OctetString(p.clone())),
    }
}

/// A command's end, if `purpose` is a command.
fn carried(purpose: &Purpose, outcome: Outcome, why: String) -> Option<Ended> {
    match purpose {
        Purpose::Command { request, change } => Some(Ended::Carried(Carried {
            request: *request,
            change: change.clone(),
            outcome,
            why,
        })),
        Purpose::Periodic | Purpose::Backfill { .. } => None,
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
    use super::super::secrets::dlms_password;
    use super::super::server::TerminalApp;
    use super::*;

    const A: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 1];
    const B: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 2];

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-04-01T12:10:00+09:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// One whole session of `terminal` (served by `app`) by `reader` for `purpose`:
    /// what it ended with, if anything.
    fn session(
        reader: &mut Reader,
        app: &mut TerminalApp,
        terminal: [u8; 8],
        purpose: Purpose,
    ) -> Option<Ended> {
        let now = start() + chrono::Duration::minutes(20);
        let mut request = reader.start(Duration::ZERO, terminal, purpose, false);
        for _ in 0..64 {
            let answer = app.answer(now, &request?)?.1?;
            let (next, ended) = reader.answer(Duration::ZERO, now, terminal, &answer);
            if ended.is_some() {
                return ended;
            }
            request = next;
        }
        None
    }

    /// One whole reading session of `terminal` (served by `app`) by `reader`: the
    /// reading, if one completed.
    fn read(reader: &mut Reader, app: &mut TerminalApp, terminal: [u8; 8]) -> Option<Reading> {
        match session(reader, app, terminal, Purpose::Periodic)? {
            Ended::Read(r) => Some(r),
            Ended::Carried(c) => panic!("a reading ended as a command: {c:?}"),
        }
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
            .unwrap()
            .into_iter()
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

    /// TRM-06: a backfill the head end asked for reads the rows of its range, and says
    /// whose request it answers.
    #[test]
    fn trm06_a_backfill_reads_the_range_it_was_asked_for() {
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, b"IOTPASS00002")).unwrap();
        let secrets = TerminalSecrets::from_link_passwords([(B, &b"IOTPASS00002"[..])]);
        let mut reader = Reader::new(1, secrets);
        let from = start() - chrono::Duration::hours(5);
        let to = from + chrono::Duration::hours(2);
        let purpose = Purpose::Backfill {
            request: 41,
            from,
            to,
        };
        let Some(Ended::Read(reading)) = session(&mut reader, &mut b, B, purpose.clone()) else {
            panic!("the backfill did not complete");
        };
        assert_eq!(reading.purpose, purpose);
        let times: Vec<_> = reading
            .rows
            .iter()
            .map(|r| r.time.with_timezone(&Utc))
            .collect();
        assert_eq!(times.len(), 4, "{times:?}");
        assert!(times.iter().all(|t| *t >= from && *t <= to), "{times:?}");
    }

    /// TRM-06: a backfill over days is read [`RANGE_PER_GET`] at a time in one session
    /// (the terminal's management engine answers values up to 16 KiB): every row of the
    /// range once, in order.
    #[test]
    fn trm06_a_backfill_over_days_is_read_a_day_per_get() {
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, b"IOTPASS00002")).unwrap();
        b.model.lock().unwrap().fill_demo(4, start()).unwrap();
        let secrets = TerminalSecrets::from_link_passwords([(B, &b"IOTPASS00002"[..])]);
        let mut reader = Reader::new(1, secrets);
        let to = start() - chrono::Duration::minutes(40);
        let from = to - chrono::Duration::hours(60);
        let purpose = Purpose::Backfill {
            request: 42,
            from,
            to,
        };
        let now = start() + chrono::Duration::minutes(20);
        let mut request = reader.start(Duration::ZERO, B, purpose, false);
        let (mut profile_gets, mut reading) = (0, None);
        let profile = LOAD_PROFILE.0;
        for _ in 0..64 {
            let Some(r) = request.take() else { break };
            profile_gets += usize::from(r.windows(6).any(|w| w == profile));
            let answer = b.answer(now, &r).and_then(|a| a.1).expect("an answer");
            let (next, ended) = reader.answer(Duration::ZERO, now, B, &answer);
            if let Some(Ended::Read(r)) = ended {
                reading = Some(r);
            }
            request = next;
        }
        let reading = reading.expect("the backfill completed");
        assert_eq!(profile_gets, 3, "60 hours: three GETs of a day at most");
        let times: Vec<_> = reading
            .rows
            .iter()
            .map(|r| r.time.with_timezone(&Utc))
            .collect();
        assert_eq!(
            times.len(),
            121,
            "every half hour of 60 hours, both ends: {times:?}"
        );
        assert!(
            times
                .windows(2)
                .all(|w| w[1] - w[0] == chrono::Duration::minutes(30)),
            "{times:?}"
        );
        assert_eq!((times[0], times[120]), (from, to));
    }

    #[test]
    fn trm06_a_terminal_without_a_dlms_secret_is_not_read() {
        let mut reader = Reader::new(1, TerminalSecrets::default());
        assert_eq!(
            reader.start(Duration::ZERO, A, Purpose::Periodic, false),
            None
        );
        assert!(!reader.busy(A));
    }

    /// TRM-09: a reading sets a terminal clock that says it is invalid, and one further
    /// than the tolerance from the smart meter's; a clock within it is left alone, and
    /// with `Unset` only an invalid one is set.
    #[test]
    fn trm09_a_reading_sets_an_unset_or_drifted_terminal_clock() {
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, b"IOTPASS00002")).unwrap();
        b.model.lock().unwrap().set_clock_valid(false);
        let secrets = || TerminalSecrets::from_link_passwords([(B, &b"IOTPASS00002"[..])]);
        let clock = |b: &TerminalApp| b.model.lock().unwrap().clock().status() & 0x01;
        let mut reader = Reader::new(1, secrets());
        assert!(read(&mut reader, &mut b, B).is_some());
        assert_eq!(reader.clock_sets, 1, "an invalid clock is set");
        assert_eq!(clock(&b), 0, "and valid then");
        assert!(read(&mut reader, &mut b, B).is_some());
        assert_eq!(reader.clock_sets, 1, "a clock in time is left alone");
        // The smart meter's clock 60 s ahead of the terminal's.
        let ahead = |reader: &mut Reader, b: &mut TerminalApp| {
            let now = start() + chrono::Duration::minutes(20);
            let mut request = reader.start(Duration::ZERO, B, Purpose::Periodic, false);
            for _ in 0..64 {
                let Some(answer) = request.and_then(|r| b.answer(now, &r)).and_then(|a| a.1) else {
                    return;
                };
                let (next, reading) = reader.answer(
                    Duration::ZERO,
                    now + chrono::Duration::seconds(60),
                    B,
                    &answer,
                );
                if reading.is_some() {
                    return;
                }
                request = next;
            }
        };
        let mut lenient = Reader::new(1, secrets()).with_clock_sync(ClockSync::Unset);
        ahead(&mut lenient, &mut b);
        assert_eq!(lenient.clock_sets, 0, "Unset leaves a valid clock alone");
        ahead(&mut reader, &mut b);
        assert_eq!(reader.clock_sets, 2, "a clock 60 s off is set");
        let off = b.model.lock().unwrap().clock().offset();
        assert!(
            (off - chrono::Duration::seconds(60)).abs() < chrono::Duration::seconds(1),
            "{off}"
        );
    }
    /// The command `change` as request 5, carried out on B (served by `b`) by `reader`.
    fn command(reader: &mut Reader, b: &mut TerminalApp, change: Change) -> Carried {
        let purpose = Purpose::Command { request: 5, change };
        match session(reader, b, B, purpose) {
            Some(Ended::Carried(c)) => c,
            other => panic!("the command did not end: {other:?}"),
        }
    }

    /// TRM-08: a password command whose association under the old secret is refused
    /// tries the new one (the terminal took it, the answer to the SET was lost, this is
    /// the session started again): the terminal holding it, the command is done.
    #[test]
    fn trm08_a_password_command_finds_the_new_password_taken_already() {
        let new = b"NEWPASSWORD-1".to_vec();
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, &new)).unwrap();
        let old = TerminalSecrets::from_link_passwords([(B, &b"IOTPASS00002"[..])]);
        let mut reader = Reader::new(1, old.clone());
        let c = command(&mut reader, &mut b, Change::Password(new));
        assert_eq!((c.request, c.outcome), (5, Outcome::Done), "{c:?}");
        assert_eq!(reader.refused, 1, "the old secret was refused first");
        // Another password than the terminal's: refused under both.
        let mut reader = Reader::new(1, old);
        let c = command(
            &mut reader,
            &mut b,
            Change::Password(b"OTHERPASS-2".to_vec()),
        );
        assert_eq!(c.outcome, Outcome::Refused, "{c:?}");
        assert!(c.why.contains("refused the association"), "{c:?}");
        assert_eq!(reader.refused, 2);
    }

    /// TRM-08: a SET the terminal refuses (a password shorter than it takes) is told as
    /// refused, with the terminal's result; the session is released.
    #[test]
    fn trm08_a_set_the_terminal_refuses_is_told_refused_with_its_result() {
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, b"IOTPASS00002")).unwrap();
        let secrets = TerminalSecrets::from_link_passwords([(B, &b"IOTPASS00002"[..])]);
        let mut reader = Reader::new(1, secrets);
        let c = command(&mut reader, &mut b, Change::Password(b"short".to_vec()));
        assert_eq!(c.outcome, Outcome::Refused, "{c:?}");
        assert!(c.why.contains("refused the SET"), "{c:?}");
        assert!(reader.busy(B), "releasing");
    }

    /// TRM-08: no password in what a session's purpose or end shows.
    #[test]
    fn trm08_a_password_never_shows_in_debug() {
        let change = Change::Password(b"SECRETPASS-9".to_vec());
        let purpose = Purpose::Command {
            request: 1,
            change: change.clone(),
        };
        let carried = Carried {
            request: 1,
            change,
            outcome: Outcome::Done,
            why: String::new(),
        };
        for shown in [format!("{purpose:?}"), format!("{carried:?}")] {
            assert!(!shown.contains("SECRETPASS"), "{shown}");
            assert!(!shown.contains("83, 69, 67"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
    /// A session silent in its release only is not started again: what it was for was
    /// done and told (a command's outcome would be told twice); one silent before is.
    /// A terminal that leaves gives back the purpose of its session under way, unless
    /// that was done too.
    #[test]
    fn trm06_a_session_silent_in_its_release_only_is_not_started_again() {
        let mut b = TerminalApp::new(start(), 2, 9, dlms_password(B, b"IOTPASS00002")).unwrap();
        let secrets = TerminalSecrets::from_link_passwords([(B, &b"IOTPASS00002"[..])]);
        let mut reader = Reader::new(1, secrets);
        let purpose = Purpose::Command {
            request: 8,
            change: Change::Clock,
        };
        assert!(matches!(
            session(&mut reader, &mut b, B, purpose.clone()),
            Some(Ended::Carried(_))
        ));
        assert!(reader.busy(B), "the release is unanswered");
        assert_eq!(reader.forget(B), None, "done already");
        let now = start() + chrono::Duration::minutes(20);
        let aarq = reader.start(Duration::ZERO, B, purpose.clone(), false);
        let aare = b.answer(now, &aarq.unwrap()).unwrap().1.unwrap();
        let (set, _) = reader.answer(Duration::ZERO, now, B, &aare);
        let answer = b.answer(now, &set.unwrap()).unwrap().1.unwrap();
        reader.answer(Duration::ZERO, now, B, &answer);
        assert!(reader.busy(B));
        assert!(reader.stalled(SESSION_TIMEOUT).is_empty(), "done already");
        assert!(!reader.busy(B));
        reader.start(Duration::ZERO, B, purpose.clone(), false);
        assert_eq!(reader.stalled(SESSION_TIMEOUT), vec![(B, purpose.clone())]);
        reader.start(Duration::ZERO, B, purpose.clone(), false);
        assert_eq!(reader.forget(B), Some(purpose));
    }
}
