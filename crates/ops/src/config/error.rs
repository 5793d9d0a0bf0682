//! What can be wrong with a configuration file: the file as a whole ([`ConfigError`]), and
//! each problem found in it ([`Problem`]), every one naming the plan and the key.

use std::fmt;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (a config file given explicitly must exist).
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a configuration this build accepts: every problem found, at once.
    #[error("config file {path} is invalid: {}", Problems(problems))]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, in file order where a line is known.
        problems: Vec<Problem>,
    },
    /// A plan was asked for by name, but no configuration file was given to look it up in.
    #[error("plan {plan:?} was asked for, but no configuration file was given")]
    NoConfigFile {
        /// The plan.
        plan: String,
    },
    /// A plan was asked for that the file does not define.
    #[error("plan {plan:?} is not defined in {path} (defined: {defined})")]
    NoSuchPlan {
        /// The plan.
        plan: String,
        /// The file.
        path: String,
        /// The plans it defines.
        defined: String,
    },
}

impl ConfigError {
    /// The problems of an [`Invalid`](Self::Invalid) file (none for the other variants).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// One thing wrong in a configuration file. Its text names the line (when known), the plan
/// (when the problem is inside one) and the key, and never quotes a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The plan the problem is in, if it is inside one.
    pub plan: Option<String>,
    /// The key, as a dotted path inside the plan (`source.url`, `copy-to[1].repository`), or
    /// inside the file when there is no plan.
    pub key: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong, typed so a frontend (or a test) can tell the cases apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not TOML at all (the parser's message, which quotes no value).
    Syntax(String),
    /// A key this build does not know (`expected` lists the keys allowed there).
    UnknownKey {
        /// The parser's list of the keys allowed there.
        expected: String,
    },
    /// A value of the wrong type or out of range (the parser's or the check's message).
    BadValue(String),
    /// A secret written into the file: only references (`password-file`, `password-env`)
    /// are allowed. The secret itself is never kept or shown.
    InlineSecret {
        /// What was found: `a password key`, `a URL with a password` ...
        what: &'static str,
    },
    /// Both `password-file` and `password-env` (or another pair that excludes each other).
    Conflicting {
        /// The other key.
        other: String,
    },
    /// A plan without a `repository`.
    MissingRepository,
    /// A plan without a `source`.
    MissingSource,
    /// A `copy-to` repository that is the plan's own repository.
    CopyToIsPrimary,
    /// A `copy-to` that never runs (`after-backup = false` and no schedule).
    CopyNeverRuns,
    /// A schedule that does not parse.
    BadSchedule(String),
    /// An objective of zero length.
    ZeroObjective,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        match &self.plan {
            Some(plan) if self.key.is_empty() => write!(f, "plan {plan:?}: ")?,
            Some(plan) => write!(f, "plan {plan:?}, key `{}`: ", self.key)?,
            None if self.key.is_empty() => {}
            None => write!(f, "key `{}`: ", self.key)?,
        }
        match &self.kind {
            ProblemKind::Syntax(message) => write!(f, "not valid TOML: {message}"),
            ProblemKind::UnknownKey { expected } => write!(f, "unknown key (expected {expected})"),
            ProblemKind::BadValue(message) => f.write_str(message),
            ProblemKind::InlineSecret { what } => write!(
                f,
                "{what} is written into the config; secrets are taken only by reference: \
                 use password-file = \"/path\" or password-env = \"VARIABLE\""
            ),
            ProblemKind::Conflicting { other } => write!(f, "give either this or `{other}`, not both"),
            ProblemKind::MissingRepository => f.write_str("the plan has no `repository`"),
            ProblemKind::MissingSource => f.write_str("the plan has no `source` (what to back up)"),
            ProblemKind::CopyToIsPrimary => f.write_str("is the plan's own repository, not a copy"),
            ProblemKind::CopyNeverRuns => f.write_str("never runs: set after-backup = true or give it a schedule"),
            ProblemKind::BadSchedule(message) => write!(f, "{message}"),
            ProblemKind::ZeroObjective => {
                f.write_str("an objective of zero is never met; give a length such as \"1h\"")
            }
        }
    }
}

/// The problems, `; `-separated, for one error line.
struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
