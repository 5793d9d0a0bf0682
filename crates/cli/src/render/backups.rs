//! The human form of backup listings and of one backup.

use lifeboat_repo::{BackupSummary, Manifest};

use super::{escape, human_bytes};

/// The line `backup` ends with.
pub fn print_backup_done(manifest: &Manifest, elapsed: std::time::Duration) {
    println!(
        "backup {} done: {} read, {} stored, {:.1}s",
        manifest.short_id(),
        human_bytes(manifest.plain_size()),
        human_bytes(manifest.stored_size()),
        elapsed.as_secs_f64()
    );
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
            escape(s.kind.as_str()),
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
    println!("kind     {}", escape(m.kind.as_str()));
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
