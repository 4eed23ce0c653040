//! MAC command identifiers (802.15.4-2015 Table 7-49). The command ID is the first byte
//! of a command frame's payload; in a 2015 frame with Payload IEs it follows them (and
//! is therefore encrypted with them), which is where [`super::Frame::payload`] keeps it.

use super::{Frame, FrameType};

/// Command IDs this project names; others are kept as their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandId {
    /// 0x01 Association Request.
    AssociationRequest,
    /// 0x02 Association Response.
    AssociationResponse,
    /// 0x03 Disassociation Notification.
    Disassociation,
    /// 0x04 Data Request.
    DataRequest,
    /// 0x07 Beacon Request; with frame version 2 and IEs the Enhanced Beacon Request.
    BeaconRequest,
    /// Any other ID.
    Other(u8),
}

impl CommandId {
    /// The ID byte.
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            Self::AssociationRequest => 0x01,
            Self::AssociationResponse => 0x02,
            Self::Disassociation => 0x03,
            Self::DataRequest => 0x04,
            Self::BeaconRequest => 0x07,
            Self::Other(b) => b,
        }
    }

    /// The ID of a byte.
    #[must_use]
    pub const fn from_byte(b: u8) -> Self {
        match b {
            0x01 => Self::AssociationRequest,
            0x02 => Self::AssociationResponse,
            0x03 => Self::Disassociation,
            0x04 => Self::DataRequest,
            0x07 => Self::BeaconRequest,
            other => Self::Other(other),
        }
    }
}

impl Frame {
    /// The command ID of a command frame, `None` for other frames or an empty payload.
    #[must_use]
    pub fn command_id(&self) -> Option<CommandId> {
        match (self.header.frame_type, self.payload.first()) {
            (FrameType::Command, Some(&b)) => Some(CommandId::from_byte(b)),
            _ => None,
        }
    }
}
