//! `lifeboat verify`.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_repo::DataCheck;
use lifeboat_repo::{LatestScope, Progress};

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::progress::Mode;
use crate::render::{self, print_json};

/// Exit code when `verify` found damage.
const EXIT_DAMAGE: u8 = 3;

/// Verifies one backup or all of them (within `scope`); exits [`EXIT_DAMAGE`] when damage is
/// found.
pub async fn run(
    global: &Global,
    id: Option<String>,
    scope: &LatestScope,
    data: DataCheck,
    json: bool,
) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let progress = Progress::new();
    let what = match data {
        DataCheck::Structure => "verify",
        DataCheck::All => "verify --deep",
        DataCheck::Subset(_) => "verify --read-data-subset",
    };
    let shown = render::progress::show(&progress, what, "objects", Mode::for_command(global.verbose, json));
    let outcome = repo.verify_backups_reading(id.as_deref(), scope, data, crate::hints::hint_for, &progress).await;
    shown.finish();
    let outcome = outcome?;
    if !outcome.sealed_for_others.is_empty() {
        let count = outcome.sealed_for_others.len();
        eprintln!("{}", crate::hints::sealed_for_others_note(count, "checked", global.identity_file.is_some()));
    }
    let report = outcome.report;
    if json {
        print_json(&report)?;
    } else {
        render::print_verify(&report);
    }
    Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGE) })
}
