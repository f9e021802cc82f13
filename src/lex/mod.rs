//! Lexing: delimiters, segments, elements and components as borrowed slices.
//!
//! What goes in is bytes; what comes out borrows from them. Nothing here
//! allocates: a [`Segment`] finds its first element separators once, when
//! it is made (eight bytes at a time), and keeps their positions inline, so
//! [`Segment::element`] is a lookup however often it is asked;
//! [`Element::component`] walks the element's few bytes.
//!
//! - [`isa`] reads the fixed-width ISA and detects the [`Delimiters`].
//! - [`framer`] cuts one segment off the front of a buffer, or says it needs
//!   more bytes ([`framer::Frame::Partial`]), in the manner of `httparse`.

pub mod framer;
pub mod isa;

use std::fmt;

use crate::finding::Position;

/// The four separators of an interchange, read from its ISA.
///
/// ```
/// use scrub837::lex::Delimiters;
/// let d = Delimiters::STANDARD;
/// assert_eq!((d.element, d.component, d.repetition, d.segment), (b'*', b':', Some(b'^'), b'~'));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
// Eight bytes, aligned: every segment carries a copy, made in one move.
#[repr(align(8))]
pub struct Delimiters {
    /// Element separator: byte 3 of the ISA.
    pub element: u8,
    /// Component (sub-element) separator: ISA16.
    pub component: u8,
    /// Repetition separator: ISA11 in 5010, when it is usable punctuation.
    pub repetition: Option<u8>,
    /// Segment terminator: the byte after ISA16.
    pub segment: u8,
}

impl Delimiters {
    /// `*`, `:`, `^` and `~`, the most common set.
    pub const STANDARD: Delimiters = Delimiters {
        element: b'*',
        component: b':',
        repetition: Some(b'^'),
        segment: b'~',
    };
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters::STANDARD
    }
}

/// A segment id, upper-cased and packed for cheap comparison.
///
/// ```
/// use scrub837::lex::SegmentId;
/// assert_eq!(SegmentId::from_bytes(b"nm1"), Some(SegmentId::new(b"NM1")));
/// assert_eq!(SegmentId::new(b"CLM").to_string(), "CLM");
/// assert_eq!(SegmentId::from_bytes(b"N1X2"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SegmentId([u8; 3]);

impl PartialOrd for SegmentId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered as one integer: the loop builder binary-searches ids per segment.
impl Ord for SegmentId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The bytes an id takes as it is: `A`..=`Z` and `0`..=`9`.
static ID_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_uppercase() || c.is_ascii_digit();
        i += 1;
    }
    t
};

impl SegmentId {
    /// The id as one integer (never 0 for an id from
    /// [`SegmentId::new`] or [`SegmentId::from_bytes`]).
    #[inline]
    pub fn key(&self) -> u32 {
        u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]])
    }

    /// Packs a known-good 2 or 3 byte id; shorter ids are padded with NUL.
    ///
    /// # Panics
    ///
    /// When `id` is not two or three ASCII letters or digits (a programming
    /// error: use [`SegmentId::from_bytes`] for input).
    pub const fn new(id: &[u8]) -> SegmentId {
        assert!(id.len() == 2 || id.len() == 3);
        let mut out = [0u8; 3];
        let mut i = 0;
        while i < id.len() {
            assert!(id[i].is_ascii_alphanumeric());
            out[i] = id[i].to_ascii_uppercase();
            i += 1;
        }
        SegmentId(out)
    }

    /// Reads an id from input: two or three letters or digits, any case.
    #[inline(always)]
    pub fn from_bytes(id: &[u8]) -> Option<SegmentId> {
        // The usual case: upper-case letters and digits, taken as they are.
        // A table and `&` (not `&&`): three loads and no branch per byte.
        let plain = |c: u8| ID_BYTE[usize::from(c)];
        match *id {
            [a, b] if plain(a) & plain(b) => Some(SegmentId([a, b, 0])),
            [a, b, c] if plain(a) & plain(b) & plain(c) => Some(SegmentId([a, b, c])),
            _ => Self::from_bytes_slow(id),
        }
    }

    /// [`SegmentId::from_bytes`] for lower-case and malformed ids.
    #[cold]
    fn from_bytes_slow(id: &[u8]) -> Option<SegmentId> {
        if !(2..=3).contains(&id.len()) || !id.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut out = [0u8; 3];
        for (o, b) in out.iter_mut().zip(id) {
            *o = b.to_ascii_uppercase();
        }
        Some(SegmentId(out))
    }

    /// The id's bytes, without padding.
    pub fn as_bytes(&self) -> &[u8] {
        if self.0[2] == 0 {
            &self.0[..2]
        } else {
            &self.0
        }
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(self.as_bytes()).unwrap_or("???"))
    }
}

