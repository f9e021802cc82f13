//! Streaming an input into blocks: one envelope segment, or one whole
//! transaction (ST through SE).
//!
//! The [`Reader`] holds a small buffer over any [`Read`] and never the whole
//! input: memory is bounded by the largest transaction, and a transaction
//! over [`ReaderBuilder::max_transaction_bytes`] is reported and skipped
//! rather than held. The caller owns the [`Block`] and reuses it, as with
//! `csv::Reader::read_byte_record`.
//!
//! Every byte of the input lands in exactly one block's segment spans (the
//! BOM and blanks before the first ISA in its lead, blanks at the end in the
//! last tail), so writing the spans back reproduces the input.

use std::io::Read;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::finding::{Finding, Position, RuleId};
use crate::lex::framer::{frame, is_blank, Frame, Span};
use crate::lex::isa::{looks_like_isa, read_isa, IsaStatus};
use crate::lex::{segment_seps, window_masks, Delimiters, Segment};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Settings of a [`Reader`].
///
/// ```
/// use scrub837::reader::ReaderBuilder;
/// let r = ReaderBuilder::new().max_transaction_bytes(1 << 20).from_reader(&b""[..], "-");
/// # let _ = r;
/// ```
#[derive(Clone, Debug)]
pub struct ReaderBuilder {
    max_transaction_bytes: usize,
    chunk_size: usize,
}

impl Default for ReaderBuilder {
    fn default() -> Self {
        ReaderBuilder {
            max_transaction_bytes: 64 << 20,
            chunk_size: 256 << 10,
        }
    }
}

impl ReaderBuilder {
    /// The defaults: 64 MiB per transaction, 256 KiB reads.
    pub fn new() -> ReaderBuilder {
        ReaderBuilder::default()
    }

    /// The largest transaction (ST..SE bytes) held in memory; a larger one
    /// is a `limit-exceeded` finding and its segments are skipped. Also the
    /// longest single segment accepted. At least 1 KiB, at most 1 GiB less
    /// a byte (a block keeps its offsets in 31 bits).
    pub fn max_transaction_bytes(mut self, n: usize) -> ReaderBuilder {
        self.max_transaction_bytes = n.clamp(1024, MAX_BLOCK_LIMIT);
        self
    }

    /// How many bytes to ask the source for at a time.
    pub fn chunk_size(mut self, n: usize) -> ReaderBuilder {
        self.chunk_size = n.max(16);
        self
    }

    /// A reader over `rdr`; `label` names the input in findings.
    pub fn from_reader<R: Read>(&self, rdr: R, label: impl Into<Arc<str>>) -> Reader<R> {
        Reader {
            rdr,
            label: label.into(),
            buf: Arc::default(),
            pin: None,
            spares: Vec::new(),
            pos: 0,
            len: 0,
            eof: false,
            buf_offset: 0,
            next_segment: 1,
            delims: None,
            last_delims: None,
            started: false,
            noted: 0,
            cfg: self.clone(),
        }
    }
}

/// What a [`Block`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BlockKind {
    /// One segment outside a transaction: ISA, GS, GE, IEA, or a stray one.
    #[default]
    Segment,
    /// A transaction, ST up to and including SE.
    Transaction,
}

/// The most [`ReaderBuilder::max_transaction_bytes`] allows (1 GiB less a
/// byte): a block holds at most twice the limit (the segment that crosses
/// it is read whole), and its offsets are 31-bit ([`Framed`]).
const MAX_BLOCK_LIMIT: usize = (1 << 30) - 1;

/// A framed segment as a [`Block`] keeps it: its [`Span`] in 32-bit
/// offsets into the block's bytes, and its content's element separators as
/// a bitmap ([`crate::lex::index_seps`]; 0 for content over 64 bytes),
/// found while framing so that no one scans the bytes for them again.
/// Twenty-four bytes a segment, written by the reader and read back by the
/// loop builder for every segment.
#[derive(Clone, Copy, Debug, Default)]
struct Framed {
    start: u32,
    content_start: u32,
    content_end: u32,
    /// One past the tail, with [`Framed::TERMINATED`] when the segment
    /// ended with its terminator.
    end: u32,
    seps: u64,
}

impl Framed {
    const TERMINATED: u32 = 1 << 31;

    /// `span` (offsets at most [`MAX_BLOCK_LIMIT`] times two) with `seps`.
    #[inline(always)]
    fn new(span: Span, seps: u64) -> Framed {
        debug_assert!(span.end < Framed::TERMINATED as usize);
        Framed {
            start: span.start as u32,
            content_start: span.content_start as u32,
            content_end: span.content_end as u32,
            end: span.end as u32
                | if span.terminated {
                    Framed::TERMINATED
                } else {
                    0
                },
            seps,
        }
    }

    fn span(&self) -> Span {
        Span {
            start: self.start as usize,
            content_start: self.content_start as usize,
            content_end: self.content_end as usize,
            end: (self.end & !Framed::TERMINATED) as usize,
            terminated: self.end & Framed::TERMINATED != 0,
        }
    }
}

