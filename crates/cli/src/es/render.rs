//! How `lifeboat es` prints: aligned tables, `-` for unknown values, one-line restore progress.

use lifeboat_es::RestoreRecord;

/// Prints rows as aligned columns.
pub(super) fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect::<Vec<_>>().join("  ")
    };
    println!("{}", line(headers.iter().map(|h| h.to_string()).collect()).trim_end());
    for r in rows {
        println!("{}", line(r).trim_end());
    }
}

pub(super) fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

pub(super) fn progress_line(r: &RestoreRecord) -> String {
    match &r.progress {
        Some(p) => format!(
            "restore {}: {}, shards {}/{} done, {} failed, docs {}/{}",
            r.id,
            r.state,
            p.shards_done,
            p.shards_total,
            p.shards_failed,
            p.docs_recovered,
            opt(p.docs_expected)
        ),
        None => format!("restore {}: {}", r.id, r.state),
    }
}
