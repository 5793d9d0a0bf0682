//! Tag files: `exclude-if-present NAME[:CONTENT-PREFIX]` and CACHEDIR.TAG, looked up
//! through the open directory's descriptor so that the directory that is checked is the
//! one that is listed.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;

use rustix::fs::{AtFlags, Mode, OFlags, openat, statat};

/// The signature a valid `CACHEDIR.TAG` starts with (<https://bford.info/cachedir/>).
pub(crate) const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// A file whose presence in a directory excludes the directory's other entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagFile {
    /// Its name in the directory.
    pub(crate) name: OsString,
    /// What it must start with; empty: any content (or any kind of entry) will do.
    pub(crate) prefix: Vec<u8>,
}

impl TagFile {
    /// `NAME[:CONTENT-PREFIX]`, as restic's `--exclude-if-present` reads it (the first `:`
    /// separates). The error says what is wrong, in words.
    pub(crate) fn parse(spec: &str) -> Result<TagFile, String> {
        let (name, prefix) = match spec.split_once(':') {
            Some((name, prefix)) => (name, prefix.as_bytes().to_vec()),
            None => (spec, Vec::new()),
        };
        if name.is_empty() {
            return Err("it names no file".into());
        }
        if name.contains('/') || name == "." || name == ".." {
            return Err("the tag must be a plain file name (no `/`, not `.` or `..`)".into());
        }
        Ok(TagFile { name: name.into(), prefix })
    }

    /// The CACHEDIR.TAG standard's tag.
    pub(crate) fn cachedir() -> TagFile {
        TagFile { name: "CACHEDIR.TAG".into(), prefix: CACHEDIR_SIGNATURE.to_vec() }
    }

    /// Whether the directory open as `dir` holds this tag. `Err` only when the tag is there
    /// but could not be read (the caller warns and backs the directory up).
    pub(crate) fn is_in(&self, dir: impl AsFd) -> io::Result<bool> {
        let stat = match statat(&dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if self.prefix.is_empty() {
            return Ok(true);
        }
        // Content is only read from a regular file, never through a symlink or from a FIFO.
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return Ok(false);
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = openat(&dir, &self.name, flags, Mode::empty())?;
        let mut start = Vec::with_capacity(self.prefix.len());
        File::from(fd).take(self.prefix.len() as u64).read_to_end(&mut start)?;
        Ok(start == self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_at_the_first_colon() {
        assert_eq!(TagFile::parse(".nobackup").unwrap(), TagFile { name: ".nobackup".into(), prefix: vec![] });
        assert_eq!(TagFile::parse("T:a:b").unwrap(), TagFile { name: "T".into(), prefix: b"a:b".to_vec() });
        for bad in ["", ":x", "a/b", ".", ".."] {
            assert!(TagFile::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_tag_needs_its_prefix_and_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let open = || File::open(dir.path()).unwrap();
        let cache = TagFile::cachedir();
        assert!(!cache.is_in(open()).unwrap(), "no tag yet");
        std::fs::write(dir.path().join("CACHEDIR.TAG"), b"Signature: 8a477f597d28d172789f06886806bc5").unwrap();
        assert!(!cache.is_in(open()).unwrap(), "a signature one byte short");
        std::fs::write(dir.path().join("CACHEDIR.TAG"), b"just a file").unwrap();
        assert!(!cache.is_in(open()).unwrap(), "no signature");
        let mut valid = CACHEDIR_SIGNATURE.to_vec();
        valid.extend_from_slice(b"\n# This file is a cache directory tag.\n");
        std::fs::write(dir.path().join("CACHEDIR.TAG"), &valid).unwrap();
        assert!(cache.is_in(open()).unwrap());

        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("real"), &valid).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("real"), dir.path().join("LINK.TAG")).unwrap();
        let through_link = TagFile { name: "LINK.TAG".into(), prefix: CACHEDIR_SIGNATURE.to_vec() };
        assert!(!through_link.is_in(open()).unwrap(), "a symlink is not followed for content");
        let any = TagFile::parse("LINK.TAG").unwrap();
        assert!(any.is_in(open()).unwrap(), "without a prefix any entry of that name tags");
    }
}
