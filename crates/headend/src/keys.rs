//! The secrets the head end holds **(ours)**, each a text file, one device a line, `#`
//! starting a comment: the smart meters' A-route keys, `<EUI-64> <EK> <AK>` (16 hex digits
//! and two keys of 32), and the terminals' management association secrets it registers
//! them with, `<EUI-64> <secret>` (2 to 64 hex digits). Files, never the command line;
//! the errors name a line, never a secret.

use std::collections::BTreeMap;

use dlms::cipher::Keys;
use wisun::mac::Eui64;

use crate::registry::parse_eui64;

/// Why a keys file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// A line is not `<EUI-64> <EK> <AK>`.
    #[error("line {line}: {why}")]
    Line {
        /// Where (from 1).
        line: usize,
        /// What (never the key).
        why: String,
    },
    /// A smart meter twice.
    #[error("line {line}: smart meter {sm} is on line {first} too")]
    Twice {
        /// Where.
        line: usize,
        /// Its first line.
        first: usize,
        /// Which.
        sm: String,
    },
}

/// The devices of `text` and what each line says of them: `read` takes a line's fields
/// after the EUI-64 (and a way to name what is wrong on it). One way to read both files:
/// comments, blank lines, line numbers, a device twice.
fn read_lines<T>(
    text: &str,
    what: &str,
    read: impl Fn(&[&str], &dyn Fn(&str) -> KeysError) -> Result<T, KeysError>,
) -> Result<BTreeMap<Eui64, T>, KeysError> {
    let mut out = BTreeMap::new();
    let mut lines: BTreeMap<Eui64, usize> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let content = raw.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let bad = |why: &str| KeysError::Line {
            line,
            why: why.to_owned(),
        };
        let fields: Vec<&str> = content.split_whitespace().collect();
        let Some((device, rest)) = fields.split_first() else {
            continue;
        };
        let device = parse_eui64(device)
            .map_err(|_| bad(&format!("the {what} is not an EUI-64 (16 hex digits)")))?;
        let value = read(rest, &bad)?;
        if let Some(first) = lines.insert(device, line) {
            return Err(KeysError::Twice {
                line,
                first,
                sm: crate::registry::eui64_text(device),
            });
        }
        out.insert(device, value);
    }
    Ok(out)
}

/// The keys of each smart meter in `text`.
///
/// # Errors
/// [`KeysError`] naming the first bad line.
pub fn parse(text: &str) -> Result<BTreeMap<Eui64, Keys>, KeysError> {
    read_lines(text, "smart meter", |fields, bad| {
        let [ek, ak] = fields else {
            return Err(bad("expected `<EUI-64> <EK> <AK>`"));
        };
        let key = |k: &str, name: &str| {
            dlms::hex::decode(k)
                .ok()
                .filter(|b| b.len() == 16)
                .ok_or_else(|| bad(&format!("{name} is not 32 hex digits")))
        };
        Keys::from_slices(&key(ek, "EK")?, &key(ak, "AK")?).map_err(|_| bad("not a key pair"))
    })
}

/// The management association secret of each terminal in `text`.
///
/// # Errors
/// [`KeysError`] naming the first bad line.
pub fn parse_secrets(text: &str) -> Result<BTreeMap<Eui64, Vec<u8>>, KeysError> {
    read_lines(text, "terminal", |fields, bad| {
        let [secret] = fields else {
            return Err(bad("expected `<EUI-64> <secret>`"));
        };
        dlms::hex::decode(secret)
            .ok()
            .filter(|b| (1..=dlms::relay::message::SECRET_MAX).contains(&b.len()))
            .ok_or_else(|| bad("the secret is not 2 to 64 hex digits"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EK: &str = "000102030405060708090A0B0C0D0E0F";
    const AK: &str = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF";

    #[test]
    fn a_keys_file_reads_and_names_a_bad_line_never_a_key() {
        let text = format!("# smart meters\n025A000000002001 {EK} {AK}\n\n02:5a:00:00:00:00:20:02 {EK} {AK} # second\n");
        let keys = parse(&text).unwrap();
        assert_eq!(keys.len(), 2);
        let e = parse(&format!("025A000000002001 {EK} {}\n", &AK[..30])).unwrap_err();
        assert_eq!(
            e,
            KeysError::Line {
                line: 1,
                why: "AK is not 32 hex digits".to_owned()
            }
        );
        assert!(!e.to_string().contains(&AK[..30]), "{e}");
        let e = parse(&format!(
            "025A000000002001 {EK} {AK}\n025A000000002001 {EK} {AK}\n"
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                KeysError::Twice {
                    line: 2,
                    first: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(matches!(
            parse("025A000000002001 x\n"),
            Err(KeysError::Line { line: 1, .. })
        ));
    }

    #[test]
    fn a_secrets_file_reads_and_names_a_bad_line() {
        let s = parse_secrets("021A000000001001 49 4F 54\n021A000000001002 494F5450415353\n");
        assert!(matches!(s, Err(KeysError::Line { line: 1, .. })), "{s:?}");
        let s = parse_secrets("021A000000001001 494F54\n# none\n021A000000001002 494F5450415353\n")
            .unwrap();
        assert_eq!(s.len(), 2);
        assert!(parse_secrets("021A000000001001 \n").is_err());
    }

    proptest! {
        #[test]
        fn any_text_reads_or_is_refused_without_panic(text in "[ -~\n]{0,300}") {
            let _ = parse(&text);
            let _ = parse_secrets(&text);
        }
    }
}