/// A unit of input: one envelope segment or one transaction, with the
/// bytes of its segments (leads and tails included) and their positions.
///
/// The bytes are a range of the reader's read buffer, shared rather than
/// copied: the reader reads into a buffer again only when no block holds
/// it, and into another one otherwise. So a block kept (or cloned) keeps
/// its whole buffer, a few reads' worth or half as much again as its
/// transaction, until it is dropped or read into again.
#[derive(Clone, Default)]
pub struct Block {
    kind: BlockKind,
    /// The read buffer the bytes are in, once the block is read.
    buf: Arc<Vec<u8>>,
    /// Where in `buf`.
    range: std::ops::Range<usize>,
    /// How many bytes the block holds (while it is read, before `range`).
    len: usize,
    framed: Vec<Framed>,
    first_segment: u64,
    offset: u64,
    delims: Delimiters,
    segment_count: u64,
    ended: bool,
    oversized: bool,
    position: Position,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("kind", &self.kind)
            .field("bytes", &self.bytes())
            .field("framed", &self.framed)
            .field("first_segment", &self.first_segment)
            .field("offset", &self.offset)
            .field("delims", &self.delims)
            .field("segment_count", &self.segment_count)
            .field("ended", &self.ended)
            .field("oversized", &self.oversized)
            .field("position", &self.position)
            .finish()
    }
}

impl Block {
    /// An empty block to read into.
    pub fn new() -> Block {
        Block::default()
    }

    /// Lets go of the read buffer, so that the reader may read into it
    /// again. (An empty one, a block's own, stays.)
    fn release(&mut self) {
        if !self.buf.is_empty() {
            self.buf = Arc::default();
        }
        self.range = 0..0;
    }

    fn clear(&mut self, delims: Delimiters, first_segment: u64, offset: u64) {
        self.kind = BlockKind::Segment;
        self.release();
        self.len = 0;
        self.framed.clear();
        self.first_segment = first_segment;
        self.offset = offset;
        self.delims = delims;
        self.segment_count = 0;
        self.ended = false;
        self.oversized = false;
        self.position = Position {
            segment: first_segment,
            offset,
        };
    }

    /// Keeps the segment framed at the start of `src` (`span.start` is 0),
    /// whose bytes follow the block's so far in the read buffer.
    fn push(&mut self, src: &[u8], span: Span) {
        let at = self.len;
        self.len += span.end;
        let content = &src[span.content_start..span.content_end];
        let seps = segment_seps(content, self.delims.element);
        self.framed.push(Framed::new(span.shifted(at), seps));
        self.segment_count += 1;
    }

    /// What the block holds.
    pub fn kind(&self) -> BlockKind {
        self.kind
    }

    /// The delimiters of the block's interchange.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The raw bytes, every lead and tail included.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }

    /// The byte offset of the block's first byte in the input.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many segments the block held, skipped ones included.
    pub fn segment_count(&self) -> u64 {
        self.segment_count
    }

    /// For a transaction: whether it ended with SE (not cut off by the next
    /// envelope segment or the end of input).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// For a transaction: whether it exceeded the size limit, so its
    /// segments were counted but not kept.
    pub fn is_oversized(&self) -> bool {
        self.oversized
    }

    /// The position of the block's first segment.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The framed spans, relative to [`Block::bytes`], in order.
    pub fn spans(&self) -> impl ExactSizeIterator<Item = Span> + DoubleEndedIterator + Clone + '_ {
        self.framed.iter().map(Framed::span)
    }

    /// The span of segment `i` of the block (0-based), relative to
    /// [`Block::bytes`].
    pub fn span(&self, i: usize) -> Option<Span> {
        self.framed.get(i).map(Framed::span)
    }

    /// The segments, with their file positions.
    pub fn segments(
        &self,
    ) -> impl ExactSizeIterator<Item = Segment<'_>> + DoubleEndedIterator + Clone + '_ {
        let (bytes, delims, first, offset) =
            (self.bytes(), self.delims, self.first_segment, self.offset);
        self.framed.iter().enumerate().map(move |(i, f)| {
            let (start, end) = (f.content_start as usize, f.content_end as usize);
            Segment::with_seps(
                &bytes[start..end],
                delims,
                Position {
                    segment: first + i as u64,
                    offset: offset + start as u64,
                },
                f.seps,
            )
        })
    }

    /// The first segment, if the block kept any.
    pub fn first(&self) -> Option<Segment<'_>> {
        self.segments().next()
    }
}

/// Whether a segment's content may take the plain path as far as its
/// first bytes tell: no lower case in the first three, no trailing element
/// separator, not an envelope segment or SE, and not an ISA with any
/// separator. Four bytes at once for the usual segment.
#[inline(always)]
fn plain_head(content: &[u8], sep: u8) -> bool {
    if content.len() < 4 {
        return plain_head_short(content, sep);
    }
    if content[content.len() - 1] == sep {
        return false;
    }
    let h = u32::from_le_bytes([content[0], content[1], content[2], content[3]]);
    // A byte of the first three is lower case when it is in `a`..=`z`:
    // per byte, (b + 0x1F) and (b + 0x05) straddle 0x80 exactly then (for
    // bytes under 0x80; a byte over 0x7F is never lower case).
    let three = h & 0x00FF_FFFF;
    let ge_a = (three & 0x007F_7F7F).wrapping_add(0x001F_1F1F);
    let gt_z = (three & 0x007F_7F7F).wrapping_add(0x0005_0505);
    if ge_a & !gt_z & !three & 0x0080_8080 != 0 {
        return false;
    }
    // Every envelope id and SE starts `S`, `G` or `I` and goes on `T`, `E`,
    // `S` or `A`: SV1, SV2 and SBR, a fifth of the segments, leave here.
    if !matches!(content[0], b'S' | b'G' | b'I') || !matches!(content[1], b'T' | b'E' | b'S' | b'A')
    {
        return true;
    }
    let s = u32::from(sep);
    let two = |a: u8, b: u8| u32::from(a) | u32::from(b) << 8 | s << 16;
    let id3 = |a: u8, b: u8, c: u8| u32::from(a) | u32::from(b) << 8 | u32::from(c) << 16 | s << 24;
    let envelope = [
        two(b'S', b'T'),
        two(b'S', b'E'),
        two(b'G', b'S'),
        two(b'G', b'E'),
    ]
    .contains(&three)
        || h == id3(b'I', b'E', b'A');
    // An ISA with any separator starts a new interchange, as the general
    // path sees it.
    !envelope && !crate::lex::isa::looks_like_isa(content)
}

