//! Everything the CLI prints: tables, JSON documents, escaped text and progress bars.
//! Commands compute; this module only formats.

mod backups;
mod escape;
mod forget;
mod json;
pub mod progress;
mod prune;
mod verify;

pub use backups::{print_manifest, print_summaries};
pub use escape::{error_chain, escape, escape_lines};
pub use forget::print_forget;
pub use json::{backup_result, manifest_view, print_json};
pub use lifeboat_storage::units::human_bytes;
pub use prune::print_prune;
pub use verify::print_verify;
