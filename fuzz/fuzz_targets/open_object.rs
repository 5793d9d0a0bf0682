//! Opening an object from bytes (`lifeboat_crypto::open_bytes`, what reads every manifest)
//! with a fixed keyring must never panic, and must open exactly the objects a correct reader
//! opens. The first input byte picks a mode:
//!
//! - even: the rest is an object as stored (mutations of real objects, hostile headers);
//! - odd: the rest is a *spec* that `lifeboat_fuzz::forge` seals with the keyring's keys,
//!   so the fuzzer gets past authentication and exercises the segment stream: counters,
//!   the final flag, sizes, zstd frames (see `forge` for the layout).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lifeboat_crypto::{Keyring, open_bytes};
use lifeboat_fuzz::{MAX_PLAIN, forge, keyring};

fn ring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(keyring)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        if let Ok((_, plain)) = open_bytes(rest, ring(), MAX_PLAIN) {
            assert!(plain.len() <= MAX_PLAIN);
        }
        return;
    }
    let forged = forge(rest);
    match open_bytes(&forged.object, ring(), MAX_PLAIN) {
        Ok((header, plain)) => {
            assert!(!forged.must_fail, "a malformed segment stream was accepted");
            assert_eq!(header, forged.header);
            assert!(plain.len() <= MAX_PLAIN);
            if let Some(expected) = &forged.expected {
                assert_eq!(&plain[..], &expected[..], "opened to other plaintext");
            }
        }
        Err(e) => {
            assert!(forged.expected.is_none(), "a well-formed object was rejected: {e}");
            // Errors are one line naming the problem; they never carry key bytes.
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains('\n'));
        }
    }
});
