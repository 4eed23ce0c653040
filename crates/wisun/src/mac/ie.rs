//! Information Elements (802.15.4-2015 §7.4). Header IEs sit in the MAC header and are
//! never encrypted; Payload IEs start the MAC payload and are encrypted with it.
//!
//! The lists hold the IEs exactly as on the air, termination IEs included (HT1, HT2,
//! Payload Termination), so that every frame we accept re-emits to the same bytes.
//! [`terminate`] puts the terminations where Table 7-6 wants them when building a frame.

use alloc::vec::Vec;

use super::{reader::Reader, FrameError};

/// An IEEE OUI (24 bits). Vendor-specific IEs carry it little-endian on air (Wireshark
/// reads it with `tvb_get_letoh24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Oui(pub u32);

impl Oui {
    fn to_air(self) -> [u8; 3] {
        let b = self.0.to_le_bytes();
        [b[0], b[1], b[2]]
    }

    fn from_air(b: [u8; 3]) -> Self {
        Self(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }
}

/// Header IE element IDs with a meaning here.
pub mod header_id {
    /// Vendor Specific Header IE.
    pub const VENDOR_SPECIFIC: u8 = 0x00;
    /// Header Termination 1: Payload IEs follow.
    pub const HT1: u8 = 0x7e;
    /// Header Termination 2: the MAC payload follows, no Payload IEs.
    pub const HT2: u8 = 0x7f;
}

/// Payload IE group IDs with a meaning here.
pub mod payload_group {
    /// MLME IE: nested sub-IEs.
    pub const MLME: u8 = 0x1;
    /// Vendor Specific Payload IE.
    pub const VENDOR_SPECIFIC: u8 = 0x2;
    /// Payload Termination IE.
    pub const TERMINATION: u8 = 0xf;
}

/// MLME short sub-IE ID of the Enhanced Beacon Filter IE.
pub const EB_FILTER_SUB_ID: u8 = 0x1e;

/// A Header IE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderIe {
    /// Vendor Specific (element ID 0x00): OUI + vendor data (the Pairing ID rides here).
    Vendor {
        /// The vendor's OUI.
        oui: Oui,
        /// Data after the OUI (up to 124 bytes).
        data: Vec<u8>,
    },
    /// Header Termination 1 (0x7e): Payload IEs follow.
    Ht1,
    /// Header Termination 2 (0x7f): the payload follows without Payload IEs.
    Ht2,
    /// Any other element, kept opaque.
    Other {
        /// Element ID (not 0x00, 0x7e, 0x7f).
        id: u8,
        /// Content (up to 127 bytes).
        content: Vec<u8>,
    },
}

/// A nested sub-IE of an MLME Payload IE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlmeSubIe {
    /// Short format: 7-bit sub-ID, up to 255 bytes.
    Short {
        /// Sub-ID (0..=0x7f).
        sub_id: u8,
        /// Content.
        content: Vec<u8>,
    },
    /// Long format: 4-bit sub-ID, up to 2047 bytes.
    Long {
        /// Sub-ID (0..=0xf).
        sub_id: u8,
        /// Content.
        content: Vec<u8>,
    },
}

/// A Payload IE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadIe {
    /// MLME (group 0x1): nested sub-IEs.
    Mlme(Vec<MlmeSubIe>),
    /// Vendor Specific (group 0x2): OUI + vendor data.
    Vendor {
        /// The vendor's OUI.
        oui: Oui,
        /// Data after the OUI.
        data: Vec<u8>,
    },
    /// Payload Termination (group 0xf): the MAC payload follows.
    Termination,
    /// Any other group, kept opaque.
    Other {
        /// Group ID (0..=0xf, not 0x1, 0x2, 0xf).
        group_id: u8,
        /// Content (up to 2047 bytes).
        content: Vec<u8>,
    },
}

const TYPE_PAYLOAD: u16 = 0x8000;

/// Parse Header IEs until HT1 or HT2 (included) or the end of `r`. Returns the list.
pub(crate) fn parse_header_ies(r: &mut Reader<'_>) -> Result<Vec<HeaderIe>, FrameError> {
    let mut ies = Vec::new();
    if r.is_empty() {
        return Err(FrameError::NoIe { offset: r.offset() });
    }
    while !r.is_empty() {
        let offset = r.offset();
        let d = r.u16_le()?;
        if d & TYPE_PAYLOAD != 0 {
            return Err(FrameError::IeType { offset });
        }
        let len = usize::from(d & 0x7f);
        // Bits 7-14: an 8-bit element ID.
        let id = ((d >> 7) & 0xff) as u8;
        let content = r.bytes(len)?;
        let ie = match id {
            header_id::HT1 | header_id::HT2 => {
                if len != 0 {
                    return Err(FrameError::TerminationLength { offset });
                }
                if id == header_id::HT1 {
                    HeaderIe::Ht1
                } else {
                    HeaderIe::Ht2
                }
            }
            header_id::VENDOR_SPECIFIC => {
                let (oui, data) = split_oui(content, offset)?;
                HeaderIe::Vendor { oui, data }
            }
            _ => HeaderIe::Other {
                id,
                content: content.to_vec(),
            },
        };
        let last = matches!(ie, HeaderIe::Ht1 | HeaderIe::Ht2);
        ies.push(ie);
        if last {
            break;
        }
    }
    Ok(ies)
}

