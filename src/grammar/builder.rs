//! The loop builder: one generic state machine that places each segment of
//! a transaction in the loop tree of a [`Grammar`].
//!
//! How not to break it: the builder keeps a stack of open loops, each with
//! the position group it last matched. For every segment it searches the
//! innermost loop's body *forward* (groups at or after the current one) for
//! a segment node or a child loop whose trigger matches; failing that, a new
//! repeat of the innermost loop when its own trigger matches; failing that,
//! it closes the loop and tries the parent. A segment that fits nowhere is
//! reported `segment-out-of-place` and the stack is left as it was, so one
//! stray segment does not derail the rest of the transaction. Segments with
//! the same id at one position (a run of REF or DTP entries) share a group
//! and may come in any order, as the guides allow.
//!
//! The search's answers are remembered three ways: by the innermost
//! loop's state and the segment's first bytes (the `Memo`, consulted
//! before the segment's id is even parsed; for a segment that closes the
//! innermost loop it also keeps the step one level out, checked against
//! that loop's state); by loop, group, id and qualifier (the step cache,
//! for the rest); and, for a segment the memo cannot key (an HL), by the
//! innermost state, id and qualifier, how many loops out it lands (the far
//! slots, checked against the state of every loop on the way). All are
//! caches of the search and must answer as it does:
//! `LoopBuilder::without_memo` (which turns off the memo and the far
//! slots), a unit test and the `loop_builder` fuzz target hold them to it.
//!
//! Counts live in one flat vector, a slice per open loop, so building a
//! transaction allocates nothing once the vectors have grown; a loop's
//! slots are only written as its nodes are filled (see `OpenLoop::seen`).
//!
//! The builder also checks the HL hierarchy (numbering, parents, child
//! codes), because the HL nesting *is* the loop nesting of 2000A/B/C.

use std::sync::Arc;

use super::{pack_code, pack_word, Grammar, LoopDef, LoopNode, Node, QuickMatch, SegmentNode};
use crate::codes::CodeLists;
use crate::finding::{AckDetail, Finding, Position, RuleId};
use crate::lex::{decimal, trim, walk, Delimiters, Segment, SegmentId};
use crate::validate::ElementChecker;

/// Receives the loop tree as the builder finds it.
///
/// Every callback gets the loop's index into [`Grammar::loops`].
#[allow(unused_variables)]
pub trait LoopVisitor<'a> {
    /// A loop opens; its trigger segment follows in [`LoopVisitor::segment`].
    fn open(&mut self, grammar: &Grammar, loop_index: usize, segment: &Segment<'a>) {}
    /// A segment, placed in `loop_index` at `node` (`None`: it fits nowhere
    /// and was left in the innermost open loop).
    fn segment(
        &mut self,
        grammar: &Grammar,
        loop_index: usize,
        segment: &Segment<'a>,
        node: Option<&SegmentNode>,
    ) {
    }
    /// A loop closes.
    fn close(&mut self, grammar: &Grammar, loop_index: usize) {}
}

/// A visitor that does nothing: for checking structure only.
impl<'a> LoopVisitor<'a> for () {}

/// The segment's qualifier, read once per [`LoopBuilder::feed`] and shared
/// by every candidate node that tests the same element.
struct Qual<'s, 'a> {
    seg: &'s Segment<'a>,
    id: SegmentId,
    /// (element, component) of the cached value; element 0: none yet.
    at: (u16, u16),
    key: u64,
    raw: &'a [u8],
}

impl<'s, 'a> Qual<'s, 'a> {
    fn new(seg: &'s Segment<'a>, id: SegmentId) -> Self {
        Qual {
            seg,
            id,
            at: (0, 0),
            key: 0,
            raw: &[],
        }
    }

    /// Reads the qualifier at (element, component) into the cache.
    #[inline(always)]
    fn load(&mut self, at: (u16, u16)) {
        self.at = at;
        // The usual qualifier: a whole element or its first component, of
        // one to seven bytes, not blank at either end, in a segment of
        // eight bytes or more: one word load, masked (the word is the
        // segment's last eight bytes when fewer follow the start).
        let b = self.seg.as_bytes();
        if at.1 <= 1 && b.len() >= 8 {
            // (An empty element at the very end starts at the segment's
            // length: nothing to load there.)
            if let Some((start, end)) = self
                .seg
                .indexed_element_range(usize::from(at.0))
                .filter(|&(start, _)| start < b.len())
            {
                let w = if start + 8 <= b.len() {
                    crate::lex::load8(&b[start..])
                } else {
                    crate::lex::load8(&b[b.len() - 8..]) >> (8 * (start + 8 - b.len()))
                };
                let mut len = end - start;
                if at.1 == 1 {
                    let comp = u64::from_ne_bytes([self.seg.delimiters().component; 8]);
                    let hits = crate::lex::zero_bytes(w ^ comp);
                    if hits != 0 {
                        len = len.min(hits.trailing_zeros() as usize / 8);
                    }
                }
                if (1..=7).contains(&len) && b[start] > b' ' && b[start + len - 1] > b' ' {
                    self.raw = &b[start..start + len];
                    self.key = pack_word(w & (u64::MAX >> (64 - 8 * len)), len);
                    return;
                }
            }
        }
        let v = match self.seg.element(usize::from(at.0)) {
            None => &[][..],
            Some(e) if at.1 == 0 => e.as_bytes(),
            Some(e) => e.component(usize::from(at.1)).unwrap_or(&[]),
        };
        self.raw = v.trim_ascii();
        self.key = pack_code(self.raw).unwrap_or(u64::MAX);
    }

    /// Whether the segment fills a node with this id and qualifier test:
    /// the same answer as [`SegmentNode::matches`].
    #[inline]
    fn fits(&mut self, quick: &(SegmentId, Option<QuickMatch>)) -> bool {
        let (id, m) = quick;
        if *id != self.id {
            return false;
        }
        let Some(m) = m else { return true };
        if self.at != (m.element, m.component) {
            self.load((m.element, m.component));
        }
        m.matches(self.key, self.raw)
    }
}

/// Where a segment goes within one open loop, as the search over that
/// loop's body finds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Step {
    /// Nowhere in this loop: try the parent.
    #[default]
    NotHere,
    /// A new repeat of this loop (the segment is its trigger).
    Repeat,
    /// Body node `i` (a segment, or a child loop's trigger).
    Node(usize),
}

/// The outcome of the search within one loop depends only on the loop,
/// its current position group, the segment id and the qualifier, so it is
/// remembered: the common segment costs one probe here instead of a walk
/// over candidate nodes and qualifier tests (a run of REF or DTP entries can
/// have twenty candidates). Exact keys; a collision only evicts.
#[derive(Debug)]
struct StepCache {
    /// Per segment id, the (element, component) its nodes' qualifier tests
    /// read; `(u16::MAX, 0)` when nodes of one id test different places
    /// (never cached). Ids without any test are absent.
    quals: Box<[(u32, u16, u16)]>,
    slots: Box<[StepSlot]>,
    /// [`StepCache::fits`] for the grammar: when not, nothing is cached.
    usable: bool,
}

/// A remembered search, in sixteen bytes so that the table stays in the
/// first-level cache next to the bytes being read.
#[derive(Clone, Copy, Debug)]
struct StepSlot {
    /// [`StepCache::key`] in the low 41 bits, the step from bit 41
    /// ([`StepSlot::pack`]), [`StepSlot::FULL`] when the slot is in use.
    tag: u64,
    qual: u64,
}

impl StepSlot {
    const FULL: u64 = 1 << 63;
    const KEY_BITS: u64 = (1 << 41) - 1;

    fn pack(key: u64, qual: u64, step: Step) -> StepSlot {
        let code: u64 = match step {
            Step::NotHere => 0,
            Step::Repeat => 1,
            Step::Node(i) => 2 + i as u64,
        };
        debug_assert!(code < 1 << 20);
        StepSlot {
            tag: Self::FULL | code << 41 | key,
            qual,
        }
    }

    /// The step remembered for `key` and `qual`, if this slot holds it.
    #[inline(always)]
    fn get(&self, key: u64, qual: u64) -> Option<Step> {
        if self.tag & (Self::FULL | Self::KEY_BITS) != Self::FULL | key || self.qual != qual {
            return None;
        }
        Some(match (self.tag & !Self::FULL) >> 41 {
            0 => Step::NotHere,
            1 => Step::Repeat,
            c => Step::Node((c - 2) as usize),
        })
    }
}

const STEP_SLOTS: usize = 512;

/// A step remembered per builder state, by the bytes that decide it.
///
/// Within one state (the innermost open loop, its position group, and
/// whether it is the root) the step a segment takes is decided by its id
/// and, for ids whose nodes test a qualifier, by that qualifier. When the
/// qualifier is element 1 (or there is none), the segment's first bytes up
/// to the separator after it decide the step, so the step is remembered
/// against those bytes: the usual segment is placed with one word compare,
/// before its id is parsed, its qualifier read or a hash probed. (An 837
/// moves through few states, each mostly followed by one or two kinds of
/// segment.) Two entries per set, the newest first.
#[derive(Clone, Copy, Debug, Default)]
struct Memo<'g> {
    /// The decisive bytes (see `shift`), little-endian, shifted up by
    /// `shift`: a head shifted alike matches in one compare. (The last of
    /// them is a separator, and never zero here, so a segment shorter than
    /// them, whose head is zero past the separator [`Memo::head`] puts at
    /// its end, never matches.)
    prefix: u64,
    /// When `step` places the segment as a segment node of the innermost
    /// loop: that node, so that a hit places it without looking it up (its
    /// index is `step`'s).
    node: Option<&'g SegmentNode>,
    /// The state: the innermost loop's [`OpenLoop::key`] (its
    /// [`Memo::outer_state`]); 0 for an empty entry. The separators the
    /// prefixes were read with are the builder's `memo_seps`, the same for
    /// every entry: the memo is emptied when they change
    /// ([`LoopBuilder::memo_for`]).
    state: u32,
    /// When `step` is [`Step::NotHere`]: the loop one level out as
    /// [`Memo::outer_state`] names it (0: none remembered), and the step
    /// the segment takes there. The loop's state decides that step as the
    /// innermost one's decides `step`, so a segment that closes its loop
    /// (a claim's CLM after its last line) is placed without the search.
    outer_state: u32,
    step: PackedStep,
    outer: PackedStep,
    /// `64 - 8 * len`, where `len` leading bytes decide the step (3..=8).
    shift: u8,
}

