//! Which PAN ID fields a frame carries. For frame version 2 this is 802.15.4-2015
//! Table 7-2, row for row as Wireshark 4.0 implements it (without its
//! `802154e_compatibility` preference); for 2003/2006 frames the older rule: the
//! destination PAN goes with a destination address, the source PAN with a source
//! address unless PAN ID Compression elides it.

use super::{address::AddressingMode, FrameError, FrameVersion};
use AddressingMode::{Extended, None as Absent, Short};

/// Presence of the (destination, source) PAN ID fields.
pub(crate) fn presence(
    version: FrameVersion,
    dst: AddressingMode,
    src: AddressingMode,
    compression: bool,
) -> Result<(bool, bool), FrameError> {
    if version < FrameVersion::V2015 {
        let both = dst != Absent && src != Absent;
        if compression && !both {
            return Err(FrameError::PanIdCompression);
        }
        return Ok((dst != Absent, src != Absent && !compression));
    }
    Ok(match (dst, src, compression) {
        (Absent, Absent, false) => (false, false),
        (Absent, Absent, true) => (true, false),
        (_, Absent, false) => (true, false),
        (_, Absent, true) => (false, false),
        (Absent, _, false) => (false, true),
        (Absent, _, true) => (false, false),
        (Extended, Extended, false) => (true, false),
        (Extended, Extended, true) => (false, false),
        (Short, _, false) | (Extended, Short, false) => (true, true),
        (Short, _, true) | (Extended, Short, true) => (true, false),
    })
}

/// The PAN ID Compression bit that yields the given PAN ID presence, if any does (for
/// building frames from addresses and PAN IDs alone).
pub(crate) fn compression_for(
    version: FrameVersion,
    dst: AddressingMode,
    src: AddressingMode,
    present: (bool, bool),
) -> Option<bool> {
    [false, true]
        .into_iter()
        .find(|&c| presence(version, dst, src, c).ok() == Some(present))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fourteen rows of 802.15.4-2015 Table 7-2 (as in the spec notes §2.2).
    #[test]
    fn rad01_pan_id_compression_table_matches_wireshark_rows() {
        let v = FrameVersion::V2015;
        let rows = [
            (Absent, Absent, false, (false, false)),
            (Absent, Absent, true, (true, false)),
            (Short, Absent, false, (true, false)),
            (Extended, Absent, true, (false, false)),
            (Absent, Short, false, (false, true)),
            (Absent, Extended, true, (false, false)),
            (Extended, Extended, false, (true, false)),
            (Extended, Extended, true, (false, false)),
            (Short, Short, false, (true, true)),
            (Short, Extended, false, (true, true)),
            (Extended, Short, false, (true, true)),
            (Short, Extended, true, (true, false)),
            (Extended, Short, true, (true, false)),
            (Short, Short, true, (true, false)),
        ];
        for (d, s, c, want) in rows {
            assert_eq!(presence(v, d, s, c), Ok(want), "{d:?} {s:?} {c}");
        }
    }

    #[test]
    fn rad01_legacy_frames_elide_only_the_source_pan() {
        let v = FrameVersion::V2006;
        assert_eq!(presence(v, Short, Extended, true), Ok((true, false)));
        assert_eq!(presence(v, Short, Extended, false), Ok((true, true)));
        assert_eq!(presence(v, Absent, Short, false), Ok((false, true)));
        assert_eq!(
            presence(v, Absent, Short, true),
            Err(FrameError::PanIdCompression)
        );
    }
}
