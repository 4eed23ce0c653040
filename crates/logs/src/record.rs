//! One log record and its hash.
//!
//! A record is one line of JSON: `{"seq", "time", "kind", "details", "prev", "hash"}`.
//! `hash` is the SHA-256 of the record's canonical form without it — the compact JSON of
//! `{"seq", "time", "kind", "details", "prev"}` in that order, object keys inside
//! `details` sorted (serde_json's map) — and `prev` is the previous record's `hash`, so
//! editing, removing, inserting or reordering a record breaks the chain where it happened.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 value, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev` of the very first record of a log.
    pub const ZERO: Self = Self([0; 32]);

    /// The hash as hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parse 64 hex digits.
    ///
    /// # Errors
    /// [`RecordError::Hash`].
    pub fn from_hex(s: &str) -> Result<Self, RecordError> {
        if s.len() != 64 || !s.is_ascii() {
            return Err(RecordError::Hash(s.chars().take(80).collect()));
        }
        let mut out = [0; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = s
                .get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| RecordError::Hash(s.to_owned()))?;
        }
        Ok(Self(out))
    }
}

impl core::fmt::Debug for Hash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of a record's shape.
    #[error("not a log record: {0}")]
    Json(String),
    /// A hash field that is not 64 hex digits.
    #[error("not a SHA-256 in hex: {0:?}")]
    Hash(String),
}

/// One record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Sequence number: 1 for a log's first record, one more for each after it.
    pub seq: u64,
    /// When, RFC 3339 (the terminal's clock).
    pub time: String,
    /// What happened (`association`, `set`, `auth_failure`, `meter_id_changed`...).
    pub kind: String,
    /// Its particulars.
    pub details: serde_json::Value,
    /// The previous record's hash ([`Hash::ZERO`] before the first).
    pub prev: Hash,
    /// This record's hash.
    pub hash: Hash,
}

/// The hashed part, in its canonical field order.
#[derive(Serialize)]
struct Unsealed<'a> {
    seq: u64,
    time: &'a str,
    kind: &'a str,
    details: &'a serde_json::Value,
    prev: Hash,
}

impl Record {
    /// A record after `prev`, with its hash.
    #[must_use]
    pub fn seal(seq: u64, time: &str, kind: &str, details: serde_json::Value, prev: Hash) -> Self {
        let mut r = Self {
            seq,
            time: time.to_owned(),
            kind: kind.to_owned(),
            details,
            prev,
            hash: Hash::ZERO,
        };
        r.hash = r.digest();
        r
    }

    /// The SHA-256 of the canonical form (what `hash` must be).
    #[must_use]
    pub fn digest(&self) -> Hash {
        let unsealed = Unsealed {
            seq: self.seq,
            time: &self.time,
            kind: &self.kind,
            details: &self.details,
            prev: self.prev,
        };
        // Serializing these types cannot fail (no maps with non-string keys).
        let bytes = serde_json::to_vec(&unsealed).unwrap_or_default();
        Hash(Sha256::digest(&bytes).into())
    }

    /// The line to write (no newline).
    #[must_use]
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A line read back.
    ///
    /// # Errors
    /// [`RecordError`] when the line is not a record.
    pub fn parse_line(line: &str) -> Result<Self, RecordError> {
        serde_json::from_str(line).map_err(|e| RecordError::Json(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec09_a_record_round_trips_and_its_hash_covers_every_field() {
        let r = Record::seal(
            3,
            "2026-12-05T10:00:00+09:00",
            "set",
            serde_json::json!({"object": "0-0:128.0.1.255", "client": 1}),
            Hash([7; 32]),
        );
        let back = Record::parse_line(&r.to_line()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.digest(), r.hash);
        let mut edits = vec![r.clone(); 5];
        edits[0].seq = 4;
        edits[1].time.push('0');
        edits[2].kind = "action".to_owned();
        edits[3].details = serde_json::json!({"object": "0-0:128.0.2.255", "client": 1});
        edits[4].prev = Hash([8; 32]);
        for e in edits {
            assert_ne!(e.digest(), r.hash, "{e:?}");
        }
    }

    #[test]
    fn sec06_lines_that_are_not_records_are_refused() {
        for bad in [
            "",
            "{}",
            "[1]",
            r#"{"seq":1,"time":"t","kind":"k","details":null,"prev":"00","hash":"00"}"#,
            r#"{"seq":-1,"time":"t","kind":"k","details":null,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
        ] {
            assert!(Record::parse_line(bad).is_err(), "{bad}");
        }
        assert!(Hash::from_hex("zz").is_err());
    }
}
