//! A log on disk: `DIR/NAME.jsonl` (the records, one per line, appended) and
//! `DIR/NAME.head.json` (its head, replaced atomically after each record), rotated into
//! `DIR/NAME-<first seq>.jsonl` with their own heads, kept by count and age.
//!
//! Order of writes: the record is appended and synced, then the head moves. A writer
//! killed between the two leaves a record beyond the head; the next [`FileLog::open`]
//! finds it well chained and moves the head over it (logged). A file that does not
//! verify at open (tampered with, or damaged) is kept aside as evidence
//! (`NAME-<first seq>.broken.jsonl` with its head) and a new file starts, its first
//! record saying so: a terminal keeps logging whatever was done to its logs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::chain::{verify, Broken, Head};
use crate::record::Hash;

/// How much a log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Records per file before it is rotated.
    pub records_per_file: u64,
    /// Rotated files kept (the oldest go first).
    pub files: usize,
    /// Rotated files whose last record is older than this many seconds go too (`None`:
    /// no age limit). Compared on the records' RFC 3339 times, as the caller's `now`.
    pub max_age_s: Option<u64>,
}

impl Default for Retention {
    /// **Ours**: 10,000 records a file, 20 files (a terminal's logs stay within a few
    /// MiB), a year at most.
    fn default() -> Self {
        Self {
            records_per_file: 10_000,
            files: 20,
            max_age_s: Some(366 * 86_400),
        }
    }
}

/// Why the log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A head file that is not a head.
    #[error("{path}: not a log head ({reason})")]
    Head {
        /// Which.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file does not verify.
    #[error("{path}: {broken}")]
    Broken {
        /// Which.
        path: PathBuf,
        /// Where and why.
        broken: Broken,
    },
}

/// The head beside a log file: `x.jsonl` → `x.head.json`.
#[must_use]
pub fn head_path(log: &Path) -> PathBuf {
    let stem = log
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    log.with_file_name(format!("{stem}.head.json"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Read a head file.
///
/// # Errors
/// [`LogError::Io`] (missing included) or [`LogError::Head`].
pub fn read_head(path: &Path) -> Result<Head, LogError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| LogError::Head {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Verify the log file at `path` against the head beside it.
///
/// # Errors
/// [`LogError`]: unreadable, no head, or [`LogError::Broken`] naming the first bad record.
pub fn verify_file(path: &Path) -> Result<crate::chain::Verified, LogError> {
    let head = read_head(&head_path(path))?;
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    verify(text.lines(), &head).map_err(|broken| LogError::Broken {
        path: path.to_owned(),
        broken,
    })
}

/// Write `bytes` to `path` through a temporary file, synced and renamed, the directory
/// synced: the old file or the new one, never half of one.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// An open log.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    name: String,
    head: Head,
    retention: Retention,
}

impl FileLog {
    /// Open (or create) the log `NAME` in `dir`, checking the file against its head.
    ///
    /// # Errors
    /// [`LogError`] when files cannot be read or written (a file that does not verify is
    /// not an error: it is kept aside and a new file starts).
    pub fn open(dir: &Path, name: &str, retention: Retention, now: &str) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut log = Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
            head: Head::empty(1, Hash::ZERO),
            retention,
        };
        let (path, head_file) = (log.path(), head_path(&log.path()));
        if !path.exists() && !head_file.exists() {
            replace(&head_file, &head_json(&log.head))?;
            return Ok(log);
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        let head = read_head(&head_file);
        let outcome = head.as_ref().map_err(ToString::to_string).and_then(|h| {
            match verify(text.lines(), h) {
                Ok(_) => Ok(h.clone()),
                // The writer stopped between a record and its head: take the record
                // if it is the well-chained next one (and the only one beyond).
                Err(Broken::BeyondHead { .. }) => {
                    recover(&text, h).ok_or_else(|| "records beyond the head".to_owned())
                }
                Err(b) => Err(b.to_string()),
            }
        });
        match outcome {
            Ok(h) => {
                if head.as_ref().is_ok_and(|old| old.seq != h.seq) {
                    tracing::warn!(log = name, seq = h.seq, "the last record was written but not its head (a stop mid-write): head moved over it");
                    replace(&head_file, &head_json(&h))?;
                }
                log.head = h;
            }
            Err(reason) => {
                let first = head.as_ref().map_or(0, |h| h.first_seq);
                let aside = (1..)
                    .map(|n| {
                        let suffix = if n == 1 {
                            String::new()
                        } else {
                            format!("-{n}")
                        };
                        log.dir.join(format!("{name}-{first}.broken{suffix}.jsonl"))
                    })
                    .find(|p| !p.exists() && !head_path(p).exists())
                    .unwrap_or_else(|| log.dir.join(format!("{name}-{first}.broken.jsonl")));
                tracing::error!(log = name, %reason, kept = %aside.display(), "log does not verify: kept aside, a new file starts");
                if path.exists() {
                    std::fs::rename(&path, &aside).map_err(io(&path))?;
                }
                if head_file.exists() {
                    std::fs::rename(&head_file, head_path(&aside)).map_err(io(&head_file))?;
                }
                // The new chain starts after the broken file's head, when there was one.
                log.head = head.map_or(Head::empty(1, Hash::ZERO), |h| {
                    Head::empty(h.seq.saturating_add(1), h.hash)
                });
                replace(&head_file, &head_json(&log.head))?;
                log.append(
                    now,
                    "log_broken",
                    serde_json::json!({ "reason": reason, "kept": aside.file_name().map(|n| n.to_string_lossy().into_owned()) }),
                )?;
            }
        }
        Ok(log)
    }

    /// The active file.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.jsonl", self.name))
    }

    /// The head as it stands.
    #[must_use]
    pub const fn head(&self) -> &Head {
        &self.head
    }

    /// Append a record at `now` (RFC 3339): written and synced, then the head. Rotates
    /// the file when it is full. Returns its sequence number.
    ///
    /// # Errors
    /// [`LogError::Io`]: nothing was appended, or the head did not move (the next open
    /// repairs that).
    pub fn append(
        &mut self,
        now: &str,
        kind: &str,
        details: serde_json::Value,
    ) -> Result<u64, LogError> {
        if self.head.records() >= self.retention.records_per_file {
            self.rotate(now)?;
        }
        let mut next = self.head.clone();
        let record = next.append(now, kind, details);
        let path = self.path();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(format!("{}\n", record.to_line()).as_bytes())
            .map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
        replace(&head_path(&path), &head_json(&next))?;
        self.head = next;
        Ok(record.seq)
    }

    /// Move the active file aside as `NAME-<first>.jsonl` (with its head) and start the
    /// next one where it ended; drop rotated files beyond the retention.
    fn rotate(&mut self, now: &str) -> Result<(), LogError> {
        let path = self.path();
        let rotated = self
            .dir
            .join(format!("{}-{}.jsonl", self.name, self.head.first_seq));
        std::fs::rename(&path, &rotated).map_err(io(&path))?;
        replace(&head_path(&rotated), &head_json(&self.head))?;
        self.head = Head::empty(self.head.seq.saturating_add(1), self.head.hash);
        replace(&head_path(&path), &head_json(&self.head))?;
        tracing::info!(log = %self.name, file = %rotated.display(), "log rotated");
        self.prune(now)
    }

    /// The rotated files, oldest first (by first sequence number).
    ///
    /// # Errors
    /// [`LogError::Io`] when the directory cannot be read.
    pub fn rotated(&self) -> Result<Vec<PathBuf>, LogError> {
        let prefix = format!("{}-", self.name);
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let first = name.strip_prefix(&prefix)?.strip_suffix(".jsonl")?;
                Some((first.parse().ok()?, e.path()))
            })
            .collect();
        files.sort();
        Ok(files.into_iter().map(|(_, p)| p).collect())
    }

    fn prune(&self, now: &str) -> Result<(), LogError> {
        let files = self.rotated()?;
        let excess = files.len().saturating_sub(self.retention.files);
        for (i, file) in files.iter().enumerate() {
            let too_old = self.retention.max_age_s.is_some_and(|age| {
                read_head(&head_path(file))
                    .ok()
                    .and_then(|h| h.last_time)
                    .is_some_and(|t| older_than(&t, now, age))
            });
            if i < excess || too_old {
                std::fs::remove_file(file).map_err(io(file))?;
                let _ = std::fs::remove_file(head_path(file));
                tracing::info!(file = %file.display(), "rotated log dropped (retention)");
            }
        }
        Ok(())
    }
}

