//! Creates an API token in a lifeboatd state file and prints it (once), the way
//! `lifeboat token create` does, for scripts that have only lifeboatd's crate built
//! (scripts/bench-api.sh):
//!
//! ```text
//! cargo run -p lifeboatd --example token -- STATE NAME SCOPE...
//! cargo run -p lifeboatd --example token -- /tmp/s/lifeboatd.sqlite bench read
//! ```
//!
//! The state may be held by a running lifeboatd: the token is then written through a second
//! handle on the file.

use lifeboat_ops::state::{Scope, StateOptions, StateStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: token STATE NAME SCOPE... (scopes: read, operate, admin, metrics)";
    let state = args.next().ok_or(usage)?;
    let name = args.next().ok_or(usage)?;
    let scopes = args.map(|s| s.parse::<Scope>()).collect::<Result<Vec<_>, _>>()?;
    if scopes.is_empty() {
        return Err(usage.into());
    }
    let mut store = match StateStore::open(&state) {
        Ok(store) => store,
        Err(_) => StateStore::attach(&state, StateOptions::default())?,
    };
    let token = store.create_token(&name, &scopes, None, chrono::Utc::now())?;
    println!("{}", token.secret.as_str());
    Ok(())
}
