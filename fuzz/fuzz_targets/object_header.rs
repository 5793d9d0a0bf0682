//! The object header parser must never panic, and whatever it accepts must re-encode to
//! exactly the bytes it consumed (the header is the AEAD associated data, so a parser that
//! accepted two spellings of one header would be a bug).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_crypto::{FIXED_LEN, FixedHeader, ObjectHeader, parse_complete_header};

fuzz_target!(|data: &[u8]| {
    if let Ok(fixed) = FixedHeader::parse(data) {
        assert_eq!(&fixed.encode()[..], &data[..FIXED_LEN], "fixed header does not re-encode to its bytes");
    }
    let incremental = ObjectHeader::parse(data);
    let complete = parse_complete_header(data);
    match (&incremental, &complete) {
        (Ok(Some((header, used))), Ok((again, used_again))) => {
            assert_eq!(header, again);
            assert_eq!(used, used_again);
            assert!(*used <= data.len());
            assert_eq!(header.encode(), &data[..*used], "header does not re-encode to its bytes");
            // A prefix of a complete header asks for more bytes (or fails), never succeeds.
            if *used > 0 {
                assert!(!matches!(ObjectHeader::parse(&data[..used - 1]), Ok(Some(_))));
            }
        }
        (Ok(None), Err(_)) | (Err(_), Err(_)) => {}
        other => panic!("incremental and complete parsers disagree: {other:?}"),
    }
});