/// One segment: its bytes without terminator or surrounding line breaks,
/// the delimiters to split it with, and where it sits in the file.
///
/// Elements are numbered from 1 as in X12 (`NM109` is `element(9)`); the
/// segment id is element 0.
///
/// ```
/// use scrub837::lex::{Delimiters, Segment};
/// use scrub837::Position;
/// let seg = Segment::new(b"SV1*HC:99213:25*100*UN*1", Delimiters::STANDARD, Position::default());
/// assert_eq!(seg.id_bytes(), b"SV1");
/// assert_eq!(seg.element(2).unwrap().as_bytes(), b"100");
/// let proc = seg.element(1).unwrap();
/// assert_eq!(proc.component(2), Some(&b"99213"[..]));
/// assert_eq!(proc.components().count(), 3);
/// assert!(seg.element(9).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    bytes: &'a [u8],
    delims: Delimiters,
    position: Position,
    /// Bit `i` is set when byte `i` is an element separator, for segments
    /// of at most [`INDEXED_MAX`] bytes: found once, when the segment is
    /// made, so the loop builder, the claim model and every other reader of
    /// elements share one scan of the bytes. Longer segments (rare) are
    /// scanned on each lookup instead.
    seps: u64,
}

/// The longest segment whose separators [`Segment`] indexes.
pub(crate) const INDEXED_MAX: usize = 64;

/// The element separators of `b` as a bitmap (bit `i`: byte `i`), eight
/// bytes at a time; the last, partial word is read with overlapping loads,
/// never byte by byte. `b` is at most [`INDEXED_MAX`] bytes.
#[inline(always)]
pub(crate) fn index_seps(b: &[u8], sep: u8) -> u64 {
    let len = b.len();
    debug_assert!(len <= INDEXED_MAX);
    let bc = u64::from_ne_bytes([sep; 8]);
    // Whole words last to first, each shifting the ones after it up: a
    // recurrence, which the compiler leaves scalar (as an OR of shifted
    // words it vectorises the loop, slowly, for these few words).
    let base = len & !7;
    let mut map = 0u64;
    let mut at = base;
    while at > 0 {
        at -= 8;
        map = (map << 8) | gather_high_bits(zero_bytes(load8(&b[at..at + 8]) ^ bc));
    }
    if base < len {
        let bits = if len >= 8 {
            // The eight bytes that end the segment, less those seen.
            gather_high_bits(zero_bytes(load8(&b[len - 8..]) ^ bc)) >> (base + 8 - len)
        } else {
            // A segment shorter than eight bytes, zero-padded; the padding
            // is masked off.
            gather_high_bits(zero_bytes(load_short(b) ^ bc)) & ((1u64 << len) - 1)
        };
        map |= bits << base;
    }
    map
}

/// Where `a` and `b` occur in 64 bytes, as two bitmaps (bit `i`: byte
/// `i`): the reader classifies a window once and frames the two or three
/// segments in it from the bitmaps. SSE2 (part of every x86-64) compares
/// sixteen bytes an instruction; elsewhere [`window_masks_swar`].
#[inline(always)]
pub(crate) fn window_masks(w: &[u8; 64], a: u8, b: u8) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use safe_arch::set_splat_i8_m128i;
        use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
        let (va, vb) = (set_splat_i8_m128i(a as i8), set_splat_i8_m128i(b as i8));
        let (mut ma, mut mb) = (0u64, 0u64);
        for k in 0..4 {
            let lane: &[u8; 16] = w[16 * k..16 * k + 16].try_into().expect("16 bytes");
            let v = load_unaligned_m128i(lane);
            ma |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, va)) as u16) << (16 * k);
            mb |= u64::from(move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, vb)) as u16) << (16 * k);
        }
        (ma, mb)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        window_masks_swar(w, a, b)
    }
}

