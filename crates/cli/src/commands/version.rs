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
    /// The version it writes instead where a repository asks for it: files backups of a
    /// repository created with `init --format 3` (experimental).
    #[serde(skip_serializing_if = "Option::is_none")]
    writes_in_format_3_repositories: Option<u32>,
}

impl Versions {
    /// Read and written in one version only.
    fn one(version: u32) -> Versions {
        Versions { reads: vec![version], writes: version, writes_in_format_3_repositories: None }
    }
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
    let v3_manifest = lifeboat_repo::MANIFEST_VERSION_V3;
    Report {
        version: env!("CARGO_PKG_VERSION"),
        formats: Formats {
            config: Versions::one(lifeboat_repo::CONFIG_VERSION),
            manifest: Versions {
                reads: vec![lifeboat_repo::MANIFEST_VERSION, v3_manifest],
                writes: lifeboat_repo::MANIFEST_VERSION,
                writes_in_format_3_repositories: Some(v3_manifest),
            },
            object: Versions {
                reads: vec![object_legacy, object_writes],
                writes: object_writes,
                writes_in_format_3_repositories: None,
            },
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
        let also = versions
            .writes_in_format_3_repositories
            .map(|v| format!(" ({v} for files backups in repositories made with `init --format 3`)"))
            .unwrap_or_default();
        println!("  {part:<9} reads {}, writes {}{also}", reads.join(" and "), versions.writes);
    }
    Ok(ExitCode::SUCCESS)
}
