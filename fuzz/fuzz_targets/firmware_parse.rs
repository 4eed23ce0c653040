//! A firmware image's body after its signature verified (SEC-10): the manifest and the
//! packed program, read as the terminal reads them from its image store. Whatever the
//! bytes, `parse` never panics and never unpacks beyond the manifest's size; what it
//! accepts unpacks to exactly that size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodes::terminal::firmware::{parse, unpack};

fuzz_target!(|data: &[u8]| {
    if let Ok((manifest, at)) = parse(&mut &data[..]) {
        let mut payload = usize::try_from(at)
            .ok()
            .and_then(|at| data.get(at..))
            .expect("the payload starts within the firmware");
        let mut size = 0u64;
        unpack(&manifest, &mut payload, &mut |chunk| {
            size += chunk.len() as u64;
            assert!(size <= manifest.size);
            Ok(())
        })
        .expect("what parse accepted unpacks");
        assert_eq!(size, manifest.size);
    }
});
