//! The tamper matrix: damage a stored object in each way docs/FORMAT.md says a reader must
//! detect, then check that `verify` and `verify --deep` exit 3 naming the object, that
//! `restore --stdout` fails after writing only a prefix of the true plaintext, and that
//! `restore --target` fails without creating the target.

use std::path::{Path, PathBuf};

use crate::common::*;

const SEGMENT: usize = 65_536;
/// Four full segments and a partial fifth.
const SIZE: usize = 4 * SEGMENT + 30_000;

/// Two stream backups of equal shape in one repository.
struct Fixture {
    env: Env,
    a_id: String,
    a_data: Vec<u8>,
    a_key: String,
    b_id: String,
    b_key: String,
}

impl Fixture {
    fn new() -> Fixture {
        let env = Env::init_with(Some(SEGMENT as u32));
        let a_data = random_bytes(SIZE, 1);
        let a_id = env.backup_stdin("a", &a_data);
        let b_id = env.backup_stdin("b", &random_bytes(SIZE, 2));
        let a_key = env.object_key(&a_id, "stream");
        let b_key = env.object_key(&b_id, "stream");
        env.run(&["verify", "--deep"], b"").ok();
        let f = Fixture { env, a_id, a_data, a_key, b_id, b_key };
        let (header, segs) = segments(&f.read(&f.a_key));
        assert_eq!(header, 74);
        assert_eq!(segs.len(), 5, "fixture object should have 5 segments");
        f
    }

    fn file(&self, key: &str) -> PathBuf {
        self.env.repo.join(key)
    }

    fn read(&self, key: &str) -> Vec<u8> {
        std::fs::read(self.file(key)).unwrap_or_else(|e| panic!("read {key}: {e}"))
    }

    fn write(&self, key: &str, bytes: &[u8]) {
        std::fs::write(self.file(key), bytes).unwrap_or_else(|e| panic!("write {key}: {e}"));
    }

    /// Rewrites backup A's data object from its header and a new list of segments.
    fn rebuild_a(&self, f: impl FnOnce(&[u8], Vec<Vec<u8>>) -> Vec<Vec<u8>>) {
        let object = self.read(&self.a_key);
        let (header, segs) = segments(&object);
        let segs = segs.into_iter().map(|r| object[r].to_vec()).collect();
        let mut out = object[..header].to_vec();
        for s in f(&object, segs) {
            out.extend_from_slice(&s);
        }
        self.write(&self.a_key, &out);
    }

    /// Runs every check. `damaged_key` is the key the messages must name (A's object, or
    /// its manifest); `b_intact` says whether backup B must still verify.
    fn check(&self, case: &str, damaged_key: &str, b_intact: bool) {
        let env = &self.env;
        // Every expectation is checked and all deviations are reported together.
        let mut problems = Problems::default();
        let mut verify = |args: Vec<&str>| {
            let out = env.run(&args, b"");
            out.no_panic();
            problems.expect(out.code == EXIT_DAMAGE, || {
                format!("`{}` exited {}, not 3:\n{}", out.what, out.code, out.all())
            });
            problems.expect(out.all().contains(damaged_key), || {
                format!("`{}` does not name {damaged_key}:\n{}", out.what, out.all())
            });
        };
        verify(vec!["verify"]);
        verify(vec!["verify", "--deep"]);
        verify(vec!["verify", self.a_id.as_str()]);
        verify(vec!["verify", self.a_id.as_str(), "--deep"]);
        if b_intact {
            for args in [vec!["verify", self.b_id.as_str()], vec!["verify", self.b_id.as_str(), "--deep"]] {
                let out = env.run(&args, b"");
                problems
                    .expect(out.code == EXIT_OK, || format!("the intact backup B: `{}` exited {}", out.what, out.code));
            }
        }

        let out = env.run(&["restore", &self.a_id, "--stdout"], b"");
        out.no_panic();
        problems.expect(out.code == EXIT_FAILURE, || format!("restore --stdout exited {}:\n{}", out.code, out.stderr));
        problems.expect(out.stderr.contains(damaged_key), || {
            format!("restore --stdout does not name {damaged_key}:\n{}", out.stderr)
        });
        // Only authenticated bytes may be written: a prefix of the true plaintext (for
        // damage after the final segment, that prefix may be all of it; the exit code says
        // the restore failed).
        problems.expect(self.a_data.starts_with(&out.stdout), || {
            format!("restore --stdout wrote {} bytes that are not a prefix of the plaintext", out.stdout.len())
        });

        let target = env.path(&format!("restore-{case}"));
        let out = env.run(&["restore", &self.a_id, "--target", target.to_str().expect("utf-8")], b"");
        out.no_panic();
        problems.expect(out.code == EXIT_FAILURE, || format!("restore --target exited {}:\n{}", out.code, out.stderr));
        problems.expect(out.stderr.contains(damaged_key), || {
            format!("restore --target does not name {damaged_key}:\n{}", out.stderr)
        });
        problems.expect(!target.exists(), || format!("a failed restore created {}", target.display()));
        assert_no_staging(env.tmp.path(), case);
        problems.assert_none(case);
    }
}

