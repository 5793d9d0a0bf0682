//! Table tests of each keep rule and their combinations, with restic's semantics.

use crate::common::{at, kept, reasons, snaps, utc};
use lifeboat_retention::{Duration, GroupBy, KeepCount, Policy, Snapshot, TagList, apply};

fn run(policy: &Policy, list: &[Snapshot]) -> Vec<lifeboat_retention::Decision> {
    apply(policy, GroupBy::default(), list, false).unwrap_or_else(|e| panic!("apply failed: {e}"))
}

fn count(field: fn(&mut Policy) -> &mut KeepCount, n: KeepCount) -> Policy {
    let mut p = Policy::default();
    *field(&mut p) = n;
    p
}

fn dur(s: &str) -> Option<Duration> {
    Some(s.parse().unwrap())
}

/// restic's manual: one backup every Sunday for 12 weeks, `--keep-daily 4` keeps the last four.
#[test]
fn restic_manual_twelve_sundays_keep_daily_4() {
    let days = [
        "2019-09-01",
        "2019-09-08",
        "2019-09-15",
        "2019-09-22",
        "2019-09-29",
        "2019-10-06",
        "2019-10-13",
        "2019-10-20",
        "2019-10-27",
        "2019-11-03",
        "2019-11-10",
        "2019-11-17",
    ];
    let list: Vec<Snapshot> =
        days.iter().map(|d| Snapshot::new(*d, at(&format!("{d}T11:00:00Z"))).with_plan("p")).collect();
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(4)), &list);
    assert_eq!(kept(&d), ["2019-10-27", "2019-11-03", "2019-11-10", "2019-11-17"]);
    for id in kept(&d) {
        assert_eq!(reasons(&d, id), ["daily snapshot"]);
    }
    assert_eq!(reasons(&d, "2019-09-01"), ["matched no keep rule"]);
}

#[test]
fn keep_last_counts_every_backup() {
    let list = snaps(&[
        ("a", "2024-01-01T00:00:00Z"),
        ("b", "2024-01-01T00:01:00Z"),
        ("c", "2024-01-01T00:02:00Z"),
        ("d", "2024-01-01T00:03:00Z"),
        ("e", "2024-01-01T00:04:00Z"),
    ]);
    let d = run(&count(|p| &mut p.keep_last, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["d", "e"]);
    assert_eq!(reasons(&d, "e"), ["last snapshot"]);

    // More counts than backups: all kept, none labelled "oldest" (each is its own bucket).
    let d = run(&count(|p| &mut p.keep_last, KeepCount::N(10)), &list);
    assert_eq!(kept(&d).len(), 5);
    assert_eq!(reasons(&d, "a"), ["last snapshot"]);

    let d = run(&count(|p| &mut p.keep_last, KeepCount::Unlimited), &list);
    assert_eq!(kept(&d).len(), 5);
}

#[test]
fn keep_hourly_keeps_the_newest_of_each_hour() {
    let list = snaps(&[
        ("09:00", "2024-05-17T09:00:00Z"),
        ("10:05", "2024-05-17T10:05:00Z"),
        ("10:40", "2024-05-17T10:40:00Z"),
        ("11:10", "2024-05-17T11:10:00Z"),
        ("11:50", "2024-05-17T11:50:00Z"),
        ("13:00", "2024-05-17T13:00:00Z"),
    ]);
    let d = run(&count(|p| &mut p.keep_hourly, KeepCount::N(3)), &list);
    assert_eq!(kept(&d), ["10:40", "11:50", "13:00"]);
    assert_eq!(reasons(&d, "10:40"), ["hourly snapshot"]);

    let d = run(&count(|p| &mut p.keep_hourly, KeepCount::Unlimited), &list);
    assert_eq!(kept(&d), ["09:00", "10:40", "11:50", "13:00"]);
}

/// restic >= 0.16: while a rule has counts left, the oldest backup is kept too.
#[test]
fn oldest_backup_is_kept_while_counts_are_left() {
    let list =
        snaps(&[("jan", "2024-01-15T00:00:00Z"), ("mar", "2024-03-01T00:00:00Z"), ("jun", "2024-06-01T00:00:00Z")]);
    let d = run(&count(|p| &mut p.keep_yearly, KeepCount::N(3)), &list);
    assert_eq!(kept(&d), ["jan", "jun"]);
    assert_eq!(reasons(&d, "jun"), ["yearly snapshot"]);
    assert_eq!(reasons(&d, "jan"), ["oldest yearly snapshot"]);
    assert_eq!(reasons(&d, "mar"), ["matched no keep rule"]);

    // Counts exhausted before the oldest: it goes.
    let d = run(&count(|p| &mut p.keep_yearly, KeepCount::N(1)), &list);
    assert_eq!(kept(&d), ["jun"]);

    // The oldest in a bucket of its own is an ordinary keep, not "oldest".
    let two = snaps(&[("d1", "2024-01-01T00:00:00Z"), ("d2", "2024-01-02T00:00:00Z")]);
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(5)), &two);
    assert_eq!(reasons(&d, "d1"), ["daily snapshot"]);

    // Unlimited always has counts left.
    let d = run(&count(|p| &mut p.keep_monthly, KeepCount::Unlimited), &list);
    assert_eq!(kept(&d), ["jan", "mar", "jun"]);
}

