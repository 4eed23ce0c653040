//! The link passwords `iotroute smartmeter` took by the head end's command (TRM-08:
//! `set-password` carried out, or `terminal-secret` taken), kept in its data directory:
//! `DIR/terminal-passwords.json`, owner only, replaced atomically (temporary file, fsync,
//! rename: `state_file::write_atomic`) before the head end is told the command is done. At the next start a kept password wins over the
//! one `--terminal`, `IOTROUTE_LINK_PASSWORD_<EUI64>` or `--secrets FILE` still give, so a
//! restarted smart meter admits the terminal with the password it now has, and refuses the
//! old one.
//!
//! Why a file of its own, not `--secrets FILE` rewritten: the configured password may come
//! from the flag or the environment, which beat the file (a rewritten file would still
//! lose to them); the secrets file is the operator's (comments, other terminals, possibly
//! on a read-only configuration volume, possibly put back by configuration management),
//! and a smart meter started without one has nowhere to write. The data directory is
//! where the smart meter keeps what it must not forget already (its frame counters, its
//! A-route counters), written by it alone.
//!
//! Each kept password names the configured one it replaced, by a one-way fingerprint
//! ([`fingerprint`]): it wins only while the configuration still gives that password. An
//! operator who since gave the terminal's password anew (the password the user business
//! set with the handy terminal, say) is obeyed: the configuration wins and the kept
//! entry is dropped. Passwords are never logged nor put in an error; the file is refused
//! when its group or others may read it, and a damaged file stops the start (starting
//! from the configuration would lock the terminal out).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wisun::mac::Eui64;

use crate::secret_input::SecretsFileError;
use crate::state_file::{self, Access};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "terminal-passwords.json";

/// Domain separation of [`fingerprint`].
const FINGERPRINT_LABEL: &[u8] = b"iotroute replaced link password v1";

/// Why the kept passwords cannot be read or written. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// The file cannot be read, or is open to the group or others.
    #[error(transparent)]
    Access(#[from] SecretsFileError),
    /// The file is not a table of kept passwords (where, never what).
    #[error("{path}: not a table of kept passwords (line {line}, column {column}); refusing to start without it")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where it stops making sense.
        line: usize,
        /// Where on that line.
        column: usize,
    },
    /// An entry is not an EUI-64 with a hex password of 8 to 32 bytes and a fingerprint.
    #[error(
        "{path}: entry {entry} is not a terminal's kept password; refusing to start without it"
    )]
    Entry {
        /// The file.
        path: PathBuf,
        /// Its key (an EUI-64, or what stands there).
        entry: String,
    },
    /// The file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One entry as stored: the password in hex (any bytes, no trimming), the fingerprint of
/// the configured one it replaced.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    password: String,
    replaces: String,
}

/// The file as stored: terminals by EUI-64 (16 upper-case hex digits).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    terminals: BTreeMap<String, Stored>,
}

/// Each registered terminal's link password, in the order registered.
pub type Passwords = Vec<(Eui64, Vec<u8>)>;

/// A password kept for a terminal.
#[derive(Clone, PartialEq, Eq)]
struct Kept {
    password: Vec<u8>,
    replaces: String,
}

/// The kept passwords of a data directory. `Debug` shows the terminals, never a password.
pub struct PasswordFile {
    path: PathBuf,
    kept: BTreeMap<[u8; 8], Kept>,
    /// The fingerprint of each registered terminal's configured password.
    configured: BTreeMap<[u8; 8], String>,
}

impl core::fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kept: Vec<String> = self.kept.keys().map(|t| dlms::hex::encode(t)).collect();
        f.debug_struct("PasswordFile")
            .field("path", &self.path)
            .field("kept", &kept)
            .finish_non_exhaustive()
    }
}

/// The fingerprint a kept password names the configured one it replaced by: the 32 hex
/// digits of `SHA-256(label ‖ EUI-64 ‖ password)[0..16]`. One-way: it tells whether the
/// configuration still gives that password, not the password (which the secrets file,
/// owner-only like this one, holds anyway).
#[must_use]
pub fn fingerprint(terminal: [u8; 8], password: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(FINGERPRINT_LABEL);
    h.update(terminal);
    h.update(password);
    dlms::hex::encode(&h.finalize()[..16])
}

