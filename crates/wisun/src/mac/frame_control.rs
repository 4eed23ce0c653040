//! The 16-bit Frame Control field (little-endian on air) as a value with a getter and
//! setter per subfield, so the frame parser and emitter never shift bits by hand.

/// Frame types this codec reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// Beacon; with frame version 2 an Enhanced Beacon.
    Beacon,
    /// Data.
    Data,
    /// Acknowledgment; with frame version 2 it may be an Enh-Ack with addresses, security
    /// and IEs, which the general layout carries.
    Ack,
    /// MAC command.
    Command,
}

impl FrameType {
    pub(crate) const fn bits(self) -> u16 {
        match self {
            Self::Beacon => 0,
            Self::Data => 1,
            Self::Ack => 2,
            Self::Command => 3,
        }
    }
}

/// The Frame Version subfield.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FrameVersion {
    /// IEEE 802.15.4-2003 (read only in practice).
    V2003,
    /// IEEE 802.15.4-2006.
    V2006,
    /// IEEE 802.15.4-2015 (and 802.15.4e-2012 IE frames): what we send.
    V2015,
}

impl FrameVersion {
    pub(crate) const fn bits(self) -> u16 {
        match self {
            Self::V2003 => 0,
            Self::V2006 => 1,
            Self::V2015 => 2,
        }
    }
}

/// Frame Control bit masks (802.15.4-2015 §7.2.2).
pub(crate) mod bits {
    pub const SECURITY: u16 = 0x0008;
    pub const FRAME_PENDING: u16 = 0x0010;
    pub const ACK_REQUEST: u16 = 0x0020;
    pub const PAN_ID_COMPRESSION: u16 = 0x0040;
    pub const RESERVED: u16 = 0x0080;
    pub const SN_SUPPRESSION: u16 = 0x0100;
    pub const IE_PRESENT: u16 = 0x0200;
    pub const DST_MODE_SHIFT: u16 = 10;
    pub const VERSION_SHIFT: u16 = 12;
    pub const SRC_MODE_SHIFT: u16 = 14;
}

/// The Frame Control field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameControl(pub u16);

impl FrameControl {
    /// Frame type, or the raw value of a type this codec does not support.
    pub fn frame_type(self) -> Result<FrameType, u8> {
        match self.0 & 7 {
            0 => Ok(FrameType::Beacon),
            1 => Ok(FrameType::Data),
            2 => Ok(FrameType::Ack),
            3 => Ok(FrameType::Command),
            // Masked to three bits: the cast cannot truncate.
            other => Err(other as u8),
        }
    }

    /// Frame version, `None` for the reserved value 3.
    #[must_use]
    pub const fn version(self) -> Option<FrameVersion> {
        match (self.0 >> bits::VERSION_SHIFT) & 3 {
            0 => Some(FrameVersion::V2003),
            1 => Some(FrameVersion::V2006),
            2 => Some(FrameVersion::V2015),
            _ => None,
        }
    }

    /// Whether `mask` is set.
    #[must_use]
    pub const fn has(self, mask: u16) -> bool {
        self.0 & mask != 0
    }

    /// Set or clear `mask`.
    pub fn set(&mut self, mask: u16, on: bool) {
        if on {
            self.0 |= mask;
        } else {
            self.0 &= !mask;
        }
    }

    pub(crate) const fn dst_mode_bits(self) -> u16 {
        (self.0 >> bits::DST_MODE_SHIFT) & 3
    }

    pub(crate) const fn src_mode_bits(self) -> u16 {
        (self.0 >> bits::SRC_MODE_SHIFT) & 3
    }
}
