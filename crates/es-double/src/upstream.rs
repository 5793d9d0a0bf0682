//! [`Upstream`]: the real cluster a `SpecProxy` forwards to, and the HTTP
//! transport that reaches it.
//!
//! The double builds its own transport (straight on the `elasticsearch` crate) instead of borrowing
//! `lifeboat-es`'s, so a bug in how the client sets credentials or trust shows up in the tests.

use std::path::PathBuf;

use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use url::Url;

use crate::spec::percent_decode;

/// A cluster to forward to: its URL, the credentials to add and the CA to trust. `Debug` never
/// prints the credentials.
#[derive(Clone)]
pub struct Upstream {
    url: Url,
    credentials: Option<Credentials>,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url.as_str())
            .field("credentials", &self.credentials.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Upstream {
    /// An upstream at `url`, trusting the system roots. Credentials in the URL
    /// (`https://user:pass@host:9200`) become basic authentication and leave the URL.
    pub fn new(url: &str) -> Result<Self, String> {
        let mut url = Url::parse(url).map_err(|e| format!("upstream URL: {e}"))?;
        let mut credentials = None;
        if !url.username().is_empty() {
            let password = percent_decode(url.password().unwrap_or_default());
            credentials = Some(Credentials::Basic(percent_decode(url.username()), password));
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        Ok(Upstream { url, credentials, ca_file: None })
    }

    /// Adds credentials to every forwarded request.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Trusts the PEM CA certificate(s) in `ca_file` as well.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// The HTTP transport to the upstream, carrying its credentials and trust.
    pub fn transport(&self) -> Result<Transport, String> {
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(self.url.clone()));
        if let Some(c) = &self.credentials {
            builder = builder.auth(c.clone());
        }
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read CA file {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("CA file {}: {e}", ca.display()))?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        builder.build().map_err(|e| format!("cannot build the upstream transport: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Credentials in the URL must leave it (a proxy's URL reaches logs and panics) and never
    /// show in `Debug`.
    #[test]
    fn url_credentials_become_basic_auth_and_stay_out_of_debug() {
        let up = Upstream::new("https://elastic:s3cr%40t@es.example:9200/").unwrap();
        assert_eq!(up.url.as_str(), "https://es.example:9200/");
        assert!(matches!(&up.credentials, Some(Credentials::Basic(u, p)) if u == "elastic" && p == "s3cr@t"));
        let shown = format!("{up:?}");
        assert!(!shown.contains("s3cr") && shown.contains("<redacted>"), "{shown}");
        let plain = Upstream::new("http://127.0.0.1:9200").unwrap();
        assert!(plain.credentials.is_none());
        assert!(Upstream::new("not a url").is_err());
    }
}