/// [`window_masks`] eight bytes at a time ([`index_seps`] for each byte),
/// for targets without SSE2 (and as the reference the SSE2 version is
/// tested against).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn window_masks_swar(w: &[u8; 64], a: u8, b: u8) -> (u64, u64) {
    (index_seps(w, a), index_seps(w, b))
}

/// The high bits of the eight bytes of `m` (which has no other bits set),
/// as the low eight bits (bit `j`: byte `j`). The multiplier moves byte
/// `j`'s bit to bit `56 + j`; no two products share a bit, so nothing
/// carries.
#[inline(always)]
pub(crate) fn gather_high_bits(m: u64) -> u64 {
    (m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Eight bytes as a little-endian word.
#[inline(always)]
pub(crate) fn load8(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("eight bytes"))
}

/// Up to seven bytes as a little-endian word, zero-padded: two overlapping
/// loads (their common bytes agree, so OR-ing them is exact).
#[inline(always)]
pub(crate) fn load_short(b: &[u8]) -> u64 {
    let len = b.len();
    if len >= 4 {
        let lo = u64::from(u32::from_le_bytes(b[..4].try_into().expect("four bytes")));
        let hi = u64::from(u32::from_le_bytes(
            b[len - 4..].try_into().expect("four bytes"),
        ));
        lo | (hi << (8 * (len - 4)))
    } else if len > 0 {
        u64::from(b[0])
            | (u64::from(b[len / 2]) << (8 * (len / 2)))
            | (u64::from(b[len - 1]) << (8 * (len - 1)))
    } else {
        0
    }
}

/// The high bit of each zero byte of `x`, and no other bit: exact, as no
/// carry crosses a byte (`x & LO7` + `LO7` stays within the byte).
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7).wrapping_add(LO7)) | x | LO7)
}

/// A segment's separator bitmap as [`Segment`] keeps it: [`index_seps`]
/// for content of at most [`INDEXED_MAX`] bytes, 0 (not indexed) above.
#[inline]
pub(crate) fn segment_seps(content: &[u8], sep: u8) -> u64 {
    if content.len() <= INDEXED_MAX {
        index_seps(content, sep)
    } else {
        0
    }
}

impl<'a> Segment<'a> {
    /// A segment over `bytes` (no terminator).
    #[inline]
    pub fn new(bytes: &'a [u8], delims: Delimiters, position: Position) -> Segment<'a> {
        let seps = segment_seps(bytes, delims.element);
        Segment {
            bytes,
            delims,
            position,
            seps,
        }
    }

    /// A segment whose separator bitmap the reader found while framing it
    /// (see [`index_seps`]; 0 for a segment over [`INDEXED_MAX`] bytes).
    #[inline]
    pub(crate) fn with_seps(
        bytes: &'a [u8],
        delims: Delimiters,
        position: Position,
        seps: u64,
    ) -> Segment<'a> {
        debug_assert_eq!(seps, segment_seps(bytes, delims.element));
        Segment {
            bytes,
            delims,
            position,
            seps,
        }
    }

    /// The element separators as a bitmap with one more bit set at the
    /// segment's length, so that every element ends at a set bit; `None`
    /// for a segment of 64 bytes or more. The element checker walks this
    /// instead of scanning the bytes again.
    #[inline(always)]
    pub(crate) fn field_ends(&self) -> Option<u64> {
        (self.bytes.len() < 64).then(|| self.seps | 1 << self.bytes.len())
    }

    /// Whether the separators are in `seps`.
    #[inline(always)]
    fn indexed(&self) -> bool {
        self.bytes.len() <= INDEXED_MAX
    }

