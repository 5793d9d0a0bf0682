//! The spec-checking proxy in front of a cluster, as our client sees it: conforming requests are
//! forwarded with the upstream's credentials, errors come through intact, refused ones never reach
//! the upstream.

use elasticsearch::auth::Credentials;
use elasticsearch::http::Method;
use lifeboat_es::{ClusterConfig, EsClient, EsError};
use lifeboat_es_double::{
    DoubleAuth, DoubleConfig, EsDouble, RestSpec, SpecProxy, Upstream, default_spec_root, send_raw,
};
use serde_json::json;

#[tokio::test]
async fn spec_proxy_forwards_conforming_requests_with_upstream_credentials() {
    let upstream = EsDouble::start_with(DoubleConfig {
        auth: Some(DoubleAuth::Basic { username: "elastic".into(), password: "pw".into() }),
        ..Default::default()
    })
    .await
    .unwrap();
    let spec = RestSpec::load(default_spec_root().join("api-8.19")).unwrap();
    let up_cfg =
        Upstream::new(&upstream.url()).unwrap().with_credentials(Credentials::Basic("elastic".into(), "pw".into()));
    let proxy = SpecProxy::start(spec, &up_cfg).await.unwrap();
    let client = EsClient::new(&ClusterConfig::new(&proxy.url()).unwrap()).unwrap();
    assert_eq!(client.info().await.unwrap().cluster_uuid, upstream.cluster_uuid());
    let err = client.get_repository("nope").await.unwrap_err();
    assert!(matches!(err, EsError::RepositoryMissing { .. }), "{err:?}");
    let (s, _) = send_raw(&proxy.url(), Method::Put, "/_snapshot/r/s/_clone/t", Some(json!({"indices": "x"}))).await;
    assert_eq!(s, 400);
    assert_eq!(proxy.spec_violations().len(), 1, "{:?}", proxy.spec_violations());
    assert!(upstream.requests().iter().all(|r| !r.path.contains("_clone")), "refused requests are not forwarded");
    assert_eq!(upstream.requests().len(), 2);
    assert_eq!(proxy.requests().len(), 3);
}
