//! The CLI's wording of the Elasticsearch library's remedies: which `lifeboat es` command or
//! flag gets past an error. Each is the tail the message had before the remedies became data.

use lifeboat_es::{EsError, Remedy};

/// The hint for one Elasticsearch error, if the library named a remedy.
pub(super) fn hint_for(err: &EsError) -> Option<String> {
    Some(match err.remedy()? {
        Remedy::ListRestores => "; see `lifeboat es restore list`".into(),
        Remedy::RegisterRepositoryReadOnly => {
            "; register it read-only with `lifeboat es repo create --readonly`".into()
        }
        Remedy::ScanCatalog => "; run `lifeboat es catalog scan` or a policy first".into(),
        Remedy::ScanRepositoryCatalog => "; run `lifeboat es catalog scan` for its repository".into(),
        Remedy::ChoosePrefix => "; choose another --prefix".into(),
        Remedy::RegisterTenant => "; register it first with `lifeboat es tenant add`".into(),
        Remedy::GiveClusterUrl => format!(": pass --es-url or set {}", lifeboat_es::config::ENV_URL),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(err: EsError) -> String {
        format!("{err}{}", hint_for(&err).unwrap_or_default())
    }

    fn not_found(what: &'static str, name: &str, detail: &str, remedy: Option<Remedy>) -> EsError {
        EsError::NotFound { what, name: name.into(), detail: detail.into(), remedy }
    }

    fn conflict(what: &str, reason: &str, remedy: Remedy) -> EsError {
        EsError::Conflict { what: what.into(), reason: reason.into(), remedy: Some(remedy) }
    }

    /// Each line is the one the CLI printed when the library messages still carried the advice.
    #[test]
    fn hints_complete_the_messages_as_they_read_before() {
        assert_eq!(
            line(not_found("restore", "r-1", "", Some(Remedy::ListRestores))),
            "restore \"r-1\" not found; see `lifeboat es restore list`"
        );
        assert_eq!(
            line(not_found(
                "repository",
                "logs",
                "; it is not registered on the target cluster (restore from)",
                Some(Remedy::RegisterRepositoryReadOnly)
            )),
            "repository \"logs\" not found; it is not registered on the target cluster (restore from); register it \
             read-only with `lifeboat es repo create --readonly`"
        );
        assert_eq!(
            line(not_found("catalogued index matching", "logs-* in r", "", Some(Remedy::ScanCatalog))),
            "catalogued index matching \"logs-* in r\" not found; run `lifeboat es catalog scan` or a policy first"
        );
        assert_eq!(
            line(not_found("tenant", "acme/prod", "", Some(Remedy::RegisterTenant))),
            "tenant \"acme/prod\" not found; register it first with `lifeboat es tenant add`"
        );
        assert_eq!(
            line(conflict(
                "restore target [restore_logs]",
                "an index with this name exists and was not restored by lifeboat in this scope",
                Remedy::ChoosePrefix
            )),
            "restore target [restore_logs]: an index with this name exists and was not restored by lifeboat in this \
             scope; choose another --prefix"
        );
        assert_eq!(
            line(conflict("capacity check", "the catalog has no store size for [logs]", Remedy::ScanRepositoryCatalog)),
            "capacity check: the catalog has no store size for [logs]; run `lifeboat es catalog scan` for its repository"
        );
        assert_eq!(
            line(EsError::NoClusterUrl),
            "invalid Elasticsearch client configuration: no cluster URL: pass --es-url or set LIFEBOAT_ES_URL"
        );
    }

    #[test]
    fn errors_without_a_remedy_get_no_hint() {
        assert_eq!(hint_for(&not_found("open index matching", "x", "; nothing to snapshot", None)), None);
        assert_eq!(hint_for(&EsError::Config("bad CA".into())), None);
    }
}
