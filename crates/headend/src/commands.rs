//! The settings the head end commands a point's terminal to take, through its smart meter
//! (issue 12; A route methods 4, 7 and 8, docs/a-route.md): its clock set (TRM-09), its
//! reading interval switched (TRM-11), its authentication password changed (TRM-08; the
//! authentication ID, the terminal ID, never changes). And one that tells the smart meter
//! rather than the terminal (method 9, ours): the password the handy terminal changed on
//! the terminal (TRM-08), which the smart meter takes for it without a session. An
//! operator records each (`iotroute headend set-clock|set-interval|set-password|
//! terminal-secret`); the running head end sends it and records what the smart meter's
//! *done* says. Records are kept like block records: who asked, when, and later the
//! outcome, written once.
//!
//! Each command's request number on the A route is its record's number in the range of
//! [`COMMAND_REQUESTS`], not one counted by the process: a *done* that arrives after a
//! restart of the head end still names its own record, never a later command's.

use chrono::{DateTime, Utc};
use nodes::terminal::slots::Interval;

use crate::point::SupplyPoint;

/// The first request number of the commands recorded here: request = this + the
/// record's number. Backfills count below `1 << 31`, blocks from `1 << 31` up to here.
pub const COMMAND_REQUESTS: u32 = 0xC000_0000;

/// Most records whose number still fits in [`COMMAND_REQUESTS`]' range.
pub const SEQ_MAX: u64 = (u32::MAX - COMMAND_REQUESTS) as u64;

/// The request number of record `seq`, if it has one.
#[must_use]
pub fn request_of(seq: u64) -> Option<u32> {
    (1..=SEQ_MAX)
        .contains(&seq)
        .then(|| COMMAND_REQUESTS + u32::try_from(seq).unwrap_or(0))
}

/// The record a request number names, if it is a command's.
#[must_use]
pub fn seq_of(request: u32) -> Option<u64> {
    (request > COMMAND_REQUESTS).then(|| u64::from(request - COMMAND_REQUESTS))
}

/// A new authentication password (TRM-08): 8 to 32 bytes, what the terminal takes.
/// `Debug` never shows it; it is kept only until its command's outcome, after which the
/// head end keeps only the DLMS secret derived from it.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(Vec<u8>);

impl NewPassword {
    /// `bytes` as a new password.
    ///
    /// # Errors
    /// [`CommandError::PasswordLength`] (the length only, never the bytes).
    pub fn new(bytes: Vec<u8>) -> Result<Self, CommandError> {
        // TRM-08: the terminal's password attribute takes 8 to 32 bytes.
        let allowed = dlms::cosem::data::PASSWORD_MIN..=dlms::cosem::data::PASSWORD_MAX;
        if allowed.contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(CommandError::PasswordLength(bytes.len()))
        }
    }

    /// The password, for the one command that carries it and the secret derived from it.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// What a command sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// The terminal's clock, to its smart meter's (TRM-09).
    Clock,
    /// The reading interval (TRM-11).
    Interval(Interval),
    /// The authentication password (TRM-08).
    Password(NewPassword),
    /// The authentication password the terminal has already (TRM-08: changed by the
    /// handy terminal), for its smart meter to take without a session with it.
    TerminalSecret(NewPassword),
}

impl Setting {
    /// Its kind, as recorded.
    #[must_use]
    pub const fn kind(&self) -> CommandKind {
        match self {
            Self::Clock => CommandKind::SetClock,
            Self::Interval(_) => CommandKind::SetInterval,
            Self::Password(_) => CommandKind::SetPassword,
            Self::TerminalSecret(_) => CommandKind::TerminalSecret,
        }
    }

    /// The password it carries, kept until its end (TRM-08).
    #[must_use]
    pub const fn password(&self) -> Option<&NewPassword> {
        match self {
            Self::Password(pw) | Self::TerminalSecret(pw) => Some(pw),
            Self::Clock | Self::Interval(_) => None,
        }
    }
}

/// A command's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandKind {
    /// Set the clock.
    SetClock,
    /// Switch the interval.
    SetInterval,
    /// Change the password.
    SetPassword,
    /// Tell the smart meter the password the terminal has.
    TerminalSecret,
}

impl CommandKind {
    /// Its name, as stored and as the CLI's subcommand.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::SetClock => "set-clock",
            Self::SetInterval => "set-interval",
            Self::SetPassword => "set-password",
            Self::TerminalSecret => "terminal-secret",
        }
    }

    /// From its stored name.
    #[must_use]
    pub fn of(name: &str) -> Option<Self> {
        [
            Self::SetClock,
            Self::SetInterval,
            Self::SetPassword,
            Self::TerminalSecret,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// Whether it carries a password (TRM-08): kept until its end, and once done the
    /// terminal's DLMS secret is the one derived from it.
    #[must_use]
    pub const fn carries_password(self) -> bool {
        matches!(self, Self::SetPassword | Self::TerminalSecret)
    }
}

/// What the smart meter said the command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandOutcome {
    /// Done: the terminal took the setting.
    Done,
    /// The terminal refused it.
    Refused,
    /// It could not be done (the terminal not joined, no answer, the smart meter
    /// refused the command).
    Failed,
}

