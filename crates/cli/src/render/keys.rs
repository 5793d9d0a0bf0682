//! `lifeboat key list`: key slots, recipients and writers.

use lifeboat_repo::{ConfigFile, RecipientEntry, SlotEntry, WriterEntry};
use serde::Serialize;

/// The JSON of `key list --json`. Slots carry only wrapped keys and salts; nothing here
/// is secret.
#[derive(Serialize)]
pub struct KeyListing<'a> {
    slots: &'a [SlotEntry],
    recipients: &'a [RecipientEntry],
    writers: &'a [WriterEntry],
}

impl<'a> KeyListing<'a> {
    /// The listing of `config`.
    pub fn of(config: &'a ConfigFile) -> Self {
        KeyListing { slots: &config.slots, recipients: &config.recipients, writers: &config.writers }
    }
}

/// One line per slot, recipient and writer.
pub fn print_keys(config: &ConfigFile) {
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
