//! Exclude patterns over whole paths, with restic's semantics (see `docs/FILTERS.md`):
//! a pattern is a `/`-separated list of component globs that matches any run of
//! consecutive components of the path, or, with a leading `/`, a run that starts at the
//! root; `**` stands for any number of components; `!` re-includes; a trailing `/` makes
//! the last component match directories only.

use std::path::{Component, Path};

use super::glob::Glob;

/// One parsed exclude pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    negated: bool,
    anchored: bool,
    dir_only: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    /// `**`: any number of components, none included.
    AnyDepth,
    /// One component.
    Name(Glob),
}

impl Pattern {
    /// Parses one pattern (already case-folded for a case-insensitive list). The error
    /// says what is wrong with it, in words.
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        let (negated, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let anchored = rest.starts_with('/');
        let dir_only = rest.ends_with('/');
        let mut parts = Vec::new();
        for piece in rest.split('/') {
            match piece {
                "" | "." => continue,
                ".." => return Err("`..` cannot be matched: paths are matched after resolving them".into()),
                "**" => {
                    if !matches!(parts.last(), Some(Part::AnyDepth)) {
                        parts.push(Part::AnyDepth);
                    }
                }
                glob => parts.push(Part::Name(Glob::parse(glob)?)),
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Name(_))) && !matches!(parts.as_slice(), [Part::AnyDepth]) {
            return Err("it names nothing to match".into());
        }
        Ok(Pattern { negated, anchored, dir_only, parts })
    }

    /// Whether the pattern matches `components` (the path's names from the root down) of
    /// an entry that is a directory when `is_dir`.
    fn matches(&self, components: &[String], is_dir: bool) -> bool {
        let starts = if self.anchored { 0..=0 } else { 0..=components.len() };
        let mut memo = Memo::new(self.parts.len(), components.len());
        starts.into_iter().any(|start| {
            memo.clear();
            self.match_from(0, start, start, components, is_dir, &mut memo)
        })
    }

    /// Whether `parts[part..]` matches `components[at..end]` for some `end` that is
    /// acceptable for a window starting at `start`.
    fn match_from(
        &self,
        part: usize,
        at: usize,
        start: usize,
        components: &[String],
        is_dir: bool,
        memo: &mut Memo,
    ) -> bool {
        if memo.failed(part, at) {
            return false;
        }
        let found = match self.parts.get(part) {
            // The window is components[start..at]: it must not be empty, and when it ends at
            // the entry itself a directory-only pattern needs a directory (an earlier end is
            // one of the entry's parents, a directory by definition).
            None => at > start && (at < components.len() || is_dir || !self.dir_only),
            Some(Part::AnyDepth) => {
                (at..=components.len()).any(|next| self.match_from(part + 1, next, start, components, is_dir, memo))
            }
            Some(Part::Name(glob)) => {
                components.get(at).is_some_and(|name| glob.matches(name))
                    && self.match_from(part + 1, at + 1, start, components, is_dir, memo)
            }
        };
        if !found {
            memo.fail(part, at);
        }
        found
    }
}

/// Which (part, component) pairs already failed for the current start: keeps `**` from
/// making the match exponential.
struct Memo {
    width: usize,
    failed: Vec<bool>,
}

impl Memo {
    fn new(parts: usize, components: usize) -> Memo {
        let width = components + 2;
        Memo { width, failed: vec![false; (parts + 1) * width] }
    }

    fn clear(&mut self) {
        self.failed.fill(false);
    }

    fn failed(&self, part: usize, at: usize) -> bool {
        self.failed.get(part * self.width + at).copied().unwrap_or(false)
    }

    fn fail(&mut self, part: usize, at: usize) {
        if let Some(slot) = self.failed.get_mut(part * self.width + at) {
            *slot = true;
        }
    }
}

/// An ordered list of patterns: the last one that matches decides (a plain pattern
/// excludes, a `!pattern` re-includes), as restic and gitignore read them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PatternList {
    patterns: Vec<Pattern>,
    fold_case: bool,
}

impl PatternList {
    pub(crate) fn new(fold_case: bool) -> PatternList {
        PatternList { patterns: Vec::new(), fold_case }
    }

