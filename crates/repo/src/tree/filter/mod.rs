//! What a files backup leaves out: exclude patterns (restic's language, `docs/FILTERS.md`),
//! tag files (`exclude-if-present`, `exclude-caches`) and `one-file-system`.
//!
//! [`FilesFilter`] is what a user writes (CLI flags, a plan's TOML); [`TreeFilter`] is it
//! compiled (exclude files read, patterns parsed), which the tree walker consults before
//! it opens anything.

mod glob;
mod mount;
mod pattern;
mod tag;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::error::FilterError;

pub(crate) use mount::MountKey;
use pattern::PatternList;
pub(crate) use tag::TagFile;

/// What to leave out of a files backup. Deserializes from kebab-case keys, so a plan's
/// TOML can embed it as a table (`[plans.web.source] exclude = ["*.tmp"] ...`) or flatten
/// it into one; every field is optional and the default leaves nothing out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilesFilter {
    /// Exclude patterns, in order (`!pattern` re-includes; the last match decides).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Exclude patterns matched ignoring case (a list of its own, after `exclude`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iexclude: Vec<String>,
    /// Files of exclude patterns, one a line (blank lines and lines starting with `#` are
    /// ignored, surrounding white space trimmed), appended to `exclude` in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_file: Vec<PathBuf>,
    /// The same, appended to `iexclude`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iexclude_file: Vec<PathBuf>,
    /// `NAME[:CONTENT-PREFIX]`: a directory holding a file `NAME` (that starts with
    /// `CONTENT-PREFIX`, when given) is backed up as the directory and that file only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_if_present: Vec<String>,
    /// The same for a `CACHEDIR.TAG` that starts with the standard's signature.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exclude_caches: bool,
    /// Do not descend into another file system or mount: a mount point is recorded as an
    /// empty directory, anything else there is left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub one_file_system: bool,
}

impl FilesFilter {
    /// Whether the filter leaves nothing out.
    pub fn is_empty(&self) -> bool {
        *self == FilesFilter::default()
    }

    /// Reads the exclude files and parses every pattern and tag (blocking: it reads files).
    pub fn compile(&self) -> Result<TreeFilter, FilterError> {
        let mut filter = TreeFilter {
            patterns: PatternList::new(false),
            ipatterns: PatternList::new(true),
            tags: Vec::new(),
            one_file_system: self.one_file_system,
        };
        add_patterns(&mut filter.patterns, &self.exclude, "--exclude", &self.exclude_file)?;
        add_patterns(&mut filter.ipatterns, &self.iexclude, "--iexclude", &self.iexclude_file)?;
        for spec in &self.exclude_if_present {
            let tag = TagFile::parse(spec).map_err(|reason| FilterError::BadTag { spec: spec.clone(), reason })?;
            filter.add_tag(tag);
        }
        if self.exclude_caches {
            filter.add_tag(TagFile::cachedir());
        }
        Ok(filter)
    }
}

fn add_patterns(list: &mut PatternList, given: &[String], flag: &str, files: &[PathBuf]) -> Result<(), FilterError> {
    let bad =
        |pattern: &str, origin: String, reason| FilterError::BadPattern { pattern: pattern.into(), origin, reason };
    for pattern in given {
        list.push(pattern).map_err(|reason| bad(pattern, flag.to_owned(), reason))?;
    }
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|source| FilterError::ExcludeFile { path: file.display().to_string(), source })?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let origin = format!("{} line {}", file.display(), number + 1);
            list.push(line).map_err(|reason| bad(line, origin, reason))?;
        }
    }
    Ok(())
}

/// A compiled [`FilesFilter`].
#[derive(Debug, Clone, Default)]
pub struct TreeFilter {
    patterns: PatternList,
    ipatterns: PatternList,
    tags: Vec<TagFile>,
    one_file_system: bool,
}

impl TreeFilter {
    /// Whether the patterns exclude the entry at the absolute `path` (a directory when
    /// `is_dir`): the case-sensitive list or the case-insensitive one.
    pub fn excludes(&self, path: &Path, is_dir: bool) -> bool {
        self.patterns.excludes(path, is_dir) || self.ipatterns.excludes(path, is_dir)
    }

    /// Whether the filter leaves nothing out.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.ipatterns.is_empty() && self.tags.is_empty() && !self.one_file_system
    }

    pub(crate) fn tags(&self) -> &[TagFile] {
        &self.tags
    }

    pub(crate) fn one_file_system(&self) -> bool {
        self.one_file_system
    }

    fn add_tag(&mut self, tag: TagFile) {
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
    }
}

/// A list of patterns in the exclude language (`docs/FILTERS.md`) used to select paths
/// rather than leave them out: a restore's `--include`, or `find`. A path matches when the
/// last pattern that matches it is not a `!pattern`; a pattern that matches a directory
/// matches everything below it.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns {
    list: PatternList,
}

