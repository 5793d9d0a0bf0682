//! Damage and forgery: verify, swapped and stripped manifests, slots, frames, identifiers, listing triage.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_damaged_objects() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_stream(std::io::Cursor::new(vec![7u8; 3_000_000]), request("big")).await.unwrap();
    let key = m.objects[0].key.clone();
    let mut bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    storage.put_bytes(&key, Bytes::from(bytes)).await.unwrap();
    for deep in [false, true] {
        let report = repo.verify(std::slice::from_ref(&m), deep).await.unwrap();
        assert_eq!(report.damage.len(), 1, "deep={deep}");
        assert_eq!(report.damage[0].object, key);
    }
    let mut out = Vec::new();
    let err = repo.restore_to_writer(&m, None, &mut out).await.unwrap_err();
    assert!(err.to_string().contains(&key), "{err}");
    assert!(out.len() < 3_000_000 && out.iter().all(|b| *b == 7), "only authenticated bytes were written");
    storage.delete(&key).await.unwrap();
    let report = repo.verify(std::slice::from_ref(&m), false).await.unwrap();
    assert_eq!(report.damage[0].problem, "missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_manifests_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let a = repo.backup_stream(&b"a"[..], request("a")).await.unwrap();
    let b = repo.backup_stream(&b"b"[..], request("b")).await.unwrap();
    let b_bytes = storage.get_bytes(&format!("backups/{}", b.id)).await.unwrap();
    storage.put_bytes(&format!("backups/{}", a.id), b_bytes).await.unwrap();
    let err = repo.load_manifest(&a.id).await.unwrap_err();
    assert!(matches!(err, RepoError::BadManifest { .. }), "{err}");
}

// ---------------------------------------------------------------- object trust (issue 9, items 10-13)

/// The master key of a repository made with `cheap()`, unwrapped from its first password slot
/// as FORMAT.md 2.1 says, so that tests can seal manifests a buggy or hostile writer could make.
async fn master_of(storage: &Arc<dyn Storage>, password: &str) -> ([u8; 8], lifeboat_crypto::SecretKey) {
    let config = config_json(storage).await;
    let slot = &config["slots"][0];
    let kdf = &slot["kdf"];
    let num = |v: &serde_json::Value| u32::try_from(v.as_u64().unwrap()).unwrap();
    let params = Argon2Params {
        memory_kib: num(&kdf["memory_kib"]),
        iterations: num(&kdf["iterations"]),
        parallelism: num(&kdf["parallelism"]),
    };
    let unhex = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    let kek = lifeboat_crypto::password_kek(password.as_bytes(), &unhex(&kdf["salt"]), params).unwrap();
    let aad = [b"lifeboat/v1/slot".as_slice(), &unhex(&config["id"]), &unhex(&slot["id"])].concat();
    let nonce: [u8; 12] = unhex(&slot["nonce"]).try_into().unwrap();
    let master = lifeboat_crypto::unwrap_key(&kek, &nonce, &aad, &unhex(&slot["wrapped"])).unwrap();
    (unhex(&config["master_key_id"]).try_into().unwrap(), master)
}

/// Seals `manifest` (any JSON) for the master key and stores it as `backups/<id>`.
async fn put_manifest(
    storage: &Arc<dyn Storage>,
    master: &([u8; 8], lifeboat_crypto::SecretKey),
    id: &str,
    manifest: &serde_json::Value,
) {
    let audience = lifeboat_crypto::Audience { master: Some((&master.0, &master.1)), recipients: &[] };
    let options = lifeboat_crypto::PipelineOptions { segment_size: 4096, compression_level: 3, parallelism: 2 };
    let object_id: [u8; 16] = hex::decode(id).unwrap().try_into().unwrap();
    let plain = serde_json::to_vec(manifest).unwrap();
    let sealed =
        lifeboat_crypto::seal_bytes(&plain, lifeboat_crypto::ObjectKind::Manifest, object_id, audience, options)
            .unwrap();
    storage.put_bytes(&format!("backups/{id}"), Bytes::from(sealed)).await.unwrap();
}