    /// The bytes of element `n` (1-based), if present.
    #[inline(always)]
    fn element_bytes(&self, n: usize) -> Option<&'a [u8]> {
        if !self.indexed() {
            return self.element_scan(n);
        }
        let (start, end) = self.indexed_element_range(n)?;
        Some(&self.bytes[start..end])
    }

    /// Where element `n` (1-based) lies in [`Segment::as_bytes`], as
    /// `start..end`, for a segment whose separators are indexed; `None`
    /// when it is not indexed or has no element `n`. The loop builder reads
    /// its qualifiers with this and one word load.
    #[inline(always)]
    pub(crate) fn indexed_element_range(&self, n: usize) -> Option<(usize, usize)> {
        if !self.indexed() || n == 0 {
            return None;
        }
        let mut m = self.seps;
        for _ in 1..n {
            m &= m.wrapping_sub(1);
        }
        if m == 0 {
            return None;
        }
        let start = m.trailing_zeros() as usize + 1;
        m &= m.wrapping_sub(1);
        let end = if m == 0 {
            self.bytes.len()
        } else {
            m.trailing_zeros() as usize
        };
        Some((start, end))
    }

    /// [`Segment::element_bytes`] for a segment too long to index: one pass
    /// to the n-th separator.
    #[cold]
    fn element_scan(&self, n: usize) -> Option<&'a [u8]> {
        if n == 0 {
            return None;
        }
        let (b, sep) = (self.bytes, self.delims.element);
        let mut seen = 0;
        let mut start = 0;
        let mut end = None;
        each_sep(b, sep, |i| {
            seen += 1;
            if seen == n {
                start = i + 1;
            } else if seen > n {
                end = Some(i);
                return false;
            }
            true
        });
        match end {
            Some(i) => Some(&b[start..i]),
            None => (seen >= n).then(|| &b[start..]),
        }
    }

    /// The segment's bytes, without terminator.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where the segment sits in its file.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The delimiters of the segment's interchange.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The raw id: everything before the first element separator.
    #[inline]
    pub fn id_bytes(&self) -> &'a [u8] {
        let end = if !self.indexed() {
            find(self.delims.element, self.bytes)
        } else if self.seps != 0 {
            Some(self.seps.trailing_zeros() as usize)
        } else {
            None
        };
        match end {
            Some(i) => &self.bytes[..i],
            None => self.bytes,
        }
    }

    /// The id, upper-cased, when it is a well-formed id.
    #[inline]
    pub fn id(&self) -> Option<SegmentId> {
        // The usual segment: indexed, three bytes or more, a plain id. The
        // first three bytes are read whatever the id's length, so the test
        // is two table loads per byte and one branch on the length.
        let b = self.bytes;
        if self.indexed() && b.len() >= 3 {
            let n = if self.seps != 0 {
                self.seps.trailing_zeros()
            } else {
                b.len() as u32
            };
            let (x, y, z) = (b[0], b[1], b[2]);
            let two = ID_BYTE[usize::from(x)] & ID_BYTE[usize::from(y)];
            if n == 2 && two {
                return Some(SegmentId([x, y, 0]));
            }
            if n == 3 && two & ID_BYTE[usize::from(z)] {
                return Some(SegmentId([x, y, z]));
            }
        }
        SegmentId::from_bytes(self.id_bytes())
    }

    /// Whether the id is `id`, ignoring case.
    pub fn is(&self, id: &[u8]) -> bool {
        self.id_bytes().eq_ignore_ascii_case(id)
    }

    /// Element `n` (1-based), or `None` past the last element. An element
    /// that is present but empty is `Some` with empty bytes.
    pub fn element(&self, n: usize) -> Option<Element<'a>> {
        self.element_bytes(n).map(|b| self.make_element(b))
    }

    fn make_element(&self, bytes: &'a [u8]) -> Element<'a> {
        Element {
            bytes,
            delims: self.delims,
        }
    }

    /// The bytes of element `n`, empty when the element is absent.
    #[inline(always)]
    pub fn value(&self, n: usize) -> &'a [u8] {
        self.element_bytes(n).unwrap_or(&[])
    }

    /// The elements after the id, in order.
    pub fn elements(&self) -> Elements<'a> {
        if self.indexed() {
            // The separator bitmap gives every element's end.
            return match self.seps {
                0 => Elements::done(self),
                m => Elements {
                    bytes: self.bytes,
                    at: m.trailing_zeros() as usize + 1,
                    seps: Some(m & (m - 1)),
                    delims: self.delims,
                },
            };
        }
        match find(self.delims.element, self.bytes) {
            Some(i) => Elements {
                bytes: self.bytes,
                at: i + 1,
                seps: None,
                delims: self.delims,
            },
            None => Elements::done(self),
        }
    }

    /// The first `N` elements, split in one pass.
    pub fn fields<const N: usize>(&self) -> Fields<'a, N> {
        let mut out = Fields {
            els: [&[][..]; N],
            len: 0,
        };
        if !self.indexed() {
            return self.fields_scan(out);
        }
        let mut m = self.seps;
        if N == 0 || m == 0 {
            return out;
        }
        let len = self.bytes.len();
        let mut start = m.trailing_zeros() as usize + 1;
        m &= m - 1;
        for el in out.els.iter_mut() {
            let end = if m == 0 {
                len
            } else {
                m.trailing_zeros() as usize
            };
            *el = &self.bytes[start..end];
            out.len += 1;
            if m == 0 {
                break;
            }
            start = end + 1;
            m &= m - 1;
        }
        out
    }

    /// [`Segment::fields`] for a segment too long to index.
    #[cold]
    fn fields_scan<const N: usize>(&self, mut out: Fields<'a, N>) -> Fields<'a, N> {
        if N == 0 {
            return out;
        }
        let (b, sep) = (self.bytes, self.delims.element);
        // usize::MAX: still in the id.
        let mut start = usize::MAX;
        each_sep(b, sep, |i| {
            if start != usize::MAX {
                out.els[out.len] = &b[start..i];
                out.len += 1;
            }
            start = i + 1;
            out.len < N
        });
        if start != usize::MAX && out.len < N {
            out.els[out.len] = &b[start..];
            out.len += 1;
        }
        out
    }

    /// How many elements follow the id (trailing empty ones included).
    pub fn element_count(&self) -> usize {
        if self.indexed() {
            self.seps.count_ones() as usize
        } else {
            memchr::memchr_iter(self.delims.element, self.bytes).count()
        }
    }
}