/// Deviations collected during one case.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn expect(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }

    #[track_caller]
    fn assert_none(self, case: &str) {
        assert!(self.0.is_empty(), "{case}: {} problem(s):\n- {}", self.0.len(), self.0.join("\n- "));
    }
}

/// `restore ID --target` of a files backup whose object `key` is damaged fails naming the
/// object, publishes no tree and leaves no staging folder.
fn expect_restore_target_refused(env: &Env, id: &str, key: &str, case: &str, problems: &mut Problems) {
    let target = env.path(&format!("restored-{case}"));
    let out = env.run(&["restore", id, "--target", target.to_str().expect("utf-8")], b"");
    out.no_panic();
    problems.expect(out.code == EXIT_FAILURE, || {
        format!("{case}: restore --target of a damaged object exited {}:\n{}", out.code, out.stderr)
    });
    problems.expect(out.stderr.contains(key), || format!("{case}: restore --target does not name {key}"));
    problems
        .expect(!target.exists(), || format!("{case}: a damaged files backup was restored into {}", target.display()));
    assert_no_staging(env.tmp.path(), case);
}

fn assert_no_staging(dir: &Path, case: &str) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lifeboat-restore"))
        .collect();
    assert!(left.is_empty(), "{case}: staging folders left behind: {left:?}");
}

#[test]
fn flipped_header_byte() {
    let f = Fixture::new();
    let mut object = f.read(&f.a_key);
    object[20] ^= 0x01; // inside the object id
    f.write(&f.a_key, &object);
    f.check("header", &f.a_key, true);
}

#[test]
fn flipped_byte_in_first_segment_body() {
    let f = Fixture::new();
    let mut object = f.read(&f.a_key);
    let (_, segs) = segments(&object);
    object[segs[0].start + 4 + 1000] ^= 0x80;
    f.write(&f.a_key, &object);
    f.check("first-segment", &f.a_key, true);
}

#[test]
fn flipped_byte_in_final_tag() {
    let f = Fixture::new();
    let mut object = f.read(&f.a_key);
    let n = object.len();
    object[n - 7] ^= 0x10; // within the last 16 bytes: the final segment's tag
    f.write(&f.a_key, &object);
    f.check("final-tag", &f.a_key, true);
}

#[test]
fn truncated_at_segment_boundary() {
    let f = Fixture::new();
    let object = f.read(&f.a_key);
    let (_, segs) = segments(&object);
    // Everything but the final segment: every remaining segment authenticates on its own.
    f.write(&f.a_key, &object[..segs[4].start]);
    f.check("truncated-boundary", &f.a_key, true);
}

#[test]
fn truncated_after_header() {
    let f = Fixture::new();
    let object = f.read(&f.a_key);
    f.write(&f.a_key, &object[..74]);
    f.check("truncated-header", &f.a_key, true);
}

#[test]
fn truncated_mid_segment() {
    let f = Fixture::new();
    let object = f.read(&f.a_key);
    let (_, segs) = segments(&object);
    let cut = segs[2].start + (segs[2].end - segs[2].start) / 2;
    f.write(&f.a_key, &object[..cut]);
    f.check("truncated-mid", &f.a_key, true);
}

#[test]
fn dropped_segment() {
    let f = Fixture::new();
    f.rebuild_a(|_, mut segs| {
        segs.remove(1);
        segs
    });
    f.check("dropped", &f.a_key, true);
}

#[test]
fn swapped_segments() {
    let f = Fixture::new();
    f.rebuild_a(|_, mut segs| {
        segs.swap(1, 2);
        segs
    });
    f.check("swapped", &f.a_key, true);
}

#[test]
fn duplicated_segment() {
    let f = Fixture::new();
    f.rebuild_a(|_, mut segs| {
        let copy = segs[1].clone();
        segs.insert(2, copy);
        segs
    });
    f.check("duplicated", &f.a_key, true);
}