/// ISO weeks run Monday to Sunday and belong to the ISO week-year.
#[test]
fn keep_weekly_uses_iso_weeks_across_the_new_year() {
    let list = snaps(&[
        ("sun-2020-w52", "2020-12-27T10:00:00Z"),
        ("mon-2020-w53", "2020-12-28T10:00:00Z"),
        ("fri-2020-w53", "2021-01-01T10:00:00Z"),
        ("sun-2020-w53", "2021-01-03T10:00:00Z"),
        ("mon-2021-w01", "2021-01-04T10:00:00Z"),
    ]);
    let d = run(&count(|p| &mut p.keep_weekly, KeepCount::N(3)), &list);
    assert_eq!(kept(&d), ["sun-2020-w52", "sun-2020-w53", "mon-2021-w01"]);
    assert_eq!(reasons(&d, "sun-2020-w52"), ["weekly snapshot"]);
}

/// A backup's own UTC offset decides its month, not UTC.
#[test]
fn keep_monthly_reads_months_in_the_backups_own_offset() {
    let list = snaps(&[
        ("jan", "2024-01-31T12:00:00Z"),
        ("feb10", "2024-02-10T12:00:00Z"),
        ("feb29", "2024-02-29T20:00:00Z"),
        // 23:30 UTC on 29 February, but 1 March where it was taken.
        ("mar-local", "2024-03-01T00:30:00+01:00"),
    ]);
    let d = run(&count(|p| &mut p.keep_monthly, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["feb29", "mar-local"]);
}

/// Daily buckets in each backup's own offset; with UTC buckets the result would differ.
#[test]
fn keep_daily_reads_days_in_the_backups_own_offset() {
    let list = snaps(&[
        ("c", "2024-03-10T21:00:00Z"),
        ("b", "2024-03-10T22:00:00Z"),
        // 23:30 UTC on 10 March, but 11 March where it was taken.
        ("a", "2024-03-11T00:30:00+01:00"),
    ]);
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["b", "a"]);
    assert_eq!(reasons(&d, "b"), ["daily snapshot"]);
}