/// The first `N` elements of a segment, split in one pass: for code that
/// reads several elements of one segment.
///
/// ```
/// use scrub837::lex::{Delimiters, Segment};
/// use scrub837::Position;
/// let seg = Segment::new(b"CLM*PCN1*150***11:B:1", Delimiters::STANDARD, Position::default());
/// let f = seg.fields::<8>();
/// assert_eq!(f.get(1), b"PCN1");
/// assert_eq!(f.get(4), b"");
/// assert_eq!(f.get(5), b"11:B:1");
/// assert_eq!(f.get(7), b"");
/// assert_eq!(f.len(), 5);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a, const N: usize> {
    els: [&'a [u8]; N],
    len: usize,
}

impl<'a, const N: usize> Fields<'a, N> {
    /// Element `n` (1-based); empty when absent or beyond `N`.
    #[inline]
    pub fn get(&self, n: usize) -> &'a [u8] {
        match n.checked_sub(1) {
            Some(i) if i < self.len => self.els[i],
            _ => &[],
        }
    }

    /// How many elements were split (at most `N`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the segment has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Iterator over the elements of a segment.
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    /// The whole segment.
    bytes: &'a [u8],
    /// Where the next element starts; past the end when there is none.
    at: usize,
    /// The separators after `at`, for an indexed segment; `None`: found by
    /// scanning.
    seps: Option<u64>,
    delims: Delimiters,
}

impl<'a> Elements<'a> {
    fn done(seg: &Segment<'a>) -> Elements<'a> {
        Elements {
            bytes: seg.bytes,
            at: seg.bytes.len() + 1,
            seps: None,
            delims: seg.delims,
        }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    #[inline]
    fn next(&mut self) -> Option<Element<'a>> {
        let len = self.bytes.len();
        if self.at > len {
            return None;
        }
        let end = match &mut self.seps {
            Some(0) => len,
            Some(m) => {
                let i = m.trailing_zeros() as usize;
                *m &= *m - 1;
                i
            }
            None => find(self.delims.element, &self.bytes[self.at..]).map_or(len, |i| self.at + i),
        };
        let bytes = &self.bytes[self.at..end];
        self.at = end + 1;
        Some(Element {
            bytes,
            delims: self.delims,
        })
    }
}

/// One element: simple, or a composite of components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    bytes: &'a [u8],
    delims: Delimiters,
}

impl<'a> Element<'a> {
    /// The element's raw bytes, components and all.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the element is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the element holds a component separator.
    pub fn is_composite(&self) -> bool {
        find(self.delims.component, self.bytes).is_some()
    }

