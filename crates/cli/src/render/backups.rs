//! The human form of backup listings and of one backup.

use chrono::{DateTime, FixedOffset};
use lifeboat_repo::{BackupSummary, Manifest};

use super::{escape, human_bytes};

/// The line `backup` ends with; it counts the warnings printed before it.
pub fn print_backup_done(manifest: &Manifest, elapsed: std::time::Duration) {
    let warnings = match manifest.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        n => format!(", {n} warnings"),
    };
    if manifest.version == lifeboat_repo::MANIFEST_VERSION_V3 {
        // Format 3 stores what is new only: say how much of the tree that was.
        let stat = |name: &str| manifest.stats.get(name).copied().unwrap_or(0);
        println!(
            "backup {} done: {} in {} file{} ({} unchanged, not read), {} read, {} new, {:.1}s{warnings}",
            manifest.short_id(),
            human_bytes(stat("size")),
            stat("files"),
            if stat("files") == 1 { "" } else { "s" },
            stat("files_reused"),
            human_bytes(stat("bytes")),
            human_bytes(stat("bytes_new")),
            elapsed.as_secs_f64()
        );
        return;
    }
    println!(
        "backup {} done: {} read, {} stored, {:.1}s{warnings}",
        manifest.short_id(),
        human_bytes(manifest.plain_size()),
        human_bytes(manifest.stored_size()),
        elapsed.as_secs_f64()
    );
}

/// A time as tables show it: in the local time zone (`TZ`, else /etc/localtime), with
/// its UTC offset, to the second. JSON documents keep RFC 3339 instead.
pub fn local_time(time: &DateTime<FixedOffset>) -> String {
    time.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// The columns of the backup table: header, right-aligned.
const COLUMNS: [(&str, bool); 8] = [
    ("ID", false),
    ("TIME", false),
    ("HOST", false),
    ("KIND", false),
    ("PLAN", false),
    ("SIZE", true),
    ("STORED", true),
    ("NAME", false),
];

/// A table of backups, each column as wide as its widest cell (names and hosts are escaped
/// first, so the widths are those of what the terminal shows).
pub fn print_summaries(summaries: &[BackupSummary]) {
    if summaries.is_empty() {
        println!("no backups");
        return;
    }
    let rows: Vec<[String; 8]> = summaries.iter().map(summary_row).collect();
    let mut widths = COLUMNS.map(|(header, _)| header.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    println!("{}", table_line(&COLUMNS.map(|(header, _)| header.to_owned()), &widths));
    for row in &rows {
        println!("{}", table_line(row, &widths));
    }
}

fn summary_row(s: &BackupSummary) -> [String; 8] {
    let tags = if s.tags.is_empty() { String::new() } else { format!("  [{}]", escape(&s.tags.join(","))) };
    [
        s.id.get(..8).unwrap_or(&s.id).to_owned(),
        local_time(&s.finished),
        escape(&s.host).into_owned(),
        escape(s.kind.as_str()).into_owned(),
        escape(s.plan.as_deref().unwrap_or("-")).into_owned(),
        human_bytes(s.size),
        human_bytes(s.stored_size),
        format!("{}{tags}", escape(&s.name)),
    ]
}

/// One line of the table: cells padded to `widths` (chars, not bytes), two spaces apart,
/// the last one unpadded.
fn table_line(cells: &[String; 8], widths: &[usize; 8]) -> String {
    let mut line = String::new();
    for (i, ((cell, width), (_, right))) in cells.iter().zip(widths).zip(COLUMNS).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
        match (right, i + 1 == COLUMNS.len()) {
            (_, true) => line.push_str(cell),
            (true, false) => line.push_str(&(pad + cell)),
            (false, false) => line.push_str(&(cell.clone() + &pad)),
        }
    }
    line
}

/// One backup in detail.
pub fn print_manifest(m: &Manifest) {
    println!("backup   {}", m.id);
    println!("kind     {}", escape(m.kind.as_str()));
    println!("name     {}", escape(&m.name));
    println!("plan     {}", escape(m.plan.as_deref().unwrap_or("-")));
    println!("host     {}", escape(&m.host));
    println!("tags     {}", escape(&m.tags.join(", ")));
    println!("started  {}", local_time(&m.started));
    println!("finished {}", local_time(&m.finished));
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
        println!("locked   until {} (object lock)", local_time(&until));
    }
    for w in &m.warnings {
        println!("warning  {}", escape(w));
    }
    if !m.source.is_null() {
        println!("source   {}", m.source);
    }
}
