//! # lifeboat-retention
//!
//! The pure retention engine of Lifeboat: given a list of backups (id, time, tags, host,
//! plan) and a [`Policy`], decide for each backup whether to keep or forget it, and why.
//! No I/O, no clock (callers pass `now` where it matters), no dependency on the other
//! Lifeboat crates. The same engine serves `lifeboat forget`, `lifeboat retention plan`
//! and the scheduler; [`Expiry`] covers the simpler "keep for N days" rule of
//! Elasticsearch snapshots, restored indices and exports.
//!
//! ## Semantics: restic's `forget`
//!
//! The reference is restic's `forget` (0.14 and later, including the "oldest snapshot"
//! rule of 0.16 and the `oldest` label of later releases). Precisely:
//!
//! 1. **Groups.** Backups are split by [`GroupBy`] (default `plan,host`; tags compare as
//!    a set; `""` means one group) and the policy is applied to each group on its own.
//! 2. **Order.** Within a group, backups are walked newest first. Backups taken at the
//!    same instant are ordered by id, so the result does not depend on input order
//!    (restic keeps its load order there).
//! 3. **Counting rules** (`keep-last`, `-hourly`, `-daily`, `-weekly`, `-monthly`,
//!    `-yearly`), each on its own: a backup is kept when its bucket differs from the
//!    bucket of the last backup *this rule* kept and the rule has count left; keeping
//!    uses one count. Buckets are the hour, day, ISO week (Monday to Sunday), month or
//!    year **in the backup's own UTC offset**, exactly as recorded (so a backup at
//!    `00:30+01:00` belongs to a different day than one at `23:20+00:00` ten minutes
//!    earlier, and across a daylight-saving change the repeated local hour is one
//!    bucket). `keep-last` puts every backup in its own bucket. A count of
//!    [`KeepCount::Unlimited`] (`-1` or `unlimited`) never runs out.
//!    While a rule still has count left when the walk reaches the **oldest** backup, that
//!    backup is kept too, labelled `oldest <rule> snapshot` if its bucket was already
//!    taken (restic ≥ 0.16: the longest history the counts allow).
//! 4. **`keep-within D`** keeps every backup strictly after *newest − D*, where *newest*
//!    is the newest backup **of the group, not now** (with [`apply_at`], the newest one
//!    dated before `now`: future-dated backups are skipped as restic does, and if all are
//!    in the future every backup is within). *newest − D* is computed like Go's
//!    `AddDate` in the newest backup's offset: years and months move the calendar month
//!    keeping the day, which may overflow (one month before 31 March is 2 March in a
//!    leap year, 3 March otherwise), days are calendar days, hours elapsed time.
//! 5. **`keep-within-<period> D`** keeps, among the backups within D of the newest, one
//!    per bucket (the newest of each), with no count limit; the oldest backup, if within,
//!    is kept as `oldest <period> within D`.
//! 6. **`keep-tag`** keeps every backup carrying all tags of one entry (`a,b` needs both);
//!    entries are alternatives; `''` matches untagged backups.
//! 7. A backup is kept when any rule keeps it; its reasons list every rule that did, in
//!    restic's order and wording: `tag release`, `within 7d`, `last snapshot`,
//!    `hourly snapshot`, `daily snapshot`, `weekly snapshot`, `monthly snapshot`,
//!    `yearly snapshot`, `daily within 14d`, ... Forgotten backups get
//!    `matched no keep rule`.
//!
//! ## Safety
//!
//! * A policy with no rule is refused ([`RetentionError::EmptyPolicy`], restic's "no
//!   policy was specified"); with `allow_empty` it forgets everything it may.
//! * A policy that would forget every completed backup of a group (possible with
//!   `keep-tag` only) is refused ([`RetentionError::WouldEmptyGroup`]) unless
//!   `allow_empty`.
//! * A backup still being written ([`Snapshot::in_progress`]) is kept (`in progress`) and
//!   takes no part in the policy. A backup under an object lock
//!   ([`Snapshot::locked_until`]) takes part normally but is never forgotten while the
//!   lock holds (`object lock until ...`); [`apply`] has no clock and treats every lock
//!   as holding, [`apply_at`] compares with `now`.
//!
//! Consequences that the property tests check: planning again over the kept backups
//! keeps all of them; raising any count or duration keeps a superset; whenever a
//! counting or `keep-within*` rule is set, the newest backup of each group is kept (a
//! `keep-tag`-only policy keeps exactly the tagged backups, as in restic).
//!
//! ## Example
//!
//! ```
//! use lifeboat_retention::{apply, GroupBy, KeepCount, Policy, Snapshot};
//! use chrono::DateTime;
//!
//! let at = |s| DateTime::parse_from_rfc3339(s).unwrap();
//! let backups = vec![
//!     Snapshot::new("mon", at("2024-05-06T02:00:00+02:00")),
//!     Snapshot::new("tue", at("2024-05-07T02:00:00+02:00")),
//!     Snapshot::new("tue-late", at("2024-05-07T23:00:00+02:00")),
//! ];
//! let policy = Policy { keep_daily: KeepCount::N(2), ..Policy::default() };
//! let decisions = apply(&policy, GroupBy::default(), &backups, false).unwrap();
//! let kept: Vec<_> = decisions.iter().filter(|d| d.keep).map(|d| d.id.as_str()).collect();
//! assert_eq!(kept, ["mon", "tue-late"]);
//! assert_eq!(decisions[2].reasons, ["daily snapshot"]);
//! ```

#![warn(missing_docs)]

/// The `chrono` this crate's API uses (times are `chrono::DateTime`), re-exported so
/// that callers need no dependency of their own to build inputs or read the clock.
pub use chrono;

mod duration;
mod engine;
mod error;
mod expiry;
mod group;
pub mod json;
mod policy;
mod snapshot;

pub use duration::Duration;
pub use engine::{GroupPlan, apply, apply_at, apply_grouped};
pub use error::RetentionError;
pub use expiry::{Expiry, expire};
pub use group::{GroupBy, GroupKey};
pub use json::{decisions_to_json, parse_plan_input, plan_from_json, plan_from_json_at};
pub use policy::{KeepCount, Policy, TagList};
pub use snapshot::{Decision, REASON_IN_PROGRESS, REASON_NO_RULE, Snapshot, reason_locked};