/// [`plain_head`] for contents under four bytes (the same tests, bytewise).
#[cold]
fn plain_head_short(content: &[u8], sep: u8) -> bool {
    if content.iter().any(u8::is_ascii_lowercase) || content.last() == Some(&sep) {
        return false;
    }
    let id = match memchr::memchr(sep, content) {
        Some(i) => &content[..i],
        None => content,
    };
    !matches!(id, b"ST" | b"SE" | b"GS" | b"GE" | b"IEA" | b"ISA")
}

/// Where in a buffer at address `base` to put `kept` bytes so that the byte
/// after them is 64-byte aligned; 0 when that would put the buffer's first
/// byte before the input's (`offset` is the input offset of the first kept
/// byte).
fn aligned_at(base: usize, kept: usize, offset: u64) -> usize {
    let to = (64 - (base + kept) % 64) % 64;
    if to as u64 <= offset {
        to
    } else {
        0
    }
}

/// Makes `buf` at least `size` bytes long. A new buffer comes zeroed from
/// the allocator, which for one this large maps pages the kernel zeroes as
/// they are first written, rather than being written with zeros here: a
/// small input touches a page or two of it.
fn grow(buf: &mut Vec<u8>, size: usize) {
    if buf.is_empty() {
        *buf = vec![0; size];
    } else if buf.len() < size {
        buf.resize(size, 0);
    }
}

/// Read buffers kept for reuse while blocks hold them (one per block a
/// threaded scan has in flight, and more).
const MAX_SPARES: usize = 16;

// Lenient-read kinds, each reported once per input.
const NOTE_BOM: u8 = 1;
const NOTE_LEAD: u8 = 2;
const NOTE_BLANK_LINE: u8 = 4;
const NOTE_INDENT: u8 = 8;
const NOTE_UNTERMINATED: u8 = 16;
const NOTE_LOWERCASE: u8 = 32;
const NOTE_TRAILING_SEP: u8 = 64;

/// Reads [`Block`]s from any [`Read`].
///
/// ```
/// use scrub837::reader::{Block, BlockKind, ReaderBuilder};
/// let input = include_bytes!("../samples/837p-clean.edi");
/// let mut rdr = ReaderBuilder::new().from_reader(&input[..], "837p-clean.edi");
/// let mut block = Block::new();
/// let mut findings = Vec::new();
/// let mut transactions = 0;
/// while rdr.read_block(&mut block, &mut |f| findings.push(f)).unwrap() {
///     if block.kind() == BlockKind::Transaction {
///         transactions += 1;
///         assert!(block.first().unwrap().is(b"ST"));
///     }
/// }
/// assert!(transactions >= 1);
/// assert!(findings.is_empty());
/// ```
#[derive(Debug)]
pub struct Reader<R> {
    rdr: R,
    label: Arc<str>,
    /// The read buffer, shared with the blocks read from it.
    buf: Arc<Vec<u8>>,
    /// While a block is read: the input offset of its first byte, which the
    /// buffer keeps from there on.
    pin: Option<u64>,
    /// Earlier read buffers, for reuse once no block holds them.
    spares: Vec<Arc<Vec<u8>>>,
    pos: usize,
    len: usize,
    eof: bool,
    buf_offset: u64,
    next_segment: u64,
    delims: Option<Delimiters>,
    last_delims: Option<Delimiters>,
    started: bool,
    noted: u8,
    cfg: ReaderBuilder,
}

enum Next {
    Segment(Span),
    Isa(Span),
    End,
}

impl<R: Read> Reader<R> {
    /// A reader with the default settings.
    pub fn new(rdr: R, label: impl Into<Arc<str>>) -> Reader<R> {
        ReaderBuilder::new().from_reader(rdr, label)
    }

    /// The label findings carry for this input.
    pub fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    /// Reads the next block into `block`; returns `false` at the end of the
    /// input. Tolerated oddities (`lenient-read`) and size limits
    /// (`limit-exceeded`) go to `findings`.
    ///
    /// # Errors
    ///
    /// I/O failures; input that does not start with an ISA
    /// ([`ErrorKind::NotX12`]); a segment longer than the size limit.
    pub fn read_block(
        &mut self,
        block: &mut Block,
        findings: &mut dyn FnMut(Finding),
    ) -> Result<bool> {
        // The last block's hold on the buffer goes first, so that reading
        // may reuse it.
        block.release();
        let read = self.read_into(block, findings);
        self.pin = None;
        if let Ok(true) = read {
            if !block.oversized {
                let start = (block.offset - self.buf_offset) as usize;
                block.buf = Arc::clone(&self.buf);
                block.range = start..start + block.len;
            }
        }
        read
    }