impl CommandOutcome {
    /// Its name, as stored.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    /// From its stored name.
    #[must_use]
    pub fn of(name: &str) -> Option<Self> {
        [Self::Done, Self::Refused, Self::Failed]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

impl From<dlms::relay::message::Outcome> for CommandOutcome {
    fn from(o: dlms::relay::message::Outcome) -> Self {
        use dlms::relay::message::Outcome;
        match o {
            Outcome::Done => Self::Done,
            Outcome::Refused => Self::Refused,
            Outcome::Failed => Self::Failed,
        }
    }
}

/// A command's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEnd {
    /// What it did.
    pub outcome: CommandOutcome,
    /// Why, for a refusal or a failure (empty when done).
    pub reason: String,
    /// When the head end learnt it.
    pub at: DateTime<Utc>,
}

/// One command as recorded (the password of a `set-password` or a `terminal-secret` is
/// not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// Its number (from 1, in the order recorded).
    pub seq: u64,
    /// The point whose terminal it is for.
    pub point: SupplyPoint,
    /// What it sets.
    pub kind: CommandKind,
    /// The interval, for a `set-interval`.
    pub minutes: Option<u8>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who asked.
    pub by: String,
    /// Its end; `None` while pending.
    pub end: Option<CommandEnd>,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such point in the registry.
    #[error("supply point {0} is not registered")]
    Unknown(String),
    /// An interval the terminal does not take (as it was written).
    #[error("an interval of {0:?} minutes: 15 or 30 (TRM-11)")]
    Minutes(String),
    /// A password the terminal does not take.
    #[error("a new password of {0} bytes: 8 to 32 (TRM-08)")]
    PasswordLength(usize),
    /// The name of who asked is empty, too long or has control characters.
    #[error(
        "by: 1 to {} characters, no control characters",
        crate::blocks::TEXT_MAX
    )]
    By,
    /// More commands than request numbers.
    #[error("command record {0}: beyond the request numbers of commands")]
    Full(u64),
}

/// The interval of `minutes` as an operator writes it, if the terminal takes it
/// (TRM-11: 15 or 30).
///
/// # Errors
/// [`CommandError::Minutes`].
pub fn interval(minutes: &str) -> Result<Interval, CommandError> {
    minutes
        .parse::<u8>()
        .ok()
        .and_then(Interval::from_minutes)
        .ok_or_else(|| CommandError::Minutes(minutes.to_owned()))
}

/// Whether a command for `point` by `by` may be recorded with the registered
/// `points`.
///
/// # Errors
/// [`CommandError`].
pub fn check(
    points: &[crate::registry::DevicePoint],
    point: &SupplyPoint,
    by: &str,
) -> Result<(), CommandError> {
    if !points.iter().any(|p| &p.supply_point == point) {
        return Err(CommandError::Unknown(point.to_string()));
    }
    if !crate::blocks::text_ok(by) {
        return Err(CommandError::By);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trm08_a_new_password_is_8_to_32_bytes_and_never_shown() {
        assert_eq!(
            NewPassword::new(vec![b'x'; 7]),
            Err(CommandError::PasswordLength(7))
        );
        assert_eq!(
            NewPassword::new(vec![b'x'; 33]),
            Err(CommandError::PasswordLength(33))
        );
        let p = NewPassword::new(b"NEWPASS-0001".to_vec()).unwrap();
        assert_eq!(p.expose(), b"NEWPASS-0001");
        for setting in [Setting::Password(p.clone()), Setting::TerminalSecret(p)] {
            let shown = format!("{setting:?}");
            assert!(!shown.contains("NEWPASS"), "{shown}");
        }
    }

    #[test]
    fn trm08_a_terminal_secret_is_stored_by_its_name_and_carries_its_password() {
        for kind in [
            CommandKind::SetClock,
            CommandKind::SetInterval,
            CommandKind::SetPassword,
            CommandKind::TerminalSecret,
        ] {
            assert_eq!(CommandKind::of(kind.name()), Some(kind));
        }
        assert_eq!(CommandKind::TerminalSecret.name(), "terminal-secret");
        let p = NewPassword::new(b"HANDY-PASS-01".to_vec()).unwrap();
        let s = Setting::TerminalSecret(p.clone());
        assert_eq!(s.kind(), CommandKind::TerminalSecret);
        assert_eq!(s.password(), Some(&p));
        assert!(s.kind().carries_password() && CommandKind::SetPassword.carries_password());
        assert!(!CommandKind::SetClock.carries_password());
        assert_eq!(Setting::Clock.password(), None);
    }

    #[test]
    fn trm11_an_interval_is_15_or_30_minutes() {
        assert_eq!(interval("15"), Ok(Interval::Quarter));
        assert_eq!(interval("30"), Ok(Interval::Half));
        for bad in ["20", "271", "", "half"] {
            assert_eq!(interval(bad), Err(CommandError::Minutes(bad.to_owned())));
        }
    }

    #[test]
    fn a_records_request_number_names_it_and_no_backfill_or_block() {
        assert_eq!(request_of(1), Some(COMMAND_REQUESTS + 1));
        assert_eq!(seq_of(COMMAND_REQUESTS + 1), Some(1));
        assert_eq!(request_of(0), None);
        assert_eq!(request_of(SEQ_MAX + 1), None);
        assert_eq!(seq_of(request_of(SEQ_MAX).unwrap()), Some(SEQ_MAX));
        assert_eq!(seq_of(COMMAND_REQUESTS), None);
        assert_eq!(seq_of((1 << 31) + 5), None, "a block's");
        assert_eq!(seq_of(17), None, "a backfill's");
    }
}
