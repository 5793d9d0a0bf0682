//! Directory trees as a tar stream: the producer that walks paths on a blocking thread,
//! and the restore that unpacks into a private staging folder and publishes it only when
//! the whole backup has been authenticated.

mod accounts;
mod filter;
mod pack;
mod staging;
mod unpack;

pub(crate) use accounts::{gid_of, group_name, uid_of, user_name};
pub(crate) use filter::MountKey;
pub use filter::{FilesFilter, FilterError, PathPatterns, TreeFilter};
pub(crate) use pack::open_no_follow;
pub use pack::{TreeSummary, source_paths, spawn_tree_producer};
pub use staging::{RestoreReport, settle_restore_cleanup};
pub(crate) use staging::{Staging, create_private_file};
pub use unpack::RestoreOptions;
pub(crate) use unpack::{set_symlink_times, settle_open, unpack};