/// The decrypted JSON of a manifest as the repository reads it.
async fn manifest_json(repo: &Repository, id: &str) -> serde_json::Value {
    serde_json::to_value(repo.load_manifest(id).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_slot_that_does_not_open_is_damage_and_latest_does_not_skip_it() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let older = repo.backup_stream(&b"older"[..], request("a")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = repo.backup_stream(&b"newest"[..], request("b")).await.unwrap();
    assert_eq!(repo.resolve("latest", None).await.unwrap().id, newest.id);
    // One flipped bit in the newest manifest's master slot key id (fixed header 72 bytes,
    // slot count 2, slot type 1 and length 2: the key id starts at 77).
    let key = format!("backups/{}", newest.id);
    let mut bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    bytes[77] ^= 0x01;
    storage.put_bytes(&key, Bytes::from(bytes)).await.unwrap();

    let (listed, unreadable) = repo.list().await.unwrap();
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [older.id.as_str()]);
    let [err] = unreadable.as_slice() else { panic!("{unreadable:?}") };
    assert!(!err.is_recipients_only(), "a damaged master slot taken for a recipients-only manifest: {err}");
    assert_eq!(err.object_key(), Some(key.as_str()));
    let text = err.to_string();
    assert!(
        text.contains(&key) && text.contains("master-key slot") && text.contains("does not open (damaged or forged"),
        "{text}"
    );
    // `latest` does not silently fall back to the older backup: it names the damage and
    // the newest readable backup, which can be asked for by id.
    let err = repo.resolve("latest", None).await.unwrap_err();
    assert!(matches!(err, RepoError::LatestUnknown { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&key) && text.contains(&older.id), "{text}");
    assert_eq!(repo.resolve(&older.id, None).await.unwrap().id, older.id);
    let err = repo.resolve(&newest.id, None).await.unwrap_err();
    assert!(err.to_string().contains("master-key slot"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_read_from_a_manifest_are_validated_not_sliced() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let m = repo.backup_stream(&b"x"[..], request("x")).await.unwrap();
    let master = master_of(&storage, "pw").await;
    let good = manifest_json(&repo, &m.id).await;
    let cases: Vec<(&str, &str, serde_json::Value)> = vec![
        // A multibyte character at byte 1: slicing the first two bytes used to panic `list`.
        ("object_id", "object_id", serde_json::json!("aé000000000000000000000000000000")),
        ("short object_id", "object_id", serde_json::json!("ab")),
        ("upper-case object_id", "object_id", serde_json::json!(m.objects[0].object_id.to_uppercase())),
        ("digest", "blake3", serde_json::json!("ü".repeat(32))),
        ("plain digest", "plain_blake3", serde_json::json!("00")),
        ("dek", "dek", serde_json::json!("é".repeat(32))),
    ];
    for (case, field, value) in cases {
        let mut bad = good.clone();
        bad["objects"][0][field] = value;
        put_manifest(&storage, &master, &m.id, &bad).await;
        let (listed, unreadable) = repo.list().await.unwrap();
        assert!(listed.is_empty(), "{case}: accepted");
        let [err] = unreadable.as_slice() else { panic!("{case}: {unreadable:?}") };
        assert!(matches!(err, RepoError::BadManifest { .. }), "{case}: {err}");
        assert!(err.to_string().contains(&format!("backups/{}", m.id)), "{case}: {err}");
        assert!(err.to_string().contains(if field == "dek" { "dek" } else { "hex digits" }), "{case}: {err}");
    }
    for (case, member, value) in [
        ("id", "id", serde_json::json!("ß".repeat(16))),
        ("repository", "repository", serde_json::json!("r")),
        ("parent", "parent", serde_json::json!("päre")),
    ] {
        let mut bad = good.clone();
        bad[member] = value;
        put_manifest(&storage, &master, &m.id, &bad).await;
        let err = repo.load_manifest(&m.id).await.unwrap_err();
        assert!(matches!(err, RepoError::BadManifest { .. }), "{case}: {err}");
    }
    // A manifest stored under a name that is not an id is named, not opened.
    storage.put_bytes("backups/not-an-id", Bytes::from_static(b"junk")).await.unwrap();
    let (_, unreadable) = repo.list().await.unwrap();
    assert!(unreadable.iter().any(|e| e.to_string().contains("backups/not-an-id")), "{unreadable:?}");
}

/// Rewrites backup `m`'s only data object with `object` and re-seals its manifest to match
/// (stored size and digest), so that only what the test changed is wrong.
async fn replace_object(
    storage: &Arc<dyn Storage>,
    repo: &Repository,
    m: &lifeboat_repo::Manifest,
    object: Vec<u8>,
    plain_size: Option<u64>,
) {
    let master = master_of(storage, "pw").await;
    let mut doc = manifest_json(repo, &m.id).await;
    doc["objects"][0]["size"] = serde_json::json!(object.len());
    doc["objects"][0]["blake3"] = serde_json::json!(blake3::hash(&object).to_hex().to_string());
    if let Some(size) = plain_size {
        doc["objects"][0]["plain_size"] = serde_json::json!(size);
    }
    storage.put_bytes(&m.objects[0].key, Bytes::from(object)).await.unwrap();
    put_manifest(storage, &master, &m.id, &doc).await;
}

/// Seals `bodies` (already encoded as the test wants) as the segments of an object with `header`.
fn seal_segments(
    header: &lifeboat_crypto::ObjectHeader,
    dek: &lifeboat_crypto::SecretKey,
    bodies: &[Vec<u8>],
) -> Vec<u8> {
    let cipher = lifeboat_crypto::SegmentCipher::new(header, dek).unwrap();
    let mut object = header.encode();
    for (i, body) in bodies.iter().enumerate() {
        object.extend_from_slice(&cipher.seal_encoded(i as u64, i + 1 == bodies.len(), body).unwrap());
    }
    object
}

/// Restore and deep verify of `m` both fail, naming its object and `needle`.
async fn assert_rejected(repo: &Repository, m: &lifeboat_repo::Manifest, case: &str, needle: &str) {
    let m = repo.load_manifest(&m.id).await.unwrap();
    let key = &m.objects[0].key;
    let mut out = Vec::new();
    let err = repo.restore_to_writer(&m, None, &mut out).await.unwrap_err().to_string();
    assert!(err.contains(key.as_str()) && err.contains(needle), "{case}: restore: {err}");
    let dir = tempfile::tempdir().unwrap();
    let err = repo.restore_to_dir(&m, &dir.path().join("t")).await.unwrap_err().to_string();
    assert!(err.contains(key.as_str()) && err.contains(needle), "{case}: restore to a directory: {err}");
    let report = repo.verify(std::slice::from_ref(&m), true).await.unwrap();
    assert_eq!(report.damage.len(), 1, "{case}: verify --deep: {report:?}");
    assert_eq!(&report.damage[0].object, key, "{case}");
    assert!(report.damage[0].problem.contains(needle), "{case}: verify --deep: {}", report.damage[0].problem);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_enforce_slots_frames_and_plain_size_by_name() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let plain = b"nine bytes, then some more to have two halves".to_vec();
    let m = repo.backup_stream(std::io::Cursor::new(plain.clone()), request("s")).await.unwrap();
    let original = storage.get_bytes(&m.objects[0].key).await.unwrap().to_vec();
    let (header, _) = lifeboat_crypto::parse_complete_header(&original).unwrap();
    let dek = m.objects[0].dek.clone();
    let frame = |p: &[u8]| zstd::bulk::compress(p, 3).unwrap();

    // A plain_size the restored bytes do not have (the digest is right): too small, too large.
    for (case, size) in
        [("plain_size too small", plain.len() as u64 - 1), ("plain_size too large", plain.len() as u64 + 1)]
    {
        replace_object(&storage, &repo, &m, original.clone(), Some(size)).await;
        assert_rejected(&repo, &m, case, "plain_size").await;
    }
    // A data object given a key slot (its segments sealed to match the new slot section).
    let mut with_slot = header.clone();
    let (mk_id, mk) = master_of(&storage, "pw").await;
    with_slot.slots =
        lifeboat_crypto::Audience { master: Some((&mk_id, &mk)), recipients: &[] }.slots(&header.fixed, &dek).unwrap();
    replace_object(&storage, &repo, &m, seal_segments(&with_slot, &dek, &[frame(&plain)]), Some(plain.len() as u64))
        .await;
    assert_rejected(&repo, &m, "data object with a key slot", "no key slots").await;
    // Segments holding two zstd frames, or a skippable frame.
    let (a, b) = plain.split_at(9);
    let skippable = [&0x184D_2A50u32.to_le_bytes()[..], &4u32.to_le_bytes(), b"junk"].concat();
    for (case, body, needle) in [
        ("two zstd frames", [frame(a), frame(b)].concat(), "follow the zstd frame"),
        ("a skippable frame", [skippable, frame(&plain)].concat(), "not a standard zstd frame"),
    ] {
        replace_object(&storage, &repo, &m, seal_segments(&header, &dek, &[body]), Some(plain.len() as u64)).await;
        assert_rejected(&repo, &m, case, needle).await;
    }
    // The object as written still restores (the manifests above were sealed the same way).
    replace_object(&storage, &repo, &m, original, Some(plain.len() as u64)).await;
    assert_eq!(restore(&repo, &m.id).await, plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_stripped_of_its_master_slot_is_damage_not_recipients_only() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    owner.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let older = owner.backup_stream(&b"older"[..], request("a")).await.unwrap();
    // A genuine recipients-only backup by a registered write-only host.
    let writer = write_only(&storage, &mut owner, &identity).await;
    let by_writer = writer.backup_stream(&b"from the writer"[..], request("w")).await.unwrap();
    let owner = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = owner.backup_stream(&b"newest"[..], request("b")).await.unwrap();
    // Whoever can write the storage removes the newest manifest's master-key slot, so that
    // the owner would take it for a recipients-only manifest and restore `older` as latest.
    let key = format!("backups/{}", newest.id);
    let bytes = storage.get_bytes(&key).await.unwrap().to_vec();
    let (mut header, used) = lifeboat_crypto::parse_complete_header(&bytes).unwrap();
    assert!(matches!(header.slots[0], lifeboat_crypto::Slot::Master { .. }));
    header.slots.remove(0);
    storage.put_bytes(&key, Bytes::from([header.encode(), bytes[used..].to_vec()].concat())).await.unwrap();

    let (listed, unreadable) = owner.list().await.unwrap();
    assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [older.id.as_str()]);
    let writer_key = format!("backups/{}", by_writer.id);
    let recipients_only: Vec<_> = unreadable.iter().filter(|e| e.is_recipients_only()).collect();
    assert_eq!(recipients_only.len(), 1, "{unreadable:?}");
    assert_eq!(recipients_only[0].object_key(), Some(writer_key.as_str()));
    let damaged: Vec<_> = unreadable.iter().filter(|e| !e.is_recipients_only()).collect();
    assert_eq!(damaged.len(), 1, "{unreadable:?}");
    assert!(
        damaged[0].to_string().contains(&key) && damaged[0].to_string().contains("no master-key slot"),
        "{}",
        damaged[0]
    );
    let err = owner.resolve("latest", None).await.unwrap_err();
    assert!(matches!(err, RepoError::LatestUnknown { .. }) && err.to_string().contains(&key), "{err}");
    // The identity holder sees the change through the slot section's hash.
    let reader = Repository::open(storage, Credential::Identity(identity)).await.unwrap();
    assert!(reader.load_manifest(&newest.id).await.is_err());
    assert_eq!(restore(&reader, &by_writer.id).await, b"from the writer");
}

/// `list_backups` and `verify_backups` sort what cannot be read: a backup sealed for a
/// recipient is someone else's (listed apart, never damage), a swapped manifest is damage
/// (with a frontend's advice appended when it gives one), and `latest` names the damage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_verify_triage_what_cannot_be_read() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    let writer = write_only(&storage, &mut owner, &identity).await;
    let theirs = writer.backup_stream(&b"for the escrow"[..], request("escrow")).await.unwrap();
    let good = owner.backup_stream(&b"good"[..], request("good")).await.unwrap();
    let other =
        owner.backup_stream(&b"other"[..], BackupRequest { plan: Some("other".into()), ..request("o") }).await.unwrap();
    let damaged = owner.backup_stream(&b"damaged"[..], request("damaged")).await.unwrap();
    let good_bytes = storage.get_bytes(&format!("backups/{}", good.id)).await.unwrap();
    storage.put_bytes(&format!("backups/{}", damaged.id), good_bytes).await.unwrap();

    let listing = owner.list_backups().await.unwrap();
    let ids = |ms: Vec<&lifeboat_repo::Manifest>| ms.into_iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(listing.readable.iter().collect()), [good.id.clone(), other.id.clone()]);
    assert_eq!(ids(listing.in_plan(Some("test")).collect()), vec![good.id.clone()]);
    assert_eq!(listing.summaries(Some("other")).len(), 1);
    assert_eq!(listing.sealed_for_others, [format!("backups/{}", theirs.id)]);
    assert_eq!(listing.unreadable.len(), 1);
    assert_eq!(listing.unreadable[0].object_key(), Some(format!("backups/{}", damaged.id).as_str()));
    assert!(!listing.is_complete());

    let outcome = owner.verify_backups_with_advice(None, false, |_| Some(" [advice]".into())).await.unwrap();
    assert_eq!(outcome.sealed_for_others, listing.sealed_for_others);
    assert_eq!((outcome.report.backups, outcome.report.damage.len()), (2, 1));
    let damage = &outcome.report.damage[0];
    assert_eq!(damage.backup, damaged.id);
    assert!(damage.problem.ends_with(" [advice]"), "{}", damage.problem);
    // One backup by id: the damaged one is damage found, not an error; "latest" is unsure.
    let one = owner.verify_backups(Some(&damaged.id), false).await.unwrap();
    assert_eq!((one.report.backups, one.report.damage.len()), (0, 1));
    let err = owner.resolve("latest", None).await.unwrap_err();
    assert!(
        matches!(&err, RepoError::LatestUnknown { damaged: d, newest: Some(n) } if d.len() == 1 && *n == other.id),
        "{err}"
    );
    // Someone else's backup alone is neither damage nor an error.
    let theirs_only = owner.verify_backups(Some(&theirs.id), false).await.unwrap();
    assert!(theirs_only.report.is_ok() && theirs_only.sealed_for_others.len() == 1);
}
