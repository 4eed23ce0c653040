//! The IEEE 802.15.4 TAP header (link type 283): `version 0 ‖ reserved 0 ‖ length u16`
//! (whole header, little-endian) then TLVs `type u16 ‖ length u16 ‖ value`, each padded
//! to 4 bytes. We write FCS type (0), RSS in dBm as f32 (1), channel number u16 + page
//! u8 (3) and the centre frequency in kHz as f32 (11): what Wireshark 4.0 shows as
//! `wpan-tap.*`.

use alloc::vec::Vec;

use crate::channel::{Channel, CHANNEL_PAGE};
use crate::mac::fcs::FcsKind;

const TLV_FCS_TYPE: u16 = 0;
const TLV_RSS: u16 = 1;
const TLV_CHANNEL: u16 = 3;
const TLV_FREQUENCY: u16 = 11;

/// Per-frame metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TapHeader {
    /// The FCS that ends the frame (`None`: no FCS), so Wireshark checks and strips it.
    pub fcs: Option<FcsKind>,
    /// Received signal strength in dBm.
    pub rss_dbm: Option<f32>,
    /// Channel number and page.
    pub channel: Option<(u16, u8)>,
    /// Centre frequency in kHz.
    pub centre_khz: Option<f32>,
}

impl TapHeader {
    /// Metadata for a frame received on a HAN channel: channel, page 9, frequency, RSS.
    #[must_use]
    pub fn received(fcs: FcsKind, channel: Channel, rss_dbm: f32) -> Self {
        Self {
            fcs: Some(fcs),
            rss_dbm: Some(rss_dbm),
            channel: Some((u16::from(channel.number()), CHANNEL_PAGE)),
            // Integer kHz below 2^24: exact in an f32.
            centre_khz: Some(channel.centre_khz() as f32),
        }
    }

    /// The header followed by `psdu`: one link type 283 record.
    #[must_use]
    pub fn wrap(&self, psdu: &[u8]) -> Vec<u8> {
        let mut tlvs = Vec::new();
        let mut tlv = |t: u16, v: &[u8]| {
            tlvs.extend_from_slice(&t.to_le_bytes());
            // TLV values here are at most 4 bytes.
            tlvs.extend_from_slice(&(v.len() as u16).to_le_bytes());
            tlvs.extend_from_slice(v);
            tlvs.resize(tlvs.len() + (4 - v.len() % 4) % 4, 0);
        };
        let fcs_type: u8 = match self.fcs {
            None => 0,
            Some(FcsKind::Crc16) => 1,
            Some(FcsKind::Crc32) => 2,
        };
        tlv(TLV_FCS_TYPE, &[fcs_type]);
        if let Some(rss) = self.rss_dbm {
            tlv(TLV_RSS, &rss.to_le_bytes());
        }
        if let Some((number, page)) = self.channel {
            let n = number.to_le_bytes();
            tlv(TLV_CHANNEL, &[n[0], n[1], page]);
        }
        if let Some(khz) = self.centre_khz {
            tlv(TLV_FREQUENCY, &khz.to_le_bytes());
        }
        let mut out = Vec::with_capacity(4 + tlvs.len() + psdu.len());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&((4 + tlvs.len()) as u16).to_le_bytes());
        out.extend_from_slice(&tlvs);
        out.extend_from_slice(psdu);
        out
    }

    /// Split a link type 283 record into its metadata and PSDU. Unknown TLVs are
    /// skipped.
    ///
    /// # Errors
    /// [`TapError`] with the offset.
    pub fn unwrap(record: &[u8]) -> Result<(Self, &[u8]), TapError> {
        let (Some(&0), Some(len)) = (record.first(), record.get(2..4)) else {
            return Err(TapError { offset: 0 });
        };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let tlvs = record.get(4..len).ok_or(TapError { offset: 2 })?;
        let mut h = Self {
            fcs: None,
            rss_dbm: None,
            channel: None,
            centre_khz: None,
        };
        let mut at = 0;
        while at < tlvs.len() {
            let err = TapError { offset: 4 + at };
            let head = tlvs.get(at..at + 4).ok_or(err)?;
            let t = u16::from_le_bytes([head[0], head[1]]);
            let l = usize::from(u16::from_le_bytes([head[2], head[3]]));
            let v = tlvs.get(at + 4..at + 4 + l).ok_or(err)?;
            let f32_of = |v: &[u8]| v.try_into().map(f32::from_le_bytes).map_err(|_| err);
            match (t, v) {
                (TLV_FCS_TYPE, [0]) => h.fcs = None,
                (TLV_FCS_TYPE, [1]) => h.fcs = Some(FcsKind::Crc16),
                (TLV_FCS_TYPE, [2]) => h.fcs = Some(FcsKind::Crc32),
                (TLV_FCS_TYPE, _) => return Err(err),
                (TLV_RSS, v) => h.rss_dbm = Some(f32_of(v)?),
                (TLV_CHANNEL, [a, b, page]) => {
                    h.channel = Some((u16::from_le_bytes([*a, *b]), *page))
                }
                (TLV_CHANNEL, _) => return Err(err),
                (TLV_FREQUENCY, v) => h.centre_khz = Some(f32_of(v)?),
                _ => {}
            }
            at += 4 + l + (4 - l % 4) % 4;
        }
        Ok((h, record.get(len..).unwrap_or_default()))
    }
}

/// A malformed TAP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: malformed IEEE 802.15.4 TAP header")]
pub struct TapError {
    /// Where.
    pub offset: usize,
}
