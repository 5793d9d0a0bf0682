//! JSON on standard output: the documents `--json` prints.

use anyhow::Result;
use lifeboat_repo::Manifest;
use serde::Serialize;

/// Prints one JSON document on standard output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A manifest as JSON without the data keys (they are secrets): the library's view.
pub fn manifest_view(manifest: &Manifest) -> Result<lifeboat_repo::BackupView> {
    Ok(lifeboat_repo::BackupView::from(manifest))
}

/// The JSON printed by `backup --json`.
pub fn backup_result(manifest: &Manifest, elapsed: std::time::Duration) -> serde_json::Value {
    serde_json::json!({
        "id": manifest.id,
        "short_id": manifest.short_id(),
        "kind": manifest.kind,
        "name": manifest.name,
        "plan": manifest.plan,
        "tags": manifest.tags,
        "host": manifest.host,
        "started": manifest.started,
        "finished": manifest.finished,
        "size": manifest.plain_size(),
        "stored_size": manifest.stored_size(),
        "objects": manifest.objects.iter().map(|o| serde_json::json!({
            "name": o.name, "key": o.key, "size": o.size, "plain_size": o.plain_size, "plain_blake3": o.plain_blake3,
        })).collect::<Vec<_>>(),
        "warnings": manifest.warnings,
        "stats": manifest.stats,
        "seconds": elapsed.as_secs_f64(),
    })
}
