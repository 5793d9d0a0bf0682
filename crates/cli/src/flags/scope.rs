//! `--plan`, `--host`, `--tag`, `--path`: the scope `latest` is chosen in, shared by every
//! command that takes a backup id (show, verify, restore, copy), and the filters of `list`.

use std::path::PathBuf;

use clap::Args;
use lifeboat_repo::LatestScope;

/// Which backups `latest` chooses among (an id given must be one of them too), or which
/// `list` shows.
#[derive(Args, Debug, Clone, Default)]
pub struct ScopeArgs {
    /// Only backups of this plan (`latest`: the newest of them).
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// Only backups made on this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Only backups carrying this tag; repeat it (or separate with commas) for backups
    /// carrying all of them.
    #[arg(long = "tag", value_name = "TAG", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Only files backups of this path (as backed up: made absolute, `.` is the current
    /// directory); repeat it for backups of all of them.
    #[arg(long = "path", value_name = "PATH", value_parser = recorded_path)]
    pub paths: Vec<PathBuf>,
}

impl ScopeArgs {
    /// The scope lifeboat-repo resolves in.
    pub fn scope(&self) -> LatestScope {
        LatestScope {
            plan: self.plan.clone(),
            host: self.host.clone(),
            tags: self.tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
            paths: self.paths.clone(),
        }
    }
}

/// `--path` as a files backup records it: resolved as the backup resolves its paths when
/// it exists here, else only made absolute (a path of another host, or one gone since).
/// Runs while the command line is parsed, before the async runtime starts.
fn recorded_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if let Ok(mut resolved) = lifeboat_repo::source_paths(std::slice::from_ref(&path))
        && let Some(one) = resolved.pop()
    {
        return Ok(one);
    }
    std::path::absolute(&path).map_err(|e| format!("cannot make {text:?} absolute: {e}"))
}
