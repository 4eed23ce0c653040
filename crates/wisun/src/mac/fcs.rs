//! The Frame Check Sequence: ITU-T CRC-16 (init 0, reflected, no final XOR: the
//! CRC-16/KERMIT catalogue entry) or, on SUN PHYs, ITU-T CRC-32 (the zlib CRC), both
//! sent least significant byte first. Which one JJ-300.10 mandates is not public, so the
//! kind is a parameter (docs/iot-route-link.md).

use alloc::vec::Vec;

use super::frame::MAX_PSDU_LEN;

/// FCS kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FcsKind {
    /// 2-byte ITU-T CRC-16.
    Crc16,
    /// 4-byte ITU-T CRC-32 (SUN PHY default).
    Crc32,
}

impl FcsKind {
    /// FCS length in bytes.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Self::Crc16 => 2,
            Self::Crc32 => 4,
        }
    }
}

/// Why a PSDU was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FcsError {
    /// Shorter than the FCS.
    #[error("frame of {len} bytes shorter than its FCS")]
    Short {
        /// PSDU length.
        len: usize,
    },
    /// The FCS does not match (offset = where the FCS starts).
    #[error("byte {offset}: FCS mismatch")]
    Mismatch {
        /// Offset of the FCS.
        offset: usize,
    },
    /// More than 2047 bytes with the FCS.
    #[error("PSDU of {len} bytes exceeds 2047")]
    TooLong {
        /// PSDU length.
        len: usize,
    },
}

/// Lookup tables for a reflected CRC of at most 32 bits with polynomial `poly` (reflected
/// form): `t[0][b]` is the CRC register after byte `b`, `t[k][b]` the same byte followed
/// by `k` zero bytes, so that sixteen bytes fold into the register with sixteen independent
/// lookups ("slicing-by-16", 16 KiB per CRC). Built at compile time.
const fn slice16_tables(poly: u32) -> [[u32; 256]; 16] {
    let mut t = [[0u32; 256]; 16];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ poly } else { c >> 1 };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static CRC16_TABLES: [[u32; 256]; 16] = slice16_tables(0x8408);
static CRC32_TABLES: [[u32; 256]; 16] = slice16_tables(0xEDB8_8320);

/// Run a reflected CRC register over `data` (no initial or final XOR here). The register
/// of a 16-bit CRC stays below 2^16: every table entry does.
fn reflected(t: &[[u32; 256]; 16], mut crc: u32, data: &[u8]) -> u32 {
    let lookup = |k: usize, x: u32| t[k][(x & 0xff) as usize];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        // Two 8-byte loads, the bytes taken out with shifts: the loop is bound by loads,
        // sixteen of them table lookups.
        let (lo, hi) = c.split_at(8);
        let lo = u64::from_le_bytes(lo.try_into().unwrap_or_default()) ^ u64::from(crc);
        let hi = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        let byte = |x: u64, i: u32| (x >> (8 * i)) as u32;
        // Twelve of the sixteen lookups do not depend on the register: combined first,
        // they overlap the previous chunk, and only the last four wait for it.
        let data_only = lookup(11, byte(lo, 4))
            ^ lookup(10, byte(lo, 5))
            ^ lookup(9, byte(lo, 6))
            ^ lookup(8, byte(lo, 7))
            ^ lookup(7, byte(hi, 0))
            ^ lookup(6, byte(hi, 1))
            ^ lookup(5, byte(hi, 2))
            ^ lookup(4, byte(hi, 3))
            ^ lookup(3, byte(hi, 4))
            ^ lookup(2, byte(hi, 5))
            ^ lookup(1, byte(hi, 6))
            ^ lookup(0, byte(hi, 7));
        crc = data_only
            ^ lookup(15, byte(lo, 0))
            ^ lookup(14, byte(lo, 1))
            ^ lookup(13, byte(lo, 2))
            ^ lookup(12, byte(lo, 3));
    }
    // The last 0-15 bytes in one step too: byte `j` of `r` goes through table `r - 1 - j`
    // (the register's bytes folded into the first four), and what of the register is not
    // consumed (fewer than four bytes) shifts down. Byte by byte, each byte would wait
    // for the previous one.
    let rest = chunks.remainder();
    let r = rest.len();
    if r > 0 {
        let mut next = if r < 4 { crc >> (8 * r) } else { 0 };
        for (j, &b) in rest.iter().enumerate() {
            let register = if j < 4 { crc >> (8 * j) } else { 0 };
            next ^= lookup(r - 1 - j, register ^ u32::from(b));
        }
        crc = next;
    }
    crc
}

/// CRC-16/KERMIT (802.15.4's 16-bit FCS).
#[must_use]
pub fn crc16(data: &[u8]) -> u16 {
    // The register never exceeds 16 bits (see `reflected`): the cast keeps all of it.
    reflected(&CRC16_TABLES, 0, data) as u16
}

/// ITU-T CRC-32 (reflected 0xEDB88320, init and final XOR all ones).
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    !reflected(&CRC32_TABLES, !0, data)
}

fn fcs_bytes(kind: FcsKind, mpdu: &[u8]) -> ([u8; 4], usize) {
    match kind {
        FcsKind::Crc16 => {
            let b = crc16(mpdu).to_le_bytes();
            ([b[0], b[1], 0, 0], 2)
        }
        FcsKind::Crc32 => (crc32(mpdu).to_le_bytes(), 4),
    }
}

