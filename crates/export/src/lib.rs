//! lifeboat-export: data and configuration leaving Lifeboat for other environments and for
//! people, as opposed to restorable backups.
//!
//! - [`tables`]: selected tables of PostgreSQL or MySQL/MariaDB as exact JSON (one array or
//!   JSON lines per table) plus a [`manifest`] (source, tables, row counts, per-table BLAKE3,
//!   columns and how each is encoded, primary keys);
//! - [`import`]: such an export loaded into another database in one transaction, with id
//!   mappings (`--map bk_biz_id=OLD:NEW`) and a choice for existing keys;
//! - [`files`] and [`redact`]: configuration bundles with the values of secret keys taken out;
//! - [`archive`], [`naming`] and [`dest`]: an export as one named `.tar.gz`/`.tar.zst`
//!   (optionally encrypted for X25519 recipients) at a destination (a directory, S3, COS,
//!   WebDAV), its manifest beside it, and expiry that never touches a file without one.
//!
//! The database sessions are lifeboat-dump's ([`lifeboat_dump::client::SqlClient`]): the
//! same clients (`psql`, `mariadb`), passwords only through 0600 files.

#![warn(missing_docs)]

pub mod archive;
pub mod dest;
pub mod error;
pub mod files;
pub mod import;
mod json;
pub mod manifest;
pub mod naming;
pub mod redact;
pub mod tables;

use std::path::Path;

pub use archive::{Compression, OpenedExport, open_export};
pub use dest::{CleanItem, CleanReport, Delivered, Destination, ExpiryRules, clean};
pub use error::{ExportError, Result};
pub use import::{IdMap, ImportOptions, ImportReport, OnConflict, TableImport, import_export};
pub use manifest::{ExportKind, ExportManifest, ExportStatus, TableFormat};
pub use naming::NameTemplate;
pub use tables::{TableSelection, export_tables};

/// Writes `manifest` as `dir/manifest.json`.
pub fn write_manifest(dir: &Path, manifest: &ExportManifest) -> Result<()> {
    let path = dir.join(manifest::MANIFEST_NAME);
    std::fs::write(&path, manifest.to_json()).map_err(|e| ExportError::io("writing", &path, e))
}

/// A new export id: 16 random characters from `a-z0-9`.
pub fn new_id() -> Result<String> {
    naming::random_text(16)
}
