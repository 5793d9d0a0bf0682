//! Repository URLs: which backend, configured how.
//!
//! Credentials never come from a URL (URLs end up in logs, configs and `ps` output):
//! S3 takes them from the standard AWS chain (environment, profile), the opendal
//! services from their documented environment variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{StorageError, redact_url};

/// Default size of one multipart-upload part: 16 MiB.
pub const DEFAULT_PART_SIZE: usize = 16 * 1024 * 1024;
/// Default number of parts uploaded concurrently.
pub const DEFAULT_PARALLEL_PARTS: usize = 4;
/// S3's smallest allowed part (every part but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Where and how to reach an S3 bucket: `s3://bucket/prefix?endpoint=...&region=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix inside the bucket (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// A custom endpoint such as `http://127.0.0.1:9000` (MinIO, s3s, Ceph); AWS when `None`.
    pub endpoint: Option<String>,
    /// The region; from the AWS chain (`AWS_REGION`, profile) when `None`, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual hosts.
    pub path_style: bool,
    /// Size of one multipart part in bytes; objects smaller than this go in one PUT.
    pub part_size: usize,
    /// Parts uploaded concurrently. Memory use of one upload is at most
    /// `part_size * (parallel + 1)`.
    pub parallel: usize,
    /// Connect and read timeout of each request.
    pub timeout: Duration,
    /// Attempts per request made by the SDK for transient failures (1 = no retry).
    pub max_attempts: u32,
    /// Whether the server honours `If-None-Match: *` atomically, when the operator knows
    /// (`conditional_put=true|false`); probed on first use when `None`. The probe races
    /// conditional creates and can miss a check-then-write server under unlucky timing.
    pub conditional_put: Option<bool>,
}

impl S3Options {
    /// Options for `bucket` with every default.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            region: None,
            path_style: false,
            part_size: DEFAULT_PART_SIZE,
            parallel: DEFAULT_PARALLEL_PARTS,
            timeout: Duration::from_secs(60),
            max_attempts: 3,
            conditional_put: None,
        }
    }
}

/// A service reached through Apache OpenDAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpendalService {
    /// Tencent Cloud COS (`cos://bucket/prefix?endpoint=...`).
    Cos,
    /// Huawei Cloud OBS (`obs://bucket/prefix?endpoint=...`).
    Obs,
    /// Alibaba Cloud OSS (`oss://bucket/prefix?endpoint=...`).
    Oss,
    /// Google Cloud Storage (`gcs://bucket/prefix`).
    Gcs,
    /// Azure Blob Storage (`azblob://container/prefix?endpoint=...`).
    Azblob,
    /// WebDAV (`webdav://host:port/path` over HTTP, `webdavs://` over HTTPS).
    Webdav,
    /// SFTP (`sftp://user@host:port/path?key=/path/to/private_key`).
    Sftp,
}

impl OpendalService {
    /// The cargo feature that compiles this service in.
    pub fn feature(self) -> &'static str {
        match self {
            Self::Cos => "cos",
            Self::Obs => "obs",
            Self::Oss => "oss",
            Self::Gcs => "gcs",
            Self::Azblob => "azblob",
            Self::Webdav => "webdav",
            Self::Sftp => "sftp",
        }
    }
}

/// Where an opendal-served storage lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpendalLocation {
    /// Which service.
    pub service: OpendalService,
    /// The bucket or container (cos, obs, oss, gcs, azblob), or `host[:port]` (webdav, sftp).
    pub authority: String,
    /// The user name of a webdav or sftp URL (never a password).
    pub user: Option<String>,
    /// The root path or key prefix, without leading or trailing `/`.
    pub root: String,
    /// WebDAV over HTTPS (`webdavs://`).
    pub tls: bool,
    /// Query parameters (`endpoint`, `key`, `known_hosts` ...).
    pub params: BTreeMap<String, String>,
}