/// A [`Step`] in two bytes, so that a [`Memo`] entry is 32 and the whole
/// memo (16 KiB, 36 at 72 bytes an entry) fits the first-level cache beside
/// the bytes being read. (Sampling put the memo's probe among the loop
/// builder's stalls; the smaller table counts fewer instructions, but moved
/// the wall time within the noise.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedStep(u16);

impl Default for PackedStep {
    fn default() -> PackedStep {
        PackedStep::NOT_HERE
    }
}

impl PackedStep {
    const NOT_HERE: PackedStep = PackedStep(u16::MAX);
    const REPEAT: PackedStep = PackedStep(u16::MAX - 1);

    /// `step` packed; `None` for a body index too large to pack (never
    /// remembered).
    fn pack(step: Step) -> Option<PackedStep> {
        match step {
            Step::NotHere => Some(PackedStep::NOT_HERE),
            Step::Repeat => Some(PackedStep::REPEAT),
            Step::Node(i) => u16::try_from(i)
                .ok()
                .filter(|&i| i < PackedStep::REPEAT.0)
                .map(PackedStep),
        }
    }

    #[inline(always)]
    fn unpack(self) -> Step {
        match self {
            PackedStep::NOT_HERE => Step::NotHere,
            PackedStep::REPEAT => Step::Repeat,
            PackedStep(i) => Step::Node(usize::from(i)),
        }
    }
}

// The size the memo's cache footprint was chosen for (see [`PackedStep`]).
const _: () = assert!(std::mem::size_of::<Memo<'static>>() == 32);

const MEMO_SETS: usize = 256;

impl Memo<'_> {
    /// The key of an open loop: its loop, position group and whether it is
    /// the root (never 0; the numbers fit: see [`StepCache::fits`]).
    #[inline(always)]
    fn outer_state(def: usize, root: bool, group: u32) -> u32 {
        1 << 31 | (def as u32) << 9 | group << 1 | u32::from(root)
    }

    /// `key` ([`Memo::outer_state`]) with its group replaced by `group`.
    #[inline(always)]
    fn with_group(key: u32, group: u32) -> u32 {
        key & !(0xFF << 1) | group << 1
    }

    /// The set of a state and a segment's first three bytes (which every
    /// decisive prefix holds: a two-byte id and its separator at least), so
    /// that the segments that follow one state spread over sets.
    #[inline(always)]
    fn set(state: u32, head: u64) -> usize {
        let x = u64::from(state) << 24 ^ (head & 0xFF_FFFF);
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize & (MEMO_SETS - 1)
    }

    /// The segment's first eight bytes; a shorter one's followed by the
    /// element separator `sep`, as if another element followed, then
    /// zeros. Its id and qualifier end there as they would before a
    /// separator, so `PAT*19`, whose qualifier is its last element, is
    /// remembered and found like `PAT*19*` (the same step), where without
    /// it no separator would end the decisive bytes.
    #[inline(always)]
    fn head(b: &[u8], sep: u8) -> u64 {
        if b.len() >= 8 {
            crate::lex::load8(b)
        } else {
            crate::lex::load_short(b) | u64::from(sep) << (8 * b.len())
        }
    }

    #[inline(always)]
    fn hits(&self, state: u32, head: u64) -> bool {
        self.state == state && head << self.shift == self.prefix
    }

    /// How many leading bytes of a segment with this `head` decide its
    /// step: the id and its separator, and when the id's nodes test element
    /// 1 or its first component (`qual_at`), that value and the separator
    /// after it; `None` when that is more than eight bytes or the
    /// qualifier is elsewhere.
    fn decisive_len(
        head: u64,
        seg_len: usize,
        d: Delimiters,
        qual_at: Option<(u16, u16)>,
    ) -> Option<u32> {
        let hits = |b: u8| crate::lex::zero_bytes(head ^ u64::from_ne_bytes([b; 8]));
        // A short segment's bytes and the separator after them.
        let valid = if seg_len >= 7 {
            u64::MAX
        } else {
            (1u64 << (8 * (seg_len + 1))) - 1
        };
        let elements = hits(d.element) & valid;
        let first = elements.trailing_zeros() / 8;
        if !(2..=3).contains(&first) {
            return None;
        }
        // The separators after the id's that end the qualifier.
        let ends = match qual_at {
            None => return Some(first + 1),
            Some((1, 0)) => elements,
            Some((1, 1)) => elements | (hits(d.component) & valid),
            Some(_) => return None,
        } & !(u64::MAX >> (56 - 8 * first));
        (ends != 0).then(|| ends.trailing_zeros() / 8 + 1)
    }
}

impl StepCache {
    fn new(g: &Grammar) -> StepCache {
        let mut by_id: Vec<(u32, u16, u16)> = Vec::new();
        for l in &g.loops {
            for i in 0..l.body.len() {
                let (id, m) = l.quick(i);
                let Some(m) = m else { continue };
                let at = (m.element, m.component);
                match by_id.iter_mut().find(|e| e.0 == id.key()) {
                    Some(e) if (e.1, e.2) != at => (e.1, e.2) = (u16::MAX, 0),
                    Some(_) => {}
                    None => by_id.push((id.key(), at.0, at.1)),
                }
            }
        }
        let size = (by_id.len() * 2).next_power_of_two().max(4);
        let mut quals = vec![(0u32, 0u16, 0u16); size].into_boxed_slice();
        for e in by_id {
            let mut h = Self::id_hash(e.0, size);
            while quals[h].0 != 0 {
                h = (h + 1) & (size - 1);
            }
            quals[h] = e;
        }
        StepCache {
            usable: Self::fits(g),
            quals,
            slots: vec![StepSlot { tag: 0, qual: 0 }; STEP_SLOTS].into_boxed_slice(),
        }
    }

    #[inline]
    fn id_hash(key: u32, size: usize) -> usize {
        (key.wrapping_mul(0x9E37_79B1) >> 16) as usize & (size - 1)
    }

    /// Where nodes of `id` read their qualifier: `None` when none do,
    /// `Some((u16::MAX, 0))` when they disagree.
    #[inline]
    fn qual_at(&self, id: SegmentId) -> Option<(u16, u16)> {
        let key = id.key();
        let mask = self.quals.len() - 1;
        let mut h = Self::id_hash(key, self.quals.len());
        loop {
            let (k, e, c) = self.quals[h];
            if k == key {
                return Some((e, c));
            }
            if k == 0 {
                return None;
            }
            h = (h + 1) & mask;
        }
    }

    /// The exact key of a search within loop `def` at `group` for `id`, in
    /// 41 bits (the numbers fit: see [`StepCache::fits`]).
    #[inline(always)]
    fn key(def: usize, root: bool, group: u32, id: SegmentId) -> u64 {
        debug_assert!(def < 1 << 8 && group < 1 << 8);
        (def as u64) << 33 | u64::from(root) << 32 | u64::from(group) << 24 | u64::from(id.key())
    }

    /// Whether every loop index, position group and body index of `g` fits
    /// a slot, so that keys need no check per segment. (The guides' maps
    /// have about a hundred loops of a few dozen entries.)
    fn fits(g: &Grammar) -> bool {
        g.loops.len() < 1 << 8
            && g.loops
                .iter()
                .all(|l| l.body.len() < 1 << 16 && l.body.iter().all(|n| n.group() < 1 << 8))
    }

