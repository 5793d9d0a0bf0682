//! `lifeboat key ...`.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_crypto::{Argon2Params, Identity, RecipientPublicKey};
use lifeboat_repo::Credential;

use crate::flags::{Global, KeyCommand, RecipientCommand, WriterCommand};
use crate::open::open_repo;
use crate::render::print_json;
use crate::secrets::{self, new_password};

/// Manages key slots, recipients, writers and the master key.
pub async fn run(global: &Global, cmd: KeyCommand) -> Result<ExitCode> {
    if let KeyCommand::Writer(WriterCommand::Generate { output }) = &cmd {
        let key = lifeboat_crypto::WriterKey::generate()?;
        secrets::write_secret_file(
            output,
            format!("# lifeboat writer key; public key {}\n{}\n", key.public(), *key.to_text()).as_bytes(),
        )?;
        println!("{}", key.public());
        eprintln!("writer key written to {}; register it with `lifeboat key writer add`", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    if let KeyCommand::Recipient(RecipientCommand::Generate { output }) = &cmd {
        let identity = Identity::generate()?;
        secrets::write_secret_file(
            output,
            format!("# lifeboat identity; public key {}\n{}\n", identity.public(), *identity.to_text()).as_bytes(),
        )?;
        println!("{}", identity.public());
        eprintln!("identity written to {}; keep it offline and safe", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut repo = open_repo(global).await?;
    match cmd {
        KeyCommand::List { json } => {
            #[derive(serde::Serialize)]
            struct Listing<'a> {
                slots: &'a [lifeboat_repo::SlotEntry],
                recipients: &'a [lifeboat_repo::RecipientEntry],
                writers: &'a [lifeboat_repo::WriterEntry],
            }
            let config = repo.config();
            if json {
                // Slots carry only wrapped keys and salts; nothing here is secret.
                print_json(&Listing {
                    slots: &config.slots,
                    recipients: &config.recipients,
                    writers: &config.writers,
                })?;
            } else {
                for s in &config.slots {
                    println!(
                        "slot {}  {:?}  {}  {}",
                        s.id,
                        s.kind,
                        s.created.format("%Y-%m-%d %H:%M"),
                        s.label.as_deref().unwrap_or("")
                    );
                }
                for r in &config.recipients {
                    println!("recipient {}  {}  {}", r.id, r.public_key, r.label.as_deref().unwrap_or(""));
                }
                for w in &config.writers {
                    println!("writer {}  {}  {}", w.id, w.public_key, w.label.as_deref().unwrap_or(""));
                }
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
            repo.add_recipient(public, label).await?;
            println!("added recipient {public}");
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