/// A parsed storage location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory: `file:///abs/path`, or a plain path (made absolute).
    File(PathBuf),
    /// A process-local in-memory store (`memory://`), for tests and examples.
    Memory,
    /// An S3 bucket and prefix (`s3://bucket/prefix?...`).
    S3(S3Options),
    /// A service reached through opendal (`cos://`, `obs://`, `oss://`, `gcs://`,
    /// `azblob://`, `webdav://`, `webdavs://`, `sftp://`).
    Opendal(OpendalLocation),
}

impl StorageUrl {
    /// True for backends reached over a network, whose failures can be transient and worth
    /// a retry. Local directories and memory fail for reasons a retry does not cure (a full
    /// disk, a permission), and buffering their writes for replay would only delay them.
    pub fn is_remote(&self) -> bool {
        matches!(self, StorageUrl::S3(_) | StorageUrl::Opendal(_))
    }

    /// Parses a URL or a plain filesystem path.
    pub fn parse(input: &str) -> Result<Self, StorageError> {
        let invalid = |reason: &str| StorageError::InvalidUrl { url: redact_url(input), reason: reason.to_owned() };
        if input.trim().is_empty() {
            return Err(invalid("empty location"));
        }
        let Some((scheme, _)) = input.split_once("://") else {
            return Ok(StorageUrl::File(absolute(Path::new(input)).map_err(|e| invalid(&e.to_string()))?));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let url = url::Url::parse(input).map_err(|e| invalid(&e.to_string()))?;
                if url.host_str().is_some_and(|h| !h.is_empty() && h != "localhost") {
                    return Err(invalid("file URLs name a local path: file:///abs/path"));
                }
                let path = url.to_file_path().map_err(|()| invalid("not an absolute local path"))?;
                Ok(StorageUrl::File(path))
            }
            "memory" => Ok(StorageUrl::Memory),
            "s3" => parse_s3(input).map(StorageUrl::S3).map_err(|r| invalid(&r)),
            "cos" | "obs" | "oss" | "gcs" | "azblob" | "webdav" | "webdavs" | "sftp" => {
                parse_opendal(input).map(StorageUrl::Opendal).map_err(|r| invalid(&r))
            }
            other => Err(invalid(&format!(
                "unsupported scheme `{other}` (known: file://, plain paths, memory://, s3://, cos://, obs://, \
                 oss://, gcs://, azblob://, webdav://, webdavs://, sftp://)"
            ))),
        }
    }
}

fn parse_s3(input: &str) -> Result<S3Options, String> {
    let url = url::Url::parse(input).map_err(|e| e.to_string())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials are never taken from an s3:// URL; set AWS_ACCESS_KEY_ID and \
                    AWS_SECRET_ACCESS_KEY or an AWS profile"
            .into());
    }
    let bucket = url.host_str().unwrap_or("").to_owned();
    if bucket.is_empty() {
        return Err("missing bucket: s3://bucket/prefix".into());
    }
    let mut opts = S3Options::new(bucket);
    opts.prefix = clean_root(url.path())?;
    for (k, v) in url.query_pairs() {
        let v = v.into_owned();
        match &*k {
            "endpoint" => {
                let ep = url::Url::parse(&v).map_err(|e| format!("endpoint {v:?}: {e}"))?;
                if !matches!(ep.scheme(), "http" | "https") {
                    return Err(format!("endpoint {v:?} must be an http:// or https:// URL"));
                }
                if !ep.username().is_empty() || ep.password().is_some() {
                    return Err("the endpoint must not carry credentials".into());
                }
                opts.endpoint = Some(v.trim_end_matches('/').to_owned());
            }
            "region" => opts.region = Some(v),
            "path_style" => opts.path_style = parse_bool(&k, &v)?,
            "part_size" => {
                opts.part_size = parse_size(&v).ok_or_else(|| format!("part_size {v:?} is not a size"))?;
                if opts.part_size < MIN_PART_SIZE {
                    return Err(format!("part_size must be at least 5 MiB ({MIN_PART_SIZE} bytes)"));
                }
            }
            "parallel" => {
                opts.parallel = v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or("parallel must be 1..=64")?
            }
            "timeout" => {
                let secs: u64 = v.parse().ok().filter(|n| *n > 0).ok_or("timeout is a number of seconds > 0")?;
                opts.timeout = Duration::from_secs(secs);
            }
            "max_attempts" => {
                opts.max_attempts =
                    v.parse().ok().filter(|n| (1..=20).contains(n)).ok_or("max_attempts must be 1..=20")?
            }
            "conditional_put" => opts.conditional_put = Some(parse_bool(&k, &v)?),
            other => {
                return Err(format!(
                    "unknown parameter `{other}` (known: endpoint, region, path_style, part_size, parallel, \
                     timeout, max_attempts, conditional_put)"
                ));
            }
        }
    }
    // A custom endpoint without DNS for virtual hosts (an IP or localhost) needs path style.
    if let Some(ep) = &opts.endpoint
        && !url.query_pairs().any(|(k, _)| k == "path_style")
        && url::Url::parse(ep).ok().and_then(|u| u.host_str().map(is_ip_or_localhost)).unwrap_or(false)
    {
        opts.path_style = true;
    }
    Ok(opts)
}

