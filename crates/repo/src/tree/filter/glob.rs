//! One path component's glob: `*`, `?`, `[...]` and `\` escapes, as Go's `filepath.Match`
//! (which restic uses) reads them, plus POSIX's literal `]` first in a class and `!` as a
//! class negation besides `^`.

/// A compiled glob for one path component (never containing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This character.
    Char(char),
    /// `?`: any one character.
    Any,
    /// `*`: any run of characters, the empty one included.
    Star,
    /// `[...]`: one character in (or, negated, not in) these inclusive ranges.
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Char(want) => *want == c,
            Token::Any => true,
            Token::Star => false,
            Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

impl Glob {
    /// Parses `text` (one component). The error says what is wrong, in words.
    pub(crate) fn parse(text: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => {
                    if tokens.last() == Some(&Token::Star) {
                        continue;
                    }
                    Token::Star
                }
                '?' => Token::Any,
                '\\' => Token::Char(chars.next().ok_or("it ends with a lone `\\`")?),
                '[' => parse_class(&mut chars)?,
                c => Token::Char(c),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// Whether `name` matches the whole glob. Linear backtracking over the last `*`.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let tokens = &self.tokens;
        let (mut t, mut n) = (0, 0);
        // Where the last `*` was, and where in the name it would resume.
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(token) if name.get(n).is_some_and(|&c| token.matches(c)) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((star_at, resume)) => {
                    t = star_at + 1;
                    n = resume + 1;
                    star = Some((star_at, resume + 1));
                }
                None => return false,
            }
        }
        tokens.get(t..).is_some_and(|rest| rest.iter().all(|t| *t == Token::Star))
    }
}

fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Token, String> {
    const UNCLOSED: &str = "a `[` is never closed by `]`";
    let negated = matches!(chars.peek(), Some('^') | Some('!'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or(UNCLOSED)?;
        let lo = match c {
            ']' if !first => break,
            '\\' => chars.next().ok_or(UNCLOSED)?,
            c => c,
        };
        first = false;
        let hi = if chars.peek() == Some(&'-') {
            let mut ahead = chars.clone();
            ahead.next();
            match ahead.peek() {
                // `a-]`: the `-` is a literal at the end of the class.
                Some(']') | None => lo,
                Some(_) => {
                    chars.next();
                    let hi = match chars.next().ok_or(UNCLOSED)? {
                        '\\' => chars.next().ok_or(UNCLOSED)?,
                        c => c,
                    };
                    if hi < lo {
                        return Err(format!("the range `{lo}-{hi}` in a `[...]` class is backwards"));
                    }
                    hi
                }
            }
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    Ok(Token::Class { negated, ranges })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let table: &[(&str, &str, bool)] = &[
            ("*.log", "app.log", true),
            ("*.log", "app.log.1", false),
            ("*.log", ".log", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("a**b", "aXXb", true),
            ("?", "x", true),
            ("?", "", false),
            ("?", "é", true),
            ("??", "x", false),
            ("[abc]", "b", true),
            ("[abc]", "d", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]", "b", false),
            ("[!a-c]", "d", true),
            ("[]]", "]", true),
            ("[a-]", "-", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("[\\]]", "]", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("foo", "foo", true),
            ("foo", "foobar", false),
        ];
        for (glob, name, expected) in table {
            let parsed = Glob::parse(glob).unwrap();
            assert_eq!(parsed.matches(name), *expected, "{glob:?} against {name:?}");
        }
    }

    /// The obvious exponential definition, to check the linear matcher against.
    fn reference(tokens: &[Token], name: &[char]) -> bool {
        match tokens.split_first() {
            None => name.is_empty(),
            Some((Token::Star, rest)) => (0..=name.len()).any(|skip| reference(rest, &name[skip..])),
            Some((token, rest)) => {
                name.split_first().is_some_and(|(c, tail)| token.matches(*c) && reference(rest, tail))
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_matcher_agrees_with_the_definition(
            glob in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "*", "?", "[ab]", "[^a]"]), 0..7),
            name in "[abc]{0,8}",
        ) {
            let glob = Glob::parse(&glob.concat()).unwrap();
            let chars: Vec<char> = name.chars().collect();
            proptest::prop_assert_eq!(glob.matches(&name), reference(&glob.tokens, &chars), "{:?} {:?}", glob, name);
        }
    }

    #[test]
    fn bad_globs_are_refused_with_a_reason() {
        for bad in ["[abc", "x[", "[]", "[^", "a\\", "[z-a]"] {
            let err = Glob::parse(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(Glob::parse("[abc").unwrap_err().contains("never closed"));
        assert!(Glob::parse("[z-a]").unwrap_err().contains("backwards"));
    }
}
