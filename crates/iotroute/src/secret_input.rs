//! Secrets (passwords, keys) for commands without putting them on the command line
//! (SEC-02): argv is readable by every local user (`ps`, `/proc/PID/cmdline`), so each
//! secret flag also comes from an environment variable ([`ENV_PASSWORD`], [`ENV_EK`],
//! [`ENV_AK`]; declared on the flag with clap's `env`, `hide_env_values` so that `--help`
//! does not print them) or from a secrets file (`--secrets FILE`, [`SecretsFile`]).
//! Precedence: flag > environment > file ([`pick`]).
//!
//! The file holds `name=value` lines (`password=...`, `ek=HEX`, `ak=HEX`), `#` comments
//! and blank lines; spaces around the name and the value are dropped. An unknown or
//! repeated name is an error, so a typo never silently leaves a secret out. A file that
//! its group or others may read or write is refused, as ssh refuses such a private
//! key: the secrets in it are already exposed (and a writable one can be swapped), and
//! failing loudly is how the owner finds out. Errors name the file and the line, never
//! what the line holds.
//!
//! Used by `dlms get|set|action` and `dlms translate`; `dlms serve` can take the same
//! pieces. The link passwords of `iotroute terminal` and `iotroute smartmeter` follow the
//! same rules ([`ENV_LINK_PASSWORD`], [`link_env_name`], [`LinkSecretsFile`]).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Environment variable read when `--password` is not given.
pub const ENV_PASSWORD: &str = "IOTROUTE_DLMS_PASSWORD";
/// Environment variable read when `--ek` is not given.
pub const ENV_EK: &str = "IOTROUTE_DLMS_EK";
/// Environment variable read when `--ak` is not given.
pub const ENV_AK: &str = "IOTROUTE_DLMS_AK";

/// A password or key: its `Debug` is redacted so that a logged argument struct or
/// error never shows it; only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret {
    /// A secret read from an environment variable by hand (one clap does not know).
    #[must_use]
    pub fn from_env(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// clap value parser for a secret flag.
///
/// # Errors
/// Never; `Result` because clap's value parsers return one.
pub fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.to_owned()))
}

/// A key in hex: its bytes, or an error that names `what` and never shows any of the
/// key's characters (the hex decoder's message quotes the offending one).
///
/// # Errors
/// A message when the text is not hex.
pub fn hex_key(what: &str, key: &Secret) -> Result<Vec<u8>, String> {
    dlms::hex::decode(key.expose()).map_err(|_| format!("{what}: not hex digits (not shown)"))
}

/// The first secret present: the flag (or its environment variable, which clap already
/// merged below the flag), else the file's.
#[must_use]
pub fn pick(flag_or_env: Option<&Secret>, file: Option<&Secret>) -> Option<Secret> {
    flag_or_env.or(file).cloned()
}

/// Why a secrets file cannot be used. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretsFileError {
    /// The file cannot be read.
    #[error("secrets file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Its group or others may read or write it.
    #[error("secrets file {path}: group or others have access (mode {mode:03o}): chmod 600 it")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A line is not `name=value` with a known, not yet given name.
    #[error("secrets file {path} line {line}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong (never the line's text).
        reason: String,
    },
}

/// The secrets a file gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretsFile {
    /// `password=`.
    pub password: Option<Secret>,
    /// `ek=` (hex).
    pub ek: Option<Secret>,
    /// `ak=` (hex).
    pub ak: Option<Secret>,
}

impl SecretsFile {
    /// Read `path`, refusing it when group or others have access (Unix).
    ///
    /// # Errors
    /// [`SecretsFileError`].
    pub fn load(path: &Path) -> Result<Self, SecretsFileError> {
        let s = Self::parse(path, &read_private(path)?)?;
        tracing::debug!(path = %path.display(), password = s.password.is_some(),
            ek = s.ek.is_some(), ak = s.ak.is_some(), "secrets file read");
        Ok(s)
    }

    /// Parse the text of a secrets file (`path` only names it in errors).
    ///
    /// # Errors
    /// [`SecretsFileError::Syntax`].
    pub fn parse(path: &Path, text: &str) -> Result<Self, SecretsFileError> {
        let mut s = Self::default();
        parse_lines(path, text, |name, value| {
            let slot = match name {
                "password" => &mut s.password,
                "ek" => &mut s.ek,
                "ak" => &mut s.ak,
                _ => return Err("unknown name (password, ek or ak)".to_owned()),
            };
            put_once(slot, value)
        })?;
        Ok(s)
    }
}

