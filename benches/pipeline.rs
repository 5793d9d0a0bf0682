//! Criterion benchmarks of the compress-and-seal pipeline, one group per stage plus the
//! combined async pipeline.
//!
//! Run with `cargo bench --bench pipeline` (add `-- <filter>` to run one group, e.g.
//! `cargo bench --bench pipeline -- seal`). Every group reports throughput in bytes of
//! plaintext, so the figures compare directly with `zstd -3` and with each other.
//!
//! Data: deterministic "mixed compressibility" bytes, a third each of random bytes
//! (incompressible), text-like words (compresses about 3-4x) and structured records with
//! runs of zeros (compresses very well), interleaved in blocks. The stage groups work on one
//! 1 MiB segment (the default segment size); the pipeline groups on 64 MiB in memory.
//!
//! Clock: wall time by default. On a shared machine wall time mostly measures the other
//! tenants; `LIFEBOAT_BENCH_CLOCK=cpu cargo bench --bench pipeline` measures the CPU time of
//! the whole process instead (every thread: tokio workers, the blocking pool, the hasher),
//! so "throughput" then reads as bytes per CPU-second, the cost of each stage.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use lifeboat_crypto::{
    Compression, DEFAULT_SEGMENT, FixedHeader, ObjectHeader, ObjectKind, PipelineOptions, SecretKey, SegmentCipher,
    open_data_stream, seal_data_stream,
};

const SEGMENT: usize = DEFAULT_SEGMENT as usize;
const PIPELINE_BYTES: usize = 64 * 1024 * 1024;

/// A small, fast, deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let end = out.len() + len;
        while out.len() < end {
            let word = self.next().to_le_bytes();
            let take = (end - out.len()).min(8);
            out.extend_from_slice(&word[..take]);
        }
    }
}

/// Words of the text-like blocks: log and SQL vocabulary.
static WORDS: std::sync::LazyLock<Vec<&str>> = std::sync::LazyLock::new(|| {
    "the backup of a cluster restore index shard snapshot segment error warning info request GET POST \
     /api/v1/items 200 404 500 user session latency_ms bytes timestamp 2026-11-21T10:00:00Z host db01 db02 \
     replica primary commit rollback transaction select from where and or insert into values update set delete"
        .split_whitespace()
        .collect()
});

#[derive(Clone, Copy)]
enum Kind {
    Random,
    Text,
    Structured,
}

fn block(rng: &mut Rng, kind: Kind, len: usize, out: &mut Vec<u8>, counter: &mut u64) {
    let end = out.len() + len;
    match kind {
        Kind::Random => rng.fill(out, len),
        Kind::Text => {
            while out.len() < end {
                let r = rng.next();
                out.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
                out.push(if r >> 60 == 0 { b'\n' } else { b' ' });
            }
        }
        Kind::Structured => {
            // 64-byte records: a counter, a timestamp, a few small values, zero padding.
            while out.len() < end {
                *counter += 1;
                out.extend_from_slice(&counter.to_le_bytes());
                out.extend_from_slice(&(1_763_700_000_000u64 + *counter * 17).to_le_bytes());
                out.extend_from_slice(&((rng.next() % 1000) as u32).to_le_bytes());
                out.extend_from_slice(&[0u8; 44]);
            }
        }
    }
    out.truncate(end);
}

/// `len` bytes of one kind.
fn data_of(kind: Kind, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    block(&mut Rng(0x9e37_79b9_7f4a_7c15), kind, len, &mut out, &mut 0);
    out
}

/// `len` bytes cycling random, text and structured blocks of `block_len` bytes.
fn mixed(len: usize, block_len: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 64);
    let mut counter = 0;
    let kinds = [Kind::Random, Kind::Text, Kind::Structured];
    let mut i = 0;
    while out.len() < len {
        let n = block_len.min(len - out.len());
        block(&mut rng, kinds[i % 3], n, &mut out, &mut counter);
        i += 1;
    }
    out
}

fn cipher(compression: Compression) -> SegmentCipher {
    let dek = SecretKey::generate().expect("random key");
    let fixed = FixedHeader::new(ObjectKind::Data, compression, DEFAULT_SEGMENT, [7; 16], &dek).expect("header");
    SegmentCipher::new(&ObjectHeader { fixed, slots: Vec::new() }, &dek).expect("cipher")
}

/// Wall time, or the process's CPU time (see the module documentation), in nanoseconds.
struct Clock {
    cpu: bool,
}

impl Clock {
    fn from_env() -> Self {
        Self { cpu: std::env::var("LIFEBOAT_BENCH_CLOCK").is_ok_and(|v| v == "cpu") }
    }

