//! Opening the state store and the manager every `lifeboat es` command works through.

use anyhow::Result;
use lifeboat_es::{ClusterConfig, EsClient, EsManager, StateStore};

use super::args::EsGlobal;

pub(super) fn store(g: &EsGlobal) -> Result<StateStore> {
    let dir = match &g.state_dir {
        Some(d) => d.clone(),
        None => StateStore::default_dir()?,
    };
    Ok(StateStore::new(dir))
}

pub(super) async fn connect(g: &EsGlobal) -> Result<EsManager> {
    let cfg = ClusterConfig::from_env(g.es_url.as_deref(), g.ca_file.clone())?;
    let client = EsClient::new(&cfg)?;
    Ok(EsManager::for_tenant(client, store(g)?, g.tenant.as_deref()).await?)
}
