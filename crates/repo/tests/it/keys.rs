//! Keys and the config: rotation, recipients, writers, rollback protection, authenticated members.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_rewraps_manifests_only_and_revokes_old_slots() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init(storage.clone(), pw("main"), cheap()).await.unwrap();
    repo.add_slot(pw("other"), Argon2Params::MINIMUM, None).await.unwrap();
    let m = repo.backup_stream(&b"payload"[..], request("p")).await.unwrap();
    let data_before = storage.get_bytes(&m.objects[0].key).await.unwrap();
    let report = repo.rotate_master_key().await.unwrap();
    assert_eq!(report.manifests_resealed, 1);
    assert_eq!(report.slots_removed.len(), 1);
    assert_eq!(storage.get_bytes(&m.objects[0].key).await.unwrap(), data_before, "data untouched");
    let reopened = Repository::open(storage.clone(), pw("main")).await.unwrap();
    assert_eq!(restore(&reopened, &m.id).await, b"payload");
    assert!(reopened.config().retired_master_keys.is_empty());
    assert!(matches!(Repository::open(storage, pw("other")).await, Err(RepoError::WrongCredential { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_only_hosts_cannot_read_what_they_write() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    let writer = write_only(&storage, &mut owner, &identity).await;
    let m = writer.backup_stream(&b"secret logs"[..], request("logs")).await.unwrap();
    assert!(matches!(writer.list().await.unwrap().1.first(), Some(RepoError::NeedsCredential(_))));
    // The owner's password does not open it either: it was sealed for the identity only.
    let owner = Repository::open(storage.clone(), pw("owner")).await.unwrap();
    assert!(owner.load_manifest(&m.id).await.is_err());
    let reader = Repository::open(storage, Credential::Identity(identity)).await.unwrap();
    assert_eq!(restore(&reader, &m.id).await, b"secret logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_added_with_the_master_key_receive_new_backups() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init(storage.clone(), pw("owner"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    repo.add_recipient(identity.public(), Some("escrow".into())).await.unwrap();
    let m = repo.backup_stream(&b"both can read"[..], request("x")).await.unwrap();
    let escrow = Repository::open(storage.clone(), Credential::Identity(identity)).await.unwrap();
    assert_eq!(restore(&escrow, &m.id).await, b"both can read");
    // A recipient smuggled into the config without the master key is refused.
    let mut config: serde_json::Value = serde_json::from_slice(&storage.get_bytes("config").await.unwrap()).unwrap();
    let intruder = Identity::generate().unwrap().public();
    config["recipients"][0]["public_key"] = serde_json::Value::String(intruder.to_string());
    config["recipients"][0]["id"] = serde_json::Value::String(hex::encode(intruder.id()));
    storage.put_bytes("config", Bytes::from(serde_json::to_vec(&config).unwrap())).await.unwrap();
    let err = Repository::open(storage, pw("owner")).await.unwrap_err();
    assert!(err.to_string().contains("MAC does not verify"), "{err}");
}

async fn put_config(storage: &Arc<dyn Storage>, config: &serde_json::Value) {
    storage.put_bytes("config", Bytes::from(serde_json::to_vec_pretty(config).unwrap())).await.unwrap();
}

fn trust_in(dir: &std::path::Path) -> OpenOptions {
    OpenOptions { state: Some(Arc::new(FileStateStore::new(dir))), ..Default::default() }
}

/// Item 5: putting back a config saved before `key rotate` is refused, naming both
/// generations and the flag that accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_put_back_after_rotation_is_refused_as_a_rollback() {
    let state = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut repo = Repository::init_with(storage.clone(), pw("pw"), cheap(), trust_in(state.path())).await.unwrap();
    let old = storage.get_bytes("config").await.unwrap();
    let old_generation = repo.config().generation;
    repo.rotate_master_key().await.unwrap();
    let new_generation = repo.config().generation;
    assert!(new_generation > old_generation);
    storage.put_bytes("config", old).await.unwrap();

    let err = Repository::open_with(storage.clone(), pw("pw"), trust_in(state.path())).await.unwrap_err();
    assert!(matches!(err, RepoError::ConfigRollback { .. }), "{err}");
    let text = err.to_string();
    // (The way past it, --accept-config-rollback, is the CLI's hint: cli hints.rs.)
    for needle in [format!("generation {old_generation}"), format!("generation {new_generation}")] {
        assert!(text.contains(&needle), "{text} does not name {needle}");
    }
    // Accepting it on purpose works, and the store then follows the accepted config.
    let accept = OpenOptions { accept_config_rollback: true, ..trust_in(state.path()) };
    Repository::open_with(storage.clone(), pw("pw"), accept).await.unwrap();
    let known = FileStateStore::new(state.path()).load(repo.id()).unwrap().unwrap();
    assert_eq!(known.generation, old_generation);
    // The state file is private.
    use std::os::unix::fs::PermissionsExt;
    let file = state.path().join(format!("{}.json", repo.id()));
    assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Item 6: slots whose Argon2id parameters are below the floor or above the ceiling are
/// refused by name, the slot count is capped, and a slot that unwraps some other key is
/// told apart from the repository's master key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_decoy_and_surplus_slots_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let good = config_json(&storage).await;

    let mut weak = good.clone();
    let mut decoy = good["slots"][0].clone();
    decoy["id"] = "00112233445566ff".into();
    decoy["kdf"]["memory_kib"] = 8.into();
    decoy["kdf"]["iterations"] = 1.into();
    weak["slots"].as_array_mut().unwrap().insert(0, decoy);
    put_config(&storage, &weak).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(matches!(err, RepoError::CorruptConfig { .. }), "{err}");
    assert!(err.to_string().contains("00112233445566ff") && err.to_string().contains("8 KiB"), "{err}");

    let mut greedy = good.clone();
    greedy["slots"][0]["kdf"]["memory_kib"] = (64u64 * 1024 * 1024).into();
    put_config(&storage, &greedy).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(err.to_string().contains("memory"), "{err}");

    let mut many = good.clone();
    let slot = good["slots"][0].clone();
    many["slots"] = serde_json::Value::Array(vec![slot; lifeboat_repo::MAX_KEY_SLOTS + 1]);
    put_config(&storage, &many).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(err.to_string().contains("key slots"), "{err}");

    // A decoy with sound parameters that the password opens, wrapping the attacker's key.
    let repo_id: [u8; 16] = hex::decode(good["id"].as_str().unwrap()).unwrap().try_into().unwrap();
    let slot_id = [9u8; 8];
    let salt = [7u8; 16];
    let kek = lifeboat_crypto::password_kek(b"pw", &salt, Argon2Params::MINIMUM).unwrap();
    let aad = [b"lifeboat/v1/slot".as_slice(), &repo_id, &slot_id].concat();
    let (nonce, wrapped) =
        lifeboat_crypto::wrap_key(&kek, &aad, &lifeboat_crypto::SecretKey::generate().unwrap()).unwrap();
    let mut planted = good.clone();
    let mut decoy = good["slots"][0].clone();
    decoy["id"] = hex::encode(slot_id).into();
    decoy["kdf"]["salt"] = hex::encode(salt).into();
    decoy["nonce"] = hex::encode(nonce).into();
    decoy["wrapped"] = hex::encode(wrapped).into();
    planted["slots"].as_array_mut().unwrap().insert(0, decoy);
    put_config(&storage, &planted).await;
    let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
    assert!(err.to_string().contains("0909090909090909") && err.to_string().contains("decoy"), "{err}");
}

/// Item 7: every member of the config is authenticated; a write-only host notices a removed
/// recipient through its known state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_config_member_is_authenticated_and_lost_recipients_are_noticed() {
    let state = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let escrow = Identity::generate().unwrap();
    owner.add_recipient(escrow.public(), Some("escrow".into())).await.unwrap();
    let good = config_json(&storage).await;

    type Tamper = fn(&mut serde_json::Value);
    let tamper: [(&str, Tamper); 4] = [
        ("compression_level", |c| c["compression_level"] = 0.into()),
        ("segment_size", |c| c["segment_size"] = 4096.into()),
        ("recipients", |c| c["recipients"] = serde_json::Value::Array(vec![])),
        ("unknown member", |c| c["future"] = "x".into()),
    ];
    for (what, change) in tamper {
        let mut config = good.clone();
        change(&mut config);
        put_config(&storage, &config).await;
        let err = Repository::open(storage.clone(), pw("pw")).await.unwrap_err();
        assert!(err.to_string().contains("MAC does not verify"), "{what}: {err}");
    }

    // A write-only host that saw the escrow recipient refuses a config without it.
    put_config(&storage, &good).await;
    let key = Arc::new(WriterKey::generate().unwrap());
    let mut owner = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    owner.add_writer(key.public(), None).await.unwrap();
    let trust = OpenOptions { writer_key: Some(key), ..trust_in(state.path()) };
    let writer = Credential::WriteOnly(vec![escrow.public()]);
    Repository::open_with(storage.clone(), writer.clone(), trust.clone()).await.unwrap();
    let mut shrunk = config_json(&storage).await;
    shrunk["recipients"] = serde_json::Value::Array(vec![]);
    put_config(&storage, &shrunk).await;
    let err = Repository::open_with(storage.clone(), writer, trust).await.unwrap_err();
    assert!(matches!(err, RepoError::RecipientsRemoved { .. }), "{err}");
    assert!(err.to_string().contains(&hex::encode(escrow.public().id())), "{err}");
}

/// Item 8: a recipients-only manifest must be signed by a registered writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_recipient_manifests_are_refused() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    owner.add_recipient(identity.public(), None).await.unwrap();

    // Without a writer key a write-only host refuses to start, and with an unregistered one too.
    let bare = Repository::open(storage.clone(), Credential::WriteOnly(vec![identity.public()])).await.unwrap();
    let err = bare.backup_stream(&b"x"[..], request("x")).await.unwrap_err();
    assert!(err.to_string().contains("writer key"), "{err}");
    let stranger = OpenOptions { writer_key: Some(Arc::new(WriterKey::generate().unwrap())), ..Default::default() };
    let host =
        Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), stranger).await.unwrap();
    let err = host.backup_stream(&b"x"[..], request("x")).await.unwrap_err();
    assert!(err.to_string().contains("not registered"), "{err}");

    let genuine = write_only(&storage, &mut owner, &identity).await;
    let real = genuine.backup_stream(&b"genuine"[..], request("real")).await.unwrap();
    let by_owner = owner.backup_stream(&b"from the owner"[..], request("owner")).await.unwrap();
    let reader = Repository::open(storage.clone(), Credential::Identity(identity.clone())).await.unwrap();
    assert_eq!(restore(&reader, &real.id).await, b"genuine");
    assert_eq!(restore(&reader, &by_owner.id).await, b"from the owner");

    // Forgeries: the genuine manifest re-sealed for the identity, unsigned and signed by a stranger.
    let mut forged = real.clone();
    for (n, signer) in [None, Some(WriterKey::generate().unwrap())].into_iter().enumerate() {
        forged.id = format!("{:032x}", n + 1);
        let plain = serde_json::to_vec(&forged).unwrap();
        let object_id: [u8; 16] = hex::decode(&forged.id).unwrap().try_into().unwrap();
        let recipients = [identity.public()];
        let audience = lifeboat_crypto::Audience { master: None, recipients: &recipients };
        let options = lifeboat_crypto::PipelineOptions::default();
        let kind = lifeboat_crypto::ObjectKind::Manifest;
        let sealed = match &signer {
            None => lifeboat_crypto::seal_bytes(&plain, kind, object_id, audience, options).unwrap(),
            Some(k) => lifeboat_crypto::seal_bytes_signed(&plain, kind, object_id, audience, options, k).unwrap(),
        };
        let key = format!("backups/{}", forged.id);
        storage.put_bytes(&key, Bytes::from(sealed)).await.unwrap();
        let err = reader.load_manifest(&forged.id).await.unwrap_err();
        assert!(matches!(err, RepoError::BadManifest { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&key), "{text}");
        match &signer {
            None => assert!(text.contains("no writer signature"), "{text}"),
            Some(k) => {
                assert!(text.contains(&hex::encode(k.public().id())) && text.contains("does not list"), "{text}")
            }
        }
    }
}

