//! `--plan`, `--host`, `--tag`: the scope `latest` is chosen in, shared by every command
//! that takes a backup id (show, verify, restore, copy).

use clap::Args;
use lifeboat_repo::LatestScope;

/// Which backups `latest` chooses among; an id given must be one of them too.
#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// `latest` is the newest backup of this plan (an id given must be of it).
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// `latest` is the newest backup made on this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// `latest` is the newest backup carrying this tag; repeat it (or separate with commas)
    /// for backups carrying all of them.
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    pub tags: Vec<String>,
}

impl ScopeArgs {
    /// The scope lifeboat-repo resolves in.
    pub fn scope(&self) -> LatestScope {
        LatestScope {
            plan: self.plan.clone(),
            host: self.host.clone(),
            tags: self.tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
        }
    }
}
