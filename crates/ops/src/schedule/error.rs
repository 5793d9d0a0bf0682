//! What can be wrong with a schedule: always the field and the value, then why.

/// A `[plans.NAME.schedule]` table that cannot be used, naming the field (as written in the
/// TOML, kebab-case) and the value that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A field's value is not valid for that field.
    #[error("schedule field `{field}` = {value:?} is invalid: {reason}")]
    Invalid {
        /// The field, as written in the config (`cron`, `every`, `max-lateness`, ...).
        field: &'static str,
        /// The value that was given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Neither `cron` nor `every` was given: a schedule needs exactly one of them.
    #[error("schedule has neither `cron` nor `every`: give exactly one")]
    NoTrigger,
    /// Both `cron` and `every` were given.
    #[error("schedule has both `cron` = {cron:?} and `every` = {every:?}: give exactly one")]
    BothTriggers {
        /// The cron pattern given.
        cron: String,
        /// The interval given.
        every: String,
    },
    /// A field was given that only makes sense with another one.
    #[error("schedule field `{field}` = {value:?} needs `{needs}`")]
    Needs {
        /// The field given.
        field: &'static str,
        /// Its value.
        value: String,
        /// What it needs alongside (`cron`, `missed = "run-once"`).
        needs: &'static str,
    },
}

impl ScheduleError {
    /// An [`Invalid`](Self::Invalid) error for `field` = `value`.
    pub(crate) fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ScheduleError::Invalid { field, value: value.to_owned(), reason: reason.into() }
    }
}
