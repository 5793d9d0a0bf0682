//! What the PostgreSQL and MySQL sources share about choosing what to dump: which choices
//! exclude each other, and how the choice is recorded in a stream's metadata. One place, so
//! the two servers cannot drift apart in what they accept or record.

use std::fmt::Display;

use crate::error::{DumpError, Result};
use crate::metadata::SourceMetadata;

/// The selection options both SQL sources take: all databases or one, tables in or out,
/// schema or data only.
pub(crate) trait Selection {
    /// Every database instead of the URL's one.
    fn all(&self) -> bool;
    /// Only these tables.
    fn tables(&self) -> &[String];
    /// Leave out these tables.
    fn exclude_tables(&self) -> &[String];
    /// Only the schema.
    fn schema_only(&self) -> bool;
    /// Only the data.
    fn data_only(&self) -> bool;
}

/// Implements [`Selection`] for an options struct with the fields `all`, `tables`,
/// `exclude_tables`, `schema_only` and `data_only` (both SQL sources' options have them).
macro_rules! impl_selection {
    ($options:ty) => {
        impl $crate::selection::Selection for $options {
            fn all(&self) -> bool {
                self.all
            }
            fn tables(&self) -> &[String] {
                &self.tables
            }
            fn exclude_tables(&self) -> &[String] {
                &self.exclude_tables
            }
            fn schema_only(&self) -> bool {
                self.schema_only
            }
            fn data_only(&self) -> bool {
                self.data_only
            }
        }
    };
}
pub(crate) use impl_selection;

/// Refuses a selection that contradicts itself or the URL of `target` (`names_database`:
/// the URL names a database).
pub(crate) fn check(selection: &impl Selection, target: &impl Display, names_database: bool) -> Result<()> {
    let bad = |reason: &str| Err(DumpError::InvalidOptions { target: target.to_string(), reason: reason.into() });
    if selection.schema_only() && selection.data_only() {
        return bad("schema-only and data-only exclude each other");
    }
    if !selection.all() && !names_database {
        return bad("the URL names no database: add /DATABASE or dump all databases");
    }
    if selection.all() && !selection.tables().is_empty() {
        return bad("a table selection needs one database, not all");
    }
    Ok(())
}

/// Records the selection in `meta`: the tables in and out, and `schema-only` or `data-only`
/// among its options.
pub(crate) fn record(selection: &impl Selection, meta: &mut SourceMetadata) {
    meta.tables = selection.tables().to_vec();
    meta.excluded_tables = selection.exclude_tables().to_vec();
    if selection.schema_only() {
        meta.options.push("schema-only".into());
    }
    if selection.data_only() {
        meta.options.push("data-only".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::SourceKind;

    #[derive(Default)]
    struct Sel {
        all: bool,
        tables: Vec<String>,
        schema_only: bool,
        data_only: bool,
    }

    impl Selection for Sel {
        fn all(&self) -> bool {
            self.all
        }
        fn tables(&self) -> &[String] {
            &self.tables
        }
        fn exclude_tables(&self) -> &[String] {
            &[]
        }
        fn schema_only(&self) -> bool {
            self.schema_only
        }
        fn data_only(&self) -> bool {
            self.data_only
        }
    }

    #[test]
    fn contradictions_are_refused_and_choices_recorded() {
        let ok = |s: &Sel, db: bool| check(s, &"postgres://h/db", db).is_ok();
        assert!(ok(&Sel::default(), true));
        assert!(!ok(&Sel::default(), false), "one database needs the URL to name it");
        assert!(ok(&Sel { all: true, ..Default::default() }, false));
        assert!(!ok(&Sel { all: true, tables: vec!["t".into()], ..Default::default() }, false));
        assert!(!ok(&Sel { schema_only: true, data_only: true, ..Default::default() }, true));

        let mut meta =
            SourceMetadata::new(SourceKind::Postgres, "db/x.pgdump", "pg_dump custom", "postgres://h/x".into());
        record(&Sel { tables: vec!["t".into()], schema_only: true, ..Default::default() }, &mut meta);
        assert_eq!(meta.tables, ["t"]);
        assert_eq!(meta.options, ["schema-only"]);
    }
}
