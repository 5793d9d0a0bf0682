//! Serving the router: plain HTTP/1.1, or HTTPS with rustls (TLS 1.3, ring) when given a
//! certificate and key, with graceful shutdown; and the rule for plain HTTP on a network.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::error::HttpError;
use crate::layers::Peer;

/// How long a client has to send a request's headers (slow clients are dropped).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish their requests after shutdown was asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or SEC1): serve HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl Tls {
    /// The rustls configuration of these files: TLS 1.3, ring, ALPN `http/1.1`. Read at
    /// [`serve`]'s start, so a bad file is an error before any connection is taken.
    pub fn server_config(&self) -> Result<ServerConfig, HttpError> {
        let cert_name = self.cert.display().to_string();
        let key_name = self.key.display().to_string();
        let cert_pem = std::fs::read(&self.cert).map_err(|source| HttpError::TlsFile {
            what: "certificate",
            path: cert_name.clone(),
            source,
        })?;
        let key_pem = zeroize::Zeroizing::new(std::fs::read(&self.key).map_err(|source| HttpError::TlsFile {
            what: "key",
            path: key_name.clone(),
            source,
        })?);
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HttpError::TlsPem { what: "certificate", path: cert_name.clone(), reason: e.to_string() })?;
        if certs.is_empty() {
            return Err(HttpError::TlsPem {
                what: "certificate",
                path: cert_name,
                reason: "no PEM CERTIFICATE block in it".to_owned(),
            });
        }
        // The error of a key parse never shows the key's bytes, only what was missing.
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| HttpError::TlsPem {
            what: "key",
            path: key_name.clone(),
            reason: match e {
                rustls_pki_types::pem::Error::NoItemsFound => "no PEM private key block in it".to_owned(),
                _ => "not a readable PEM private key".to_owned(),
            },
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|source| HttpError::TlsConfig { cert: cert_name, key: key_name, source })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// True for a loopback address (`127.0.0.0/8`, `::1`).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The plain-HTTP rule lifeboatd applies before it serves: with TLS any address is fine;
/// without it only loopback, unless `allow_plain_http` (behind a TLS-terminating proxy, in a
/// pod): bearer tokens must not cross a network in clear text by accident. An allowed
/// non-loopback plain bind is logged as a warning.
pub fn check_listen(addr: SocketAddr, tls: bool, allow_plain_http: bool) -> Result<(), HttpError> {
    if tls || is_loopback(&addr) {
        return Ok(());
    }
    if allow_plain_http {
        tracing::warn!(
            target: "lifeboat_http",
            %addr,
            "serving plain HTTP on a non-loopback address: bearer tokens cross the network in clear text unless a \
             TLS proxy is in front"
        );
        return Ok(());
    }
    Err(HttpError::PlainHttpNotLoopback { addr })
}

/// Serves `app` on `listener` until `shutdown` completes: HTTPS when `tls` is given, plain
/// HTTP/1.1 otherwise (see [`check_listen`] for where that is wise). At shutdown it stops
/// accepting, lets open requests finish for up to 10 s, then returns.
///
/// Each connection has a 10 s limit to send its request headers (and, with TLS, to shake
/// hands); a connection that fails is logged at debug level and dropped, never an error of
/// the server. Errors are only those of the start: an unusable certificate or key.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let local = listener.local_addr().map_err(HttpError::Listener)?;
    let acceptor = match &tls {
        Some(tls) => {
            let tls = tls.clone();
            let config = tokio::task::spawn_blocking(move || tls.server_config())
                .await
                .map_err(|e| HttpError::Listener(std::io::Error::other(e.to_string())))??;
            Some(TlsAcceptor::from(Arc::new(config)))
        }
        None => None,
    };
    tracing::info!(
        target: "lifeboat_http",
        addr = %local,
        scheme = if acceptor.is_some() { "https" } else { "http" },
        "serving the API"
    );
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(target: "lifeboat_http", error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => connection(stream, peer, app, watcher).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, peer, app, watcher).await,
                    Ok(Err(e)) => tracing::debug!(target: "lifeboat_http", %peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(target: "lifeboat_http", %peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    tracing::info!(target: "lifeboat_http", open = graceful.count(), "stopped accepting; finishing open requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(target: "lifeboat_http", "open connections did not finish within the grace; dropped");
    }
    Ok(())
}

/// One HTTP/1.1 connection, each request tagged with the peer's address.
async fn connection<IO>(io: IO, peer: SocketAddr, app: Router, watcher: hyper_util::server::graceful::Watcher)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(Peer(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(target: "lifeboat_http", %peer, error = %e, "connection ended with an error");
    }
}
