//! "Keep for N days" expiry for Elasticsearch snapshots, restored indices and exports.

use crate::common::{at, utc};
use lifeboat_retention::{Expiry, Snapshot, expire};

#[test]
fn expires_n_days_after_creation_measured_from_now() {
    let made = at("2024-02-27T12:00:00+01:00");
    let rule = Expiry::days(3);
    // 2024 is a leap year: three days after 27 Feb 11:00 UTC is 1 March 11:00 UTC.
    assert_eq!(rule.expires_at(&made), Some(utc("2024-03-01T11:00:00Z")));
    assert!(!rule.is_expired(&made, utc("2024-03-01T10:59:59Z")));
    assert!(rule.is_expired(&made, utc("2024-03-01T11:00:00Z")));
    assert!(!Expiry::FOREVER.is_expired(&made, utc("2999-01-01T00:00:00Z")));
    assert_eq!(Expiry::FOREVER.expires_at(&made), None);
    assert_eq!(Expiry::days(0), Expiry::FOREVER);
}

#[test]
fn decisions_and_reasons() {
    let now = utc("2024-06-10T00:00:00Z");
    let items = vec![
        Snapshot::new("idx-old", at("2024-06-01T00:00:00Z")),
        Snapshot::new("idx-new", at("2024-06-08T00:00:00Z")),
        Snapshot::new("idx-restoring", at("2024-05-01T00:00:00Z")).with_in_progress(true),
        Snapshot::new("snap-locked", at("2024-05-01T00:00:00Z")).with_locked_until(Some(at("2024-07-01T00:00:00Z"))),
        Snapshot::new("snap-lock-over", at("2024-05-01T00:00:00Z")).with_locked_until(Some(at("2024-06-01T00:00:00Z"))),
    ];
    let d = expire(Expiry::days(7), &items, now).unwrap();
    let summary: Vec<(&str, bool, Vec<&str>)> =
        d.iter().map(|d| (d.id.as_str(), d.keep, d.reasons.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        summary,
        vec![
            ("idx-old", false, vec!["expired 2024-06-08T00:00:00+00:00"]),
            ("idx-new", true, vec!["expires 2024-06-15T00:00:00+00:00"]),
            ("idx-restoring", true, vec!["in progress", "expired 2024-05-08T00:00:00+00:00"]),
            (
                "snap-locked",
                true,
                vec!["object lock until 2024-07-01T00:00:00+00:00", "expired 2024-05-08T00:00:00+00:00"]
            ),
            ("snap-lock-over", false, vec!["expired 2024-05-08T00:00:00+00:00"]),
        ]
    );
    let d = expire(Expiry::FOREVER, &items[..1], now).unwrap();
    assert_eq!(d[0].reasons, ["keep forever"]);
    assert!(d[0].keep);
}

#[test]
fn bad_input_is_refused() {
    assert!(Expiry::from_i64(-1).unwrap_err().to_string().contains("\"-1\""));
    assert_eq!(Expiry::from_i64(30).unwrap().keep_days(), 30);
    let t = at("2024-01-01T00:00:00Z");
    let dup = vec![Snapshot::new("a", t), Snapshot::new("a", t)];
    assert!(expire(Expiry::days(1), &dup, utc("2024-01-01T00:00:00Z")).unwrap_err().to_string().contains("position 1"));
    let empty = vec![Snapshot::new("", t)];
    assert!(expire(Expiry::days(1), &empty, utc("2024-01-01T00:00:00Z")).is_err());
}

#[test]
fn serde_is_the_bare_number_of_days() {
    assert_eq!(serde_json::from_str::<Expiry>("30").unwrap(), Expiry::days(30));
    assert_eq!(serde_json::to_string(&Expiry::days(7)).unwrap(), "7");
    assert!(serde_json::from_str::<Expiry>("-1").is_err());
    assert_eq!(Expiry::days(7).to_string(), "keep 7 days");
    assert_eq!(Expiry::FOREVER.to_string(), "keep forever");
}

#[test]
fn huge_rules_do_not_overflow() {
    let made = at("2024-01-01T00:00:00Z");
    assert!(!Expiry::days(u32::MAX).is_expired(&made, utc("9999-01-01T00:00:00Z")));
}
