//! The integration tests of lifeboat-http: one binary, a module per subject. Each test
//! starts a real service (state file, repository, plans in a temporary directory) and the
//! router on a free loopback port, and talks to it with a real HTTP client.

mod alerts;
mod audit;
mod auth;
mod common;
mod dashboard;
mod drills;
mod input;
mod jobs;
mod metrics;
mod notifications;
mod tls;
mod webdriver;
