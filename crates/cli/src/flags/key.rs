//! `lifeboat key ...`: passwords, key files, recipients, writers and the master key.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List key slots and recipients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a password (from --new-password-file, $LIFEBOAT_NEW_PASSWORD or a prompt) or a key file.
    Add {
        /// Read the new password from this file.
        #[arg(long, conflicts_with = "new_key_file")]
        new_password_file: Option<PathBuf>,
        /// Add a key-file slot for this file.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
        /// Create the key file with 32 random bytes first (mode 0600; it must not exist).
        #[arg(long, requires = "new_key_file")]
        generate: bool,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
    /// Change the password that unlocked the repository.
    Passwd {
        /// Read the new password from this file.
        #[arg(long)]
        new_password_file: Option<PathBuf>,
    },
    /// Remove a key slot by id.
    Remove {
        /// Slot id (see `key list`).
        slot: String,
    },
    /// Replace the master key; other slots are dropped. Data objects are not rewritten.
    Rotate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// X25519 recipients: hosts that can write backups they cannot read.
    #[command(subcommand)]
    Recipient(RecipientCommand),
    /// Ed25519 writer keys: what write-only hosts sign their backups with.
    #[command(subcommand)]
    Writer(WriterCommand),
}

#[derive(Subcommand, Debug)]
pub enum WriterCommand {
    /// Generate a writer key (for a write-only host) and print its public key.
    Generate {
        /// Write the key here (mode 0600; must not exist).
        #[arg(long)]
        output: PathBuf,
    },
    /// Register a writer's public key (needs the password or key file).
    Add {
        /// The public key (lbwp1...).
        public_key: String,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
    /// Unregister a writer by id (see `key list`): its backups are refused from then on.
    Remove {
        /// Writer id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RecipientCommand {
    /// Generate an identity (secret key) and print its public key.
    Generate {
        /// Write the identity here (mode 0600; must not exist).
        #[arg(long)]
        output: PathBuf,
    },
    /// Seal every new manifest for this public key too.
    Add {
        /// The public key (lbpk1...).
        public_key: String,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
}
