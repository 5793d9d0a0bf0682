//! Export archives: the export directory as a tar (manifest first, then every file in name
//! order) compressed with gzip or zstd, optionally encrypted for X25519 recipients.
//!
//! An encrypted export (`NAME.tar.gz.lbx`) is one Lifeboat object in the layout of
//! docs/FORMAT.md section 3 with kind 2 (an object whose data key is wrapped in its own header
//! slots), recipient slots only (no repository key), segments stored uncompressed (the
//! tarball is compressed already). `scripts/lifeboat_decode.py --export-file` reads it with
//! the recipient's identity.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use lifeboat_crypto::{
    Audience, Compression as SegmentCompression, DEFAULT_SEGMENT, FixedHeader, ObjectHeader, ObjectKind,
    PipelineOptions, RecipientPublicKey, SecretKey, random_bytes, seal_stream,
};

use crate::error::{ExportError, Result};
use crate::manifest::{ExportManifest, MANIFEST_NAME};

/// The suffix of an export encrypted for recipients.
pub const ENCRYPTED_SUFFIX: &str = ".lbx";

/// How an export archive is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// `.tar.gz`.
    #[default]
    #[serde(alias = "tar.gz")]
    Gz,
    /// `.tar.zst`.
    #[serde(alias = "tar.zst")]
    Zst,
}

impl Compression {
    /// `tar.gz` or `tar.zst`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gz => "tar.gz",
            Compression::Zst => "tar.zst",
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gz" | "tar.gz" | "gzip" => Ok(Compression::Gz),
            "zst" | "tar.zst" | "zstd" => Ok(Compression::Zst),
            other => Err(ExportError::invalid("compression", format!("`{other}` is not tar.gz or tar.zst"))),
        }
    }
}

fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join(rel))?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if e.file_type()?.is_dir() {
            walk(dir, &r, out)?;
        } else {
            out.push(r);
        }
    }
    Ok(())
}

/// Writes `dir` as a compressed tar into `out` (blocking: run it off the reactor).
pub fn pack(dir: &Path, compression: Compression, out: &Path) -> Result<()> {
    let file = File::create(out).map_err(|e| ExportError::io("creating", out, e))?;
    let io = |e| ExportError::io("writing", out, e);
    let mut files = Vec::new();
    walk(dir, Path::new(""), &mut files).map_err(|e| ExportError::io("listing", dir, e))?;
    files.sort_by_key(|p| (p != Path::new(MANIFEST_NAME), p.clone()));
    fn fill<W: std::io::Write>(b: &mut tar::Builder<W>, dir: &Path, files: &[PathBuf]) -> std::io::Result<()> {
        b.mode(tar::HeaderMode::Deterministic);
        for f in files {
            b.append_path_with_name(dir.join(f), f)?;
        }
        b.finish()
    }
    match compression {
        Compression::Gz => {
            let enc = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
            let mut b = tar::Builder::new(enc);
            fill(&mut b, dir, &files).map_err(io)?;
            let w = b.into_inner().map_err(io)?.finish().map_err(io)?;
            w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        }
        Compression::Zst => {
            let enc = zstd::stream::write::Encoder::new(BufWriter::new(file), 3).map_err(io)?;
            let mut b = tar::Builder::new(enc);
            fill(&mut b, dir, &files).map_err(io)?;
            let mut w = b.into_inner().map_err(io)?.finish().map_err(io)?;
            w.flush().map_err(io)?;
            w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        }
    }
    Ok(())
}

/// Encrypts `plain` into `out` for `recipients` (see the module doc for the format).
pub async fn encrypt(plain: &Path, recipients: &[RecipientPublicKey], out: &Path, name: &str) -> Result<()> {
    let crypto = |source| ExportError::Crypto { name: name.to_string(), source };
    let dek = SecretKey::generate().map_err(crypto)?;
    let object_id = random_bytes::<16>().map_err(crypto)?;
    let fixed = FixedHeader::new(ObjectKind::Manifest, SegmentCompression::None, DEFAULT_SEGMENT, object_id, &dek)
        .map_err(crypto)?;
    let slots = Audience { master: None, recipients }.slots(&fixed, &dek).map_err(crypto)?;
    let reader = tokio::fs::File::open(plain).await.map_err(|e| ExportError::io("opening", plain, e))?;
    let options = PipelineOptions { compression_level: 0, ..PipelineOptions::default() };
    let running = seal_stream(reader, ObjectHeader { fixed, slots }, &dek, options).map_err(crypto)?;
    let (mut stream, done) = running.into_parts();
    let mut w =
        tokio::io::BufWriter::new(tokio::fs::File::create(out).await.map_err(|e| ExportError::io("creating", out, e))?);
    use tokio::io::AsyncWriteExt;
    while let Some(chunk) = stream.next().await {
        w.write_all(&chunk.map_err(crypto)?).await.map_err(|e| ExportError::io("writing", out, e))?;
    }
    done.finish().await.map_err(crypto)?;
    w.flush().await.map_err(|e| ExportError::io("writing", out, e))?;
    w.into_inner().sync_all().await.map_err(|e| ExportError::io("writing", out, e))?;
    Ok(())
}

/// An export ready to read: its directory (a temporary one for an archive) and manifest.
pub struct OpenedExport {
    /// The directory holding `manifest.json` and the export's files.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: ExportManifest,
    _temp: Option<tempfile::TempDir>,
}

/// Opens an export directory, or unpacks a `.tar.gz`/`.tar.zst` archive into a temporary one
/// (blocking).
pub fn open_export(path: &Path) -> Result<OpenedExport> {
    let bad = |reason: String| ExportError::BadExport { path: path.to_path_buf(), reason };
    let (dir, temp) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(ENCRYPTED_SUFFIX) {
            return Err(bad(
                "it is encrypted for recipients: decrypt it first (scripts/lifeboat_decode.py --export-file)".into(),
            ));
        }
        let file = File::open(path).map_err(|e| ExportError::io("opening", path, e))?;
        let temp = tempfile::Builder::new()
            .prefix(".lifeboat-import-")
            .tempdir()
            .map_err(|e| ExportError::io("creating", "a temporary directory", e))?;
        let result = if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            zstd::stream::read::Decoder::new(file).and_then(|d| tar::Archive::new(d).unpack(temp.path()))
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(temp.path())
        } else {
            return Err(bad("not a directory, .tar.gz or .tar.zst".into()));
        };
        result.map_err(|e| bad(format!("unpacking: {e}")))?;
        (temp.path().to_path_buf(), Some(temp))
    };
    let mpath = dir.join(MANIFEST_NAME);
    let text = std::fs::read(&mpath).map_err(|e| bad(format!("no readable {MANIFEST_NAME}: {e}")))?;
    let manifest = ExportManifest::parse(&text).map_err(|r| bad(format!("{MANIFEST_NAME}: {r}")))?;
    Ok(OpenedExport { dir, manifest, _temp: temp })
}