fn parse_opendal(input: &str) -> Result<OpendalLocation, String> {
    let url = url::Url::parse(input).map_err(|e| e.to_string())?;
    let scheme = url.scheme().to_ascii_lowercase();
    let service = match scheme.as_str() {
        "cos" => OpendalService::Cos,
        "obs" => OpendalService::Obs,
        "oss" => OpendalService::Oss,
        "gcs" => OpendalService::Gcs,
        "azblob" => OpendalService::Azblob,
        "webdav" | "webdavs" => OpendalService::Webdav,
        _ => OpendalService::Sftp,
    };
    if url.password().is_some() {
        return Err(format!(
            "passwords are never taken from a URL; set {}",
            match service {
                OpendalService::Webdav => "LIFEBOAT_WEBDAV_PASSWORD",
                OpendalService::Sftp => "a key file with ?key=/path/to/key",
                _ => "the service's credential environment variables",
            }
        ));
    }
    let user = (!url.username().is_empty()).then(|| url.username().to_owned());
    if user.is_some() && !matches!(service, OpendalService::Webdav | OpendalService::Sftp) {
        return Err(format!("{scheme}:// URLs carry no user name; credentials come from the environment"));
    }
    let host = url.host_str().unwrap_or("").to_owned();
    if host.is_empty() {
        return Err(format!("missing bucket or host: {scheme}://NAME/path"));
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let params: BTreeMap<String, String> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let known: &[&str] = match service {
        OpendalService::Webdav => &[],
        OpendalService::Sftp => &["key", "known_hosts"],
        OpendalService::Gcs => &["endpoint", "credential_path"],
        _ => &["endpoint"],
    };
    if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown parameter `{k}` for {scheme}:// (known: {})", known.join(", ")));
    }
    Ok(OpendalLocation { service, authority, user, root: clean_root(url.path())?, tls: scheme == "webdavs", params })
}

/// Turns a URL path into a key prefix, refusing anything a key could not hold.
fn clean_root(path: &str) -> Result<String, String> {
    let decoded = percent_decode(path);
    let trimmed = decoded.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    crate::validate_key(trimmed).map_err(|e| format!("prefix: {e}"))?;
    Ok(trimmed.to_owned())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{key} must be true or false, not {v:?}")),
    }
}