/// The PSDU: `mpdu` followed by its FCS.
///
/// # Errors
/// [`FcsError::TooLong`] past 2047 bytes.
pub fn append(mpdu: &[u8], kind: FcsKind) -> Result<Vec<u8>, FcsError> {
    let len = mpdu.len() + kind.size();
    if len > MAX_PSDU_LEN {
        return Err(FcsError::TooLong { len });
    }
    let (fcs, n) = fcs_bytes(kind, mpdu);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(mpdu);
    out.extend_from_slice(fcs.get(..n).unwrap_or_default());
    Ok(out)
}

/// As [`append`] on an MPDU the caller owns: the FCS goes at its end, without copying
/// the frame (`ccm_star::secure` leaves room for it).
///
/// # Errors
/// [`FcsError::TooLong`] past 2047 bytes, `mpdu` left as it was.
pub fn append_in_place(mpdu: &mut Vec<u8>, kind: FcsKind) -> Result<(), FcsError> {
    let len = mpdu.len() + kind.size();
    if len > MAX_PSDU_LEN {
        return Err(FcsError::TooLong { len });
    }
    let (fcs, n) = fcs_bytes(kind, mpdu);
    mpdu.extend_from_slice(fcs.get(..n).unwrap_or_default());
    Ok(())
}

/// The MPDU of a PSDU whose FCS is correct.
///
/// # Errors
/// A PSDU too short, too long, or with a wrong FCS.
pub fn strip(psdu: &[u8], kind: FcsKind) -> Result<&[u8], FcsError> {
    if psdu.len() > MAX_PSDU_LEN {
        return Err(FcsError::TooLong { len: psdu.len() });
    }
    let offset = psdu
        .len()
        .checked_sub(kind.size())
        .ok_or(FcsError::Short { len: psdu.len() })?;
    let (mpdu, fcs) = psdu.split_at(offset);
    let (want, n) = fcs_bytes(kind, mpdu);
    // Byte by byte: a slice comparison of two or four bytes is a call to memcmp.
    if fcs.len() == n && fcs.iter().zip(want).all(|(got, want)| *got == want) {
        Ok(mpdu)
    } else {
        Err(FcsError::Mismatch { offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_crc_check_values() {
        // Catalogue check values for "123456789".
        assert_eq!(crc16(b"123456789"), 0x2189);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// The bit-at-a-time definitions the tables are built from.
    fn crc16_bitwise(data: &[u8]) -> u16 {
        data.iter().fold(0u16, |crc, &b| {
            (0..8).fold(crc ^ u16::from(b), |c, _| {
                if c & 1 == 1 {
                    (c >> 1) ^ 0x8408
                } else {
                    c >> 1
                }
            })
        })
    }

    fn crc32_bitwise(data: &[u8]) -> u32 {
        !data.iter().fold(!0u32, |crc, &b| {
            (0..8).fold(crc ^ u32::from(b), |c, _| {
                if c & 1 == 1 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                }
            })
        })
    }

    #[test]
    fn rad01_sliced_crcs_equal_the_bitwise_definitions() {
        // Every length from 0 to 40 (all remainders, several 16-byte blocks) over bytes
        // that hit every table index, and a full-size PSDU.
        let data: Vec<u8> = (0..2047u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..8 {
            for len in 0..=40 {
                let d = &data[start..start + len];
                assert_eq!(crc16(d), crc16_bitwise(d), "crc16 {start} {len}");
                assert_eq!(crc32(d), crc32_bitwise(d), "crc32 {start} {len}");
            }
        }
        assert_eq!(crc16(&data), crc16_bitwise(&data));
        assert_eq!(crc32(&data), crc32_bitwise(&data));
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(crc16(&all), crc16_bitwise(&all));
        assert_eq!(crc32(&all), crc32_bitwise(&all));
    }

    #[test]
    fn rad01_fcs_round_trip_and_mismatch() {
        let psdu = append(b"\x02\x00\x07", FcsKind::Crc32).unwrap();
        assert_eq!(strip(&psdu, FcsKind::Crc32), Ok(&b"\x02\x00\x07"[..]));
        let mut bad = psdu.clone();
        bad[0] ^= 1;
        assert_eq!(
            strip(&bad, FcsKind::Crc32),
            Err(FcsError::Mismatch { offset: 3 })
        );
        assert_eq!(
            strip(b"\x01", FcsKind::Crc16),
            Err(FcsError::Short { len: 1 })
        );
        assert!(append(&[0; 2046], FcsKind::Crc16).is_err());
        for kind in [FcsKind::Crc16, FcsKind::Crc32] {
            let mut v = b"\x02\x00\x07".to_vec();
            append_in_place(&mut v, kind).unwrap();
            assert_eq!(v, append(b"\x02\x00\x07", kind).unwrap());
            let mut long = vec![0; 2047 - kind.size()];
            append_in_place(&mut long, kind).unwrap();
            let mut too_long = vec![0; 2048 - kind.size()];
            assert_eq!(
                append_in_place(&mut too_long, kind),
                Err(FcsError::TooLong { len: 2048 })
            );
            assert_eq!(too_long.len(), 2048 - kind.size());
        }
    }
}