    /// [`Reader::read_block`], but for sharing the buffer.
    fn read_into(&mut self, block: &mut Block, findings: &mut dyn FnMut(Finding)) -> Result<bool> {
        let span = match self.next_segment_span(findings)? {
            Next::End => return Ok(false),
            Next::Isa(span) | Next::Segment(span) => span,
        };
        let delims = self.delims.or(self.last_delims).unwrap_or_default();
        block.clear(delims, self.next_segment, self.buf_offset + self.pos as u64);
        self.pin = Some(block.offset);
        block.position = self.position_of(&span);
        let is_st = self
            .content(&span)
            .get(..3)
            .is_some_and(|id| id[..2].eq_ignore_ascii_case(b"ST") && id[2] == delims.element)
            || self.content(&span).eq_ignore_ascii_case(b"ST");
        self.take(block, span);
        if !is_st {
            return Ok(true);
        }
        block.kind = BlockKind::Transaction;
        loop {
            if !block.oversized {
                self.take_plain_run(block);
            }
            let span = match self.peek_segment()? {
                None => return Ok(true),
                Some(span) => span,
            };
            let content = self.content(&span);
            let id = match memchr::memchr(delims.element, content) {
                Some(i) => &content[..i],
                None => content,
            };
            if [&b"ST"[..], b"GS", b"GE", b"IEA", b"ISA"]
                .iter()
                .any(|b| id.eq_ignore_ascii_case(b))
            {
                return Ok(true);
            }
            let is_se = id.eq_ignore_ascii_case(b"SE");
            self.note_segment(&span, findings);
            if block.oversized {
                self.skip(block, span);
            } else {
                self.take(block, span);
                if block.len > self.cfg.max_transaction_bytes {
                    block.oversized = true;
                    findings(Finding::new(
                        RuleId::LimitExceeded,
                        self.label.clone(),
                        block.position(),
                        format!(
                            "the transaction is larger than the limit of {} bytes; its segments were skipped",
                            self.cfg.max_transaction_bytes
                        ),
                    ));
                    block.len = 0;
                    block.framed.clear();
                    // Its bytes are no longer kept.
                    self.pin = None;
                }
            }
            if is_se {
                block.ended = true;
                return Ok(true);
            }
        }
    }

    /// The fast path of a transaction: takes the run of plain segments at
    /// the front of the buffer in one pass, leaving their bytes where they
    /// were read (the block shares the buffer). A plain segment has
    /// no lead, an upper-case id that is not an envelope id or SE, no
    /// trailing element separator, and a terminator followed by at most one
    /// line break and then a byte of the next segment; it would frame the
    /// same with [`frame`] and give `note_segment` nothing to report. The
    /// first segment that is not plain (or not wholly buffered, or would
    /// take the block over the size limit) is left to the general path.
    #[inline(never)]
    fn take_plain_run(&mut self, block: &mut Block) {
        let Some(d) = self.delims else { return };
        let term = d.segment;
        if matches!(term, b' ' | b'\t' | b'\r' | b'\n') {
            return;
        }
        let buf = &self.buf[..self.len];
        let start = self.pos;
        let at0 = block.len;
        let room = self.cfg.max_transaction_bytes.saturating_sub(at0);
        let mut p = start;
        let framed_before = block.framed.len();
        // Bitmaps of terminators and element separators over the 64 bytes
        // from `win`, classified once for the two or three segments that
        // start in them. (None at first: no terminator in the window sends
        // the first segment to classify one.)
        let mut win = p;
        let (mut tmask, mut smask) = (0u64, 0u64);
        // A segment starts at `p` (no lead, not empty): checked here for the
        // first, and for each next one before the one before it is taken.
        let starts = |b: u8| b != term && !is_blank(b, term);
        if !buf.get(p).is_some_and(|&b| starts(b)) {
            return;
        }
        loop {
            let rel = p - win;
            let (t, seps) = if rel < 64 && tmask >> rel != 0 {
                // The terminator is in the window: the content is under
                // 64 bytes, its separators the bits below it.
                let len = (tmask >> rel).trailing_zeros() as usize;
                (p + len, smask >> rel & ((1u64 << len) - 1))
            } else if p + 64 <= buf.len() {
                let w: &[u8; 64] = buf[p..p + 64].try_into().expect("64 bytes");
                (tmask, smask) = window_masks(w, term, d.element);
                win = p;
                if tmask != 0 {
                    let len = tmask.trailing_zeros() as usize;
                    (p + len, smask & ((1u64 << len) - 1))
                } else {
                    // Content of 64 bytes or more: indexed at exactly 64
                    // (`INDEXED_MAX`), scanned on lookup above that.
                    match memchr::memchr(term, &buf[p + 64..]) {
                        Some(0) => (p + 64, smask),
                        Some(i) => (p + 64 + i, 0),
                        None => break,
                    }
                }
            } else {
                let Some(t) = crate::lex::find_terminator(&buf[p..], term) else {
                    break;
                };
                let t = p + t;
                (t, segment_seps(&buf[p..t], d.element))
            };
            let content = &buf[p..t];
            if !plain_head(content, d.element) {
                break;
            }
            let mut end = t + 1;
            match buf.get(end) {
                Some(b'\n') => end += 1,
                Some(b'\r') => match buf.get(end + 1) {
                    Some(b'\n') => end += 2,
                    Some(_) => end += 1,
                    None => break,
                },
                Some(_) => {}
                None => break,
            }
            // (A blank there is a lead, a terminator an empty segment: the
            // general path reports either, after this segment.)
            if !buf.get(end).is_some_and(|&b| starts(b)) {
                break;
            }
            if end - start > room {
                break;
            }
            // Offsets in the block: `buf[start..]` lands at `at0`.
            let (ps, ts, es) = (p - start + at0, t - start + at0, end - start + at0);
            block.framed.push(Framed::new(
                Span {
                    start: ps,
                    content_start: ps,
                    content_end: ts,
                    end: es,
                    terminated: true,
                },
                seps,
            ));
            p = end;
        }
        let n = (block.framed.len() - framed_before) as u64;
        if n > 0 {
            block.len += p - start;
            block.segment_count += n;
            self.next_segment += n;
            self.pos = p;
        }
    }

