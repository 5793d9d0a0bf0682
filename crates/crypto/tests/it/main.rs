//! The integration tests of lifeboat-crypto: one test binary (as every crate of the
//! workspace has), one module per subject.

mod format;
