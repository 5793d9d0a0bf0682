//! `lifeboat export` and `lifeboat import` (placeholder: issue 16, the exports helper owns it).

use clap::Args;

/// `lifeboat export ...`.
#[derive(Args, Debug)]
pub struct ExportArgs {}

/// `lifeboat import ...`.
#[derive(Args, Debug)]
pub struct ImportArgs {}