/// Item 8 for readers that hold only an identity: they cannot check the config's MAC, so a
/// writer that someone with storage write registers by editing the config must not be
/// trusted; the signers pinned on this host are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_planted_in_the_config_does_not_fool_an_identity_reader() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let state = tempfile::tempdir().unwrap();
    let mut owner = Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let identity = Arc::new(Identity::generate().unwrap());
    owner.add_recipient(identity.public(), None).await.unwrap();
    let genuine = write_only(&storage, &mut owner, &identity).await;
    let real = genuine.backup_stream(&b"genuine"[..], request("real")).await.unwrap();
    let open_reader =
        |trust: OpenOptions| Repository::open_with(storage.clone(), Credential::Identity(identity.clone()), trust);
    let reader = open_reader(trust_in(state.path())).await.unwrap();
    assert_eq!(restore(&reader, &real.id).await, b"genuine");

    // The attacker registers a writer of their own by editing the config (its MAC no longer
    // verifies, which only a master-key holder can tell) and writes a backup with it.
    let attacker = Arc::new(WriterKey::generate().unwrap());
    let mut doc: serde_json::Value = serde_json::from_slice(&storage.get_bytes("config").await.unwrap()).unwrap();
    let planted =
        serde_json::json!({"id": hex::encode(attacker.public().id()), "public_key": attacker.public().to_string()});
    doc["writers"].as_array_mut().unwrap().push(planted);
    storage.put_bytes("config", Bytes::from(serde_json::to_vec_pretty(&doc).unwrap())).await.unwrap();
    let as_attacker = OpenOptions { writer_key: Some(attacker), ..Default::default() };
    let forger = Repository::open_with(storage.clone(), Credential::WriteOnly(vec![identity.public()]), as_attacker)
        .await
        .unwrap();
    let forged = forger.backup_stream(&b"forged"[..], request("forged")).await.unwrap();

    let reader = open_reader(trust_in(state.path())).await.unwrap();
    let err = reader.load_manifest(&forged.id).await.unwrap_err();
    // Unpinned signers: the CLI's hint (hints.rs) names --trust-new-signers for this variant.
    assert!(matches!(err, RepoError::SignerNotPinned { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&forged.id) && text.contains("possibly forged"), "{text}");
    assert_eq!(restore(&reader, &real.id).await, b"genuine", "the genuine backup stopped opening");
    // A master-key holder notices the edit outright.
    assert!(Repository::open(storage.clone(), pw("pw")).await.is_err(), "the edited config was accepted");
    // Trusting the listed signers on purpose (after checking `key list`) accepts it.
    let trusting = OpenOptions { trust_new_signers: true, ..trust_in(state.path()) };
    let reader = open_reader(trusting).await.unwrap();
    assert_eq!(restore(&reader, &forged.id).await, b"forged");
}

