//! `lifeboat es repo`: register, list, verify, change and unregister snapshot repositories.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lifeboat_es::RepositorySpec;

use super::args::{RepoArgs, RepoCmd, RepoType};
use super::connect::connect;
use super::render::table;
use crate::render::print_json;

pub(super) async fn run(a: RepoArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        RepoCmd::Create {
            name,
            repo_type,
            location,
            bucket,
            endpoint,
            path_style_access,
            client,
            base_path,
            readonly,
            compress,
            no_verify,
        } => {
            let spec = match repo_type {
                RepoType::Fs => {
                    if bucket.is_some() || endpoint.is_some() || client.is_some() || base_path.is_some() {
                        bail!("--bucket, --endpoint, --client and --base-path are for --type s3");
                    }
                    RepositorySpec::Fs {
                        location: location.context("--type fs needs --location")?,
                        readonly,
                        compress: compress.then_some(true),
                    }
                }
                RepoType::S3 => {
                    if location.is_some() {
                        bail!("--location is for --type fs; use --bucket and --base-path");
                    }
                    RepositorySpec::S3 {
                        bucket: bucket.context("--type s3 needs --bucket")?,
                        endpoint,
                        path_style_access: path_style_access.then_some(true),
                        client,
                        base_path,
                        readonly,
                        compress: compress.then_some(true),
                    }
                }
            };
            let info = es.repositories().create(&name, &spec, !no_verify).await?;
            if g.json {
                print_json(&info)?;
            } else {
                println!("registered repository {} ({})", info.name, info.repo_type);
            }
        }
        RepoCmd::List => {
            let repos = es.repositories().list().await?;
            if g.json {
                print_json(&repos)?;
            } else {
                table(
                    &["NAME", "TYPE", "READONLY", "LOCATION"],
                    repos
                        .iter()
                        .map(|r| {
                            let loc = match r.repo_type.as_str() {
                                "s3" => format!(
                                    "s3://{}/{}",
                                    r.setting("bucket").unwrap_or_default(),
                                    r.setting("base_path").unwrap_or_default()
                                ),
                                _ => r.setting("location").unwrap_or_default(),
                            };
                            vec![r.name.clone(), r.repo_type.clone(), r.readonly().to_string(), loc]
                        })
                        .collect(),
                );
            }
        }
        RepoCmd::Verify { name } => {
            let v = es.repositories().verify(&name).await?;
            if g.json {
                print_json(&v)?;
            } else {
                println!("repository {name} verified by {} node(s)", v.nodes.len());
            }
        }
        RepoCmd::Set { name, settings, unset, no_verify } => {
            let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
            for kv in settings {
                let (k, v) = kv.split_once('=').with_context(|| format!("setting {kv:?} is not KEY=VALUE"))?;
                changes.insert(k.trim().to_string(), Some(v.to_string()));
            }
            for k in unset {
                changes.insert(k, None);
            }
            if changes.is_empty() {
                bail!("nothing to change: give KEY=VALUE settings or --unset KEY");
            }
            let info = es.repositories().update_settings(&name, &changes, !no_verify).await?;
            if g.json {
                print_json(&info)?;
            } else {
                println!("updated repository {name}");
            }
        }
        RepoCmd::Delete { name } => {
            es.repositories().delete(&name).await?;
            if !g.json {
                println!("unregistered repository {name} (its data was not deleted)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
