//! Test support shared by the Lifeboat crates' integration tests (a dev-dependency only).
//!
//! Each module does one job: where the test services are ([`env`](mod@env)), names no other
//! test uses ([`names`]), service URLs taken apart and rewritten ([`urls`]), SQL through the
//! client tools ([`sql`]), Redis through a small RESP client ([`resp`]) or a private server
//! ([`redis_server`]), a private PostgreSQL cluster to stop and start ([`pg_server`]), data
//! sets and fingerprints of the three servers ([`datasets`]), clean-up of what a test created
//! ([`cleanup`]), files and bytes ([`files`]), process inspection ([`process`]), injected
//! failures ([`failing`]), and a clock the test moves ([`clock`]).
//!
//! Everything here fails (panics with instructions) when a service is missing: the tests
//! that use it never skip, so a missing server in CI is a red build, not a green one.

pub mod cleanup;
pub mod clock;
pub mod datasets;
pub mod env;
pub mod failing;
pub mod files;
pub mod names;
pub mod pg_server;
pub mod process;
pub mod redis_server;
pub mod resp;
pub mod sql;
pub mod urls;

pub use cleanup::Cleanup;
pub use clock::{ClockedStorage, ManualClock};
pub use env::{env_value, mysql_url, notify_env, pg_url, redis_url, server_env, service_url};
pub use names::unique;
pub use resp::{R, Redis};
pub use urls::{closed_port, parse, password_of, with_password, with_path, with_port, with_user, without_password};
