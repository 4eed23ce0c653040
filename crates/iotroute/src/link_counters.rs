//! The link's CCM* frame counters on disk (SEC-03): `DIR/link-counters.json`, written
//! atomically whenever the node moves a reservation (`nodes::link::frame_counters`) and
//! before the frame that needed it goes on the air, read back at start. So a terminal
//! killed at any moment and started again never sends a (key, source, counter) twice.
//!
//! A file that exists but cannot be read is an error, not an empty table: starting from
//! nothing would repeat counters.

use std::path::{Path, PathBuf};

use nodes::link::frame_counters::CounterSnapshot;

use crate::state_file::{self, Access};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "link-counters.json";

/// Why the counters could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CounterFileError {
    /// The directory or file could not be used.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a counter table.
    #[error("{path}: not a frame counter table ({source}); refusing to start without it (move it away only if this terminal's link keys are all new)")]
    Damaged {
        /// Which.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// The counter file of a data directory.
#[derive(Debug, Clone)]
pub struct CounterFile {
    path: PathBuf,
}

impl CounterFile {
    /// The file in `dir`, creating the directory (owner only) if needed.
    ///
    /// # Errors
    /// [`CounterFileError::Io`].
    pub fn in_dir(dir: &Path) -> Result<Self, CounterFileError> {
        let io = |source| CounterFileError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
        Ok(Self {
            path: dir.join(FILE_NAME),
        })
    }

    /// What an earlier run kept (`None`: never written).
    ///
    /// # Errors
    /// [`CounterFileError`]: unreadable or damaged.
    pub fn load(&self) -> Result<Option<CounterSnapshot>, CounterFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CounterFileError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CounterFileError::Damaged {
                path: self.path.clone(),
                source,
            })
    }

    /// Keep `snapshot`, durably, replacing what was there.
    ///
    /// # Errors
    /// [`CounterFileError::Io`].
    pub fn save(&self, snapshot: &CounterSnapshot) -> Result<(), CounterFileError> {
        let io = |source| CounterFileError::Io {
            path: self.path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(snapshot).map_err(|e| io(std::io::Error::other(e)))?;
        state_file::write_atomic(&self.path, &json, Access::OwnerOnly).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "iotroute-link-counters-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn sec03_counters_round_trip_through_the_data_directory() {
        let d = dir("round-trip");
        let file = CounterFile::in_dir(&d).unwrap();
        assert!(file.load().unwrap().is_none());
        let snapshot = CounterSnapshot {
            floor: 7,
            keys: [("0011223344556677".to_owned(), 2048)]
                .into_iter()
                .collect(),
        };
        file.save(&snapshot).unwrap();
        assert_eq!(file.load().unwrap(), Some(snapshot));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn sec03_sec06_a_damaged_counter_file_is_an_error_not_an_empty_table() {
        let d = dir("damaged");
        let file = CounterFile::in_dir(&d).unwrap();
        std::fs::write(d.join(FILE_NAME), b"{\"floor\": \"x\"").unwrap();
        assert!(matches!(file.load(), Err(CounterFileError::Damaged { .. })));
        let _ = std::fs::remove_dir_all(&d);
    }
}
