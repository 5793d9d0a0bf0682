//! The double's own tests, in one test binary: it refuses what the REST spec does not declare, and
//! its bodies have the shapes of the recorded examples in `shared/es-rest-api-spec/examples`.

mod common;
mod double_contract;
