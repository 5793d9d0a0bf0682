//! Schedule semantics against fixed instants (never the real clock): cron in time zones
//! through DST gaps and repeats, month ends and leap days, intervals, the missed-run policy
//! after a week of downtime, the overlap policy, and jitter.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use lifeboat_ops::schedule::{
    Action, Decision, MissedPolicy, OverlapPolicy, PlanState, ScheduleError, ScheduleSpec, SkipReason, Skipped, Span,
    Trigger, decide, decide_at_clock, jitter_for, next_run,
};
use lifeboat_storage::clock::Clock;
use proptest::prelude::*;

fn at(text: &str) -> DateTime<Utc> {
    match text.parse() {
        Ok(t) => t,
        Err(e) => panic!("bad instant {text:?} in a test: {e}"),
    }
}

fn spec(toml_text: &str) -> ScheduleSpec {
    match toml::from_str(toml_text) {
        Ok(spec) => spec,
        Err(e) => panic!("schedule {toml_text:?} should parse: {e}"),
    }
}

/// Every slot in `[from, to)`.
fn slots(spec: &ScheduleSpec, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut next = spec.next_after(from - TimeDelta::nanoseconds(1));
    while let Some(t) = next
        && t < to
    {
        out.push(t);
        next = spec.next_after(t);
    }
    out
}

/// The slots of a year, grouped by their local date in `zone`.
fn runs_per_local_day(spec: &ScheduleSpec, zone: Tz, year: i32) -> BTreeMap<NaiveDate, Vec<DateTime<Tz>>> {
    let from = zone.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single().map(|t| t.with_timezone(&Utc));
    let to = zone.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).single().map(|t| t.with_timezone(&Utc));
    let (Some(from), Some(to)) = (from, to) else { panic!("new year's midnight is unambiguous in {zone}") };
    let mut days: BTreeMap<NaiveDate, Vec<DateTime<Tz>>> = BTreeMap::new();
    for slot in slots(spec, from, to) {
        let local = slot.with_timezone(&zone);
        days.entry(local.date_naive()).or_default().push(local);
    }
    days
}

fn days_in_year(year: i32) -> usize {
    if NaiveDate::from_ymd_opt(year, 2, 29).is_some() { 366 } else { 365 }
}

fn offset_seconds(t: &DateTime<Tz>) -> i32 {
    t.offset().fix().local_minus_utc()
}

// ---------------------------------------------------------------- the table

#[test]
fn a_full_table_parses_with_each_field() {
    let s = spec(
        "cron = \"0 30 2 * * *\"\ntimezone = \"Europe/Berlin\"\nmissed = \"run-once\"\nmax-lateness = \"6h\"\n\
         overlap = \"queue\"\njitter = \"5m\"",
    );
    assert!(matches!(s.trigger(), Trigger::Cron(c) if c.pattern() == "0 30 2 * * *" && c.zone() == Tz::Europe__Berlin));
    assert_eq!(s.missed(), MissedPolicy::RunOnce);
    assert_eq!(s.max_lateness(), Some(Span::from_seconds(6 * 3600)));
    assert_eq!(s.overlap(), OverlapPolicy::Queue);
    assert_eq!(s.jitter(), Span::from_seconds(300));

    let every = spec("every = \"1h30m\"\nmissed = \"skip\"");
    assert!(matches!(every.trigger(), Trigger::Every(i) if i.period() == Span::from_seconds(5400)));
    assert_eq!(
        (every.missed(), every.overlap(), every.jitter()),
        (MissedPolicy::Skip, OverlapPolicy::Skip, Span::from_seconds(0))
    );
}

#[test]
fn defaults_are_utc_run_once_without_limit_overlap_skip_no_jitter() {
    let s = spec("cron = \"0 2 * * *\"");
    assert!(matches!(s.trigger(), Trigger::Cron(c) if c.zone() == Tz::UTC));
    assert_eq!((s.missed(), s.max_lateness(), s.overlap()), (MissedPolicy::RunOnce, None, OverlapPolicy::Skip));
    assert!(s.jitter().is_zero());
    assert_eq!(s.next_after(at("2026-06-01T02:00:00Z")), Some(at("2026-06-02T02:00:00Z")));
}

fn table_error(toml_text: &str) -> ScheduleError {
    let table = match toml::from_str(toml_text) {
        Ok(table) => table,
        Err(e) => panic!("{toml_text:?} is a well-formed table: {e}"),
    };
    match ScheduleSpec::from_table(table) {
        Ok(spec) => panic!("{toml_text:?} should be refused, got {spec:?}"),
        Err(e) => e,
    }
}