/// Autumn daylight-saving change (Europe/Berlin, 27 Oct 2024): local 02:xx happens twice.
/// restic reads the hour from the recorded offset, so both 02:xx backups share a bucket.
#[test]
fn dst_fall_back_repeated_hour_is_one_hourly_bucket() {
    let list = snaps(&[
        ("01:50cest", "2024-10-27T01:50:00+02:00"),
        ("02:10cest", "2024-10-27T02:10:00+02:00"),
        ("02:20cet", "2024-10-27T02:20:00+01:00"),
    ]);
    let d = run(&count(|p| &mut p.keep_hourly, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["01:50cest", "02:20cet"]);
}

/// Spring change (Europe/Berlin, 31 Mar 2024): 01:30 CET and 03:30 CEST are an hour apart,
/// on the same local day.
#[test]
fn dst_spring_forward_same_local_day() {
    let list = snaps(&[
        ("sat", "2024-03-30T23:00:00+01:00"),
        ("early", "2024-03-31T01:30:00+01:00"),
        ("late", "2024-03-31T03:30:00+02:00"),
    ]);
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["sat", "late"]);
    let d = run(&count(|p| &mut p.keep_hourly, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["early", "late"]);
}

/// keep-within counts back from the newest backup of the group, not from now, and the
/// boundary itself is outside (strictly after).
#[test]
fn keep_within_counts_back_from_the_newest_backup() {
    let list = snaps(&[
        ("edge", "2015-10-15T10:20:30Z"),
        ("inside", "2015-10-15T10:20:31Z"),
        ("mid", "2015-10-20T00:00:00Z"),
        ("newest", "2015-10-22T10:20:30Z"),
    ]);
    let p = Policy { keep_within: dur("7d"), ..Policy::default() };
    let d = run(&p, &list);
    assert_eq!(kept(&d), ["inside", "mid", "newest"]);
    assert_eq!(reasons(&d, "mid"), ["within 7d"]);

    let p = Policy { keep_within: dur("1d12h"), ..Policy::default() };
    let d = run(&p, &list);
    assert_eq!(kept(&d), ["newest"]);
    let p = Policy { keep_within: dur("2d11h"), ..Policy::default() };
    let d = run(&p, &list);
    assert_eq!(kept(&d), ["mid", "newest"]);
}

/// One month before 31 March is "31 February", normalised like Go to 2 March (2024 is a
/// leap year) — not clamped to 29 February.
#[test]
fn keep_within_months_overflow_like_go_in_a_leap_year() {
    let list = snaps(&[
        ("mar01", "2024-03-01T12:00:00Z"),
        ("mar02-edge", "2024-03-02T12:00:00Z"),
        ("mar02-after", "2024-03-02T12:00:01Z"),
        ("newest", "2024-03-31T12:00:00Z"),
    ]);
    let d = run(&Policy { keep_within: dur("1m"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["mar02-after", "newest"]);
    assert_eq!(reasons(&d, "mar02-after"), ["within 1m"]);
}

#[test]
fn keep_within_a_year_before_29_february() {
    let list = snaps(&[
        ("feb28", "2023-02-28T23:00:00Z"),
        ("mar01-edge", "2023-03-01T00:00:00Z"),
        ("mar01-after", "2023-03-01T00:00:01Z"),
        ("leap-day", "2024-02-29T00:00:00Z"),
    ]);
    let d = run(&Policy { keep_within: dur("1y"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["mar01-after", "leap-day"]);
}

/// The cut-off is computed in the newest backup's own offset (restic's FixedZone), so
/// across a DST change "1 day" is 24 hours of that offset.
#[test]
fn keep_within_across_dst_uses_the_newest_offset() {
    let list = snaps(&[
        ("before", "2024-03-30T10:59:00+01:00"),
        ("after", "2024-03-30T11:01:00+01:00"),
        ("newest", "2024-03-31T12:00:00+02:00"),
    ]);
    let d = run(&Policy { keep_within: dur("1d"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["after", "newest"]);
}

#[test]
fn keep_within_daily_keeps_one_per_day_within_the_duration() {
    let mut list = Vec::new();
    for day in 1..=10 {
        for hour in [6, 18] {
            let id = format!("{day:02}-{hour:02}");
            list.push(Snapshot::new(id, at(&format!("2024-01-{day:02}T{hour:02}:00:00Z"))).with_plan("p"));
        }
    }
    let d = run(&Policy { keep_within_daily: dur("5d"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["06-18", "07-18", "08-18", "09-18", "10-18"]);
    assert_eq!(reasons(&d, "06-18"), ["daily within 5d"]);

    // Everything within: the oldest is kept as well, labelled "oldest".
    let d = run(&Policy { keep_within_daily: dur("1y"), ..Policy::default() }, &list);
    let mut want: Vec<String> = (1..=10).map(|day| format!("{day:02}-18")).collect();
    want.insert(0, "01-06".into());
    assert_eq!(kept(&d), want);
    assert_eq!(reasons(&d, "01-06"), ["oldest daily within 1y"]);
}

#[test]
fn keep_within_weekly_monthly_yearly_hourly() {
    let list = snaps(&[
        ("2022-06", "2022-06-15T00:00:00Z"),
        ("2023-01", "2023-01-10T00:00:00Z"),
        ("2023-01b", "2023-01-20T00:00:00Z"),
        ("2023-02", "2023-02-10T00:00:00Z"),
        ("2023-02b", "2023-02-11T00:00:00Z"),
        ("2023-02c", "2023-02-11T05:00:00Z"),
        ("2023-02d", "2023-02-11T05:30:00Z"),
    ]);
    let d = run(&Policy { keep_within_monthly: dur("2m"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["2023-01b", "2023-02d"]);
    let d = run(&Policy { keep_within_yearly: dur("6m"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["2023-02d"]);
    let d = run(&Policy { keep_within_yearly: dur("1y"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["2022-06", "2023-02d"]);
    // 2023-02-10 is a Friday (ISO week 6), 2023-01-20 a Friday of week 3.
    let d = run(&Policy { keep_within_weekly: dur("1m"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["2023-01b", "2023-02d"]);
    let d = run(&Policy { keep_within_hourly: dur("1d"), ..Policy::default() }, &list);
    assert_eq!(kept(&d), ["2023-02b", "2023-02d"]);
    assert_eq!(reasons(&d, "2023-02d"), ["hourly within 1d"]);
}

#[test]
fn keep_tag_needs_all_tags_of_one_entry() {
    let t = at("2024-01-01T00:00:00Z");
    let list = vec![
        Snapshot::new("a", t).with_tags(["release"]),
        Snapshot::new("b", t + chrono::Duration::hours(1)).with_tags(["release", "verified"]),
        Snapshot::new("c", t + chrono::Duration::hours(2)).with_tags(["verified"]),
        Snapshot::new("d", t + chrono::Duration::hours(3)),
        Snapshot::new("e", t + chrono::Duration::hours(4)).with_tags(["nightly"]),
    ];
    let tags = |entries: &[&str]| Policy {
        keep_tags: entries.iter().map(|e| e.parse::<TagList>().unwrap()).collect(),
        ..Policy::default()
    };
    let d = run(&tags(&["release"]), &list);
    assert_eq!(kept(&d), ["a", "b"]);
    assert_eq!(reasons(&d, "a"), ["tag release"]);
    let d = run(&tags(&["release,verified"]), &list);
    assert_eq!(kept(&d), ["b"]);
    assert_eq!(reasons(&d, "b"), ["tags release,verified"]);
    let d = run(&tags(&["release", "verified"]), &list);
    assert_eq!(kept(&d), ["a", "b", "c"]);
    assert_eq!(reasons(&d, "b"), ["tag release", "tag verified"]);
    let d = run(&tags(&[""]), &list);
    assert_eq!(kept(&d), ["d"]);
    assert_eq!(reasons(&d, "d"), ["untagged"]);
}

/// Every rule that keeps a backup is listed, in restic's order.
#[test]
fn reasons_list_every_matching_rule_in_restic_order() {
    let list = vec![
        Snapshot::new("old", at("2024-05-01T10:00:00Z")),
        Snapshot::new("new", at("2024-05-02T10:00:00Z")).with_tags(["x"]),
    ];
    let p = Policy {
        keep_last: KeepCount::N(1),
        keep_hourly: KeepCount::N(1),
        keep_daily: KeepCount::N(1),
        keep_weekly: KeepCount::N(1),
        keep_monthly: KeepCount::N(1),
        keep_yearly: KeepCount::N(1),
        keep_within: dur("7d"),
        keep_within_daily: dur("7d"),
        keep_within_weekly: dur("7d"),
        keep_tags: vec!["x".parse().unwrap()],
        ..Policy::default()
    };
    let d = run(&p, &list);
    assert_eq!(
        reasons(&d, "new"),
        [
            "tag x",
            "within 7d",
            "last snapshot",
            "hourly snapshot",
            "daily snapshot",
            "weekly snapshot",
            "monthly snapshot",
            "yearly snapshot",
            "daily within 7d",
            "weekly within 7d",
        ]
    );
    assert_eq!(reasons(&d, "old"), ["within 7d", "daily within 7d", "oldest weekly within 7d"]);
}

/// The plan default (7 daily, 4 weekly, 12 monthly) over a quarter of daily backups,
/// and a smaller hand-checked combination.
#[test]
fn combination_daily_weekly_monthly() {
    let start = at("2024-01-01T02:00:00Z");
    let list: Vec<Snapshot> = (0..91)
        .map(|i| {
            let t = start + chrono::Duration::days(i);
            Snapshot::new(t.format("%m-%d").to_string(), t)
        })
        .collect();
    assert_eq!(list.last().map(|s| s.id.as_str()), Some("03-31"));

    let p = Policy {
        keep_daily: KeepCount::N(3),
        keep_weekly: KeepCount::N(2),
        keep_monthly: KeepCount::N(2),
        ..Policy::default()
    };
    let d = run(&p, &list);
    // 31 March 2024 is a Sunday: weeks end on 31 and 24 March.
    assert_eq!(kept(&d), ["02-29", "03-24", "03-29", "03-30", "03-31"]);
    assert_eq!(reasons(&d, "03-31"), ["daily snapshot", "weekly snapshot", "monthly snapshot"]);
    assert_eq!(reasons(&d, "03-24"), ["weekly snapshot"]);
    assert_eq!(reasons(&d, "02-29"), ["monthly snapshot"]);

    let d = run(&Policy::plan_default(), &list);
    // 7 days (25..31 Mar), Sundays 24, 17, 10 Mar (31 already daily), month ends 29 Feb and
    // 31 Jan, and, with monthly counts left, the oldest (1 Jan) as "oldest monthly snapshot".
    assert_eq!(
        kept(&d),
        [
            "01-01", "01-31", "02-29", "03-10", "03-17", "03-24", "03-25", "03-26", "03-27", "03-28", "03-29", "03-30",
            "03-31"
        ]
    );
    assert_eq!(reasons(&d, "01-01"), ["oldest monthly snapshot"]);
}

/// Backups taken at the same instant are ordered by id, whatever the input order.
#[test]
fn identical_timestamps_are_ordered_by_id() {
    let t = "2024-01-01T12:00:00Z";
    let forward = snaps(&[("a", t), ("b", t), ("c", t)]);
    let backward = snaps(&[("c", t), ("b", t), ("a", t)]);
    for list in [&forward, &backward] {
        let d = run(&count(|p| &mut p.keep_last, KeepCount::N(1)), list);
        assert_eq!(kept(&d), ["a"]);
        let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(1)), list);
        assert_eq!(kept(&d), ["a"]);
        let mut d = run(&count(|p| &mut p.keep_last, KeepCount::N(2)), list);
        d.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(kept(&d), ["a", "b"]);
    }
    // With counts left, the last of the tie (the oldest in walk order) is kept as "oldest".
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(5)), &forward);
    assert_eq!(kept(&d), ["a", "c"]);
    assert_eq!(reasons(&d, "c"), ["oldest daily snapshot"]);
}

/// The same instant written with two offsets falls on two different local days.
#[test]
fn identical_instant_in_two_offsets() {
    let list = snaps(&[("y", "2024-01-02T00:30:00+01:00"), ("x", "2024-01-01T23:30:00Z")]);
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(2)), &list);
    assert_eq!(kept(&d), ["y", "x"]);
    let d = run(&count(|p| &mut p.keep_daily, KeepCount::N(1)), &list);
    assert_eq!(kept(&d), ["x"]);
}

#[test]
fn grouping_by_host_plan_tags_and_none() {
    let mut list = Vec::new();
    for (host, plan) in [("h1", "pg"), ("h2", "pg"), ("h1", "redis")] {
        for day in 1..=3 {
            list.push(
                Snapshot::new(format!("{host}-{plan}-{day}"), at(&format!("2024-01-0{day}T00:00:00Z")))
                    .with_host(host)
                    .with_plan(plan),
            );
        }
    }
    let p = count(|p| &mut p.keep_last, KeepCount::N(1));
    let d = apply(&p, GroupBy::default(), &list, false).unwrap();
    assert_eq!(kept(&d), ["h1-pg-3", "h2-pg-3", "h1-redis-3"]);
    let d = apply(&p, "host".parse().unwrap(), &list, false).unwrap();
    assert_eq!(kept(&d), ["h1-pg-3", "h2-pg-3"]);
    let d = apply(&p, "plan".parse().unwrap(), &list, false).unwrap();
    assert_eq!(kept(&d), ["h1-pg-3", "h1-redis-3"]);
    // No grouping: one group; same-instant ties resolved by id.
    let d = apply(&p, GroupBy::NONE, &list, false).unwrap();
    assert_eq!(kept(&d), ["h1-pg-3"]);

    let tagged = vec![
        Snapshot::new("ab", at("2024-01-01T00:00:00Z")).with_tags(["a", "b"]),
        Snapshot::new("ba", at("2024-01-02T00:00:00Z")).with_tags(["b", "a"]),
        Snapshot::new("a", at("2024-01-03T00:00:00Z")).with_tags(["a"]),
    ];
    let d = apply(&p, "tags".parse().unwrap(), &tagged, false).unwrap();
    assert_eq!(kept(&d), ["ba", "a"]);
}

#[test]
fn grouped_output_is_ordered_and_newest_first() {
    let list = vec![
        Snapshot::new("z-old", at("2024-01-01T00:00:00Z")).with_plan("z"),
        Snapshot::new("a-old", at("2024-01-01T00:00:00Z")).with_plan("a"),
        Snapshot::new("a-new", at("2024-01-02T00:00:00Z")).with_plan("a"),
    ];
    let p = count(|p| &mut p.keep_last, KeepCount::N(1));
    let groups = lifeboat_retention::apply_grouped(&p, "plan".parse().unwrap(), &list, false, None).unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].key.plan.as_deref(), Some("a"));
    assert_eq!(groups[0].decisions.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["a-new", "a-old"]);
    assert_eq!((groups[0].kept(), groups[0].forgotten()), (1, 1));
    assert_eq!(groups[1].key.to_string(), "plan=\"z\"");
}

#[test]
fn future_backups_are_not_the_reference_with_apply_at() {
    let list = snaps(&[
        ("c", "2024-05-10T00:00:00Z"),
        ("b", "2024-05-19T12:00:00Z"),
        ("a", "2024-05-20T00:00:00Z"),
        ("future", "2025-01-01T00:00:00Z"),
    ]);
    let p = Policy { keep_within: dur("2d"), ..Policy::default() };
    // Without a clock the newest backup is the reference: only it is within 2 days.
    let d = apply(&p, GroupBy::default(), &list, false).unwrap();
    assert_eq!(kept(&d), ["future"]);
    // As of 1 June 2024, the future backup is skipped as reference (and kept as within).
    let d = lifeboat_retention::apply_at(&p, GroupBy::default(), &list, false, utc("2024-06-01T00:00:00Z")).unwrap();
    assert_eq!(kept(&d), ["b", "a", "future"]);
    // A backup exactly at `now` is not before it, so it is not the reference either.
    let d = lifeboat_retention::apply_at(&p, GroupBy::default(), &list, false, utc("2024-05-20T00:00:00Z")).unwrap();
    assert_eq!(kept(&d), ["b", "a", "future"]);
    let d = lifeboat_retention::apply_at(&p, GroupBy::default(), &list, false, utc("2024-05-19T12:00:00Z")).unwrap();
    assert_eq!(kept(&d), ["c", "b", "a", "future"]);
    // Everything in the future: restic counts back from the zero time, all are within.
    let d = lifeboat_retention::apply_at(&p, GroupBy::default(), &list, false, utc("2020-01-01T00:00:00Z")).unwrap();
    assert_eq!(kept(&d).len(), 4);
}
