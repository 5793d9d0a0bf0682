//! The `lifeboat retention plan` document formats.
//!
//! Input: a JSON array of backups,
//!
//! ```json
//! [{"id": "a1", "time": "2024-05-01T02:00:00+02:00", "tags": ["nightly"], "host": "db1", "plan": "pg"}]
//! ```
//!
//! `id` (non-empty string) and `time` (RFC 3339, with its UTC offset) are required;
//! `tags` (array of strings), `host` and `plan` (strings) default to empty; the optional
//! `in_progress` (bool) and `locked_until` (RFC 3339 or null) feed the safety rules.
//! Other fields are ignored, so a richer listing can be fed as-is.
//!
//! Output: a JSON array with one object per input backup, in input order:
//! `[{"id": "a1", "keep": true, "reasons": ["daily snapshot"]}]`.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use crate::{Decision, GroupBy, Policy, RetentionError, Snapshot, apply, apply_at};

fn malformed(location: impl Into<String>, reason: impl Into<String>) -> RetentionError {
    RetentionError::MalformedInput { location: location.into(), reason: reason.into() }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn time_field(
    obj: &Map<String, Value>,
    index: usize,
    field: &str,
) -> Result<Option<DateTime<FixedOffset>>, RetentionError> {
    let loc = || format!("$[{index}].{field}");
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s).map(Some).map_err(|e| {
            malformed(
                loc(),
                format!("expected an RFC 3339 time such as \"2024-05-01T02:00:00+02:00\", got {s:?} ({e})"),
            )
        }),
        Some(other) => Err(malformed(loc(), format!("expected an RFC 3339 time string, got {}", kind(other)))),
    }
}

fn string_field(obj: &Map<String, Value>, index: usize, field: &str) -> Result<Option<String>, RetentionError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(malformed(format!("$[{index}].{field}"), format!("expected a string, got {}", kind(other)))),
    }
}

/// Parses a `retention plan` input document into backups.
///
/// Every error names the place as a JSON path (`$[3].time`) and what was expected;
/// syntax errors name the line and column.
pub fn parse_plan_input(input: &str) -> Result<Vec<Snapshot>, RetentionError> {
    let doc: Value = serde_json::from_str(input).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "the document ends too early",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data | serde_json::error::Category::Io => "unreadable JSON",
        };
        malformed("$", format!("{what}: {e}"))
    })?;
    let Value::Array(items) = doc else {
        return Err(malformed("$", format!("expected an array of backups, got {}", kind(&doc))));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(malformed(format!("$[{index}]"), format!("expected an object, got {}", kind(item))));
        };
        let id = string_field(obj, index, "id")?
            .ok_or_else(|| malformed(format!("$[{index}].id"), "the field is missing (every backup needs an id)"))?;
        if id.trim().is_empty() {
            return Err(malformed(format!("$[{index}].id"), "the id is empty"));
        }
        if let Some(first) = seen.insert(id.clone(), index) {
            return Err(malformed(format!("$[{index}].id"), format!("the id {id:?} is also used by $[{first}]")));
        }
        let time = time_field(obj, index, "time")?.ok_or_else(|| {
            malformed(format!("$[{index}].time"), "the field is missing (every backup needs an RFC 3339 time)")
        })?;
        let tags = match obj.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tags)) => tags
                .iter()
                .enumerate()
                .map(|(t, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(malformed(
                        format!("$[{index}].tags[{t}]"),
                        format!("expected a string, got {}", kind(other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(malformed(
                    format!("$[{index}].tags"),
                    format!("expected an array of strings, got {}", kind(other)),
                ));
            }
        };
        let in_progress = match obj.get("in_progress") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(malformed(
                    format!("$[{index}].in_progress"),
                    format!("expected true or false, got {}", kind(other)),
                ));
            }
        };
        out.push(Snapshot {
            id,
            time,
            tags,
            host: string_field(obj, index, "host")?.unwrap_or_default(),
            plan: string_field(obj, index, "plan")?.unwrap_or_default(),
            in_progress,
            locked_until: time_field(obj, index, "locked_until")?,
        });
    }
    Ok(out)
}

/// The `retention plan` output document for `decisions` (pretty-printed JSON array of
/// `{"id", "keep", "reasons"}`).
pub fn decisions_to_json(decisions: &[Decision]) -> String {
    let array: Vec<Value> =
        decisions.iter().map(|d| serde_json::json!({ "id": d.id, "keep": d.keep, "reasons": d.reasons })).collect();
    serde_json::to_string_pretty(&Value::Array(array)).unwrap_or_else(|_| "[]".to_string())
}

/// `lifeboat retention plan`: parses `input` (see the [module docs](self)), applies the
/// policy like [`apply`] and returns the output document, one entry per
/// input backup in input order.
pub fn plan_from_json(
    input: &str,
    policy: &Policy,
    group_by: GroupBy,
    allow_empty: bool,
) -> Result<String, RetentionError> {
    plan_json(input, policy, group_by, allow_empty, None)
}

/// [`plan_from_json`] as of `now`, like [`apply_at`]: what the CLI runs.
pub fn plan_from_json_at(
    input: &str,
    policy: &Policy,
    group_by: GroupBy,
    allow_empty: bool,
    now: DateTime<Utc>,
) -> Result<String, RetentionError> {
    plan_json(input, policy, group_by, allow_empty, Some(now))
}

fn plan_json(
    input: &str,
    policy: &Policy,
    group_by: GroupBy,
    allow_empty: bool,
    now: Option<DateTime<Utc>>,
) -> Result<String, RetentionError> {
    let snapshots = parse_plan_input(input)?;
    let decisions = match now {
        None => apply(policy, group_by, &snapshots, allow_empty)?,
        Some(now) => apply_at(policy, group_by, &snapshots, allow_empty, now)?,
    };
    Ok(decisions_to_json(&decisions))
}
