//! Loader and request matcher for the Elasticsearch REST API spec files
//! (`rest-api-spec/api/*.json` format).
//!
//! A request matches an API when its method is declared for a path whose literal segments equal
//! the request's and whose `{part}` segments are non-empty; when several paths match, the one with
//! the most literal segments wins (as in Elasticsearch's router). Query parameters must be declared
//! by the API or by `_common.json`, and values of `enum` parameters must be among the options.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Environment variable overriding where the REST spec lives.
pub const ENV_SPEC_DIR: &str = "LIFEBOAT_ES_SPEC_DIR";

/// The `es-rest-api-spec` directory: `$LIFEBOAT_ES_SPEC_DIR`, else `shared/es-rest-api-spec` beside
/// the checkout (`<workspace>/../shared`).
pub fn default_spec_root() -> PathBuf {
    match std::env::var_os(ENV_SPEC_DIR).filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/es-rest-api-spec")),
    }
}

/// One declared URL path.
#[derive(Debug, Clone)]
pub struct SpecPath {
    /// Template, e.g. `/_snapshot/{repository}/{snapshot}`.
    pub path: String,
    /// Allowed methods.
    pub methods: Vec<String>,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Part(String),
}

/// One declared parameter.
#[derive(Debug, Clone)]
pub struct SpecParam {
    /// `boolean`, `string`, `enum`, `list`, `time`, `number`, ...
    pub kind: String,
    /// Allowed values for `enum` (and some `list`) params.
    pub options: Vec<String>,
}

/// One API (one spec file).
#[derive(Debug, Clone)]
pub struct SpecApi {
    /// API name, e.g. `snapshot.create`.
    pub name: String,
    /// Paths.
    pub paths: Vec<SpecPath>,
    /// Parameters.
    pub params: BTreeMap<String, SpecParam>,
    /// Whether a body is accepted.
    pub body_allowed: bool,
    /// Whether a body is required.
    pub body_required: bool,
}

/// A loaded spec directory.
#[derive(Debug, Clone)]
pub struct RestSpec {
    /// Directory the API files were read from.
    pub dir: PathBuf,
    /// APIs by name.
    pub apis: BTreeMap<String, SpecApi>,
    /// Parameters every API accepts (`_common.json`).
    pub common: BTreeMap<String, SpecParam>,
}

/// A request that matched an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecMatch {
    /// API name.
    pub api: String,
    /// Decoded path parts.
    pub parts: BTreeMap<String, String>,
}

/// Why a request does not conform; carries the status and body Elasticsearch answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecViolation {
    /// HTTP status.
    pub status: u16,
    /// Error message (also used in the response body).
    pub message: String,
    /// Elasticsearch error type, when the response is an error object (`None`: a plain string error).
    pub error_type: Option<String>,
}

fn parse_params(v: Option<&Value>) -> BTreeMap<String, SpecParam> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, p) in m {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or("string").to_string();
            let options = p
                .get("options")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            out.insert(k.clone(), SpecParam { kind, options });
        }
    }
    out
}

fn segments(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Part(s[1..s.len() - 1].to_string())
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}

