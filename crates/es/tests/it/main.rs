//! The integration tests of `lifeboat-es`, in one test binary (one link of the dependency tree):
//! each module runs against the Elasticsearch test double (`lifeboat-es-double`) and, when
//! `LIFEBOAT_TEST_ES_URL` is set, against a real cluster too.

mod common;
mod repositories;
mod restore;
mod snapshots_and_policies;
mod spec_proxy;
mod tenants;
