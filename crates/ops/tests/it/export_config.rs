//! `[exports.NAME]`: every problem reported with its key; the clean schedule in its zone; a
//! clean through the config deletes the expired export and leaves a foreign file alone; the
//! service's step cleans a destination at its slot (not before), audited.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lifeboat_export::{Destination, ExportKind, ExportManifest, write_manifest};
use lifeboat_ops::Config;
use lifeboat_ops::config::ExportDestinationConfig;
use lifeboat_retention::Expiry;
use lifeboat_testkit::ManualClock;

use crate::service::{Site, service};

/// Delivers an export `id` created at `created` to `dest` with lifeboat-export's own API;
/// returns the file's name.
async fn deliver(dest: &ExportDestinationConfig, id: &str, created: DateTime<Utc>) -> String {
    let staging = tempfile::tempdir().unwrap();
    let mut m = ExportManifest::new(id, ExportKind::Files, "test");
    m.created = created.to_rfc3339();
    write_manifest(staging.path(), &m).unwrap();
    let d = Destination {
        storage: dest.storage().unwrap(),
        name: dest.template().unwrap(),
        compression: dest.compression().unwrap(),
        recipients: Vec::new(),
    };
    d.deliver(staging.path(), &m).await.unwrap().file.unwrap()
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn export_destinations_are_checked_with_their_keys() {
    let text = r#"
[exports.bad]
destination = ""
name = "{nope}"
compression = "rar"
recipients = ["lbpk1zz"]
clean-schedule = "0 3 * * *"
"#;
    let err = Config::parse(text, "test.toml").unwrap_err().to_string();
    for key in [
        "exports.bad.destination",
        "exports.bad.name",
        "exports.bad.compression",
        "exports.bad.recipients",
        "exports.bad.clean-schedule",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_is_cleaned_on_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[exports.logplat]\ndestination = \"{}\"\nkeep-days = 2\nkeep-failed-days = 1\ntimezone = \"Asia/Shanghai\"\n",
        dir.path().display()
    );
    let config = Config::parse(&text, "test.toml").unwrap();
    let dest = &config.exports["logplat"];
    assert_eq!(dest.rules().ok, Expiry::days(2));
    assert_eq!(dest.rules().failed, Expiry::days(1));
    let trigger = dest.clean_trigger().unwrap().expect("a retention means a daily clean");
    let from: DateTime<Utc> = "2026-12-02T00:00:00Z".parse().unwrap();
    assert_eq!(trigger.next_after(from).unwrap().to_rfc3339(), "2026-12-02T19:00:00+00:00", "03:00 in Shanghai");

    // One export three days old, one foreign file.
    let written = deliver(dest, "old", Utc::now() - TimeDelta::days(3)).await;
    std::fs::write(dir.path().join("export_20200101.tar.gz"), "someone else's").unwrap();
    let report = dest.clean_at(Utc::now(), false).await.unwrap();
    assert_eq!(report.deleted(), [written.as_str()]);
    assert_eq!(names_in(dir.path()), ["export_20200101.tar.gz"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_cleans_a_destination_at_its_slot_and_audits_it() {
    let site = Site::new();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[exports.logplat]\ndestination = \"{}\"\nkeep-days = 2\ntimezone = \"Asia/Shanghai\"\n",
        dir.path().display()
    );
    // 20:00 in Shanghai (UTC+8, no DST); the clean is due at 03:00 there, 19:00 UTC.
    let start = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let service = service(&site, &text, &clock).await;
    let written = deliver(&service.config().exports["logplat"], "old", start - TimeDelta::days(3)).await;
    std::fs::write(dir.path().join("export_20200101.tar.gz"), "someone else's").unwrap();
    let before = names_in(dir.path());
    assert!(before.contains(&written), "{before:?}");

    // 02:59 in Shanghai: not yet.
    clock.set(Utc.with_ymd_and_hms(2026, 12, 2, 18, 59, 0).unwrap());
    service.tick().await.unwrap();
    service.wait_idle().await;
    assert_eq!(names_in(dir.path()), before, "nothing is deleted before the slot");
    let audited = |entries: &[lifeboat_ops::audit::AuditEntry]| {
        entries.iter().filter(|e| e.operation == "export_clean").cloned().collect::<Vec<_>>()
    };
    assert!(audited(&service.state().audit_entries(None, None).await.unwrap()).is_empty());

    // Past 03:00: the expired export goes, the foreign file stays, the clean is audited.
    clock.set(Utc.with_ymd_and_hms(2026, 12, 2, 19, 0, 30).unwrap());
    service.tick().await.unwrap();
    service.wait_idle().await;
    assert_eq!(names_in(dir.path()), ["export_20200101.tar.gz"]);
    let entries = audited(&service.state().audit_entries(None, None).await.unwrap());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        (entry.actor.as_str(), entry.target.as_deref(), entry.result.as_str()),
        ("scheduler", Some("logplat"), "ok")
    );
    assert_eq!(entry.parameters["deleted"], serde_json::json!([written]));
    assert_eq!(entry.parameters["scheduled_for"], serde_json::json!("2026-12-02T19:00:00Z"));

    // The next tick in the same day cleans nothing more.
    clock.advance(TimeDelta::hours(1));
    service.tick().await.unwrap();
    service.wait_idle().await;
    assert_eq!(audited(&service.state().audit_entries(None, None).await.unwrap()).len(), 1);
    service.shutdown(std::time::Duration::from_secs(1)).await;
}
