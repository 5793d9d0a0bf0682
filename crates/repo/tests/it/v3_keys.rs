//! Format v3 dedup-domain keys: ids, blob ids and chunker keys derived from a domain secret.

use lifeboat_crypto::SecretKey;
use lifeboat_repo::v3::{BlobId, BlobKind, DomainKeys};

#[test]
fn a_domain_derives_stable_separate_keys() {
    let secret = SecretKey::from_bytes([5u8; 32]);
    let a = DomainKeys::derive(&secret);
    let again = DomainKeys::derive(&SecretKey::from_bytes([5u8; 32]));
    let other = DomainKeys::derive(&SecretKey::from_bytes([6u8; 32]));
    assert_eq!(a.id(), again.id());
    assert_ne!(a.id(), other.id());
    assert_eq!(a.blob_id(b"chunk"), again.blob_id(b"chunk"));
    assert_ne!(a.blob_id(b"chunk"), other.blob_id(b"chunk"), "blob ids are keyed per domain");
    assert_ne!(a.blob_id(b"chunk").0, *blake3::hash(b"chunk").as_bytes(), "a blob id is not the plain hash");
    assert_ne!(a.chunker_key(), other.chunker_key());
    assert_ne!(&a.chunker_key()[..], &a.seal_key().expose()[..], "chunker and seal keys differ");
    assert!(!format!("{a:?}").contains(&hex::encode(a.chunker_key())), "Debug shows no key");
}

#[test]
fn blob_ids_round_trip_through_hex_and_json_and_refuse_bad_text() {
    let id = DomainKeys::derive(&SecretKey::from_bytes([1u8; 32])).blob_id(b"x");
    assert_eq!(BlobId::from_hex(&id.to_hex()), Some(id));
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(serde_json::from_str::<BlobId>(&json).unwrap(), id);
    for bad in ["", "00", &id.to_hex().to_uppercase(), &format!("{}g", &id.to_hex()[..63])] {
        assert_eq!(BlobId::from_hex(bad), None, "{bad:?}");
    }
    assert!(serde_json::from_str::<BlobId>("\"zz\"").is_err());
    assert_eq!(BlobKind::from_code(BlobKind::Tree.code()), Some(BlobKind::Tree));
    assert_eq!(BlobKind::from_code(0), None);
}
