//! ECHONET objects (EOJ): class group, class and instance codes.

use core::fmt;
use core::str::FromStr;

/// A class: class group code and class code, e.g. 0x028E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassCode(pub u16);

impl ClassCode {
    /// The node profile class (profile class group 0x0E).
    pub const NODE_PROFILE: ClassCode = ClassCode(0x0EF0);
    /// The controller class (management/operation group 0x05).
    pub const CONTROLLER: ClassCode = ClassCode(0x05FF);
    /// Distributed generation electric energy meter (分散型電源電力量メータ), Appendix Release Q+.
    pub const DISTRIBUTED_GENERATION_METER: ClassCode = ClassCode(0x028E);

    /// Class group code (first byte).
    pub const fn group(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// Class code (second byte).
    pub const fn class(self) -> u8 {
        self.0 as u8
    }

    /// The object of this class with the given instance code.
    pub const fn instance(self, instance: u8) -> Eoj {
        Eoj::new(self.group(), self.class(), instance)
    }
}

impl fmt::Display for ClassCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// An ECHONET object: class group, class, instance (3 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eoj {
    pub group: u8,
    pub class: u8,
    pub instance: u8,
}

impl Eoj {
    /// The node profile, general instance 0x01.
    pub const NODE_PROFILE: Eoj = Eoj::new(0x0E, 0xF0, 0x01);
    /// A controller, instance 0x01: the usual source object of a reading client.
    pub const CONTROLLER: Eoj = Eoj::new(0x05, 0xFF, 0x01);

    pub const fn new(group: u8, class: u8, instance: u8) -> Eoj {
        Eoj {
            group,
            class,
            instance,
        }
    }

    pub const fn from_bytes(b: [u8; 3]) -> Eoj {
        Eoj::new(b[0], b[1], b[2])
    }

    pub const fn to_bytes(self) -> [u8; 3] {
        [self.group, self.class, self.instance]
    }

    pub const fn class_code(self) -> ClassCode {
        ClassCode(((self.group as u16) << 8) | self.class as u16)
    }

    /// Whether a frame addressed to `dest` reaches this object: same class, and the same
    /// instance or the "all instances" code 0x00 (ECHONET Lite spec 3.2.4).
    pub const fn is_addressed_by(self, dest: Eoj) -> bool {
        self.group == dest.group
            && self.class == dest.class
            && (dest.instance == 0 || dest.instance == self.instance)
    }
}

impl fmt::Display for Eoj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02X}{:02X}{:02X}",
            self.group, self.class, self.instance
        )
    }
}

/// Text that is not an EOJ: six hex digits, optionally after `0x`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an EOJ is six hex digits such as 028E01 or 0x028E01")]
pub struct EojParseError;

impl FromStr for Eoj {
    type Err = EojParseError;

    fn from_str(s: &str) -> Result<Eoj, EojParseError> {
        let hex = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EojParseError);
        }
        let v = u32::from_str_radix(hex, 16).map_err(|_| EojParseError)?;
        Ok(Eoj::new((v >> 16) as u8, (v >> 8) as u8, v as u8))
    }
}

/// Serialises as the hex string operators write, `"028E"`.
#[cfg(feature = "serde")]
impl serde::Serialize for ClassCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Serialises as the hex string operators write, `"028E01"`.
#[cfg(feature = "serde")]
impl serde::Serialize for Eoj {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        assert_eq!("028E01".parse::<Eoj>(), Ok(Eoj::new(0x02, 0x8E, 0x01)));
        assert_eq!("0x028e01".parse::<Eoj>(), Ok(Eoj::new(0x02, 0x8E, 0x01)));
        assert!("28E01".parse::<Eoj>().is_err());
        assert!("0x028E0G".parse::<Eoj>().is_err());
        assert!("+28E01".parse::<Eoj>().is_err());
    }

    #[test]
    fn instance_zero_addresses_all_instances() {
        let meter = ClassCode::DISTRIBUTED_GENERATION_METER.instance(1);
        assert!(meter.is_addressed_by(Eoj::new(0x02, 0x8E, 0x00)));
        assert!(meter.is_addressed_by(meter));
        assert!(!meter.is_addressed_by(Eoj::new(0x02, 0x8E, 0x02)));
        assert!(!meter.is_addressed_by(Eoj::NODE_PROFILE));
    }
}
