//! Writes seed inputs for every fuzz target into `corpus/<target>/` (relative to the
//! current directory, normally `fuzz/`). Run: `cargo run --bin make_seeds` from `fuzz/`.

use std::path::Path;

use lifeboat_crypto::{
    Audience, Compression, DEFAULT_SEGMENT, FixedHeader, Identity, ObjectHeader, ObjectKind, PipelineOptions,
    SecretKey, Slot, parse_complete_header, seal_bytes,
};
use lifeboat_fuzz::{IDENTITY, MASTER, MASTER_ID, SEGMENT, flag, forge, option};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn record(out: &mut Vec<u8>, flags: u8, body: &[u8]) {
    out.push(flags);
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body);
}

fn main() {
    let master = SecretKey::from_bytes(MASTER);
    let public = [Identity::parse(IDENTITY).expect("identity").public()];

    // object_header: a data header without slots, the header of a manifest the library sealed
    // for the fixed keyring (a master-key slot and a recipient slot), and that header with a
    // slot of a kind this version does not know.
    let dek = SecretKey::from_bytes([9; 32]);
    let data = FixedHeader::new(ObjectKind::Data, Compression::None, 4096, [2; 16], &dek).expect("header");
    let both = Audience { master: Some((&MASTER_ID, &master)), recipients: &public };
    let options = PipelineOptions { segment_size: DEFAULT_SEGMENT, compression_level: 3, parallelism: 1 };
    let sealed = seal_bytes(b"{}", ObjectKind::Manifest, [1; 16], both, options).expect("seal");
    let (manifest, _) = parse_complete_header(&sealed).expect("the library's own header parses");
    let mut unknown_slot = manifest.clone();
    unknown_slot.slots.push(Slot::Unknown { kind: 9, body: vec![1, 2, 3] });
    let headers = [ObjectHeader { fixed: data, slots: vec![] }, manifest, unknown_slot];
    for (i, h) in headers.iter().enumerate() {
        let bytes = h.encode();
        let (parsed, used) = parse_complete_header(&bytes).expect("header seed parses");
        assert!(parsed == *h && used == bytes.len(), "header seed {i} does not parse back to itself");
        write("object_header", &format!("header-{i}"), &bytes);
    }

    // open_object, mode 0: real objects sealed by the library for the fixed keyring.
    let audiences = [
        Audience { master: Some((&MASTER_ID, &master)), recipients: &[] },
        Audience { master: None, recipients: &public },
    ];
    let plaintexts: [&[u8]; 3] = [b"", b"{\"version\":1}", &[b'x'; 3 * SEGMENT + 100]];
    let mut n = 0;
    for audience in audiences {
        for plain in plaintexts {
            for level in [0, 3] {
                let options =
                    PipelineOptions { segment_size: SEGMENT as u32, compression_level: level, parallelism: 1 };
                let object = seal_bytes(plain, ObjectKind::Manifest, [3; 16], audience, options).expect("seal");
                write("open_object", &format!("object-{n}"), &[[0u8].as_slice(), &object].concat());
                n += 1;
            }
        }
    }
    // open_object, mode 1: forge specs.
    let mut specs = Vec::new();
    for options in [0, option::ZSTD, option::ZSTD | option::RECIPIENT] {
        let compress = if options & option::ZSTD != 0 { flag::COMPRESS } else { 0 };
        let mut spec = vec![options];
        record(&mut spec, flag::FILL | compress, b"abc");
        record(&mut spec, flag::FILL | compress, b"0123456789");
        record(&mut spec, flag::LAST | compress, b"the end");
        specs.push(spec);
        let mut empty = vec![options];
        record(&mut empty, flag::LAST | compress, b"");
        specs.push(empty);
    }
    // A raw (attacker-chosen) zstd frame whose content is bigger than a segment.
    let mut spec = vec![option::ZSTD];
    record(&mut spec, flag::LAST, &zstd::bulk::compress(&vec![0u8; 2 * SEGMENT], 3).expect("zstd"));
    specs.push(spec);
    for (i, spec) in specs.iter().enumerate() {
        assert!(!forge(spec).must_fail, "seed spec {i} is meant to be valid or unknown");
        write("open_object", &format!("spec-{i}"), &[[1u8].as_slice(), spec].concat());
    }

    write(
        "repo_config",
        "config.json",
        br#"{
  "format": "lifeboat-repository",
  "version": 2,
  "id": "00112233445566778899aabbccddeeff",
  "created": "2026-11-21T10:00:00+00:00",
  "generation": 7,
  "segment_size": 1048576,
  "compression_level": 3,
  "master_key_id": "0011223344556677",
  "signing_key": "lbwp10303030303030303030303030303030303030303030303030303030303030303",
  "slots": [
    {"id": "8899aabbccddeeff", "kind": "password", "label": "ops", "created": "2026-11-21T10:00:00+00:00",
     "kdf": {"algorithm": "argon2id", "version": 19, "memory_kib": 65536, "iterations": 3, "parallelism": 4,
             "salt": "000102030405060708090a0b0c0d0e0f"},
     "nonce": "000102030405060708090a0b", "wrapped": "00"},
    {"id": "0123456789abcdef", "kind": "keyfile", "created": "2026-11-21T10:00:00+01:00",
     "kdf": {"algorithm": "hkdf-sha256", "salt": "000102030405060708090a0b0c0d0e0f"},
     "nonce": "000102030405060708090a0b", "wrapped": "00"}
  ],
  "recipients": [{"id": "72cd6e8422c407fb",
                  "public_key": "lbpk10101010101010101010101010101010101010101010101010101010101010101"}],
  "writers": [{"id": "75877bb41d393b5f", "label": "nas",
               "public_key": "lbwp10202020202020202020202020202020202020202020202020202020202020202"}],
  "retired_master_keys": [{"id": "0011223344556677", "nonce": "00", "wrapped": "00"}],
  "a_future_member": {"kept": [1, -2, "x"]},
  "mac": "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f"
}"#,
    );
    write(
        "manifest_json",
        "manifest.json",
        br#"{"version":2,"id":"00112233445566778899aabbccddeeff","repository":"ffeeddccbbaa99887766554433221100",
"kind":"stream","name":"big","plan":"db","host":"h","tags":["a"],"started":"2026-11-21T10:00:00+00:00",
"finished":"2026-11-21T10:00:01.5+02:00","tool":"lifeboat 0.1.0","parent":null,"source":{"server":"16.1","lsn":1.5},
"objects":[{"name":"stream","key":"data/ab/ab000000000000000000000000000000","object_id":"ab000000000000000000000000000000",
"dek":"0000000000000000000000000000000000000000000000000000000000000000","size":100,"blake3":"00","plain_size":5,
"plain_blake3":"00"}],"warnings":["w"],"stats":{"files":3}}"#,
    );
    println!("seeds written under corpus/");
}
