//! Seals standard input into a Lifeboat data object and opens it again, printing sizes
//! and digests: `head -c 10M /dev/urandom | cargo run -p lifeboat-crypto --example seal_stream`.

use futures::StreamExt;
use lifeboat_crypto::{PipelineOptions, open_data_stream, seal_data_stream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (running, object_id, dek) = seal_data_stream(tokio::io::stdin(), PipelineOptions::default())?;
    let (mut sealed, done) = running.into_parts();
    let mut object = Vec::new();
    while let Some(chunk) = sealed.next().await {
        object.extend_from_slice(&chunk?);
    }
    let written = done.finish().await?;
    println!(
        "sealed {} plaintext bytes into {} bytes ({} segments)",
        written.plain_size, written.size, written.segments
    );

    let input = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(object))]);
    let (mut plain, done) = open_data_stream(input, object_id, dek, 2).into_parts();
    let mut restored = 0u64;
    while let Some(chunk) = plain.next().await {
        restored += chunk?.len() as u64;
    }
    let read = done.finish().await?;
    assert_eq!(read.plain_blake3, written.plain_blake3);
    println!("opened {restored} bytes; plaintext blake3 {}", hex::encode(read.plain_blake3));
    Ok(())
}
