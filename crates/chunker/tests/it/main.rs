use lifeboat_chunker::{Chunker, ChunkerParams};
use proptest::prelude::*;

mod noise;
use noise::noise;

const SMALL: ChunkerParams = ChunkerParams { min: 2048, avg: 8192, max: 32768 };

fn boundaries(chunker: &Chunker, data: &[u8]) -> Vec<usize> {
    let mut at = 0;
    chunker
        .split(data)
        .map(|len| {
            at += len;
            at
        })
        .collect()
}

#[test]
fn lengths_cover_the_input_and_respect_the_bounds() {
    let chunker = Chunker::new(&[1u8; 32], SMALL);
    let data = noise(1_000_000, 3);
    let lengths: Vec<usize> = chunker.split(&data).collect();
    assert_eq!(lengths.iter().sum::<usize>(), data.len());
    for len in &lengths[..lengths.len() - 1] {
        assert!((SMALL.min..=SMALL.max).contains(len), "{len}");
    }
    // Normalized chunking keeps the mean near the average.
    let mean = data.len() / lengths.len();
    assert!((SMALL.avg / 2..SMALL.avg * 2).contains(&mean), "mean chunk length {mean}");
}

#[test]
fn an_insertion_moves_only_the_chunks_around_it() {
    let chunker = Chunker::new(&[2u8; 32], SMALL);
    let data = noise(2_000_000, 5);
    let mut edited = data.clone();
    edited.splice(100_000..100_000, noise(77, 9));
    let before: std::collections::HashSet<&[u8]> = {
        let mut at = 0;
        chunker
            .split(&data)
            .map(|len| {
                at += len;
                &data[at - len..at]
            })
            .collect()
    };
    let mut at = 0;
    let after: Vec<&[u8]> = chunker
        .split(&edited)
        .map(|len| {
            at += len;
            &edited[at - len..at]
        })
        .collect();
    let shared = after.iter().filter(|chunk| before.contains(*chunk)).count();
    assert!(shared + 3 >= after.len(), "only {shared} of {} chunks survived an insertion", after.len());
}

#[test]
fn boundaries_depend_on_the_key() {
    let data = noise(1_000_000, 11);
    let a = boundaries(&Chunker::new(&[1u8; 32], SMALL), &data);
    let b = boundaries(&Chunker::new(&[2u8; 32], SMALL), &data);
    let common = a.iter().filter(|cut| b.contains(cut)).count();
    assert!(common * 4 < a.len(), "{common} of {} boundaries are the same under another key", a.len());
}

#[test]
fn debug_output_does_not_show_the_table() {
    let text = format!("{:?}", Chunker::new(&[9u8; 32], SMALL));
    assert!(text.contains("params") && !text.contains("gear"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn streaming_gives_the_same_chunks_as_a_buffer(seed in any::<u64>(), len in 0usize..300_000, read in 1usize..70_000) {
        let chunker = Chunker::new(&[seed as u8; 32], SMALL);
        let data = noise(len, seed);
        let expected: Vec<usize> = chunker.split(&data).collect();
        let reader = Trickle { data: &data, at: 0, step: read };
        let chunks: Vec<Vec<u8>> = chunker.chunks(reader).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), expected);
        prop_assert_eq!(chunks.concat(), data);
    }
}

/// A reader that returns at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    at: usize,
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn validate_refuses_unusable_sizes_and_new_normalizes_them() {
    use lifeboat_chunker::InvalidParams;
    assert_eq!(SMALL.validate(), Ok(SMALL));
    let odd = ChunkerParams { min: 10, avg: 1000, max: 5000 };
    assert_eq!(odd.validate(), Err(InvalidParams::AverageNotPowerOfTwo(1000)));
    let backwards = ChunkerParams { min: 9000, avg: 8192, max: 4096 };
    assert!(matches!(backwards.validate(), Err(InvalidParams::OutOfOrder { .. })));
    assert!(backwards.validate().unwrap_err().to_string().contains("9000 / 8192 / 4096"));
    // Unusable sizes still give a working chunker whose chunks respect the bounds it chose.
    let chunker = Chunker::new(&[3u8; 32], backwards);
    let params = chunker.params();
    assert_eq!(params.validate(), Ok(params));
    let data = noise(200_000, 17);
    let lengths: Vec<usize> = chunker.split(&data).collect();
    assert_eq!(lengths.iter().sum::<usize>(), data.len());
    assert!(lengths.iter().all(|len| *len <= params.max), "{lengths:?}");
}

#[test]
fn a_read_error_is_returned_and_not_taken_for_the_end() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk went away"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    let chunker = Chunker::new(&[4u8; 32], SMALL);
    let results: Vec<_> = chunker.chunks(Failing(10_000)).take(3).collect();
    let error = results.iter().find_map(|r| r.as_ref().err()).expect("the read error surfaces");
    assert_eq!(error.to_string(), "disk went away");
}