#[test]
fn invalid_tables_are_errors_naming_field_and_value() {
    let cases: [(&str, &str, &str); 10] = [
        ("cron = \"0 2 * *\"", "cron", "0 2 * *"),
        ("cron = \"0 0 2 * * * 2026\"", "cron", "0 0 2 * * * 2026"),
        ("cron = \"0 25 * * *\"", "cron", "0 25 * * *"),
        ("cron = \"0 0 30 2 *\"", "cron", "0 0 30 2 *"),
        ("cron = \"0 2 * * *\"\ntimezone = \"Mars/Olympus\"", "timezone", "Mars/Olympus"),
        ("every = \"1x\"", "every", "1x"),
        ("every = \"0s\"", "every", "0s"),
        ("every = \"1h\"\njitter = \"1h\"", "jitter", "1h"),
        ("cron = \"0 2 * * *\"\njitter = \"5 minutes\"", "jitter", "5 minutes"),
        ("cron = \"0 2 * * *\"\nmax-lateness = \"0s\"", "max-lateness", "0s"),
    ];
    for (text, want_field, want_value) in cases {
        match table_error(text) {
            ScheduleError::Invalid { field, value, reason } => {
                assert_eq!((field, value.as_str()), (want_field, want_value), "{text:?}: {reason}");
                let shown = table_error(text).to_string();
                assert!(shown.contains(want_field) && shown.contains(want_value), "{shown}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    assert_eq!(table_error("missed = \"skip\""), ScheduleError::NoTrigger);
    assert!(matches!(table_error("cron = \"0 2 * * *\"\nevery = \"1d\""), ScheduleError::BothTriggers { .. }));
    assert!(matches!(
        table_error("every = \"1h\"\ntimezone = \"Europe/Berlin\""),
        ScheduleError::Needs { field: "timezone", needs: "cron", .. }
    ));
    assert!(matches!(
        table_error("cron = \"0 2 * * *\"\nmissed = \"skip\"\nmax-lateness = \"6h\""),
        ScheduleError::Needs { field: "max-lateness", .. }
    ));
}

#[test]
fn unknown_fields_and_values_are_refused_by_the_toml_layer() {
    for text in [
        "cron = \"0 2 * * *\"\nzone = \"UTC\"",
        "cron = \"0 2 * * *\"\nmissed = \"catch-up\"",
        "cron = \"0 2 * * *\"\noverlap = \"allow\"",
        "cron = \"0 2 * * *\"\nmax_lateness = \"6h\"",
    ] {
        assert!(toml::from_str::<ScheduleSpec>(text).is_err(), "{text:?} should be refused");
    }
    // A table error reaches the TOML error with the field and the value.
    match toml::from_str::<ScheduleSpec>("cron = \"0 2 * * *\"\ntimezone = \"Mars/Olympus\"") {
        Err(e) => assert!(e.to_string().contains("Mars/Olympus") && e.to_string().contains("timezone"), "{e}"),
        Ok(s) => panic!("accepted {s:?}"),
    }
}

// ---------------------------------------------------------------- DST

#[test]
fn berlin_daily_0230_runs_once_every_local_day_of_the_year() {
    let s = spec("cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"");
    let days = runs_per_local_day(&s, Tz::Europe__Berlin, 2026);
    assert_eq!(days.len(), days_in_year(2026));
    for (day, runs) in &days {
        assert_eq!(runs.len(), 1, "{day}: {runs:?}");
    }
    // Spring forward, 29 March 2026 (02:00 -> 03:00): once, at the first instant after the gap.
    let gap_day = days.get(&NaiveDate::from_ymd_opt(2026, 3, 29).unwrap_or_default()).cloned().unwrap_or_default();
    assert_eq!(gap_day.iter().map(|t| t.with_timezone(&Utc)).collect::<Vec<_>>(), vec![at("2026-03-29T01:00:00Z")]);
    assert_eq!(gap_day.first().map(|t| (t.hour(), t.minute())), Some((3, 0)));
    // Fall back, 25 October 2026 (03:00 -> 02:00): once, at the first (summer time) 02:30.
    let repeat_day = days.get(&NaiveDate::from_ymd_opt(2026, 10, 25).unwrap_or_default()).cloned().unwrap_or_default();
    assert_eq!(repeat_day.iter().map(|t| t.with_timezone(&Utc)).collect::<Vec<_>>(), vec![at("2026-10-25T00:30:00Z")]);
    assert_eq!(repeat_day.first().map(offset_seconds), Some(7200));
    // Every other day at 02:30 local exactly.
    let at_0230 = days.values().flatten().filter(|t| (t.hour(), t.minute()) == (2, 30)).count();
    assert_eq!(at_0230, days_in_year(2026) - 1);
}

#[test]
fn new_york_daily_runs_once_a_day_through_the_gap_and_the_repeat() {
    // 02:30 falls into the gap of 8 March 2026; 01:30 is repeated on 1 November 2026.
    for (pattern, gap_run, repeat_run) in [
        ("30 2 * * *", at("2026-03-08T07:00:00Z"), at("2026-11-01T07:30:00Z")),
        ("30 1 * * *", at("2026-03-08T06:30:00Z"), at("2026-11-01T05:30:00Z")),
    ] {
        let s = spec(&format!("cron = \"{pattern}\"\ntimezone = \"America/New_York\""));
        let days = runs_per_local_day(&s, Tz::America__New_York, 2026);
        assert_eq!(days.len(), days_in_year(2026), "{pattern}");
        for (day, runs) in &days {
            assert_eq!(runs.len(), 1, "{pattern} on {day}: {runs:?}");
        }
        let on = |m, d| {
            days.get(&NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default())
                .and_then(|runs| runs.first())
                .map(|t| t.with_timezone(&Utc))
        };
        assert_eq!(on(3, 8), Some(gap_run), "{pattern} on the gap day");
        assert_eq!(on(11, 1), Some(repeat_run), "{pattern} on the repeat day");
    }
}

#[test]
fn a_stepped_pattern_has_no_slots_in_the_gap_and_both_in_the_repeat() {
    let s = spec("cron = \"*/30 * * * *\"\ntimezone = \"Europe/Berlin\"");
    let days = runs_per_local_day(&s, Tz::Europe__Berlin, 2026);
    let count = |m, d| days.get(&NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default()).map_or(0, Vec::len);
    assert_eq!(count(3, 29), 46, "23 hours of half-hours");
    assert_eq!(count(10, 25), 50, "25 hours of half-hours");
    assert_eq!(count(6, 1), 48);
    let repeat_0230: Vec<i32> = days
        .get(&NaiveDate::from_ymd_opt(2026, 10, 25).unwrap_or_default())
        .into_iter()
        .flatten()
        .filter(|t| (t.hour(), t.minute()) == (2, 30))
        .map(offset_seconds)
        .collect();
    assert_eq!(repeat_0230, vec![7200, 3600], "02:30 CEST, then 02:30 CET");
}

// ---------------------------------------------------------------- calendars

#[test]
fn cron_nicknames_are_their_patterns() {
    for (nickname, pattern) in [
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@weekly", "0 0 * * SUN"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
    ] {
        let (a, b) = (spec(&format!("cron = \"{nickname}\"")), spec(&format!("cron = \"{pattern}\"")));
        let from = at("2026-02-27T13:14:15Z");
        assert_eq!(
            slots(&a, from, from + TimeDelta::days(800)),
            slots(&b, from, from + TimeDelta::days(800)),
            "{nickname}"
        );
    }
    assert!(matches!(table_error("cron = \"@fortnightly\""), ScheduleError::Invalid { field: "cron", .. }));
}

#[test]
fn the_31st_runs_only_in_31_day_months() {
    let s = spec("cron = \"0 0 31 * *\"");
    let runs = slots(&s, at("2026-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z"));
    let months: Vec<u32> = runs.iter().map(|t| t.month()).collect();
    assert_eq!(months, [1, 3, 5, 7, 8, 10, 12, 1, 3, 5, 7, 8, 10, 12]);
    assert!(runs.iter().all(|t| t.day() == 31));
}

#[test]
fn last_day_of_month_with_l_includes_february_in_and_out_of_leap_years() {
    let s = spec("cron = \"0 0 L * *\"");
    let runs = slots(&s, at("2027-01-01T00:00:00Z"), at("2029-01-01T00:00:00Z"));
    assert_eq!(runs.len(), 24);
    for t in &runs {
        assert_eq!((*t + TimeDelta::days(1)).day(), 1, "{t} is a month's last day");
    }
    assert!(runs.contains(&at("2027-02-28T00:00:00Z")) && runs.contains(&at("2028-02-29T00:00:00Z")));
}

#[test]
fn the_29th_of_february_runs_only_in_leap_years() {
    let s = spec("cron = \"0 0 29 2 *\"");
    let runs = slots(&s, at("2026-01-01T00:00:00Z"), at("2033-01-01T00:00:00Z"));
    assert_eq!(runs, vec![at("2028-02-29T00:00:00Z"), at("2032-02-29T00:00:00Z")]);
}

#[test]
fn an_interval_is_anchored_at_the_epoch() {
    let s = spec("every = \"1h\"");
    assert_eq!(s.next_after(at("2026-05-05T10:20:00Z")), Some(at("2026-05-05T11:00:00Z")));
    assert_eq!(s.next_after(at("2026-05-05T11:00:00Z")), Some(at("2026-05-05T12:00:00Z")));
    let six = spec("every = \"6h\"");
    let runs = slots(&six, at("2026-05-05T00:00:00Z"), at("2026-05-06T00:00:00Z"));
    assert_eq!(runs.iter().map(|t| t.hour()).collect::<Vec<_>>(), [0, 6, 12, 18]);
    assert_eq!(six.interval_after(at("2026-05-05T01:00:00Z")), Some(TimeDelta::hours(6)));
    let berlin = spec("cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"");
    assert_eq!(berlin.interval_after(at("2026-03-27T12:00:00Z")), Some(TimeDelta::hours(23) + TimeDelta::minutes(30)));
}

// ---------------------------------------------------------------- properties

const PATTERNS: [&str; 8] = [
    "30 2 * * *",
    "0 1 * * *",
    "*/15 * * * *",
    "0 0 31 * *",
    "0 0 L * *",
    "15 3 * * MON-FRI",
    "0 30 1 * * *",
    "0 */5 1-3 * * *",
];
const ZONES: [Tz; 4] = [Tz::UTC, Tz::Europe__Berlin, Tz::America__New_York, Tz::Australia__Lord_Howe];

const DAILY_ZONES: [Tz; 6] = [
    Tz::UTC,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::Australia__Lord_Howe,
    Tz::America__Santiago,
    Tz::Australia__Sydney,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// next_after is strictly increasing, and every instant it returns matches the pattern on
    /// the zone's wall clock, or is the first instant after a DST gap (a fixed-time slot
    /// inside the gap, moved to its end).
    #[test]
    fn next_after_increases_and_matches_in_its_zone(
        pattern in 0..PATTERNS.len(),
        zone in 0..ZONES.len(),
        start in 1_735_689_600i64..2_051_222_400, // 2025 to 2035
    ) {
        let (Some(pattern), Some(zone)) = (PATTERNS.get(pattern), ZONES.get(zone)) else { unreachable!() };
        let s = spec(&format!("cron = \"{pattern}\"\ntimezone = \"{}\"", zone.name()));
        let mut t = DateTime::from_timestamp(start, 0).unwrap_or_default();
        for _ in 0..40 {
            let next = s.next_after(t);
            prop_assert!(next.is_some());
            let next = next.unwrap_or_default();
            prop_assert!(next > t, "{pattern} in {zone}: {next} after {t}");
            let before = (next - TimeDelta::seconds(1)).with_timezone(zone);
            let after_gap = offset_seconds(&before) < offset_seconds(&next.with_timezone(zone));
            prop_assert!(s.trigger().matches(next) || after_gap, "{pattern} in {zone}: {} does not match", next.with_timezone(zone));
            t = next;
        }
    }

    /// Any daily fixed-time job, in any of several zones with DST (half-hour shifts and
    /// changes at midnight included), runs exactly once on every local day of a year.
    #[test]
    fn a_daily_job_runs_once_every_local_day(
        hour in 0u32..24,
        minute in 0u32..60,
        zone in 0..DAILY_ZONES.len(),
        year in 2025i32..2036,
    ) {
        let Some(zone) = DAILY_ZONES.get(zone) else { unreachable!() };
        let s = spec(&format!("cron = \"{minute} {hour} * * *\"\ntimezone = \"{}\"", zone.name()));
        let days = runs_per_local_day(&s, *zone, year);
        prop_assert_eq!(days.len(), days_in_year(year), "{} {:02}:{:02} in {}", year, hour, minute, zone);
        for (day, runs) in &days {
            prop_assert_eq!(runs.len(), 1, "{:02}:{:02} in {} on {}: {:?}", hour, minute, zone, day, runs);
        }
    }

    /// An interval's slots are strictly increasing, exactly one period apart, and each one
    /// is a multiple of the period since the epoch.
    #[test]
    fn interval_slots_increase_by_the_period(period in 1i64..200_000, start in 0i64..4_000_000_000) {
        let s = spec(&format!("every = \"{period}s\""));
        let mut t = DateTime::from_timestamp(start, 0).unwrap_or_default();
        let mut previous: Option<DateTime<Utc>> = None;
        for _ in 0..20 {
            let next = s.next_after(t).unwrap_or_default();
            prop_assert!(next > t && s.trigger().matches(next));
            prop_assert!(next - t <= TimeDelta::seconds(period));
            prop_assert_eq!(next.timestamp().rem_euclid(period), 0);
            if let Some(previous) = previous {
                prop_assert_eq!(next - previous, TimeDelta::seconds(period));
            }
            previous = Some(next);
            t = next;
        }
    }

    /// The jitter of any plan and slot lies in [0, bound) and is the same when asked again.
    #[test]
    fn jitter_is_stable_and_within_bounds(plan in "[a-z]{1,12}", slot in 0i64..4_000_000_000, bound in 1i64..86_400) {
        let slot = DateTime::from_timestamp(slot, 0).unwrap_or_default();
        let bound = Span::from_seconds(bound);
        let j = jitter_for(&plan, slot, bound);
        prop_assert!(j >= TimeDelta::zero() && j < bound.as_delta(), "{j} for bound {bound}");
        prop_assert_eq!(j, jitter_for(&plan, slot, bound));
    }

    /// A simulated scheduler with runs of random length: a run never starts while one is in
    /// progress, at most one is queued, no slot starts twice, and with `queue` every slot is
    /// either started or recorded as skipped.
    #[test]
    fn runs_never_overlap_and_the_queue_holds_one(
        durations in proptest::collection::vec(60i64..10_000, 1..40),
        queue in any::<bool>(),
    ) {
        let overlap = if queue { "queue" } else { "skip" };
        let s = spec(&format!("every = \"30m\"\noverlap = \"{overlap}\""));
        let mut now = at("2026-01-01T00:00:00Z");
        let mut state = PlanState::new(now);
        let mut running_until: Option<DateTime<Utc>> = None;
        let mut lengths = durations.iter().cycle();
        let (mut started, mut skipped_count) = (Vec::new(), 0u64);
        for _ in 0..3_000 {
            now += TimeDelta::seconds(20);
            if running_until.is_some_and(|end| end <= now) {
                running_until = None;
            }
            state.running = running_until.is_some();
            let d = decide(&s, "web", &state, now);
            skipped_count += d.skipped.iter().map(|g| g.count).sum::<u64>();
            match d.action {
                Action::Run(start) => {
                    prop_assert!(!state.running, "started while running");
                    prop_assert!(!started.contains(&start.run.slot));
                    started.push(start.run.slot);
                    if start.from_queue {
                        prop_assert_eq!(Some(start.run), state.queued);
                    }
                    state.queued = None;
                    let length = lengths.next().copied().unwrap_or(60);
                    running_until = Some(now + TimeDelta::seconds(length));
                }
                Action::Queue(run) => {
                    prop_assert!(queue && state.running && state.queued.is_none());
                    state.queued = Some(run);
                }
                Action::Wait => {}
            }
            state.evaluated_through = d.evaluated_through;
        }
        let all = slots(&s, at("2026-01-01T00:00:01Z"), now + TimeDelta::seconds(1));
        let pending = u64::from(state.queued.is_some());
        prop_assert_eq!(started.len() as u64 + skipped_count + pending, all.len() as u64);
    }

    /// However the scheduler's ticks fall, no slot is started twice and runs go forward.
    #[test]
    fn ticks_never_start_a_slot_twice(gaps in proptest::collection::vec(1i64..20_000, 1..60), skip in any::<bool>()) {
        let missed = if skip { "skip" } else { "run-once" };
        let s = spec(&format!("every = \"1h\"\nmissed = \"{missed}\"\njitter = \"10m\""));
        let mut now = at("2026-01-01T00:00:00Z");
        let mut state = PlanState::new(now);
        let mut started = Vec::new();
        for gap in gaps {
            now += TimeDelta::seconds(gap);
            let d = decide(&s, "web", &state, now);
            if let Action::Run(start) = d.action {
                prop_assert!(started.last().is_none_or(|last| *last < start.run.slot));
                prop_assert!(start.run.start_at <= now);
                started.push(start.run.slot);
            }
            prop_assert!(d.evaluated_through >= state.evaluated_through);
            state.evaluated_through = d.evaluated_through;
        }
    }
}

// ---------------------------------------------------------------- missed runs

/// Daily at 02:00 UTC; it last ran on 1 March and the service was down for a week.
fn after_a_week_down(extra: &str) -> Decision {
    let s = spec(&format!("cron = \"0 2 * * *\"\n{extra}"));
    let state = PlanState::new(at("2026-03-01T02:00:00Z"));
    decide(&s, "web", &state, at("2026-03-08T10:00:00Z"))
}

fn group(d: &Decision, reason: SkipReason) -> Option<Skipped> {
    d.skipped.iter().find(|g| g.reason == reason).copied()
}

#[test]
fn skip_after_a_week_down_runs_nothing_and_records_seven_missed() {
    let d = after_a_week_down("missed = \"skip\"");
    assert_eq!(d.action, Action::Wait);
    let missed = group(&d, SkipReason::Missed);
    assert_eq!(
        missed.map(|g| (g.count, g.first, g.last)),
        Some((7, at("2026-03-02T02:00:00Z"), at("2026-03-08T02:00:00Z")))
    );
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.evaluated_through, at("2026-03-08T02:00:00Z"));
    assert_eq!(d.wake_at, Some(at("2026-03-09T02:00:00Z")), "the next regular slot");
}

#[test]
fn run_once_after_a_week_down_runs_the_newest_slot_once() {
    let d = after_a_week_down("missed = \"run-once\"");
    let Action::Run(start) = d.action else { panic!("expected a catch-up run, got {d:?}") };
    assert_eq!(
        (start.run.slot, start.late_by, start.catch_up),
        (at("2026-03-08T02:00:00Z"), TimeDelta::hours(8), true)
    );
    assert_eq!(group(&d, SkipReason::Missed).map(|g| (g.count, g.last)), Some((6, at("2026-03-07T02:00:00Z"))));
    // Asked again at the same instant (say, after a restart that kept the state): no second run.
    let s = spec("cron = \"0 2 * * *\"");
    let again = decide(&s, "web", &PlanState::new(d.evaluated_through), at("2026-03-08T10:00:00Z"));
    assert_eq!((again.action, again.skipped.len()), (Action::Wait, 0));
}

#[test]
fn run_once_respects_max_lateness() {
    let too_late = after_a_week_down("missed = \"run-once\"\nmax-lateness = \"6h\"");
    assert_eq!(too_late.action, Action::Wait);
    assert_eq!(
        group(&too_late, SkipReason::TooLate).map(|g| (g.count, g.first)),
        Some((1, at("2026-03-08T02:00:00Z")))
    );
    assert_eq!(group(&too_late, SkipReason::Missed).map(|g| g.count), Some(6));

    let in_time = after_a_week_down("missed = \"run-once\"\nmax-lateness = \"12h\"");
    assert!(matches!(in_time.action, Action::Run(s) if s.catch_up && s.run.slot == at("2026-03-08T02:00:00Z")));
}

#[test]
fn an_on_time_slot_is_no_catch_up_and_skips_nothing() {
    let s = spec("cron = \"0 2 * * *\"\nmissed = \"skip\"");
    let d = decide(&s, "web", &PlanState::new(at("2026-03-07T02:00:00Z")), at("2026-03-08T02:00:30Z"));
    assert!(matches!(d.action, Action::Run(st) if !st.catch_up && st.late_by == TimeDelta::seconds(30)), "{d:?}");
    assert!(d.skipped.is_empty());
    let before = decide(&s, "web", &PlanState::new(at("2026-03-07T02:00:00Z")), at("2026-03-08T01:59:59Z"));
    assert_eq!((before.action, before.wake_at), (Action::Wait, Some(at("2026-03-08T02:00:00Z"))));
}

#[test]
fn a_long_downtime_with_a_fine_schedule_counts_a_lower_bound_and_runs_once() {
    let s = spec("every = \"1s\"");
    let d = decide(&s, "web", &PlanState::new(at("2026-03-01T00:00:00Z")), at("2026-03-03T00:00:00Z"));
    assert!(matches!(d.action, Action::Run(st) if st.run.slot == at("2026-03-03T00:00:00Z") && !st.catch_up));
    let missed = group(&d, SkipReason::Missed);
    assert!(missed.is_some_and(|g| g.at_least && g.count >= 99_999 && g.count < 172_800), "{missed:?}");
}

// ---------------------------------------------------------------- overlap

#[test]
fn overlap_skip_drops_the_slot_and_records_it() {
    let s = spec("every = \"1h\"\noverlap = \"skip\"");
    let state = PlanState { running: true, ..PlanState::new(at("2026-03-08T01:00:00Z")) };
    let d = decide(&s, "web", &state, at("2026-03-08T02:00:05Z"));
    assert_eq!(d.action, Action::Wait);
    assert_eq!(group(&d, SkipReason::Overlap).map(|g| (g.count, g.first)), Some((1, at("2026-03-08T02:00:00Z"))));
    assert_eq!(d.evaluated_through, at("2026-03-08T02:00:00Z"));
}

#[test]
fn overlap_queue_keeps_one_run_queued_never_a_pile() {
    let s = spec("every = \"1h\"\noverlap = \"queue\"");
    let mut state = PlanState { running: true, ..PlanState::new(at("2026-03-08T01:00:00Z")) };
    let d = decide(&s, "web", &state, at("2026-03-08T02:00:05Z"));
    let Action::Queue(queued) = d.action else { panic!("expected a queued run, got {d:?}") };
    assert_eq!(queued.slot, at("2026-03-08T02:00:00Z"));
    state.queued = Some(queued);
    state.evaluated_through = d.evaluated_through;

    // Still running at 03:00: that slot is dropped, the queue keeps one.
    let d = decide(&s, "web", &state, at("2026-03-08T03:00:05Z"));
    assert_eq!(d.action, Action::Wait);
    assert_eq!(group(&d, SkipReason::AlreadyQueued).map(|g| (g.count, g.first)), Some((1, at("2026-03-08T03:00:00Z"))));
    state.evaluated_through = d.evaluated_through;

    // The run ends at 03:20: the queued one starts, however late.
    state.running = false;
    let d = decide(&s, "web", &state, at("2026-03-08T03:20:00Z"));
    let Action::Run(start) = d.action else { panic!("expected the queued run, got {d:?}") };
    assert!(start.from_queue && start.run == queued && start.late_by == TimeDelta::minutes(80));
    assert!(d.skipped.is_empty());
}

#[test]
fn a_newer_slot_supersedes_a_stale_queued_run() {
    let s = spec("every = \"1h\"\noverlap = \"queue\"");
    let queued =
        lifeboat_ops::schedule::SlotRun { slot: at("2026-03-08T02:00:00Z"), start_at: at("2026-03-08T02:00:00Z") };
    let state = PlanState { evaluated_through: at("2026-03-08T02:00:00Z"), running: false, queued: Some(queued) };
    let d = decide(&s, "web", &state, at("2026-03-08T03:00:00Z"));
    assert!(matches!(d.action, Action::Run(st) if st.run.slot == at("2026-03-08T03:00:00Z") && !st.from_queue));
    assert_eq!(group(&d, SkipReason::Superseded).map(|g| g.first), Some(at("2026-03-08T02:00:00Z")));
}

// ---------------------------------------------------------------- jitter

#[test]
fn jitter_delays_each_slot_differently_per_plan_and_decide_waits_for_it() {
    let bound = Span::from_seconds(300);
    let slot = at("2026-03-08T02:00:00Z");
    let plans = ["web", "db", "search", "files", "mail", "wiki", "git", "chat"];
    let delays: Vec<TimeDelta> = plans.iter().map(|p| jitter_for(p, slot, bound)).collect();
    let mut distinct = delays.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 6, "plans sharing a slot start apart: {delays:?}");
    assert_eq!(jitter_for("web", slot, Span::from_seconds(0)), TimeDelta::zero());
    let next_day = jitter_for("web", slot + TimeDelta::days(1), bound);
    let days: Vec<TimeDelta> = (0..8).map(|d| jitter_for("web", slot + TimeDelta::days(d), bound)).collect();
    assert!(days.iter().any(|j| *j != next_day), "the delay varies from slot to slot: {days:?}");

    let s = spec("cron = \"0 2 * * *\"\njitter = \"5m\"");
    let web = delays.first().copied().unwrap_or_default();
    assert!(web > TimeDelta::zero(), "this test needs a nonzero delay for web");
    let state = PlanState::new(at("2026-03-07T12:00:00Z"));
    let early = decide(&s, "web", &state, slot);
    assert_eq!((early.action, early.wake_at), (Action::Wait, Some(slot + web)));
    let on_time = decide(&s, "web", &state, slot + web);
    assert!(
        matches!(on_time.action, Action::Run(st) if st.run.slot == slot && st.run.start_at == slot + web && st.late_by.is_zero())
    );
}

#[test]
fn next_run_is_the_next_slot_with_its_jitter() {
    let s = spec("cron = \"0 2 * * *\"\njitter = \"5m\"");
    let slot = at("2026-03-08T02:00:00Z");
    let run = next_run(&s, "web", at("2026-03-07T12:00:00Z"));
    assert_eq!(
        run.map(|r| (r.slot, r.start_at)),
        Some((slot, slot + jitter_for("web", slot, Span::from_seconds(300))))
    );
}

#[derive(Debug)]
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

#[test]
fn decide_at_clock_reads_the_injected_clock() {
    let s = spec("every = \"1d\"");
    let state = PlanState::new(at("2026-03-07T00:00:00Z"));
    let clock = FixedClock(at("2026-03-08T00:00:10Z"));
    assert_eq!(decide_at_clock(&s, "web", &state, &clock), decide(&s, "web", &state, clock.now()));
    assert!(matches!(decide_at_clock(&s, "web", &state, &clock).action, Action::Run(_)));
}

#[test]
fn a_month_of_minute_ticks_across_the_spring_gap_starts_each_daily_slot_once() {
    let s = spec("cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\njitter = \"10m\"");
    let mut now = at("2026-03-15T00:00:00Z");
    let mut state = PlanState::new(now);
    let mut started = Vec::new();
    while now < at("2026-04-15T00:00:00Z") {
        let d = decide(&s, "web", &state, now);
        assert!(d.skipped.is_empty(), "ticking every minute misses nothing: {d:?}");
        if let Action::Run(start) = d.action {
            assert!(!start.catch_up && start.late_by < TimeDelta::minutes(1));
            started.push(start.run.slot);
        }
        state.evaluated_through = d.evaluated_through;
        now += TimeDelta::minutes(1);
    }
    assert_eq!(started.len(), 31);
    assert_eq!(started, slots(&s, at("2026-03-15T00:00:00Z"), at("2026-04-15T00:00:00Z")));
    assert!(started.contains(&at("2026-03-29T01:00:00Z")), "the gap day's run, at 03:00 CEST");
}

#[test]
fn a_spec_serializes_to_its_canonical_table_and_back() {
    for text in [
        "cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\nmissed = \"run-once\"\nmax-lateness = \"360m\"\njitter = \"5m\"",
        "every = \"90m\"\nmissed = \"skip\"\noverlap = \"queue\"",
        "cron = \"0 0 L * *\"",
    ] {
        let original = spec(text);
        let table = lifeboat_ops::schedule::ScheduleTable::from(&original);
        // As an API prints it (JSON), and read back as the config would be.
        let written = match serde_json::to_value(&table) {
            Ok(written) => written,
            Err(e) => panic!("{table:?} should serialize: {e}"),
        };
        match serde_json::from_value::<ScheduleSpec>(written.clone()) {
            Ok(back) => assert_eq!(back, original, "{written}"),
            Err(e) => panic!("{written} should read back: {e}"),
        }
    }
    let table = lifeboat_ops::schedule::ScheduleTable::from(&spec("every = \"90m\""));
    assert_eq!((table.every.as_deref(), table.timezone, table.jitter), (Some("1h30m"), None, None));
    let cron = lifeboat_ops::schedule::ScheduleTable::from(&spec("cron = \"0 2 * * *\""));
    assert_eq!(cron.timezone.as_deref(), Some("UTC"), "the default zone is written out");
}

#[test]
fn skipped_groups_read_as_job_history_lines() {
    let d = after_a_week_down("missed = \"skip\"");
    let lines: Vec<String> = d.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["missed 7 runs while down (2026-03-02T02:00:00Z to 2026-03-08T02:00:00Z)"]);
    let s = spec("every = \"1h\"");
    let state = PlanState { running: true, ..PlanState::new(at("2026-03-08T01:00:00Z")) };
    let overlap = decide(&s, "web", &state, at("2026-03-08T02:00:00Z"));
    let lines: Vec<String> = overlap.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["skipped 1 run: a run was in progress (2026-03-08T02:00:00Z)"]);
}

#[test]
fn a_clock_that_went_backwards_reruns_nothing() {
    let s = spec("every = \"1h\"");
    let state = PlanState::new(at("2026-03-08T02:00:00Z"));
    let d = decide(&s, "web", &state, at("2026-03-08T01:30:00Z"));
    assert_eq!(
        (d.action, d.evaluated_through, d.wake_at),
        (Action::Wait, state.evaluated_through, Some(at("2026-03-08T03:00:00Z")))
    );
    assert!(d.skipped.is_empty());
}
