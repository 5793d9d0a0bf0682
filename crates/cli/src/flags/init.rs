//! `lifeboat init`.

use clap::Args;
use lifeboat_crypto::Argon2Params;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Argon2id memory in KiB for the password slot.
    #[arg(long, default_value_t = Argon2Params::default().memory_kib)]
    pub kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = Argon2Params::default().iterations)]
    pub kdf_iterations: u32,
    /// Argon2id lanes.
    #[arg(long, default_value_t = Argon2Params::default().parallelism)]
    pub kdf_parallelism: u32,
    /// Plaintext bytes per segment, 4K..=16M (suffixes as --limit-upload: 64K, 1MiB, 1048576).
    #[arg(long, default_value_t = lifeboat_crypto::DEFAULT_SEGMENT, value_parser = super::global::parse_size_u32)]
    pub segment_size: u32,
    /// zstd level for new objects (0 = no compression).
    #[arg(long, default_value_t = 3)]
    pub compression_level: i32,
    /// Label of the first key slot.
    #[arg(long)]
    pub label: Option<String>,
    /// Data format: 3 (content-defined chunks stored once across backups and hosts,
    /// docs/FORMAT.md section 11) or 2 (one sealed object per stream, a tar stream per
    /// files backup; what Lifeboat wrote before format 3, and still reads).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=3))]
    pub format: u32,
}
