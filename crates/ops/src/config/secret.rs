//! Secrets by reference only: a [`SecretRef`] names a file or an environment variable that
//! holds the secret, and [`find_inline_secrets`] refuses a file that holds one itself.

use std::path::PathBuf;

use lifeboat_storage::redact_url;
use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use zeroize::Zeroizing;

use super::error::{Problem, ProblemKind};
use super::lines::line_of;

/// Where a secret is, never the secret: the two keys every table that needs one takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    /// A file whose first line is the secret (`password-file`).
    pub file: Option<PathBuf>,
    /// An environment variable holding it (`password-env`).
    pub env: Option<String>,
}

/// Why a referenced secret could not be read. Names the file or variable, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read password file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's first line is empty.
    #[error("password file {} is empty", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The variable is not set, empty or not UTF-8.
    #[error("environment variable ${name} is not set (or empty, or not UTF-8)")]
    Unset {
        /// The variable.
        name: String,
    },
}

impl SecretRef {
    /// A reference from the two keys of a table.
    pub fn new(file: Option<PathBuf>, env: Option<String>) -> Self {
        SecretRef { file, env }
    }

    /// True when neither key was given.
    pub fn is_none(&self) -> bool {
        self.file.is_none() && self.env.is_none()
    }

    /// Reads the secret: the file's first line, or the variable's value; `Ok(None)` when no
    /// reference was given.
    pub fn read(&self) -> Result<Option<Zeroizing<String>>, SecretError> {
        if let Some(path) = &self.file {
            let text = Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| SecretError::Read { path: path.clone(), source })?,
            );
            let line = text.lines().next().unwrap_or("");
            if line.is_empty() {
                return Err(SecretError::EmptyFile { path: path.clone() });
            }
            return Ok(Some(Zeroizing::new(line.to_owned())));
        }
        if let Some(name) = &self.env {
            return match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(Some(Zeroizing::new(value))),
                _ => Err(SecretError::Unset { name: name.clone() }),
            };
        }
        Ok(None)
    }

    /// The problems of this reference in `plan` at `table` (the keys' dotted prefix).
    pub(crate) fn check(&self, plan: &str, table: &str, problems: &mut Vec<Problem>) {
        let key = |name: &str| if table.is_empty() { name.to_owned() } else { format!("{table}.{name}") };
        if self.file.is_some() && self.env.is_some() {
            problems.push(Problem {
                plan: Some(plan.to_owned()),
                key: key("password-file"),
                line: None,
                kind: ProblemKind::Conflicting { other: key("password-env") },
            });
        }
        if let Some(name) = &self.env
            && !is_variable_name(name)
        {
            // Most likely the password itself was written here: say so without quoting it.
            problems.push(Problem {
                plan: Some(plan.to_owned()),
                key: key("password-env"),
                line: None,
                kind: ProblemKind::BadValue(
                    "must name an environment variable (letters, digits and _, not starting with a digit), \
                     not hold the password"
                        .into(),
                ),
            });
        }
    }
}

/// True for a portable environment variable name.
pub(crate) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Keys that can only hold a secret, wherever they appear.
const SECRET_KEYS: &[&str] =
    &["password", "passphrase", "secret", "token", "api-key", "access-key", "secret-key", "secret-access-key"];

/// Every secret written into the document: a key from [`SECRET_KEYS`], or a string that is a
/// URL carrying a password (or, for object stores, an access key), anywhere. The problems
/// name the plan, the key and the line, never the value.
pub(crate) fn find_inline_secrets(document: &DeTable<'_>, text: &str) -> Vec<Problem> {
    let mut found = Vec::new();
    for (key, value) in document {
        walk(text, &mut Vec::new(), key, value, &mut found);
    }
    found
}

fn walk(
    text: &str,
    path: &mut Vec<String>,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
    found: &mut Vec<Problem>,
) {
    path.push(key.get_ref().to_string());
    if SECRET_KEYS.contains(&key.get_ref().as_ref()) {
        found.push(problem(path, line_of(text, key.span().start), "a password key"));
    } else {
        inspect(text, path, value, found);
    }
    path.pop();
}

