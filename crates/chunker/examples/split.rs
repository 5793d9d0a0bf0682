//! Splits a file (or standard input) and prints each chunk's offset and length.
use lifeboat_chunker::{Chunker, ChunkerParams};

fn main() -> std::io::Result<()> {
    let input: Box<dyn std::io::Read> = match std::env::args().nth(1) {
        Some(path) => Box::new(std::fs::File::open(path)?),
        None => Box::new(std::io::stdin()),
    };
    // A fixed example key: a repository uses its own secret.
    let chunker = Chunker::new(&[42u8; 32], ChunkerParams::default());
    let mut offset = 0usize;
    for chunk in chunker.chunks(input) {
        let chunk = chunk?;
        println!("{offset}\t{}", chunk.len());
        offset += chunk.len();
    }
    Ok(())
}
