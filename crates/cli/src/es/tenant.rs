//! `lifeboat es tenant`: register tenants and list them.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_es::Tenant;

use super::args::{TenantArgs, TenantCmd};
use super::connect::store;
use super::render::table;
use crate::render::print_json;

pub(super) async fn run(a: TenantArgs) -> Result<ExitCode> {
    let g = &a.global;
    let store = store(g)?;
    match a.cmd {
        TenantCmd::Add { id, index_prefixes } => {
            let t = Tenant::new(&id, index_prefixes)?;
            store.register_tenant(t.clone()).await?;
            if g.json {
                print_json(&t)?;
            } else {
                println!("tenant {} registered; repositories go under {}", t.id(), t.base_path());
            }
        }
        TenantCmd::List => {
            let list = store.tenants().await?;
            if g.json {
                print_json(&list)?;
            } else {
                table(
                    &["TENANT", "INDEX PREFIXES", "BASE PATH"],
                    list.iter().map(|t| vec![t.id(), t.index_prefixes.join(","), t.base_path()]).collect(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
