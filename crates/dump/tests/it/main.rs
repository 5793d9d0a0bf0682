//! The integration tests of lifeboat-dump against real servers (scripts/services.sh starts
//! them; a missing one fails the tests): one test binary, one module per database kind, so
//! the dependency tree is linked once. Shared helpers come from lifeboat-testkit; `common`
//! holds what only these tests need.

mod all_databases;
mod common;
mod content;
mod mysql;
mod postgres;
mod redis;
mod scratch;
