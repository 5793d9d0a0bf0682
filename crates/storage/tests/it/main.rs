//! lifeboat-storage's integration tests, in one binary (as ripgrep does): one link of the
//! dependency tree instead of one per file. The S3 and WebDAV modules need their cargo
//! features and the servers that scripts/s3-server.sh and scripts/webdav-server.sh start.

mod common;
mod conformance;
#[cfg(feature = "s3")]
mod s3;
mod units;
#[cfg(feature = "webdav")]
mod webdav;
