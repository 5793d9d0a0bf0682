//! Named export files on a directory and on S3 (s3s-fs), their expiry, foreign files left
//! alone, and an export encrypted for a recipient read back by the Python decoder.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use lifeboat_crypto::Identity;
use lifeboat_export::manifest::SIDECAR_SUFFIX;
use lifeboat_export::{
    Compression, Destination, ExpiryRules, ExportKind, ExportManifest, ExportStatus, NameTemplate, clean, open_export,
    write_manifest,
};
use lifeboat_retention::Expiry;
use lifeboat_storage::{FsStorage, S3Options, S3Storage, Storage, StorageExt, StorageUrl};
use lifeboat_testkit::names::unique_dashed;
use lifeboat_testkit::server_env;

/// A small files export in a staging directory, made `age` ago.
fn staged(age: TimeDelta) -> (tempfile::TempDir, ExportManifest) {
    let staging = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("app.yaml"), "db:\n  password: hunter2\n  host: h\n").unwrap();
    let out = lifeboat_export::files::export_files(&[src.path().to_path_buf()], &["password".into()], staging.path())
        .unwrap();
    let mut m = ExportManifest::new(lifeboat_export::new_id().unwrap(), ExportKind::Files, "test");
    m.plan = Some("logplat".into());
    m.files = out.files;
    m.redactions = out.redactions;
    m.created = (Utc::now() - age).to_rfc3339();
    write_manifest(staging.path(), &m).unwrap();
    (staging, m)
}

fn destination(storage: Arc<dyn Storage>, compression: Compression) -> Destination {
    Destination { storage, name: NameTemplate::default(), compression, recipients: Vec::new() }
}

