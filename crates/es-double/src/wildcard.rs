//! The double's own wildcard matcher for index, repository and snapshot patterns (`*` matches any
//! run of characters, everything else is literal).
//!
//! It is written independently of `lifeboat-es`'s matcher (literal pieces found in order, rather
//! than backtracking over characters), so that one bug cannot make the client and its test double
//! agree on a wrong answer.

/// True when `name` matches `pattern`.
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = pieces.as_slice() else {
        // `split` yields at least one piece; a single one means no `*`.
        return pattern == name;
    };
    let Some(rest) = name.strip_prefix(first) else { return false };
    // The last piece is anchored at the end and must not overlap the first.
    let Some(mut rest) = rest.strip_suffix(last) else { return false };
    for piece in middle {
        // The leftmost occurrence leaves the most room for the pieces after it.
        match rest.find(piece) {
            Some(at) => rest = rest.get(at + piece.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exactly"));
        assert!(!wildcard_match("exact", "inexact"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
    }

    #[test]
    fn stars_match_any_run() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("logs-*", "logs-2024"));
        assert!(wildcard_match("logs-*", "logs-"));
        assert!(wildcard_match("*-2024*", "logs-2024.01"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(wildcard_match("a**c", "ac"));
        assert!(!wildcard_match("a*b*c", "aXbY"));
        assert!(!wildcard_match("logs-*", "metrics-1"));
    }

    #[test]
    fn anchored_pieces_do_not_overlap() {
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("ab*ba", "abba"));
        assert!(!wildcard_match("a*a*a", "aa"));
        assert!(wildcard_match("a*a*a", "aaa"));
        assert!(wildcard_match("*.*", "ä.ö"));
    }
}