    fn now(&self) -> u64 {
        let id = if self.cpu { libc::CLOCK_PROCESS_CPUTIME_ID } else { libc::CLOCK_MONOTONIC };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec and `id` a clock every Linux provides.
        let rc = unsafe { libc::clock_gettime(id, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime failed");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

impl Measurement for Clock {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now()
    }
    fn end(&self, start: u64) -> u64 {
        self.now().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Formats nanoseconds and binary-prefixed throughputs, like Criterion's wall-time formatter.
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, typical: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        let (per_iter, base, units) = match *throughput {
            Throughput::Bytes(b) => (b as f64, 1024.0_f64, ["B/s", "KiB/s", "MiB/s", "GiB/s"]),
            Throughput::BytesDecimal(b) => (b as f64, 1000.0, ["B/s", "KB/s", "MB/s", "GB/s"]),
            Throughput::Elements(e) => (e as f64, 1000.0, ["elem/s", "Kelem/s", "Melem/s", "Gelem/s"]),
        };
        let rate = per_iter * 1e9 / typical;
        let power = (0..3).take_while(|&p| rate >= base.powi(p + 1)).count() as i32;
        let denominator = base.powi(power);
        values.iter_mut().for_each(|v| *v = per_iter * 1e9 / *v / denominator);
        units[power as usize]
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn configure<'a>(c: &'a mut Criterion<Clock>, name: &str) -> BenchmarkGroup<'a, Clock> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    group
}

fn stages(c: &mut Criterion<Clock>) {
    let segment = mixed(SEGMENT, 64 * 1024);

    let mut group = configure(c, "zstd_compress_l3");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    let inputs = [
        ("mixed", segment.clone()),
        ("random", data_of(Kind::Random, SEGMENT)),
        ("text", data_of(Kind::Text, SEGMENT)),
        ("structured", data_of(Kind::Structured, SEGMENT)),
    ];
    let mut compressor = zstd::bulk::Compressor::new(3).expect("zstd context");
    let mut out = vec![0u8; zstd::zstd_safe::compress_bound(SEGMENT)];
    for (name, input) in &inputs {
        group.bench_with_input(BenchmarkId::from_parameter(name), input, |b, input| {
            b.iter(|| compressor.compress_to_buffer(black_box(&input[..]), &mut out[..]).expect("compress"))
        });
    }
    group.finish();

    let mut group = configure(c, "zstd_decompress");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    let frame = zstd::bulk::compress(&segment, 3).expect("compress");
    let mut decompressor = zstd::bulk::Decompressor::new().expect("zstd context");
    let mut plain = Vec::with_capacity(SEGMENT);
    group.bench_function("mixed", |b| {
        b.iter(|| {
            plain.clear();
            decompressor.decompress_to_buffer(black_box(&frame[..]), &mut plain).expect("decompress")
        })
    });
    group.finish();

    // SegmentCipher::seal: compression (level 3) or none (level 0), AES-256-GCM, framing.
    let stored = cipher(Compression::None);
    let zstd3 = cipher(Compression::Zstd);
    let mut group = configure(c, "segment_seal");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    group.bench_function("level0", |b| b.iter(|| stored.seal(0, false, black_box(&segment), 0).expect("seal")));
    group.bench_function("level3", |b| b.iter(|| zstd3.seal(0, false, black_box(&segment), 3).expect("seal")));
    group.finish();

    // SegmentCipher::open: authenticate, decrypt, decompress (level 3) or not (level 0).
    let sealed0 = stored.seal(0, false, &segment, 0).expect("seal");
    let sealed3 = zstd3.seal(0, false, &segment, 3).expect("seal");
    let mut group = configure(c, "segment_open");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    group.bench_function("level0", |b| b.iter(|| stored.open(0, false, black_box(&sealed0[4..])).expect("open")));
    group.bench_function("level3", |b| b.iter(|| zstd3.open(0, false, black_box(&sealed3[4..])).expect("open")));
    group.finish();

    // The object digests are BLAKE3; SHA-256 stays here as the yardstick that choice was
    // measured against (docs/FORMAT.md, section 4).
    let mut group = configure(c, "digest");
    group.throughput(Throughput::Bytes(SEGMENT as u64));
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&segment))));
    group
        .bench_function("sha256_ring", |b| b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&segment))));
    group.finish();
}

fn pipeline(c: &mut Criterion<Clock>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    // Blocks of 2 MiB, as in a real file of mixed content: each segment is mostly one kind.
    let plaintext = Bytes::from(mixed(PIPELINE_BYTES, 2 * 1024 * 1024));
    let options = PipelineOptions::default();

    let seal = |plaintext: Bytes| async move {
        let (running, object_id, dek) =
            seal_data_stream(std::io::Cursor::new(plaintext), options).expect("start sealing");
        let (mut stream, done) = running.into_parts();
        let mut object = Vec::new();
        while let Some(bytes) = stream.next().await {
            object.extend_from_slice(&bytes.expect("sealed bytes"));
        }
        done.finish().await.expect("sealed");
        (Bytes::from(object), object_id, dek)
    };

    let mut group = c.benchmark_group("pipeline");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(PIPELINE_BYTES as u64));
    group.bench_function(BenchmarkId::new("seal_data_stream", "64MiB"), |b| {
        b.iter(|| runtime.block_on(seal(plaintext.clone())))
    });

    let (object, object_id, dek) = runtime.block_on(seal(plaintext.clone()));
    group.bench_function(BenchmarkId::new("open_data_stream", "64MiB"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                // Storage hands out reads of 256 KiB (the fs backend's buffer).
                let pieces: Vec<Result<Bytes, std::io::Error>> = (0..object.len())
                    .step_by(256 * 1024)
                    .map(|i| Ok(object.slice(i..(i + 256 * 1024).min(object.len()))))
                    .collect();
                let parallelism = options.parallelism;
                let (mut stream, done) =
                    open_data_stream(futures::stream::iter(pieces), object_id, dek.clone(), parallelism).into_parts();
                let mut total = 0usize;
                while let Some(bytes) = stream.next().await {
                    total += bytes.expect("plaintext").len();
                }
                done.finish().await.expect("opened");
                assert_eq!(total, PIPELINE_BYTES);
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = stages, pipeline
}
criterion_main!(benches);