    /// Adds `text`; an empty (or all-blank) pattern is ignored, as restic does.
    pub(crate) fn push(&mut self, text: &str) -> Result<(), String> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let folded;
        let text = if self.fold_case {
            folded = text.to_lowercase();
            folded.as_str()
        } else {
            text
        };
        self.patterns.push(Pattern::parse(text)?);
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the list excludes the absolute `path`.
    pub(crate) fn excludes(&self, path: &Path, is_dir: bool) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let components = components(path, self.fold_case);
        let mut excluded = false;
        for pattern in &self.patterns {
            if pattern.negated == excluded && pattern.matches(&components, is_dir) {
                excluded = !pattern.negated;
            }
        }
        excluded
    }
}

/// The names of `path` from the root down (a name that is not UTF-8 has U+FFFD for each
/// invalid byte), lowercased when `fold_case`.
fn components(path: &Path, fold_case: bool) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => {
                let name = name.to_string_lossy();
                Some(if fold_case { name.to_lowercase() } else { name.into_owned() })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pattern(s), path, is a directory, excluded.
    const TABLE: &[(&[&str], &str, bool, bool)] = &[
        // A name without `/` matches a component at any depth, and everything below it.
        (&["foo"], "/foo", false, true),
        (&["foo"], "/a/b/foo", false, true),
        (&["foo"], "/a/foo/b", false, true),
        (&["foo"], "/a/foobar", false, false),
        (&["foo"], "/a/barfoo", false, false),
        // Globs stay inside one component.
        (&["*.log"], "/var/log/app.log", false, true),
        (&["*.log"], "/var/log/app.log.1", false, false),
        (&["b*ash"], "/bin/bash", false, true),
        (&["b*ash"], "/bin/ash", false, false),
        (&["/bin*"], "/bin/ash", false, true),
        (&["?.tmp"], "/x/a.tmp", false, true),
        (&["?.tmp"], "/x/ab.tmp", false, false),
        (&["[abc].o"], "/src/b.o", false, true),
        (&["[abc].o"], "/src/d.o", false, false),
        (&["[!abc].o"], "/src/d.o", false, true),
        (&["cache[0-9]"], "/srv/cache7/x", false, true),
        // A leading `/` anchors at the root; a `/` inside does not anchor (restic).
        (&["/bin"], "/bin/bash", false, true),
        (&["/bin"], "/usr/bin/restic", false, false),
        (&["/srv/*/tmp"], "/srv/app/tmp", true, true),
        (&["/srv/*/tmp"], "/data/srv/app/tmp", true, false),
        (&["app/tmp"], "/srv/app/tmp", true, true),
        (&["app/tmp"], "/srv/app/tmp/x.txt", false, true),
        (&["app/tmp"], "/srv/app/x/tmp", true, false),
        // `**` spans any number of components, none included.
        (&["foo/**/bar"], "/dir1/foo/dir2/bar/file", false, true),
        (&["foo/**/bar"], "/foo/bar/file", false, true),
        (&["foo/**/bar"], "/tmp/foo/bar", false, true),
        (&["foo/**/bar"], "/tmp/foo/baz", false, false),
        (&["/home/**/.cache"], "/home/u/a/b/.cache", true, true),
        (&["/home/**/.cache"], "/srv/home/u/.cache", true, false),
        (&["**/*.pyc"], "/a/b/c.pyc", false, true),
        (&["/data/**"], "/data/x/y", false, true),
        (&["**"], "/anything", false, true),
        (&["**/**/**/x"], "/a/b/c/x", false, true),
        // A trailing `/` matches directories only (at the entry; a parent is a directory).
        (&["build/"], "/src/build", true, true),
        (&["build/"], "/src/build", false, false),
        (&["build/"], "/src/build/out.o", false, true),
        (&["/tmp/"], "/tmp", true, true),
        // `!` re-includes; the last matching pattern decides.
        (&["*.log", "!keep.log"], "/var/keep.log", false, false),
        (&["*.log", "!keep.log"], "/var/drop.log", false, true),
        (&["!keep.log", "*.log"], "/var/keep.log", false, true),
        (&["*.log", "!keep.log", "keep.log"], "/var/keep.log", false, true),
        (&["/home/u/*", "!/home/u/work"], "/home/u/work", true, false),
        (&["/home/u/*", "!/home/u/work"], "/home/u/work/notes.txt", false, false),
        (&["/home/u/*", "!/home/u/work"], "/home/u/music", true, true),
        (&["!foo"], "/foo", false, false),
        // Escapes.
        (&["\\!important"], "/x/!important", false, true),
        (&["a\\*b"], "/a*b", false, true),
        (&["a\\*b"], "/aXb", false, false),
        // `.` components and repeated slashes are ignored, as filepath.Clean would.
        (&["/srv//./app"], "/srv/app", true, true),
        // Case matters in a case-sensitive list.
        (&["*.JPG"], "/p/a.jpg", false, false),
        (&["*.JPG"], "/p/a.JPG", false, true),
    ];

    fn list(patterns: &[&str], fold_case: bool) -> PatternList {
        let mut list = PatternList::new(fold_case);
        for p in patterns {
            list.push(p).unwrap();
        }
        list
    }

    #[test]
    fn patterns_match_as_restic_documents_them() {
        for (patterns, path, is_dir, expected) in TABLE {
            let got = list(patterns, false).excludes(Path::new(path), *is_dir);
            assert_eq!(got, *expected, "{patterns:?} against {path:?} (dir: {is_dir})");
        }
    }

    #[test]
    fn a_case_insensitive_list_folds_both_sides() {
        let table: &[(&str, &str, bool)] = &[
            ("*.JPG", "/p/a.jpg", true),
            ("*.jpg", "/p/A.JPG", true),
            ("/Home/U/Cache", "/home/u/CACHE/x", true),
            ("[A-C].txt", "/b.TXT", true),
            ("Straße", "/STRASSE", false),
            ("ÄRGER", "/x/ärger", true),
        ];
        for (pattern, path, expected) in table {
            assert_eq!(list(&[pattern], true).excludes(Path::new(path), false), *expected, "{pattern:?} {path:?}");
        }
    }

    #[test]
    fn blank_patterns_are_ignored_and_bad_ones_refused() {
        let mut l = PatternList::new(false);
        l.push("").unwrap();
        l.push("   ").unwrap();
        assert!(l.is_empty());
        for bad in ["[abc", "/srv/[x", "/", "!", "a/../b", "foo\\"] {
            assert!(l.push(bad).is_err(), "{bad:?} was accepted");
        }
    }

    /// Whether `parts` match exactly `names`, by the definition (exponential).
    fn reference_exact(parts: &[&str], names: &[&str]) -> bool {
        match parts.split_first() {
            None => names.is_empty(),
            Some((&"**", rest)) => (0..=names.len()).any(|skip| reference_exact(rest, &names[skip..])),
            Some((glob, rest)) => names
                .split_first()
                .is_some_and(|(name, tail)| Glob::parse(glob).unwrap().matches(name) && reference_exact(rest, tail)),
        }
    }

    /// The definition in FILTERS.md: some window `[start, end)` (start 0 when anchored), not
    /// empty, that the globs match exactly; one ending at the entry needs a directory when
    /// the pattern has a trailing `/`.
    fn reference(anchored: bool, dir_only: bool, parts: &[&str], names: &[&str], is_dir: bool) -> bool {
        let starts = if anchored { 0..=0 } else { 0..=names.len() };
        starts.into_iter().any(|start| {
            (start + 1..=names.len())
                .any(|end| (end < names.len() || is_dir || !dir_only) && reference_exact(parts, &names[start..end]))
        })
    }

    proptest::proptest! {
        #[test]
        fn paths_match_by_the_definition(
            parts in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "*", "**", "?"]), 1..5),
            anchored: bool,
            dir_only: bool,
            names in proptest::collection::vec(proptest::sample::select(vec!["a", "b", "ab"]), 1..7),
            is_dir: bool,
        ) {
            let text = format!("{}{}{}", if anchored { "/" } else { "" }, parts.join("/"), if dir_only { "/" } else { "" });
            let path = format!("/{}", names.join("/"));
            let mut collapsed: Vec<&str> = Vec::new();
            for part in &parts {
                if !(*part == "**" && collapsed.last() == Some(&"**")) {
                    collapsed.push(part);
                }
            }
            let expected = reference(anchored, dir_only, &collapsed, &names, is_dir);
            proptest::prop_assert_eq!(list(&[&text], false).excludes(Path::new(&path), is_dir), expected, "{} {}", text, path);
        }
    }

    #[test]
    fn many_double_stars_stay_fast() {
        // Without the memo this is about 40^8 steps.
        let pattern = "**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/b";
        let path = format!("/{}", vec!["a"; 40].join("/"));
        assert!(!list(&[pattern], false).excludes(Path::new(&path), false));
    }

    #[test]
    fn names_that_are_not_utf8_can_still_be_matched_by_wildcards() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/data/caf\xe9.tmp"));
        assert!(list(&["*.tmp"], false).excludes(path, false));
        assert!(list(&["caf?.tmp"], false).excludes(path, false));
        assert!(!list(&["café.tmp"], false).excludes(path, false));
    }
}