/// The head over `text` when exactly one well-chained record lies beyond `head`.
fn recover(text: &str, head: &Head) -> Option<Head> {
    let mut lines: Vec<&str> = text.lines().collect();
    let last = crate::record::Record::parse_line(lines.pop()?).ok()?;
    if Some(last.seq) != head.seq.checked_add(1)
        || last.prev != head.hash
        || last.digest() != last.hash
    {
        return None;
    }
    verify(lines, head).ok()?;
    Some(Head {
        seq: last.seq,
        hash: last.hash,
        last_time: Some(last.time),
        ..head.clone()
    })
}

fn head_json(head: &Head) -> Vec<u8> {
    serde_json::to_vec_pretty(head).unwrap_or_default()
}

/// Whether RFC 3339 `time` is more than `age_s` seconds before `now` (unparsable: no).
fn older_than(time: &str, now: &str, age_s: u64) -> bool {
    match (seconds(time), seconds(now)) {
        (Some(t), Some(n)) => n - t > i64::try_from(age_s).unwrap_or(i64::MAX),
        _ => false,
    }
}

/// Seconds since 1970 of an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`).
fn seconds(t: &str) -> Option<i64> {
    let num = |r: core::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = t.get(19..)?;
    let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = if zone == "Z" {
        0
    } else {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let oh = zone.get(1..3)?.parse::<i64>().ok()?;
        let om = zone.get(4..6)?.parse::<i64>().ok()?;
        sign * (oh * 3600 + om * 60)
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec09_rfc3339_times_compare_across_offsets() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(seconds("1970-01-01T09:00:00+09:00"), Some(0));
        assert_eq!(
            seconds("2026-12-05T10:00:00.123+09:00"),
            seconds("2026-12-05T01:00:00Z")
        );
        assert!(older_than(
            "2026-01-01T00:00:00+09:00",
            "2026-12-05T00:00:00+09:00",
            86_400
        ));
        assert!(!older_than(
            "2026-12-04T12:00:00+09:00",
            "2026-12-05T00:00:00+09:00",
            86_400
        ));
        assert!(!older_than("garbage", "2026-12-05T00:00:00+09:00", 1));
    }
}
