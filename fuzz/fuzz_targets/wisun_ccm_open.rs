//! Secured MPDUs with a fixed key (SEC-03): the auxiliary security header and CCM* open
//! must never panic on any bytes (only a typed error), a frame we secure must open to
//! itself, and one flipped bit anywhere in it must not open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisun::ccm_star::{self, Key};
use wisun::mac::{
    Address, AuxSecurityHeader, Eui64, Frame, FrameType, Header, KeyIdentifier, SecurityLevel,
};

const KEY: Key = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

fn keys(id: &KeyIdentifier, _: Eui64) -> Option<Key> {
    (id.index() == Some(1)).then_some(KEY)
}

fuzz_target!(|data: &[u8]| {
    let _ = ccm_star::open(data, &keys);
    let _ = ccm_star::open_with_source(data, Eui64([2, 0, 0, 0, 0, 0, 0, 1]), &keys);

    // Round trip: the first byte picks the level, the rest is the payload.
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let level = SecurityLevel::from_bits([1, 2, 3, 5, 6, 7][usize::from(sel % 6)]);
    let Some(mut header) = Header::new_2015(
        FrameType::Data,
        Some(sel),
        (
            None,
            Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 1]))),
        ),
        (
            None,
            Some(Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 2]))),
        ),
    ) else {
        return;
    };
    header.security = Some(AuxSecurityHeader::new(level, u32::from(sel), 1));
    let frame = Frame {
        header,
        payload_ies: vec![],
        payload: payload.to_vec(),
    };
    let Ok(sealed) = ccm_star::secure(&frame, &KEY) else {
        return; // too long for a SUN frame
    };
    let opened = ccm_star::open(&sealed, &keys).expect("open our own frame");
    assert_eq!(opened.frame, frame);
    let bit = usize::from(sel) * 7 % (sealed.len() * 8);
    let mut flipped = sealed.clone();
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert!(
        ccm_star::open(&flipped, &keys).map(|o| o.frame) != Ok(frame),
        "a flipped bit opened to the original frame"
    );
});
