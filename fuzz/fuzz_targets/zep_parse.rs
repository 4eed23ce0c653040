//! One UDP payload to the `iotroute air` hub (RAD-01, the inter-process radio): the ZEP
//! v2 parser must never panic, never accept a PSDU over 127 bytes, and a data packet it
//! accepts must write back to bytes that parse to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim::zep::{ZepPacket, ZepRepr, MAX_PSDU};

fuzz_target!(|data: &[u8]| {
    let parsed = ZepRepr::parse(data);
    assert_eq!(parsed.is_ok(), ZepPacket::new_checked(data).is_ok());
    match parsed {
        Ok(ZepRepr::Data(d)) => {
            assert!(d.psdu.len() <= MAX_PSDU);
            let again = d.to_vec().expect("an accepted PSDU is writable");
            assert_eq!(again.len(), data.len());
            assert_eq!(ZepRepr::parse(&again), Ok(ZepRepr::Data(d)));
        }
        Ok(ZepRepr::Ack { sequence }) => {
            assert_eq!(&sim::zep::ack(sequence)[..], data);
        }
        Err(e) => assert!(e.offset() <= data.len()),
    }
});
