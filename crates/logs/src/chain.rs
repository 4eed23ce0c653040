//! The chain of a log file and its head, sans-IO.
//!
//! A log file holds records `first_seq..=seq` in order; the first one's `prev` is the
//! hash of the record before the file (the end of the previous file after a rotation,
//! [`Hash::ZERO`] for a log's very first file). The **head** is kept apart from the file
//! (`NAME.head.json` beside it): where the file starts, and its last sequence number and
//! hash. The chain alone finds an edited, removed, inserted or reordered record; the head
//! finds what the chain cannot — records cut off the end, or off the start.

use serde::{Deserialize, Serialize};

use crate::record::{Hash, Record, RecordError};

/// What is kept apart from a log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// The file's first sequence number.
    pub first_seq: u64,
    /// The `prev` of the file's first record.
    pub first_prev: Hash,
    /// The last record's sequence number (`first_seq - 1` for an empty file).
    pub seq: u64,
    /// The last record's hash (`first_prev` for an empty file).
    pub hash: Hash,
    /// The last record's time (for retention), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
}

impl Head {
    /// The head of an empty file starting at `first_seq` after `first_prev`.
    #[must_use]
    pub const fn empty(first_seq: u64, first_prev: Hash) -> Self {
        Self {
            first_seq,
            first_prev,
            seq: first_seq.saturating_sub(1),
            hash: first_prev,
            last_time: None,
        }
    }

    /// Records in the file.
    #[must_use]
    pub const fn records(&self) -> u64 {
        self.seq.saturating_add(1).saturating_sub(self.first_seq)
    }

    /// The record that follows, made and counted.
    pub fn append(&mut self, time: &str, kind: &str, details: serde_json::Value) -> Record {
        let r = Record::seal(self.seq.saturating_add(1), time, kind, details, self.hash);
        self.seq = r.seq;
        self.hash = r.hash;
        self.last_time = Some(r.time.clone());
        r
    }
}

/// Why a file does not verify: the first bad place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// A line that is not a record.
    #[error("line {line}: {error}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// Why.
        error: RecordError,
    },
    /// A record whose hash does not match its content: edited.
    #[error("record {seq} (line {line}): its content does not match its hash (edited)")]
    Edited {
        /// 1-based line number.
        line: usize,
        /// Its sequence number.
        seq: u64,
    },
    /// A record out of sequence: one was removed, inserted or moved before it.
    #[error("record {seq} (line {line}): expected record {expected} here (removed, inserted or reordered records)")]
    OutOfSequence {
        /// 1-based line number.
        line: usize,
        /// Its sequence number.
        seq: u64,
        /// The one the chain expects.
        expected: u64,
    },
    /// A record that does not follow the one before it (its `prev` is another hash).
    #[error("record {seq} (line {line}): does not follow the record before it (prev differs)")]
    Unlinked {
        /// 1-based line number.
        line: usize,
        /// Its sequence number.
        seq: u64,
    },
    /// The file ends before the head's last record: records were cut off.
    #[error("the file ends at record {last} but its head says {head}: records {} to {head} are missing (truncated)", last + 1)]
    Truncated {
        /// The file's last record (`first - 1` when empty).
        last: u64,
        /// The head's.
        head: u64,
    },
    /// Records after the head's last one (appended behind the writer's back, or written
    /// by a writer that stopped before it moved the head).
    #[error("record {seq} (line {line}) is beyond the head's last record {head}")]
    BeyondHead {
        /// 1-based line number.
        line: usize,
        /// Its sequence number.
        seq: u64,
        /// The head's last record.
        head: u64,
    },
    /// The last record is the head's number but another record.
    #[error("record {seq} (line {line}) is not the record the head names")]
    NotTheHead {
        /// 1-based line number.
        line: usize,
        /// Its sequence number.
        seq: u64,
    },
}

impl Broken {
    /// The 1-based line of the first bad record, when the fault has one.
    #[must_use]
    pub const fn line(&self) -> Option<usize> {
        match self {
            Self::Malformed { line, .. }
            | Self::Edited { line, .. }
            | Self::OutOfSequence { line, .. }
            | Self::Unlinked { line, .. }
            | Self::BeyondHead { line, .. }
            | Self::NotTheHead { line, .. } => Some(*line),
            Self::Truncated { .. } => None,
        }
    }
}

/// What verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The first sequence number.
    pub first_seq: u64,
    /// The last record's (`first_seq - 1` for an empty file).
    pub last_seq: u64,
    /// The last record's hash.
    pub last_hash: Hash,
}

