//! The repository `config` parser (`lifeboat_repo::ConfigFile::parse`) must never panic on
//! any bytes, and a config it accepts must serialise and parse again to the same document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_repo::ConfigFile;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = ConfigFile::parse(data) else { return };
    config.repo_id().expect("parse checked the repository id");
    // Version 2 members: parse checked every key and id, so these must not fail.
    assert!(config.generation >= 1, "parse accepted generation 0");
    config.writer_keys().expect("parse checked the writers");
    config.trusted_signers().expect("parse checked the signing key");
    assert!(config.slots.len() <= lifeboat_repo::MAX_KEY_SLOTS, "parse accepted too many slots");
    let text = serde_json::to_vec_pretty(&config).expect("an accepted config serialises");
    let again = ConfigFile::parse(&text).expect("a re-serialised config parses");
    assert_eq!(
        serde_json::to_value(&config).expect("value"),
        serde_json::to_value(&again).expect("value"),
        "config changed through a write/read cycle"
    );
});
