//! Human and JSON output.

use anyhow::Result;
use lifeboat_repo::{BackupSummary, Manifest, VerifyReport};
use serde::Serialize;

/// Prints one JSON document on standard output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `text` with every control character (C0, DEL, C1) and every bidirectional-text control
/// written as a `\xNN` / `\u{NNNN}` escape, so that a name read from a backup (a crafted
/// file name, a hostile manifest) cannot drive the terminal or reorder what it shows.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    escape_with(text, false)
}

/// [`escape`] that keeps line breaks: for error messages, which may quote a tool's
/// several lines of output.
pub fn escape_lines(text: &str) -> std::borrow::Cow<'_, str> {
    escape_with(text, true)
}

fn escape_with(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The error and those of its causes whose text is not already part of the message.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// A manifest as JSON without the data keys (they are secrets).
pub fn manifest_view(manifest: &Manifest) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(manifest)?;
    if let Some(objects) = value.get_mut("objects").and_then(|o| o.as_array_mut()) {
        for object in objects {
            if let Some(map) = object.as_object_mut() {
                map.remove("dek");
            }
        }
    }
    Ok(value)
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

/// A table of backups.
pub fn print_summaries(summaries: &[BackupSummary]) {
    if summaries.is_empty() {
        println!("no backups");
        return;
    }
    println!("{:<10} {:<25} {:<8} {:<12} {:>10} {:>10}  NAME", "ID", "TIME", "KIND", "PLAN", "SIZE", "STORED");
    for s in summaries {
        println!(
            "{:<10} {:<25} {:<8} {:<12} {:>10} {:>10}  {}{}",
            s.id.get(..8).unwrap_or(&s.id),
            s.time.format("%Y-%m-%d %H:%M:%S %:z"),
            escape(&s.kind),
            escape(s.plan.as_deref().unwrap_or("-")),
            human_bytes(s.size),
            human_bytes(s.stored_size),
            escape(&s.name),
            if s.tags.is_empty() { String::new() } else { format!("  [{}]", escape(&s.tags.join(","))) }
        );
    }
}

/// One backup in detail.
pub fn print_manifest(m: &Manifest) {
    println!("backup   {}", m.id);
    println!("kind     {}", escape(&m.kind));
    println!("name     {}", escape(&m.name));
    println!("plan     {}", escape(m.plan.as_deref().unwrap_or("-")));
    println!("host     {}", escape(&m.host));
    println!("tags     {}", escape(&m.tags.join(", ")));
    println!("started  {}", m.started);
    println!("finished {}", m.finished);
    println!("tool     {}", m.tool);
    for o in &m.objects {
        println!(
            "object   {}  {}  {} -> {}  blake3 {}",
            escape(&o.name),
            o.key,
            human_bytes(o.plain_size),
            human_bytes(o.size),
            o.plain_blake3
        );
    }
    for (k, v) in &m.stats {
        println!("stat     {} = {v}", escape(k));
    }
    if let Some(until) = m.locked_until {
        println!("locked   until {until} (object lock)");
    }
    for w in &m.warnings {
        println!("warning  {}", escape(w));
    }
    if !m.source.is_null() {
        println!("source   {}", m.source);
    }
}

/// The outcome of a verify.
pub fn print_verify(report: &VerifyReport) {
    for d in &report.damage {
        if d.object.is_empty() {
            println!("DAMAGED {}", d.problem);
        } else {
            println!("DAMAGED backup {} object {}: {}", d.backup.get(..8).unwrap_or(&d.backup), d.object, d.problem);
        }
    }
    println!(
        "{} {} backup(s), {} object(s), {} read: {}",
        if report.deep { "deep-verified" } else { "verified" },
        report.backups,
        report.objects,
        human_bytes(report.bytes_read),
        if report.is_ok() { "no damage".to_owned() } else { format!("{} problem(s)", report.damage.len()) }
    );
}