#[test]
fn duplicated_final_segment() {
    let f = Fixture::new();
    f.rebuild_a(|_, mut segs| {
        let copy = segs[4].clone();
        segs.push(copy);
        segs
    });
    f.check("duplicated-final", &f.a_key, true);
}

#[test]
fn spliced_segment_from_another_backup() {
    let f = Fixture::new();
    let other = f.read(&f.b_key);
    let (_, other_segs) = segments(&other);
    let foreign = other[other_segs[1].clone()].to_vec();
    f.rebuild_a(|_, mut segs| {
        segs[1] = foreign;
        segs
    });
    f.check("spliced", &f.a_key, true);
}

#[test]
fn swapped_data_objects_between_backups() {
    let f = Fixture::new();
    let (a, b) = (f.file(&f.a_key), f.file(&f.b_key));
    let tmp = f.env.path("swap.tmp");
    std::fs::rename(&a, &tmp).expect("rename");
    std::fs::rename(&b, &a).expect("rename");
    std::fs::rename(&tmp, &b).expect("rename");
    f.check("swapped-objects", &f.a_key, false);
    // B is damaged the same way and named on its own.
    let out = f.env.run(&["verify", &f.b_id, "--deep"], b"");
    out.code(EXIT_DAMAGE).output_has(&f.b_key);
}

#[test]
fn manifest_overwritten_with_another_backups_manifest() {
    let f = Fixture::new();
    let a_manifest = format!("backups/{}", f.a_id);
    let b_manifest = format!("backups/{}", f.b_id);
    let other = f.read(&b_manifest);
    f.write(&a_manifest, &other);
    f.check("manifest", &a_manifest, true);
    // The listing still shows B and no backup twice.
    let out = f.env.run(&["list", "--json"], b"");
    assert!(ids_of(&out.json()).iter().filter(|id| **id == f.b_id).count() == 1, "B listed once: {}", out.text());
}

#[test]
fn damaged_files_backup_is_not_restored() {
    let env = Env::init_with(Some(SEGMENT as u32));
    let src = env.path("tree");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    std::fs::write(src.join("sub/big.bin"), random_bytes(5 * SEGMENT, 7)).expect("write");
    std::fs::write(src.join("small.txt"), "small\n").expect("write");
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    let key = env.object_key(&id, "tree");
    let path = env.repo.join(&key);
    let mut object = std::fs::read(&path).expect("read");
    let (_, segs) = segments(&object);
    let last = segs.last().expect("segments").clone();
    object[last.start + 10] ^= 0x01;
    std::fs::write(&path, &object).expect("write");

    env.run(&["verify"], b"").code(EXIT_DAMAGE).output_has(&key);
    env.run(&["verify", "--deep"], b"").code(EXIT_DAMAGE).output_has(&key);
    let target = env.path("restored");
    let out = env.run(&["restore", &id, "--target", target.to_str().expect("utf-8")], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has(&key);
    assert!(!target.exists(), "a damaged files backup was partly restored into {}", target.display());
    assert_no_staging(env.tmp.path(), "files");
}

/// A tar stream ends with two 512-byte zero blocks, and a tar reader stops at the first.
/// When the final segment of a files backup holds nothing but the second zero block, a
/// restore that stops reading with the tar reader never authenticates that segment nor
/// checks the recorded digests. Damage there must still fail the restore.
#[test]
fn files_backup_damaged_in_a_trailing_zero_block_segment_is_refused() {
    let env = Env::init_with(Some(SEGMENT as u32));
    let src = env.path("t");
    std::fs::create_dir(&src).expect("mkdir");
    // dir header (512) + file header (512) + data + end marker (1024) = 2 segments + 512 bytes.
    let file_len = 2 * SEGMENT - 1536;
    std::fs::write(src.join("f"), random_bytes(file_len, 9)).expect("write");
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    let show = env.show(&id);
    assert_eq!(
        show["objects"][0]["plain_size"],
        (2 * SEGMENT + 512) as u64,
        "test setup: the tar stream should end 512 bytes into a third segment: {show}"
    );
    let key = env.object_key(&id, "tree");
    let path = env.repo.join(&key);
    let original = std::fs::read(&path).expect("read");
    let (_, segs) = segments(&original);
    assert_eq!(segs.len(), 3);

    let mut flipped = original.clone();
    flipped[segs[2].start + 8] ^= 0x01;
    let truncated = original[..segs[2].start].to_vec();
    let mut problems = Problems::default();
    for (case, bytes) in [("flipped-final", flipped), ("dropped-final", truncated)] {
        std::fs::write(&path, &bytes).expect("write");
        let out = env.run(&["verify", "--deep"], b"");
        problems.expect(out.code == EXIT_DAMAGE && out.all().contains(&key), || {
            format!("{case}: verify --deep exited {} without naming {key}:\n{}", out.code, out.all())
        });
        expect_restore_target_refused(&env, &id, &key, case, &mut problems);
    }
    problems.assert_none("files backup, damage in the trailing segment");
}

/// FORMAT.md 3.3: nothing may follow the final segment. A files backup is restored by a tar
/// reader that stops at the end-of-archive marker, so the bytes after it must still be
/// checked before the tree is published.
#[test]
fn files_backup_with_bytes_after_the_final_segment_is_refused() {
    let env = Env::init_with(Some(SEGMENT as u32));
    let src = env.path("t");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("f"), random_bytes(3 * SEGMENT + 1000, 10)).expect("write");
    let id = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    let key = env.object_key(&id, "tree");
    let path = env.repo.join(&key);
    let original = std::fs::read(&path).expect("read");
    let (_, segs) = segments(&original);
    let last = original[segs.last().expect("segments").clone()].to_vec();

    let mut problems = Problems::default();
    let appended_segment = [original.as_slice(), &last].concat();
    let appended_garbage = [original.as_slice(), b"trailing garbage"].concat();
    for (case, bytes) in [("appended-final-segment", appended_segment), ("appended-garbage", appended_garbage)] {
        std::fs::write(&path, &bytes).expect("write");
        for args in [&["verify"][..], &["verify", "--deep"]] {
            let out = env.run(args, b"");
            problems.expect(out.code == EXIT_DAMAGE && out.all().contains(&key), || {
                format!("{case}: `{}` exited {} without naming {key}:\n{}", out.what, out.code, out.all())
            });
        }
        let out = env.run(&["restore", &id, "--stdout"], b"");
        problems.expect(out.code == EXIT_FAILURE, || format!("{case}: restore --stdout exited {}", out.code));
        expect_restore_target_refused(&env, &id, &key, case, &mut problems);
    }
    problems.assert_none("files backup with bytes after the final segment");
}

