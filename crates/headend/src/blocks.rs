//! Blocking and reconnecting a device point (OPS-07): the utility blocks the
//! communication of a user's device judged high-risk — the smart meter revokes and drops
//! the terminal — and reconnects it later, when the blocked period is backfilled from
//! the terminal's store. Every block and reconnect is recorded with its reason, time and
//! who decided; the records are only ever appended.

use chrono::{DateTime, Utc};

use crate::point::SupplyPoint;

/// Longest reason or name kept, characters.
pub const TEXT_MAX: usize = 200;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockAction {
    /// The point's terminal is cut off.
    Block,
    /// It is let back.
    Reconnect,
}

impl BlockAction {
    /// Its name, as stored.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Reconnect => "reconnect",
        }
    }

    /// From its stored name.
    #[must_use]
    pub fn of(name: &str) -> Option<Self> {
        match name {
            "block" => Some(Self::Block),
            "reconnect" => Some(Self::Reconnect),
            _ => None,
        }
    }
}

/// One block or reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// The point.
    pub point: SupplyPoint,
    /// Block or reconnect.
    pub action: BlockAction,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
}

/// A blocked period: from a block to its reconnect (`to` `None`: still blocked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockPeriod {
    /// The point.
    pub point: String,
    /// Blocked at.
    pub from: DateTime<Utc>,
    /// Reconnected at.
    pub to: Option<DateTime<Utc>>,
    /// Why it was blocked.
    pub reason: String,
    /// Who blocked it.
    pub by: String,
    /// Why it was reconnected.
    pub reconnect_reason: Option<String>,
    /// Who reconnected it.
    pub reconnected_by: Option<String>,
}

/// Why a block or reconnect was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// No such point in the registry.
    #[error("supply point {0} is not registered")]
    Unknown(String),
    /// Blocked already.
    #[error("supply point {0} is blocked already")]
    AlreadyBlocked(String),
    /// Not blocked.
    #[error("supply point {0} is not blocked")]
    NotBlocked(String),
    /// A reason or name empty, too long or with control characters.
    #[error("{0}: 1 to {TEXT_MAX} characters, no control characters")]
    Text(&'static str),
    /// Earlier than the point's last record.
    #[error("supply point {0}: a record earlier than its last one")]
    Earlier(String),
}

/// Whether `s` may be kept as a reason or a name: 1 to [`TEXT_MAX`] characters, none a
/// control character (a terminal escape in a record would rewrite the listing).
pub(crate) fn text_ok(s: &str) -> bool {
    let n = s.chars().count();
    (1..=TEXT_MAX).contains(&n) && !s.chars().any(char::is_control)
}

/// Whether `record` may follow `before`, the point's records so far, oldest first
/// (OPS-07: a block only of a point not blocked, a reconnect only of a blocked one).
///
/// # Errors
/// [`BlockError`].
pub fn check(before: &[BlockRecord], record: &BlockRecord) -> Result<(), BlockError> {
    if !text_ok(&record.reason) {
        return Err(BlockError::Text("reason"));
    }
    if !text_ok(&record.by) {
        return Err(BlockError::Text("by"));
    }
    let last = before.last();
    if last.is_some_and(|l| record.at < l.at) {
        return Err(BlockError::Earlier(record.point.to_string()));
    }
    let blocked = last.is_some_and(|l| l.action == BlockAction::Block);
    match (record.action, blocked) {
        (BlockAction::Block, true) => Err(BlockError::AlreadyBlocked(record.point.to_string())),
        (BlockAction::Reconnect, false) => Err(BlockError::NotBlocked(record.point.to_string())),
        _ => Ok(()),
    }
}

/// The blocked periods of `records` (every point's, oldest first per point).
#[must_use]
pub fn periods(records: &[BlockRecord]) -> Vec<BlockPeriod> {
    let mut out: Vec<BlockPeriod> = Vec::new();
    for r in records {
        match r.action {
            BlockAction::Block => out.push(BlockPeriod {
                point: r.point.to_string(),
                from: r.at,
                to: None,
                reason: r.reason.clone(),
                by: r.by.clone(),
                reconnect_reason: None,
                reconnected_by: None,
            }),
            BlockAction::Reconnect => {
                if let Some(open) = out
                    .iter_mut()
                    .rev()
                    .find(|p| p.point == r.point.as_str() && p.to.is_none())
                {
                    open.to = Some(r.at);
                    open.reconnect_reason = Some(r.reason.clone());
                    open.reconnected_by = Some(r.by.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(action: BlockAction, minute: u32) -> BlockRecord {
        BlockRecord {
            point: "0900000000000000000001".parse().unwrap(),
            action,
            at: Utc.with_ymd_and_hms(2026, 4, 1, 0, minute, 0).unwrap(),
            reason: "suspected tampering".to_owned(),
            by: "operator-1".to_owned(),
        }
    }

    #[test]
    fn ops07_block_only_what_is_not_blocked_and_reconnect_only_what_is() {
        let block = rec(BlockAction::Block, 1);
        let reconnect = rec(BlockAction::Reconnect, 2);
        assert_eq!(check(&[], &block), Ok(()));
        assert!(matches!(
            check(&[], &reconnect),
            Err(BlockError::NotBlocked(_))
        ));
        assert!(matches!(
            check(std::slice::from_ref(&block), &rec(BlockAction::Block, 3)),
            Err(BlockError::AlreadyBlocked(_))
        ));
        assert_eq!(check(std::slice::from_ref(&block), &reconnect), Ok(()));
        assert!(matches!(
            check(
                std::slice::from_ref(&block),
                &rec(BlockAction::Reconnect, 0)
            ),
            Err(BlockError::Earlier(_))
        ));
        let mut empty = rec(BlockAction::Block, 1);
        empty.reason = String::new();
        assert_eq!(check(&[], &empty), Err(BlockError::Text("reason")));
        let mut control = rec(BlockAction::Block, 1);
        control.by = "a\u{1b}[2Jb".to_owned();
        assert_eq!(check(&[], &control), Err(BlockError::Text("by")));
    }

    #[test]
    fn ops07_periods_pair_each_block_with_its_reconnect() {
        let p = periods(&[
            rec(BlockAction::Block, 1),
            rec(BlockAction::Reconnect, 2),
            rec(BlockAction::Block, 3),
        ]);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].to, Some(rec(BlockAction::Reconnect, 2).at));
        assert_eq!(p[0].reconnected_by.as_deref(), Some("operator-1"));
        assert_eq!(p[1].to, None);
    }
}
