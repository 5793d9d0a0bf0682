//! BLAKE3 of a stream, computed one segment at a time by the worker that compresses or
//! decompresses that segment, and assembled in order from the segments' chaining values.
//!
//! BLAKE3 is a tree hash over 1 KiB chunks whose left subtrees always hold a power of two
//! chunks. When the segment size is a power of two (the default 1 MiB is), every segment
//! but the last is a complete subtree of the stream's tree, and the last one is the
//! rightmost subtree. So each segment's chaining value can be computed on its own, in
//! parallel and while the segment is still in the worker's cache, and the stream's hash is
//! a handful of parent-node compressions away. The result is bit for bit `blake3::hash` of
//! the whole stream; tests check that against the plain hasher for many shapes.

use blake3::hazmat::{ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

/// What a worker reports for one segment of plaintext.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SegmentHash {
    /// The chaining value of a segment in a stream of more than one segment.
    Subtree(ChainingValue),
    /// The whole stream was this one segment: its final hash.
    Whole([u8; 32]),
}

/// Hashes segment `index` of a stream cut into segments of `segment_size` bytes (a power of
/// two). `last` says whether it ends the stream. Runs on a worker thread.
pub(crate) fn hash_segment(index: u64, last: bool, segment_size: usize, bytes: &[u8]) -> SegmentHash {
    if index == 0 && last {
        return SegmentHash::Whole(*blake3::hash(bytes).as_bytes());
    }
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(index * segment_size as u64);
    hasher.update(bytes);
    SegmentHash::Subtree(hasher.finalize_non_root())
}

/// Whether streams cut into segments of this size can be hashed segment by segment.
pub(crate) fn tree_hashable(segment_size: usize) -> bool {
    segment_size.is_power_of_two() && segment_size >= blake3::CHUNK_LEN
}

/// Folds the segments' hashes, in stream order, into the stream's BLAKE3.
#[derive(Debug, Default)]
pub(crate) struct SegmentTree {
    /// Chaining values of complete subtrees, largest (leftmost) first.
    stack: Vec<ChainingValue>,
    /// Segments folded so far.
    segments: u64,
    /// The final hash, once the last segment has been folded.
    done: Option<[u8; 32]>,
}

impl SegmentTree {
    /// Folds in the hash of the next segment. `last` must be true for the final one only.
    pub(crate) fn push(&mut self, hash: SegmentHash, last: bool) -> Result<(), &'static str> {
        if self.done.is_some() {
            return Err("segment after the last one");
        }
        match (hash, last, self.segments) {
            (SegmentHash::Whole(h), true, 0) => self.done = Some(h),
            (SegmentHash::Subtree(cv), false, _) => {
                // More input follows, so the subtrees this segment completes are not the root
                // and can be merged now (BLAKE3's own chaining-value stack, at segment level).
                let mut cv = cv;
                let mut completed = self.segments + 1;
                while completed & 1 == 0 {
                    let left = self.stack.pop().ok_or("subtree stack underflow")?;
                    cv = merge_subtrees_non_root(&left, &cv, Mode::Hash);
                    completed >>= 1;
                }
                self.stack.push(cv);
            }
            (SegmentHash::Subtree(cv), true, n) if n > 0 => {
                let mut right = cv;
                while self.stack.len() > 1 {
                    let left = self.stack.pop().expect("len > 1");
                    right = merge_subtrees_non_root(&left, &right, Mode::Hash);
                }
                let left = self.stack.pop().ok_or("subtree stack underflow")?;
                self.done = Some(*merge_subtrees_root(&left, &right, Mode::Hash).as_bytes());
            }
            _ => return Err("segment hash does not fit its position in the stream"),
        }
        self.segments += 1;
        Ok(())
    }

    /// The stream's hash, if its last segment has been folded in.
    pub(crate) fn finish(&self) -> Option<[u8; 32]> {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tree_hash(data: &[u8], segment_size: usize) -> [u8; 32] {
        let count = data.len().div_ceil(segment_size).max(1);
        let mut tree = SegmentTree::default();
        for i in 0..count {
            let part = &data[(i * segment_size).min(data.len())..((i + 1) * segment_size).min(data.len())];
            let last = i + 1 == count;
            tree.push(hash_segment(i as u64, last, segment_size, part), last).unwrap();
        }
        tree.finish().unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect()
    }

    #[test]
    fn matches_blake3_at_every_boundary() {
        for segment_size in [1024usize, 4096, 8192] {
            for segments in [1usize, 2, 3, 4, 5, 7, 8, 9, 16, 17] {
                for delta in [-1isize, 0, 1] {
                    let len = (segments * segment_size).saturating_add_signed(delta);
                    let data = sample(len);
                    assert_eq!(
                        tree_hash(&data, segment_size),
                        *blake3::hash(&data).as_bytes(),
                        "segment {segment_size}, {len} bytes"
                    );
                }
            }
        }
        assert_eq!(tree_hash(&[], 4096), *blake3::hash(&[]).as_bytes());
    }

    #[test]
    fn a_megabyte_segment_stream_matches() {
        let data = sample(5 * 1024 * 1024 + 12_345);
        assert_eq!(tree_hash(&data, 1 << 20), *blake3::hash(&data).as_bytes());
    }

    #[test]
    fn out_of_place_segments_are_refused() {
        let mut tree = SegmentTree::default();
        let whole = hash_segment(0, true, 4096, b"x");
        assert!(tree.push(whole, false).is_err());
        let mut tree = SegmentTree::default();
        tree.push(hash_segment(0, true, 4096, b"x"), true).unwrap();
        assert!(tree.push(hash_segment(1, true, 4096, b"y"), true).is_err());
        let mut tree = SegmentTree::default();
        assert!(tree.push(hash_segment(0, false, 4096, &[0; 4096]), true).is_err());
        assert!(tree.finish().is_none());
    }

    #[test]
    fn only_power_of_two_segments_are_tree_hashable() {
        assert!(tree_hashable(1 << 20));
        assert!(tree_hashable(4096));
        assert!(!tree_hashable(300_001));
        assert!(!tree_hashable(512));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_length_matches(len in 0usize..70_000, shift in 10u32..14) {
            let data = sample(len);
            prop_assert_eq!(tree_hash(&data, 1 << shift), *blake3::hash(&data).as_bytes());
        }
    }
}