    fn content(&self, span: &Span) -> &[u8] {
        &self.buf[self.pos + span.content_start..self.pos + span.content_end]
    }

    fn position_of(&self, span: &Span) -> Position {
        Position {
            segment: self.next_segment,
            offset: self.buf_offset + (self.pos + span.content_start) as u64,
        }
    }

    fn take(&mut self, block: &mut Block, span: Span) {
        block.push(&self.buf[self.pos..], span);
        self.advance(span);
    }

    fn skip(&mut self, block: &mut Block, span: Span) {
        block.segment_count += 1;
        self.advance(span);
    }

    fn advance(&mut self, span: Span) {
        self.pos += span.end;
        self.next_segment += 1;
    }

    /// Frames the next segment without consuming it; `None` at the end of
    /// the input or of the interchange (an ISA follows).
    fn peek_segment(&mut self) -> Result<Option<Span>> {
        let Some(delims) = self.delims else {
            return Ok(None);
        };
        loop {
            // An ISA may use another terminator: look for it before framing.
            let avail = &self.buf[self.pos..self.len];
            let lead = avail.iter().position(|&b| !is_blank(b, delims.segment));
            match lead {
                Some(l) if avail.len() - l >= 4 || self.eof => {
                    if looks_like_isa(&avail[l..]) {
                        self.delims = None;
                        return Ok(None);
                    }
                }
                None if self.eof => return Ok(None),
                _ => {
                    self.fill()?;
                    continue;
                }
            }
            match frame(avail, delims.segment, self.eof) {
                // A segment over the limit is refused however it was read
                // (in one read or many), so the outcome never depends on
                // the read size.
                Frame::Complete(span) if span.end > self.cfg.max_transaction_bytes => {
                    return Err(Error::new(
                        ErrorKind::SegmentTooLong {
                            limit: self.cfg.max_transaction_bytes,
                        },
                        Some(self.position_of(&span)),
                    ))
                }
                Frame::Complete(span) => return Ok(Some(span)),
                // Blanks after a segment join its tail, so only blanks at the
                // very start could land here; they were handled above.
                Frame::Blank(_) => return Ok(None),
                Frame::Partial => self.fill()?,
            }
        }
    }

    fn next_segment_span(&mut self, findings: &mut dyn FnMut(Finding)) -> Result<Next> {
        if self.delims.is_some() {
            if let Some(span) = self.peek_segment()? {
                self.note_segment(&span, findings);
                return Ok(Next::Segment(span));
            }
            if self.delims.is_some() {
                return Ok(Next::End);
            }
        }
        self.next_isa(findings)
    }

