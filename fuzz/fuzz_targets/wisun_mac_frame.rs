//! Any bytes as an IEEE 802.15.4 MPDU (RAD-01): parsing (header, aux security header,
//! Header and Payload IEs) must never panic, and an accepted MPDU must re-emit to
//! exactly its bytes and parse again to the same frame. The Pairing ID lookup and FCS
//! checks run over the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisun::mac::{fcs, Mpdu};
use wisun::pairing_id::PairingIeFormat;

fuzz_target!(|data: &[u8]| {
    let _ = fcs::strip(data, fcs::FcsKind::Crc16);
    let _ = fcs::strip(data, fcs::FcsKind::Crc32);
    let Ok(mpdu) = Mpdu::parse(data) else {
        return;
    };
    let _ = PairingIeFormat::default().find(&mpdu.header().header_ies);
    let bytes = mpdu.emit().expect("an accepted MPDU re-emits");
    assert_eq!(bytes, data, "re-emitted MPDU differs");
    assert_eq!(
        Mpdu::parse(&bytes).expect("reparse"),
        mpdu,
        "reparsed frame differs"
    );
});
