//! Criterion benchmark of the keyed chunker: bytes per second of boundary search over
//! 64 MiB of pseudo-random bytes (the worst case: no early cut from repeated content).
//!
//! Run with `cargo bench -p lifeboat-chunker`. Compare the figure with the pipeline's
//! compress-and-seal throughput (`cargo bench --bench pipeline`): chunking must stay well
//! above it to be free in a backup.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lifeboat_chunker::{Chunker, ChunkerParams};

#[path = "../tests/it/noise.rs"]
mod noise;

fn split(c: &mut Criterion) {
    let data = noise::noise(64 << 20, 0x9e37_79b9_7f4a_7c15);
    let chunker = Chunker::new(&[7u8; 32], ChunkerParams::default());
    let mut group = c.benchmark_group("chunker");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("split 64 MiB, 1 MiB average", |b| b.iter(|| black_box(chunker.split(&data).count())));
    group.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