    #[inline]
    fn slot(key: u64, qual: u64) -> usize {
        ((key ^ qual.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 55) as usize
            & (STEP_SLOTS - 1)
    }
}

/// Where a segment the general path places lands, by the innermost loop's
/// state, the segment's id and its qualifier: how many loops out, the
/// step there, and the state of every loop passed on the way, checked on
/// use. The search within each of those loops depends on nothing else, so
/// a hit places the segment as the walk over the levels would, without
/// it. This serves what the memo cannot key: an HL, whose qualifier (HL03)
/// is not among its first bytes, closes two or three loops each time.
#[derive(Clone, Copy, Debug, Default)]
struct FarSlot {
    /// [`StepCache::key`] of the innermost loop, with [`StepSlot::FULL`];
    /// 0 when empty.
    key: u64,
    qual: u64,
    /// [`Memo::outer_state`] of the loops one, two, ... out, up to
    /// `levels`.
    states: [u32; FAR_LEVELS],
    levels: u32,
    step: Step,
}

const FAR_LEVELS: usize = 4;
const FAR_SETS: usize = 128;

impl FarSlot {
    #[inline]
    fn slot(key: u64, qual: u64) -> usize {
        ((key ^ qual.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> (64 - FAR_SETS.trailing_zeros())) as usize
            & (FAR_SETS - 1)
    }
}

/// What opening a loop reads of its definition, packed: a few cache lines
/// for the whole grammar, which stay cached while a transaction's bytes
/// stream past (the [`LoopDef`]s and their bodies are spread over the heap).
#[derive(Clone, Copy, Debug)]
struct LoopHead<'g> {
    trigger: &'g SegmentNode,
    body_len: u32,
    /// [`LoopDef::repeat`], `u32::MAX` when unbounded: every loop opened
    /// checks it.
    repeat: u32,
    /// Every required node's bit ([`LoopDef::required_mask`] over all
    /// groups; all ones when the loop requires too many nodes for bits): a
    /// loop closing with these filled lacks nothing, in one word test.
    all_required: u64,
    hl: bool,
}

#[derive(Clone, Debug)]
struct OpenLoop {
    def: usize,
    /// [`Memo::outer_state`] of the loop as it stands (kept with `group`):
    /// what the memo is keyed by, without working it out per segment.
    key: u32,
    /// Index of this loop's node in the parent's body.
    node_in_parent: usize,
    /// That node's [`LoopDef::required_bit`] in the parent (0 for the
    /// root): what a repeat of this loop fills there.
    bit_in_parent: u64,
    group: u32,
    base: usize,
    /// The required body nodes filled so far, as
    /// [`LoopDef::required_bit`]s: what `counts` says, in one word.
    filled: u64,
    /// Bit `i`: `counts[base + i]` holds node `i`'s count (for the first 64
    /// nodes; the rest are zeroed when the loop opens). A node not seen has
    /// count 0 whatever the slot holds, so opening a loop writes no slots.
    seen: u64,
    opened_at: Position,
    /// HL01 of this loop's HL, when the loop is an HL level.
    hl_id: Option<u64>,
    hl_has_children: Option<bool>,
    hl_child_seen: bool,
}

impl OpenLoop {
    /// Moves the loop to position group `group`, its memo key with it.
    #[inline(always)]
    fn move_to(&mut self, group: u32) {
        self.group = group;
        self.key = Memo::with_group(self.key, group);
    }
}

/// Places segments in loops and reports structure findings.
///
/// ```
/// use scrub837::grammar::{builder::LoopBuilder, Grammars};
/// use scrub837::lex::{Delimiters, Segment};
/// use scrub837::Position;
/// let g = &Grammars::embedded().professional;
/// let mut b = LoopBuilder::new(g, "x.edi");
/// let mut findings = Vec::new();
/// let seg = Segment::new(b"ST*837*0001*005010X222A1", Delimiters::STANDARD, Position::default());
/// b.feed(&seg, &mut (), &mut |f| findings.push(f));
/// b.finish(&mut (), &mut |f| findings.push(f));
/// // BHT, 1000A, 1000B, 2000A and SE are missing.
/// assert!(findings.iter().all(|f| f.rule == scrub837::RuleId::SegmentMissing));
/// assert_eq!(findings.len(), 5);
/// ```
#[derive(Debug)]
pub struct LoopBuilder<'g> {
    g: &'g Grammar,
    label: Arc<str>,
    stack: Vec<OpenLoop>,
    /// Per open loop, a slot per body node from its `base` (see
    /// [`OpenLoop::seen`]); `counts_top` is the end of the innermost one's.
    counts: Vec<u32>,
    counts_top: usize,
    next_hl: u64,
    /// The last segment fed: where loops still open at the end are closed.
    last_position: Position,
    elements: Option<ElementChecker>,
    steps: StepCache,
    /// Sets of two by [`FarSlot::slot`], the newest first: an HL meets a
    /// stack of two or three shapes (after a patient level or not, a claim
    /// line or not), which one entry a key kept evicting in turn.
    far: Box<[[FarSlot; 2]; FAR_SETS]>,
    /// A fixed number of sets, so that a probe needs no bounds check.
    memo: Box<[[Memo<'g>; 2]; MEMO_SETS]>,
    /// The element and component separators the memo's prefixes were read
    /// under ([`LoopBuilder::memo_for`]): a prefix read under others would
    /// say something else (a `*` inside an element where `|` separates
    /// them). The step of a segment depends on no other separator.
    memo_seps: u16,
    /// Whether segments are remembered ([`LoopBuilder::without_memo`]
    /// leaves every entry empty: nothing hits).
    memo_on: bool,
    heads: Box<[LoopHead<'g>]>,
}

impl<'g> LoopBuilder<'g> {
    /// A builder for one transaction at a time over `grammar`; `label` names
    /// the input in findings.
    pub fn new(grammar: &'g Grammar, label: impl Into<Arc<str>>) -> LoopBuilder<'g> {
        LoopBuilder {
            g: grammar,
            label: label.into(),
            stack: Vec::with_capacity(16),
            counts: Vec::with_capacity(256),
            counts_top: 0,
            next_hl: 1,
            last_position: Position::default(),
            elements: None,
            steps: StepCache::new(grammar),
            far: Box::new([[FarSlot::default(); 2]; FAR_SETS]),
            memo: Box::new([[Memo::default(); 2]; MEMO_SETS]),
            memo_seps: 0,
            memo_on: true,
            heads: grammar
                .loops
                .iter()
                .map(|l| LoopHead {
                    trigger: l.trigger(),
                    body_len: l.body.len() as u32,
                    repeat: l.repeat.unwrap_or(u32::MAX),
                    all_required: l.required_mask(0, u32::MAX).unwrap_or(u64::MAX),
                    hl: l.trigger().id == SegmentId::new(b"HL"),
                })
                .collect(),
        }
    }

    /// Also checks every placed segment's elements against the guide's
    /// element definitions (see [`crate::validate`]), with these external
    /// code lists.
    pub fn with_element_checks(mut self, codes: Arc<CodeLists>) -> LoopBuilder<'g> {
        self.elements = Some(ElementChecker::new(codes, self.label.clone()));
        self
    }

    /// The builder without its step memo (which [`LoopBuilder::feed`]
    /// consults first) and its far slots: every segment takes the general
    /// search, loop by loop. Slower, with the same events and findings; it
    /// is here so that tests and the fuzz targets can hold the memo to the
    /// general path.
    ///
    /// ```
    /// use scrub837::grammar::{builder::LoopBuilder, Grammars};
    /// use scrub837::lex::{Delimiters, Segment};
    /// use scrub837::Position;
    /// let g = &Grammars::structure().professional;
    /// let mut memo = LoopBuilder::new(g, "x.edi");
    /// let mut general = LoopBuilder::new(g, "x.edi").without_memo();
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// let bht = &b"BHT*0019*00*1*20240105*0930*CH"[..];
    /// for text in [&b"ST*837*0001*005010X222A1"[..], bht, bht] {
    ///     let seg = Segment::new(text, Delimiters::STANDARD, Position::default());
    ///     memo.feed(&seg, &mut (), &mut |f| a.push(f));
    ///     general.feed(&seg, &mut (), &mut |f| b.push(f));
    /// }
    /// // The second BHT is one too many, either way.
    /// assert_eq!(a.len(), 1);
    /// assert_eq!(a, b);
    /// ```
    pub fn without_memo(mut self) -> LoopBuilder<'g> {
        self.memo_on = false;
        self
    }

    /// Whether placed segments' elements are checked.
    pub fn checks_elements(&self) -> bool {
        self.elements.is_some()
    }

    #[inline]
    fn check_elements(
        &mut self,
        node: &SegmentNode,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        if let (Some(checker), Some(def)) = (self.elements.as_mut(), node.elements.as_deref()) {
            checker.check(def, seg, sink);
        }
    }

    /// The grammar in use.
    pub fn grammar(&self) -> &'g Grammar {
        self.g
    }

    /// The input label findings carry.
    pub fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// Resets the builder for a new transaction.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.counts_top = 0;
        self.next_hl = 1;
    }

    /// [`Memo::outer_state`] of the open loop at depth `d` (the root at 0):
    /// what a step remembered past the innermost loop is checked against.
    #[inline(always)]
    fn frame_state(&self, d: usize) -> u32 {
        self.stack[d].key
    }

    /// The index of the innermost open loop, if any.
    pub fn current_loop(&self) -> Option<usize> {
        self.stack.last().map(|f| f.def)
    }

    fn finding(&self, rule: RuleId, pos: Position, msg: String) -> Finding {
        Finding::new(rule, self.label.clone(), pos, msg)
    }

