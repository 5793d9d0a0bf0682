//! The CLI's advice for database dump and restore errors.

use lifeboat_dump::DumpError;

/// The hint for one dump error: the flag that lets the restorer create a missing database.
pub(super) fn hint_for(err: &DumpError) -> Option<String> {
    match err {
        DumpError::DatabaseMissing { creatable: true, .. } => Some(" (ask for it to be created: --create)".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(creatable: bool) -> DumpError {
        DumpError::DatabaseMissing { target: "postgres://db.example".into(), database: "shop".into(), creatable }
    }

    #[test]
    fn a_database_the_restorer_could_create_gets_the_create_flag() {
        let err = missing(true);
        assert_eq!(
            format!("{err}{}", hint_for(&err).unwrap()),
            "database `shop` does not exist on postgres://db.example (ask for it to be created: --create)"
        );
        // Missing while dumping: nothing to create, so no advice.
        assert_eq!(hint_for(&missing(false)), None);
    }
}
