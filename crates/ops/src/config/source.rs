//! `[plans.NAME.source]`: what a plan backs up, tagged by `kind`.

use std::path::PathBuf;

use lifeboat_repo::FilesFilter;
use serde::{Deserialize, Serialize};

use super::secret::SecretRef;

/// What a plan backs up (`kind = "files" | "stdin" | "postgres" | "mysql" | "redis" |
/// "elasticsearch"`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Files and directory trees.
    Files(FilesSource),
    /// The standard output of a command, as one stream.
    Stdin(StdinSource),
    /// PostgreSQL through pg_dump.
    Postgres(PostgresSource),
    /// MySQL or MariaDB through mariadb-dump / mysqldump.
    Mysql(MysqlSource),
    /// Redis: an RDB snapshot or a logical export.
    Redis(RedisSource),
    /// An Elasticsearch snapshot policy: the snapshot runs in the cluster.
    Elasticsearch(ElasticsearchSource),
}

impl SourceConfig {
    /// The `kind` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Files(_) => "files",
            SourceConfig::Stdin(_) => "stdin",
            SourceConfig::Postgres(_) => "postgres",
            SourceConfig::Mysql(_) => "mysql",
            SourceConfig::Redis(_) => "redis",
            SourceConfig::Elasticsearch(_) => "elasticsearch",
        }
    }
}

/// `kind = "files"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilesSource {
    /// Files and directories to back up (absolute paths).
    pub paths: Vec<PathBuf>,
    /// restic's exclude patterns of paths to leave out (`*.tmp`, `/home/*/.cache`, `!keep`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The same, matched ignoring case.
    #[serde(default)]
    pub iexclude: Vec<String>,
    /// Files of exclude patterns, one a line (`#` comments), read at each backup.
    #[serde(default)]
    pub exclude_file: Vec<PathBuf>,
    /// Files of case-insensitive exclude patterns.
    #[serde(default)]
    pub iexclude_file: Vec<PathBuf>,
    /// `NAME[:CONTENT-PREFIX]`: a directory holding such a file (`.nobackup`) is backed up
    /// as the directory and that file only.
    #[serde(default)]
    pub exclude_if_present: Vec<String>,
    /// Do not descend into other file systems (mount points) below each path.
    #[serde(default)]
    pub one_file_system: bool,
    /// Leave out directories tagged with a `CACHEDIR.TAG` (the Cache Directory Tagging spec).
    #[serde(default)]
    pub exclude_caches: bool,
}

impl FilesSource {
    /// The walk's filter, as lifeboat-repo's files backup takes it.
    pub fn filter(&self) -> FilesFilter {
        FilesFilter {
            exclude: self.exclude.clone(),
            iexclude: self.iexclude.clone(),
            exclude_file: self.exclude_file.clone(),
            iexclude_file: self.iexclude_file.clone(),
            exclude_if_present: self.exclude_if_present.clone(),
            exclude_caches: self.exclude_caches,
            one_file_system: self.one_file_system,
        }
    }
}

/// `kind = "stdin"`: a command's standard output. The command is an argv list run without a
/// shell; its environment is Lifeboat's own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StdinSource {
    /// The program and its arguments (`["pg_dumpall", "--globals-only"]`).
    pub command: Vec<String>,
    /// The stream's name in the backup (default: the program's file name).
    #[serde(default)]
    pub name: Option<String>,
}

impl StdinSource {
    /// The stream name: the one given, else the program's file name.
    pub fn stream_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let program = self.command.first().map(String::as_str).unwrap_or("stdin");
        program.rsplit('/').next().unwrap_or(program).to_owned()
    }
}

/// `kind = "postgres"`: lifeboat-dump's PostgreSQL options.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PostgresSource {
    /// `postgres://user@host:port/database` (no password in it).
    pub url: String,
    /// The database password's file (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the database password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Globals (roles, tablespaces) and every database.
    #[serde(default)]
    pub all: bool,
    /// Only these tables.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Leave out these tables.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Only the schema.
    #[serde(default)]
    pub schema_only: bool,
    /// Only the data.
    #[serde(default)]
    pub data_only: bool,
    /// A directory searched before `PATH` for pg_dump and friends.
    #[serde(default)]
    pub bindir: Option<PathBuf>,
}

