//! End-to-end tests of the `lifeboatd` binary: the real binary on a free loopback port with a
//! temporary config, real PostgreSQL and S3 from the test scripts, a real Prometheus. One
//! test binary, one module per subject; `common` holds the harness.

mod api;
mod check;
mod common;
mod drills;
mod lifecycle;
mod prometheus;
mod real_clock;
mod watching;
