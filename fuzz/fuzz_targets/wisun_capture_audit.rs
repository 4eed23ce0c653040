//! The capture audit over any frames (RAD-01, SEC-06): the input is cut into MPDUs (a
//! length byte each); the audit never panics and never reports a nonce reused by
//! identical frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisun::mac::audit::CaptureAudit;

fuzz_target!(|data: &[u8]| {
    let mut audit = CaptureAudit::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (mpdu, next) = tail.split_at(n);
        audit.add(mpdu);
        audit.add(mpdu); // a retransmission is never a reuse
        rest = next;
    }
    let reused = audit.reused().len();
    assert!(u64::try_from(reused).unwrap() <= audit.secured);
});
