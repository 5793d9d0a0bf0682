//! The integration tests of lifeboat-ops: one test binary, one module per subject (as ripgrep
//! does), so the dependency tree is linked once. Helpers shared with other crates' tests come
//! from lifeboat-testkit; `common` holds what only these tests need.

mod alerts;
mod assess;
mod audit;
mod common;
mod config;
mod credentials;
mod database;
mod database_v3;
mod dr;
mod es_plan;
mod export_config;
mod forget;
mod notifications;
mod policy;
mod run;
mod schedule;
mod service;
mod service_drill;
mod service_week;
mod state;
mod tokens;