    fn next_isa(&mut self, findings: &mut dyn FnMut(Finding)) -> Result<Next> {
        // Lead: a BOM at the very start, then blanks.
        let mut lead = 0;
        loop {
            let avail = &self.buf[self.pos..self.len];
            if self.buf_offset + self.pos as u64 == 0 && lead == 0 && avail.starts_with(UTF8_BOM) {
                lead = UTF8_BOM.len();
                self.note(
                    NOTE_BOM,
                    Position {
                        segment: 1,
                        offset: 0,
                    },
                    "the file starts with a UTF-8 byte order mark",
                    findings,
                );
            }
            let avail = &self.buf[self.pos..self.len];
            while lead < avail.len() && matches!(avail[lead], b' ' | b'\t' | b'\r' | b'\n') {
                lead += 1;
            }
            if (lead >= avail.len() || avail.len() - lead < 4) && !self.eof {
                self.fill()?;
                continue;
            }
            if lead >= avail.len() {
                if !self.started {
                    return Err(Error::not_x12("the input is empty", None));
                }
                if lead == 0 {
                    return Ok(Next::End);
                }
                // Blanks after the last interchange that no segment's tail
                // took (possible when a blank is the terminator): kept as a
                // last empty segment, never dropped.
                return Ok(Next::Segment(Span {
                    start: 0,
                    content_start: lead,
                    content_end: lead,
                    end: lead,
                    terminated: false,
                }));
            }
            match read_isa(&avail[lead..], self.eof) {
                IsaStatus::Partial => {
                    self.fill()?;
                    continue;
                }
                IsaStatus::Complete(isa) => {
                    let term = isa.delimiters.segment;
                    let span = loop {
                        match frame(&self.buf[self.pos + lead..self.len], term, self.eof) {
                            Frame::Complete(s) => break s,
                            Frame::Partial => self.fill()?,
                            Frame::Blank(_) => unreachable!("an ISA was read at this position"),
                        }
                    };
                    let span = Span {
                        start: 0,
                        content_start: span.content_start + lead,
                        content_end: span.content_end + lead,
                        end: span.end + lead,
                        terminated: span.terminated,
                    };
                    let position = self.position_of(&span);
                    if span.content_end - span.content_start != isa.content_len {
                        return Err(Error::not_x12(
                            "the ISA's terminator also occurs inside the ISA",
                            Some(position),
                        ));
                    }
                    // Blanks between interchanges are ordinary; before the
                    // first ISA they are not.
                    let bom = if self.noted & NOTE_BOM != 0 && !self.started {
                        UTF8_BOM.len()
                    } else {
                        0
                    };
                    if !self.started && lead > bom {
                        self.note(
                            NOTE_LEAD,
                            position,
                            "blanks or line breaks precede the ISA",
                            findings,
                        );
                    }
                    if !isa.is_padded() {
                        let detail = isa
                            .bad_widths
                            .iter()
                            .map(|(n, len)| {
                                format!(
                                    "ISA{n:02} has {len} characters, not {}",
                                    crate::lex::isa::FIELD_WIDTHS[n - 1]
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ");
                        findings(
                            Finding::new(
                                RuleId::LenientRead,
                                self.label.clone(),
                                position,
                                format!("the ISA is not padded to 106 bytes ({detail}); read by its separators"),
                            )
                            .with_element("ISA"),
                        );
                    }
                    if let Some(note) = isa.repetition_note {
                        findings(
                            Finding::new(
                                RuleId::LenientRead,
                                self.label.clone(),
                                position,
                                format!("{note}; repetitions are not split"),
                            )
                            .with_element("ISA11"),
                        );
                    }
                    self.delims = Some(isa.delimiters);
                    self.last_delims = Some(isa.delimiters);
                    self.started = true;
                    return Ok(Next::Isa(span));
                }
                IsaStatus::Invalid(reason) => {
                    let position = Position {
                        segment: self.next_segment,
                        offset: self.buf_offset + (self.pos + lead) as u64,
                    };
                    let Some(delims) = self.last_delims.filter(|_| self.started) else {
                        return Err(Error::not_x12(reason, Some(position)));
                    };
                    // (The envelope checker reports the stray segment.)
                    // Bytes after an IEA that are not an ISA: keep them as a
                    // stray segment framed with the last terminator.
                    let span = loop {
                        match frame(&self.buf[self.pos..self.len], delims.segment, self.eof) {
                            Frame::Complete(s) => break s,
                            Frame::Partial => self.fill()?,
                            Frame::Blank(_) => unreachable!("non-blank bytes were seen"),
                        }
                    };
                    self.delims = None;
                    return Ok(Next::Segment(span));
                }
            }
        }
    }

    fn note(
        &mut self,
        kind: u8,
        position: Position,
        what: &str,
        findings: &mut dyn FnMut(Finding),
    ) {
        if self.noted & kind == 0 {
            self.noted |= kind;
            findings(Finding::new(
                RuleId::LenientRead,
                self.label.clone(),
                position,
                format!("{what} (reported once per file)"),
            ));
        }
    }

    fn note_segment(&mut self, span: &Span, findings: &mut dyn FnMut(Finding)) {
        if span.content_start == span.start && span.terminated {
            // The common case: nothing to look at beyond the id.
            let content = self.content(span);
            let element = self.delims.map_or(b'*', |d| d.element);
            let id = &content[..content.len().min(3)];
            let clean_id = !id.is_empty() && !id.iter().any(u8::is_ascii_lowercase);
            if clean_id && content.last() != Some(&element) {
                return;
            }
        }
        let position = self.position_of(span);
        let buf = &self.buf[self.pos..];
        let blank_line = span.lead_has_line_break(buf);
        let indented = span.lead_has_blank(buf);
        let content = self.content(span);
        let element = self.delims.map_or(b'*', |d| d.element);
        let id_end = memchr::memchr(element, content).unwrap_or(content.len());
        let lowercase = content[..id_end].iter().any(u8::is_ascii_lowercase);
        let trailing = content.len() > id_end && content.last() == Some(&element);
        if blank_line {
            self.note(
                NOTE_BLANK_LINE,
                position,
                "a blank line separates segments",
                findings,
            );
        }
        if indented {
            self.note(
                NOTE_INDENT,
                position,
                "a segment is indented with blanks",
                findings,
            );
        }
        if !span.terminated {
            self.note(
                NOTE_UNTERMINATED,
                position,
                "the last segment has no terminator",
                findings,
            );
        }
        if lowercase {
            self.note(
                NOTE_LOWERCASE,
                position,
                "a segment id is in lower case",
                findings,
            );
        }
        if trailing {
            self.note(
                NOTE_TRAILING_SEP,
                position,
                "a segment ends with an empty element separator",
                findings,
            );
        }
    }

    /// Reads more input into the buffer. When the buffer has no room for a
    /// chunk after its bytes, or a block still holds it, the bytes still
    /// needed (the unread ones, and the block being read from its first
    /// byte) move to the front of this buffer, or of another one, to where
    /// the read after them lands on a 64-byte boundary: this machine's
    /// kernel copied whole pages of a file into memory that was not aligned
    /// three times as slowly.
    fn fill(&mut self) -> Result<()> {
        if self.eof {
            return Ok(());
        }
        let unread = self.len - self.pos;
        if unread > self.cfg.max_transaction_bytes {
            return Err(Error::new(
                ErrorKind::SegmentTooLong {
                    limit: self.cfg.max_transaction_bytes,
                },
                Some(Position {
                    segment: self.next_segment,
                    offset: self.buf_offset + self.pos as u64,
                }),
            ));
        }
        let chunk = self.cfg.chunk_size;
        let shared = Arc::get_mut(&mut self.buf).is_none();
        if shared || self.buf.len() - self.len < chunk {
            self.make_room(chunk);
        }
        // The read ends on a 64-byte boundary too, so that the next one,
        // after it, starts on one (a file fills whole reads).
        let mut end = (self.len + chunk).min(self.buf.len());
        let past = (self.buf.as_ptr() as usize + end) % 64;
        if end - self.len > past {
            end -= past;
        }
        let buf = Arc::get_mut(&mut self.buf).expect("no block holds the buffer after make_room");
        loop {
            match self.rdr.read(&mut buf[self.len..end]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Io(e),
                        Some(Position {
                            segment: self.next_segment,
                            offset: self.buf_offset + self.len as u64,
                        }),
                    ))
                }
            }
        }
    }

