//! File names and ZIPs as a retailer receives them: the first 28 bytes as a file name
//! (one that parses prints back as given), the rest as the ZIP of that name (or of a
//! fixed one). Nothing panics; a ZIP taken holds a message its name says.
#![no_main]

use edi::{archive, FileName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, zip) = data.split_at(data.len().min(edi::name::LEN));
    let parsed = std::str::from_utf8(head)
        .ok()
        .and_then(|s| s.parse::<FileName>().ok().map(|n| (s, n)));
    if let Some((s, n)) = parsed {
        assert_eq!(n.to_string(), s);
    }
    let name = parsed.map_or_else(
        || "W41130202604011330000000.zip".parse::<FileName>().unwrap(),
        |(_, n)| n,
    );
    if let Ok(m) = archive::open(&name, zip) {
        assert_eq!((m.info, m.file_time()), (name.info(), name.at()));
    }
});
