//! `lifeboat repair index`: the format 3 index rebuilt from the packs.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Exit code when some packs could not be read (the index lists the others).
const EXIT_DAMAGE: u8 = 3;

/// Rebuilds the index; exits [`EXIT_DAMAGE`] when a pack could not be read.
pub async fn index(global: &Global, json: bool) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let report = repo.repair_v3_index().await?;
    if json {
        let damaged: Vec<_> =
            report.damaged.iter().map(|(key, problem)| json!({"pack": key, "problem": problem})).collect();
        print_json(&json!({
            "packs": report.packs,
            "blobs": report.blobs,
            "other_domains": report.other_domains,
            "damaged": damaged,
            "index": report.index.map(|id| id.to_string()),
            "superseded": report.superseded.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        }))?;
    } else {
        println!(
            "rebuilt the index from {} packs ({} blobs); replaced {} index objects",
            report.packs,
            report.blobs,
            report.superseded.len()
        );
        if report.other_domains > 0 {
            println!("{} packs of other dedup domains were left alone", report.other_domains);
        }
        for (key, problem) in &report.damaged {
            eprintln!("lifeboat: damaged pack {}: {}", render::escape(key), render::escape(problem));
        }
    }
    Ok(if report.damaged.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGE) })
}
