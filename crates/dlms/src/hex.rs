//! Hex text to bytes and back, for the translator, the tests and the interop harness.
//!
//! Lenient about layout (spaces, tabs, newlines, `:` and `-` between bytes, a `0x`
//! prefix per group) because people paste frames from Gurux logs, Wireshark and
//! specifications, each with its own habit; strict about content: an odd digit or a
//! non-hex character is an error with the character offset in the joined text.

/// The text is not hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is neither a hex digit nor a separator.
    #[error("character {offset}: not a hex digit: {ch:?}")]
    BadChar {
        /// Offset of the character in the text.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// An odd number of hex digits.
    #[error("odd number of hex digits ({digits})")]
    OddLength {
        /// How many digits were read.
        digits: usize,
    },
}

/// Parse hex text, ignoring whitespace, `:`, `-`, `_`, `,` and `0x` prefixes.
///
/// # Errors
/// [`HexError`] on any other character or an odd number of digits.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0usize;
    while let Some(&(offset, ch)) = chars.get(i) {
        i += 1;
        if ch.is_whitespace() || matches!(ch, ':' | '-' | '_' | ',') {
            continue;
        }
        if ch == '0' && high.is_none() && matches!(chars.get(i), Some((_, 'x' | 'X'))) {
            i += 1;
            continue;
        }
        let Some(v) = ch.to_digit(16) else {
            return Err(HexError::BadChar { offset, ch });
        };
        digits += 1;
        let v = v as u8;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push((h << 4) | v),
        }
    }
    if high.is_some() {
        return Err(HexError::OddLength { digits });
    }
    Ok(out)
}

/// Upper-case hex without separators, as Gurux prints octet strings.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Upper-case hex with a space between bytes, as Gurux's XML prints raw data.
#[must_use]
pub fn encode_spaced(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_layouts() {
        assert_eq!(decode("C0 01 c1").unwrap(), [0xC0, 0x01, 0xC1]);
        assert_eq!(decode("0xC0,0x01").unwrap(), [0xC0, 0x01]);
        assert_eq!(decode("00:01-02\n03").unwrap(), [0, 1, 2, 3]);
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn refuses_bad_text_with_its_offset() {
        assert_eq!(
            decode("C0 0G").unwrap_err(),
            HexError::BadChar { offset: 4, ch: 'G' }
        );
        assert_eq!(
            decode("C0 0").unwrap_err(),
            HexError::OddLength { digits: 3 }
        );
    }

    #[test]
    fn round_trips() {
        assert_eq!(encode(&[0xAB, 0x01]), "AB01");
        assert_eq!(encode_spaced(&[0xAB, 0x01]), "AB 01");
        assert_eq!(decode(&encode_spaced(&[1, 2, 255])).unwrap(), [1, 2, 255]);
    }
}