    /// Moves the bytes still needed to the front of a buffer no block
    /// holds, with room for a chunk after them (see [`Reader::fill`]).
    fn make_room(&mut self, chunk: usize) {
        let keep = self
            .pin
            .map_or(self.pos, |p| (p - self.buf_offset) as usize)
            .min(self.pos);
        let kept = self.len - keep;
        // Four chunks at least, so that bytes move every few reads; half
        // as much again as is kept, so that a long transaction moves a few
        // times over, not once a read.
        let size = (4 * chunk).max(kept + kept / 2 + chunk + 64);
        // When a block holds this buffer, the bytes go to a spare no block
        // holds any more, or a new one.
        let old = Arc::get_mut(&mut self.buf).is_none().then(|| {
            let spare = self
                .spares
                .iter()
                .position(|b| Arc::strong_count(b) == 1)
                .map(|i| self.spares.swap_remove(i))
                .unwrap_or_default();
            std::mem::replace(&mut self.buf, spare)
        });
        let buf = Arc::get_mut(&mut self.buf).expect("a buffer no block holds");
        grow(buf, size);
        let to = aligned_at(buf.as_ptr() as usize, kept, self.buf_offset + keep as u64);
        match old {
            Some(old) => {
                buf[to..to + kept].copy_from_slice(&old[keep..self.len]);
                if self.spares.len() < MAX_SPARES {
                    self.spares.push(old);
                }
            }
            None => buf.copy_within(keep..self.len, to),
        }
        self.moved(keep, to);
    }

