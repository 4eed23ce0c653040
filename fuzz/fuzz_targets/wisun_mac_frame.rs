//! Any bytes as an IEEE 802.15.4 MPDU (RAD-01): parsing (header, aux security header,
//! Header and Payload IEs) must never panic, and an accepted MPDU must re-emit to
//! exactly its bytes and parse again to the same frame. The Pairing ID lookup and FCS
//! checks run over the same bytes. A receiver's check of a frame for another node
//! (header, then the body checked, not made) refuses exactly what parsing refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisun::mac::{fcs, Mpdu};
use wisun::pairing_id::PairingIeFormat;

fuzz_target!(|data: &[u8]| {
    let _ = fcs::strip(data, fcs::FcsKind::Crc16);
    let _ = fcs::strip(data, fcs::FcsKind::Crc32);
    let checked = Mpdu::parse_header(data)
        .and_then(|(header, end)| Mpdu::check_body(&header, data, end).map(|()| header));
    let parsed = Mpdu::parse(data);
    assert_eq!(
        checked,
        parsed.as_ref().map(|m| m.header().clone()).map_err(Clone::clone),
        "a check refuses otherwise than parsing"
    );
    let Ok(mpdu) = parsed else {
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
