//! `lifeboat key ...`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use lifeboat_crypto::{Argon2Params, Identity, RecipientPublicKey};
use lifeboat_repo::Credential;

use crate::flags::{Global, KeyCommand, RecipientCommand, WriterCommand};
use crate::open::open_repo;
use crate::render::{KeyListing, print_json, print_keys};
use crate::secrets::{self, new_password};

/// Manages key slots, recipients, writers and the master key.
pub async fn run(global: &Global, cmd: KeyCommand) -> Result<ExitCode> {
    if let KeyCommand::Writer(WriterCommand::Generate { output }) = &cmd {
        let key = lifeboat_crypto::WriterKey::generate()?;
        let advice = "register it with `lifeboat key writer add`";
        return write_generated(output, "writer key", &key.public().to_string(), &key.to_text(), advice);
    }
    if let KeyCommand::Recipient(RecipientCommand::Generate { output }) = &cmd {
        let identity = Identity::generate()?;
        let advice = "keep it offline and safe";
        return write_generated(output, "identity", &identity.public().to_string(), &identity.to_text(), advice);
    }
    let mut repo = open_repo(global).await?;
    match cmd {
        KeyCommand::List { json } => {
            if json {
                print_json(&KeyListing::of(repo.config()))?;
            } else {
                print_keys(repo.config());
            }
        }
        KeyCommand::Add { new_password_file, new_key_file, generate, label } => {
            let credential = match new_key_file {
                Some(path) => {
                    if generate {
                        let bytes = lifeboat_crypto::random_bytes::<32>()?;
                        secrets::write_secret_file(&path, &bytes)?;
                    }
                    lifeboat_ops::credentials::read_key_file(&path)?
                }
                None => Credential::Password(new_password(new_password_file, "LIFEBOAT_NEW_PASSWORD")?),
            };
            let id = repo.add_slot(credential, Argon2Params::default(), label).await?;
            println!("added key slot {id}");
        }
        KeyCommand::Passwd { new_password_file } => {
            let password = new_password(new_password_file, "LIFEBOAT_NEW_PASSWORD")?;
            let id = repo.change_credential(Credential::Password(password), Argon2Params::default()).await?;
            println!("password changed (new slot {id})");
        }
        KeyCommand::Remove { slot } => {
            repo.remove_slot(&slot).await?;
            println!("removed key slot {slot}");
        }
        KeyCommand::Rotate { json } => {
            let report = repo.rotate_master_key().await?;
            if json {
                print_json(&report)?;
            } else {
                println!("new master key {}; {} manifest(s) re-sealed", report.new_key_id, report.manifests_resealed);
                if !report.slots_removed.is_empty() {
                    println!("removed slots {} (re-add them with `lifeboat key add`)", report.slots_removed.join(", "));
                }
            }
        }
        KeyCommand::Recipient(RecipientCommand::Add { public_key, label }) => {
            let public = RecipientPublicKey::parse(&public_key)?;
            let added = repo.add_recipient(public, label).await?;
            println!("added recipient {public}");
            for domain in &added.domains_skipped {
                eprintln!(
                    "lifeboat: dedup domain {domain} (a write-only host's, sealed for the recipients only) was not \
                     sealed for it: the new recipient does not read that host's format 3 backups"
                );
            }
        }
        KeyCommand::Writer(WriterCommand::Add { public_key, label }) => {
            let public = lifeboat_crypto::WriterPublicKey::parse(&public_key)?;
            repo.add_writer(public, label).await?;
            println!("registered writer {public}");
        }
        KeyCommand::Writer(WriterCommand::Remove { id }) => {
            repo.remove_writer(&id).await?;
            println!("removed writer {id}");
        }
        KeyCommand::Recipient(RecipientCommand::Generate { .. })
        | KeyCommand::Writer(WriterCommand::Generate { .. }) => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a freshly generated secret key to `output` (owner-only, never over a file),
/// headed by a comment naming its public key, and prints the public key.
fn write_generated(output: &Path, what: &str, public: &str, secret: &str, advice: &str) -> Result<ExitCode> {
    secrets::write_secret_file(output, format!("# lifeboat {what}; public key {public}\n{secret}\n").as_bytes())?;
    println!("{public}");
    eprintln!("{what} written to {}; {advice}", output.display());
    Ok(ExitCode::SUCCESS)
}
