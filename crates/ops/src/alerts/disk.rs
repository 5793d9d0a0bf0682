//! How full a local repository's file system is (statvfs), as `df` counts it: used over
//! used plus what an unprivileged user may still write (the blocks reserved for root are
//! not free to lifeboatd).

use std::path::{Path, PathBuf};

use lifeboat_storage::StorageUrl;

/// The directory of a local repository URL (`file://` or a plain path); `None` for any other.
pub(crate) fn local_path(url: &str) -> Option<PathBuf> {
    match StorageUrl::parse(url) {
        Ok(StorageUrl::File(path)) => Some(path),
        _ => None,
    }
}

/// The used percentage of the file system holding `path`.
pub(crate) fn usage_percent(path: &Path) -> std::io::Result<f64> {
    let stats = rustix::fs::statvfs(path)?;
    let used = stats.f_blocks.saturating_sub(stats.f_bfree);
    let usable = used + stats.f_bavail;
    if usable == 0 {
        return Ok(0.0);
    }
    Ok(used as f64 * 100.0 / usable as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_are_paths_and_others_are_not() {
        assert_eq!(local_path("file:///srv/repo"), Some(PathBuf::from("/srv/repo")));
        assert_eq!(local_path("/srv/repo"), Some(PathBuf::from("/srv/repo")));
        assert_eq!(local_path("s3://bucket/x"), None);
        let usage = usage_percent(Path::new("/")).unwrap();
        assert!((0.0..=100.0).contains(&usage), "{usage}");
    }
}
