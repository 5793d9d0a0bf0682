//! lifeboat-export against the real servers (PostgreSQL, MariaDB, S3 on loopback; started by
//! scripts/services.sh and scripts/s3-server.sh). A missing server is a failure, never a skip.

mod common;
mod dest;
mod files;
mod mysql;
mod postgres;