/// Check the `lines` of a file against its `head`: every record well formed, hashed
/// right, in sequence from the head's start, linked to the one before, and the last one
/// the head's.
///
/// # Errors
/// [`Broken`]: the first bad place.
pub fn verify<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    head: &Head,
) -> Result<Verified, Broken> {
    let mut expected_seq = head.first_seq;
    let mut prev = head.first_prev;
    for (i, text) in lines.into_iter().enumerate() {
        let line = i + 1;
        let record = Record::parse_line(text).map_err(|error| Broken::Malformed { line, error })?;
        if record.digest() != record.hash {
            return Err(Broken::Edited {
                line,
                seq: record.seq,
            });
        }
        if record.seq > head.seq && record.seq == expected_seq {
            return Err(Broken::BeyondHead {
                line,
                seq: record.seq,
                head: head.seq,
            });
        }
        if record.seq != expected_seq {
            return Err(Broken::OutOfSequence {
                line,
                seq: record.seq,
                expected: expected_seq,
            });
        }
        if record.prev != prev {
            return Err(Broken::Unlinked {
                line,
                seq: record.seq,
            });
        }
        if record.seq == head.seq && record.hash != head.hash {
            return Err(Broken::NotTheHead {
                line,
                seq: record.seq,
            });
        }
        prev = record.hash;
        expected_seq = expected_seq.saturating_add(1);
    }
    let last = expected_seq.saturating_sub(1);
    if expected_seq <= head.seq {
        return Err(Broken::Truncated {
            last,
            head: head.seq,
        });
    }
    Ok(Verified {
        first_seq: head.first_seq,
        last_seq: last,
        last_hash: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> (Vec<String>, Head) {
        let mut head = Head::empty(1, Hash::ZERO);
        let lines = (0..n)
            .map(|i| {
                head.append(
                    &format!("2026-12-05T10:{i:02}:00+09:00"),
                    "set",
                    serde_json::json!({ "n": i }),
                )
                .to_line()
            })
            .collect();
        (lines, head)
    }

    fn check(lines: &[String], head: &Head) -> Result<Verified, Broken> {
        verify(lines.iter().map(String::as_str), head)
    }

    #[test]
    fn sec09_an_intact_log_verifies() {
        let (lines, head) = log(5);
        let v = check(&lines, &head).unwrap();
        assert_eq!((v.first_seq, v.last_seq, v.last_hash), (1, 5, head.hash));
        assert!(check(&[], &Head::empty(1, Hash::ZERO)).is_ok());
    }

    #[test]
    fn sec09_each_kind_of_tampering_is_found_and_named() {
        let (lines, head) = log(6);
        // Edited: a field changed, the hash left.
        let mut edited = lines.clone();
        edited[2] = edited[2].replace("\"n\":2", "\"n\":9");
        assert_eq!(
            check(&edited, &head),
            Err(Broken::Edited { line: 3, seq: 3 })
        );
        // Edited and re-hashed: the next record no longer follows it.
        let mut rehashed = lines.clone();
        let mut r = Record::parse_line(&rehashed[2]).unwrap();
        r.details = serde_json::json!({"n": 9});
        r.hash = r.digest();
        rehashed[2] = r.to_line();
        assert_eq!(
            check(&rehashed, &head),
            Err(Broken::Unlinked { line: 4, seq: 4 })
        );
        // Deleted.
        let mut deleted = lines.clone();
        deleted.remove(3);
        assert!(matches!(
            check(&deleted, &head),
            Err(Broken::OutOfSequence {
                line: 4,
                seq: 5,
                expected: 4
            })
        ));
        // Inserted (a copy of a record).
        let mut inserted = lines.clone();
        inserted.insert(2, lines[0].clone());
        assert!(matches!(
            check(&inserted, &head),
            Err(Broken::OutOfSequence {
                line: 3,
                seq: 1,
                expected: 3
            })
        ));
        // Reordered.
        let mut reordered = lines.clone();
        reordered.swap(1, 2);
        assert!(matches!(
            check(&reordered, &head),
            Err(Broken::OutOfSequence {
                line: 2,
                seq: 3,
                expected: 2
            })
        ));
        // Truncated: the chain alone cannot tell, the head can.
        assert_eq!(
            check(&lines[..4], &head),
            Err(Broken::Truncated { last: 4, head: 6 })
        );
        // Cut at the start: the head says where the file begins.
        assert!(matches!(
            check(&lines[1..], &head),
            Err(Broken::OutOfSequence {
                line: 1,
                seq: 2,
                expected: 1
            })
        ));
        // Appended behind the head.
        let mut longer = head.clone();
        let extra = longer.append("2026-12-05T11:00:00+09:00", "set", serde_json::json!({}));
        let mut appended = lines.clone();
        appended.push(extra.to_line());
        assert_eq!(
            check(&appended, &head),
            Err(Broken::BeyondHead {
                line: 7,
                seq: 7,
                head: 6
            })
        );
        // A line that is not a record.
        let mut junk = lines;
        junk[0] = "{not json".to_owned();
        assert!(matches!(
            check(&junk, &head),
            Err(Broken::Malformed { line: 1, .. })
        ));
    }

    #[test]
    fn sec06_heads_at_the_ends_of_the_numbers_never_overflow() {
        let (lines, _) = log(2);
        for head in [
            Head::empty(0, Hash::ZERO),
            Head {
                seq: u64::MAX,
                ..Head::empty(1, Hash::ZERO)
            },
            Head::empty(u64::MAX, Hash::ZERO),
        ] {
            let _ = head.records();
            let _ = check(&lines, &head);
            let _ = check(&[], &head);
            let mut h = head.clone();
            let _ = h.append("t", "k", serde_json::Value::Null);
        }
    }

    #[test]
    fn sec09_a_log_whose_last_record_is_replaced_does_not_match_its_head() {
        let (mut lines, head) = log(3);
        let r = Record::parse_line(&lines[2]).unwrap();
        let other = Record::seal(3, &r.time, "set", serde_json::json!({"n": 7}), r.prev);
        lines[2] = other.to_line();
        assert_eq!(
            check(&lines, &head),
            Err(Broken::NotTheHead { line: 3, seq: 3 })
        );
    }
}