    /// Places one segment.
    #[inline(always)]
    pub fn feed<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        self.last_position = seg.position();
        self.memo_for(seg.delimiters());
        self.feed_in_run(seg, v, sink);
    }

    /// Keeps the memo for segments separated by `d`: empties it when its
    /// prefixes were read under other separators (a new interchange's, at
    /// most once per transaction). Before a run of
    /// [`LoopBuilder::feed_in_run`], whose segments all use `d`.
    #[inline(always)]
    pub(crate) fn memo_for(&mut self, d: Delimiters) {
        let seps = Self::memo_seps(d);
        if seps != self.memo_seps {
            self.forget(seps);
        }
    }

    #[inline(always)]
    fn memo_seps(d: Delimiters) -> u16 {
        u16::from(d.element) | u16::from(d.component) << 8
    }

    #[cold]
    #[inline(never)]
    fn forget(&mut self, seps: u16) {
        self.memo.fill([Memo::default(); 2]);
        self.memo_seps = seps;
    }

    /// [`LoopBuilder::feed`] of a segment in a run whose last one the
    /// caller notes with [`LoopBuilder::ran_to`] (where loops still open at
    /// the end close): one store a run, not one a segment. The caller has
    /// called [`LoopBuilder::memo_for`] with the run's separators.
    #[inline(always)]
    pub(crate) fn feed_in_run<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        // The usual segment: its state remembers the step for its first
        // bytes (see [`Memo`]).
        debug_assert_eq!(Self::memo_seps(seg.delimiters()), self.memo_seps);
        let b = seg.as_bytes();
        let head = Memo::head(b, seg.delimiters().element);
        if let Some(top) = self.stack.last() {
            let d = self.stack.len() - 1;
            let state = top.key;
            // (Without the memo, for tests, every entry stays empty.)
            let set = &self.memo[Memo::set(state, head)];
            let hit = if set[0].hits(state, head) {
                Some(&set[0])
            } else if set[1].hits(state, head) {
                Some(&set[1])
            } else {
                None
            };
            // (One call of the inline `place` for both depths.)
            let (at, step) = match hit {
                // The usual hit, tested first: a segment node here.
                Some(&Memo {
                    node: Some(sn),
                    step,
                    ..
                }) => return self.place_segment(d, usize::from(step.0), sn, seg, v, sink),
                Some(&Memo {
                    step: PackedStep::NOT_HERE,
                    outer_state,
                    outer,
                    ..
                }) => {
                    // Remembered one level out, for the state found there.
                    if d > 0 && outer_state != 0 && self.frame_state(d - 1) == outer_state {
                        (d - 1, outer.unpack())
                    } else {
                        return self.feed_general(seg, head, true, v, sink);
                    }
                }
                Some(m) => (d, m.step.unpack()),
                None => return self.feed_general(seg, head, false, v, sink),
            };
            return self.place(at, step, seg, v, sink);
        }
        self.feed_general(seg, head, false, v, sink);
    }

    /// [`LoopBuilder::feed`] for a segment its state does not remember,
    /// or (`not_top`) remembers as not placed in the innermost loop.
    fn feed_general<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        seg: &Segment<'a>,
        head: u64,
        not_top: bool,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        let Some(id) = seg.id() else {
            let shown = String::from_utf8_lossy(&seg.id_bytes()[..seg.id_bytes().len().min(12)])
                .into_owned();
            let finding = if seg.as_bytes().is_empty() {
                // Worded as the envelope checker words it outside transactions.
                self.finding(
                    RuleId::SegmentSyntax,
                    seg.position(),
                    "an empty segment (two terminators in a row)".to_string(),
                )
            } else {
                self.finding(
                    RuleId::SegmentSyntax,
                    seg.position(),
                    format!("{shown:?} is not a segment id (two or three letters or digits)"),
                )
                .with_value(shown)
            };
            sink(finding);
            let at = self.current_loop().unwrap_or(0);
            v.segment(self.g, at, seg, None);
            return;
        };
        if self.stack.is_empty() {
            let root = &self.g.loops[0];
            if root.trigger().matches(id, seg) {
                self.push(0, 0, 0, seg, v, sink);
            } else {
                sink(self.finding(
                    RuleId::SegmentOutOfPlace,
                    seg.position(),
                    format!("{id} where the transaction must start with ST"),
                ));
                v.segment(self.g, 0, seg, None);
            }
            return;
        }
        let mut q = Qual::new(seg, id);
        // The qualifier is read once, where every node of this id reads it;
        // with it the search within each loop is a cache probe.
        let qual_at = self.steps.qual_at(id);
        let cacheable = self.steps.usable
            && match qual_at {
                None => true,
                Some((u16::MAX, _)) => false,
                Some(at) => {
                    q.load(at);
                    q.key != u64::MAX
                }
            };
        let top = self.stack.len() - 1;
        let far = (cacheable && self.memo_on).then(|| {
            let f = &self.stack[top];
            let key = StepSlot::FULL | StepCache::key(f.def, top == 0, f.group, id);
            (key, FarSlot::slot(key, q.key))
        });
        if let Some((key, at)) = far {
            for way in 0..2 {
                let e = self.far[at][way];
                let k = e.levels as usize;
                if e.key == key && e.qual == q.key && k <= top {
                    // (A loop over the levels: `all` over `1..=k` was a call.)
                    let mut same = true;
                    for (j, &state) in e.states.iter().enumerate().take(k) {
                        same &= self.frame_state(top - 1 - j) == state;
                    }
                    if same {
                        self.place(top - k, e.step, seg, v, sink);
                        return;
                    }
                }
            }
        }
        for d in (0..self.stack.len() - usize::from(not_top)).rev() {
            let (def_idx, group) = {
                let f = &self.stack[d];
                (f.def, f.group)
            };
            let def: &'g LoopDef = &self.g.loops[def_idx];
            let key = cacheable.then(|| StepCache::key(def_idx, d == 0, group, id));
            let step = match key {
                Some(key) => {
                    let slot = StepCache::slot(key, q.key);
                    match self.steps.slots[slot].get(key, q.key) {
                        Some(step) => step,
                        None => {
                            let step = Self::search(def, d == 0, group, &mut q);
                            self.steps.slots[slot] = StepSlot::pack(key, q.key, step);
                            step
                        }
                    }
                }
                None => Self::search(def, d == 0, group, &mut q),
            };
            if d == top && cacheable && !not_top {
                self.remember(def_idx, self.frame_state(d), seg, head, qual_at, step);
            }
            if d + 1 == top && cacheable && step != Step::NotHere {
                self.remember_outer(head, self.frame_state(d), step);
            }
            if step != Step::NotHere {
                if let Some((key, at)) = far.filter(|_| (1..=FAR_LEVELS).contains(&(top - d))) {
                    self.remember_far(key, q.key, at, top - d, step);
                }
                self.place(d, step, seg, v, sink);
                return;
            }
        }
        let at = self.current_loop().unwrap_or(0);
        sink(self.finding(
            RuleId::SegmentOutOfPlace,
            seg.position(),
            format!(
                "{id} does not belong here (in or after loop {})",
                self.g.loops[at].id
            ),
        ));
        v.segment(self.g, at, seg, None);
    }

    /// Remembers `step` for the state of the innermost loop (`def`, whose
    /// frame's key is `key`) and the bytes of `seg` that decide it, when
    /// there are eight or fewer of them.
    #[inline(never)]
    fn remember(
        &mut self,
        def: usize,
        key: u32,
        seg: &Segment<'_>,
        head: u64,
        qual_at: Option<(u16, u16)>,
        step: Step,
    ) {
        if !self.memo_on {
            return;
        }
        let b = seg.as_bytes();
        let Some(len) = Memo::decisive_len(head, b.len(), seg.delimiters(), qual_at) else {
            return;
        };
        let Some(packed) = PackedStep::pack(step) else {
            return;
        };
        let shift = 64 - 8 * len;
        // The last decisive byte is a separator: a zero one (which no real
        // interchange uses) would let shorter segments match.
        if head >> (8 * (len - 1)) & 0xFF == 0 {
            return;
        }
        let state = key;
        let set = &mut self.memo[Memo::set(state, head)];
        if !set[0].hits(state, head) {
            set[1] = set[0];
        }
        let node = match step {
            Step::Node(i) => match &self.g.loops[def].body[i] {
                Node::Segment(sn) => Some(sn),
                Node::Loop(_) => None,
            },
            _ => None,
        };
        set[0] = Memo {
            prefix: head << shift,
            node,
            state,
            outer_state: 0,
            step: packed,
            outer: PackedStep::NOT_HERE,
            shift: shift as u8,
        };
    }

    /// Remembers in the far slot `at` that the segment of `key` and `qual`
    /// takes `step` `levels` loops out, with the states of those loops.
    #[inline(never)]
    fn remember_far(&mut self, key: u64, qual: u64, at: usize, levels: usize, step: Step) {
        let top = self.stack.len() - 1;
        let mut states = [0; FAR_LEVELS];
        for (j, s) in states.iter_mut().enumerate().take(levels) {
            *s = self.frame_state(top - 1 - j);
        }
        let set = &mut self.far[at];
        set[1] = set[0];
        set[0] = FarSlot {
            key,
            qual,
            states,
            levels: levels as u32,
            step,
        };
    }

    /// Remembers `step`, found in the loop one level out (`outer`, its
    /// [`Memo::outer_state`]), on the innermost state's entry for the
    /// segment whose first bytes are `head`, which says it is not placed
    /// there.
    #[inline(never)]
    fn remember_outer(&mut self, head: u64, outer: u32, step: Step) {
        let Some(top) = self.stack.last().filter(|_| self.memo_on) else {
            return;
        };
        let state = top.key;
        let set = &mut self.memo[Memo::set(state, head)];
        if let Some(m) = set
            .iter_mut()
            .find(|m| m.hits(state, head) && m.step == PackedStep::NOT_HERE)
        {
            if let Some(step) = PackedStep::pack(step) {
                (m.outer_state, m.outer) = (outer, step);
            }
        }
    }

    /// Places `seg` by `step` (not [`Step::NotHere`]), found in the open
    /// loop at depth `d`.
    #[inline(always)]
    fn place<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        d: usize,
        step: Step,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        let def_idx = self.stack[d].def;
        let def: &'g LoopDef = &self.g.loops[def_idx];
        match step {
            Step::NotHere => unreachable!("a step that places the segment"),
            Step::Node(i) => match &def.body[i] {
                Node::Segment(sn) => self.place_segment(d, i, sn, seg, v, sink),
                Node::Loop(LoopNode {
                    index,
                    group,
                    needs,
                    bit,
                    ..
                }) => {
                    if self.stack.len() > d + 1 {
                        self.close_to(d + 1, seg.position(), v, sink);
                    }
                    if *group > self.stack[d].group && needs & !self.stack[d].filled != 0 {
                        self.report_missing(&self.stack[d], *group, seg.position(), sink);
                    }
                    let count = self.fill(d, i, Some(*group), *bit);
                    let limit = self.heads[*index].repeat;
                    self.check_loop_repeat(*index, limit, count, seg, sink);
                    self.push(*index, i, *bit, seg, v, sink);
                }
            },
            Step::Repeat => {
                let (node_in_parent, bit) = {
                    let f = &self.stack[d];
                    (f.node_in_parent, f.bit_in_parent)
                };
                let l = self.heads[def_idx];
                if l.hl {
                    // An HL checks itself against the levels still open:
                    // the loop it repeats must be closed first.
                    self.close_to(d, seg.position(), v, sink);
                } else {
                    // The loop closes and opens again in its own frame (a
                    // service line's LX, most often), with the same events
                    // and findings as a close and a push.
                    self.close_to(d + 1, seg.position(), v, sink);
                    self.close_checks(&self.stack[d], l.all_required, seg.position(), sink);
                    v.close(self.g, def_idx);
                }
                let count = self.fill(d - 1, node_in_parent, None, bit);
                self.check_loop_repeat(def_idx, l.repeat, count, seg, sink);
                if l.hl {
                    self.push(def_idx, node_in_parent, bit, seg, v, sink);
                } else {
                    self.reopen(d, l, seg, v, sink);
                }
            }
        }
    }

    /// Places `seg` as segment node `i` (`sn`) of the open loop at depth `d`.
    #[inline(always)]
    fn place_segment<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        d: usize,
        i: usize,
        sn: &'g SegmentNode,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        if self.stack.len() > d + 1 {
            self.close_to(d + 1, seg.position(), v, sink);
        }
        let f = &self.stack[d];
        let def_idx = f.def;
        // (Nothing is missing when every required node before the new
        // group is filled: one word test.)
        if sn.group > f.group && sn.needs & !f.filled != 0 {
            self.report_missing(f, sn.group, seg.position(), sink);
        }
        // A segment used at most once (most are) is one too many when its
        // node was seen: no count is kept for it.
        let over = if sn.once != 0 {
            self.fill_once(d, sn.once, sn.group, sn.bit)
        } else {
            let count = self.fill(d, i, Some(sn.group), sn.bit);
            sn.max.is_some_and(|m| count > m)
        };
        if over {
            self.report_segment_repeat(def_idx, sn, seg, sink);
        }
        self.check_elements(sn, seg, sink);
        v.segment(self.g, def_idx, seg, Some(sn));
    }

    #[cold]
    #[inline(never)]
    fn report_segment_repeat(
        &self,
        def_idx: usize,
        sn: &SegmentNode,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        let def = &self.g.loops[def_idx];
        sink(
            self.finding(
                RuleId::RepeatExceeded,
                seg.position(),
                format!(
                    "{} is used more than {} time(s) in loop {}",
                    sn.id,
                    sn.max.unwrap_or(0),
                    def.id
                ),
            )
            .with_ack(AckDetail::segment("5").in_loop(&def.id)),
        );
    }

    /// Where the segment in `q` goes within one open loop: the first
    /// candidate node at or after the loop's current group whose qualifier
    /// fits, else a new repeat of the loop (never of the root), else not
    /// here.
    #[inline]
    fn search(def: &LoopDef, root: bool, group: u32, q: &mut Qual<'_, '_>) -> Step {
        for i in def.candidates(q.id) {
            if def.body[i].group() >= group && q.fits(def.quick(i)) {
                return Step::Node(i);
            }
        }
        if !root && q.fits(def.quick(0)) {
            return Step::Repeat;
        }
        Step::NotHere
    }

    /// Reports loop `ci` opened for the `count`th time where its
    /// [`LoopHead::repeat`] is `limit` (the caller has the head at hand).
    #[inline(always)]
    fn check_loop_repeat(
        &self,
        ci: usize,
        limit: u32,
        count: u32,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        if count > limit {
            self.report_loop_repeat(ci, seg, sink);
        }
    }

    #[cold]
    #[inline(never)]
    fn report_loop_repeat(&self, ci: usize, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let (l, max) = (&self.g.loops[ci], self.heads[ci].repeat);
        sink(
            self.finding(
                RuleId::RepeatExceeded,
                seg.position(),
                format!("loop {} ({}) repeats more than {max} time(s)", l.id, l.name),
            )
            .with_ack(AckDetail::segment("4").in_loop(&l.id)),
        );
    }

    #[inline(always)]
    fn push<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        def: usize,
        node_in_parent: usize,
        bit_in_parent: u64,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        let l = self.heads[def];
        let base = self.counts_top;
        self.counts_top = base + l.body_len as usize;
        if self.counts.len() < self.counts_top {
            self.counts.resize(self.counts_top, 0);
        }
        let (hl_id, hl_has_children) = if l.hl {
            self.check_hl(seg, sink)
        } else {
            (None, None)
        };
        // Built in place: a copy of a finished frame onto the stack stalled.
        let root = self.stack.is_empty();
        self.stack.push(OpenLoop {
            def,
            key: Memo::outer_state(def, root, l.trigger.group),
            node_in_parent,
            bit_in_parent,
            group: l.trigger.group,
            base,
            filled: l.trigger.bit,
            seen: 1,
            opened_at: seg.position(),
            hl_id,
            hl_has_children,
            hl_child_seen: false,
        });
        self.begin_instance(def, base, l, seg, v, sink);
    }

    /// What opening an instance of loop `def` (head `l`, count slots from
    /// `base`) does once its frame is in place, whether pushed or reopened:
    /// its counts start over and its trigger is placed.
    #[inline(always)]
    fn begin_instance<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        def: usize,
        base: usize,
        l: LoopHead<'g>,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        // The trigger counts once; past the 64 nodes `seen` covers, zeros.
        self.counts[base] = 1;
        if l.body_len > 64 {
            self.counts[base + 64..base + l.body_len as usize].fill(0);
        }
        self.check_elements(l.trigger, seg, sink);
        v.open(self.g, def, seg);
        v.segment(self.g, def, seg, Some(l.trigger));
    }

    /// [`LoopBuilder::push`] of a loop (not an HL level) into the frame at
    /// depth `d`, where the same loop was just closed: its count slots stay
    /// where they are.
    #[inline(always)]
    fn reopen<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        d: usize,
        l: LoopHead<'g>,
        seg: &Segment<'a>,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        let f = &mut self.stack[d];
        let (def, base) = (f.def, f.base);
        f.move_to(l.trigger.group);
        f.filled = l.trigger.bit;
        f.seen = 1;
        f.opened_at = seg.position();
        self.begin_instance(def, base, l, seg, v, sink);
    }

    /// Checks an HL opening a loop against the open HL levels; returns the
    /// loop's HL01 and whether HL04 says child levels follow.
    fn check_hl(
        &mut self,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) -> (Option<u64>, Option<bool>) {
        // HL01, HL02 and HL04 in one walk of the separator map.
        let (hl01, hl02, hl04) = match walk(seg) {
            Some(mut w) => {
                let (hl01, hl02) = (w.next(), w.next());
                w.next();
                (hl01, hl02, w.next())
            }
            None => (seg.value(1), seg.value(2), seg.value(4)),
        };
        let (hl01, hl02, hl04) = (trim(hl01), trim(hl02), trim(hl04));
        // Twelve digits at most: no overflow, no parse through `str`.
        let number = |v: &[u8]| decimal(v, 12);
        let expected = self.next_hl;
        let id = number(hl01);
        match id {
            Some(n) if n == expected => {}
            _ => sink(
                self.finding(
                    RuleId::Hierarchy,
                    seg.position(),
                    format!("HL01 should be {expected}: HL ids start at 1 in each transaction and go up by 1"),
                )
                .with_element("HL01")
                .with_value(String::from_utf8_lossy(hl01)),
            ),
        }
        self.next_hl = id.map_or(expected, |n| n.max(expected)) + 1;
        let hl_id = id;
        // The parent HL is the nearest open HL loop below this one's level.
        let parent = self
            .stack
            .iter_mut()
            .rev()
            .find(|f| f.hl_id.is_some() || f.hl_has_children.is_some());
        match parent {
            None if !hl02.is_empty() => sink(
                self.finding(
                    RuleId::Hierarchy,
                    seg.position(),
                    "HL02 must be empty at the billing provider level".to_string(),
                )
                .with_element("HL02")
                .with_value(String::from_utf8_lossy(hl02)),
            ),
            None => {}
            Some(p) => {
                p.hl_child_seen = true;
                let want = p.hl_id;
                if want.is_none_or(|w| number(hl02) != Some(w)) {
                    let msg = match want {
                        Some(w) => format!("HL02 should name the parent level's HL01 ({w})"),
                        None => "HL02 names a parent whose HL01 is not a number".to_string(),
                    };
                    sink(
                        self.finding(RuleId::Hierarchy, seg.position(), msg)
                            .with_element("HL02")
                            .with_value(String::from_utf8_lossy(hl02)),
                    );
                }
            }
        }
        let hl_has_children = match hl04 {
            b"1" => Some(true),
            b"0" => Some(false),
            _ => {
                sink(
                    self.finding(
                        RuleId::Hierarchy,
                        seg.position(),
                        "HL04 must be 0 or 1".to_string(),
                    )
                    .with_element("HL04")
                    .with_value(String::from_utf8_lossy(hl04)),
                );
                Some(false)
            }
        };
        (hl_id, hl_has_children)
    }

    /// Whether body node `i` of `open` was filled. (The first 64 nodes say
    /// so in `seen`; their count slots are kept only for the nodes whose
    /// use is limited to more than once.)
    #[inline(always)]
    fn was_filled(&self, open: &OpenLoop, i: usize) -> bool {
        if i < 64 {
            open.seen & 1 << i != 0
        } else {
            self.counts[open.base + i] != 0
        }
    }

    /// [`LoopBuilder::fill`] for a segment node among the first 64 that may
    /// be used once, whose [`SegmentNode::once`] is `once`: whether it was
    /// filled before, which is one too many.
    #[inline(always)]
    fn fill_once(&mut self, d: usize, once: u64, group: u32, bit: u64) -> bool {
        let f = &mut self.stack[d];
        f.move_to(group);
        f.filled |= bit;
        let before = f.seen & once != 0;
        f.seen |= once;
        before
    }

    /// Fills body node `i` of the open loop at depth `d`: moves the loop
    /// to `group` (when given), sets the node's required `bit` and counts
    /// one more fill; the new count.
    #[inline(always)]
    fn fill(&mut self, d: usize, i: usize, group: Option<u32>, bit: u64) -> u32 {
        // One borrow of the frame and one of the slot: indexing `stack`
        // again after a store through it reloads and rechecks its length.
        let f = &mut self.stack[d];
        if let Some(group) = group {
            f.move_to(group);
        }
        f.filled |= bit;
        let fresh = i < 64 && f.seen & 1 << i == 0;
        if i < 64 {
            f.seen |= 1 << i;
        }
        let slot = &mut self.counts[f.base + i];
        let n = if fresh { 1 } else { *slot + 1 };
        *slot = n;
        n
    }

    /// Reports the required nodes of `open` in position groups from its
    /// current one up to `to` that were never filled, at `at`: where the
    /// gap is noticed, as a 999 reports it.
    #[inline(always)]
    fn report_missing(
        &self,
        open: &OpenLoop,
        to: u32,
        at: Position,
        sink: &mut dyn FnMut(Finding),
    ) {
        // Nearly always nothing is missing: say so without the call.
        let (def, from) = (open.def, open.group);
        let l = &self.g.loops[def];
        let nothing_missing = match l.required_mask(from, to) {
            Some(mask) => mask & !open.filled == 0,
            None => l.required_in(from, to).all(|i| self.was_filled(open, i)),
        };
        if nothing_missing {
            return;
        }
        self.report_missing_cold(open, to, at, sink);
    }

    #[cold]
    #[inline(never)]
    fn report_missing_cold(
        &self,
        open: &OpenLoop,
        to: u32,
        at: Position,
        sink: &mut dyn FnMut(Finding),
    ) {
        let l = &self.g.loops[open.def];
        for i in l.required_in(open.group, to) {
            if self.was_filled(open, i) {
                continue;
            }
            let (what, missing_id, loop_id) = match &l.body[i] {
                Node::Segment(sn) => {
                    let what = match &sn.matcher {
                        Some(m) => {
                            format!("{}*{} segment", sn.id, String::from_utf8_lossy(&m.codes[0]))
                        }
                        None => format!("{} segment", sn.id),
                    };
                    (what, sn.id, &l.id)
                }
                Node::Loop(LoopNode { index, .. }) => {
                    let c = &self.g.loops[*index];
                    let what = format!("loop {} ({})", c.id, c.name);
                    (what, c.trigger().id, &c.id)
                }
            };
            // 999: IK304 3 for a missing segment, I7 for a loop that
            // occurs fewer times than the guide requires.
            let code = if matches!(l.body[i], Node::Segment(_)) {
                "3"
            } else {
                "I7"
            };
            sink(
                self.finding(
                    RuleId::SegmentMissing,
                    at,
                    format!("loop {} ({}) lacks its required {what}", l.id, l.name),
                )
                .with_ack(
                    AckDetail::segment(code)
                        .for_segment(missing_id)
                        .in_loop(loop_id),
                ),
            );
        }
    }

    #[inline(always)]
    fn close_to<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        depth: usize,
        at: Position,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        while self.stack.len() > depth {
            // Checked where it lies: moving the frame out copied it whole.
            let f = &self.stack[self.stack.len() - 1];
            let (def, base) = (f.def, f.base);
            self.close_checks(f, self.heads[def].all_required, at, sink);
            self.counts_top = base;
            self.stack.pop();
            v.close(self.g, def);
        }
    }

    /// What closing the open loop `f` (whose [`LoopHead::all_required`] is
    /// `all_required`) at `at` reports: its required nodes not filled, and
    /// an HL04 its child levels belie.
    #[inline(always)]
    fn close_checks(
        &self,
        f: &OpenLoop,
        all_required: u64,
        at: Position,
        sink: &mut dyn FnMut(Finding),
    ) {
        // What lies before the loop's current position was reported
        // when the builder moved past it; the rest is missing here.
        // (Usually every required node was filled: one word says so.)
        if all_required & !f.filled != 0 {
            self.report_missing(f, u32::MAX, at, sink);
        }
        if let Some(has) = f.hl_has_children {
            if has != f.hl_child_seen {
                let msg = if has {
                    "HL04 says child levels follow, but none do"
                } else {
                    "HL04 says no child levels follow, but some do"
                };
                sink(
                    self.finding(RuleId::Hierarchy, f.opened_at, msg.to_string())
                        .with_element("HL04")
                        .with_value(if has { "1" } else { "0" }),
                );
            }
        }
    }

    /// Notes `last`, the position of the last segment of a run fed with
    /// [`LoopBuilder::feed_in_run`].
    pub(crate) fn ran_to(&mut self, last: Position) {
        self.last_position = last;
    }

    /// Closes every open loop at the end of the transaction, reporting what
    /// is missing, and resets the builder.
    pub fn finish<'a, V: LoopVisitor<'a> + ?Sized>(
        &mut self,
        v: &mut V,
        sink: &mut dyn FnMut(Finding),
    ) {
        self.close_to(0, self.last_position, v, sink);
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::Grammars;
    use crate::lex::Delimiters;

    #[test]
    fn packed_steps_unpack_to_what_was_packed() {
        for step in [
            Step::NotHere,
            Step::Repeat,
            Step::Node(0),
            Step::Node(65_533),
        ] {
            let packed = PackedStep::pack(step).expect("packs");
            assert_eq!(packed.unpack(), step);
        }
        // Body indexes that would read back as the two named steps are
        // never remembered.
        assert_eq!(PackedStep::pack(Step::Node(65_534)), None);
        assert_eq!(PackedStep::pack(Step::Node(1 << 20)), None);
    }

    #[test]
    fn one_load_qualifier_reads_agree_with_the_general_read() {
        // Every segment of id + up to three elements over a small alphabet
        // (blanks, component separators, empty elements, elements at the
        // very end), read at every (element, component) the builder uses.
        let parts: [&[u8]; 9] = [
            b"",
            b"1",
            b"AB",
            b" X",
            b"Y ",
            b"A:B",
            b"ABCDEFG",
            b"ABCDEFGH",
            b":Q",
        ];
        let general = |seg: &Segment<'_>, at: (u16, u16)| -> (Vec<u8>, u64) {
            let v = match seg.element(usize::from(at.0)) {
                None => &[][..],
                Some(e) if at.1 == 0 => e.as_bytes(),
                Some(e) => e.component(usize::from(at.1)).unwrap_or(&[]),
            };
            let v = v.trim_ascii();
            (v.to_vec(), pack_code(v).unwrap_or(u64::MAX))
        };
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for n in 1..=3 {
                        let mut bytes = b"HL".to_vec();
                        for p in [a, b, c].iter().take(n) {
                            bytes.push(b'*');
                            bytes.extend_from_slice(p);
                        }
                        let seg = Segment::new(&bytes, Delimiters::STANDARD, Position::default());
                        let id = seg.id().expect("HL");
                        for at in [(1, 0), (2, 0), (3, 0), (4, 0), (1, 1), (3, 1), (2, 2)] {
                            let mut q = Qual::new(&seg, id);
                            q.load(at);
                            let (raw, key) = general(&seg, at);
                            assert_eq!((q.raw.to_vec(), q.key), (raw, key), "{bytes:?} at {at:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    /// Every segment of every transaction in `input`, with the form its
    /// ST03 declares.
    fn transactions(input: &[u8]) -> Vec<(bool, Vec<Segment<'_>>)> {
        let mut out = Vec::new();
        let mut rdr = crate::reader::Reader::new(input, "t");
        let mut block = crate::reader::Block::new();
        let mut blocks = Vec::new();
        while rdr.read_block(&mut block, &mut |_| {}).expect("readable") {
            if block.kind() == crate::reader::BlockKind::Transaction {
                blocks.push(block.clone());
            }
        }
        // Segments borrow the blocks: leak them for the test's length.
        for b in Box::leak(blocks.into_boxed_slice()).iter() {
            let segs: Vec<Segment<'_>> = b.segments().collect();
            let institutional = segs[0].value(3).starts_with(b"005010X223");
            out.push((institutional, segs));
        }
        out
    }

    /// The memo places every segment where the general path does: the same
    /// events and findings with it and without it, over the samples, the
    /// test inputs, all of them read by one builder (separators change
    /// between interchanges), and edits that drop, repeat and swap
    /// segments so that the builder reaches states and stray segments a
    /// clean file never shows.
    #[test]
    fn memo_agrees_with_the_general_path() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for dir in ["samples", "tests/data"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
                .expect("readable directory")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "edi"))
                .collect();
            files.sort();
            inputs.extend(files.iter().map(|f| std::fs::read(f).expect("readable")));
        }
        assert!(inputs.len() > 40);
        inputs.push(inputs.concat());
        // A root that repeats a segment it has no place for.
        inputs.push(b"ISA*00*          *00*          *ZZ*S              *ZZ*R              *240105*0930*^*00501*000000001*0*P*:~GS*HC*S*R*20240105*0930*1*X*005010X222A1~ST*837*0001*005010X222A1~NTE*A~NTE*A~BHT*0019*00*1*20240105*0930*CH~SE*5*0001~GE*1*1~IEA*1*000000001~".to_vec());
        let gs = Grammars::embedded();
        let mut checked = 0usize;
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut memo = [
            LoopBuilder::new(&gs.professional, "t"),
            LoopBuilder::new(&gs.institutional, "t"),
        ];
        let mut general = [
            LoopBuilder::new(&gs.professional, "t").without_memo(),
            LoopBuilder::new(&gs.institutional, "t").without_memo(),
        ];
        let used = |b: &LoopBuilder<'_>| b.memo.iter().flatten().filter(|m| m.state != 0).count();
        let mut peak = [0usize; 2];
        for input in &inputs {
            for (institutional, segs) in transactions(input) {
                let k = usize::from(institutional);
                let mut edits = vec![segs.clone()];
                for _ in 0..40 {
                    let mut e = segs.clone();
                    for _ in 0..1 + next(3) {
                        let i = 1 + next(e.len() - 1);
                        match next(3) {
                            0 => {
                                e.remove(i);
                            }
                            1 => e.insert(i, e[i]),
                            _ => e.swap(i - 1, i),
                        }
                        if e.len() < 2 {
                            break;
                        }
                    }
                    edits.push(e);
                }
                for e in &edits {
                    let run = |b: &mut LoopBuilder<'_>| {
                        let mut t = Trace::default();
                        let mut f = Vec::new();
                        for s in e {
                            b.feed(s, &mut t, &mut |x| f.push(format!("{x:?}")));
                        }
                        b.finish(&mut t, &mut |x| f.push(format!("{x:?}")));
                        (t.0, f)
                    };
                    assert_eq!(run(&mut memo[k]), run(&mut general[k]));
                    checked += 1;
                }
                peak[k] = peak[k].max(used(&memo[k]));
            }
        }
        assert!(checked > 2_000, "{checked}");
        // The general side really took the general path every time.
        assert!(general.iter().all(|b| used(b) == 0));
        // (The memo empties when the separators change: its fullest.)
        assert!(peak.iter().all(|&n| n > 20), "{peak:?}");
        let far = |b: &LoopBuilder<'_>| b.far.iter().flatten().filter(|e| e.key != 0).count();
        assert!(general.iter().all(|b| far(b) == 0));
        assert!(memo.iter().all(|b| far(b) > 2));
        // Some key met two stacks and kept both.
        assert!(memo.iter().any(|b| b.far.iter().any(|set| set[1].key != 0)));
    }

    #[test]
    fn a_short_segment_ending_in_its_qualifier_is_remembered() {
        let d = Delimiters::STANDARD;
        // PAT01 decides PAT's node, and nothing follows it in `PAT*19`:
        // the separator the head adds ends it, as `PAT*19*...` would.
        let head = Memo::head(b"PAT*19", d.element);
        assert_eq!(Memo::decisive_len(head, 6, d, Some((1, 0))), Some(7));
        let shift = 64 - 8 * 7;
        let prefix = head << shift;
        assert_eq!(Memo::head(b"PAT*19*X", d.element) << shift, prefix);
        for other in [&b"PAT*190"[..], b"PAT*1", b"PAT*19\0X", b"PAT*1*"] {
            assert_ne!(Memo::head(other, d.element) << shift, prefix, "{other:?}");
        }
        // Fed in a transaction, the dependent's PAT is found in the memo.
        let input = include_bytes!("../../samples/837p-dependent-patient.edi");
        let gs = Grammars::embedded();
        let mut b = LoopBuilder::new(&gs.professional, "t");
        let mut pat = None;
        for (_, segs) in transactions(input) {
            for seg in &segs {
                b.feed(seg, &mut (), &mut |f| panic!("{f:?}"));
                if seg.as_bytes().starts_with(b"PAT") {
                    pat = Some(*seg);
                }
            }
            b.finish(&mut (), &mut |f| panic!("{f:?}"));
        }
        let pat = pat.expect("a PAT in the sample");
        // `PAT*01` and the separator after it decide the step.
        let head = Memo::head(pat.as_bytes(), d.element);
        assert!(
            b.memo.iter().flatten().any(|m| m.state != 0
                && m.step != PackedStep::NOT_HERE
                && m.shift == shift
                && head << m.shift == m.prefix),
            "no memo entry for {:?}",
            String::from_utf8_lossy(pat.as_bytes())
        );
    }

    /// A prefix is remembered with the separators it was read under: after
    /// a transaction separated by `*`, one separated by `|` whose 1000A
    /// name holds `*` bytes is not placed by the `NM1*41*` prefix learnt
    /// before (under `|`, `NM1*41*2*ACME` is no segment id at all).
    #[test]
    fn memo_is_emptied_when_the_separators_change() {
        let g = &Grammars::embedded().professional;
        let star = Delimiters::STANDARD;
        let bar = Delimiters {
            element: b'|',
            ..star
        };
        let name = &b"NM1*41*2*ACME"[..];
        let run = |b: &mut LoopBuilder<'_>| {
            let mut f = Vec::new();
            for (d, text) in [
                (star, &b"ST*837*0001*005010X222A1"[..]),
                (star, b"BHT*0019*00*1*20240105*0930*CH"),
                (star, name),
                (bar, b"ST|837|0002|005010X222A1"),
                (bar, b"BHT|0019|00|1|20240105|0930|CH"),
                (bar, name),
            ] {
                if text.starts_with(b"ST") {
                    b.finish(&mut (), &mut |_| {});
                    f.clear();
                }
                let seg = Segment::new(text, d, Position::default());
                b.feed(&seg, &mut (), &mut |x| f.push(x));
            }
            f
        };
        let memo = run(&mut LoopBuilder::new(g, "t"));
        let general = run(&mut LoopBuilder::new(g, "t").without_memo());
        assert_eq!(format!("{memo:?}"), format!("{general:?}"));
        assert_eq!(memo.len(), 1, "{memo:?}");
        assert_eq!(memo[0].rule, RuleId::SegmentSyntax);
    }

    /// A loop listed under two parents (as 2300 is under 2000B and
    /// 2000C) closes onto either: the step remembered one level out holds
    /// only for the parent state it was found in. Here `XX` follows loop L
    /// in A's body, not in B's, so after L under B it fits nowhere; the
    /// memo must not place it at A's node.
    #[test]
    fn steps_one_level_out_hold_for_their_parent_only() {
        // Loops A and B differ only in their trigger and their last segment.
        let parent = |id: &str, trigger: &str, last: &str| {
            format!(
                "[[loop]]\nid = \"{id}\"\nname = \"{id}\"\nparent = \"ST\"\nusage = \"S\"\nrepeat = \">1\"\nbody = [\n  {{ segment = \"{trigger}\", usage = \"R\", max = 1 }},\n  {{ loop = \"L\" }},\n  {{ segment = \"{last}\", usage = \"S\", max = 1 }},\n]\n"
            )
        };
        let (a, b) = (parent("A", "N1", "XX"), parent("B", "N2", "YY"));
        let head = r#"guide = "X"
form = "837P"
title = "t"
[[loop]]
id = "ST"
name = "r"
parent = ""
usage = "R"
repeat = 1
body = [
  { segment = "ST", usage = "R", max = 1 },
  { loop = "A" },
  { loop = "B" },
  { segment = "SE", usage = "R", max = 1 },
]
"#;
        let tail = r#"[[loop]]
id = "L"
name = "l"
parent = "A"
usage = "S"
repeat = ">1"
body = [
  { segment = "LX", usage = "R", max = 1 },
  { segment = "DT", usage = "S", max = 1 },
]
"#;
        let text = format!("{head}{a}{b}{tail}");
        let g = Grammar::from_toml(&text).expect("a valid map");
        let input = "ST*1~N1*A~LX*1~DT*1~XX*1~N1*A~LX*1~DT*1~XX*1~N2*B~LX*1~DT*1~XX*1~SE*1~";
        let (trace, findings) = build(&g, input);
        let s = trace.join(" ");
        // The second XX is placed by the memo one level out; the third
        // fits nowhere.
        let a = "+A N1@A +L LX@L DT@L -L XX@A -A";
        assert!(s.starts_with(&format!("+ST ST@ST {a} {a} ")), "{s}");
        assert!(s.contains("+B N2@B +L LX@L DT@L !XX@L -L -B"), "{s}");
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].rule, RuleId::SegmentOutOfPlace);
        // And the same without the memo.
        let general = LoopBuilder::new(&g, "t").without_memo();
        assert_eq!(build_with(general, input), (trace, findings));
    }

    #[test]
    fn step_slots_hold_what_was_put_and_nothing_else() {
        let gs = Grammars::embedded();
        // The embedded maps fit the packed keys, so the cache is in use.
        assert!(StepCache::new(&gs.professional).usable);
        assert!(StepCache::new(&gs.institutional).usable);
        let id = SegmentId::new(b"NM1");
        let key = StepCache::key(200, true, 255, id);
        for step in [
            Step::NotHere,
            Step::Repeat,
            Step::Node(0),
            Step::Node(65_000),
        ] {
            let slot = StepSlot::pack(key, 7, step);
            assert_eq!(slot.get(key, 7), Some(step));
            assert_eq!(slot.get(key, 8), None);
            assert_eq!(slot.get(StepCache::key(200, false, 255, id), 7), None);
            assert_eq!(slot.get(StepCache::key(199, true, 255, id), 7), None);
        }
        // An empty slot matches no key, the all-zero one included.
        let empty = StepSlot { tag: 0, qual: 0 };
        assert_eq!(empty.get(0, 0), None);
    }

    #[derive(Default)]
    struct Trace(Vec<String>);

    impl<'a> LoopVisitor<'a> for Trace {
        fn open(&mut self, g: &Grammar, l: usize, _: &Segment<'a>) {
            self.0.push(format!("+{}", g.loops[l].id));
        }
        fn segment(&mut self, g: &Grammar, l: usize, s: &Segment<'a>, node: Option<&SegmentNode>) {
            let mark = if node.is_some() { "" } else { "!" };
            self.0.push(format!(
                "{mark}{}@{}",
                String::from_utf8_lossy(s.id_bytes()),
                g.loops[l].id
            ));
        }
        fn close(&mut self, g: &Grammar, l: usize) {
            self.0.push(format!("-{}", g.loops[l].id));
        }
    }

    fn build(g: &Grammar, text: &str) -> (Vec<String>, Vec<Finding>) {
        build_with(LoopBuilder::new(g, "t"), text)
    }

    /// The events and findings of `b` over the segments of `text`.
    fn build_with(mut b: LoopBuilder<'_>, text: &str) -> (Vec<String>, Vec<Finding>) {
        let mut t = Trace::default();
        let mut findings = Vec::new();
        for (i, s) in text
            .split('~')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let seg = Segment::new(
                s.as_bytes(),
                Delimiters::STANDARD,
                Position {
                    segment: i as u64 + 1,
                    offset: 0,
                },
            );
            b.feed(&seg, &mut t, &mut |f| findings.push(f));
        }
        b.finish(&mut t, &mut |f| findings.push(f));
        (t.0, findings)
    }

    const PRIMER: &str = "ST*837*0001*005010X222A1~BHT*0019*00*B1*20240105*0930*CH~NM1*41*2*ACME*****46*S1~PER*IC*DESK*TE*5555550100~NM1*40*2*PLAN*****46*P1~HL*1**20*1~NM1*85*2*CLINIC*****XX*1234567893~N3*1 MAIN~N4*X*IL*62701~REF*EI*123456789~HL*2*1*22*0~SBR*P*18*******CI~NM1*IL*1*DOE*JOHN****MI*W1~NM1*PR*2*PLAN*****PI*P1~CLM*PCN1*150***11:B:1*Y*A*Y*Y~HI*ABK:J069~LX*1~SV1*HC:99213*100*UN*1***1~DTP*472*D8*20231215~LX*2~SV1*HC:87880*50*UN*1***1~DTP*472*D8*20231215~SE*23*0001~";

    /// A loop that repeats (not an HL level) closes and opens again in its
    /// own frame: the same events, findings and positions as a close and a
    /// fresh open, loops inside it closed first, counts and required
    /// segments starting over.
    #[test]
    fn a_repeated_loop_starts_over_in_its_frame() {
        let g = &Grammars::embedded().professional;
        let start = PRIMER.find("LX*1").expect("a line");
        let end = PRIMER.find("SE*").expect("a trailer");
        let lines = [
            // 1: a drug loop (2410) inside the line.
            "LX*1~SV1*HC:99213*100*UN*1***1~DTP*472*D8*20231215~LIN**N4*01234567890~CTP****1*UN~",
            // 2: no SV1, which its DTP, past where SV1 goes, finds missing.
            "LX*2~DTP*472*D8*20231215~",
            // 3: its service date twice.
            "LX*3~SV1*HC:99213*100*UN*1***1~DTP*472*D8*20231215~DTP*472*D8*20231215~",
            // 4: once again, and a drug loop without its CTP.
            "LX*4~SV1*HC:99213*100*UN*1***1~DTP*472*D8*20231215~LIN**N4*01234567890~",
            "LX*5~SV1*HC:99213*100*UN*1***1~DTP*472*D8*20231215~",
        ];
        let text = format!("{}{}{}", &PRIMER[..start], lines.concat(), &PRIMER[end..]);
        let (trace, findings) = build(g, &text);
        let from = trace.iter().position(|e| e == "+2400").expect("a line");
        let to = trace.iter().rposition(|e| e == "-2400").expect("a line");
        let want = [
            "+2400", "LX@2400", "SV1@2400", "DTP@2400", "+2410", "LIN@2410", "CTP@2410", "-2410",
            "-2400", "+2400", "LX@2400", "DTP@2400", "-2400", "+2400", "LX@2400", "SV1@2400",
            "DTP@2400", "DTP@2400", "-2400", "+2400", "LX@2400", "SV1@2400", "DTP@2400", "+2410",
            "LIN@2410", "-2410", "-2400", "+2400", "LX@2400", "SV1@2400", "DTP@2400", "-2400",
        ];
        assert_eq!(trace[from..=to], want);
        // Segment numbers: where line 2's DTP, the second DTP of line 3 and
        // line 5's LX fall.
        let number = |needle: &str, nth: usize| {
            let at = text.match_indices(needle).nth(nth).expect("in the text").0;
            text[..at].matches('~').count() as u64 + 1
        };
        let seen: Vec<_> = findings
            .iter()
            .map(|f| (f.rule, f.position().segment, f.message.clone()))
            .collect();
        assert_eq!(seen.len(), 3, "{seen:#?}");
        assert_eq!(seen[0].0, RuleId::SegmentMissing);
        assert_eq!(seen[0].1, number("DTP*472", 1));
        assert!(seen[0].2.contains("SV1"), "{seen:#?}");
        assert_eq!(seen[1].0, RuleId::RepeatExceeded);
        assert_eq!(seen[1].1, number("DTP*472", 3));
        assert_eq!(seen[2].0, RuleId::SegmentMissing);
        assert_eq!(seen[2].1, number("LX*5", 0));
        assert!(seen[2].2.contains("CTP"), "{seen:#?}");
    }

    #[test]
    fn primer_example_builds_cleanly() {
        let g = &Grammars::embedded().professional;
        let (trace, findings) = build(g, PRIMER);
        assert!(findings.is_empty(), "{findings:#?}");
        let s = trace.join(" ");
        assert!(
            s.contains("+2300 CLM@2300 HI@2300 +2400 LX@2400 SV1@2400 DTP@2400 -2400 +2400"),
            "{s}"
        );
        assert!(s.contains("NM1@2010BB -2010BB +2300"), "{s}");
        assert!(s.ends_with("-2400 -2300 -2000B -2000A SE@ST -ST"), "{s}");
    }

    #[test]
    fn stray_segment_is_out_of_place_and_does_not_derail() {
        let g = &Grammars::embedded().professional;
        let text = PRIMER.replace("LX*2~", "ZZZ*1~LX*2~");
        let (trace, findings) = build(g, &text);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].rule, RuleId::SegmentOutOfPlace);
        assert!(trace.iter().any(|t| t == "!ZZZ@2400"));
        assert!(trace.iter().filter(|t| *t == "+2400").count() == 2);
    }

    #[test]
    fn missing_required_segment() {
        let g = &Grammars::embedded().professional;
        let (_, findings) = build(g, &PRIMER.replace("HI*ABK:J069~", ""));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].rule, RuleId::SegmentMissing);
        assert!(findings[0].message.contains("HI"));
    }

    #[test]
    fn required_segment_missing_where_its_loop_closes() {
        // Each 2400 loop lacks its DTP*472 at its end: noticed when the
        // next LX starts another line, and when SE closes the last one.
        let g = &Grammars::embedded().professional;
        let (_, findings) = build(g, &PRIMER.replace("DTP*472*D8*20231215~", ""));
        assert_eq!(findings.len(), 2, "{findings:#?}");
        for f in &findings {
            assert_eq!(f.rule, RuleId::SegmentMissing);
            assert!(
                f.message.contains("loop 2400") && f.message.contains("DTP"),
                "{f:?}"
            );
        }
    }

    #[test]
    fn repeat_exceeded() {
        let g = &Grammars::embedded().professional;
        let (_, findings) = build(
            g,
            &PRIMER.replace(
                "BHT*0019*00*B1*20240105*0930*CH~",
                "BHT*0019*00*B1*20240105*0930*CH~BHT*0019*00*B1*20240105*0930*CH~",
            ),
        );
        assert!(
            findings.iter().any(|f| f.rule == RuleId::RepeatExceeded),
            "{findings:#?}"
        );
    }

    /// Counts start again in every loop instance, though a new instance
    /// reuses the slots of the one before (see [`OpenLoop::seen`]).
    #[test]
    fn counts_are_per_loop_instance() {
        let g = &Grammars::embedded().professional;
        let line = "LX*1~SV1*HC:99213*1*UN*1***1~DTP*472*D8*20231215~";
        let claim = |lines: usize| {
            format!(
                "CLM*PCN1*{lines}***11:B:1*Y*A*Y*Y~HI*ABK:J069~{}",
                line.repeat(lines)
            )
        };
        let with = |claims: &str| {
            let start = PRIMER.find("CLM*").expect("a claim");
            let end = PRIMER.find("SE*").expect("a trailer");
            format!("{}{claims}{}", &PRIMER[..start], &PRIMER[end..])
        };
        let repeats = |text: &str| {
            build(g, text)
                .1
                .iter()
                .filter(|f| f.rule == RuleId::RepeatExceeded)
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
        };
        // 2400 repeats at most 50 times per claim.
        assert_eq!(repeats(&with(&claim(50).repeat(3))), Vec::<String>::new());
        let over = repeats(&with(&format!("{}{}", claim(50), claim(51))));
        assert_eq!(over.len(), 1, "{over:?}");
        assert!(over[0].contains("loop 2400"), "{over:?}");
        // A segment used once per line, in line after line.
        let twice = line.replace(
            "DTP*472*D8*20231215~",
            "DTP*472*D8*20231215~DTP*472*D8*20231215~",
        );
        let text = with(&format!(
            "{}{}{}",
            claim(2),
            "CLM*PCN2*2***11:B:1*Y*A*Y*Y~HI*ABK:J069~",
            twice
        ));
        let over = repeats(&text);
        assert_eq!(over.len(), 1, "{over:?}");
        assert!(over[0].contains("DTP"), "{over:?}");
    }

    #[test]
    fn hierarchy_findings() {
        let g = &Grammars::embedded().professional;
        let (_, f) = build(
            g,
            &PRIMER
                .replace("HL*1**20*1~", "HL*3**20*1~")
                .replace("HL*2*1*22*0~", "HL*4*3*22*0~"),
        );
        assert_eq!(
            f.iter().filter(|f| f.rule == RuleId::Hierarchy).count(),
            1,
            "{f:#?}"
        );
        let (_, f) = build(g, &PRIMER.replace("HL*2*1*22*0~", "HL*2*7*22*0~"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].element.as_deref(), Some("HL02"));
        let (_, f) = build(g, &PRIMER.replace("HL*2*1*22*0~", "HL*2*1*22*1~"));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].element.as_deref(), Some("HL04"));
        // Blanks around the values are not numbers' business, under 64
        // bytes (read from the separator map) and over (read element by
        // element).
        let pad = " ".repeat(60);
        for hl in [
            "HL* 2 * 1*22* 0 ",
            &format!("HL*2*1{pad}*22*0"),
            &format!("HL*2*1*22*0{pad}"),
        ] {
            let (_, f) = build(g, &PRIMER.replace("HL*2*1*22*0", hl));
            assert!(f.is_empty(), "{hl:?}: {f:#?}");
        }
        for (hl, element) in [
            ("HL*2a*1*22*0", "HL01"),
            ("HL*2000000000000*1*22*0", "HL01"),
            ("HL**1*22*0", "HL01"),
            ("HL*2*1a*22*0", "HL02"),
            ("HL*2*1*22*2", "HL04"),
            (&format!("HL*2*1{pad}*22*"), "HL04"),
            (&format!("HL*2*7{pad}*22*0"), "HL02"),
        ] {
            let (_, f) = build(g, &PRIMER.replace("HL*2*1*22*0", hl));
            let hl_findings: Vec<_> = f.iter().filter(|f| f.rule == RuleId::Hierarchy).collect();
            assert_eq!(hl_findings.len(), 1, "{hl:?}: {f:#?}");
            assert_eq!(hl_findings[0].element.as_deref(), Some(element), "{hl:?}");
        }
    }
}
