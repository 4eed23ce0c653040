//! The smart meter's reading sessions, one per terminal at a time (TRM-06).

use core::time::Duration;
use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use dlms::client::{Authentication, Client, ClientSettings, Event, Security};
use dlms::cosem::range_selector;
use dlms::text::jst;
use dlms::{CosemDateTime, Data, Obis};

use super::entropy::Seeded;
use super::secrets::TerminalSecrets;
use super::MANAGEMENT_WPORT;

/// How far back each reading reads the load profile.
const BACKFILL: chrono::Duration = chrono::Duration::hours(6);
/// The terminal's clock object.
const CLOCK: Obis = Obis::new(0, 0, 1, 0, 0, 255);
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

/// Why a session reads a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Start a reading of `terminal` at `now` for `purpose`: the AARQ to send (wrapper
    /// frame, UDP 4059). A session already under way is replaced. `None` (logged) for a
    /// terminal without a DLMS secret.
    pub fn start(
        &mut self,
        now: Duration,
        terminal: [u8; 8],
        purpose: Purpose,
        restart: bool,
    ) -> Option<Vec<u8>> {
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
                    purpose,
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
    /// again (for the same purpose).
    pub fn stalled(&mut self, now: Duration) -> Vec<([u8; 8], Purpose)> {
        let mut gone = Vec::new();
        self.sessions.retain(|t, s| {
            let alive = now < s.last_activity + SESSION_TIMEOUT;
            if !alive {
                gone.push((*t, s.reading.purpose));
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
        let range = match s.reading.purpose {
            Purpose::Periodic => {
                let to = wall.with_timezone(&jst());
                range_selector(&(to - BACKFILL), &to)
            }
            Purpose::Backfill { from, to, .. } => {
                range_selector(&from.with_timezone(&jst()), &to.with_timezone(&jst()))
            }
        };
        let mut done = None;
        let next = match (s.step, event) {
            (_, Event::Send(bytes)) => Some(Ok(bytes)),
            (Step::Associating, Event::Established) if self.clock_sync == ClockSync::Off => {
                s.step = Step::EnergyIn;
                Some(s.client.get(3, Obis::new(1, 0, 1, 8, 0, 255), 2, None))
            }
            (Step::Associating, Event::Established) => {
                s.step = Step::Clock;
                Some(s.client.get(8, CLOCK, 2, None))
            }
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
                    let value = Data::clock_octet_string(&CosemDateTime::from_chrono(&to));
                    Some(s.client.set(8, CLOCK, 2, &value))
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

    /// One whole reading session of `terminal` (served by `app`) by `reader`: the
    /// reading, if one completed.
    fn read(reader: &mut Reader, app: &mut TerminalApp, terminal: [u8; 8]) -> Option<Reading> {
        let now = start() + chrono::Duration::minutes(20);
        let mut request = reader.start(Duration::ZERO, terminal, Purpose::Periodic, false);
        for _ in 0..64 {
            let answer = app.answer(now, &request?)?.1?;
            let (next, reading) = reader.answer(Duration::ZERO, now, terminal, &answer);
            if reading.is_some() {
                return reading;
            }
            request = next;
        }
        None
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
        let now = start() + chrono::Duration::minutes(20);
        let mut request = reader.start(Duration::ZERO, B, purpose, false);
        let mut reading = None;
        for _ in 0..64 {
            let Some(answer) = request.and_then(|r| b.answer(now, &r)).and_then(|a| a.1) else {
                break;
            };
            let (next, done) = reader.answer(Duration::ZERO, now, B, &answer);
            if done.is_some() {
                reading = done;
                break;
            }
            request = next;
        }
        let reading = reading.expect("the backfill completed");
        assert_eq!(reading.purpose, purpose);
        let times: Vec<_> = reading
            .rows
            .iter()
            .map(|r| r.time.with_timezone(&Utc))
            .collect();
        assert_eq!(times.len(), 4, "{times:?}");
        assert!(times.iter().all(|t| *t >= from && *t <= to), "{times:?}");
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
}
