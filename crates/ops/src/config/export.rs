//! `[exports.NAME]`: export destinations with their naming and retention (issue 16).
//! Placeholder: the exports helper owns this file and fills it in.

use serde::Deserialize;

/// `[exports.NAME]`: one export destination.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExportDestinationConfig {
    /// Where export files go: a directory or a storage URL (s3://, webdav://, ...).
    #[serde(default)]
    pub destination: Option<String>,
}
