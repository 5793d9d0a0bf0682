//! The integration tests of lifeboat-retention: one test binary, one module per subject, so
//! the crate and its dependencies are linked once. `common` holds the helpers they share.

mod common;
mod expiry;
mod plan_json;
mod policy_table;
mod properties;
mod safety;