    /// Notes that the bytes from `keep` on now start at `to`.
    fn moved(&mut self, keep: usize, to: usize) {
        self.buf_offset = self.buf_offset + keep as u64 - to as u64;
        self.pos = self.pos - keep + to;
        self.len = self.len - keep + to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytewise reading of [`plain_head`]'s rules.
    fn plain_head_bytewise(content: &[u8], sep: u8) -> bool {
        let head = &content[..content.len().min(3)];
        if head.iter().any(u8::is_ascii_lowercase) || content.last() == Some(&sep) {
            return false;
        }
        let id = match memchr::memchr(sep, &content[..content.len().min(4)]) {
            Some(i) => &content[..i],
            None if content.len() <= 3 => content,
            None => &[][..],
        };
        !(matches!(id, b"ST" | b"SE" | b"GS" | b"GE" | b"IEA" | b"ISA")
            || crate::lex::isa::looks_like_isa(content))
    }

    #[test]
    fn framed_spans_read_back_as_framed() {
        let top = 2 * MAX_BLOCK_LIMIT;
        for (start, content_start, content_end, end) in [
            (0, 0, 0, 0),
            (0, 3, 10, 12),
            (5, 5, 9, 10),
            (top - 9, top - 8, top - 2, top),
        ] {
            for terminated in [false, true] {
                let span = Span {
                    start,
                    content_start,
                    content_end,
                    end,
                    terminated,
                };
                let f = Framed::new(span, 0b1010);
                assert_eq!(f.span(), span);
                assert_eq!(f.seps, 0b1010);
            }
        }
        assert_eq!(std::mem::size_of::<Framed>(), 24);
        // Limits a block's offsets can hold.
        let cfg = ReaderBuilder::new().max_transaction_bytes(usize::MAX);
        assert_eq!(cfg.max_transaction_bytes, MAX_BLOCK_LIMIT);
        assert_eq!(
            ReaderBuilder::new()
                .max_transaction_bytes(1)
                .max_transaction_bytes,
            1024
        );
    }

    /// Reads after the first land on 64-byte boundaries (the kernel's
    /// fast copy), and the file reads back the same from every size of
    /// read.
    #[test]
    fn reads_land_on_64_byte_boundaries() {
        struct Recording<'a> {
            rest: &'a [u8],
            aligned: Vec<bool>,
        }
        impl Read for Recording<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.aligned.push(buf.as_ptr() as usize % 64 == 0);
                let n = buf.len().min(self.rest.len());
                buf[..n].copy_from_slice(&self.rest[..n]);
                self.rest = &self.rest[n..];
                Ok(n)
            }
        }
        let input = sample("837p-multi-transaction.edi");
        let read_all = |chunk: usize| {
            let mut src = Recording {
                rest: &input,
                aligned: Vec::new(),
            };
            let mut rdr = ReaderBuilder::new()
                .chunk_size(chunk)
                .from_reader(&mut src, "t");
            let mut block = Block::new();
            let mut blocks = Vec::new();
            while rdr.read_block(&mut block, &mut |_| {}).unwrap() {
                blocks.push((
                    block.offset(),
                    block.bytes().to_vec(),
                    block.spans().collect::<Vec<_>>(),
                ));
            }
            (blocks, src.aligned)
        };
        let (want, _) = read_all(1 << 20);
        for chunk in [128, 300, 500] {
            let (got, aligned) = read_all(chunk);
            assert_eq!(got, want, "{chunk}");
            // Those after the first, but for the end's empty read.
            let later = &aligned[1..aligned.len() - 1];
            assert!(later.len() > 3, "{chunk}: {} reads", aligned.len());
            assert!(later.iter().all(|&a| a), "{chunk}: {later:?}");
        }
    }

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Blocks held while the reader goes on keep their bytes: the reader
    /// reads into another buffer rather than one a block holds. In order,
    /// the blocks' bytes make up the input.
    #[test]
    fn held_blocks_keep_their_bytes() {
        for name in ["837p-multi-transaction.edi", "837-two-interchanges.edi"] {
            let input = sample(name);
            for chunk in [64, 128, 300, 1 << 20] {
                let mut rdr = ReaderBuilder::new()
                    .chunk_size(chunk)
                    .from_reader(&input[..], "t");
                let mut block = Block::new();
                let mut held = Vec::new();
                while rdr.read_block(&mut block, &mut |_| {}).unwrap() {
                    held.push(block.clone());
                }
                let mut whole = Vec::new();
                for b in &held {
                    let at = b.offset() as usize;
                    assert_eq!(
                        b.bytes(),
                        &input[at..at + b.bytes().len()],
                        "{name} {chunk}"
                    );
                    for seg in b.segments() {
                        let at = seg.position().offset as usize;
                        assert_eq!(seg.as_bytes(), &input[at..at + seg.as_bytes().len()]);
                    }
                    whole.extend_from_slice(b.bytes());
                }
                assert_eq!(whole, input, "{name} {chunk}");
                // Small reads fill several buffers while blocks hold them.
                let buffers: std::collections::HashSet<_> =
                    held.iter().map(|b| Arc::as_ptr(&b.buf)).collect();
                assert!(chunk > 1000 || buffers.len() > 1, "{name} {chunk}");
            }
        }
    }

    /// A block read into again lets go of the buffer first, so that one
    /// buffer serves the whole input: no copy of a transaction, and no
    /// buffer per read.
    #[test]
    fn a_reused_block_lets_the_reader_reuse_its_buffer() {
        let input = sample("837p-multi-transaction.edi");
        for chunk in [64, 300] {
            let mut rdr = ReaderBuilder::new()
                .chunk_size(chunk)
                .from_reader(&input[..], "t");
            let mut block = Block::new();
            let mut buffers = std::collections::HashSet::new();
            let mut blocks = 0;
            while rdr.read_block(&mut block, &mut |_| {}).unwrap() {
                buffers.insert(Arc::as_ptr(&block.buf));
                blocks += 1;
            }
            assert!(blocks > 5, "{blocks}");
            assert_eq!(buffers.len(), 1, "{chunk}");
            assert!(rdr.spares.is_empty());
        }
    }

    #[test]
    fn plain_head_agrees_with_the_bytewise_rules() {
        // Every head over an alphabet of the interesting bytes, with and
        // without a tail, for two separators.
        let alphabet = b"SGITEAsgia1*|:~ \x80\xE1z{`@";
        for sep in [b'*', b'|'] {
            for len in 0..=4usize {
                let mut idx = vec![0usize; len];
                loop {
                    let head: Vec<u8> = idx.iter().map(|&i| alphabet[i]).collect();
                    for tail in [&b""[..], b"*X", b"|Y*"] {
                        let mut c = head.clone();
                        c.extend_from_slice(tail);
                        assert_eq!(
                            plain_head(&c, sep),
                            plain_head_bytewise(&c, sep),
                            "{:?} sep {}",
                            String::from_utf8_lossy(&c),
                            sep as char
                        );
                    }
                    // Next combination, odometer style.
                    let mut k = 0;
                    while k < len {
                        idx[k] += 1;
                        if idx[k] < alphabet.len() {
                            break;
                        }
                        idx[k] = 0;
                        k += 1;
                    }
                    if k == len {
                        break;
                    }
                }
            }
        }
    }
}
