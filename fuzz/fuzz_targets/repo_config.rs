//! The repository `config` parser (`lifeboat_repo::ConfigFile::parse`) must never panic on
//! any bytes, and a config it accepts must serialise and parse again to the same document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_repo::ConfigFile;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = ConfigFile::parse(data) else { return };
    config.repo_id().expect("parse checked the repository id");
    let text = serde_json::to_vec_pretty(&config).expect("an accepted config serialises");
    let again = ConfigFile::parse(&text).expect("a re-serialised config parses");
    assert_eq!(
        serde_json::to_value(&config).expect("value"),
        serde_json::to_value(&again).expect("value"),
        "config changed through a write/read cycle"
    );
});
