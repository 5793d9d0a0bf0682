//! Cluster connection settings: URL, credentials and TLS trust.

use std::path::PathBuf;
use std::time::Duration;

use lifeboat_storage::redact_url;
use url::Url;

use crate::error::{EsError, Result};

/// Environment variable holding the cluster URL.
pub const ENV_URL: &str = "LIFEBOAT_ES_URL";
/// Environment variable holding the basic-auth user name.
pub const ENV_USERNAME: &str = "LIFEBOAT_ES_USERNAME";
/// Environment variable holding the basic-auth password.
pub const ENV_PASSWORD: &str = "LIFEBOAT_ES_PASSWORD";
/// Environment variable holding an API key: the base64 `encoded` value Elasticsearch returns, or
/// `id:api_key`.
pub const ENV_API_KEY: &str = "LIFEBOAT_ES_API_KEY";
/// Environment variable holding the path of a PEM CA certificate file.
pub const ENV_CA_FILE: &str = "LIFEBOAT_ES_CA_FILE";

/// How the client authenticates. `Debug` never prints secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An API key, either the base64 `encoded` form or `id:api_key`.
    ApiKey(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

/// Everything needed to connect to one cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Cluster URL, never containing credentials.
    pub url: Url,
    /// Authentication.
    pub auth: Auth,
    /// PEM file with the CA certificate(s) to trust for TLS, in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Default timeout of each request.
    pub request_timeout: Duration,
}

impl ClusterConfig {
    /// Parses a cluster URL. Credentials embedded in the URL (`https://user:pass@host:9200`) are
    /// moved into [`Auth::Basic`] and removed from the URL so that they never reach an error message.
    pub fn new(url: &str) -> Result<Self> {
        let mut parsed =
            Url::parse(url.trim()).map_err(|e| EsError::invalid("cluster URL", redact_url(url), e.to_string()))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(EsError::invalid("cluster URL", redact_url(url), "the scheme must be http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(EsError::invalid("cluster URL", redact_url(url), "it has no host"));
        }
        let mut auth = Auth::None;
        if !parsed.username().is_empty() {
            let username = percent_decode(parsed.username());
            let password = parsed.password().map(percent_decode).unwrap_or_default();
            auth = Auth::Basic { username, password };
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
        }
        Ok(ClusterConfig { url: parsed, auth, ca_file: None, request_timeout: Duration::from_secs(60) })
    }

    /// Builds a configuration from an explicit URL (or `LIFEBOAT_ES_URL`), credentials from
    /// `LIFEBOAT_ES_USERNAME`/`LIFEBOAT_ES_PASSWORD` or `LIFEBOAT_ES_API_KEY`, and a CA file from
    /// `LIFEBOAT_ES_CA_FILE`. An explicit `ca_file` wins over the environment.
    pub fn from_env(url: Option<&str>, ca_file: Option<PathBuf>) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let url = match url {
            Some(u) => u.to_string(),
            None => env(ENV_URL).ok_or(EsError::NoClusterUrl)?,
        };
        let mut cfg = ClusterConfig::new(&url)?;
        match (env(ENV_USERNAME), env(ENV_PASSWORD), env(ENV_API_KEY)) {
            (_, _, Some(key)) if matches!(cfg.auth, Auth::None) => cfg.auth = Auth::ApiKey(key),
            (Some(username), password, None) if matches!(cfg.auth, Auth::None) => {
                cfg.auth = Auth::Basic { username, password: password.unwrap_or_default() }
            }
            (None, Some(_), None) => {
                return Err(EsError::Config(format!("{ENV_PASSWORD} is set but {ENV_USERNAME} is not")));
            }
            _ => {}
        }
        cfg.ca_file = ca_file.or_else(|| env(ENV_CA_FILE).map(PathBuf::from));
        Ok(cfg)
    }

    /// Sets the authentication.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the CA file.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Sets the default request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The URL as text (no credentials).
    pub fn url_string(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_move_out_of_the_url() {
        let cfg = ClusterConfig::new("https://elastic:s3cr%40t@es.example:9200/").unwrap();
        assert_eq!(cfg.url.as_str(), "https://es.example:9200/");
        assert_eq!(cfg.auth, Auth::Basic { username: "elastic".into(), password: "s3cr@t".into() });
        assert!(!format!("{cfg:?}").contains("s3cr"));
    }

    #[test]
    fn bad_urls_are_rejected_without_leaking_secrets() {
        let err = ClusterConfig::new("ftp://u:topsecret@host").unwrap_err().to_string();
        assert!(err.contains("http or https"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = ClusterConfig::new("not a url").unwrap_err().to_string();
        assert!(err.contains("cluster URL"), "{err}");
    }
}
