//! End-to-end tests of the `lifeboat` binary: one test binary, one module per subject (as
//! ripgrep does), so the dependency tree is linked once. `common` holds the runner and the
//! repository helpers; service URLs and server helpers come from lifeboat-testkit.

mod alert_test;
mod audit;
mod cli_conventions;
mod cli_errors;
mod cli_filters;
mod cli_keys;
mod cli_list;
mod cli_newcomer;
mod cli_progress;
mod cli_remote;
mod cli_roundtrip;
mod cli_salvage;
mod cli_scope;
mod cli_tamper;
mod cli_v3;
mod common;
mod database;
mod dr;
mod es_cli;
mod export;
mod plans;
mod server_api;
mod tokens;
