//! Everything the CLI prints: tables, JSON documents, escaped text and progress bars.
//! Commands compute; this module only formats.

mod backups;
mod copy;
mod escape;
mod forget;
mod json;
mod keys;
mod locks;
pub mod progress;
mod prune;
mod retention;
mod verify;

pub use backups::{print_backup_done, print_manifest, print_summaries};
pub use copy::print_copy;
pub use escape::{error_chain, escape, escape_lines};
pub use forget::print_forget;
pub use json::{backup_result, manifest_view, print_json};
pub use keys::{KeyListing, print_keys};
pub use lifeboat_storage::units::human_bytes;
pub use locks::print_unlocked;
pub use prune::print_prune;
pub use retention::retention_table;
pub use verify::print_verify;