/// Parse Payload IEs until the Payload Termination IE (included) or the end of `r`.
pub(crate) fn parse_payload_ies(r: &mut Reader<'_>) -> Result<Vec<PayloadIe>, FrameError> {
    let mut ies = Vec::new();
    while !r.is_empty() {
        let offset = r.offset();
        let d = r.u16_le()?;
        if d & TYPE_PAYLOAD == 0 {
            return Err(FrameError::IeType { offset });
        }
        let len = usize::from(d & 0x7ff);
        // Bits 11-14: a 4-bit group ID.
        let group_id = ((d >> 11) & 0xf) as u8;
        let content_offset = r.offset();
        let content = r.bytes(len)?;
        let ie = match group_id {
            payload_group::TERMINATION => {
                if len != 0 {
                    return Err(FrameError::TerminationLength { offset });
                }
                PayloadIe::Termination
            }
            payload_group::MLME => {
                PayloadIe::Mlme(parse_sub_ies(&mut Reader::new(content, content_offset))?)
            }
            payload_group::VENDOR_SPECIFIC => {
                let (oui, data) = split_oui(content, offset)?;
                PayloadIe::Vendor { oui, data }
            }
            _ => PayloadIe::Other {
                group_id,
                content: content.to_vec(),
            },
        };
        let last = ie == PayloadIe::Termination;
        ies.push(ie);
        if last {
            break;
        }
    }
    Ok(ies)
}

fn parse_sub_ies(r: &mut Reader<'_>) -> Result<Vec<MlmeSubIe>, FrameError> {
    let mut subs = Vec::new();
    while !r.is_empty() {
        let d = r.u16_le()?;
        subs.push(if d & 0x8000 == 0 {
            let content = r.bytes(usize::from(d & 0xff))?.to_vec();
            MlmeSubIe::Short {
                sub_id: ((d >> 8) & 0x7f) as u8,
                content,
            }
        } else {
            let content = r.bytes(usize::from(d & 0x7ff))?.to_vec();
            MlmeSubIe::Long {
                sub_id: ((d >> 11) & 0xf) as u8,
                content,
            }
        });
    }
    Ok(subs)
}

fn split_oui(content: &[u8], offset: usize) -> Result<(Oui, Vec<u8>), FrameError> {
    match content {
        [a, b, c, data @ ..] => Ok((Oui::from_air([*a, *b, *c]), data.to_vec())),
        _ => Err(FrameError::VendorIeTooShort { offset }),
    }
}

fn checked_len(len: usize, max: usize, what: &'static str) -> Result<u16, FrameError> {
    if len > max {
        return Err(FrameError::IeField(what));
    }
    u16::try_from(len).map_err(|_| FrameError::IeField(what))
}

/// Emit Header IEs as given.
pub(crate) fn emit_header_ies(ies: &[HeaderIe], out: &mut Vec<u8>) -> Result<(), FrameError> {
    for ie in ies {
        let (id, oui, body): (u8, Option<Oui>, &[u8]) = match ie {
            HeaderIe::Vendor { oui, data } => (header_id::VENDOR_SPECIFIC, Some(*oui), data),
            HeaderIe::Ht1 => (header_id::HT1, None, &[]),
            HeaderIe::Ht2 => (header_id::HT2, None, &[]),
            HeaderIe::Other { id, content } => {
                if matches!(
                    *id,
                    header_id::VENDOR_SPECIFIC | header_id::HT1 | header_id::HT2
                ) {
                    return Err(FrameError::IeField("opaque header IE with a known ID"));
                }
                (*id, None, content)
            }
        };
        check_oui(oui)?;
        let len = body.len() + if oui.is_some() { 3 } else { 0 };
        let len = checked_len(len, 0x7f, "header IE longer than 127 bytes")?;
        out.extend_from_slice(&(len | u16::from(id) << 7).to_le_bytes());
        if let Some(oui) = oui {
            out.extend_from_slice(&oui.to_air());
        }
        out.extend_from_slice(body);
    }
    Ok(())
}

fn check_oui(oui: Option<Oui>) -> Result<(), FrameError> {
    match oui {
        Some(Oui(v)) if v > 0xff_ffff => Err(FrameError::IeField("OUI wider than 24 bits")),
        _ => Ok(()),
    }
}

