//! opendal's HTTP transport: reqwest on rustls with ring, one client per operator.

use opendal::Operator;

/// Installs opendal's process-wide HTTP transport (reqwest on rustls with ring, as the
/// rest of Lifeboat uses ring). Safe to call many times: the first install wins.
pub(super) fn install_http_transport() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    opendal_http_transport_reqwest::install_default();
}

/// Gives an operator an HTTP client of its own. opendal's default transport is one
/// process-wide reqwest client whose pooled connections belong to the tokio runtime that
/// opened them: a second runtime in the same process (a service embedding Lifeboat, or a
/// test harness) would pick up a connection whose runtime is gone and fail with "error
/// sending request". When no client can be built, the shared default stays.
pub(super) fn with_own_http_client(op: Operator) -> Operator {
    match reqwest::Client::builder().build() {
        Ok(client) => {
            let transport =
                opendal::HttpTransporter::new(opendal_http_transport_reqwest::ReqwestTransport::new(client));
            let context = op.base_context().with_http_transport(transport);
            op.with_context(context)
        }
        Err(_) => op,
    }
}