/// Three days old (expired at 2 days), one day old (kept), a failed one 30 h old (expired at
/// 1 day), a failed one 2 h old (kept), and foreign files; then the clean.
async fn naming_and_expiry(storage: Arc<dyn Storage>) {
    let zst = destination(storage.clone(), Compression::Zst);
    let gz = destination(storage.clone(), Compression::Gz);
    let (s_old, m_old) = staged(TimeDelta::days(3));
    let (s_new, m_new) = staged(TimeDelta::days(1));
    let old = gz.deliver(s_old.path(), &m_old).await.unwrap();
    let new = zst.deliver(s_new.path(), &m_new).await.unwrap();
    let (_, mut m_fail_old) = staged(TimeDelta::hours(30));
    m_fail_old.status = ExportStatus::Failed;
    let fail_old = gz.record_failure(&m_fail_old, "connection refused").await.unwrap();
    let (_, m_fail_new) = staged(TimeDelta::hours(2));
    let fail_new = gz.record_failure(&m_fail_new, "connection refused").await.unwrap();

    // {plan}_{id}_{time:%Y%m%d%H%M%S}_{random:10}.tar.gz
    let old_name = old.file.clone().unwrap();
    let stamp = m_old.created_at().unwrap().format("%Y%m%d%H%M%S").to_string();
    let prefix = format!("logplat_{}_{stamp}_", m_old.id);
    assert!(old_name.starts_with(&prefix) && old_name.ends_with(".tar.gz"), "{old_name}");
    let random = &old_name[prefix.len()..old_name.len() - ".tar.gz".len()];
    assert!(random.len() == 10 && random.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{random}");
    assert!(new.file.as_deref().unwrap().ends_with(".tar.zst"));
    assert_eq!(old.manifest_file, format!("{old_name}{SIDECAR_SUFFIX}"));

    // The stored file is the export: unpack it and find the redacted configuration.
    let local = tempfile::tempdir().unwrap();
    for d in [&old, &new] {
        let name = d.file.clone().unwrap();
        let path = local.path().join(&name);
        std::fs::write(&path, storage.get_bytes(&name).await.unwrap()).unwrap();
        let opened = open_export(&path).unwrap();
        let yaml = opened.manifest.files.iter().find(|f| f.path.ends_with("app.yaml")).unwrap();
        let text = std::fs::read_to_string(opened.dir.join(&yaml.path)).unwrap();
        assert_eq!(text, "db:\n  password: \"***REDACTED***\"\n  host: h\n");
        assert_eq!(opened.manifest.redactions[0].key, "password");
    }
    let side = ExportManifest::parse(&storage.get_bytes(&old.manifest_file).await.unwrap()).unwrap();
    assert_eq!(side.archive.as_ref().unwrap().bytes, old.bytes);

    // Not Lifeboat's: no manifest, a manifest of something else, a manifest naming another file.
    storage.put_bytes("notes.txt", Bytes::from_static(b"keep me")).await.unwrap();
    storage.put_bytes("someone_else_20200101000000_abcdefghij.tar.gz", Bytes::from_static(b"x")).await.unwrap();
    storage.put_bytes("odd.tar.gz", Bytes::from_static(b"x")).await.unwrap();
    storage
        .put_bytes(&format!("odd.tar.gz{SIDECAR_SUFFIX}"), Bytes::from_static(b"{\"format\":\"other\"}"))
        .await
        .unwrap();
    let mut stolen = side.clone();
    stolen.created = "2000-01-01T00:00:00Z".into();
    storage.put_bytes("victim.tar.gz", Bytes::from_static(b"precious")).await.unwrap();
    storage.put_bytes(&format!("victim.tar.gz{SIDECAR_SUFFIX}"), Bytes::from(stolen.to_json())).await.unwrap();

    let rules = ExpiryRules { ok: Expiry::days(2), failed: Expiry::days(1) };
    let dry = clean(&*storage, rules, Utc::now(), true).await.unwrap();
    let mut expected = [old_name.clone(), fail_old.manifest_file.trim_end_matches(SIDECAR_SUFFIX).to_string()];
    expected.sort();
    assert_eq!(dry.deleted(), expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(storage.head(&old_name).await.unwrap().is_some(), "a dry run deletes nothing");

    let report = clean(&*storage, rules, Utc::now(), false).await.unwrap();
    assert_eq!(report.deleted(), dry.deleted());
    let left: Vec<String> = storage.list_all("").await.unwrap().into_iter().map(|m| m.key).collect();
    let mut want = vec![
        new.file.clone().unwrap(),
        new.manifest_file.clone(),
        fail_new.manifest_file.clone(),
        "notes.txt".into(),
        "odd.tar.gz".into(),
        format!("odd.tar.gz{SIDECAR_SUFFIX}"),
        "someone_else_20200101000000_abcdefghij.tar.gz".into(),
        "victim.tar.gz".into(),
        format!("victim.tar.gz{SIDECAR_SUFFIX}"),
    ];
    want.sort();
    assert_eq!(left, want);
    let foreign = report.items.iter().find(|i| i.name == "notes.txt").unwrap();
    assert!(!foreign.delete && foreign.status.is_none() && foreign.reason.contains("never deleted"), "{foreign:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn naming_and_expiry_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    naming_and_expiry(Arc::new(FsStorage::new(dir.path()))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn naming_and_expiry_on_s3() {
    let env: HashMap<String, String> = server_env(
        "test-s3.env",
        "scripts/s3-server.sh",
        &["LIFEBOAT_TEST_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    );
    let endpoint = &env["LIFEBOAT_TEST_S3_ENDPOINT"];
    let bucket = unique_dashed("lbx");
    let url = format!("s3://{bucket}/exports/logplat?endpoint={endpoint}&region=us-east-1");
    let StorageUrl::S3(opts) = StorageUrl::parse(&url).unwrap() else { panic!("{url}") };
    let opts: S3Options = opts;
    let s3 = S3Storage::with_static_credentials(opts, &env["AWS_ACCESS_KEY_ID"], &env["AWS_SECRET_ACCESS_KEY"]);
    s3.sdk_client().await.create_bucket().bucket(&bucket).send().await.unwrap();
    naming_and_expiry(Arc::new(s3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_for_a_recipient_and_read_by_the_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::new(dir.path()));
    let identity = Identity::generate().unwrap();
    let mut dest = destination(storage.clone(), Compression::Gz);
    dest.recipients = vec![identity.public()];
    let (staging, m) = staged(TimeDelta::zero());
    let d = dest.deliver(staging.path(), &m).await.unwrap();
    let name = d.file.unwrap();
    assert!(name.ends_with(".tar.gz.lbx"), "{name}");
    let side = ExportManifest::parse(&storage.get_bytes(&d.manifest_file).await.unwrap()).unwrap();
    assert_eq!(side.archive.unwrap().recipients, [identity.public().to_string()]);
    let sealed = dir.path().join(&name);
    assert!(!std::fs::read(&sealed).unwrap().windows(7).any(|w| w == b"hunter2"));
    assert!(open_export(&sealed).is_err(), "an encrypted export is not read without its key");

    let work = tempfile::tempdir().unwrap();
    let id_file = work.path().join("me.key");
    std::fs::write(&id_file, format!("{}\n", identity.to_text().as_str())).unwrap();
    let plain = work.path().join("export.tar.gz");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/lifeboat_decode.py"))
        .arg("--export-file")
        .arg(&sealed)
        .arg("--identity-file")
        .arg(&id_file)
        .arg("--out")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let opened = open_export(&plain).unwrap();
    assert_eq!(opened.manifest.id, m.id);

    // Another identity cannot read it.
    let other = Identity::generate().unwrap();
    std::fs::write(&id_file, format!("{}\n", other.to_text().as_str())).unwrap();
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/lifeboat_decode.py"))
        .args(["--export-file".as_ref(), sealed.as_os_str(), "--identity-file".as_ref(), id_file.as_os_str()])
        .args(["--out", "-"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key slot"), "{}", String::from_utf8_lossy(&out.stderr));
}
