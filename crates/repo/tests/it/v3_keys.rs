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

// Write-only hosts' own domains (FORMAT.md 11.2): packs sealed for the recipients.

mod write_only_hosts {
    use std::path::Path;
    use std::sync::Arc;

    use lifeboat_crypto::{Identity, WriterKey};
    use lifeboat_repo::v3::{BlobId, BlobStore, PACKS_PREFIX, StoreError};
    use lifeboat_repo::{Credential, InitOptions, OpenOptions, Repository};
    use lifeboat_repo::{DOMAINS_PREFIX, MANIFEST_VERSION_V3};
    use lifeboat_storage::{FsStorage, Storage, StorageExt};

    use crate::{cheap, pw, request};

    /// A tree of small files and a 3 MiB file of noise (several chunks).
    fn make_tree(root: &Path) {
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"alpha\n").unwrap();
        std::fs::write(root.join("sub/b.txt"), b"bravo\n").unwrap();
        let mut state = 11u64;
        let big: Vec<u8> = (0..3 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(root.join("sub/big.bin"), big).unwrap();
    }

    use crate::files;

    /// A v3 repository whose owner added `identity` as a recipient.
    async fn owned(dir: &Path, identity: &Identity) -> (Arc<dyn Storage>, Repository) {
        let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.join("repo")));
        let options = InitOptions { data_format: 3, ..cheap() };
        let mut owner = Repository::init(storage.clone(), pw("pw"), options).await.unwrap();
        owner.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
        (storage, owner)
    }

    /// A writer key the owner registered.
    async fn registered(owner: &mut Repository) -> Arc<WriterKey> {
        let key = Arc::new(WriterKey::generate().unwrap());
        owner.add_writer(key.public(), Some("backup host".into())).await.unwrap();
        key
    }

    /// A write-only handle (a new session of the host) with `key`, sealing for `identity`.
    async fn host(storage: &Arc<dyn Storage>, key: &Arc<WriterKey>, identity: &Identity) -> Repository {
        let trust = OpenOptions { writer_key: Some(key.clone()), ..Default::default() };
        Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), trust).await.unwrap()
    }

    async fn reader(storage: &Arc<dyn Storage>, identity: &Arc<Identity>) -> Repository {
        Repository::open(storage.clone(), Credential::Identity(identity.clone())).await.unwrap()
    }

    /// Restores backup `id` with `repo` and returns the files of `source` in it.
    async fn restored_files(
        repo: &Repository,
        id: &str,
        source: &Path,
        target: &Path,
    ) -> std::collections::BTreeMap<String, Vec<u8>> {
        let manifest = repo.resolve(id, None).await.unwrap();
        let path = repo.restore_to_dir(&manifest, target).await.unwrap();
        files(&path.join(source.strip_prefix("/").unwrap()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_only_hosts_v3_backup_restores_with_the_identity_and_the_host_cannot_read_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("data");
        make_tree(&source);
        let identity = Arc::new(Identity::generate().unwrap());
        let (storage, mut owner) = owned(dir.path(), &identity).await;
        let key = registered(&mut owner).await;

        let writer = host(&storage, &key, &identity).await;
        let first = writer.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
        assert_eq!(first.version, MANIFEST_VERSION_V3);
        let domain = first.domain.clone().expect("a v3 manifest names its domain");
        assert!(storage.head(&format!("{DOMAINS_PREFIX}{domain}")).await.unwrap().is_some(), "domain object stored");
        // Every pack of the host has key slots: one per recipient.
        let packs = storage.list_all(PACKS_PREFIX).await.unwrap();
        assert!(!packs.is_empty());
        for meta in &packs {
            let bytes = storage.get_bytes(&meta.key).await.unwrap();
            assert_eq!(&bytes[32..34], &1u16.to_le_bytes(), "{} has one recipient slot", meta.key);
        }

        // The recipient's identity restores it byte for byte.
        let reader = reader(&storage, &identity).await;
        let target = dir.path().join("restored");
        assert_eq!(restored_files(&reader, &first.id, &source, &target).await, files(&source));

        // A new session of the host has its index (dedup) but cannot open its packs.
        let again = host(&storage, &key, &identity).await;
        let store = again.v3_store().await.unwrap();
        assert_eq!(hex::encode(store.keys().id()), domain, "the host finds its domain again from its key");
        let root = BlobId::from_hex(first.tree.as_deref().unwrap()).unwrap();
        assert!(store.has_blob(&root), "the host reads its own index");
        let err = store.get_blob(&root).await.unwrap_err();
        assert!(matches!(err, StoreError::NoPackKey { .. }), "{err}");
        assert!(err.to_string().contains("write-only host"), "{err}");

        // A second backup of the unchanged tree reads every file (no parent trees to compare
        // with) yet stores almost nothing: its chunks dedup against its own index.
        let second = again.backup_files(std::slice::from_ref(&source), request("tree")).await.unwrap();
        assert_eq!(second.domain.as_deref(), Some(domain.as_str()));
        assert!(second.stats["bytes"] >= 3 << 20, "every file read: {:?}", second.stats);
        assert_eq!(second.stats["files_reused"], 0, "{:?}", second.stats);
        assert!(second.stats["bytes_new"] < 4096, "nothing but ancestor trees stored: {:?}", second.stats);
        let target = dir.path().join("restored-2");
        assert_eq!(restored_files(&reader, &second.id, &source, &target).await, files(&source));

        // The master-key holder lists neither (sealed for the recipients only, as in format 2).
        let (listed, _) = owner.list().await.unwrap();
        assert!(
            listed.iter().all(|m| m.id != first.id && m.id != second.id),
            "the owner read a recipients-only backup"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_write_only_hosts_have_their_own_domains_which_a_key_rotation_keeps_readable() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("data");
        make_tree(&source);
        let identity = Arc::new(Identity::generate().unwrap());
        let (storage, mut owner) = owned(dir.path(), &identity).await;
        let (key_a, key_b) = (registered(&mut owner).await, registered(&mut owner).await);
        let by_owner = owner.backup_files(std::slice::from_ref(&source), request("owner")).await.unwrap();
        let a = host(&storage, &key_a, &identity).await;
        let by_a = a.backup_files(std::slice::from_ref(&source), request("a")).await.unwrap();
        let b = host(&storage, &key_b, &identity).await;
        let by_b = b.backup_files(std::slice::from_ref(&source), request("b")).await.unwrap();
        let domains = [&by_owner, &by_a, &by_b].map(|m| m.domain.clone().unwrap());
        assert!(
            domains[0] != domains[1] && domains[1] != domains[2] && domains[0] != domains[2],
            "every host has its own domain: {domains:?}"
        );
        assert_eq!(storage.list_all(DOMAINS_PREFIX).await.unwrap().len(), 3);
        // The same data in another domain is stored again: domains do not share blobs.
        assert!(by_b.stats["bytes_new"] >= 3 << 20, "{:?}", by_b.stats);

        owner.rotate_master_key().await.unwrap();
        let reader = reader(&storage, &identity).await;
        for (n, manifest) in [&by_owner, &by_a, &by_b].into_iter().enumerate() {
            let target = dir.path().join(format!("restored-{n}"));
            assert_eq!(restored_files(&reader, &manifest.id, &source, &target).await, files(&source), "{n}");
        }
        // After the rotation the host still finds its domain and dedups against it.
        let later = host(&storage, &key_a, &identity).await;
        let again = later.backup_files(std::slice::from_ref(&source), request("a")).await.unwrap();
        assert_eq!(again.domain, by_a.domain);
        assert!(again.stats["bytes_new"] < 4096, "{:?}", again.stats);
        let reopened = Repository::open(storage.clone(), pw("pw")).await.unwrap();
        let target = dir.path().join("restored-owner");
        assert_eq!(restored_files(&reopened, &by_owner.id, &source, &target).await, files(&source));
    }
}

/// A pack of a write-only domain: random key wrapped for the recipients in its header; an
/// identity reads it, a handle without one (the host in a later session) cannot, by name.
#[test]
fn a_pack_with_recipient_slots_opens_only_with_an_identity() {
    use std::sync::Arc;

    use bytes::Bytes;
    use lifeboat_crypto::Identity;
    use lifeboat_repo::v3::{PackReader, PackWriter, StoreError};

    let secret = SecretKey::from_bytes([9u8; 32]);
    let (one, two) = (Arc::new(Identity::generate().unwrap()), Arc::new(Identity::generate().unwrap()));
    let writer = DomainKeys::derive(&secret).sealed_for(vec![one.public(), two.public()]);
    let mut pack = PackWriter::new(&writer, 1 << 20).unwrap();
    let id = writer.blob_id(b"some chunk");
    pack.add(id, BlobKind::Data, b"some chunk", 3).unwrap();
    let pack = pack.finish().unwrap();
    assert_eq!(&pack.bytes[32..34], &2u16.to_le_bytes(), "one slot per recipient");
    assert_eq!(pack.entries[0].offset, 34 + 2 * 103, "the first blob follows the slots");
    // The writing handle remembers the key it made (it reads back what it just wrote).
    let own = PackReader::parse(&writer, pack.id, pack.bytes.clone()).unwrap();
    assert_eq!(own.read_blob(&writer, &id).unwrap(), Bytes::from_static(b"some chunk"));

    for identity in [&one, &two] {
        let reader = DomainKeys::derive(&secret).opened_by(vec![identity.clone()]);
        let opened = PackReader::parse(&reader, pack.id, pack.bytes.clone()).unwrap();
        assert_eq!(opened.read_blob(&reader, &id).unwrap(), Bytes::from_static(b"some chunk"));
    }
    // The host in a later session, a reader of the secret without identity, a stranger.
    let later = DomainKeys::derive(&secret).sealed_for(vec![one.public()]);
    let stranger = DomainKeys::derive(&secret).opened_by(vec![Arc::new(Identity::generate().unwrap())]);
    for keys in [later, DomainKeys::derive(&secret), stranger] {
        let err = PackReader::parse(&keys, pack.id, pack.bytes.clone()).unwrap_err();
        assert!(matches!(err, StoreError::NoPackKey { .. }), "{err}");
        assert!(err.to_string().contains(&pack.id.key()), "{err}");
    }
    // A damaged slot addressed to the reader is damage, not "not for us".
    let mut forged = pack.bytes.to_vec();
    forged[34 + 3 + 8 + 32 + 12] ^= 1;
    let reader = DomainKeys::derive(&secret).opened_by(vec![one.clone()]);
    let err = PackReader::parse(&reader, pack.id, Bytes::from(forged)).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("does not open"), "{err}");
    // A slot count beyond what a config allows is refused before anything is read.
    let mut many = pack.bytes.to_vec();
    many[32..34].copy_from_slice(&65u16.to_le_bytes());
    assert!(PackReader::parse(&reader, pack.id, Bytes::from(many)).is_err());
}