/// Environment variable read by `iotroute terminal` when `--password` is not given: its
/// link password.
pub const ENV_LINK_PASSWORD: &str = "IOTROUTE_LINK_PASSWORD";

/// The environment variable `iotroute smartmeter` reads for the link password of the
/// terminal `eui64` registered without one: `IOTROUTE_LINK_PASSWORD_` and the EUI-64's 16
/// upper-case hex digits (`IOTROUTE_LINK_PASSWORD_021A000000001001`). One variable per
/// terminal, because a list in one variable would need a separator no password may hold.
#[must_use]
pub fn link_env_name(eui64: [u8; 8]) -> String {
    format!("{ENV_LINK_PASSWORD}_{}", dlms::hex::encode(&eui64))
}

/// The link secrets a file gives (`iotroute terminal --secrets`, `iotroute smartmeter
/// --secrets`): `password=` (the terminal's own link password) and
/// `terminal.<EUI-64>=PASSWORD` lines (the smart meter's registrations: each registers
/// that terminal, EUI-64 as 16 hex digits, separators `:` or `-` allowed). Same file
/// rules as [`SecretsFile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSecretsFile {
    /// `password=`.
    pub password: Option<Secret>,
    /// `terminal.<EUI-64>=`, in EUI-64 order.
    pub terminals: std::collections::BTreeMap<[u8; 8], Secret>,
}

impl LinkSecretsFile {
    /// Read `path`, refusing it when group or others have access (Unix).
    ///
    /// # Errors
    /// [`SecretsFileError`].
    pub fn load(path: &Path) -> Result<Self, SecretsFileError> {
        let s = Self::parse(path, &read_private(path)?)?;
        tracing::debug!(path = %path.display(), password = s.password.is_some(),
            terminals = s.terminals.len(), "link secrets file read");
        Ok(s)
    }

    /// Parse the text of a link secrets file (`path` only names it in errors).
    ///
    /// # Errors
    /// [`SecretsFileError::Syntax`].
    pub fn parse(path: &Path, text: &str) -> Result<Self, SecretsFileError> {
        let mut s = Self::default();
        parse_lines(path, text, |name, value| {
            if name == "password" {
                return put_once(&mut s.password, value);
            }
            let Some(eui) = name.strip_prefix("terminal.") else {
                return Err("unknown name (password or terminal.<EUI-64>)".to_owned());
            };
            let digits: String = eui.chars().filter(|c| !matches!(c, ':' | '-')).collect();
            let eui = dlms::hex::decode(&digits)
                .ok()
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| "`terminal.` takes an EUI-64 of 16 hex digits".to_owned())?;
            match s.terminals.entry(eui) {
                std::collections::btree_map::Entry::Occupied(_) => Err("given twice".to_owned()),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(value);
                    Ok(())
                }
            }
        })?;
        Ok(s)
    }
}

/// The text of `path`, refused when its group or others have access.
pub(crate) fn read_private(path: &Path) -> Result<String, SecretsFileError> {
    let io = |source| SecretsFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    // The permissions of the file opened, not of whatever the path names later.
    check_private(path, &f.metadata().map_err(io)?)?;
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(io)?;
    Ok(text)
}

/// Every `name=value` line of `text` to `put` (names and values trimmed; blank lines and
/// `#` comments skipped); `put`'s refusal becomes a syntax error naming the line.
fn parse_lines(
    path: &Path,
    text: &str,
    mut put: impl FnMut(&str, Secret) -> Result<(), String>,
) -> Result<(), SecretsFileError> {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason: String| SecretsFileError::Syntax {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| err("not `name=value`".to_owned()))?;
        put(name.trim(), Secret(value.trim().to_owned())).map_err(err)?;
    }
    Ok(())
}

