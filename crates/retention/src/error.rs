//! The one error type of this crate.

/// Everything that can go wrong while parsing a retention policy, reading a list of
/// backups or applying a policy to it.
///
/// Every variant names the offending value and where it came from, so a binary can
/// print it as-is (`lifeboat: <error>`) and exit non-zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// A `keep-within*` duration such as `1y2m7d3h` could not be parsed.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `keep-last`/`-hourly`/... count is neither a non-negative number, `-1` nor `unlimited`.
    #[error("invalid keep count {input:?}: expected a non-negative number, or -1 or \"unlimited\" for no limit")]
    InvalidCount {
        /// The text or number that was given.
        input: String,
    },

    /// A `--group-by` value names a field that backups cannot be grouped by.
    #[error(
        "invalid group-by {input:?}: unknown field {field:?} (expected a comma-separated list of plan, host, tags, or an empty string for no grouping)"
    )]
    InvalidGroupBy {
        /// The whole value that was given.
        input: String,
        /// The field that is not known.
        field: String,
    },

    /// A `keep-tag` entry is unusable.
    #[error("invalid keep-tag {input:?}: {reason}")]
    InvalidTagList {
        /// The entry as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No keep rule is set and forgetting everything was not allowed explicitly.
    #[error(
        "no retention policy was specified, so every backup would be forgotten: set at least one keep rule \
         (keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly, keep-within*, keep-tag), \
         or pass --allow-empty to forget all backups on purpose"
    )]
    EmptyPolicy,

    /// The policy would forget every completed backup of a group.
    #[error(
        "refusing to forget all {count} backup(s) of group {group}: the policy keeps none of them; \
         pass --allow-empty to allow it"
    )]
    WouldEmptyGroup {
        /// The group, as `plan=... host=... tags=[...]`.
        group: String,
        /// How many completed backups the group holds.
        count: usize,
    },

    /// A backup handed to the engine is unusable (empty or duplicate id).
    #[error("invalid backup at position {index} (id {id:?}): {reason}")]
    InvalidSnapshot {
        /// Zero-based position in the list given to the engine.
        index: usize,
        /// The backup's id as given.
        id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `retention plan` input document is malformed.
    #[error("malformed retention input at {location}: {reason}")]
    MalformedInput {
        /// Where: a JSON path such as `$[3].time`, or `$` for the whole document.
        location: String,
        /// What is wrong there.
        reason: String,
    },
}