impl PasswordFile {
    /// The kept passwords of data directory `dir` (none when it has no file yet), held
    /// against the `configured` registrations: each terminal's password in force, in the
    /// order given — the one kept when the configuration still gives the password it
    /// replaced (TRM-08), else the configured one (and that entry dropped from the
    /// file). Entries of terminals not registered are left alone and register nobody
    /// (SYS-03).
    ///
    /// # Errors
    /// [`PasswordFileError`]: the directory not made, the file unreadable, open to
    /// others, damaged, or not rewritten.
    pub fn open(
        dir: &Path,
        configured: &[(Eui64, Vec<u8>)],
    ) -> Result<(Self, Passwords), PasswordFileError> {
        let path = dir.join(FILE_NAME);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|source| PasswordFileError::Write {
                path: dir.to_owned(),
                source,
            })?;
        let kept = if path.exists() {
            parse(&path, &crate::secret_input::read_private(&path)?)?
        } else {
            BTreeMap::new()
        };
        let mut file = Self {
            path,
            kept,
            configured: configured
                .iter()
                .map(|(t, pw)| (t.0, fingerprint(t.0, pw)))
                .collect(),
        };
        let mut stale = Vec::new();
        let in_force = configured
            .iter()
            .map(|(t, pw)| match file.kept.get(&t.0) {
                Some(k) if Some(&k.replaces) == file.configured.get(&t.0) => {
                    tracing::info!(terminal = %t, "link password changed by command (kept) wins over the configured one");
                    (*t, k.password.clone())
                }
                Some(_) => {
                    tracing::warn!(terminal = %t, "the configured link password is not the one the kept password replaced: the configuration is newer and wins");
                    stale.push(t.0);
                    (*t, pw.clone())
                }
                None => (*t, pw.clone()),
            })
            .collect();
        if !stale.is_empty() {
            for t in stale {
                file.kept.remove(&t);
            }
            file.save()?;
        }
        Ok((file, in_force))
    }

    /// Keep `password` as terminal `terminal`'s link password from now on (its change by
    /// command done, TRM-08), written atomically and durably, owner only, before the
    /// caller tells anyone. Only a registered terminal's (SYS-03); `Ok(false)` for
    /// another.
    ///
    /// # Errors
    /// [`PasswordFileError::Write`]: not kept (the old file stays).
    pub fn keep(&mut self, terminal: [u8; 8], password: &[u8]) -> Result<bool, PasswordFileError> {
        let Some(replaces) = self.configured.get(&terminal).cloned() else {
            return Ok(false);
        };
        self.kept.insert(
            terminal,
            Kept {
                password: password.to_vec(),
                replaces,
            },
        );
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> Result<(), PasswordFileError> {
        let table = Table {
            terminals: self
                .kept
                .iter()
                .map(|(t, k)| {
                    (
                        dlms::hex::encode(t),
                        Stored {
                            password: dlms::hex::encode(&k.password),
                            replaces: k.replaces.clone(),
                        },
                    )
                })
                .collect(),
        };
        let write = |source| PasswordFileError::Write {
            path: self.path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(&table).map_err(|e| write(e.into()))?;
        state_file::write_atomic(&self.path, &json, Access::OwnerOnly).map_err(write)
    }
}

/// The entries of `text` (the file at `path`).
fn parse(path: &Path, text: &str) -> Result<BTreeMap<[u8; 8], Kept>, PasswordFileError> {
    // serde's message may quote the text (a password): where only.
    let table: Table = serde_json::from_str(text).map_err(|e| PasswordFileError::Damaged {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
    })?;
    let allowed = dlms::cosem::data::PASSWORD_MIN..=dlms::cosem::data::PASSWORD_MAX;
    table
        .terminals
        .into_iter()
        .map(|(eui, s)| {
            let terminal = dlms::hex::decode(&eui)
                .ok()
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok());
            let password = dlms::hex::decode(&s.password)
                .ok()
                .filter(|p| allowed.contains(&p.len()));
            let replaces_ok = s.replaces.len() == 32 && dlms::hex::decode(&s.replaces).is_ok();
            match (terminal, password, replaces_ok) {
                (Some(t), Some(password), true) => Ok((
                    t,
                    Kept {
                        password,
                        replaces: s.replaces.to_uppercase(),
                    },
                )),
                _ => Err(PasswordFileError::Entry {
                    path: path.to_owned(),
                    entry: if terminal.is_some() {
                        eui
                    } else {
                        "(not an EUI-64)".to_owned()
                    },
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Eui64 = Eui64([0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01]);
    const T2: Eui64 = Eui64([0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x02]);

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "iotroute-sm-passwords-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn configured() -> Passwords {
        vec![
            (T1, b"OLDPASSWORD1".to_vec()),
            (T2, b"OLDPASSWORD2".to_vec()),
        ]
    }

    /// TRM-08: a password kept by a done command wins over the configured one at the next
    /// start; the other terminal keeps its configured one.
    #[test]
    fn trm08_a_kept_password_wins_over_the_stale_configuration_at_start() {
        let d = dir("wins");
        let (mut file, in_force) = PasswordFile::open(&d, &configured()).unwrap();
        assert_eq!(in_force, configured(), "nothing kept yet");
        assert!(
            !d.join(FILE_NAME).exists(),
            "nothing written before a change"
        );
        assert!(file.keep(T1.0, b" NEW PASSWORD ").unwrap());
        let (_, in_force) = PasswordFile::open(&d, &configured()).unwrap();
        assert_eq!(
            in_force,
            vec![
                (T1, b" NEW PASSWORD ".to_vec()),
                (T2, b"OLDPASSWORD2".to_vec())
            ],
            "the kept one, byte for byte"
        );
        // A second change still names the configured password it replaced.
        let (mut file, _) = PasswordFile::open(&d, &configured()).unwrap();
        assert!(file.keep(T1.0, b"THIRDPASSWORD").unwrap());
        let (_, in_force) = PasswordFile::open(&d, &configured()).unwrap();
        assert_eq!(in_force[0], (T1, b"THIRDPASSWORD".to_vec()));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// TRM-08: a configuration given anew since the change (another password than the one
    /// the kept one replaced) is newer: it wins, and the stale entry is dropped.
    #[test]
    fn trm08_a_configuration_given_anew_wins_over_a_kept_password() {
        let d = dir("anew");
        let (mut file, _) = PasswordFile::open(&d, &configured()).unwrap();
        file.keep(T1.0, b"NEWPASSWORD1").unwrap();
        let anew = vec![
            (T1, b"FROMTHEHANDY".to_vec()),
            (T2, b"OLDPASSWORD2".to_vec()),
        ];
        let (_, in_force) = PasswordFile::open(&d, &anew).unwrap();
        assert_eq!(in_force, anew);
        // Dropped: back to the old configuration, the old password is the one in force.
        let (_, in_force) = PasswordFile::open(&d, &configured()).unwrap();
        assert_eq!(in_force, configured());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// SYS-03 with TRM-08: a change registers nobody: a terminal not registered is not
    /// kept, and an entry of a terminal no longer registered gives no password.
    #[test]
    fn sys03_trm08_kept_passwords_register_nobody() {
        let d = dir("nobody");
        let only_t2 = vec![(T2, b"OLDPASSWORD2".to_vec())];
        let (mut file, _) = PasswordFile::open(&d, &only_t2).unwrap();
        assert!(!file.keep(T1.0, b"NEWPASSWORD1").unwrap());
        assert!(!d.join(FILE_NAME).exists());
        let (mut file, _) = PasswordFile::open(&d, &configured()).unwrap();
        file.keep(T1.0, b"NEWPASSWORD1").unwrap();
        let (_, in_force) = PasswordFile::open(&d, &only_t2).unwrap();
        assert_eq!(in_force, only_t2);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// SEC-02/OPS-10: the file is owner-only and holds the password only in hex; one its
    /// group or others may read is refused, and a damaged one stops the start — neither
    /// error shows a password.
    #[test]
    fn sec02_the_kept_passwords_file_is_owner_only_and_errors_never_show_a_password() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = dir("private");
        let (mut file, _) = PasswordFile::open(&d, &configured()).unwrap();
        file.keep(T1.0, b"NEWPASSWORD1").unwrap();
        let path = d.join(FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("NEWPASSWORD1") && !text.contains("OLDPASSWORD1"),
            "{text}"
        );
        assert!(!format!("{file:?}").contains("4E4557"), "{file:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = PasswordFile::open(&d, &configured()).unwrap_err();
        assert!(
            matches!(
                e,
                PasswordFileError::Access(SecretsFileError::TooOpen { .. })
            ),
            "{e}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(
            &path,
            "{\"terminals\": {\"021A000000001001\": \"hunter2-secret\"}}",
        )
        .unwrap();
        let e = PasswordFile::open(&d, &configured()).unwrap_err();
        assert!(matches!(e, PasswordFileError::Damaged { .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        std::fs::write(
            &path,
            "{\"terminals\": {\"021A000000001001\": {\"password\": \"41\", \"replaces\": \"00\"}}}",
        )
        .unwrap();
        let e = PasswordFile::open(&d, &configured()).unwrap_err();
        assert!(matches!(e, PasswordFileError::Entry { .. }), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
