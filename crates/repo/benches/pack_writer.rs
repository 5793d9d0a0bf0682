//! Criterion benchmark of the v3 pack writer: bytes per second of blobs compressed (zstd),
//! sealed (AES-256-GCM) and packed, for 1 MiB chunks, on one thread.
//!
//! Run with `cargo bench -p lifeboat-repo --bench pack_writer`. Two inputs: pseudo-random
//! bytes (incompressible: zstd is tried, then the chunk is stored) and text-like bytes
//! (compressible), each at zstd levels 1, 2 and 3 (what a store's level costs per core).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lifeboat_crypto::SecretKey;
use lifeboat_repo::v3::{BlobKind, DomainKeys, PackWriter, TARGET_PACK_SIZE};

const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 32;

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    lifeboat_testkit::files::random_bytes(len, seed)
}

/// Words from a small vocabulary: compresses about like logs or SQL dumps.
fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 8] = ["INSERT ", "INTO ", "users ", "VALUES ", "(42, ", "'alice'", "),\n", "NULL "];
    noise(len, seed).iter().flat_map(|b| WORDS[(b & 7) as usize].bytes()).take(len).collect()
}

fn pack(c: &mut Criterion, name: &str, chunks: &[Vec<u8>], level: i32) {
    let keys = DomainKeys::derive(&SecretKey::from_bytes([3u8; 32]));
    let ids: Vec<_> = chunks.iter().map(|chunk| keys.blob_id(chunk)).collect();
    let mut group = c.benchmark_group("pack_writer");
    group.throughput(Throughput::Bytes((chunks.len() * CHUNK) as u64));
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut writer = PackWriter::new(&keys, TARGET_PACK_SIZE).expect("random pack id");
            for (id, chunk) in ids.iter().zip(chunks) {
                writer.add(*id, BlobKind::Data, chunk, level).expect("add blob");
            }
            black_box(writer.finish().expect("finish pack").bytes.len())
        })
    });
    group.finish();
}

fn writer(c: &mut Criterion) {
    let random: Vec<Vec<u8>> = (0..CHUNKS as u64).map(|i| noise(CHUNK, 0x9e37_79b9 + i)).collect();
    let texts: Vec<Vec<u8>> = (0..CHUNKS as u64).map(|i| text(CHUNK, 0x51_7cc1 + i)).collect();
    for level in [1, 2, 3] {
        pack(c, &format!("32 x 1 MiB random (stored, zstd {level} tried)"), &random, level);
        pack(c, &format!("32 x 1 MiB text-like (zstd {level})"), &texts, level);
    }
}

criterion_group!(benches, writer);
criterion_main!(benches);
