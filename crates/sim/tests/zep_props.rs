//! ZEP v2 over arbitrary input (RAD-01, the inter-process radio): every data packet we
//! write parses back to itself, and no sequence of bytes makes the parser panic or accept
//! a PSDU over 127 bytes.

use core::time::Duration;

use proptest::prelude::*;
use sim::zep::{DataRepr, LqiMode, NtpTimestamp, ZepError, ZepPacket, ZepRepr, MAX_PSDU};

fn data() -> impl Strategy<Value = (u8, u16, bool, u8, Option<i8>, u32, u32, u32, Vec<u8>)> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<bool>(),
        any::<u8>(),
        any::<Option<i8>>().prop_map(|r| r.filter(|&v| v != 0)),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..=MAX_PSDU),
    )
}

proptest! {
    #[test]
    fn rad01_zep_data_round_trips(
        (channel, device_id, crc, lqi, rssi_dbm, seconds, fraction, sequence, psdu) in data()
    ) {
        let repr = DataRepr {
            channel,
            device_id,
            mode: if crc { LqiMode::Crc } else { LqiMode::Lqi },
            lqi,
            rssi_dbm,
            timestamp: NtpTimestamp { seconds, fraction },
            sequence,
            psdu: &psdu,
        };
        let bytes = repr.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), 32 + psdu.len());
        prop_assert_eq!(ZepRepr::parse(&bytes), Ok(ZepRepr::Data(repr)));
        let view = ZepPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(view.psdu(), &psdu[..]);
        prop_assert_eq!(view.device_id(), device_id);
    }

    #[test]
    fn rad01_zep_longer_psdus_are_refused(extra in 1usize..2000) {
        let psdu = vec![0xA5; MAX_PSDU + extra];
        let repr = DataRepr {
            channel: 33,
            device_id: 1,
            mode: LqiMode::Crc,
            lqi: 0,
            rssi_dbm: None,
            timestamp: NtpTimestamp::default(),
            sequence: 0,
            psdu: &psdu,
        };
        prop_assert_eq!(repr.to_vec(), Err(ZepError::TooLong { len: psdu.len() }));
    }

    #[test]
    fn rad01_zep_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(ZepRepr::Data(d)) = ZepRepr::parse(&bytes) {
            prop_assert!(d.psdu.len() <= MAX_PSDU);
            // Reserved bytes are not kept; everything else is.
            let again = d.to_vec().unwrap();
            prop_assert_eq!(ZepRepr::parse(&again), Ok(ZepRepr::Data(d)));
        }
    }

    #[test]
    fn rad01_zep_headers_with_arbitrary_fields_never_panic(
        head in prop::collection::vec(any::<u8>(), 28..=28),
        len in any::<u8>(),
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        // Past the preamble and version, so the deeper checks run.
        let mut bytes = vec![b'E', b'X', 2, 1];
        bytes.extend_from_slice(&head[..27]);
        bytes.push(len);
        bytes.extend_from_slice(&tail);
        match ZepRepr::parse(&bytes) {
            Ok(ZepRepr::Data(d)) => prop_assert_eq!(usize::from(len), d.psdu.len()),
            Ok(ZepRepr::Ack { .. }) => prop_assert!(false, "type 1 read as an ack"),
            Err(e) => prop_assert!(e.offset() <= bytes.len()),
        }
    }

    #[test]
    fn rad01_ntp_timestamps_round_trip_to_the_nanosecond(secs in 0u64..4_000_000_000, nanos in 0u32..1_000_000_000) {
        let t = Duration::new(secs, nanos);
        let back = NtpTimestamp::from_unix(t).to_unix();
        // 2^-32 s resolution: at most one nanosecond lost to rounding down.
        prop_assert!(t - back <= Duration::from_nanos(1), "{:?} -> {:?}", t, back);
    }
}