/// Issue 9, item 10: one flipped bit in the newest manifest's master-slot key id used to make
/// it "sealed for recipients only": `verify` exited 0 and `restore latest` returned the
/// previous backup. It is damage, named, and `latest` refuses to guess.
#[test]
fn flipped_bit_in_a_master_slot_key_id_is_damage_and_latest_does_not_fall_back() {
    let f = Fixture::new();
    let key = format!("backups/{}", f.b_id);
    let mut manifest = f.read(&key);
    // Fixed header (72), slot count (2), the first slot's type (1) and length (2): key id.
    manifest[77] ^= 0x01;
    f.write(&key, &manifest);
    let env = &f.env;
    for args in [vec!["verify"], vec!["verify", "--deep"], vec!["verify", f.b_id.as_str()], vec!["verify", "--json"]] {
        let out = env.run(&args, b"");
        out.code(EXIT_DAMAGE).no_panic();
        assert!(out.all().contains(&key), "`{}` does not name {key}:\n{}", out.what, out.all());
        assert!(out.all().contains("master-key slot"), "`{}`:\n{}", out.what, out.all());
        assert!(out.all().contains("does not open (damaged or forged"), "`{}`:\n{}", out.what, out.all());
    }
    let out = env.run(&["verify", "--json"], b"");
    let damage = &out.json()["damage"][0];
    assert_eq!((damage["backup"].as_str(), damage["object"].as_str()), (Some(f.b_id.as_str()), Some(key.as_str())));
    // The older backup is not handed out as the latest.
    let out = env.run(&["restore", "latest", "--stdout"], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has(&key).stderr_has(&f.a_id);
    assert!(out.stdout.is_empty(), "restore latest wrote {} bytes", out.stdout.len());
    // By id, the intact older backup still restores, and the damaged one is refused.
    assert_eq!(env.restore_stdout(&f.a_id), f.a_data);
    env.run(&["restore", &f.b_id, "--stdout"], b"").code(EXIT_FAILURE).no_panic().stderr_has("master-key slot");
    env.run(&["list"], b"").code(EXIT_FAILURE).no_panic().stderr_has(&key);
}

/// Issue 9, item 13: a replica of the right size but the wrong bytes (left by an interrupted
/// copy, or rotted) used to count as copied. `sync` reads it back, sees the digest differ and
/// sends it again.
#[test]
fn sync_sends_again_a_corrupt_replica_of_the_same_size() {
    let f = Fixture::new();
    let offsite = Env::init_v2();
    let to = offsite.repo.to_str().expect("utf-8").to_owned();
    let sync = || {
        let mut cmd = f.env.cmd(&["sync", "--to", &to]);
        cmd.env("LIFEBOAT_TO_PASSWORD", PASSWORD);
        run(cmd, b"")
    };
    sync().ok().no_panic();
    // The copy of A's data object rots (same size), and A's manifest is gone there, as after
    // an interrupted copy.
    let replica = offsite.repo.join(&f.a_key);
    let mut bytes = std::fs::read(&replica).expect("replica");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&replica, &bytes).expect("write replica");
    std::fs::remove_file(offsite.repo.join(format!("backups/{}", f.a_id))).expect("remove manifest");
    let out = sync();
    out.ok().no_panic().output_has(&format!("re-sent {}", f.a_key)).output_has("copied 1 backup(s)");
    assert_eq!(std::fs::read(&replica).expect("replica"), f.read(&f.a_key), "the replica was not repaired");
    offsite.run(&["verify", "--deep"], b"").ok();
    assert_eq!(offsite.restore_stdout(&f.a_id), f.a_data);
}

