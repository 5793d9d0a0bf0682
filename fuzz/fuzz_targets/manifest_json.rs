//! Manifest JSON (`serde_json::from_slice::<lifeboat_repo::Manifest>`, what every list,
//! show and restore decodes after decryption) must never panic, neither in parsing nor in
//! the accessors the CLI calls on a decoded manifest; an accepted manifest round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_repo::{BackupSummary, Manifest, data_key};

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = serde_json::from_slice::<Manifest>(data) else { return };
    // What Repository::load_manifest's validation computes for every object.
    for object in &manifest.objects {
        let _ = data_key(&object.object_id);
        let _ = object.object_id_bytes();
    }
    let _ = manifest.object("stream");
    // load_manifest checks that the id is the 32-hex key it was read from before anyone
    // calls short_id, so only such ids are fed to it.
    if manifest.id.len() == 32 && manifest.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let _ = manifest.short_id();
    }
    let summary = BackupSummary::from(&manifest);
    let _ = serde_json::to_vec(&summary).expect("summary serialises");
    let text = serde_json::to_vec(&manifest).expect("an accepted manifest serialises");
    let mut again: Manifest = serde_json::from_slice(&text).expect("a re-serialised manifest parses");
    // `source` is free-form JSON whose floats serde_json need not round-trip bit for bit.
    let mut first = manifest.clone();
    (first.source, again.source) = (serde_json::Value::Null, serde_json::Value::Null);
    assert_eq!(
        serde_json::to_vec(&first).expect("serialises"),
        serde_json::to_vec(&again).expect("serialises"),
        "manifest changed through a write/read cycle"
    );
});
