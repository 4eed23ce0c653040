//! MAC addresses. An EUI-64 is held in its printed order (most significant byte first,
//! as on labels and in the CCM* nonce); on the air an extended address goes least
//! significant byte first, so the conversion lives here and nowhere else.

use core::fmt;

/// An IEEE EUI-64, most significant byte first (`02:11:22:33:44:55:00:02`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Eui64(pub [u8; 8]);

impl Eui64 {
    /// The address as sent on the air (least significant byte first).
    #[must_use]
    pub fn to_air(self) -> [u8; 8] {
        // The byte reversal as one swap in a register.
        u64::from_be_bytes(self.0).to_le_bytes()
    }

    /// The address from its on-air form (least significant byte first).
    #[must_use]
    pub fn from_air(air: [u8; 8]) -> Self {
        Self(u64::from_le_bytes(air).to_be_bytes())
    }
}

impl fmt::Debug for Eui64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Eui64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Broadcast short address and PAN ID.
pub const BROADCAST: u16 = 0xFFFF;

/// A destination or source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    /// 16-bit short address (0xFFFF = broadcast).
    Short(u16),
    /// 64-bit extended address.
    Extended(Eui64),
}

/// The two-bit addressing mode subfield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressingMode {
    None,
    Short,
    Extended,
}

impl AddressingMode {
    pub(crate) fn of(address: Option<&Address>) -> Self {
        match address {
            None => Self::None,
            Some(Address::Short(_)) => Self::Short,
            Some(Address::Extended(_)) => Self::Extended,
        }
    }

    pub(crate) const fn bits(self) -> u16 {
        match self {
            Self::None => 0,
            Self::Short => 2,
            Self::Extended => 3,
        }
    }

    pub(crate) fn from_bits(bits: u16) -> Result<Self, super::FrameError> {
        match bits & 3 {
            0 => Ok(Self::None),
            2 => Ok(Self::Short),
            3 => Ok(Self::Extended),
            _ => Err(super::FrameError::ReservedAddressingMode),
        }
    }
}
