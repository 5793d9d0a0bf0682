//! Manifest JSON (`lifeboat_repo::Manifest::parse`, what every list, show and restore runs
//! after decryption: deserialisation with its id and digest checks, then the consistency
//! checks) must never panic, neither in parsing nor in the accessors the CLI calls on a
//! decoded manifest; whatever deserialises has well-formed ids; an accepted manifest
//! round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_repo::{BackupSummary, Manifest, data_key};

/// FORMAT.md 5: ids are 32 lowercase hex digits, digests 64.
fn lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fuzz_target!(|data: &[u8]| {
    // The checks that need the key it was read from and the repository id: with ids the
    // fuzzer cannot know (rejected, never a panic), then with the manifest's own.
    let _ = Manifest::parse(data, "00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100");
    let Ok(manifest) = serde_json::from_slice::<Manifest>(data) else { return };
    // Deserialising alone guarantees the form of every identifier and digest, so nothing
    // that slices them can panic.
    assert!(lower_hex(&manifest.id, 32) && lower_hex(&manifest.repository, 32), "unchecked manifest id");
    assert!(manifest.parent.as_deref().is_none_or(|p| lower_hex(p, 32)), "unchecked parent id");
    for object in &manifest.objects {
        assert!(lower_hex(&object.object_id, 32), "unchecked object_id");
        assert!(lower_hex(&object.blake3, 64) && lower_hex(&object.plain_blake3, 64), "unchecked digest");
        let _ = data_key(&object.object_id);
        object.object_id_bytes().expect("a checked object id decodes");
    }
    let _ = Manifest::parse(data, &manifest.id, &manifest.repository);
    let _ = manifest.object("stream");
    let _ = manifest.short_id();
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
