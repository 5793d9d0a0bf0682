//! Object-key validation: the one gate every backend passes keys through.

use crate::StorageError;

/// Checks that `key` is a safe relative object key: non-empty `/`-separated components,
/// none of them `.` or `..` or empty, no leading `/`, no backslash, no NUL or other
/// control character, at most 1024 bytes. Backends call this before any I/O so that no
/// key, however crafted, reaches outside the storage root.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let reject = |reason| Err(StorageError::InvalidKey { key: key.to_owned(), reason });
    if key.is_empty() {
        return reject("empty key");
    }
    if key.len() > 1024 {
        return reject("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return reject("absolute keys are not allowed");
    }
    if key.chars().any(|c| c.is_control()) {
        return reject("control characters are not allowed");
    }
    if key.contains('\\') {
        return reject("backslashes are not allowed");
    }
    for part in key.split('/') {
        match part {
            "" => return reject("empty path component"),
            "." | ".." => return reject("`.` and `..` components are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a listing prefix: like a key, but it may be empty and may end with `/`.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), StorageError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return if prefix.is_empty() {
            Ok(())
        } else {
            Err(StorageError::InvalidKey { key: prefix.to_owned(), reason: "a lone `/` is not a prefix" })
        };
    }
    validate_key(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in ["config", "data/ab/abcdef", "backups/0123", "a b/c-d_e.f"] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn rejects_escapes() {
        for key in ["", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", "a\\b", "a\0b", "a\nb", ".."] {
            assert!(validate_key(key).is_err(), "{key:?} should be rejected");
        }
    }

    #[test]
    fn prefixes_may_be_empty_or_end_in_slash() {
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("data/").is_ok());
        assert!(validate_prefix("data/a").is_ok());
        assert!(validate_prefix("/").is_err());
        assert!(validate_prefix("../").is_err());
    }
}
