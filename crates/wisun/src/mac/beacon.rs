//! The active scan's two frames (CON-01): the Enhanced Beacon Request a terminal
//! broadcasts with its Pairing ID, and the Enhanced Beacon a smart meter with the same
//! Pairing ID answers with, echoing it. Layouts as in the spec notes' reference frames
//! (tshark decodes them): EBR = command 0x07, frame version 2, to 0xFFFF/0xFFFF from the
//! terminal's EUI-64, Pairing ID Header IE, HT1, MLME Enhanced Beacon Filter
//! (permit-join), Payload Termination, command ID; EB = beacon, frame version 2, from the
//! meter's PAN ID and EUI-64, Pairing ID Header IE.

use alloc::vec;

use super::{
    ie::{self, MlmeSubIe, PayloadIe, EB_FILTER_SUB_ID},
    Address, CommandId, Eui64, Frame, FrameType, Header, BROADCAST,
};
use crate::pairing_id::{PairingId, PairingIeFormat};

/// Enhanced Beacon Filter content: only coordinators permitting joins answer.
const PERMIT_JOIN_FILTER: u8 = 0x01;

/// The Enhanced Beacon Request a terminal sends (CON-01).
#[must_use]
pub fn enhanced_beacon_request(
    sequence_number: u8,
    terminal: Eui64,
    pairing_id: &PairingId,
    format: &PairingIeFormat,
) -> Frame {
    let (header_ies, payload_ies) = ie::terminate(
        vec![format.header_ie(pairing_id)],
        vec![PayloadIe::Mlme(vec![MlmeSubIe::Short {
            sub_id: EB_FILTER_SUB_ID,
            content: vec![PERMIT_JOIN_FILTER],
        }])],
        true,
    );
    Frame {
        header: Header {
            frame_type: FrameType::Command,
            version: super::FrameVersion::V2015,
            frame_pending: false,
            ack_request: false,
            // Short destination, extended source, one PAN ID: Table 7-2 row
            // (short, ext, compression 1) → destination PAN only.
            pan_id_compression: true,
            sequence_number: Some(sequence_number),
            dst_pan: Some(BROADCAST),
            dst: Some(Address::Short(BROADCAST)),
            src_pan: None,
            src: Some(Address::Extended(terminal)),
            security: None,
            header_ies,
        },
        payload_ies,
        payload: vec![CommandId::BeaconRequest.byte()],
    }
}

/// The Enhanced Beacon a smart meter answers with, echoing the Pairing ID (CON-01).
#[must_use]
pub fn enhanced_beacon(
    sequence_number: u8,
    pan_id: u16,
    coordinator: Eui64,
    pairing_id: &PairingId,
    format: &PairingIeFormat,
) -> Frame {
    let (header_ies, payload_ies) =
        ie::terminate(vec![format.header_ie(pairing_id)], vec![], false);
    Frame {
        header: Header {
            frame_type: FrameType::Beacon,
            version: super::FrameVersion::V2015,
            frame_pending: false,
            ack_request: false,
            // No destination, extended source, compression 0 → source PAN present.
            pan_id_compression: false,
            sequence_number: Some(sequence_number),
            dst_pan: None,
            dst: None,
            src_pan: Some(pan_id),
            src: Some(Address::Extended(coordinator)),
            security: None,
            header_ies,
        },
        payload_ies,
        payload: vec![],
    }
}

impl Frame {
    /// Whether this is an Enhanced Beacon Request: a frame version 2 command frame with
    /// command ID 0x07 and IEs.
    #[must_use]
    pub fn is_enhanced_beacon_request(&self) -> bool {
        self.header.version == super::FrameVersion::V2015
            && self.command_id() == Some(CommandId::BeaconRequest)
            && !self.header.header_ies.is_empty()
    }

    /// Whether this is an Enhanced Beacon (a frame version 2 beacon).
    #[must_use]
    pub fn is_enhanced_beacon(&self) -> bool {
        self.header.version == super::FrameVersion::V2015
            && self.header.frame_type == FrameType::Beacon
    }
}
