//! The reader's framing over arbitrary bytes, read in small, uneven pieces.
//!
//! The first byte is a knob, not input: its low nibble picks the chunk size
//! the reader asks for (16..=76 bytes) and its high nibble caps what one
//! `read` call returns (1..=15 bytes, or no cap), so `Partial` frames are
//! met at every offset. The reader promises that every byte lands in exactly
//! one block, in order: the blocks' bytes must concatenate to the input when
//! reading succeeds, and to a prefix of it when it stops with an error. How
//! the bytes arrive must not change the outcome: a second, whole read must
//! give the same blocks and the same error. The pieces' read keeps a clone
//! of every block (they share the reader's buffer), so that the reader
//! reads into other buffers meanwhile; each must still hold its bytes at
//! the end.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use scrub837::reader::{Block, BlockKind, ReaderBuilder};

/// A source that hands out at most `step` bytes per `read`.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// (kind, offset, segment count, ended, length) of each block, every
/// block's bytes concatenated, and the error shown.
type Reading = (
    Vec<(BlockKind, u64, u64, bool, usize)>,
    Vec<u8>,
    Option<String>,
);

fn read(input: &[u8], chunk: usize, step: usize, hold: bool) -> Reading {
    let src = Trickle { data: input, step };
    let mut rdr = ReaderBuilder::new()
        .chunk_size(chunk)
        .from_reader(src, "fuzz");
    let mut block = Block::new();
    let (mut blocks, mut out) = (Vec::new(), Vec::with_capacity(input.len()));
    let mut segments = 0u64;
    let mut held = Vec::new();
    let error = loop {
        match rdr.read_block(&mut block, &mut |f| drop(f.to_string())) {
            Ok(true) => {}
            Ok(false) => break None,
            Err(e) => break Some(e.to_string()),
        }
        assert_eq!(block.offset(), out.len() as u64, "block offset");
        assert_eq!(block.position().segment, segments + 1, "segment number");
        // The spans tile the block's bytes.
        let mut at = 0;
        for s in block.spans() {
            assert_eq!(s.start, at, "spans are contiguous");
            assert!(s.start <= s.content_start && s.content_start <= s.content_end);
            assert!(s.content_end <= s.end && s.end <= block.bytes().len());
            at = s.end;
        }
        assert_eq!(at, block.bytes().len(), "spans cover the block");
        for seg in block.segments() {
            let _ = (seg.id(), seg.elements().count());
        }
        segments += block.segment_count();
        out.extend_from_slice(block.bytes());
        if hold {
            held.push(block.clone());
        }
        blocks.push((
            block.kind(),
            block.offset(),
            block.segment_count(),
            block.is_ended(),
            block.bytes().len(),
        ));
    };
    for b in &held {
        let at = b.offset() as usize;
        assert!(
            input[at..].starts_with(b.bytes()),
            "a held block's bytes changed"
        );
    }
    match error {
        None => assert!(out == input, "the blocks do not reproduce the input"),
        Some(_) => assert!(
            input.starts_with(&out),
            "the blocks are not a prefix of the input"
        ),
    }
    (blocks, out, error)
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let chunk = 16 + usize::from(knob & 0x0f) * 4;
    let step = match knob >> 4 {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let pieces = read(input, chunk, step, true);
    let whole = read(input, 256 << 10, usize::MAX, false);
    assert!(
        pieces == whole,
        "reading in pieces differs from a whole read"
    );
});
