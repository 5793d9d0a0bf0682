//! # lifeboatd
//!
//! The pieces of the `lifeboatd` binary that are worth testing on their own: its command
//! line ([`args`]), where it listens ([`listen`]), and its
//! logging ([`logging`]). The binary (`src/main.rs`) wires them to the service of
//! `lifeboat-ops` and the HTTP API of `lifeboat-http`; everything a backup service does
//! lives in those libraries, not here.
//!
//! ```
//! use lifeboatd::listen::{Listen, ListenError};
//!
//! assert!(Listen::parse("127.0.0.1:8081").unwrap().is_loopback());
//! assert_eq!(Listen::parse("localhost:9").unwrap().addr.to_string(), "127.0.0.1:9");
//! assert!(!Listen::parse("0.0.0.0:8081").unwrap().is_loopback());
//! assert!(matches!(Listen::parse("example.net:80"), Err(ListenError::Unparsable { .. })));
//! ```

pub mod args;
pub mod listen;
pub mod logging;
