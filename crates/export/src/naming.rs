//! Names of export files: a template with `{plan}`, `{id}`, `{time:FORMAT}` (chrono's strftime
//! format, UTC; `{time}` alone is `%Y%m%d%H%M%S`) and `{random:N}` (N random characters from
//! `a-z0-9`, 1 to 64). The extension (`.tar.gz`, `.tar.zst`, then `.lbx` when encrypted) is
//! appended. `{plan}` and `{id}` keep only `A-Za-z0-9._-` (anything else becomes `-`); the
//! rendered name may not contain `/` or start with `.`.

use chrono::{DateTime, Utc};

use crate::error::{ExportError, Result};

/// The default template: the issue's `{app}_{id}_{YYYYMMDDHHmmss}_{10 random chars}`.
pub const DEFAULT_TEMPLATE: &str = "{plan}_{id}_{time:%Y%m%d%H%M%S}_{random:10}";

enum Part {
    Lit(String),
    Plan,
    Id,
    Time(String),
    Random(usize),
}

/// A checked naming template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    text: String,
}

fn parse(text: &str) -> Result<Vec<Part>> {
    let bad = |reason: String| ExportError::invalid(format!("naming template `{text}`"), reason);
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        if i > 0 {
            parts.push(Part::Lit(rest[..i].to_string()));
        }
        let end = rest[i..].find('}').ok_or_else(|| bad("a `{` is not closed".into()))? + i;
        let token = &rest[i + 1..end];
        let (name, arg) = match token.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (token, None),
        };
        parts.push(match (name, arg) {
            ("plan", None) => Part::Plan,
            ("id", None) => Part::Id,
            ("time", None) => Part::Time("%Y%m%d%H%M%S".into()),
            ("time", Some(f)) => {
                let items: Vec<_> = chrono::format::StrftimeItems::new(f).collect();
                if items.iter().any(|it| matches!(it, chrono::format::Item::Error)) {
                    return Err(bad(format!("`{f}` is not a valid time format")));
                }
                Part::Time(f.to_string())
            }
            ("random", Some(n)) => {
                let n: usize = n.parse().map_err(|_| bad(format!("`{{random:{n}}}`: not a number")))?;
                if !(1..=64).contains(&n) {
                    return Err(bad("`{random:N}` needs N from 1 to 64".into()));
                }
                Part::Random(n)
            }
            _ => return Err(bad(format!("unknown placeholder `{{{token}}}` (use plan, id, time, random:N)"))),
        });
        rest = &rest[end + 1..];
    }
    if rest.contains('}') {
        return Err(bad("a `}` without `{`".into()));
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    Ok(parts)
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect()
}

impl NameTemplate {
    /// Checks a template.
    pub fn new(text: &str) -> Result<Self> {
        parse(text)?;
        Ok(NameTemplate { text: text.to_string() })
    }

    /// The template's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The file name (without extension) for an export of `plan` with `id` made at `time`.
    pub fn render(&self, plan: &str, id: &str, time: DateTime<Utc>) -> Result<String> {
        let mut out = String::new();
        for p in parse(&self.text)? {
            match p {
                Part::Lit(s) => out.push_str(&s),
                Part::Plan => out.push_str(&sanitize(plan)),
                Part::Id => out.push_str(&sanitize(id)),
                Part::Time(f) => out.push_str(&sanitize(&time.format(&f).to_string())),
                Part::Random(n) => out.push_str(&random_text(n)?),
            }
        }
        if out.is_empty() || out.contains('/') || out.starts_with('.') || out.contains('\\') {
            return Err(ExportError::invalid(
                format!("naming template `{}`", self.text),
                format!("the name `{out}` is not a plain file name"),
            ));
        }
        Ok(out)
    }
}

impl Default for NameTemplate {
    fn default() -> Self {
        NameTemplate { text: DEFAULT_TEMPLATE.into() }
    }
}

/// `n` random characters from `a-z0-9`.
pub fn random_text(n: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let bytes =
            lifeboat_crypto::random_bytes::<32>().map_err(|e| ExportError::invalid("random name", e.to_string()))?;
        // 252 = 7 * 36: reject the top to keep the choice uniform.
        for b in bytes.into_iter().filter(|b| *b < 252) {
            if out.len() < n {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_default() {
        let t: DateTime<Utc> = "2026-12-02T03:04:05Z".parse().unwrap();
        let name = NameTemplate::default().render("log platform", "42", t).unwrap();
        let (head, random) = name.rsplit_once('_').unwrap();
        assert_eq!(head, "log-platform_42_20261202030405");
        assert_eq!(random.len(), 10);
        assert!(random.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{random}");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(NameTemplate::new("{nope}").is_err());
        assert!(NameTemplate::new("{random:0}").is_err());
        assert!(NameTemplate::new("{plan").is_err());
        assert!(NameTemplate::new("a}").is_err());
        let t: DateTime<Utc> = "2026-12-02T03:04:05Z".parse().unwrap();
        assert!(NameTemplate::new("{time:%Y/%m}").unwrap().render("p", "i", t).unwrap() == "2026-12");
        assert!(NameTemplate::new(".{id}").unwrap().render("p", "i", t).is_err());
    }
}