/// Percent-decodes one path segment.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RestSpec {
    /// Loads every `*.json` API file of a directory (and `_common.json`; `schema.json` is skipped).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, String> {
        let dir = dir.as_ref().to_path_buf();
        let mut apis = BTreeMap::new();
        let mut common = BTreeMap::new();
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read spec directory {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let path = entry.path();
            let fname = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if !fname.ends_with(".json") || fname == "schema.json" {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if fname == "_common.json" {
                common = parse_params(v.get("params"));
                continue;
            }
            let Value::Object(top) = v else { return Err(format!("{}: not an object", path.display())) };
            for (name, api) in top {
                let mut paths = vec![];
                for p in api.pointer("/url/paths").and_then(Value::as_array).cloned().unwrap_or_default() {
                    let tpl = p.get("path").and_then(Value::as_str).unwrap_or("/").to_string();
                    let methods = p
                        .get("methods")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    paths.push(SpecPath { segments: segments(&tpl), path: tpl, methods });
                }
                let body = api.get("body");
                apis.insert(
                    name.clone(),
                    SpecApi {
                        name: name.clone(),
                        paths,
                        params: parse_params(api.get("params")),
                        body_allowed: body.is_some_and(|b| !b.is_null()),
                        body_required: body.and_then(|b| b.get("required")).and_then(Value::as_bool).unwrap_or(false),
                    },
                );
            }
        }
        if apis.is_empty() {
            return Err(format!("no API files in {}", dir.display()));
        }
        if common.is_empty() {
            // `_common.json` lives only in the main `api/` directory; borrow it for `api-8.19/`.
            let sibling = dir.parent().map(|p| p.join("api").join("_common.json"));
            if let Some(Ok(text)) = sibling.map(std::fs::read_to_string)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                common = parse_params(v.get("params"));
            }
        }
        Ok(RestSpec { dir, apis, common })
    }

    /// Matches a request. `raw_path` is the undecoded path; `query` the decoded pairs.
    pub fn match_request(
        &self,
        method: &str,
        raw_path: &str,
        query: &[(String, String)],
        has_body: bool,
    ) -> Result<SpecMatch, SpecViolation> {
        let req_segments: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
        let decoded_path = format!("/{}", req_segments.iter().map(|s| percent_decode(s)).collect::<Vec<_>>().join("/"));
        // (literal count, api, path) of every path whose shape matches.
        let mut shape_matches: Vec<(usize, &SpecApi, &SpecPath)> = vec![];
        for api in self.apis.values() {
            for p in &api.paths {
                if p.segments.len() != req_segments.len() {
                    continue;
                }
                let ok = p.segments.iter().zip(&req_segments).all(|(s, r)| match s {
                    Segment::Literal(l) => percent_decode(r) == *l,
                    Segment::Part(_) => !r.is_empty(),
                });
                if ok {
                    let literals = p.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
                    shape_matches.push((literals, api, p));
                }
            }
        }
        if shape_matches.is_empty() {
            return Err(SpecViolation {
                status: 400,
                message: format!("no handler found for uri [{decoded_path}] and method [{method}]"),
                error_type: None,
            });
        }
        // Like Elasticsearch's router: the most specific path that accepts the method wins; a
        // less specific one is tried next; 405 only when no matching path accepts the method.
        shape_matches.sort_by_key(|m| std::cmp::Reverse(m.0));
        let Some((_, api, path)) = shape_matches.iter().find(|(_, _, p)| p.methods.iter().any(|m| m == method)) else {
            let allowed: BTreeSet<&str> =
                shape_matches.iter().flat_map(|(_, _, p)| p.methods.iter().map(String::as_str)).collect();
            return Err(SpecViolation {
                status: 405,
                message: format!(
                    "Incorrect HTTP method for uri [{decoded_path}] and method [{method}], allowed: [{}]",
                    allowed.into_iter().collect::<Vec<_>>().join(", ")
                ),
                error_type: None,
            });
        };
        for (k, v) in query {
            let Some(param) = api.params.get(k).or_else(|| self.common.get(k)) else {
                return Err(SpecViolation {
                    status: 400,
                    message: format!("request [{decoded_path}] contains unrecognized parameter: [{k}]"),
                    error_type: Some("illegal_argument_exception".into()),
                });
            };
            let bad_option = match param.kind.as_str() {
                "enum" if !param.options.is_empty() => !param.options.iter().any(|o| o == v),
                // Column lists: Elasticsearch also accepts the short aliases (`i`, `ty`, ...) that
                // the spec's option lists leave out.
                _ if k == "h" || k == "s" => false,
                "list" if !param.options.is_empty() => v.split(',').any(|x| !param.options.iter().any(|o| o == x)),
                "boolean" => !matches!(v.as_str(), "true" | "false" | ""),
                _ => false,
            };
            if bad_option {
                return Err(SpecViolation {
                    status: 400,
                    message: format!("request [{decoded_path}] has an invalid value [{v}] for parameter [{k}]"),
                    error_type: Some("illegal_argument_exception".into()),
                });
            }
        }
        if has_body && !api.body_allowed {
            return Err(SpecViolation {
                status: 400,
                message: format!("request [{method} {decoded_path}] does not support having a body"),
                error_type: Some("illegal_argument_exception".into()),
            });
        }
        if !has_body && api.body_required {
            return Err(SpecViolation {
                status: 400,
                message: "request body is required".into(),
                error_type: Some("parse_exception".into()),
            });
        }
        let mut parts = BTreeMap::new();
        for (s, r) in path.segments.iter().zip(&req_segments) {
            if let Segment::Part(name) = s {
                parts.insert(name.clone(), percent_decode(r));
            }
        }
        Ok(SpecMatch { api: api.name.clone(), parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(percent_decode("%3Cnightly-%7Bnow%2Fd%7D%3E"), "<nightly-{now/d}>");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%4"), "end%4");
    }
}
