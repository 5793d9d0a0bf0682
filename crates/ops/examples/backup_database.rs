//! Backs up a database into a local repository and lists what the manifest recorded:
//! `LIFEBOAT_PASSWORD=pw cargo run -p lifeboat-ops --example backup_database -- postgres://user:pw@127.0.0.1:5432/app /tmp/repo`
//! (the repository is created when it does not exist).

use lifeboat_dump::{Source, SourceOptions};
use lifeboat_repo::{BackupRequest, Credential, InitOptions, RepoError, Repository};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(repo_path)) = (args.next(), args.next()) else {
        eprintln!("usage: backup_database DATABASE_URL REPOSITORY_PATH");
        std::process::exit(2);
    };
    let password = std::env::var("LIFEBOAT_PASSWORD").unwrap_or_else(|_| "example password".into());
    let storage = lifeboat_storage::open_url(&repo_path)?;
    let repo = match Repository::open(storage.clone(), Credential::password(password.clone())).await {
        Err(RepoError::NotFound { .. }) => {
            Repository::init(storage, Credential::password(password), InitOptions::default()).await?
        }
        other => other?,
    };
    let source = Source::from_url(&url, &SourceOptions::default())?;
    let manifest = lifeboat_ops::backup_database(&repo, &source, BackupRequest::default()).await?;
    println!("backup {} ({})", manifest.id, manifest.kind);
    for object in &manifest.objects {
        println!("  {} {} bytes", object.name, object.plain_size);
    }
    println!("source: {}", serde_json::to_string_pretty(&manifest.source)?);
    Ok(())
}
