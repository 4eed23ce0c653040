//! The node profile object, class 0x0EF0 (ノードプロファイル): what a node says about
//! itself and the objects it holds. Properties it shares with every object (0x80, 0x83,
//! 0x88, 0x8A, the maps) decode as [`super::SuperclassProperty`].

use alloc::vec::Vec;
use core::fmt;

use super::fields::exact;
use crate::{ClassCode, Eoj, ValueError};

/// Most instances one 0xD5/0xD6 list may carry (1 + 3 × 84 = 253 bytes).
pub const MAX_INSTANCES: usize = 84;
/// Most classes one 0xD7 list carries (the specification caps it at 8).
pub const MAX_CLASSES: usize = 8;

/// A typed property particular to the node profile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum NodeProfileProperty {
    /// 0x82: protocol version and the message formats the node supports (bit 0 of the
    /// first format byte: format 1, bit 1: format 2).
    Version { major: u8, minor: u8, formats: u8 },
    /// 0xD3: device object instances in the node (3 bytes).
    InstanceCount(u32),
    /// 0xD4: classes in the node, the node profile included.
    ClassCount(u16),
    /// 0xD5: instance list announced at start-up and on change.
    InstanceListNotification(Vec<Eoj>),
    /// 0xD6: the node's instance list.
    InstanceList(Vec<Eoj>),
    /// 0xD7: the node's class list, the node profile excluded.
    ClassList(Vec<ClassCode>),
}

impl NodeProfileProperty {
    /// The EPCs this type decodes.
    pub const EPCS: [u8; 6] = [0x82, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7];

    pub fn decode(epc: u8, edt: &[u8]) -> Result<NodeProfileProperty, ValueError> {
        use NodeProfileProperty as P;
        Ok(match epc {
            0x82 => match exact::<4>(epc, edt, "4")? {
                [major, minor, formats, 0x00] if formats & !0x03 == 0 && formats != 0 => {
                    P::Version {
                        major,
                        minor,
                        formats,
                    }
                }
                _ => {
                    return Err(ValueError::Range {
                        epc,
                        what: "version (major, minor, formats 0x01-0x03, 0x00)",
                    })
                }
            },
            0xD3 => {
                let [a, b, c] = exact::<3>(epc, edt, "3")?;
                P::InstanceCount(u32::from_be_bytes([0, a, b, c]))
            }
            0xD4 => {
                let b = exact::<2>(epc, edt, "2")?;
                let n = u16::from_be_bytes(b);
                if n == 0 {
                    return Err(ValueError::Range {
                        epc,
                        what: "class count (at least the node profile)",
                    });
                }
                P::ClassCount(n)
            }
            0xD5 => P::InstanceListNotification(decode_instances(epc, edt)?),
            0xD6 => P::InstanceList(decode_instances(epc, edt)?),
            0xD7 => {
                let (_, rest) = counted(epc, edt, 2, MAX_CLASSES)?;
                P::ClassList(
                    rest.chunks_exact(2)
                        .map(|c| ClassCode(u16::from_be_bytes([c[0], c[1]])))
                        .collect(),
                )
            }
            _ => {
                return Err(ValueError::UnknownProperty {
                    class: ClassCode::NODE_PROFILE.0,
                    epc,
                })
            }
        })
    }

    pub fn epc(&self) -> u8 {
        use NodeProfileProperty as P;
        match self {
            P::Version { .. } => 0x82,
            P::InstanceCount(_) => 0xD3,
            P::ClassCount(_) => 0xD4,
            P::InstanceListNotification(_) => 0xD5,
            P::InstanceList(_) => 0xD6,
            P::ClassList(_) => 0xD7,
        }
    }

    /// The EDT of this value. Fails when the value lies outside what its EDT can carry
    /// (fields are public, so such a value can be built): every EDT returned decodes back
    /// to exactly this value.
    pub fn encode(&self) -> Result<Vec<u8>, ValueError> {
        super::checked_encode(self, self.epc(), self.bytes(), Self::decode)
    }

    fn bytes(&self) -> Vec<u8> {
        use NodeProfileProperty as P;
        match self {
            P::Version {
                major,
                minor,
                formats,
            } => alloc::vec![*major, *minor, *formats, 0],
            P::InstanceCount(n) => n.to_be_bytes()[1..].to_vec(),
            P::ClassCount(n) => n.to_be_bytes().to_vec(),
            P::InstanceListNotification(list) | P::InstanceList(list) => {
                let mut v = Vec::with_capacity(1 + 3 * list.len());
                v.push(u8::try_from(list.len()).unwrap_or(u8::MAX));
                for eoj in list {
                    v.extend_from_slice(&eoj.to_bytes());
                }
                v
            }
            P::ClassList(list) => {
                let mut v = Vec::with_capacity(1 + 2 * list.len());
                v.push(u8::try_from(list.len()).unwrap_or(u8::MAX));
                for class in list {
                    v.extend_from_slice(&class.0.to_be_bytes());
                }
                v
            }
        }
    }
}

/// Splits a count-prefixed list and checks that the count matches the entries.
fn counted(epc: u8, edt: &[u8], width: usize, max: usize) -> Result<(usize, &[u8]), ValueError> {
    let Some((&n, rest)) = edt.split_first() else {
        return Err(ValueError::Length {
            epc,
            expected: "1 + entries",
            actual: 0,
        });
    };
    let n = usize::from(n);
    if n > max {
        return Err(ValueError::Range {
            epc,
            what: "number of list entries",
        });
    }
    if rest.len() != n * width {
        return Err(ValueError::Length {
            epc,
            expected: "1 + count × entry size",
            actual: edt.len(),
        });
    }
    Ok((n, rest))
}

fn decode_instances(epc: u8, edt: &[u8]) -> Result<Vec<Eoj>, ValueError> {
    let (_, rest) = counted(epc, edt, 3, MAX_INSTANCES)?;
    Ok(rest
        .chunks_exact(3)
        .map(|c| Eoj::new(c[0], c[1], c[2]))
        .collect())
}

impl fmt::Display for NodeProfileProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NodeProfileProperty as P;
        match self {
            P::Version {
                major,
                minor,
                formats,
            } => write!(f, "version {major}.{minor}, formats 0x{formats:02X}"),
            P::InstanceCount(n) => write!(f, "{n} instances"),
            P::ClassCount(n) => write!(f, "{n} classes"),
            P::InstanceListNotification(list) | P::InstanceList(list) => {
                f.write_str("[")?;
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
            P::ClassList(list) => {
                f.write_str("[")?;
                for (i, c) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("]")
            }
        }
    }
}
