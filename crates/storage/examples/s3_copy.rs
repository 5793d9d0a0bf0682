//! Copies a local file into any storage URL, or an object back out, streaming, and prints
//! the throughput and peak memory. Used by scripts/bench-s3.sh against `aws s3 cp`.
//!
//! ```text
//! cargo run --release -p lifeboat-storage --features s3 --example s3_copy -- \
//!     upload ./big.bin 's3://bucket/prefix?endpoint=http://127.0.0.1:9000' big.bin
//! cargo run --release -p lifeboat-storage --features s3 --example s3_copy -- \
//!     download 's3://bucket/prefix?endpoint=http://127.0.0.1:9000' big.bin ./copy.bin
//! ```
//!
//! Credentials come from the AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE).
//! `--limit BYTES_PER_SEC` applies the bandwidth-limit layer.

use std::time::Instant;

use futures::StreamExt;
use lifeboat_storage::layer::RateLimitLayer;
use lifeboat_storage::{ByteStream, StorageError, open_url};
use tokio::io::AsyncWriteExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn usage() -> Error {
    "usage: s3_copy upload FILE URL KEY [--limit B/s] | s3_copy download URL KEY FILE [--limit B/s]".into()
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("s3_copy: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut limit = None;
    if let Some(i) = args.iter().position(|a| a == "--limit") {
        limit = Some(args.get(i + 1).ok_or_else(usage)?.parse::<u64>()?);
        args.drain(i..i + 2);
    }
    let start = Instant::now();
    let bytes = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["upload", file, url, key] => {
            let store = RateLimitLayer::new(open_url(url)?, limit, None);
            let f = tokio::fs::File::open(file).await.map_err(|e| format!("{file}: {e}"))?;
            let len = f.metadata().await?.len();
            let body: ByteStream = Box::pin(
                tokio_util::io::ReaderStream::with_capacity(f, 1 << 20).map(|r| r.map_err(StorageError::source)),
            );
            lifeboat_storage::Storage::put(&store, key, body, Some(len)).await?;
            len
        }
        ["download", url, key, file] => {
            let store = RateLimitLayer::new(open_url(url)?, None, limit);
            let mut stream = lifeboat_storage::Storage::get(&store, key, None).await?;
            let tmp = format!("{file}.part");
            let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::create(&tmp).await?);
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                out.write_all(&chunk).await?;
            }
            out.flush().await?;
            tokio::fs::rename(&tmp, file).await?;
            n
        }
        _ => return Err(usage()),
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} bytes in {secs:.2} s = {:.1} MiB/s; peak RSS {} MiB",
        bytes,
        bytes as f64 / secs / (1 << 20) as f64,
        peak_rss_kib() / 1024
    );
    Ok(())
}

/// VmHWM of this process (Linux), in KiB; 0 elsewhere.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