    /// Component `n` (1-based); a simple element is its own component 1.
    pub fn component(&self, n: usize) -> Option<&'a [u8]> {
        self.components().nth(n.checked_sub(1)?)
    }

    /// The components, in order.
    pub fn components(&self) -> Split<'a> {
        Split {
            rest: Some(self.bytes),
            sep: self.delims.component,
        }
    }

    /// The repetitions of the element; one unless the interchange declares a
    /// repetition separator and the element uses it.
    pub fn repetitions(&self) -> Split<'a> {
        Split {
            rest: Some(self.bytes),
            // A separator the element cannot contain: the segment terminator.
            sep: self.delims.repetition.unwrap_or(self.delims.segment),
        }
    }
}

/// Iterator over the parts of an element split on one separator.
#[derive(Clone, Debug)]
pub struct Split<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match find(self.sep, rest) {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The name findings give an element: the segment id and the 2-digit
/// position, with a dash when the id ends in a digit (`DTP03`, `CLM02`,
/// `SV2-01`, `NM1-09`).
///
/// ```
/// assert_eq!(scrub837::lex::element_name(b"DTP", 3), "DTP03");
/// assert_eq!(scrub837::lex::element_name(b"SV2", 1), "SV2-01");
/// ```
pub fn element_name(id: &[u8], n: usize) -> String {
    let id = String::from_utf8_lossy(id);
    if id.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{id}-{n:02}")
    } else {
        format!("{id}{n:02}")
    }
}

const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// Calls `f` with the index of each `sep` in `b`, in order, until it
/// returns `false`. Eight bytes at a time (SWAR): segments are a few dozen
/// bytes, too short for memchr's set-up to pay off, too long for a plain
/// byte loop to be cheap.
#[inline(always)]
pub(crate) fn each_sep(b: &[u8], sep: u8, mut f: impl FnMut(usize) -> bool) {
    let bc = u64::from_ne_bytes([sep; 8]);
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("an 8-byte slice"));
        let x = w ^ bc;
        // High bit of each byte of `x` that is zero; exact (no carries
        // cross bytes, as `x & LO7` + `LO7` stays within the byte).
        let mut m = !(((x & LO7).wrapping_add(LO7)) | x | LO7);
        while m != 0 {
            if !f(i + (m.trailing_zeros() / 8) as usize) {
                return;
            }
            m &= m - 1;
        }
        i += 8;
    }
    while i < b.len() {
        if b[i] == sep && !f(i) {
            return;
        }
        i += 1;
    }
}

/// The first `sep` in `b`: eight bytes at a time over the first 64 bytes,
/// where nearly every segment ends, then memchr for the rest. For framing,
/// where memchr's set-up costs more than a short segment's scan.
#[inline]
pub(crate) fn find_terminator(b: &[u8], sep: u8) -> Option<usize> {
    let head = &b[..b.len().min(64)];
    let mut found = None;
    each_sep(head, sep, |i| {
        found = Some(i);
        false
    });
    match found {
        Some(i) => Some(i),
        None if head.len() == b.len() => None,
        None => memchr::memchr(sep, &b[64..]).map(|i| i + 64),
    }
}

/// Finds `b` in a short slice. Elements are a few bytes long, where a plain
/// loop beats memchr's set-up; segments are framed with memchr.
#[inline]
fn find(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&x| x == b)
}

/// A run of one to `max` ASCII digits (`max` at most 19, so no overflow)
/// as a number, checked and added up in one pass; `None` for anything
/// else. Counters and ids (LX01, HL01) are read with it.
#[inline(always)]
pub(crate) fn decimal(v: &[u8], max: usize) -> Option<u64> {
    debug_assert!(max <= 19);
    if v.is_empty() || v.len() > max {
        return None;
    }
    let mut n = 0;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

/// `trim_ascii`, with a quick exit for the usual value that has nothing to
/// trim: every ASCII whitespace byte is at most `b' '`, so a value whose
/// first and last bytes are above it is its own trim.
#[inline(always)]
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    match (v.first(), v.last()) {
        (Some(&a), Some(&z)) if a > b' ' && z > b' ' => v,
        (None, _) | (_, None) => v,
        _ => v.trim_ascii(),
    }
}

/// The elements (or components) of a value under 64 bytes in order, from
/// its separator map with one more bit at its length ([`Segment::field_ends`]):
/// each `next` is the bytes up to the next set bit, empty once past the
/// last. The values stay in registers, where an array of them would be
/// written out and read back.
pub(crate) struct Walk<'v> {
    bytes: &'v [u8],
    ends: u64,
    start: usize,
}

