//! `lifeboat-es-double` (`publish = false`, a dev-dependency only): a wire-level Elasticsearch test
//! double, a spec-checking proxy for real clusters, and a harness that runs the same test against
//! both.
//!
//! No real Elasticsearch can be installed on the build machines, so the tests talk to
//! [`EsDouble`], which answers only what the REST spec in `shared/es-rest-api-spec` declares.
//! When `LIFEBOAT_TEST_ES_URL` is set, [`TestCluster::all`] also yields the real cluster, reached
//! through a [`SpecProxy`] that checks every request the client makes against the same spec.
//!
//! It depends on no Lifeboat crate: its spec matcher, wildcard matcher and upstream transport are
//! its own, so a bug in `lifeboat-es` cannot hide behind the same bug in its test double.

mod harness;
mod node;
mod proxy;
mod raw;
mod serve;
pub mod spec;
mod upstream;
mod wildcard;

pub use harness::{ENV_TEST_ES_REPO_DIR, ENV_TEST_ES_URL, TestCluster};
pub use node::{BlobStore, DoubleAuth, DoubleConfig, EsDouble, IndexSeed, RecordedRequest, StoredSnapshot};
pub use proxy::SpecProxy;
pub use raw::send_raw;
pub use spec::{ENV_SPEC_DIR, RestSpec, default_spec_root};
pub use upstream::Upstream;
