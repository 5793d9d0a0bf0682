//! A database plan's [`lifeboat_dump::Source`], built from its `[source]` table with the
//! password read from its reference.

use lifeboat_dump::{MysqlConn, MysqlOptions, PgConn, PostgresOptions, RedisConn, RedisOptions, Secret, Source};

use super::RunError;
use crate::OpsError;
use crate::config::{SecretRef, SourceConfig};

/// The dump source of a postgres, mysql or redis plan.
pub(super) fn source(plan: &str, config: &SourceConfig) -> Result<Source, RunError> {
    let password = read_password(plan, config.password())?;
    let failed =
        |e: lifeboat_dump::DumpError| RunError::Backup { plan: plan.to_owned(), source: Box::new(OpsError::Dump(e)) };
    let source = match config {
        SourceConfig::Postgres(pg) => {
            let mut conn = PgConn::parse(&pg.url).map_err(failed)?;
            if let Some(p) = password {
                conn = conn.with_password(p);
            }
            let options = PostgresOptions {
                all: pg.all,
                tables: pg.tables.clone(),
                exclude_tables: pg.exclude_tables.clone(),
                schema_only: pg.schema_only,
                data_only: pg.data_only,
                bindir: pg.bindir.clone(),
            };
            Source::Postgres(lifeboat_dump::PostgresSource::new(conn, options).map_err(failed)?)
        }
        SourceConfig::Mysql(my) => {
            let mut conn = MysqlConn::parse(&my.url).map_err(failed)?;
            if let Some(p) = password {
                conn = conn.with_password(p);
            }
            let options = MysqlOptions {
                all: my.all,
                tables: my.tables.clone(),
                exclude_tables: my.exclude_tables.clone(),
                schema_only: my.schema_only,
                data_only: my.data_only,
            };
            Source::Mysql(lifeboat_dump::MysqlSource::new(conn, options).map_err(failed)?)
        }
        SourceConfig::Redis(redis) => {
            let mut conn = RedisConn::parse(&redis.url).map_err(failed)?;
            if let Some(p) = password {
                conn = conn.with_password(p);
            }
            let options =
                RedisOptions { mode: redis.mode.parse().map_err(failed)?, key_pattern: redis.key_pattern.clone() };
            Source::Redis(lifeboat_dump::RedisSource::new(conn, options).map_err(failed)?)
        }
        SourceConfig::Files(_) | SourceConfig::Stdin(_) | SourceConfig::Elasticsearch(_) => {
            return Err(RunError::Incomplete { plan: plan.to_owned(), key: "source.url" });
        }
    };
    Ok(source)
}

fn read_password(plan: &str, reference: SecretRef) -> Result<Option<Secret>, RunError> {
    let key = if reference.file.is_some() { "source.password-file" } else { "source.password-env" };
    let password = reference.read().map_err(|source| RunError::Secret { plan: plan.to_owned(), key, source })?;
    Ok(password.map(|p| Secret::new(p.as_str())))
}
