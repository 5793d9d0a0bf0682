//! Shows what the integration tests would talk to: the env file the server scripts wrote,
//! the services it names (passwords masked) and a name no other test run uses.
//!
//! `bash scripts/services.sh start && cargo run -p lifeboat-testkit --example services`

use lifeboat_testkit::env::{env_value, services_env_file};

fn main() {
    println!("services env file: {}", services_env_file().display());
    for var in ["LIFEBOAT_TEST_PG_URL", "LIFEBOAT_TEST_MYSQL_URL", "LIFEBOAT_TEST_REDIS_URL"] {
        match env_value(var) {
            Some(url) => println!("{var} = {}", lifeboat_storage::redact_url(&url)),
            None => println!("{var} is not set: the tests that need it fail until `scripts/services.sh start` ran"),
        }
    }
    println!("a fresh test name: {}", lifeboat_testkit::unique("example"));
}
