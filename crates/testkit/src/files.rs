//! Files and bytes: deterministic test data, walking a directory, damaging a file.

use std::path::{Path, PathBuf};

/// Deterministic pseudo-random bytes (xorshift64*): incompressible for zstd, so volume
/// tests need no fixture files.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Every non-directory entry under `dir`, recursively and sorted (empty when `dir` is absent).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Flips one byte of the file at `path`, `fraction` of the way through it.
pub fn damage_file(path: &Path, fraction: f64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = ((bytes.len() as f64) * fraction) as usize;
    bytes[at] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_deterministic_per_seed() {
        assert_eq!(random_bytes(100, 1), random_bytes(100, 1));
        assert_ne!(random_bytes(100, 1), random_bytes(100, 2));
        assert_eq!(random_bytes(13, 7).len(), 13);
    }

    #[test]
    fn all_files_walks_subdirectories_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/2"), b"").unwrap();
        std::fs::write(dir.path().join("1"), b"").unwrap();
        assert_eq!(all_files(dir.path()), [dir.path().join("1"), dir.path().join("a/b/2")]);
        assert!(all_files(&dir.path().join("absent")).is_empty());
    }
}
