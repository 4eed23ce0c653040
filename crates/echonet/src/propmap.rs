//! Property maps (EPC 0x9D status-change announcement, 0x9E Set, 0x9F Get).
//!
//! ECHONET Lite Appendix, "property map description format": fewer than 16 properties
//! are a count followed by the EPCs; 16 or more are a count followed by a 16-byte bitmap in
//! which EPC `e` is bit `(e >> 4) - 8` of byte `e & 0x0F` (so of the EDT byte
//! `1 + (e & 0x0F)`). Several published stacks transpose the bitmap; this module follows
//! the specification text and its tests check the spec's own layout, not a peer.

use alloc::vec::Vec;
use core::fmt;

use crate::ValueError;

/// Maps with this many properties or more use the bitmap form.
const BITMAP_THRESHOLD: usize = 16;
/// Count byte plus 16 bitmap bytes.
const BITMAP_LEN: usize = 17;

/// A set of EPCs in 0x80..=0xFF, the only range a property map can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PropertyMap {
    /// Bit `epc - 0x80`.
    bits: u128,
}

impl PropertyMap {
    pub const fn new() -> PropertyMap {
        PropertyMap { bits: 0 }
    }

    /// Build a map from EPCs; an EPC below 0x80 is an error (it cannot be described).
    pub fn from_epcs(epcs: &[u8]) -> Result<PropertyMap, ValueError> {
        let mut map = PropertyMap::new();
        for &epc in epcs {
            if !map.insert(epc) {
                return Err(ValueError::PropertyMap("EPC below 0x80"));
            }
        }
        Ok(map)
    }

    /// Add an EPC; false (and no change) if it is below 0x80.
    pub fn insert(&mut self, epc: u8) -> bool {
        if epc < 0x80 {
            return false;
        }
        self.bits |= 1u128 << (epc - 0x80);
        true
    }

    pub fn contains(&self, epc: u8) -> bool {
        epc >= 0x80 && self.bits & (1u128 << (epc - 0x80)) != 0
    }

    pub fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// EPCs in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0x80..=0xFFu8).filter(|&e| self.contains(e))
    }

    /// Encode as an EDT: list form below 16 properties, bitmap form from 16 on.
    pub fn encode(&self) -> Vec<u8> {
        let count = self.len();
        if count < BITMAP_THRESHOLD {
            let mut out = Vec::with_capacity(1 + count);
            out.push(count as u8);
            out.extend(self.iter());
            return out;
        }
        let mut out = alloc::vec![0u8; BITMAP_LEN];
        out[0] = count as u8;
        for epc in self.iter() {
            out[1 + usize::from(epc & 0x0F)] |= 1 << ((epc >> 4) - 8);
        }
        out
    }

    /// Decode an EDT of either form, rejecting anything the encoder would not produce:
    /// a count that disagrees with the contents, EPCs below 0x80, duplicates, a list of 16
    /// or more, a bitmap of fewer than 16, or a wrong length.
    pub fn decode(edt: &[u8]) -> Result<PropertyMap, ValueError> {
        let Some((&count, rest)) = edt.split_first() else {
            return Err(ValueError::PropertyMap("empty EDT"));
        };
        let count = usize::from(count);
        let mut map = PropertyMap::new();
        if count < BITMAP_THRESHOLD {
            if rest.len() != count {
                return Err(ValueError::PropertyMap("list length differs from count"));
            }
            for &epc in rest {
                if epc < 0x80 {
                    return Err(ValueError::PropertyMap("EPC below 0x80"));
                }
                if map.contains(epc) {
                    return Err(ValueError::PropertyMap("EPC listed twice"));
                }
                map.insert(epc);
            }
            return Ok(map);
        }
        if edt.len() != BITMAP_LEN {
            return Err(ValueError::PropertyMap("bitmap form is not 17 bytes"));
        }
        for (low, byte) in rest.iter().enumerate() {
            for bit in 0..8u8 {
                if byte & (1 << bit) != 0 {
                    map.insert(((bit + 8) << 4) | low as u8);
                }
            }
        }
        if map.len() != count {
            return Err(ValueError::PropertyMap(
                "bitmap population differs from count",
            ));
        }
        Ok(map)
    }
}

impl FromIterator<u8> for PropertyMap {
    /// EPCs below 0x80 are skipped: they cannot stand in a map.
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> PropertyMap {
        let mut map = PropertyMap::new();
        for epc in iter {
            map.insert(epc);
        }
        map
    }
}

/// Prints the EPCs as `[80, 81, 9F]`.
impl fmt::Display for PropertyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, epc) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{epc:02X}")?;
        }
        f.write_str("]")
    }
}

/// Serialises as the list of EPCs in hex, `["80", "9F"]`.
#[cfg(feature = "serde")]
impl serde::Serialize for PropertyMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|epc| alloc::format!("{epc:02X}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn short_maps_are_lists() {
        let map = PropertyMap::from_epcs(&[0x80, 0xE0, 0x9F]).unwrap();
        assert_eq!(map.encode(), vec![3, 0x80, 0x9F, 0xE0]);
        assert_eq!(PropertyMap::decode(&[3, 0xE0, 0x80, 0x9F]).unwrap(), map);
        assert_eq!(PropertyMap::new().encode(), vec![0]);
    }

    /// The bitmap layout, checked bit by bit against the Appendix's description-format
    /// table: row = low nibble (EDT byte 1 + low), column = high nibble (bit high - 8).
    #[test]
    fn bitmap_layout_follows_the_spec_table() {
        let epcs: Vec<u8> = (0x80..=0x8F).collect(); // 16: forces the bitmap form
        let map = PropertyMap::from_epcs(&epcs).unwrap();
        let edt = map.encode();
        assert_eq!(edt.len(), 17);
        assert_eq!(edt[0], 16);
        // 0x8_ is column bit 0 of every row.
        assert!(edt[1..].iter().all(|&b| b == 0x01));

        let mut epcs: Vec<u8> = (0x80..=0x8E).collect();
        epcs.push(0xF0); // row 0, bit 7
        epcs.push(0x9D); // row D, bit 1
        let edt = PropertyMap::from_epcs(&epcs).unwrap().encode();
        assert_eq!(edt[0], 17);
        assert_eq!(edt[1], 0x81);
        assert_eq!(edt[1 + 0xD], 0x03);
        assert_eq!(edt[1 + 0xF], 0x00);
    }

    #[test]
    fn full_map_round_trips() {
        let map: PropertyMap = (0x80..=0xFF).collect();
        let edt = map.encode();
        assert_eq!(edt[0], 128);
        assert!(edt[1..].iter().all(|&b| b == 0xFF));
        assert_eq!(PropertyMap::decode(&edt).unwrap(), map);
    }

    #[test]
    fn inconsistent_maps_are_rejected() {
        assert!(PropertyMap::decode(&[]).is_err());
        assert!(PropertyMap::decode(&[2, 0x80]).is_err());
        assert!(PropertyMap::decode(&[1, 0x10]).is_err());
        assert!(PropertyMap::decode(&[2, 0x80, 0x80]).is_err());
        assert!(PropertyMap::decode(&[16, 0xFF]).is_err());
        let mut bitmap = vec![16u8];
        bitmap.extend([0x01; 15]);
        bitmap.push(0x00);
        assert!(PropertyMap::decode(&bitmap).is_err(), "15 bits, count 16");
        assert!(PropertyMap::from_epcs(&[0x7F]).is_err());
    }
}