fn inspect(text: &str, path: &mut Vec<String>, value: &Spanned<DeValue<'_>>, found: &mut Vec<Problem>) {
    match value.get_ref() {
        DeValue::String(s) if redact_url(s) != s.as_ref() || has_key_only_user(s) => {
            found.push(problem(path, line_of(text, value.span().start), "a URL with a password"));
        }
        DeValue::String(s) if has_url_token(s) => {
            found.push(problem(path, line_of(text, value.span().start), "a URL with a token"));
        }
        DeValue::Table(table) => {
            for (key, value) in table {
                walk(text, path, key, value, found);
            }
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(last) = path.last_mut() {
                    let base = last.split('[').next().unwrap_or_default().to_owned();
                    *last = format!("{base}[{i}]");
                }
                inspect(text, path, item, found);
            }
        }
        _ => {}
    }
}

/// `s3://AKIA@bucket`: an object-store URL whose user part, even without `:`, is a key.
fn has_key_only_user(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    ["s3", "cos", "obs", "oss", "gcs", "azblob"].contains(&scheme.to_ascii_lowercase().as_str())
        && authority.contains('@')
}

/// A webhook URL that is itself the credential: a Slack incoming webhook
/// (`hooks.slack.com/services/...`), or a query parameter named like a token.
fn has_url_token(s: &str) -> bool {
    let Ok(url) = url::Url::parse(s) else { return false };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let slack = url.host_str().is_some_and(|h| h.eq_ignore_ascii_case("hooks.slack.com"))
        && url.path().starts_with("/services/");
    let token_param = url.query_pairs().any(|(k, _)| {
        ["token", "access_token", "api_key", "apikey", "key", "secret", "sig", "signature"]
            .contains(&k.to_ascii_lowercase().as_str())
    });
    slack || token_param
}

/// A problem at `path` (`plans.NAME.rest...` names the plan and its key).
fn problem(path: &[String], line: Option<usize>, what: &'static str) -> Problem {
    let (plan, key) = match path {
        [first, plan, rest @ ..] if first == "plans" => (Some(plan.clone()), rest.join(".")),
        _ => (None, path.join(".")),
    };
    Problem { plan, key, line, kind: ProblemKind::InlineSecret { what } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(text: &str) -> Vec<Problem> {
        let document = DeTable::parse(text).unwrap();
        find_inline_secrets(document.get_ref(), text)
    }

    #[test]
    fn password_keys_and_urls_with_passwords_are_found_with_plan_key_and_line() {
        let text = "[plans.db]\nrepository = \"/r\"\n[plans.db.source]\nkind = \"postgres\"\nurl = \"postgres://u:hunter2@h/d\"\npassword = \"hunter2\"\n";
        let found = secrets(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].plan.as_deref(), Some("db"));
        let keys: Vec<_> = found.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("source.url", Some(5))), "{keys:?}");
        assert!(keys.contains(&("source.password", Some(6))), "{keys:?}");
        for p in &found {
            assert!(!p.to_string().contains("hunter2"), "{p}");
        }
    }

    #[test]
    fn argv_entries_and_access_keys_are_found_too() {
        let text = "[plans.a.source]\nkind = \"stdin\"\ncommand = [\"dump\", \"mysql://root:pw@db/x\"]\n[[plans.a.copy-to]]\nrepository = \"s3://AKIAEXAMPLE@bucket/x\"\n";
        let found = secrets(text);
        let keys: Vec<_> = found.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["copy-to[0].repository", "source.command[1]"], "{found:?}");
    }

    #[test]
    fn references_and_plain_urls_are_fine() {
        let text = "[plans.a]\nrepository = \"s3://bucket/x?endpoint=http://127.0.0.1:9000\"\npassword-file = \"/p\"\n[plans.a.source]\nkind = \"redis\"\nurl = \"redis://cache:6379/0\"\npassword-env = \"REDIS_PW\"\n";
        assert_eq!(secrets(text), Vec::new());
    }

    #[test]
    fn variable_names_are_checked() {
        assert!(is_variable_name("LIFEBOAT_PG_PASSWORD") && is_variable_name("_x1"));
        assert!(!is_variable_name("") && !is_variable_name("1X") && !is_variable_name("hunter 2"));
    }
}
