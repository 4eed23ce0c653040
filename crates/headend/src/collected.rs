//! Terminal logs collected by the head end (OPS-06: logs collected, kept, reviewed,
//! protected against tampering): a terminal's access or event log (SEC-09, the
//! hash-chained JSON Lines of `crates/logs`) brought back with its head — from the
//! terminal's data directory at a maintenance visit, or sent by its vendor — is verified
//! when collected and kept whole with its verdict, append-only, so that a review shows
//! what the terminal wrote and whether it is intact, and a later edit of the file cannot
//! change what was collected. Kept [`LOGS_KEPT_DAYS`], then removed by `iotroute
//! headend prune`.

use chrono::{DateTime, Utc};
use wisun::mac::Eui64;

/// How long the head end keeps a collected log, days **(ours)**: three years, the
/// evidence of an incident outlasting its report.
pub const LOGS_KEPT_DAYS: u32 = 1_095;

/// Largest log file taken, bytes (a terminal rotates its logs well below).
pub const LOG_MAX: usize = 16 << 20;

/// What verifying a log against its head found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every record well formed, hashed right, in sequence and linked, up to the head.
    Intact,
    /// The first fault, as `logs::Broken` or the head's reading tells it.
    Broken(String),
}

impl Verdict {
    /// `intact`, or `broken: <why>`.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Intact => "intact".to_owned(),
            Self::Broken(why) => format!("broken: {why}"),
        }
    }

    /// From [`Self::text`].
    #[must_use]
    pub fn of(text: &str) -> Self {
        text.strip_prefix("broken: ")
            .map_or(Self::Intact, |why| Self::Broken(why.to_owned()))
    }
}

/// A collected log, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedLog {
    /// Its number in the store (0 before it is kept).
    pub seq: u64,
    /// The terminal it is of.
    pub terminal: Eui64,
    /// The file's name (`access.jsonl`, `event-120.jsonl`, ...).
    pub name: String,
    /// When it was collected, and by whom.
    pub collected_at: DateTime<Utc>,
    /// Who collected it.
    pub by: String,
    /// Its records' sequence numbers, first and last (`first - 1` when empty), as far
    /// as they verified; the head's otherwise.
    pub first_seq: u64,
    /// The last.
    pub last_seq: u64,
    /// The verdict at collection.
    pub verdict: Verdict,
}

/// Why a log is not taken at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    /// Larger than [`LOG_MAX`].
    #[error("the log is {0} bytes, more than the {LOG_MAX} taken")]
    TooLarge(usize),
    /// Not text.
    #[error("the log is not UTF-8 text")]
    NotText,
    /// A name that is not a file name.
    #[error("{0:?} is not a log file name")]
    Name(String),
}

/// Verify `content` against `head` (its JSON) and describe it as collected from
/// `terminal` by `by` at `at` under `name`. A head that does not read is a broken
/// verdict, not a refusal: what was brought back is kept as evidence either way.
///
/// # Errors
/// [`CollectError`]: too large, not text, a bad name.
pub fn collect(
    terminal: Eui64,
    name: &str,
    content: &[u8],
    head: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<CollectedLog, CollectError> {
    if content.len() > LOG_MAX {
        return Err(CollectError::TooLarge(content.len()));
    }
    let ok_name = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok_name {
        return Err(CollectError::Name(name.chars().take(100).collect()));
    }
    let text = std::str::from_utf8(content).map_err(|_| CollectError::NotText)?;
    let (verdict, first_seq, last_seq) = match serde_json::from_str::<logs::Head>(head) {
        Err(e) => (
            Verdict::Broken(format!("the head does not read: {e}")),
            0,
            0,
        ),
        Ok(h) => match logs::verify(text.lines(), &h) {
            Ok(v) => (Verdict::Intact, v.first_seq, v.last_seq),
            Err(b) => (Verdict::Broken(b.to_string()), h.first_seq, h.seq),
        },
    };
    Ok(CollectedLog {
        seq: 0,
        terminal,
        name: name.to_owned(),
        collected_at: at,
        by: by.to_owned(),
        first_seq,
        last_seq,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops06_a_log_without_a_readable_head_is_kept_as_broken_and_odd_input_refused() {
        let t = Eui64([2; 8]);
        let now = Utc::now();
        let kept = collect(t, "event.jsonl", b"", "not json", "sato", now).unwrap();
        assert!(
            matches!(kept.verdict, Verdict::Broken(ref why) if why.starts_with("the head does not read"))
        );
        assert_eq!(Verdict::of(&kept.verdict.text()), kept.verdict);
        assert_eq!(Verdict::of("intact"), Verdict::Intact);
        for name in ["", "../event.jsonl", "a/b", "event jsonl"] {
            assert!(
                matches!(
                    collect(t, name, b"", "{}", "sato", now),
                    Err(CollectError::Name(_))
                ),
                "{name:?}"
            );
        }
        assert_eq!(
            collect(t, "e.jsonl", &[0xFF], "{}", "sato", now),
            Err(CollectError::NotText)
        );
        let big = vec![b'x'; LOG_MAX + 1];
        assert_eq!(
            collect(t, "e.jsonl", &big, "{}", "sato", now),
            Err(CollectError::TooLarge(LOG_MAX + 1))
        );
    }
}
