//! Helpers of the lifeboat-ops integration tests that only these tests need: a repository on
//! a temporary directory, also one whose storage fails mid-stream. The shared ones (service URLs,
//! datasets, fingerprints, process inspection) come from lifeboat-testkit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lifeboat_crypto::Argon2Params;
use lifeboat_repo::{Credential, InitOptions, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_testkit::failing::FailingStorage;
use lifeboat_testkit::files::all_files;

/// The repository password of every test repository.
pub const REPO_PASSWORD: &str = "ops test repository password";

// ---------------------------------------------------------------- repository

/// A repository on a temporary directory, with a cheap key derivation.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

/// Init options with the cheapest key derivation the library accepts and small segments,
/// in format 2: these tests damage and count format 2's data objects (`data/...`) and fail
/// storage after so many bytes of them. Format 3 sources are tested in `database_v3`.
pub fn cheap_init() -> InitOptions {
    InitOptions { kdf: Argon2Params::MINIMUM, segment_size: 64 * 1024, data_format: 2, ..Default::default() }
}

impl TestRepo {
    /// A new repository in a new temporary directory.
    pub async fn new() -> TestRepo {
        let dir = tempfile::Builder::new().prefix("lifeboat-ops-test-").tempdir().unwrap();
        let storage = Arc::new(FsStorage::new(dir.path()));
        let repo = Repository::init(storage, Credential::password(REPO_PASSWORD), cheap_init()).await.unwrap();
        TestRepo { dir, repo }
    }

    /// A new repository whose storage fails every `data/` upload after `limit` bytes.
    pub async fn failing_after(limit: u64) -> (TestRepo, Arc<FailingStorage>) {
        let dir = tempfile::Builder::new().prefix("lifeboat-ops-test-").tempdir().unwrap();
        let inner = Arc::new(FsStorage::new(dir.path()));
        Repository::init(inner.clone(), Credential::password(REPO_PASSWORD), cheap_init()).await.unwrap();
        let failing = Arc::new(FailingStorage::new(inner, limit));
        let repo = Repository::open(failing.clone(), Credential::password(REPO_PASSWORD)).await.unwrap();
        (TestRepo { dir, repo }, failing)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Every file under `<repo>/<sub>` (temporary files included).
    pub fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        all_files(&self.dir.path().join(sub))
    }

    /// The ids of the listed backups; fails on unreadable manifests.
    pub async fn listed(&self) -> Vec<String> {
        let (manifests, unreadable) = self.repo.list().await.unwrap();
        assert!(unreadable.is_empty(), "unreadable manifests: {unreadable:?}");
        manifests.into_iter().map(|m| m.id).collect()
    }

    /// Asserts that the repository holds no backup, no data object, no lock and no debris.
    pub async fn assert_empty_after_failure(&self, what: &str) {
        assert_eq!(self.listed().await, Vec::<String>::new(), "{what}: a failed backup was listed");
        assert_eq!(self.files_under("backups"), Vec::<PathBuf>::new(), "{what}: manifests left");
        assert_eq!(self.files_under("data"), Vec::<PathBuf>::new(), "{what}: data objects left");
        assert_eq!(self.files_under("locks"), Vec::<PathBuf>::new(), "{what}: locks left");
    }
}