impl PathPatterns {
    /// Parses `patterns` (case-insensitive when `fold_case`); `flag` names where they came
    /// from in an error (`--include`).
    pub fn parse(patterns: &[String], fold_case: bool, flag: &str) -> Result<PathPatterns, FilterError> {
        let mut list = PatternList::new(fold_case);
        add_patterns(&mut list, patterns, flag, &[])?;
        Ok(PathPatterns { list })
    }

    /// Whether the absolute `path` (a directory when `is_dir`) matches.
    pub fn matches(&self, path: &Path, is_dir: bool) -> bool {
        self.list.excludes(path, is_dir)
    }

    /// Whether there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_struct_reads_kebab_case_and_refuses_unknown_keys() {
        let json = r#"{"exclude": ["*.tmp"], "exclude-if-present": [".nobackup"], "exclude-caches": true,
                       "one-file-system": true, "iexclude": ["*.JPG"], "exclude-file": ["/etc/x"]}"#;
        let filter: FilesFilter = serde_json::from_str(json).unwrap();
        assert_eq!(filter.exclude, ["*.tmp"]);
        assert_eq!(filter.exclude_if_present, [".nobackup"]);
        assert!(filter.exclude_caches && filter.one_file_system);
        assert_eq!(filter.exclude_file, [PathBuf::from("/etc/x")]);
        assert!(serde_json::from_str::<FilesFilter>(r#"{"exclude": [], "exlude": ["x"]}"#).is_err());
        assert!(serde_json::from_str::<FilesFilter>("{}").unwrap().is_empty());
    }

    #[test]
    fn a_flattened_filter_takes_its_own_keys() {
        #[derive(Deserialize)]
        struct Source {
            paths: Vec<PathBuf>,
            #[serde(flatten)]
            filter: FilesFilter,
        }
        let source: Source = serde_json::from_str(r#"{"paths": ["/srv"], "exclude": ["*.o"]}"#).unwrap();
        assert_eq!(source.paths, [PathBuf::from("/srv")]);
        assert_eq!(source.filter.exclude, ["*.o"]);
        // Keys of neither struct are the outer struct's to refuse or ignore, not the filter's.
        let other: Source = serde_json::from_str(r#"{"paths": [], "exclude": ["*.o"], "kind": "files"}"#).unwrap();
        assert_eq!(other.filter.exclude, ["*.o"]);
    }

    #[test]
    fn bad_patterns_and_tags_name_themselves_and_where_they_came_from() {
        let filter = FilesFilter { exclude: vec!["ok".into(), "[unclosed".into()], ..Default::default() };
        let err = filter.compile().unwrap_err();
        assert!(
            matches!(&err, FilterError::BadPattern { pattern, origin, .. } if pattern == "[unclosed" && origin == "--exclude")
        );
        assert!(err.to_string().contains("\"[unclosed\""), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("excludes");
        std::fs::write(&file, "# comment\n\n  *.tmp  \n/srv/[x\n").unwrap();
        let filter = FilesFilter { iexclude_file: vec![file.clone()], ..Default::default() };
        let err = filter.compile().unwrap_err().to_string();
        assert!(err.contains("\"/srv/[x\"") && err.contains("line 4"), "{err}");

        let missing = FilesFilter { exclude_file: vec![dir.path().join("nope")], ..Default::default() };
        assert!(matches!(missing.compile().unwrap_err(), FilterError::ExcludeFile { .. }));

        let tag = FilesFilter { exclude_if_present: vec![":prefix".into()], ..Default::default() };
        assert!(matches!(tag.compile().unwrap_err(), FilterError::BadTag { .. }));
    }

    #[test]
    fn exclude_file_lines_follow_the_flags_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("excludes");
        std::fs::write(&file, "# keep the notes after all\n!notes.log\n").unwrap();
        let filter = FilesFilter { exclude: vec!["*.log".into()], exclude_file: vec![file], ..Default::default() };
        let compiled = filter.compile().unwrap();
        assert!(compiled.excludes(Path::new("/var/app.log"), false));
        assert!(!compiled.excludes(Path::new("/var/notes.log"), false), "the file's `!` comes after --exclude");
    }

    #[test]
    fn either_list_excludes_and_negation_stays_in_its_list() {
        let filter =
            FilesFilter { exclude: vec!["!*.JPG".into()], iexclude: vec!["*.jpg".into()], ..Default::default() };
        let compiled = filter.compile().unwrap();
        assert!(compiled.excludes(Path::new("/p/A.JPG"), false), "a `!` in one list does not undo the other");
        assert!(!compiled.excludes(Path::new("/p/a.png"), false));
        assert!(!compiled.is_empty());
        assert!(FilesFilter::default().compile().unwrap().is_empty());
    }

    #[test]
    fn exclude_caches_adds_the_standard_tag_once() {
        let filter = FilesFilter {
            exclude_caches: true,
            exclude_if_present: vec!["CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55".into()],
            ..Default::default()
        };
        assert_eq!(filter.compile().unwrap().tags(), [TagFile::cachedir()]);
    }
}
