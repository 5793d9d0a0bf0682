//! One file per command: each opens what it needs, calls the libraries and hands the
//! result to `crate::render`.

pub mod alert_test;
pub mod alerts;
pub mod audit;
pub mod backup;
pub mod completions;
pub mod copy;
pub mod diff;
pub mod dr;
pub mod dump;
pub mod export;
pub mod find;
pub mod forget;
pub mod init;
pub mod key;
pub mod list;
pub mod ls;
pub mod migrate;
pub mod prune;
pub mod repair;
pub mod restore;
pub mod retention;
pub mod run;
pub mod server;
pub mod show;
pub mod stats;
pub mod token;
pub mod unlock;
pub mod verify;
pub mod version;

use anyhow::Result;

/// RepoError is not Clone; re-create a displayable error for warnings.
fn clone_err(e: &lifeboat_repo::RepoError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn db_password(file: Option<&std::path::Path>) -> Result<Option<lifeboat_dump::Secret>> {
    Ok(match file {
        Some(path) => Some(lifeboat_dump::Secret::from_file(path)?),
        None => None,
    })
}
