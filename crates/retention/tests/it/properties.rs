//! Property tests of the retention engine.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use lifeboat_retention::{
    Decision, Duration, GroupBy, KeepCount, Policy, RetentionError, Snapshot, TagList, apply, apply_at,
};
use proptest::prelude::*;

const OFFSETS_MIN: [i32; 8] = [0, 60, 120, -300, -240, 330, 345, -720];
const TAGS: [&str; 3] = ["a", "b", "c"];

/// Seconds after the base, offset index, tag switches, host, plan, in progress, lock.
type RawSnapshot = (i64, usize, Vec<bool>, usize, usize, bool, Option<i64>);

fn snapshot_strategy() -> impl Strategy<Value = RawSnapshot> {
    (
        // Up to ~3 years of seconds around 2024; a small range so buckets collide.
        0i64..(3 * 365 * 86_400),
        0..OFFSETS_MIN.len(),
        proptest::collection::vec(any::<bool>(), TAGS.len()),
        0usize..2,
        0usize..2,
        proptest::bool::weighted(0.05),
        proptest::option::weighted(0.1, 0i64..(4 * 365 * 86_400)),
    )
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap()
}

fn build(raw: Vec<RawSnapshot>, coarse: bool) -> Vec<Snapshot> {
    raw.into_iter()
        .enumerate()
        .map(|(i, (secs, off, tags, host, plan, in_progress, lock))| {
            // Coarse times (whole hours) make identical timestamps frequent.
            let secs = if coarse { secs - secs % 3600 } else { secs };
            let offset = FixedOffset::east_opt(OFFSETS_MIN[off] * 60).unwrap();
            let time = (base() + chrono::Duration::seconds(secs)).with_timezone(&offset);
            Snapshot {
                id: format!("s{i:03}"),
                time,
                tags: TAGS.iter().zip(tags).filter(|(_, on)| *on).map(|(t, _)| t.to_string()).collect(),
                host: format!("h{host}"),
                plan: format!("p{plan}"),
                in_progress,
                locked_until: lock.map(|l| (base() + chrono::Duration::seconds(l)).fixed_offset()),
            }
        })
        .collect()
}

fn snapshots() -> impl Strategy<Value = Vec<Snapshot>> {
    (proptest::collection::vec(snapshot_strategy(), 0..40), any::<bool>()).prop_map(|(raw, coarse)| build(raw, coarse))
}

fn count() -> impl Strategy<Value = KeepCount> {
    prop_oneof![
        4 => Just(KeepCount::N(0)),
        4 => (1u32..6).prop_map(KeepCount::N),
        1 => Just(KeepCount::Unlimited),
    ]
}

fn duration() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        3 => Just(None),
        2 => (0u32..2, 0u32..14, 0u32..40, 0u32..48).prop_map(|(y, m, d, h)| Some(Duration::new(y, m, d, h))),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        proptest::collection::vec(count(), 6),
        proptest::collection::vec(duration(), 6),
        proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("a,b"), Just("")], 0..2),
    )
        .prop_map(|(c, d, tags)| Policy {
            keep_last: c[0],
            keep_hourly: c[1],
            keep_daily: c[2],
            keep_weekly: c[3],
            keep_monthly: c[4],
            keep_yearly: c[5],
            keep_within: d[0],
            keep_within_hourly: d[1],
            keep_within_daily: d[2],
            keep_within_weekly: d[3],
            keep_within_monthly: d[4],
            keep_within_yearly: d[5],
            keep_tags: tags.into_iter().map(|t| t.parse::<TagList>().unwrap()).collect(),
        })
}

fn group_by() -> impl Strategy<Value = GroupBy> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(plan, host, tags)| GroupBy { plan, host, tags })
}

fn now() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    proptest::option::of((0i64..(4 * 365 * 86_400)).prop_map(|s| base() + chrono::Duration::seconds(s)))
}

fn run(p: &Policy, g: GroupBy, list: &[Snapshot], now: Option<DateTime<Utc>>) -> Vec<Decision> {
    let r = match now {
        None => apply(p, g, list, true),
        Some(now) => apply_at(p, g, list, true, now),
    };
    r.unwrap_or_else(|e| panic!("apply failed: {e}"))
}

fn kept_ids(d: &[Decision]) -> HashSet<String> {
    d.iter().filter(|d| d.keep).map(|d| d.id.clone()).collect()
}

