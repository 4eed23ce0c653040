//! What the integration tests share: the reference frames of the spec notes
//! (`wisun-han.md` Appendix B and §3) and their key and addresses.
#![allow(dead_code)] // each test binary uses its own part

#[path = "../../../../test-support/skips.rs"]
pub mod skips;

use wisun::mac::{Eui64, KeyIdentifier};

/// Link key of the reference DATA frame (Wireshark key table index 1).
pub const KEY: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];
/// The smart meter (coordinator).
pub const METER: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x01]);
/// The terminal.
pub const TERMINAL: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x02]);

/// Appendix B, with CRC-16 FCS.
pub const EBR: &str =
    "43ea01ffffffff02005544332211020b00563412494f543030393031003f0388011e0100f807c2a9";
pub const EB: &str = "00e25a341201005544332211020b00563412494f5430303930310e4e";
pub const DATA: &str = "69ec02010055443322110202005544332211020d0100000001a53c9a82ece09a5720ef19ce1f4c4c27811ab431e974a2413342efc69285900d8c93dd86ece3aba5e4ec2a6fc9ba95f423ed83a75b99";
/// §3: the DATA frame's plaintext `m` (IPHC, UDP NHC, DLMS wrapper, AARQ).
pub const DATA_PLAINTEXT: &str = "7f33f00fdb0fdbefb0000100100001001f601da109060760857405080101be10040e01000000065f1f0400621e5dffff";

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A key table holding [`KEY`] at index 1 only.
pub fn keys(id: &KeyIdentifier, _source: Eui64) -> Option<[u8; 16]> {
    (id.index() == Some(1)).then_some(KEY)
}
