//! OBIS codes (IEC 62056-6-1): the six-byte logical names of COSEM objects.
//!
//! Printed as `A-B:C.D.E.F` (the form the utilities' documents and Gurux's XML use) and
//! parsed from that form, from the all-dots form `A.B.C.D.E.F` that Gurux and many
//! meter manuals print, and from the Blue Book's `A-B:C.D.E*F`. Parsing is strict about
//! the number of groups (six) and their range (0-255) because a mistyped OBIS code
//! silently addresses a different object.

use std::fmt;
use std::str::FromStr;

/// A logical name.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Obis(pub [u8; 6]);

/// Why a text is not an OBIS code. Offsets are character offsets in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObisError {
    /// A character that is neither a digit nor a separator.
    #[error("OBIS code {text:?}, character {offset}: unexpected {ch:?}")]
    BadChar {
        /// The text.
        text: String,
        /// Where.
        offset: usize,
        /// What.
        ch: char,
    },
    /// A group above 255.
    #[error("OBIS code {text:?}, character {offset}: group {group} is above 255")]
    GroupTooLarge {
        /// The text.
        text: String,
        /// Where the group starts.
        offset: usize,
        /// Which group (0 = A).
        group: usize,
    },
    /// A separator with no digits before it, or a trailing separator.
    #[error("OBIS code {text:?}, character {offset}: empty group")]
    EmptyGroup {
        /// The text.
        text: String,
        /// Where.
        offset: usize,
    },
    /// Not six groups.
    #[error("OBIS code {text:?}: {groups} group(s), expected 6 (A-B:C.D.E.F)")]
    GroupCount {
        /// The text.
        text: String,
        /// How many groups were found.
        groups: usize,
    },
    /// A logical name octet string that is not six bytes long.
    #[error("logical name of {0} byte(s), expected 6")]
    Length(usize),
}

impl Obis {
    /// From the six groups.
    #[must_use]
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> Self {
        Self([a, b, c, d, e, f])
    }

    /// The six bytes as carried in an attribute or method descriptor.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// From an octet string that must be six bytes long.
    ///
    /// # Errors
    /// [`ObisError::Length`] otherwise.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ObisError> {
        <[u8; 6]>::try_from(bytes)
            .map(Self)
            .map_err(|_| ObisError::Length(bytes.len()))
    }

    /// Parse `A-B:C.D.E.F`, `A.B.C.D.E.F` or `A-B:C.D.E*F`.
    ///
    /// # Errors
    /// [`ObisError`] with the character offset of the first problem.
    pub fn parse(text: &str) -> Result<Self, ObisError> {
        let mut groups = [0u8; 6];
        let mut n = 0usize;
        let mut cur: Option<u16> = None;
        let mut group_start = 0usize;
        let owned = || text.to_owned();
        for (offset, ch) in text.char_indices() {
            match ch {
                '0'..='9' => {
                    if cur.is_none() {
                        group_start = offset;
                    }
                    let v = cur.unwrap_or(0) * 10 + u16::from(ch as u8 - b'0');
                    if v > 255 {
                        return Err(ObisError::GroupTooLarge {
                            text: owned(),
                            offset: group_start,
                            group: n,
                        });
                    }
                    cur = Some(v);
                }
                '-' | ':' | '.' | '*' => {
                    let Some(v) = cur.take() else {
                        return Err(ObisError::EmptyGroup {
                            text: owned(),
                            offset,
                        });
                    };
                    if n >= 5 {
                        return Err(ObisError::GroupCount {
                            text: owned(),
                            groups: n + 2,
                        });
                    }
                    groups[n] = v as u8;
                    n += 1;
                }
                _ => {
                    return Err(ObisError::BadChar {
                        text: owned(),
                        offset,
                        ch,
                    })
                }
            }
        }
        let Some(v) = cur else {
            return Err(ObisError::EmptyGroup {
                text: owned(),
                offset: text.len(),
            });
        };
        if n != 5 {
            return Err(ObisError::GroupCount {
                text: owned(),
                groups: n + 1,
            });
        }
        groups[5] = v as u8;
        Ok(Self(groups))
    }

    pub(crate) const fn to_upstream(self) -> dlms_cosem_rs::Obis {
        dlms_cosem_rs::Obis(self.0)
    }

    pub(crate) const fn from_upstream(o: dlms_cosem_rs::Obis) -> Self {
        Self(o.0)
    }
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}-{b}:{c}.{d}.{e}.{g}")
    }
}

impl fmt::Debug for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Obis({self})")
    }
}

impl FromStr for Obis {
    type Err = ObisError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Obis {
    type Error = ObisError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Obis> for String {
    fn from(o: Obis) -> Self {
        o.to_string()
    }
}

impl From<[u8; 6]> for Obis {
    fn from(b: [u8; 6]) -> Self {
        Self(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trm05_parses_and_prints_the_energy_register() {
        let o = Obis::parse("1-0:1.8.0.255").unwrap();
        assert_eq!(o, Obis::new(1, 0, 1, 8, 0, 255));
        assert_eq!(o.to_string(), "1-0:1.8.0.255");
        assert_eq!(Obis::parse("1.0.1.8.0.255").unwrap(), o);
        assert_eq!(Obis::parse("1-0:1.8.0*255").unwrap(), o);
        assert_eq!(
            "0-0:1.0.0.255".parse::<Obis>().unwrap(),
            Obis::new(0, 0, 1, 0, 0, 255)
        );
    }

    #[test]
    fn refuses_malformed_codes_with_offsets() {
        assert!(matches!(
            Obis::parse("1-0:1.8.0"),
            Err(ObisError::GroupCount { groups: 5, .. })
        ));
        assert!(matches!(
            Obis::parse("1-0:1.8.0.255.1"),
            Err(ObisError::GroupCount { groups: 7, .. })
        ));
        assert!(matches!(
            Obis::parse("1-0:1.8.0.256"),
            Err(ObisError::GroupTooLarge {
                offset: 10,
                group: 5,
                ..
            })
        ));
        assert!(matches!(
            Obis::parse("1-0:1.x.0.255"),
            Err(ObisError::BadChar {
                offset: 6,
                ch: 'x',
                ..
            })
        ));
        assert!(matches!(
            Obis::parse("1--0:1.8.0.255"),
            Err(ObisError::EmptyGroup { offset: 2, .. })
        ));
        assert!(matches!(
            Obis::parse("1-0:1.8.0."),
            Err(ObisError::EmptyGroup { .. })
        ));
        assert!(matches!(Obis::parse(""), Err(ObisError::EmptyGroup { .. })));
        assert!(matches!(
            Obis::from_slice(&[1, 2, 3]),
            Err(ObisError::Length(3))
        ));
    }

    #[test]
    fn serialises_as_text() {
        let o = Obis::new(1, 0, 99, 1, 0, 255);
        let j = serde_json::to_string(&o).unwrap();
        assert_eq!(j, "\"1-0:99.1.0.255\"");
        assert_eq!(serde_json::from_str::<Obis>(&j).unwrap(), o);
    }
}
