//! Test support (feature `test-support`): a wire-level Elasticsearch double, a spec-checking proxy
//! for real clusters, and a harness that runs the same test against both.
//!
//! No real Elasticsearch can be installed on the build machines, so the tests talk to
//! [`EsDouble`], which answers only what the REST spec in `shared/es-rest-api-spec` declares.
//! When `LIFEBOAT_TEST_ES_URL` is set, [`TestCluster::all`] also yields the real cluster, reached
//! through a [`SpecProxy`] that checks every request the client makes against the same spec.

mod double;
mod harness;
mod proxy;
pub mod spec;

use std::path::PathBuf;

pub use double::{BlobStore, DoubleAuth, DoubleConfig, EsDouble, IndexSeed, RecordedRequest, StoredSnapshot};
pub use harness::{ENV_TEST_ES_REPO_DIR, ENV_TEST_ES_URL, TestCluster};
pub use proxy::SpecProxy;
pub use spec::RestSpec;

/// Environment variable overriding where the REST spec lives.
pub const ENV_SPEC_DIR: &str = "LIFEBOAT_ES_SPEC_DIR";

/// The `es-rest-api-spec` directory: `$LIFEBOAT_ES_SPEC_DIR`, else `shared/es-rest-api-spec` beside
/// the checkout (`<workspace>/../shared`).
pub fn default_spec_root() -> PathBuf {
    match std::env::var_os(ENV_SPEC_DIR).filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/es-rest-api-spec")),
    }
}
