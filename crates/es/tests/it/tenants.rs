//! Tenant isolation: a tenant's policies and restores cannot touch another tenant's indices or
//! repository paths.

use std::time::Duration;

use crate::common::*;
use lifeboat_es::{
    EsError, EsManager, Remedy, RepositorySpec, RestoreRequest, RestoreState, Scope, SnapshotPolicy, StateStore,
    Tenant, TimeRange, TimeSource, parse_instant,
};
use lifeboat_es_double::{IndexSeed, TestCluster};

fn may_2024() -> TimeRange {
    TimeRange::new(parse_instant("2024-05-01", false).unwrap(), parse_instant("2024-05-31", true).unwrap()).unwrap()
}

fn is_violation(e: &EsError) -> bool {
    matches!(e, EsError::TenantViolation { .. })
}

#[tokio::test]
async fn tenants_are_isolated() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let store = StateStore::new(state.path());
        let acme_prefix = c.name("acme-prod-");
        let beta_prefix = c.name("beta-prod-");
        store.register_tenant(Tenant::new("acme/prod", vec![acme_prefix.clone()]).unwrap()).await.unwrap();
        store.register_tenant(Tenant::new("beta/prod", vec![beta_prefix.clone()]).unwrap()).await.unwrap();
        let tenant_manager = |id: &str| {
            let c = &c;
            let store = store.clone();
            let id = id.to_string();
            async move {
                EsManager::for_tenant(c.client(), store, Some(&id))
                    .await
                    .unwrap()
                    .with_poll_interval(Duration::from_millis(50))
            }
        };
        let acme = tenant_manager("acme/prod").await;
        let beta = tenant_manager("beta/prod").await;

        // acme's repository lands under tenants/acme/prod.
        let acme_repo = c.name("acme-repo");
        let info = acme.repositories().create(&acme_repo, &fs_repo(&c, "shared-root"), true).await.unwrap();
        assert!(info.setting("location").unwrap().ends_with("/tenants/acme/prod"), "{info:?}");
        let beta_repo = c.name("beta-repo");
        beta.repositories().create(&beta_repo, &fs_repo(&c, "shared-root"), true).await.unwrap();

        let acme_index = format!("{acme_prefix}logs-2024.05.01");
        let beta_index = format!("{beta_prefix}logs-2024.05.01");
        c.seed_index(&acme_index, IndexSeed::daily("2024-05-01", 12)).await;
        c.seed_index(&beta_index, IndexSeed::daily("2024-05-01", 7)).await;

        // beta can neither use acme's repository nor snapshot acme's indices.
        let err = beta.snapshots().list(&acme_repo).await.unwrap_err();
        assert!(is_violation(&err), "{err:?}");
        assert!(err.to_string().contains("tenants/beta/prod"), "{err}");
        let err = beta
            .policies()
            .add(SnapshotPolicy::new("steal", &format!("{acme_prefix}*"), &beta_repo, "@daily", 1).unwrap())
            .await
            .unwrap_err();
        assert!(is_violation(&err), "{err:?}");
        let err = beta
            .policies()
            .add(SnapshotPolicy::new("wide", &c.name("beta-*"), &beta_repo, "@daily", 1).unwrap())
            .await
            .unwrap_err();
        assert!(is_violation(&err), "a wildcard wider than the tenant's prefix is refused: {err:?}");
        let err = beta.repositories().delete(&acme_repo).await.unwrap_err();
        assert!(is_violation(&err), "{err:?}");
        let err = beta.repositories().create(&acme_repo, &fs_repo(&c, "hijack"), true).await.unwrap_err();
        assert!(is_violation(&err), "re-registering another tenant's repository name is refused: {err:?}");
        assert!(!beta.repositories().list().await.unwrap().iter().any(|r| r.name == acme_repo));

        // Each tenant snapshots its own indices.
        let ts = TimeSource::IndexName { pattern: "*logs-{YYYY.MM.DD}".into() };
        for (m, prefix, repo) in [(&acme, &acme_prefix, &acme_repo), (&beta, &beta_prefix, &beta_repo)] {
            let p = SnapshotPolicy::new("nightly", &format!("{prefix}*"), repo, "@daily", 7)
                .unwrap()
                .with_time_source(ts.clone())
                .unwrap();
            m.policies().add(p).await.unwrap();
            let r = m.policies().run("nightly").await.unwrap();
            assert_eq!(r.indices.len(), 1, "{r:?}");
        }
        // Catalogs are separate.
        let acme_cat = acme.catalog().list().await.unwrap();
        assert!(acme_cat.iter().all(|e| e.index.starts_with(&acme_prefix)), "{acme_cat:?}");
        assert_eq!(beta.catalog().list().await.unwrap().len(), 1);

        // beta cannot restore acme's indices.
        let err = beta.restores().plan(&RestoreRequest::new(&format!("{acme_prefix}*"), may_2024())).await.unwrap_err();
        assert!(is_violation(&err), "{err:?}");
        // acme cannot restore into names under beta's prefix.
        let mut sneaky = RestoreRequest::new(&format!("{acme_prefix}*"), may_2024());
        sneaky.prefix = beta_prefix.clone();
        let err = acme.restores().plan(&sneaky).await.unwrap_err();
        assert!(is_violation(&err), "{err:?}");

        // acme restores its own; beta cannot see or delete that restore.
        c.drop_index(&acme_index).await;
        let (_, rec) =
            acme.restores().start(&RestoreRequest::new(&format!("{acme_prefix}*"), may_2024())).await.unwrap();
        let done = acme.restores().wait(&rec.id, Duration::from_secs(60), |_| {}).await.unwrap();
        assert_eq!(done.state, RestoreState::Succeeded, "{done:?}");
        assert!(beta.restores().list().await.unwrap().is_empty());
        assert!(matches!(beta.restores().delete(&rec.id).await.unwrap_err(), EsError::NotFound { .. }));
        let live = beta.client().cat_indices(Some(&format!("restore_{acme_prefix}*"))).await.unwrap();
        assert_eq!(live.len(), 1, "beta's attempts left acme's restore alone");
        acme.restores().delete(&rec.id).await.unwrap();
        // beta's live index is untouched by everything acme did.
        let beta_live = beta.client().cat_indices(Some(&beta_index)).await.unwrap();
        assert_eq!(beta_live[0].docs_count, Some(7));
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn tenant_s3_repositories_get_the_tenant_base_path() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let store = StateStore::new(state.path());
    store.register_tenant(Tenant::new("acme/prod", vec!["acme-prod-".into()]).unwrap()).await.unwrap();
    let acme = EsManager::for_tenant(c.client(), store.clone(), Some("acme/prod")).await.unwrap();
    let spec = RepositorySpec::S3 {
        bucket: "shared-bucket".into(),
        endpoint: None,
        path_style_access: None,
        client: None,
        base_path: Some("daily".into()),
        readonly: false,
        compress: None,
    };
    let info = acme.repositories().create("acme-s3", &spec, true).await.unwrap();
    assert_eq!(info.settings["base_path"], "tenants/acme/prod/daily");
    // An admin-registered repository elsewhere in the bucket is invisible and unusable for acme.
    let admin = EsManager::new(c.client(), store.clone(), Scope::Admin);
    let mut other = spec.clone();
    if let RepositorySpec::S3 { base_path, .. } = &mut other {
        *base_path = Some("tenants/beta/prod".into());
    }
    admin.repositories().create("beta-s3", &other, true).await.unwrap();
    assert_eq!(acme.repositories().list().await.unwrap().len(), 1);
    assert!(is_violation(&acme.repositories().verify("beta-s3").await.unwrap_err()));
    // Unknown tenants are refused up front.
    let err = EsManager::for_tenant(c.client(), store, Some("nobody/here")).await.unwrap_err();
    assert_eq!(err.remedy(), Some(Remedy::RegisterTenant), "{err}");
}