impl<'v> Walk<'v> {
    #[inline(always)]
    pub(crate) fn new(bytes: &'v [u8], ends: u64) -> Walk<'v> {
        debug_assert!(bytes.len() < 64 && ends >> bytes.len() == 1);
        Walk {
            bytes,
            ends,
            start: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn next(&mut self) -> &'v [u8] {
        match self.next_range() {
            Some(r) => &self.bytes[r],
            None => &[],
        }
    }

    /// Where the next value lies in the bytes; `None` once past the last.
    #[inline(always)]
    pub(crate) fn next_range(&mut self) -> Option<std::ops::Range<usize>> {
        if self.ends == 0 {
            return None;
        }
        let end = self.ends.trailing_zeros() as usize;
        self.ends &= self.ends - 1;
        let r = self.start..end;
        self.start = end + 1;
        Some(r)
    }
}

/// A [`Walk`] over the elements of `seg` after its id, when it is under 64
/// bytes.
#[inline(always)]
pub(crate) fn walk<'a>(seg: &Segment<'a>) -> Option<Walk<'a>> {
    let mut w = Walk::new(seg.as_bytes(), seg.field_ends()?);
    w.next();
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(b: &[u8]) -> Segment<'_> {
        Segment::new(b, Delimiters::STANDARD, Position::default())
    }

    #[test]
    fn elements_are_one_based_and_keep_empties() {
        let s = seg(b"NM1*IL*1*DOE*JOHN****MI*W123");
        assert_eq!(s.element_count(), 9);
        assert_eq!(s.value(1), b"IL");
        assert_eq!(s.value(5), b"");
        assert_eq!(s.value(9), b"W123");
        assert!(s.element(10).is_none());
        assert!(s.element(0).is_none());
        assert_eq!(s.value(10), b"");
    }

    #[test]
    fn segment_without_elements() {
        let s = seg(b"SE");
        assert_eq!(s.element_count(), 0);
        assert!(s.element(1).is_none());
        assert_eq!(s.id(), Some(SegmentId::new(b"SE")));
    }

    #[test]
    fn trailing_separator_is_an_empty_element() {
        let s = seg(b"REF*G1*A1*");
        assert_eq!(s.element_count(), 3);
        assert_eq!(s.value(3), b"");
    }

    #[test]
    fn components_and_repetitions() {
        let s = seg(b"HI*ABK:C50911*ABF:Z5111");
        let e = s.element(2).unwrap();
        assert_eq!(
            e.components().collect::<Vec<_>>(),
            vec![&b"ABF"[..], b"Z5111"]
        );
        assert!(e.is_composite());
        let r = seg(b"DMG*D8*19700101*F**A^B").element(5).unwrap();
        assert_eq!(r.repetitions().count(), 2);
        let d = Delimiters {
            repetition: None,
            ..Delimiters::STANDARD
        };
        let r2 = Segment::new(b"X*A^B", d, Position::default())
            .element(1)
            .unwrap();
        assert_eq!(r2.repetitions().count(), 1);
    }

    #[test]
    fn elements_match_a_split() {
        let long = [&b"NTE*ADD*"[..], &[b'X'; 70], b"*Y"].concat();
        let longer = [&b"NTE*"[..], &[b'*'; 80]].concat();
        let cases: [&[u8]; 10] = [
            b"",
            b"SE",
            b"SE*",
            b"**",
            b"HI*ABK:C50911*ABF:Z5111",
            b"REF*G1*A1*",
            b"NM1*IL*1*DOE*JOHN****MI*W123",
            b"X*1234567890123456789012345678901234567890123456789012345678*Z",
            &long,
            &longer,
        ];
        for b in cases {
            let want: Vec<&[u8]> = match b.iter().position(|&c| c == b'*') {
                Some(i) => b[i + 1..].split(|&c| c == b'*').collect(),
                None => Vec::new(),
            };
            let got: Vec<&[u8]> = seg(b).elements().map(|e| e.as_bytes()).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(b));
            assert_eq!(seg(b).element_count(), want.len());
        }
    }

    #[test]
    fn window_masks_match_a_byte_loop() {
        // Every byte value at every position, against both classes: a lane
        // or shift slip in either version moves a bit.
        let naive = |w: &[u8; 64], x: u8| (0..64).fold(0u64, |m, i| m | u64::from(w[i] == x) << i);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..2048 {
            let mut w = [0u8; 64];
            for b in w.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Mostly the classes themselves, so masks are dense.
                *b = match state % 4 {
                    0 => b'~',
                    1 => b'*',
                    _ => (state >> 8) as u8,
                };
            }
            let (a, b) = if round % 2 == 0 {
                (b'~', b'*')
            } else {
                ((round / 2) as u8, 0x80)
            };
            let want = (naive(&w, a), naive(&w, b));
            assert_eq!(window_masks(&w, a, b), want, "{w:?}");
            assert_eq!(window_masks_swar(&w, a, b), want, "{w:?}");
        }
    }

    #[test]
    fn swar_split_matches_naive() {
        let samples: [&[u8]; 6] = [
            b"",
            b"SE",
            b"SV1*HC:99213:25*100*UN*1***1:2",
            b"NM1*IL*1*DOE*JOHN****MI*W123",
            b"A*\x00*\x01\x2a\xaa*\xff*",
            b"********************",
        ];
        for b in samples {
            for cut in 0..=b.len() {
                let b = &b[..cut];
                let s = seg(b);
                let naive: Vec<&[u8]> = b.split(|&x| x == b'*').skip(1).collect();
                for n in 0..naive.len() + 2 {
                    let want = n.checked_sub(1).and_then(|i| naive.get(i)).copied();
                    assert_eq!(s.element(n).map(|e| e.as_bytes()), want, "{b:?} {n}");
                }
                let f = s.fields::<4>();
                assert_eq!(f.len(), naive.len().min(4), "{b:?}");
                for n in 1..=4 {
                    assert_eq!(f.get(n), naive.get(n - 1).copied().unwrap_or(b""), "{b:?}");
                }
            }
        }
    }

    #[test]
    fn indexed_and_long_segments_split_alike() {
        // Lengths around every word boundary and past INDEXED_MAX, with
        // separators (and bytes with the high bit set) everywhere.
        let pattern = b"NM1*IL*\xaa1**DOE*\x2a*JOHN****MI*W123:4*";
        for len in 0..=2 * INDEXED_MAX + 9 {
            let b: Vec<u8> = pattern.iter().cycle().take(len).copied().collect();
            let s = seg(&b);
            let naive: Vec<&[u8]> = b.split(|&x| x == b'*').skip(1).collect();
            assert_eq!(s.element_count(), naive.len(), "{len}");
            assert_eq!(
                s.id_bytes(),
                b.split(|&x| x == b'*').next().unwrap(),
                "{len}"
            );
            for n in 0..naive.len() + 2 {
                let want = n.checked_sub(1).and_then(|i| naive.get(i)).copied();
                assert_eq!(s.element(n).map(|e| e.as_bytes()), want, "{len} {n}");
            }
            let f = s.fields::<12>();
            assert_eq!(f.len(), naive.len().min(12), "{len}");
            for n in 1..=12 {
                assert_eq!(
                    f.get(n),
                    naive.get(n - 1).copied().unwrap_or(b""),
                    "{len} {n}"
                );
            }
            let els: Vec<&[u8]> = s.elements().map(|e| e.as_bytes()).collect();
            assert_eq!(els, naive, "{len}");
        }
    }

    #[test]
    fn find_terminator_matches_memchr() {
        let mut b = vec![b'A'; 200];
        assert_eq!(find_terminator(&b, b'~'), None);
        for at in [0, 5, 7, 8, 63, 64, 65, 130, 199] {
            b[at] = b'~';
            assert_eq!(find_terminator(&b, b'~'), memchr::memchr(b'~', &b), "{at}");
            assert_eq!(
                find_terminator(&b[..at], b'~'),
                memchr::memchr(b'~', &b[..at])
            );
            b[at] = b'A';
        }
    }

    #[test]
    fn ids_are_case_insensitive() {
        assert!(seg(b"clm*1").is(b"CLM"));
        assert_eq!(seg(b"clm*1").id(), Some(SegmentId::new(b"CLM")));
        assert_eq!(seg(b"C!M*1").id(), None);
        assert_eq!(seg(b"").id(), None);
    }
}
