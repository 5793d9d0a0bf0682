//! Files exports (configuration bundles): files and directories copied into `files/` of the
//! export, configuration files redacted on the way when patterns are given.

use std::path::{Path, PathBuf};

use crate::error::{ExportError, Result};
use crate::manifest::{FileEntry, Redaction};
use crate::redact::{ConfigKind, redact};

/// What [`export_files`] copied and redacted.
#[derive(Debug, Default)]
pub struct FilesExport {
    /// Every file.
    pub files: Vec<FileEntry>,
    /// Every value redacted.
    pub redactions: Vec<Redaction>,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            collect(&e.path(), out)?;
        }
    } else if meta.is_file() {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Copies `paths` (files or directories; each directory under its own name) into
/// `dir/files/`, redacting configuration files' values for keys matching `patterns` (none:
/// copied as they are). Blocking.
pub fn export_files(paths: &[PathBuf], patterns: &[String], dir: &Path) -> Result<FilesExport> {
    if paths.is_empty() {
        return Err(ExportError::invalid("files", "name at least one file or directory"));
    }
    let mut out = FilesExport::default();
    for root in paths {
        let base = root.parent().unwrap_or(Path::new(""));
        let mut files = Vec::new();
        collect(root, &mut files).map_err(|e| ExportError::io("reading", root, e))?;
        for f in files {
            let rel = f.strip_prefix(base).unwrap_or(&f);
            let rel: PathBuf = rel.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
            let inside = format!("files/{}", rel.to_string_lossy());
            let data = std::fs::read(&f).map_err(|e| ExportError::io("reading", &f, e))?;
            let kind = ConfigKind::of(&f.to_string_lossy());
            let data = match (kind, patterns.is_empty(), String::from_utf8(data)) {
                (Some(kind), false, Ok(text)) => {
                    let (text, found) = redact(&text, kind, &inside, patterns);
                    out.redactions.extend(found);
                    text.into_bytes()
                }
                (_, _, Ok(text)) => text.into_bytes(),
                (_, _, Err(e)) => e.into_bytes(),
            };
            let target = dir.join(&inside);
            if let Some(p) = target.parent() {
                std::fs::create_dir_all(p).map_err(|e| ExportError::io("creating", p, e))?;
            }
            std::fs::write(&target, &data).map_err(|e| ExportError::io("writing", &target, e))?;
            out.files.push(FileEntry {
                path: inside,
                source: f.display().to_string(),
                bytes: data.len() as u64,
                blake3: blake3::hash(&data).to_hex().to_string(),
            });
        }
    }
    Ok(out)
}
