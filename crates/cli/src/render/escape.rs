//! Text from backups and errors made safe for a terminal.

/// `text` with every control character (C0, DEL, C1) and every bidirectional-text control
/// written as a `\xNN` / `\u{NNNN}` escape, so that a name read from a backup (a crafted
/// file name, a hostile manifest) cannot drive the terminal or reorder what it shows.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    escape_with(text, false)
}

/// [`escape`] that keeps line breaks: for error messages, which may quote a tool's
/// several lines of output.
pub fn escape_lines(text: &str) -> std::borrow::Cow<'_, str> {
    escape_with(text, true)
}

fn escape_with(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The error and those of its causes whose text is not already part of the message.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
