//! `--redact`: values of secret keys taken out of configuration files (YAML, TOML, INI and
//! `KEY=VALUE` files by line; JSON by its tokens), so that a configuration bundle can be
//! handed to people. A key matches a pattern when it contains it, ignoring case (`password`
//! matches `db_password` and `PASSWORD`). The value becomes `***REDACTED***` (a JSON/YAML/TOML
//! string); every replacement is listed with file, key and line in the export's manifest.
//!
//! Line-based formats handle one `key: value` / `key = value` per line, the common case for
//! secrets; a YAML block scalar (`key: |`) is replaced with its indented lines. A file of
//! another type is copied as it is.

use crate::manifest::Redaction;

/// The text that replaces a value.
pub const REDACTED: &str = "***REDACTED***";

/// The kind of configuration file, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    /// `.yaml`, `.yml`.
    Yaml,
    /// `.toml`.
    Toml,
    /// `.ini`, `.cfg`, `.conf`, `.properties`, `.env`.
    Ini,
    /// `.json`.
    Json,
}

impl ConfigKind {
    /// By file name; `None`: not a configuration file this knows.
    pub fn of(name: &str) -> Option<Self> {
        let lower = name.to_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or(lower.as_str());
        match ext {
            "yaml" | "yml" => Some(ConfigKind::Yaml),
            "toml" => Some(ConfigKind::Toml),
            "ini" | "cfg" | "conf" | "cnf" | "properties" | "env" => Some(ConfigKind::Ini),
            "json" => Some(ConfigKind::Json),
            _ => None,
        }
    }
}

fn matches(key: &str, patterns: &[String]) -> bool {
    let k = key.to_lowercase();
    patterns.iter().any(|p| !p.is_empty() && k.contains(&p.to_lowercase()))
}

/// Redacts `text` (a file of `kind`, named `file` in the export); returns the new text and
/// what was replaced.
pub fn redact(text: &str, kind: ConfigKind, file: &str, patterns: &[String]) -> (String, Vec<Redaction>) {
    match kind {
        ConfigKind::Json => redact_json(text, file, patterns),
        _ => redact_lines(text, kind, file, patterns),
    }
}

fn redact_lines(text: &str, kind: ConfigKind, file: &str, patterns: &[String]) -> (String, Vec<Redaction>) {
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut skip_deeper_than: Option<usize> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        if let Some(level) = skip_deeper_than {
            if body.trim().is_empty() || indent > level {
                continue;
            }
            skip_deeper_than = None;
        }
        let trimmed = body.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') || trimmed.starts_with('[') {
            out.push_str(line);
            continue;
        }
        let seps: &[char] = match kind {
            ConfigKind::Yaml => &[':'],
            ConfigKind::Toml => &['='],
            _ => &['=', ':'],
        };
        let Some(pos) = trimmed.find(seps) else {
            out.push_str(line);
            continue;
        };
        let raw_key = trimmed[..pos].trim();
        let key = raw_key.trim_start_matches("- ").trim_start_matches("export ").trim_matches(['"', '\'']);
        let value = trimmed[pos + 1..].trim();
        if key.is_empty() || !matches(key, patterns) || (kind == ConfigKind::Yaml && value.is_empty()) {
            out.push_str(line);
            continue;
        }
        let sep = &trimmed[pos..pos + 1];
        let replacement = match kind {
            ConfigKind::Ini => REDACTED.to_string(),
            _ => format!("\"{REDACTED}\""),
        };
        let space = if kind == ConfigKind::Yaml || trimmed[pos + 1..].starts_with(' ') { " " } else { "" };
        let before = if sep == "=" && raw_key.len() < trimmed[..pos].len() { " " } else { "" };
        out.push_str(&format!("{}{raw_key}{before}{sep}{space}{replacement}{ending}", &body[..indent]));
        if kind == ConfigKind::Yaml && (value.starts_with('|') || value.starts_with('>')) {
            skip_deeper_than = Some(indent);
        }
        found.push(Redaction { file: file.to_string(), key: key.to_string(), line: i as u64 + 1 });
    }
    (out, found)
}

/// Token-level JSON redaction: a scalar or container value of a matching key becomes the
/// string `***REDACTED***`; everything else is kept byte for byte.
fn redact_json(text: &str, file: &str, patterns: &[String]) -> (String, Vec<Redaction>) {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut i = 0;
    let mut last = 0;
    let line_of = |pos: usize| text[..pos].matches('\n').count() as u64 + 1;
    let string_end = |start: usize| -> usize {
        let mut j = start + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        b.len()
    };
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let end = string_end(i);
        let mut j = end;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= b.len() || b[j] != b':' {
            i = end;
            continue;
        }
        let key: String = serde_json::from_str(&text[i..end]).unwrap_or_default();
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if !matches(&key, patterns) || j >= b.len() {
            i = end;
            continue;
        }
        // The value's extent.
        let vstart = j;
        let vend = match b[j] {
            b'"' => string_end(j),
            b'{' | b'[' => {
                let mut depth = 0i32;
                let mut k = j;
                while k < b.len() {
                    match b[k] {
                        b'"' => {
                            k = string_end(k);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                k += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
                k
            }
            _ => {
                let mut k = j;
                while k < b.len() && !matches!(b[k], b',' | b'}' | b']') && !b[k].is_ascii_whitespace() {
                    k += 1;
                }
                k
            }
        };
        out.push_str(&text[last..vstart]);
        out.push_str(&format!("\"{REDACTED}\""));
        found.push(Redaction { file: file.to_string(), key, line: line_of(vstart) });
        last = vend;
        i = vend;
    }
    out.push_str(&text[last..]);
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Vec<String> {
        vec!["password".into(), "secret".into(), "token".into()]
    }

    #[test]
    fn yaml() {
        let text = "db:\n  host: x\n  password: hunter2 # c\n  key: |\n    abc\n    def\n  api_token: |\n    line1\n    line2\n  user: u\n";
        let (out, found) = redact(text, ConfigKind::Yaml, "f.yaml", &p());
        assert_eq!(
            out,
            "db:\n  host: x\n  password: \"***REDACTED***\"\n  key: |\n    abc\n    def\n  api_token: \"***REDACTED***\"\n  user: u\n"
        );
        assert_eq!(
            found.iter().map(|r| (r.key.as_str(), r.line)).collect::<Vec<_>>(),
            [("password", 3), ("api_token", 7)]
        );
    }

    #[test]
    fn toml_and_ini() {
        let (out, found) = redact("[db]\npassword = \"x\"\nport = 5\n", ConfigKind::Toml, "c.toml", &p());
        assert_eq!(out, "[db]\npassword = \"***REDACTED***\"\nport = 5\n");
        assert_eq!(found.len(), 1);
        let (out, _) = redact("[a]\nSecret_Key=abc\nx=1\n", ConfigKind::Ini, "c.ini", &p());
        assert_eq!(out, "[a]\nSecret_Key=***REDACTED***\nx=1\n");
    }

    #[test]
    fn json() {
        let text = "{\n  \"user\": \"u\",\n  \"password\": \"p\\\"w\",\n  \"nested\": {\"token\": 123, \"secrets\": [1, {\"a\": 2}]},\n  \"ok\": true\n}";
        let (out, found) = redact(text, ConfigKind::Json, "c.json", &p());
        assert_eq!(
            out,
            "{\n  \"user\": \"u\",\n  \"password\": \"***REDACTED***\",\n  \"nested\": {\"token\": \"***REDACTED***\", \"secrets\": \"***REDACTED***\"},\n  \"ok\": true\n}"
        );
        assert_eq!(found.len(), 3);
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
    }
}