/// `kind = "mysql"`: lifeboat-dump's MySQL/MariaDB options.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MysqlSource {
    /// `mysql://user@host:port/database` (no password in it).
    pub url: String,
    /// The database password's file (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the database password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Every non-system database.
    #[serde(default)]
    pub all: bool,
    /// Only these tables.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Leave out these tables.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    /// Only the schema.
    #[serde(default)]
    pub schema_only: bool,
    /// Only the data.
    #[serde(default)]
    pub data_only: bool,
}

/// `kind = "redis"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RedisSource {
    /// `redis://host:port/db` or `rediss://` (no password in it).
    pub url: String,
    /// The password's file (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// `rdb` (an exact snapshot, the default) or `logical` (SCAN + DUMP, TTLs kept).
    #[serde(default = "default_redis_mode")]
    pub mode: String,
    /// Logical mode: only keys matching this glob pattern.
    #[serde(default)]
    pub key_pattern: Option<String>,
}

fn default_redis_mode() -> String {
    "rdb".to_owned()
}

/// `kind = "elasticsearch"`: a Lifeboat snapshot policy (lifeboat-es'), run in the cluster.
/// On the plan's schedule Lifeboat takes the policy's snapshot of the day
/// (`{policy}-yyyy.MM.dd`, into the cluster's snapshot repository), waits for it, fails on
/// a partial or failed one, records it in the snapshot catalog and applies the plan's
/// `retention` to the policy's snapshots (never deleting the newest successful one); the
/// data never passes through Lifeboat.
///
/// With `indices`, the config is the policy: each run registers it (name `policy`, these
/// indices, this repository) in the Elasticsearch state. Without, `policy` must have been
/// registered already (`lifeboat es policy add`) and snapshot into `repository`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ElasticsearchSource {
    /// The cluster, `https://es.example:9200` (no credentials in it).
    pub url: String,
    /// The snapshot repository registered in the cluster.
    pub repository: String,
    /// The Lifeboat snapshot policy's name, also the prefix of its snapshots' names.
    pub policy: String,
    /// Comma-separated index patterns the policy snapshots (`logs-*,metrics-*`); when set the
    /// run registers the policy from the config.
    #[serde(default)]
    pub indices: Option<String>,
    /// The tenant (`org/namespace`, registered with `lifeboat es tenant add`) the policy
    /// belongs to; its indices and repository must be the tenant's. None: the admin scope.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The Elasticsearch state directory (policies, catalog; `lifeboat es --state-dir`).
    /// Default: `$LIFEBOAT_STATE_DIR`, else `$XDG_STATE_HOME/lifeboat/es`, else
    /// `~/.local/state/lifeboat/es`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// User name for basic authentication (the password by reference).
    #[serde(default)]
    pub username: Option<String>,
    /// The password's file (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding an API key (instead of a user and password).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// The environment variable holding an API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// A PEM file of the CA that signed the cluster's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl SourceConfig {
    /// The database password's reference (PostgreSQL, MySQL, Redis, Elasticsearch).
    pub fn password(&self) -> SecretRef {
        match self {
            SourceConfig::Postgres(s) => SecretRef::new(s.password_file.clone(), s.password_env.clone()),
            SourceConfig::Mysql(s) => SecretRef::new(s.password_file.clone(), s.password_env.clone()),
            SourceConfig::Redis(s) => SecretRef::new(s.password_file.clone(), s.password_env.clone()),
            SourceConfig::Elasticsearch(s) => SecretRef::new(s.password_file.clone(), s.password_env.clone()),
            SourceConfig::Files(_) | SourceConfig::Stdin(_) => SecretRef::default(),
        }
    }

    /// The URL of a database or cluster source.
    pub fn url(&self) -> Option<&str> {
        match self {
            SourceConfig::Postgres(s) => Some(&s.url),
            SourceConfig::Mysql(s) => Some(&s.url),
            SourceConfig::Redis(s) => Some(&s.url),
            SourceConfig::Elasticsearch(s) => Some(&s.url),
            SourceConfig::Files(_) | SourceConfig::Stdin(_) => None,
        }
    }
}