/// The repository's master key, unwrapped from its password slot as FORMAT.md 2.1 says, so
/// that a test can seal a manifest a buggy or hostile writer could make.
fn master_key(env: &Env) -> ([u8; 8], lifeboat_crypto::SecretKey) {
    let unhex = |v: &serde_json::Value| -> Vec<u8> {
        let s = v.as_str().expect("hex string");
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    };
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.repo.join("config")).expect("config")).expect("json");
    let (slot, kdf) = (&config["slots"][0], &config["slots"][0]["kdf"]);
    let num = |v: &serde_json::Value| u32::try_from(v.as_u64().expect("number")).expect("u32");
    let params = lifeboat_crypto::Argon2Params {
        memory_kib: num(&kdf["memory_kib"]),
        iterations: num(&kdf["iterations"]),
        parallelism: num(&kdf["parallelism"]),
    };
    let kek = lifeboat_crypto::password_kek(PASSWORD.as_bytes(), &unhex(&kdf["salt"]), params).expect("kek");
    let aad = [b"lifeboat/v1/slot".as_slice(), &unhex(&config["id"]), &unhex(&slot["id"])].concat();
    let nonce: [u8; 12] = unhex(&slot["nonce"]).try_into().expect("nonce");
    let master = lifeboat_crypto::unwrap_key(&kek, &nonce, &aad, &unhex(&slot["wrapped"])).expect("slot opens");
    (unhex(&config["master_key_id"]).try_into().expect("key id"), master)
}

/// Issue 9, item 11: an `object_id` with a multibyte character used to panic `list` (exit
/// 101) where the manifest's ids were sliced. Ids are checked on parse: the manifest is
/// reported by name, the other backups are listed, nothing panics.
#[test]
fn a_manifest_whose_object_id_is_not_hex_is_reported_not_a_panic() {
    let f = Fixture::new();
    let key = format!("backups/{}", f.a_id);
    let (id, master) = master_key(&f.env);
    let mut ring = lifeboat_crypto::Keyring::new();
    ring.add_master(id, master.clone());
    let (_, plain) = lifeboat_crypto::open_bytes(&f.read(&key), &ring, 1 << 20).expect("manifest opens");
    let mut doc: serde_json::Value = serde_json::from_slice(&plain).expect("manifest json");
    doc["objects"][0]["object_id"] = serde_json::json!(format!("aé{}", "0".repeat(29)));
    let audience = lifeboat_crypto::Audience { master: Some((&id, &master)), recipients: &[] };
    let options = lifeboat_crypto::PipelineOptions { segment_size: 4096, compression_level: 3, parallelism: 1 };
    let object_id: [u8; 16] = (0..16)
        .map(|i| u8::from_str_radix(&f.a_id[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<_>>()
        .try_into()
        .expect("16 bytes");
    let body = serde_json::to_vec(&doc).expect("json");
    let sealed =
        lifeboat_crypto::seal_bytes(&body, lifeboat_crypto::ObjectKind::Manifest, object_id, audience, options)
            .expect("seal");
    f.write(&key, &sealed);
    let env = &f.env;
    let out = env.run(&["list"], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has(&key).stderr_has("object_id");
    assert!(out.text().contains(&f.b_id[..8]), "the intact backup is still listed:\n{}", out.all());
    env.run(&["verify"], b"").code(EXIT_DAMAGE).no_panic().output_has(&key);
    env.run(&["restore", &f.a_id, "--stdout"], b"").code(EXIT_FAILURE).no_panic().stderr_has("object_id");
}
