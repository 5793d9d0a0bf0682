//! Backs up a directory into a new repository in a temporary folder, then restores it:
//! `cargo run -p lifeboat-repo --example backup_restore -- /etc/ssh`.

use std::path::PathBuf;
use std::sync::Arc;

use lifeboat_repo::{BackupRequest, Credential, InitOptions, Repository};
use lifeboat_storage::FsStorage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let work = std::env::temp_dir().join(format!("lifeboat-example-{}", std::process::id()));
    let storage = Arc::new(FsStorage::new(work.join("repo")));
    let password = Credential::password("example password");
    let repo = Repository::init(storage, password, InitOptions::default()).await?;

    let request = BackupRequest { plan: Some("example".into()), tags: vec!["demo".into()], ..Default::default() };
    let manifest = repo.backup_files(std::slice::from_ref(&source), request).await?;
    println!("backup {} of {}: {:?}", manifest.short_id(), source.display(), manifest.stats);
    for warning in &manifest.warnings {
        println!("warning: {warning}");
    }

    let report = repo.verify(std::slice::from_ref(&manifest), true).await?;
    println!("deep verify: {} object(s), damage: {}", report.objects, report.damage.len());

    let target = work.join("restored");
    repo.restore_to_dir(&manifest, &target).await?;
    println!("restored into {}", target.display());
    Ok(())
}