/// Emit Payload IEs as given.
pub(crate) fn emit_payload_ies(ies: &[PayloadIe], out: &mut Vec<u8>) -> Result<(), FrameError> {
    for ie in ies {
        let mut body = Vec::new();
        let group = match ie {
            PayloadIe::Mlme(subs) => {
                emit_sub_ies(subs, &mut body)?;
                payload_group::MLME
            }
            PayloadIe::Vendor { oui, data } => {
                check_oui(Some(*oui))?;
                body.extend_from_slice(&oui.to_air());
                body.extend_from_slice(data);
                payload_group::VENDOR_SPECIFIC
            }
            PayloadIe::Termination => payload_group::TERMINATION,
            PayloadIe::Other { group_id, content } => {
                if *group_id > 0xf
                    || matches!(
                        *group_id,
                        payload_group::MLME
                            | payload_group::VENDOR_SPECIFIC
                            | payload_group::TERMINATION
                    )
                {
                    return Err(FrameError::IeField("opaque payload IE with a known group"));
                }
                body.extend_from_slice(content);
                *group_id
            }
        };
        let len = checked_len(body.len(), 0x7ff, "payload IE longer than 2047 bytes")?;
        out.extend_from_slice(&(TYPE_PAYLOAD | len | u16::from(group) << 11).to_le_bytes());
        out.extend_from_slice(&body);
    }
    Ok(())
}

fn emit_sub_ies(subs: &[MlmeSubIe], out: &mut Vec<u8>) -> Result<(), FrameError> {
    for sub in subs {
        let (d, content) = match sub {
            MlmeSubIe::Short { sub_id, content } => {
                if *sub_id > 0x7f {
                    return Err(FrameError::IeField("short sub-ID above 0x7f"));
                }
                let len = checked_len(content.len(), 0xff, "short sub-IE above 255 bytes")?;
                (len | u16::from(*sub_id) << 8, content)
            }
            MlmeSubIe::Long { sub_id, content } => {
                if *sub_id > 0xf {
                    return Err(FrameError::IeField("long sub-ID above 0xf"));
                }
                let len = checked_len(content.len(), 0x7ff, "long sub-IE above 2047 bytes")?;
                (0x8000 | len | u16::from(*sub_id) << 11, content)
            }
        };
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(content);
    }
    Ok(())
}

/// Check that a receiver parsing Header IEs, Payload IEs and payload as
/// [`parse_header_ies`] and [`parse_payload_ies`] do would find the same three parts:
/// terminations only last, HT1 before Payload IEs, a termination before any payload.
pub(crate) fn check_layout(
    header: &[HeaderIe],
    payload_ies: &[PayloadIe],
    payload_empty: bool,
) -> Result<(), FrameError> {
    let (last_header, earlier_header) = match header.split_last() {
        Some((last, earlier)) => (Some(last), earlier),
        None => (None, &[][..]),
    };
    if earlier_header
        .iter()
        .any(|ie| matches!(ie, HeaderIe::Ht1 | HeaderIe::Ht2))
    {
        return Err(FrameError::IeTermination(
            "HT1/HT2 before the last header IE",
        ));
    }
    let (last_payload, earlier_payload) = match payload_ies.split_last() {
        Some((last, earlier)) => (Some(last), earlier),
        None => (None, &[][..]),
    };
    if earlier_payload.contains(&PayloadIe::Termination) {
        return Err(FrameError::IeTermination(
            "payload termination before the last payload IE",
        ));
    }
    match last_header {
        None if !payload_ies.is_empty() => Err(FrameError::IeTermination(
            "payload IEs need HT1 in the header",
        )),
        Some(HeaderIe::Ht1) => {
            if !payload_empty && last_payload != Some(&PayloadIe::Termination) {
                Err(FrameError::IeTermination(
                    "payload after payload IEs needs the payload termination IE",
                ))
            } else {
                Ok(())
            }
        }
        Some(HeaderIe::Ht2) if !payload_ies.is_empty() => {
            Err(FrameError::IeTermination("HT2 announces no payload IEs"))
        }
        Some(HeaderIe::Vendor { .. } | HeaderIe::Other { .. }) if !payload_ies.is_empty() => Err(
            FrameError::IeTermination("payload IEs need HT1 in the header"),
        ),
        Some(HeaderIe::Vendor { .. } | HeaderIe::Other { .. }) if !payload_empty => Err(
            FrameError::IeTermination("payload after header IEs needs HT2"),
        ),
        _ => Ok(()),
    }
}

/// Add the termination IEs of 802.15.4-2015 Table 7-6 to IE lists given without them:
/// HT1 when Payload IEs follow (even with no Header IE), HT2 when only a payload follows
/// Header IEs, the Payload Termination IE when a payload follows Payload IEs, nothing
/// after the last IE of a frame.
#[must_use]
pub fn terminate(
    mut header: Vec<HeaderIe>,
    mut payload_ies: Vec<PayloadIe>,
    has_payload: bool,
) -> (Vec<HeaderIe>, Vec<PayloadIe>) {
    if !payload_ies.is_empty() {
        header.push(HeaderIe::Ht1);
        if has_payload {
            payload_ies.push(PayloadIe::Termination);
        }
    } else if !header.is_empty() && has_payload {
        header.push(HeaderIe::Ht2);
    }
    (header, payload_ies)
}
