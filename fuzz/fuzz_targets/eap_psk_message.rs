//! Any EAP-Payload AVP value (SEC-02): EAP and EAP-PSK parsing must never panic, an EAP
//! packet must re-emit to exactly its bytes, an EAP-PSK message must re-emit to bytes that
//! parse to the same message, and opening a protected channel must fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pana::eap::Packet;
use pana::psk::PskMessage;
use pana::secret::Tek;

fuzz_target!(|data: &[u8]| {
    match Packet::parse(data) {
        Ok(p) => assert_eq!(
            p.emit().expect("re-emit"),
            data,
            "EAP packet re-emits differently"
        ),
        Err(e) => assert!(
            e.offset() <= data.len(),
            "offset {} past the packet",
            e.offset()
        ),
    }
    match PskMessage::parse_eap(data) {
        Ok((id, m)) => {
            let again = PskMessage::parse_eap(&m.emit_eap(id).expect("re-emit")).expect("re-parse");
            assert_eq!(
                again,
                (id, m),
                "re-emitted EAP-PSK message parses differently"
            );
        }
        Err(e) => assert!(
            e.offset() <= data.len(),
            "offset {} past the packet",
            e.offset()
        ),
    }
    let _ = PskMessage::open_pchannel(data, &Tek::new([3; 16]));
});
