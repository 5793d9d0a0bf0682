//! `lifeboat init`.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_crypto::Argon2Params;
use lifeboat_repo::{Credential, InitOptions, Repository};

use crate::flags::{Global, InitArgs};
use crate::open::{open_options, repo_url, storage};
use crate::secrets::new_password;

/// Creates a repository.
pub async fn run(global: &Global, args: InitArgs) -> Result<ExitCode> {
    let url = repo_url(global)?;
    let credential = match &global.key_file {
        Some(path) => lifeboat_ops::credentials::read_key_file(path)?,
        None => Credential::Password(new_password(global.password_file.clone(), "LIFEBOAT_PASSWORD")?),
    };
    let options = InitOptions {
        segment_size: args.segment_size,
        compression_level: args.compression_level,
        kdf: Argon2Params {
            memory_kib: args.kdf_memory_kib,
            iterations: args.kdf_iterations,
            parallelism: args.kdf_parallelism,
        },
        label: args.label,
        data_format: args.format,
    };
    let repo = Repository::init_with(storage(&url, global)?, credential, options, open_options(global)?).await?;
    println!("created repository {} at {}", repo.id(), repo.location());
    if let lifeboat_storage::StorageUrl::File(path) = lifeboat_storage::StorageUrl::parse(&url)? {
        // Anyone who can read `config` can try passwords offline: say who can.
        match lifeboat_storage::FsStorage::new(&path).describe_access() {
            Ok(access) => println!("repository {} is {access}", path.display()),
            Err(e) => eprintln!("warning: cannot tell who can read {}: {e}", path.display()),
        }
    }
    eprintln!("Keep the password (or key file) safe: without it the backups cannot be read by anyone.");
    Ok(ExitCode::SUCCESS)
}
