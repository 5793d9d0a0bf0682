//! # lifeboat-chunker
//!
//! A keyed content-defined chunker in the FastCDC family. Boundaries depend on the bytes
//! (an insertion early in a file moves only the chunks around it) and on a 32-byte key,
//! so that chunk lengths of a repository tell an observer without the key less about the
//! plaintext (docs/SECURITY.md says what remains observable).
//!
//! ```
//! use lifeboat_chunker::{Chunker, ChunkerParams};
//! let chunker = Chunker::new(&[7u8; 32], ChunkerParams::default());
//! let data = vec![0x5au8; 3 << 20];
//! let lengths: Vec<usize> = chunker.split(&data).collect();
//! assert_eq!(lengths.iter().sum::<usize>(), data.len());
//! ```

use std::io::Read;

/// Minimum, average and maximum chunk length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerParams {
    /// No boundary is placed before this many bytes (except at the end of the input).
    pub min: usize,
    /// The expected chunk length; a power of two.
    pub avg: usize,
    /// A chunk is cut at this length if no boundary came earlier.
    pub max: usize,
}

/// Why a set of [`ChunkerParams`] cannot be used as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidParams {
    /// The average is not a power of two of at least 64 bytes (the masks are bit counts).
    AverageNotPowerOfTwo(usize),
    /// `min <= avg <= max` does not hold, or `min` is 0.
    OutOfOrder {
        /// The minimum given.
        min: usize,
        /// The average given.
        avg: usize,
        /// The maximum given.
        max: usize,
    },
}

impl std::fmt::Display for InvalidParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidParams::AverageNotPowerOfTwo(avg) => {
                write!(f, "chunker average {avg} is not a power of two of at least 64 bytes")
            }
            InvalidParams::OutOfOrder { min, avg, max } => {
                write!(f, "chunker sizes must satisfy 0 < min <= avg <= max (got {min} / {avg} / {max})")
            }
        }
    }
}

impl std::error::Error for InvalidParams {}

impl ChunkerParams {
    /// Checks the sizes: `0 < min <= avg <= max` and `avg` a power of two of at least 64.
    /// Sizes that come from a user or a repository's config go through this first.
    pub fn validate(self) -> Result<ChunkerParams, InvalidParams> {
        if !self.avg.is_power_of_two() || self.avg < 64 {
            return Err(InvalidParams::AverageNotPowerOfTwo(self.avg));
        }
        if self.min == 0 || self.min > self.avg || self.avg > self.max {
            return Err(InvalidParams::OutOfOrder { min: self.min, avg: self.avg, max: self.max });
        }
        Ok(self)
    }

    /// The nearest usable sizes: the average rounded down to a power of two (at least 64),
    /// the minimum and maximum moved to bracket it. Valid sizes are returned unchanged.
    fn normalized(self) -> ChunkerParams {
        let avg = if self.avg < 64 { 64 } else { 1usize << (usize::BITS - 1 - self.avg.leading_zeros()) };
        ChunkerParams { min: self.min.clamp(1, avg), avg, max: self.max.max(avg) }
    }
}

impl Default for ChunkerParams {
    /// 256 KiB / 1 MiB / 4 MiB: about one million chunks per TiB (docs/FORMAT.md v3).
    fn default() -> Self {
        ChunkerParams { min: 256 << 10, avg: 1 << 20, max: 4 << 20 }
    }
}

/// A keyed content-defined chunker. Cheap to clone; holds a 2 KiB gear table.
#[derive(Clone)]
pub struct Chunker {
    gear: Box<[u64; 256]>,
    params: ChunkerParams,
    /// Used before the average length: more bits, so a cut is less likely (FastCDC's
    /// normalized chunking, level 2).
    mask_small: u64,
    /// Used after it: fewer bits, so a cut comes sooner.
    mask_large: u64,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The gear table is derived from the key: never print it.
        f.debug_struct("Chunker").field("params", &self.params).finish_non_exhaustive()
    }
}

