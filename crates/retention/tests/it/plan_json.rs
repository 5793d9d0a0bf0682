//! The `retention plan` document formats: exact output and one clear error per bad input.

use crate::common::utc;
use lifeboat_retention::{
    GroupBy, KeepCount, Policy, RetentionError, parse_plan_input, plan_from_json, plan_from_json_at,
};
use serde_json::{Value, json};

fn daily(n: u32) -> Policy {
    Policy { keep_daily: KeepCount::N(n), ..Policy::default() }
}

#[test]
fn output_has_one_entry_per_input_backup_in_input_order() {
    let input = r#"[
        {"id": "b", "time": "2024-05-02T02:00:00+02:00", "tags": ["nightly"], "host": "db1", "plan": "pg"},
        {"id": "a", "time": "2024-05-01T02:00:00+02:00", "tags": [], "host": "db1", "plan": "pg"},
        {"id": "a2", "time": "2024-05-01T01:00:00+02:00", "tags": [], "host": "db1", "plan": "pg"},
        {"id": "other", "time": "2024-04-01T02:00:00Z", "tags": [], "host": "db2", "plan": "pg", "extra": {"ignored": true}}
    ]"#;
    let out = plan_from_json(input, &daily(2), GroupBy::default(), false).unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        json!([
            {"id": "b", "keep": true, "reasons": ["daily snapshot"]},
            {"id": "a", "keep": true, "reasons": ["daily snapshot"]},
            {"id": "a2", "keep": false, "reasons": ["matched no keep rule"]},
            {"id": "other", "keep": true, "reasons": ["daily snapshot"]}
        ])
    );
    // Exactly the three fields, in this order.
    assert!(out.starts_with("[\n  {\n    \"id\": \"b\",\n    \"keep\": true,\n    \"reasons\": [\n"), "{out}");

    // Without grouping by host, db2's backup competes with db1's.
    let out = plan_from_json(input, &daily(2), "plan".parse().unwrap(), false).unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc[3]["keep"], json!(false));
}

#[test]
fn optional_fields_and_safety_flags_are_read() {
    let input = r#"[
        {"id": "x", "time": "2024-01-01T00:00:00Z"},
        {"id": "y", "time": "2024-01-02T00:00:00Z", "tags": null, "host": null, "locked_until": "2030-01-01T00:00:00Z"},
        {"id": "z", "time": "2024-01-03T00:00:00Z", "in_progress": true, "locked_until": null}
    ]"#;
    let snaps = parse_plan_input(input).unwrap();
    assert_eq!(snaps.len(), 3);
    assert!(snaps[0].tags.is_empty() && snaps[0].host.is_empty() && snaps[0].plan.is_empty());
    assert!(snaps[1].locked_until.is_some());
    assert!(snaps[2].in_progress);

    let p = Policy { keep_last: KeepCount::N(1), ..Policy::default() };
    let out = plan_from_json_at(input, &p, GroupBy::default(), false, utc("2025-01-01T00:00:00Z")).unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        json!([
            {"id": "x", "keep": false, "reasons": ["matched no keep rule"]},
            {"id": "y", "keep": true, "reasons": ["last snapshot", "object lock until 2030-01-01T00:00:00+00:00"]},
            {"id": "z", "keep": true, "reasons": ["in progress"]}
        ])
    );
    // After the lock expired, only the policy speaks.
    let out = plan_from_json_at(input, &p, GroupBy::default(), false, utc("2031-01-01T00:00:00Z")).unwrap();
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc[1]["reasons"], json!(["last snapshot"]));
}

#[test]
fn an_empty_array_gives_an_empty_plan() {
    assert_eq!(plan_from_json("[]", &daily(1), GroupBy::default(), false).unwrap(), "[]");
    assert_eq!(plan_from_json("  [ ]\n", &daily(1), GroupBy::default(), false).unwrap(), "[]");
}