fn put_once(slot: &mut Option<Secret>, value: Secret) -> Result<(), String> {
    if slot.is_some() {
        return Err("given twice".to_owned());
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretsFileError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretsFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &std::fs::Metadata) -> Result<(), SecretsFileError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret(s.to_owned())
    }

    #[test]
    fn sec02_secrets_file_lines_comments_and_spaces() {
        let text = "# keys of meter 7\n\npassword = pa ss=1 \nek=000102030405060708090A0B0C0D0E0F\n  ak=D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\r\n";
        let s = SecretsFile::parse(Path::new("f"), text).unwrap();
        assert_eq!(
            s.password,
            Some(secret("pa ss=1")),
            "the first `=` separates"
        );
        assert_eq!(
            s.ek.as_ref().map(Secret::expose),
            Some("000102030405060708090A0B0C0D0E0F")
        );
        assert_eq!(
            s.ak.as_ref().map(Secret::expose),
            Some("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
        );
    }

    #[test]
    fn sec02_secrets_file_errors_name_the_line_never_the_secret() {
        for (text, line) in [
            ("password=ok\nhunter2\n", 2),
            ("pasword=hunter2\n", 1),
            ("# c\npassword=hunter2\npassword=hunter2\n", 3),
        ] {
            let e = SecretsFile::parse(Path::new("/etc/s"), text).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                matches!(e, SecretsFileError::Syntax { line: l, .. } if l == line),
                "{shown}"
            );
        }
    }

    #[test]
    fn sec02_secret_debug_is_redacted() {
        let s = SecretsFile {
            password: Some(secret("hunter2")),
            ek: Some(secret("000102030405060708090A0B0C0D0E0F")),
            ak: None,
        };
        let shown = format!("{s:?} {:?}", secret("hunter2"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("0001020304"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn sec02_a_malformed_key_is_not_echoed() {
        let e = hex_key("--ek", &secret("00010203Zq")).unwrap_err();
        assert!(
            !e.contains('Z') && !e.contains('q') && !e.contains("0001"),
            "{e}"
        );
        assert_eq!(hex_key("--ek", &secret("0A0b")).unwrap(), [0x0A, 0x0B]);
    }

    #[test]
    fn sec02_flag_or_env_beats_the_file() {
        let (flag, file) = (secret("flag"), secret("file"));
        assert_eq!(pick(Some(&flag), Some(&file)), Some(flag));
        assert_eq!(pick(None, Some(&file)), Some(file));
        assert_eq!(pick(None, None), None);
    }

    #[cfg(unix)]
    #[test]
    fn sec02_secrets_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("iotroute-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets");
        std::fs::write(&path, "password=hunter2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SecretsFile::load(&path).unwrap_err();
        assert!(
            matches!(e, SecretsFileError::TooOpen { mode: 0o644, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = SecretsFile::load(&path).unwrap();
        assert_eq!(s.password, Some(secret("hunter2")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sec02_link_secrets_file_password_and_terminal_registrations() {
        let text = "# smart meter 1\nterminal.021A000000001001 = IOTPASS00001\nterminal.02:1a:00:00:00:00:10:02=p=2\n";
        let s = LinkSecretsFile::parse(Path::new("f"), text).unwrap();
        assert_eq!(s.password, None);
        assert_eq!(s.terminals.len(), 2);
        assert_eq!(
            s.terminals[&[2, 0x1A, 0, 0, 0, 0, 0x10, 1]],
            secret("IOTPASS00001")
        );
        assert_eq!(s.terminals[&[2, 0x1A, 0, 0, 0, 0, 0x10, 2]], secret("p=2"));
        let t = LinkSecretsFile::parse(Path::new("f"), "password=hunter2\n").unwrap();
        assert_eq!(t.password, Some(secret("hunter2")));
        assert_eq!(
            link_env_name([2, 0x1A, 0, 0, 0, 0, 0x10, 1]),
            "IOTROUTE_LINK_PASSWORD_021A000000001001"
        );
    }

    #[test]
    fn sec02_link_secrets_file_errors_name_the_line_never_the_secret() {
        for (text, line) in [
            ("terminal.021A00=hunter2\n", 1),
            ("password=x\nterminal.021A000000001001=hunter2\nterminal.021a000000001001=hunter2\n", 3),
            ("ek=hunter2\n", 1),
            ("password=hunter2\npassword=hunter2\n", 2),
        ] {
            let e = LinkSecretsFile::parse(Path::new("/etc/s"), text).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                matches!(e, SecretsFileError::Syntax { line: l, .. } if l == line),
                "{shown}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn sec02_link_secrets_file_readable_by_the_group_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir =
            std::env::temp_dir().join(format!("iotroute-link-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets");
        std::fs::write(&path, "terminal.021A000000001001=hunter2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = LinkSecretsFile::load(&path).unwrap_err();
        assert!(
            matches!(e, SecretsFileError::TooOpen { mode: 0o640, .. }),
            "{e}"
        );
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(LinkSecretsFile::load(&path).unwrap().terminals.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
