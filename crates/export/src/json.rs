//! Small JSON helpers: whitespace removal that keeps every token as written, and reading a
//! row's values as the raw text the server produced.

/// Removes the whitespace outside strings; keys, their order, duplicates and number spellings
/// stay exactly as written (unlike a parse and re-serialisation).
pub(crate) fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

/// The text of a JSON value for comparisons and SQL literals: a string's content, or any other
/// value's JSON text (`12`, `true`, `{"a":1}`); `None` for `null`.
pub(crate) fn value_text(raw: &serde_json::value::RawValue) -> Result<Option<String>, String> {
    let t = raw.get();
    if t == "null" {
        return Ok(None);
    }
    if t.starts_with('"') {
        return serde_json::from_str::<String>(t).map(Some).map_err(|e| e.to_string());
    }
    Ok(Some(t.to_string()))
}

/// A JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_order() {
        assert_eq!(minify("{ \"b\" : 1,\n \"a\": \"x y\\\" \" , \"b\":2 }"), "{\"b\":1,\"a\":\"x y\\\" \",\"b\":2}");
    }
}
