//! Validation of names (repositories, snapshots, indices, policies) and wildcard matching.
//!
//! The rules follow Elasticsearch's own checks so that bad input is refused before any request is
//! sent, with one clear error.

use crate::error::{EsError, Result};

const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ',', '#', ' ', '\t', '\n'];

fn check_common(what: &'static str, name: &str, extra_forbidden: &[char]) -> Result<()> {
    if name.is_empty() {
        return Err(EsError::invalid(what, name, "must not be empty"));
    }
    if name.len() > 255 {
        return Err(EsError::invalid(what, name, "must be at most 255 bytes"));
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN.contains(c) || extra_forbidden.contains(c) || c.is_whitespace()) {
        return Err(EsError::invalid(what, name, format!("must not contain {c:?}")));
    }
    if name.starts_with('_') {
        return Err(EsError::invalid(what, name, "must not start with '_'"));
    }
    Ok(())
}

/// Validates a repository name.
pub fn validate_repository_name(name: &str) -> Result<()> {
    check_common("repository name", name, &[])
}

/// Validates a concrete snapshot name (lowercase, no wildcards).
pub fn validate_snapshot_name(name: &str) -> Result<()> {
    check_common("snapshot name", name, &[])?;
    if name != name.to_lowercase() {
        return Err(EsError::invalid("snapshot name", name, "must be lowercase"));
    }
    Ok(())
}

/// Validates a concrete index name.
pub fn validate_index_name(name: &str) -> Result<()> {
    check_common("index name", name, &[':'])?;
    if name != name.to_lowercase() {
        return Err(EsError::invalid("index name", name, "must be lowercase"));
    }
    if name.starts_with('-') || name.starts_with('+') {
        return Err(EsError::invalid("index name", name, "must not start with '-' or '+'"));
    }
    if name == "." || name == ".." {
        return Err(EsError::invalid("index name", name, "must not be '.' or '..'"));
    }
    Ok(())
}

/// Validates an index pattern: comma-separated names that may contain `*`.
pub fn validate_index_pattern(pattern: &str) -> Result<()> {
    if pattern.trim().is_empty() {
        return Err(EsError::invalid("index pattern", pattern, "must not be empty"));
    }
    for part in pattern.split(',') {
        if part.is_empty() {
            return Err(EsError::invalid("index pattern", pattern, "has an empty element"));
        }
        if part.starts_with('-') {
            return Err(EsError::invalid("index pattern", pattern, "exclusions ('-name') are not supported"));
        }
        if part == "*" || part == "_all" {
            return Err(EsError::invalid(
                "index pattern",
                pattern,
                "matches every index; name a prefix such as 'logs-*' instead",
            ));
        }
        let concrete = part.replace('*', "x");
        validate_index_name(&concrete).map_err(|e| match e {
            EsError::InvalidInput { reason, .. } => EsError::invalid("index pattern", pattern, reason),
            other => other,
        })?;
    }
    Ok(())
}

/// Validates a prefix put in front of restored index names.
pub fn validate_restore_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Err(EsError::invalid(
            "restore prefix",
            prefix,
            "must not be empty (restored indices must not replace live ones)",
        ));
    }
    validate_index_name(&format!("{prefix}x")).map_err(|e| match e {
        EsError::InvalidInput { reason, .. } => EsError::invalid("restore prefix", prefix, reason),
        other => other,
    })
}

/// Validates a policy name: lowercase letters, digits, `-` and `_`, starting with a letter or digit.
pub fn validate_policy_name(name: &str) -> Result<()> {
    let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_rest = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok_first || !ok_rest || name.len() > 64 {
        return Err(EsError::invalid(
            "policy name",
            name,
            "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        ));
    }
    Ok(())
}

/// Matches `name` against a single wildcard pattern (`*` matches any run of characters).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `name` against a comma-separated list of wildcard patterns.
pub fn matches_any(patterns: &str, name: &str) -> bool {
    patterns.split(',').any(|p| wildcard_match(p.trim(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("logs-*", "logs-2024"));
        assert!(wildcard_match("*-2024*", "logs-2024.01"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXbY"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exactly"));
        assert!(matches_any("x-*,logs-*", "logs-1"));
    }

    #[test]
    fn names() {
        assert!(validate_index_name("logs-2024.01.01").is_ok());
        assert!(validate_index_name("Logs").is_err());
        assert!(validate_index_name("_x").is_err());
        assert!(validate_index_name("-x").is_err());
        assert!(validate_index_name("a b").is_err());
        assert!(validate_snapshot_name("snap-1").is_ok());
        assert!(validate_snapshot_name("Snap").is_err());
        assert!(validate_repository_name("my_repo").is_ok());
        assert!(validate_repository_name("my#repo").is_err());
        assert!(validate_repository_name("").is_err());
        assert!(validate_index_pattern("logs-*,metrics-*").is_ok());
        assert!(validate_index_pattern("*").is_err());
        assert!(validate_index_pattern("logs-*,").is_err());
        assert!(validate_restore_prefix("restore_").is_ok());
        assert!(validate_restore_prefix("").is_err());
        assert!(validate_restore_prefix("_r").is_err());
        assert!(validate_policy_name("nightly-logs").is_ok());
        assert!(validate_policy_name("Nightly").is_err());
    }
}
