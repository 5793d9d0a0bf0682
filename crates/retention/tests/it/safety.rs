//! Safety rules: empty policies, emptied groups, backups in progress, object locks.

use crate::common::{at, kept, reasons, snaps, utc};
use lifeboat_retention::{GroupBy, KeepCount, Policy, RetentionError, Snapshot, apply, apply_at};

fn keep_last(n: u32) -> Policy {
    Policy { keep_last: KeepCount::N(n), ..Policy::default() }
}

fn keep_tag(tag: &str) -> Policy {
    Policy { keep_tags: vec![tag.parse().unwrap()], ..Policy::default() }
}

#[test]
fn empty_policy_is_refused_unless_allowed() {
    let list = snaps(&[("a", "2024-01-01T00:00:00Z"), ("b", "2024-01-02T00:00:00Z")]);
    let err = apply(&Policy::default(), GroupBy::default(), &list, false).unwrap_err();
    assert_eq!(err, RetentionError::EmptyPolicy);
    assert!(err.to_string().contains("no retention policy was specified"));
    assert!(err.to_string().contains("--allow-empty"));
    // Zero counts and zero durations are "not set", as in restic.
    let zeros = Policy { keep_last: KeepCount::N(0), keep_within: Some("0d".parse().unwrap()), ..Policy::default() };
    assert_eq!(apply(&zeros, GroupBy::default(), &list, false).unwrap_err(), RetentionError::EmptyPolicy);
    // Even with no backups at all.
    assert_eq!(apply(&Policy::default(), GroupBy::default(), &[], false).unwrap_err(), RetentionError::EmptyPolicy);

    let d = apply(&Policy::default(), GroupBy::default(), &list, true).unwrap();
    assert!(kept(&d).is_empty());
    assert_eq!(reasons(&d, "a"), ["matched no keep rule"]);
}

#[test]
fn a_policy_that_empties_a_group_is_refused_unless_allowed() {
    let list = vec![
        Snapshot::new("gold", at("2024-01-01T00:00:00Z")).with_plan("p1").with_tags(["gold"]),
        Snapshot::new("p1-new", at("2024-01-02T00:00:00Z")).with_plan("p1"),
        Snapshot::new("p2-a", at("2024-01-01T00:00:00Z")).with_plan("p2").with_host("db"),
        Snapshot::new("p2-b", at("2024-01-02T00:00:00Z")).with_plan("p2").with_host("db"),
    ];
    let err = apply(&keep_tag("gold"), GroupBy::default(), &list, false).unwrap_err();
    assert_eq!(err, RetentionError::WouldEmptyGroup { group: "plan=\"p2\" host=\"db\"".into(), count: 2 });
    assert_eq!(
        err.to_string(),
        "refusing to forget all 2 backup(s) of group plan=\"p2\" host=\"db\": the policy keeps none of them; \
         pass --allow-empty to allow it"
    );
    let d = apply(&keep_tag("gold"), GroupBy::default(), &list, true).unwrap();
    assert_eq!(kept(&d), ["gold"]);
    // Grouped by nothing, the group keeps "gold", so there is nothing to refuse.
    let d = apply(&keep_tag("gold"), GroupBy::NONE, &list, false).unwrap();
    assert_eq!(kept(&d), ["gold"]);
}

#[test]
fn backups_in_progress_are_kept_and_take_no_part() {
    let list = vec![
        Snapshot::new("old", at("2024-01-01T00:00:00Z")),
        Snapshot::new("done", at("2024-01-05T00:00:00Z")),
        Snapshot::new("writing", at("2024-01-10T00:00:00Z")).with_in_progress(true),
    ];
    let d = apply(&keep_last(1), GroupBy::default(), &list, false).unwrap();
    assert_eq!(kept(&d), ["done", "writing"]);
    assert_eq!(reasons(&d, "writing"), ["in progress"]);
    assert_eq!(reasons(&d, "done"), ["last snapshot"]);

    // The newest completed backup is the reference for keep-within, not the one in progress.
    let within = Policy { keep_within: Some("3d".parse().unwrap()), ..Policy::default() };
    let d = apply(&within, GroupBy::default(), &list, false).unwrap();
    assert_eq!(kept(&d), ["done", "writing"]);

    // A group whose only backups are in progress has nothing a policy could empty.
    let only = vec![Snapshot::new("w", at("2024-01-10T00:00:00Z")).with_in_progress(true)];
    let d = apply(&keep_tag("none"), GroupBy::default(), &only, false).unwrap();
    assert_eq!(kept(&d), ["w"]);

    // A backup in progress does not save its group from being emptied.
    let err = apply(&keep_tag("none"), GroupBy::default(), &list, false).unwrap_err();
    assert!(matches!(err, RetentionError::WouldEmptyGroup { count: 2, .. }), "{err}");
}

#[test]
fn locked_backups_are_never_forgotten_while_the_lock_holds() {
    let lock = at("2030-01-01T00:00:00+00:00");
    let list = vec![
        Snapshot::new("locked-old", at("2024-01-01T00:00:00Z")).with_locked_until(Some(lock)),
        Snapshot::new("plain-old", at("2024-01-02T00:00:00Z")),
        Snapshot::new("new", at("2024-01-03T00:00:00Z")).with_locked_until(Some(lock)),
    ];
    // Without a clock every lock is taken to hold.
    let d = apply(&keep_last(1), GroupBy::default(), &list, false).unwrap();
    assert_eq!(kept(&d), ["locked-old", "new"]);
    assert_eq!(reasons(&d, "locked-old"), ["object lock until 2030-01-01T00:00:00+00:00"]);
    assert_eq!(reasons(&d, "new"), ["last snapshot", "object lock until 2030-01-01T00:00:00+00:00"]);

    let d = apply_at(&keep_last(1), GroupBy::default(), &list, false, utc("2029-12-31T23:59:59Z")).unwrap();
    assert_eq!(kept(&d), ["locked-old", "new"]);
    // Once the lock has expired the policy decides alone.
    let d = apply_at(&keep_last(1), GroupBy::default(), &list, false, utc("2030-01-01T00:00:00Z")).unwrap();
    assert_eq!(kept(&d), ["new"]);
    assert_eq!(reasons(&d, "new"), ["last snapshot"]);

    // A locked backup takes part in the policy: it is the newest, so keep-last 1 keeps
    // only it and the older plain backup goes.
    let d = apply(&keep_last(1), GroupBy::default(), &list[1..], false).unwrap();
    assert_eq!(kept(&d), ["new"]);

    // An empty policy with --allow-empty still cannot forget locked backups.
    let d = apply(&Policy::default(), GroupBy::default(), &list, true).unwrap();
    assert_eq!(kept(&d), ["locked-old", "new"]);
}

#[test]
fn bad_ids_are_one_clear_error() {
    let mut list =
        snaps(&[("a", "2024-01-01T00:00:00Z"), ("b", "2024-01-02T00:00:00Z"), ("a", "2024-01-03T00:00:00Z")]);
    let err = apply(&keep_last(1), GroupBy::default(), &list, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid backup at position 2 (id \"a\"): the id is also used by the backup at position 0"
    );
    list[2].id = String::new();
    let err = apply(&keep_last(1), GroupBy::default(), &list, false).unwrap_err();
    assert!(matches!(err, RetentionError::InvalidSnapshot { index: 2, .. }), "{err}");
}

#[test]
fn an_empty_list_is_fine() {
    assert!(apply(&keep_last(1), GroupBy::default(), &[], false).unwrap().is_empty());
}