fn malformed(input: &str) -> (String, String) {
    match plan_from_json(input, &daily(1), GroupBy::default(), false) {
        Err(RetentionError::MalformedInput { location, reason }) => (location, reason),
        other => panic!("expected MalformedInput for {input:?}, got {other:?}"),
    }
}

#[test]
fn malformed_input_names_the_place() {
    let ok = r#""id": "a", "time": "2024-01-01T00:00:00Z""#;
    let cases: Vec<(String, &str, &str)> = vec![
        ("".into(), "$", "ends too early"),
        ("[{".into(), "$", "ends too early"),
        ("[1,]".into(), "$", "line 1 column 4"),
        ("{\"id\": \"a\"}".into(), "$", "expected an array of backups, got an object"),
        ("[42]".into(), "$[0]", "expected an object, got a number"),
        (format!("[{{{ok}}}, {{\"time\": \"2024-01-01T00:00:00Z\"}}]"), "$[1].id", "missing"),
        ("[{\"id\": 7, \"time\": \"2024-01-01T00:00:00Z\"}]".into(), "$[0].id", "expected a string, got a number"),
        ("[{\"id\": \" \", \"time\": \"2024-01-01T00:00:00Z\"}]".into(), "$[0].id", "empty"),
        (format!("[{{{ok}}}, {{{ok}}}]"), "$[1].id", "also used by $[0]"),
        ("[{\"id\": \"a\"}]".into(), "$[0].time", "missing"),
        ("[{\"id\": \"a\", \"time\": \"yesterday\"}]".into(), "$[0].time", "got \"yesterday\""),
        ("[{\"id\": \"a\", \"time\": \"2024-01-01T00:00:00\"}]".into(), "$[0].time", "RFC 3339"),
        ("[{\"id\": \"a\", \"time\": \"2024-02-30T00:00:00Z\"}]".into(), "$[0].time", "RFC 3339"),
        ("[{\"id\": \"a\", \"time\": 1700000000}]".into(), "$[0].time", "got a number"),
        (format!("[{{{ok}, \"tags\": \"x\"}}]"), "$[0].tags", "expected an array of strings, got a string"),
        (format!("[{{{ok}, \"tags\": [\"x\", 3]}}]"), "$[0].tags[1]", "expected a string, got a number"),
        (format!("[{{{ok}, \"host\": []}}]"), "$[0].host", "expected a string, got an array"),
        (format!("[{{{ok}, \"plan\": false}}]"), "$[0].plan", "expected a string, got a boolean"),
        (format!("[{{{ok}, \"in_progress\": \"yes\"}}]"), "$[0].in_progress", "expected true or false"),
        (format!("[{{{ok}, \"locked_until\": \"soon\"}}]"), "$[0].locked_until", "got \"soon\""),
    ];
    for (input, location, needle) in cases {
        let (loc, reason) = malformed(&input);
        assert_eq!(loc, location, "input {input:?}: {reason}");
        assert!(reason.contains(needle), "input {input:?}: {reason:?} lacks {needle:?}");
    }
    let err = plan_from_json("[{\"id\": \"a\"}]", &daily(1), GroupBy::default(), false).unwrap_err();
    assert!(err.to_string().starts_with("malformed retention input at $[0].time: "), "{err}");
}

#[test]
fn policy_errors_come_through() {
    let input = r#"[{"id": "a", "time": "2024-01-01T00:00:00Z"}]"#;
    assert_eq!(plan_from_json(input, &Policy::default(), GroupBy::default(), false), Err(RetentionError::EmptyPolicy));
    let tag = Policy { keep_tags: vec!["gold".parse().unwrap()], ..Policy::default() };
    assert!(matches!(
        plan_from_json(input, &tag, GroupBy::default(), false),
        Err(RetentionError::WouldEmptyGroup { count: 1, .. })
    ));
    let out = plan_from_json(input, &tag, GroupBy::default(), true).unwrap();
    assert!(out.contains("\"keep\": false"));
}