impl Chunker {
    /// A chunker whose gear table is derived from `key`. Sizes that do not pass
    /// [`ChunkerParams::validate`] are moved to the nearest usable ones rather than
    /// refused, so this never fails; validate sizes read from outside first.
    pub fn new(key: &[u8; 32], params: ChunkerParams) -> Chunker {
        let params = params.normalized();
        let mut table = [0u64; 256];
        let mut xof = blake3::Hasher::new_derive_key("lifeboat/v3/chunker-gear");
        xof.update(key);
        let mut reader = xof.finalize_xof();
        let mut bytes = [0u8; 8];
        for entry in table.iter_mut() {
            reader.fill(&mut bytes);
            *entry = u64::from_le_bytes(bytes);
        }
        let bits = params.avg.trailing_zeros();
        Chunker { gear: Box::new(table), params, mask_small: top_bits(bits + 2), mask_large: top_bits(bits - 2) }
    }

    /// The parameters this chunker was made with.
    pub fn params(&self) -> ChunkerParams {
        self.params
    }

    /// The length of the chunk that starts at `data[0]`. When `data` is shorter than the
    /// maximum chunk and holds no boundary, returns `data.len()`: the caller decides
    /// whether more data is coming (then it must call again with more) or this is the end.
    pub fn next_boundary(&self, data: &[u8]) -> usize {
        let end = data.len().min(self.params.max);
        if end <= self.params.min {
            return end;
        }
        // The gear hash of the last 64 bytes; its top bits depend on all of them. Hashing
        // starts at `min` (FastCDC's cut-point skipping): no boundary can come earlier.
        let normal = self.params.avg.clamp(self.params.min, end);
        let gear = &*self.gear;
        let mut hash = 0u64;
        for (offset, &byte) in data[self.params.min..normal].iter().enumerate() {
            hash = (hash << 1).wrapping_add(gear[byte as usize]);
            if hash & self.mask_small == 0 {
                return self.params.min + offset + 1;
            }
        }
        for (offset, &byte) in data[normal..end].iter().enumerate() {
            hash = (hash << 1).wrapping_add(gear[byte as usize]);
            if hash & self.mask_large == 0 {
                return normal + offset + 1;
            }
        }
        end
    }

    /// The chunk lengths of a whole buffer, in order.
    pub fn split<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= data.len() {
                return None;
            }
            let len = self.next_boundary(&data[at..]);
            at += len;
            Some(len)
        })
    }

    /// Chunks read from `reader` with bounded memory: one buffer of two maximum chunks,
    /// allocated once.
    pub fn chunks<R: Read>(&self, reader: R) -> StreamChunks<'_, R> {
        StreamChunks { chunker: self, reader, buf: Vec::new(), start: 0, end: 0, eof: false }
    }
}

/// A mask of the `bits` most significant bits of a u64.
fn top_bits(bits: u32) -> u64 {
    let bits = bits.clamp(1, 63);
    !0u64 << (64 - bits)
}

/// An iterator of chunks read from a [`Read`]; see [`Chunker::chunks`].
///
/// The unread bytes are `buf[start..end]`; each chunk is copied out once, and the
/// remainder is moved to the front only when less than a maximum chunk is left.
pub struct StreamChunks<'c, R> {
    chunker: &'c Chunker,
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> StreamChunks<'_, R> {
    /// Reads until a maximum chunk is buffered or the input ends.
    fn fill(&mut self) -> std::io::Result<()> {
        let max = self.chunker.params.max;
        if self.buf.is_empty() {
            self.buf = vec![0; 2 * max];
        }
        if self.buf.len() - self.start < max {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end - self.start < max {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<R: Read> Iterator for StreamChunks<'_, R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            return Some(Err(e));
        }
        if self.start == self.end {
            return None;
        }
        let pending = &self.buf[self.start..self.end];
        let len = self.chunker.next_boundary(pending);
        let chunk = pending[..len].to_vec();
        self.start += len;
        Some(Ok(chunk))
    }
}