/// Parses `16777216`, `16MiB`, `16M`, `512KiB`.
pub(crate) fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn is_ip_or_localhost(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok()
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if path.is_absolute() { Ok(path.to_owned()) } else { Ok(std::env::current_dir()?.join(path)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_urls_and_paths() {
        assert_eq!(StorageUrl::parse("file:///var/backups").unwrap(), StorageUrl::File("/var/backups".into()));
        assert_eq!(StorageUrl::parse("/srv/repo").unwrap(), StorageUrl::File("/srv/repo".into()));
        let rel = StorageUrl::parse("repo").unwrap();
        assert_eq!(rel, StorageUrl::File(std::env::current_dir().unwrap().join("repo")));
        assert_eq!(StorageUrl::parse("memory://").unwrap(), StorageUrl::Memory);
    }

    #[test]
    fn rejects_unknown_schemes_and_remote_file_hosts() {
        let err = StorageUrl::parse("gopher://x/y").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme `gopher`"), "{err}");
        assert!(StorageUrl::parse("file://otherhost/x").is_err());
        assert!(StorageUrl::parse("").is_err());
    }

    #[test]
    fn parses_s3_urls() {
        let StorageUrl::S3(o) =
            StorageUrl::parse("s3://backups/team%20a/prod/?endpoint=http://127.0.0.1:9000/&region=eu-west-1").unwrap()
        else {
            panic!("not s3")
        };
        assert_eq!(o.bucket, "backups");
        assert_eq!(o.prefix, "team a/prod");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert!(o.path_style, "an IP endpoint implies path style");
        assert_eq!((o.part_size, o.parallel), (DEFAULT_PART_SIZE, DEFAULT_PARALLEL_PARTS));

        let StorageUrl::S3(o) =
            StorageUrl::parse("s3://b?endpoint=https://s3.example.com&path_style=false&part_size=8MiB&parallel=2")
                .unwrap()
        else {
            panic!("not s3")
        };
        assert_eq!((o.prefix.as_str(), o.path_style, o.part_size, o.parallel), ("", false, 8 << 20, 2));
    }

    #[test]
    fn rejects_bad_s3_urls() {
        for (url, needle) in [
            ("s3://AKIA:secret@bucket/x", "never taken from an s3:// URL"),
            ("s3:///x", "missing bucket"),
            ("s3://b/x?endpoint=ftp://h", "http:// or https://"),
            ("s3://b/x?part_size=1MiB", "at least 5 MiB"),
            ("s3://b/x?parallel=0", "parallel"),
            ("s3://b/x?bogus=1", "unknown parameter `bogus`"),
            ("s3://b/a%2F..%2Fb", "prefix"),
        ] {
            let err = StorageUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn parses_opendal_urls() {
        let StorageUrl::Opendal(l) = StorageUrl::parse("webdav://backup@127.0.0.1:8080/dav/repo").unwrap() else {
            panic!("not opendal")
        };
        assert_eq!(l.service, OpendalService::Webdav);
        assert_eq!(
            (l.authority.as_str(), l.root.as_str(), l.user.as_deref()),
            ("127.0.0.1:8080", "dav/repo", Some("backup"))
        );
        assert!(!l.tls);
        let StorageUrl::Opendal(l) = StorageUrl::parse("sftp://u@h:2222/srv/b?key=/k").unwrap() else { panic!() };
        assert_eq!((l.service, l.params["key"].as_str()), (OpendalService::Sftp, "/k"));
        for url in
            ["cos://bucket/p?endpoint=https://cos.ap-guangzhou.myqcloud.com", "obs://b", "gcs://b/p", "azblob://c/p"]
        {
            assert!(matches!(StorageUrl::parse(url).unwrap(), StorageUrl::Opendal(_)), "{url}");
        }
        assert!(StorageUrl::parse("webdav://u:pw@h/x").unwrap_err().to_string().contains("LIFEBOAT_WEBDAV_PASSWORD"));
        assert!(StorageUrl::parse("gcs://b/p?wat=1").unwrap_err().to_string().contains("unknown parameter"));
        assert!(StorageUrl::parse("cos://user@b/p").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("3 parsecs"), None);
    }

    #[test]
    fn redacts_credentials() {
        let r = redact_url("s3://AKIA:secret@bucket/x");
        assert!(!r.contains("secret") && !r.contains("AKIA"), "{r}");
    }
}
