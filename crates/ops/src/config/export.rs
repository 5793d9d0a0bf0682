//! `[exports.NAME]`: export destinations with their naming, encryption and retention
//! (issue 16). `lifeboat export ... --to NAME` writes there; `lifeboat export clean` and
//! lifeboatd (daily, `clean-schedule`) expire what is past `keep-days` / `keep-failed-days`.
//!
//! ```toml
//! [exports.logplat]
//! destination = "/mnt/nfs/exports"          # a directory or a storage URL (s3://, cos://, webdav://)
//! name = "{plan}_{id}_{time:%Y%m%d%H%M%S}_{random:10}"
//! compression = "tar.gz"                     # or "tar.zst"
//! recipients = ["lbpk1..."]                  # encrypt for these X25519 recipients (optional)
//! keep-days = 2
//! keep-failed-days = 1
//! clean-schedule = "0 3 * * *"               # lifeboatd's daily clean (cron, default 03:00)
//! ```

use serde::Deserialize;

use lifeboat_export::{Compression, ExpiryRules, NameTemplate};
use lifeboat_retention::Expiry;

use crate::schedule::CronTrigger;

/// The default clean schedule: daily at 03:00 (in `timezone`, else UTC).
pub const DEFAULT_CLEAN_SCHEDULE: &str = "0 3 * * *";

/// `[exports.NAME]`: one export destination.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExportDestinationConfig {
    /// Where export files go: a directory or a storage URL (s3://, webdav://, ...).
    #[serde(default)]
    pub destination: Option<String>,
    /// The naming template (default `{plan}_{id}_{time:%Y%m%d%H%M%S}_{random:10}`).
    #[serde(default)]
    pub name: Option<String>,
    /// What `{plan}` stands for (default: the destination's NAME).
    #[serde(default)]
    pub plan: Option<String>,
    /// `tar.gz` (default) or `tar.zst`.
    #[serde(default)]
    pub compression: Option<String>,
    /// X25519 recipients (`lbpk1...`) to encrypt every export for; none: plain files.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Days complete exports are kept; 0 or absent: forever.
    #[serde(default)]
    pub keep_days: Option<u32>,
    /// Days failed exports are kept (default: `keep-days`).
    #[serde(default)]
    pub keep_failed_days: Option<u32>,
    /// When lifeboatd cleans this destination (cron; default daily at 03:00). Only a
    /// destination with a `keep-days` or `keep-failed-days` is cleaned.
    #[serde(default)]
    pub clean_schedule: Option<String>,
    /// The zone of `clean-schedule` (IANA name; default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
}

impl ExportDestinationConfig {
    /// The expiry rules.
    pub fn rules(&self) -> ExpiryRules {
        let ok = Expiry::days(self.keep_days.unwrap_or(0));
        ExpiryRules { ok, failed: self.keep_failed_days.map(Expiry::days).unwrap_or(ok) }
    }

    /// True when lifeboatd has something to clean here.
    pub fn expires(&self) -> bool {
        let r = self.rules();
        !r.ok.is_forever() || !r.failed.is_forever()
    }

    /// The naming template.
    pub fn template(&self) -> Result<NameTemplate, String> {
        match &self.name {
            Some(t) => NameTemplate::new(t).map_err(|e| e.to_string()),
            None => Ok(NameTemplate::default()),
        }
    }

    /// The compression.
    pub fn compression(&self) -> Result<Compression, String> {
        self.compression
            .as_deref()
            .map_or(Ok(Compression::Gz), |c| c.parse().map_err(|e: lifeboat_export::ExportError| e.to_string()))
    }

    /// The recipients' public keys.
    pub fn recipient_keys(&self) -> Result<Vec<lifeboat_crypto::RecipientPublicKey>, String> {
        self.recipients
            .iter()
            .map(|r| lifeboat_crypto::RecipientPublicKey::parse(r).map_err(|e| format!("`{r}`: {e}")))
            .collect()
    }

    /// lifeboatd's clean trigger (`None` when nothing expires here).
    pub fn clean_trigger(&self) -> Result<Option<CronTrigger>, String> {
        if !self.expires() {
            return Ok(None);
        }
        let pattern = self.clean_schedule.as_deref().unwrap_or(DEFAULT_CLEAN_SCHEDULE);
        CronTrigger::new(pattern, self.timezone.as_deref()).map(Some).map_err(|e| e.to_string())
    }
}

/// Every problem of the `[exports]` tables, as (key, why).
pub(crate) fn problems(exports: &std::collections::BTreeMap<String, ExportDestinationConfig>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, e) in exports {
        let key = |k: &str| format!("exports.{name}.{k}");
        match e.destination.as_deref().map(str::trim) {
            None | Some("") => {
                out.push((key("destination"), "an export destination needs a directory or storage URL".into()))
            }
            Some(_) => {}
        }
        if let Err(why) = e.template() {
            out.push((key("name"), why));
        }
        if let Err(why) = e.compression() {
            out.push((key("compression"), why));
        }
        if let Err(why) = e.recipient_keys() {
            out.push((key("recipients"), why));
        }
        if e.clean_schedule.is_some() && !e.expires() {
            out.push((key("clean-schedule"), "nothing expires here: set keep-days or keep-failed-days".into()));
        }
        if let Err(why) = e.clean_trigger() {
            out.push((key("clean-schedule"), why));
        }
    }
    out
}

impl ExportDestinationConfig {
    /// Opens the destination's storage (a directory or a storage URL).
    pub fn storage(&self) -> Result<std::sync::Arc<dyn lifeboat_storage::Storage>, String> {
        let dest = self.destination.as_deref().map(str::trim).filter(|d| !d.is_empty()).ok_or("no destination")?;
        lifeboat_storage::open_url(dest).map_err(|e| e.to_string())
    }

    /// Expires this destination's exports at `now` (nothing deleted when `dry_run`).
    pub async fn clean_at(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
    ) -> Result<lifeboat_export::CleanReport, String> {
        let storage = self.storage()?;
        lifeboat_export::clean(&*storage, self.rules(), now, dry_run).await.map_err(|e| e.to_string())
    }
}