/// Item 9: a backup that opened the repository before a `key rotate` finished is sealed
/// for the new master key, or fails loudly when its credential cannot open that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_after_a_concurrent_rotation_is_sealed_for_the_new_key() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mut admin = Repository::init(storage.clone(), pw("main"), cheap()).await.unwrap();
    admin.add_slot(pw("other"), Argon2Params::MINIMUM, None).await.unwrap();
    let same = Repository::open(storage.clone(), pw("main")).await.unwrap();
    let other = Repository::open(storage.clone(), pw("other")).await.unwrap();
    let old_id = same.config().master_key_id.clone();
    let report = admin.rotate_master_key().await.unwrap();

    let m = same.backup_stream(&b"after rotation"[..], request("late")).await.unwrap();
    let fresh = Repository::open(storage.clone(), pw("main")).await.unwrap();
    assert_eq!(restore(&fresh, &m.id).await, b"after rotation");

    let err = other.backup_stream(&b"lost"[..], request("lost")).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&old_id) && text.contains(&report.new_key_id) && text.contains("NOT committed"), "{text}");
    assert_eq!(fresh.list().await.unwrap().0.len(), 1, "the failed backup was listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_opened_before_a_rotation_is_told_to_reopen_not_that_manifests_are_damaged() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    Repository::init(storage.clone(), pw("pw"), cheap()).await.unwrap();
    let stale = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    let m = stale.backup_stream(&b"x"[..], request("x")).await.unwrap();
    let mut rotating = Repository::open(storage.clone(), pw("pw")).await.unwrap();
    rotating.rotate_master_key().await.unwrap();
    let err = stale.load_manifest(&m.id).await.unwrap_err();
    assert!(matches!(err, RepoError::Key(_)) && err.to_string().contains("open the repository again"), "{err}");
    assert_eq!(restore(&Repository::open(storage, pw("pw")).await.unwrap(), &m.id).await, b"x");
}
