//! `lifeboat version`: this binary's version and the repository format versions it reads
//! and writes, so an operator can tell before a restore whether this build reads what an
//! older or newer one wrote.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

/// The versions one part of the repository format is read and written in.
#[derive(Serialize)]
struct Versions {
    /// Every version this build reads.
    reads: Vec<u32>,
    /// The version this build writes.
    writes: u32,
}

/// What `version --json` prints.
#[derive(Serialize)]
struct Report {
    /// The binary's own version (the workspace's).
    version: &'static str,
    /// The repository format, per part: the config, the backup manifests and the encrypted
    /// objects (FORMAT.md sections 2, 5 and 3).
    formats: Formats,
}

/// The parts of the repository format that carry a version of their own.
#[derive(Serialize)]
struct Formats {
    config: Versions,
    manifest: Versions,
    object: Versions,
}

/// The versions, from the libraries' constants (never repeated here as numbers).
fn report() -> Report {
    let object_writes = u32::from(lifeboat_crypto::FORMAT_VERSION);
    let object_legacy = u32::from(lifeboat_crypto::LEGACY_FORMAT_VERSION);
    Report {
        version: env!("CARGO_PKG_VERSION"),
        formats: Formats {
            config: Versions { reads: vec![lifeboat_repo::CONFIG_VERSION], writes: lifeboat_repo::CONFIG_VERSION },
            manifest: Versions {
                reads: vec![lifeboat_repo::MANIFEST_VERSION],
                writes: lifeboat_repo::MANIFEST_VERSION,
            },
            object: Versions { reads: vec![object_legacy, object_writes], writes: object_writes },
        },
    }
}

/// Prints the versions, as text or JSON.
pub fn run(json: bool) -> Result<ExitCode> {
    let report = report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("lifeboat {}", report.version);
    println!("repository format:");
    for (part, versions) in
        [("config", &report.formats.config), ("manifest", &report.formats.manifest), ("object", &report.formats.object)]
    {
        let reads: Vec<String> = versions.reads.iter().map(u32::to_string).collect();
        println!("  {part:<9} reads {}, writes {}", reads.join(" and "), versions.writes);
    }
    Ok(ExitCode::SUCCESS)
}
