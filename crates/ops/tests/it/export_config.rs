//! `[exports.NAME]`: every problem reported with its key; the clean schedule in its zone; a
//! clean through the config deletes the expired export and leaves a foreign file alone.

use chrono::{DateTime, TimeDelta, Utc};
use lifeboat_export::{Destination, ExportKind, ExportManifest, write_manifest};
use lifeboat_ops::Config;
use lifeboat_retention::Expiry;

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
    let staging = tempfile::tempdir().unwrap();
    let mut m = ExportManifest::new("old", ExportKind::Files, "test");
    m.created = (Utc::now() - TimeDelta::days(3)).to_rfc3339();
    write_manifest(staging.path(), &m).unwrap();
    let d = Destination {
        storage: dest.storage().unwrap(),
        name: dest.template().unwrap(),
        compression: dest.compression().unwrap(),
        recipients: Vec::new(),
    };
    let written = d.deliver(staging.path(), &m).await.unwrap();
    std::fs::write(dir.path().join("export_20200101.tar.gz"), "someone else's").unwrap();
    let report = dest.clean_at(Utc::now(), false).await.unwrap();
    assert_eq!(report.deleted(), [written.file.as_deref().unwrap()]);
    let left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(left, ["export_20200101.tar.gz"]);
}