/// Raise one counting rule or lengthen one duration.
fn raise(p: &Policy, which: usize, by: u32) -> Policy {
    let mut q = p.clone();
    let bump = |c: &mut KeepCount| {
        *c = match *c {
            KeepCount::N(n) if by > 0 => KeepCount::N(n + by),
            _ => KeepCount::Unlimited,
        }
    };
    let longer = |d: &mut Option<Duration>| {
        let mut x = d.unwrap_or_default();
        match by % 4 {
            0 => x.years += 1,
            1 => x.months += by,
            2 => x.days += by,
            _ => x.hours += by,
        }
        *d = Some(x);
    };
    match which {
        0 => bump(&mut q.keep_last),
        1 => bump(&mut q.keep_hourly),
        2 => bump(&mut q.keep_daily),
        3 => bump(&mut q.keep_weekly),
        4 => bump(&mut q.keep_monthly),
        5 => bump(&mut q.keep_yearly),
        6 => longer(&mut q.keep_within),
        7 => longer(&mut q.keep_within_hourly),
        8 => longer(&mut q.keep_within_daily),
        9 => longer(&mut q.keep_within_weekly),
        10 => longer(&mut q.keep_within_monthly),
        _ => longer(&mut q.keep_within_yearly),
    }
    q
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// One decision per backup, in input order; kept backups carry at least one reason,
    /// forgotten ones exactly "matched no keep rule".
    #[test]
    fn one_decision_per_backup_with_reasons(list in snapshots(), p in policy(), g in group_by(), now in now()) {
        let d = run(&p, g, &list, now);
        prop_assert_eq!(d.len(), list.len());
        for (s, d) in list.iter().zip(&d) {
            prop_assert_eq!(&s.id, &d.id);
            prop_assert!(!d.reasons.is_empty());
            if !d.keep {
                prop_assert_eq!(d.reasons.clone(), vec!["matched no keep rule".to_string()]);
            }
        }
    }

    /// Planning again over the kept set keeps all of it.
    #[test]
    fn replanning_the_kept_set_keeps_all_of_it(list in snapshots(), p in policy(), g in group_by(), now in now()) {
        let d = run(&p, g, &list, now);
        let kept = kept_ids(&d);
        let survivors: Vec<Snapshot> = list.iter().filter(|s| kept.contains(&s.id)).cloned().collect();
        let again = run(&p, g, &survivors, now);
        for d in &again {
            prop_assert!(d.keep, "{} was kept first, then forgotten: {:?}", d.id, d.reasons);
        }
    }

    /// Raising any count (or making it unlimited), or lengthening any duration, keeps a superset.
    #[test]
    fn raising_a_rule_keeps_a_superset(
        list in snapshots(), p in policy(), g in group_by(), now in now(), which in 0usize..12, by in 0u32..5,
    ) {
        let before = kept_ids(&run(&p, g, &list, now));
        let q = raise(&p, which, by);
        let after = kept_ids(&run(&q, g, &list, now));
        let lost: Vec<_> = before.difference(&after).collect();
        prop_assert!(lost.is_empty(), "raising rule {} by {} lost {:?}", which, by, lost);
    }

    /// With any counting or keep-within* rule set, the newest completed backup of every group is kept.
    #[test]
    fn newest_backup_of_each_group_is_kept(list in snapshots(), p in policy(), g in group_by(), now in now()) {
        prop_assume!(p.has_time_rule());
        let d = run(&p, g, &list, now);
        let keep: BTreeMap<&str, bool> = d.iter().map(|d| (d.id.as_str(), d.keep)).collect();
        let mut newest: BTreeMap<_, &Snapshot> = BTreeMap::new();
        for s in list.iter().filter(|s| !s.in_progress) {
            let e = newest.entry(g.key(s)).or_insert(s);
            if (s.time, std::cmp::Reverse(&s.id)) > (e.time, std::cmp::Reverse(&e.id)) {
                *e = s;
            }
        }
        for (key, s) in newest {
            prop_assert!(keep[s.id.as_str()], "newest {} of group {} forgotten", s.id, key);
        }
    }

    /// Backups in progress or under a holding lock are never forgotten.
    #[test]
    fn held_backups_are_never_forgotten(list in snapshots(), p in policy(), g in group_by(), now in now()) {
        let d = run(&p, g, &list, now);
        for (s, d) in list.iter().zip(&d) {
            let locked = s.locked_until.is_some_and(|u| now.is_none_or(|n| u.to_utc() > n));
            if s.in_progress || locked {
                prop_assert!(d.keep, "{} is held but forgotten", s.id);
            }
        }
    }

    /// The result does not depend on the order of the input.
    #[test]
    fn input_order_does_not_matter(list in snapshots(), p in policy(), g in group_by(), now in now(), seed in any::<u64>()) {
        let d = run(&p, g, &list, now);
        let mut shuffled = list.clone();
        // A deterministic shuffle from the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let e = run(&p, g, &shuffled, now);
        let a: BTreeMap<_, _> = d.into_iter().map(|d| (d.id.clone(), d)).collect();
        let b: BTreeMap<_, _> = e.into_iter().map(|d| (d.id.clone(), d)).collect();
        prop_assert_eq!(a, b);
    }

    /// Without allow-empty, the engine either keeps something in every group with a completed
    /// backup, or refuses with WouldEmptyGroup; it never returns such a plan.
    #[test]
    fn groups_are_never_emptied_silently(list in snapshots(), p in policy(), g in group_by(), now in now()) {
        let r = match now {
            None => apply(&p, g, &list, false),
            Some(now) => apply_at(&p, g, &list, false, now),
        };
        match r {
            Ok(d) => {
                let keep: BTreeMap<&str, bool> = d.iter().map(|d| (d.id.as_str(), d.keep)).collect();
                let mut groups: BTreeMap<_, bool> = BTreeMap::new();
                for s in list.iter().filter(|s| !s.in_progress) {
                    *groups.entry(g.key(s)).or_insert(false) |= keep[s.id.as_str()];
                }
                prop_assert!(groups.values().all(|k| *k));
            }
            Err(RetentionError::WouldEmptyGroup { .. }) => prop_assert!(!p.has_time_rule()),
            Err(RetentionError::EmptyPolicy) => prop_assert!(p.is_empty()),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// Durations print and parse back to themselves.
    #[test]
    fn durations_round_trip(y in 0u32..100, m in 0u32..100, d in 0u32..1000, h in 0u32..10000) {
        let dur = Duration::new(y, m, d, h);
        prop_assert_eq!(dur.to_string().parse::<Duration>().unwrap(), dur);
    }

    /// Duration parsing never panics, whatever the text.
    #[test]
    fn duration_parsing_never_panics(s in "\\PC{0,12}") {
        let _ = s.parse::<Duration>();
    }

    /// Plan input parsing never panics on arbitrary text.
    #[test]
    fn plan_input_parsing_never_panics(s in "\\PC{0,64}") {
        let _ = lifeboat_retention::parse_plan_input(&s);
    }
}
