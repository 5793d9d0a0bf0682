//! Everything the CLI prints: tables, JSON documents, escaped text and progress bars.
//! Commands compute; this module only formats.

mod backups;
mod bytes;
mod escape;
mod json;
pub mod progress;
mod verify;

pub use backups::{print_manifest, print_summaries};
pub use bytes::human_bytes;
pub use escape::{error_chain, escape, escape_lines};
pub use json::{backup_result, manifest_view, print_json};
pub use verify::print_verify;
