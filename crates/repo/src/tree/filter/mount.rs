//! Where a file system (or a bind mount) begins: `one-file-system` compares each entry's
//! device and, where the kernel reports it (Linux 5.8 and later, `statx` `STATX_MNT_ID`),
//! its mount id with those of the backup root it was reached from.

use std::path::Path;

use rustix::fs::{AtFlags, CWD, StatxFlags, statx};

/// Which file system and mount an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MountKey {
    /// `st_dev`.
    pub(crate) device: u64,
    /// The mount id; `None` where the kernel does not report one.
    pub(crate) mount: Option<u64>,
}

impl MountKey {
    /// The key of `path` itself (a symlink is not followed, an automount not triggered).
    /// `device` is the `st_dev` the caller already read with `lstat`, used when `statx`
    /// is not available.
    pub(crate) fn of(path: &Path, device: u64) -> MountKey {
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
        match statx(CWD, path, flags, StatxFlags::MNT_ID) {
            Ok(st) if StatxFlags::from_bits_retain(st.stx_mask).contains(StatxFlags::MNT_ID) => {
                MountKey { device, mount: Some(st.stx_mnt_id) }
            }
            _ => MountKey { device, mount: None },
        }
    }

    /// Whether `other` is on another file system or mount than `self`.
    pub(crate) fn differs(&self, other: &MountKey) -> bool {
        self.device != other.device || matches!((self.mount, other.mount), (Some(a), Some(b)) if a != b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn entries_of_one_directory_share_a_key_and_proc_does_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let key = |p: &Path| MountKey::of(p, std::fs::symlink_metadata(p).unwrap().dev());
        let root = key(dir.path());
        assert!(!root.differs(&key(&dir.path().join("f"))));
        assert!(root.differs(&key(Path::new("/proc/self"))), "/proc is another file system");
    }

    #[test]
    fn a_missing_mount_id_compares_devices_only() {
        let a = MountKey { device: 1, mount: Some(5) };
        assert!(!a.differs(&MountKey { device: 1, mount: None }));
        assert!(a.differs(&MountKey { device: 2, mount: None }));
        assert!(a.differs(&MountKey { device: 1, mount: Some(6) }));
    }
}
