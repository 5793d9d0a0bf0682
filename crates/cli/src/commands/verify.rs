//! `lifeboat verify`.

use std::process::ExitCode;

use anyhow::Result;

use super::sealed_for_others;
use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Exit code when `verify` found damage.
const EXIT_DAMAGE: u8 = 3;

/// Verifies one backup or all of them; exits [`EXIT_DAMAGE`] when damage is found.
pub async fn run(global: &Global, id: Option<String>, deep: bool, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let (manifests, unreadable) = match id {
        Some(id) => match repo.resolve(&id, None).await {
            Ok(m) => (vec![m], Vec::new()),
            // A damaged manifest is damage found, not a failure to look.
            Err(
                e @ (lifeboat_repo::RepoError::BadManifest { .. }
                | lifeboat_repo::RepoError::Object { .. }
                | lifeboat_repo::RepoError::LatestUnknown { .. }),
            ) => (Vec::new(), vec![e]),
            Err(e) => return Err(e.into()),
        },
        None => repo.list().await?,
    };
    let (sealed_elsewhere, unreadable): (Vec<_>, Vec<_>) = unreadable.into_iter().partition(sealed_for_others);
    if !sealed_elsewhere.is_empty() {
        eprintln!(
            "lifeboat: note: {} backup(s) are sealed for recipients only and were not checked (pass --identity-file)",
            sealed_elsewhere.len()
        );
    }
    let mut report = repo.verify(&manifests, deep).await?;
    for e in &unreadable {
        report.add_unreadable(e);
    }
    if json {
        print_json(&report)?;
    } else {
        render::print_verify(&report);
    }
    Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGE) })
}
