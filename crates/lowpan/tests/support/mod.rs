//! What the integration tests share: the addresses and frames of the spec notes
//! (`wisun-han.md` §3 and Appendix B, `wisun-han-vectors/mkframes.py`) and a minimal
//! unsecured IEEE 802.15.4-2015 data frame builder.
//!
//! The frame builder is written here rather than taken from `crates/wisun`: it is a
//! dozen lines (FCF, sequence number, destination PAN, addresses, FCS), it keeps these
//! tests independent of a crate under development beside us, and it is an independent
//! second implementation that the known-answer test checks byte for byte against the
//! reference ECHONET frame.
#![allow(dead_code)] // each test binary uses its own part

#[path = "../../../../test-support/skips.rs"]
pub mod skips;

use lowpan::LinkAddress;

/// The smart meter (coordinator), EUI-64 as printed.
pub const METER: LinkAddress =
    LinkAddress::Extended([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01]);
/// The terminal.
pub const TERMINAL: LinkAddress =
    LinkAddress::Extended([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x02]);
/// PAN ID of the reference frames.
pub const PAN: u16 = 0x1234;

/// Appendix B: the plain ECHONET Lite frame, meter → terminal, UDP 3610 → 3610, CRC-16.
pub const ECHONET_FRAME: &str =
    "61ec04020055443322110201005544332211027f33f00e1a0e1a37d01081000105ff010288016201e00069b7";
/// Its ECHONET Lite payload (a Get of 0x028801 EPC 0xE0).
pub const ECHONET_PAYLOAD: &str = "1081000105ff010288016201e000";
/// §3: the plaintext of the secured DATA frame (terminal → meter, UDP 4059 → 4059): IPHC,
/// UDP NHC, DLMS wrapper, AARQ.
pub const DATA_PLAINTEXT: &str = "7f33f00fdb0fdbefb0000100100001001f601da109060760857405080101be10040e01000000065f1f0400621e5dffff";
/// The UDP payload of [`DATA_PLAINTEXT`]: the DLMS wrapper and the AARQ.
pub const DATA_UDP_PAYLOAD: &str =
    "000100100001001f601da109060760857405080101be10040e01000000065f1f0400621e5dffff";

/// MAC header of an unsecured 2015 data frame with extended source and destination
/// with the destination PAN (2 + 1 + 2 + 8 + 8 bytes).
pub const MHR_EXT_EXT: usize = 21;
/// The 6LoWPAN budget in a 127-byte frame with that header and a CRC-16 FCS.
pub const BUDGET_127: usize = 127 - MHR_EXT_EXT - 2;

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// CRC-16/KERMIT, the 802.15.4 FCS (ITU-T polynomial, reflected, init 0).
pub fn crc16_kermit(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn mode(a: LinkAddress) -> u16 {
    match a {
        LinkAddress::Short(_) => 2,
        LinkAddress::Extended(_) => 3,
    }
}

fn push_address(out: &mut Vec<u8>, a: LinkAddress) {
    match a {
        LinkAddress::Short(s) => out.extend_from_slice(&s.to_le_bytes()),
        LinkAddress::Extended(e) => out.extend(e.iter().rev()),
    }
}

/// An unsecured IEEE 802.15.4-2015 data frame (frame version 2) with its CRC-16 FCS.
/// `pan`: `Some` puts the destination PAN ID in (PAN ID Compression 0 for extended/
/// extended, 1 otherwise: 802.15.4-2015 Table 7-2 rows with the destination PAN only),
/// `None` leaves both out (extended/extended with PAN ID Compression 1, as the
/// reference ECHONET frame). Acknowledgment requested unless broadcast.
pub fn data_frame(
    seq: u8,
    dst: LinkAddress,
    src: LinkAddress,
    pan: Option<u16>,
    payload: &[u8],
) -> Vec<u8> {
    let ext_ext = mode(dst) == 3 && mode(src) == 3;
    let pan_compression = u16::from(pan.is_none() == ext_ext);
    let ack_request = u16::from(dst != LinkAddress::BROADCAST);
    let fcf: u16 = 1 // data
        | ack_request << 5
        | pan_compression << 6
        | mode(dst) << 10
        | 2 << 12 // frame version 2 (802.15.4-2015)
        | mode(src) << 14;
    let mut out = fcf.to_le_bytes().to_vec();
    out.push(seq);
    if let Some(pan) = pan {
        out.extend_from_slice(&pan.to_le_bytes());
    }
    push_address(&mut out, dst);
    push_address(&mut out, src);
    out.extend_from_slice(payload);
    let fcs = crc16_kermit(&out);
    out.extend_from_slice(&fcs.to_le_bytes());
    out
}

/// A pcap file (microsecond timestamps) of `frames` with link type `linktype`.
pub fn pcap(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).expect("frame length");
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}
