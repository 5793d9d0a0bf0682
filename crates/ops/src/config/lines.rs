//! Byte offsets of the TOML text turned into line numbers, and the parser's errors turned
//! into [`Problem`]s that never quote the file (a quoted line could hold a secret).

use std::ops::Range;

use super::error::{Problem, ProblemKind};

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> Option<usize> {
    let before = text.get(..offset.min(text.len()))?;
    Some(before.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// A syntax error of the TOML parser.
pub(crate) fn syntax_problem(text: &str, error: &toml::de::Error) -> Problem {
    Problem {
        plan: None,
        key: String::new(),
        line: error.span().and_then(|s| line_of(text, s.start)),
        kind: ProblemKind::Syntax(error.message().to_owned()),
    }
}

/// An error of deserializing the typed configuration: an unknown key (named, with the line
/// that holds it) or a bad value.
pub(crate) fn schema_problem(text: &str, error: &toml::de::Error) -> Problem {
    let message = error.message();
    let span = error.span().unwrap_or(0..0);
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once('`')
    {
        let offset = key_offset(text, &span, key).unwrap_or(span.start);
        let (plan, table) = enclosing_table(text, offset);
        let full_key = if table.is_empty() { key.to_owned() } else { format!("{table}.{key}") };
        let expected = expected.trim_start_matches(", expected ").trim().to_owned();
        return Problem {
            plan,
            key: full_key,
            line: line_of(text, offset),
            kind: ProblemKind::UnknownKey { expected },
        };
    }
    let (plan, table) = enclosing_table(text, span.start);
    Problem { plan, key: table, line: line_of(text, span.start), kind: ProblemKind::BadValue(message.to_owned()) }
}

/// Where `key` is written as a key (`key =`, `key.`, `"key" =`) at or after `span`, before
/// the next table header: the parser reports an unknown key of an internally tagged table
/// (a `source`) at the table's header, not at the key.
fn key_offset(text: &str, span: &Range<usize>, key: &str) -> Option<usize> {
    let mut offset = line_start(text, span.start);
    let mut first = true;
    for line in text.get(offset..)?.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if !first && trimmed.starts_with('[') {
            return None;
        }
        first = false;
        let unquoted = trimmed
            .strip_prefix(key)
            .or_else(|| trimmed.strip_prefix('"').and_then(|t| t.strip_prefix(key)).and_then(|t| t.strip_prefix('"')));
        if let Some(after) = unquoted
            && matches!(after.trim_start().chars().next(), Some('=' | '.'))
        {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1)
}

/// The plan and the table (below the plan) of the last `[header]` before `offset`:
/// `[plans.db.source]` gives (`db`, `source`).
fn enclosing_table(text: &str, offset: usize) -> (Option<String>, String) {
    let before = text.get(..offset.min(text.len())).unwrap_or_default();
    let header = before.lines().rev().map(str::trim).find(|l| l.starts_with('['));
    let Some(header) = header else { return (None, String::new()) };
    let inner = header.trim_start_matches('[').split(']').next().unwrap_or_default();
    let parts: Vec<&str> = inner.split('.').map(|p| p.trim().trim_matches('"')).collect();
    match parts.as_slice() {
        ["plans", plan, rest @ ..] => (Some((*plan).to_owned()), rest.join(".")),
        other => (None, other.join(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), Some(1));
        assert_eq!(line_of("a\nb\nc", 2), Some(2));
        assert_eq!(line_of("a\nb\nc", 4), Some(3));
    }

    #[test]
    fn a_key_is_found_below_the_header_the_parser_points_at() {
        let text = "[plans.a]\nx = 1\n[plans.a.source]\nkind = \"files\"\n  exclud = 3\n[plans.b]\nexclud = 4\n";
        let header = text.find("[plans.a.source]").unwrap();
        let at = key_offset(text, &(header..header + 16), "exclud").unwrap();
        assert_eq!(line_of(text, at), Some(5));
        assert_eq!(enclosing_table(text, at), (Some("a".into()), "source".into()));
        assert_eq!(key_offset(text, &(0..9), "nothere"), None);
    }
}
