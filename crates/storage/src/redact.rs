//! The one URL redaction of the workspace: what a URL looks like in a message, a log or an
//! API answer, so that no password (and no access key) ever reaches one.

/// Schemes whose user-name field can only hold an access key (object stores have no user
/// names): the whole user part is a credential there.
const KEY_ONLY_SCHEMES: &[&str] = &["s3", "cos", "obs", "oss", "gcs", "azblob"];

/// `raw` with the password of its `user:password@` part replaced by `***`, for messages.
///
/// Works on text, not on a parsed URL, so that input too broken to parse (the very input an
/// error message quotes) is redacted as well. The user name stays (`postgres://app:***@db/x`:
/// it tells which account failed), except for object-store schemes (`s3://`, `gcs://` ...),
/// where a user name can only be an access key and the whole user part becomes `***`.
///
/// ```
/// use lifeboat_storage::redact_url;
/// assert_eq!(redact_url("postgres://app:hunter2@db:5432/x"), "postgres://app:***@db:5432/x");
/// assert_eq!(redact_url("s3://AKIA:secret@bucket/x"), "s3://***@bucket/x");
/// assert_eq!(redact_url("/srv/backups"), "/srv/backups");
/// ```
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return raw.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((authority, tail)) = rest.split_at_checked(authority_end) else { return raw.to_owned() };
    // The last `@` ends the user part: a password may itself hold an unescaped `@`.
    let (userinfo, host_and_tail) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (userinfo, format!("{host}{tail}")),
        // `user:pa/ss@host`: a password with an unescaped `/`, `?` or `#` ends the authority
        // early. A `:` before the first `/` and an `@` after it are read as that; an odd URL
        // such as `http://host:9200/a@b` is then masked more than needed, never less.
        None if authority.contains(':') => match rest.rsplit_once('@') {
            Some((userinfo, host_and_tail)) => (userinfo, host_and_tail.to_owned()),
            None => return raw.to_owned(),
        },
        None => return raw.to_owned(),
    };
    if KEY_ONLY_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return format!("{scheme}://***@{host_and_tail}");
    }
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host_and_tail}"),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_user_names_kept() {
        assert_eq!(redact_url("postgres://u:p@h:1/d"), "postgres://u:***@h:1/d");
        assert_eq!(redact_url("https://elastic:s3cr%40t@es.example:9200/"), "https://elastic:***@es.example:9200/");
        assert_eq!(redact_url("webdav://backup@127.0.0.1:8080/dav"), "webdav://backup@127.0.0.1:8080/dav");
    }

    #[test]
    fn unparsable_text_is_redacted_too() {
        assert_eq!(redact_url("redis://:p@@x@h/0"), "redis://:***@h/0");
        assert_eq!(redact_url("mysql://u:p w@h:99999999/x?a=b"), "mysql://u:***@h:99999999/x?a=b");
        assert_eq!(redact_url("postgres://h/d"), "postgres://h/d");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn object_store_user_parts_are_access_keys() {
        for url in ["s3://AKIA:secret@bucket/x", "S3://AKIA@bucket/x", "gcs://AKIA:secret@b?x=1"] {
            let r = redact_url(url);
            assert!(!r.contains("secret") && !r.contains("AKIA"), "{url}: {r}");
            assert!(r.contains("***@b"), "{url}: {r}");
        }
    }

    #[test]
    fn a_password_with_an_unescaped_slash_question_mark_or_hash_is_masked() {
        assert_eq!(redact_url("postgres://u:pa/ss@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact_url("redis://:pa?ss@h/0"), "redis://:***@h/0");
        assert_eq!(redact_url("mysql://u:p#w@h:3306/x"), "mysql://u:***@h:3306/x");
        let r = redact_url("s3://AKIA:se/cret@bucket/x");
        assert!(!r.contains("AKIA") && !r.contains("cret"), "{r}");
    }

    #[test]
    fn an_at_sign_after_the_host_is_not_a_user_part() {
        assert_eq!(redact_url("s3://bucket/a@b?x=c@d"), "s3://bucket/a@b?x=c@d");
    }
}
