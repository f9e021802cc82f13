//! Element validation: one placed segment against what the guide says of its
//! elements at that place.
//!
//! The loop builder knows which [`SegmentNode`] a segment fills; when the
//! element map defines it, [`ElementChecker::check`] walks the segment's
//! elements once and reports, each as its own finding with the element's
//! name and value in fields of their own:
//!
//! - `element-missing`: a required element or component is empty, or a
//!   relational condition (`P`, `R`, `C`, `L`) asks for one;
//! - `element-not-used`: the guide marks the element not used, or an
//!   exclusion condition (`E`) forbids it next to another;
//! - `element-syntax`: wrong length, a character outside the extended
//!   character set, a number or time that is not one, too many elements,
//!   components or repetitions;
//! - `code-invalid`: a code outside the guide's list or a known external list;
//! - `bad-date`: a `DT` element that is not a real date.
//!
//! Values of string and date elements can be names, member ids or birth
//! dates, so findings mark them as PHI; codes and numbers are shown.
//!
//! [`SegmentNode`]: crate::grammar::SegmentNode

use std::sync::Arc;

use crate::codes::{pack_exact, CodeLists, KNOWN_LISTS};
use crate::finding::{AckDetail, Finding, RuleId};
use crate::grammar::elements::{
    Codes, Condition, ConditionKind, DataType, ElementDef, ElementSlot, ElementUsage,
    ExternalCodes, SegmentDef,
};
use crate::lex::{each_sep, element_name, index_seps, Delimiters, Segment};

/// Byte classes of the element checker's table.
const PLAIN: u8 = 0;
const COMPONENT: u8 = 1;
const REPETITION: u8 = 2;
/// Outside the extended character set: control bytes and non-ASCII.
const INVALID: u8 = 3;

/// Checks segments against their element definitions.
///
/// ```
/// use std::sync::Arc;
/// use scrub837::codes::CodeLists;
/// use scrub837::grammar::{Grammars, Node};
/// use scrub837::lex::{Delimiters, Segment};
/// use scrub837::validate::ElementChecker;
/// use scrub837::Position;
///
/// let g = &Grammars::embedded().professional;
/// let node = g.loops[g.loop_index("2300").unwrap()].trigger();
/// let def = node.elements.as_ref().unwrap();
/// let mut checker = ElementChecker::new(Arc::new(CodeLists::bundled().clone()), "x.edi");
/// let seg = Segment::new(b"CLM*A1*100***11:X:1*Y*A*Y*Y", Delimiters::STANDARD, Position::default());
/// let mut found = Vec::new();
/// checker.check(def, &seg, &mut |f| found.push(f));
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].rule.as_str(), "code-invalid");
/// assert_eq!(found[0].element.as_deref(), Some("CLM05-2"));
/// assert_eq!(found[0].value.as_deref(), Some("X"));
/// ```
#[derive(Clone, Debug)]
pub struct ElementChecker {
    codes: Arc<CodeLists>,
    label: Arc<str>,
    delims: Option<Delimiters>,
    class: [u8; 256],
    memo: Memo,
    composites: CompositeMemo,
    /// A value padded with trailing spaces was reported (once per input).
    padded: std::cell::Cell<bool>,
    /// The separators leave the fast path's tests exact (see
    /// [`ElementChecker::classes_for`]).
    fast: bool,
    element_sep: u8,
    component_sep: u8,
    words: Words,
    /// Bit `i` set: list `i` of [`KNOWN_LISTS`] is known, so checked.
    lists: u64,
}

/// Segments already found clean, by definition and bytes.
///
/// A segment's element findings depend only on its bytes, its definition,
/// the delimiters and the code lists, and the last two are fixed while they
/// are cached. Most segments of a claim file repeat one seen before (the
/// same LX, DTP, SV1, provider NM1 and N4 claim after claim: three in four
/// of the generated benchmark's), so a clean one is remembered and its
/// repeats skip the checks. A direct-mapped table of short segments, kept
/// byte for byte: a hit is an exact match, never a hash guess.
///
/// Some definitions' segments never repeat (a claim's CLM, a subscriber's
/// N3): the memo keeps count of how often it helps each definition, and
/// past a warm-up stops looking up and storing those it seldom does, which
/// saves the lookup and keeps them from evicting segments that do repeat.
/// It still tries one in [`MEMO_SAMPLE`] of them, in case that changes.
#[derive(Clone)]
struct Memo {
    slots: Box<[MemoSlot]>,
    /// By [`Plan::id`].
    stats: Vec<MemoStats>,
}

#[derive(Clone, Copy, Debug, Default)]
struct MemoStats {
    seen: u32,
    tries: u32,
    hits: u32,
}

/// Lookups before a definition's hit rate counts.
const MEMO_WARM_UP: u32 = 64;
/// A lookup that misses costs about a sixth of what a hit saves.
const MEMO_MIN_RATE: u32 = 6;
const MEMO_SAMPLE: u32 = 64;

/// Segments longer than this are checked every time.
const MEMO_BYTES: usize = 48;
const MEMO_SLOTS: usize = 4096;

/// A segment under a definition, as the memo keeps it: the definition's
/// [`Plan::id`] plus one, the length, and the bytes as six words at offsets 0, 8, .. 40,
/// each offset clamped to `len - 8` so that the words overlap at the end
/// and cover every byte of a segment of 8 to 48 bytes (a shorter one is one
/// zero-padded word). Equal keys are equal bytes; made and compared with
/// straight-line loads, no byte loop or `memcmp`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(align(64))]
struct MemoSlot {
    /// 0 for an empty slot.
    def: usize,
    len: usize,
    words: [u64; MEMO_BYTES / 8],
}

impl MemoSlot {
    const EMPTY: MemoSlot = MemoSlot {
        def: 0,
        len: 0,
        words: [0; MEMO_BYTES / 8],
    };

    /// The key of `bytes` (at most [`MEMO_BYTES`]) under `def`.
    #[inline(always)]
    fn new(def: usize, bytes: &[u8]) -> MemoSlot {
        let len = bytes.len();
        let mut words = [0u64; MEMO_BYTES / 8];
        if len >= 8 {
            for (k, w) in words.iter_mut().enumerate() {
                let at = (8 * k).min(len - 8);
                *w = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
            }
        } else {
            words[0] = load_short(bytes);
        }
        MemoSlot { def, len, words }
    }

    /// The slot of this key: independent multiplies, summed.
    #[inline(always)]
    fn index(&self) -> usize {
        const K: [u64; 6] = [
            0x9E37_79B9_7F4A_7C15,
            0xC2B2_AE3D_27D4_EB4F,
            0x1656_67B1_9E37_79F9,
            0x85EB_CA77_C2B2_AE63,
            0x27D4_EB2F_1656_67C5,
            0xFF51_AFD7_ED55_8CCD,
        ];
        let h = self.words.iter().zip(K).fold(
            (self.def as u64 ^ self.len as u64).wrapping_mul(K[0]),
            |h, (w, k)| h.wrapping_add(w.wrapping_mul(k)),
        );
        ((h ^ h >> 29) >> 52) as usize & (MEMO_SLOTS - 1)
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Memo {
    fn new() -> Memo {
        Memo {
            slots: vec![MemoSlot::EMPTY; MEMO_SLOTS].into_boxed_slice(),
            stats: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.slots.fill(MemoSlot::EMPTY);
    }

    /// Whether to look a segment of definition `id` up.
    #[inline]
    fn worth_trying(&mut self, id: usize) -> bool {
        if id >= self.stats.len() {
            self.grow(id);
        }
        let s = &mut self.stats[id];
        s.seen = s.seen.wrapping_add(1);
        s.tries < MEMO_WARM_UP
            || s.hits.saturating_mul(MEMO_MIN_RATE) >= s.tries
            || s.seen % MEMO_SAMPLE == 0
    }

    #[cold]
    fn grow(&mut self, id: usize) {
        self.stats.resize(id + 1, MemoStats::default());
    }

    #[inline]
    fn tried(&mut self, id: usize, hit: bool) {
        let s = &mut self.stats[id];
        s.tries += 1;
        s.hits += u32::from(hit);
        if s.tries == 1 << 16 {
            // Recent segments count more.
            s.tries /= 2;
            s.hits /= 2;
        }
    }
}

/// Composite values already found clean, by step: most repeat (CLM05
/// `11:B:1`, SV107 `1:2`, the same procedure in SV101), and one costs a
/// split and a check per component. Direct-mapped, exact like [`Memo`].
#[derive(Clone)]
struct CompositeMemo {
    slots: Box<[CompositeSlot]>,
}

const COMPOSITE_SLOTS: usize = 1024;

impl std::fmt::Debug for CompositeMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeMemo")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl CompositeMemo {
    fn new() -> CompositeMemo {
        CompositeMemo {
            slots: vec![CompositeSlot::EMPTY; COMPOSITE_SLOTS].into_boxed_slice(),
        }
    }

    fn clear(&mut self) {
        self.slots.fill(CompositeSlot::EMPTY);
    }
}

/// A composite value of up to 16 bytes under one step: two words that
/// overlap when it is shorter, as [`MemoSlot`] does for segments.
#[derive(Clone, Copy, PartialEq, Eq)]
struct CompositeSlot {
    /// The step: its plan's id plus one (0: empty), and its index.
    plan: usize,
    step: usize,
    len: usize,
    words: [u64; 2],
}

impl CompositeSlot {
    const EMPTY: CompositeSlot = CompositeSlot {
        plan: 0,
        step: 0,
        len: 0,
        words: [0; 2],
    };

    #[inline(always)]
    fn new(plan: usize, step: usize, v: &[u8]) -> Option<CompositeSlot> {
        let len = v.len();
        let words = match len {
            0..8 => [load_short(v), 0],
            8..=16 => [
                u64::from_le_bytes(v[..8].try_into().expect("eight bytes")),
                u64::from_le_bytes(v[len - 8..].try_into().expect("eight bytes")),
            ],
            _ => return None,
        };
        Some(CompositeSlot {
            plan: plan + 1,
            step,
            len,
            words,
        })
    }

    #[inline(always)]
    fn index(&self) -> usize {
        let h = (self.plan as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add((self.step as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
            .wrapping_add(self.words[0].wrapping_mul(0x1656_67B1_9E37_79F9))
            .wrapping_add(self.words[1].wrapping_mul(0x85EB_CA77_C2B2_AE63));
        (h >> 54) as usize & (COMPOSITE_SLOTS - 1)
    }
}

/// What one pass over an element's bytes saw.
#[derive(Clone, Copy, Default)]
struct Scan {
    component: bool,
    repetition: bool,
    invalid: bool,
}

/// The end of the message of a finding the element checker makes only
/// once per input (trailing spaces): [`is_said_once`] tells it by this.
const SAID_ONCE: &str = "(reported once per file)";

/// Whether `f` is a finding an [`ElementChecker`] makes only once per input.
/// A scan with several checkers for one input (one per worker thread) keeps
/// the first in file order.
pub(crate) fn is_said_once(f: &Finding) -> bool {
    f.rule == RuleId::LenientRead && f.message.ends_with(SAID_ONCE)
}

impl ElementChecker {
    /// A checker with these external code lists, labelling findings with
    /// the input's name.
    pub fn new(codes: Arc<CodeLists>, label: impl Into<Arc<str>>) -> ElementChecker {
        let lists = (0..KNOWN_LISTS.len().min(64))
            .filter(|i| codes.at(*i).is_some())
            .fold(0u64, |m, i| m | 1 << i);
        ElementChecker {
            codes,
            label: label.into(),
            delims: None,
            class: [PLAIN; 256],
            memo: Memo::new(),
            composites: CompositeMemo::new(),
            padded: std::cell::Cell::new(false),
            fast: false,
            element_sep: 0,
            component_sep: 0,
            words: Words::new(Delimiters::STANDARD),
            lists,
        }
    }

    /// Uses another label (the next input).
    pub fn set_label(&mut self, label: Arc<str>) {
        self.label = label;
    }

    fn classes_for(&mut self, d: Delimiters) {
        if self.delims == Some(d) {
            return;
        }
        // What was clean under other separators may not be now.
        self.memo.clear();
        self.composites.clear();
        for (b, c) in self.class.iter_mut().enumerate() {
            // The extended character set: printable ASCII.
            *c = if (0x20..0x7F).contains(&b) {
                PLAIN
            } else {
                INVALID
            };
        }
        self.class[usize::from(d.component)] = COMPONENT;
        if let Some(r) = d.repetition {
            self.class[usize::from(r)] = REPETITION;
        }
        self.delims = Some(d);
        // The fast path takes a value made of digits, letters, `-`, `.` and
        // spaces for one without separators; a separator that is one of
        // those leaves every segment to the full check.
        let data = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-' | b'.');
        self.fast = !data(d.component) && !d.repetition.is_some_and(data);
        self.element_sep = d.element;
        self.component_sep = d.component;
        self.words = Words::new(d);
    }

    /// What `v` holds besides plain characters: a SWAR test of eight bytes
    /// at a time first, since nearly every element is plain.
    #[inline]
    fn scan(&self, v: &[u8], d: Delimiters) -> Scan {
        if all_plain(v, d) {
            return Scan::default();
        }
        self.classify(v)
    }

    #[cold]
    fn classify(&self, v: &[u8]) -> Scan {
        let mut s = Scan::default();
        for &b in v {
            match self.class[usize::from(b)] {
                PLAIN => {}
                COMPONENT => s.component = true,
                REPETITION => s.repetition = true,
                _ => s.invalid = true,
            }
        }
        s
    }

    /// Checks `seg` against `def`, reporting to `sink`.
    pub fn check(&mut self, def: &SegmentDef, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        self.classes_for(seg.delimiters());
        let bytes = seg.as_bytes();
        if bytes.len() > MEMO_BYTES || !self.memo.worth_trying(def.plan.id) {
            if !(self.fast && self.clean(def, bytes, seg.field_ends())) {
                self.check_uncached(def, seg, sink);
            }
            return;
        }
        let key = MemoSlot::new(def.plan.id + 1, bytes);
        let i = key.index();
        let hit = self.memo.slots[i] == key;
        self.memo.tried(def.plan.id, hit);
        if hit {
            return;
        }
        if self.fast && self.clean(def, bytes, seg.field_ends()) {
            self.memo.slots[i] = key;
            return;
        }
        let mut clean = true;
        self.check_uncached(def, seg, &mut |f| {
            clean = false;
            sink(f);
        });
        if clean {
            self.memo.slots[i] = key;
        }
    }

    /// Whether `b` is clean under `def` for certain, in one pass over its
    /// elements with the definition's [`Plan`]. `false` only means "take
    /// the full check", which finds what is wrong, if anything.
    /// `ends` is `b`'s [`Segment::field_ends`], when the reader found it.
    #[inline]
    fn clean(&mut self, def: &SegmentDef, b: &[u8], ends: Option<u64>) -> bool {
        let plan = &def.plan;
        debug_assert!(ends.is_none() || ends == fields(b, self.element_sep));
        let Some(mut m) = ends.or_else(|| fields(b, self.element_sep)) else {
            return self.clean_long(def, b);
        };
        // Everything before the first separator is the id; without one,
        // only the sentinel is set and there are no elements.
        let mut start = m.trailing_zeros() as usize + 1;
        m &= m - 1;
        let slots = &plan.steps[..plan.slots];
        let mut pos = 0usize;
        let mut present = 0u64;
        while m != 0 {
            let end = m.trailing_zeros() as usize;
            m &= m - 1;
            if end > start {
                let Some(step) = slots.get(pos) else {
                    return false;
                };
                present |= 1 << pos;
                if !self.value_clean(plan, step, &b[start..end], &[]) {
                    return false;
                }
            }
            pos += 1;
            start = end + 1;
        }
        def.required & !present == 0 && plan.conds_hold(present, plan.segment_conds())
    }

    /// [`ElementChecker::clean`] for a segment too long for one bitmap.
    #[cold]
    #[inline(never)]
    fn clean_long(&mut self, def: &SegmentDef, b: &[u8]) -> bool {
        let plan = &def.plan;
        let sep = self.element_sep;
        let mut fields = b.split(|c| *c == sep).skip(1);
        let mut present = 0u64;
        for (pos, v) in (&mut fields).enumerate() {
            if v.is_empty() {
                continue;
            }
            let Some(step) = plan.steps[..plan.slots].get(pos) else {
                return false;
            };
            present |= 1 << pos;
            if !self.value_clean(plan, step, v, &[]) {
                return false;
            }
        }
        def.required & !present == 0 && plan.conds_hold(present, plan.segment_conds())
    }

    /// One present element or component; `composite` is the whole
    /// composite a component is part of (empty for a simple element), for
    /// external lists that apply behind a qualifier. The two commonest
    /// kinds inline, the rest out of line.
    #[inline(always)]
    fn value_clean(&mut self, plan: &Plan, step: &Step, v: &[u8], composite: &[u8]) -> bool {
        let ok = match step.kind {
            Kind::Listed => return listed(&plan.codes, step, v),
            Kind::Text => {
                v.len() >= usize::from(step.min)
                    && v.len() <= usize::from(step.max)
                    && v.last() != Some(&b' ')
                    && self.words.plain(v)
            }
            Kind::Composite => {
                let i = step as *const Step as usize - plan.steps.as_ptr() as usize;
                let key = CompositeSlot::new(plan.id, i / std::mem::size_of::<Step>(), v);
                let Some(key) = key else {
                    return self.composite_clean(plan, step, v);
                };
                let slot = key.index();
                if self.composites.slots[slot] == key {
                    return true;
                }
                let ok = self.composite_clean(plan, step, v);
                if ok {
                    self.composites.slots[slot] = key;
                }
                return ok;
            }
            Kind::Full => return false,
            _ => typed(step, v),
        };
        ok && (step.list == NO_LIST
            || self.lists & (1 << step.list) == 0
            || self.on_list(&plan.exts[usize::from(step.ext)], v, composite))
    }

    /// A composite's components against their steps.
    #[inline(never)]
    fn composite_clean(&mut self, plan: &Plan, step: &Step, v: &[u8]) -> bool {
        let Some(mut m) = fields(v, self.component_sep) else {
            return false;
        };
        let comps = &plan.steps[usize::from(step.at)..][..usize::from(step.n)];
        let mut start = 0;
        let mut j = 0usize;
        let mut present = 0u64;
        while m != 0 {
            let end = m.trailing_zeros() as usize;
            m &= m - 1;
            if end > start {
                // The full check keeps the first four components and checks
                // a later one as if it were empty: always a finding.
                if j >= 4 {
                    return false;
                }
                let Some(c) = comps.get(j) else {
                    return false;
                };
                present |= 1 << j;
                // Components are never composites (see `PlanBuilder`).
                if !self.value_clean(plan, c, &v[start..end], v) {
                    return false;
                }
            }
            j += 1;
            start = end + 1;
        }
        let conds = usize::from(step.cond_at)..usize::from(step.cond_at + step.cond_n);
        step.required & !present == 0 && plan.conds_hold(present, conds)
    }

    /// Whether `v` passes the external list check of the full path.
    #[cold]
    #[inline(never)]
    fn on_list(&self, ext: &ExternalCodes, v: &[u8], composite: &[u8]) -> bool {
        let Some(list) = self.codes.at(ext.list) else {
            return true;
        };
        if let Some((n, quals)) = &ext.when {
            // The full path keeps the first four components for this.
            let q = match usize::from(*n) {
                n @ 1..=4 => composite
                    .split(|b| *b == self.component_sep)
                    .nth(n - 1)
                    .unwrap_or_default(),
                _ => &[],
            };
            if quals.binary_search_by(|c| (**c).cmp(q)).is_err() {
                return true;
            }
        }
        let key = match usize::from(ext.prefix) {
            0 => v,
            p => &v[..p.min(v.len())],
        };
        list.contains(key)
    }

    fn check_uncached(&self, def: &SegmentDef, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let d = seg.delimiters();
        let bytes = seg.as_bytes();
        let mut present = 0u64;
        let mut pos = 0usize;
        // usize::MAX: still in the id.
        let mut start = usize::MAX;
        let this = self;
        each_sep(bytes, d.element, |i| {
            if start != usize::MAX {
                pos += 1;
                if i > start {
                    this.element(def, pos, &bytes[start..i], seg, &mut present, sink);
                }
            }
            start = i + 1;
            true
        });
        if start != usize::MAX && start < bytes.len() {
            pos += 1;
            this.element(def, pos, &bytes[start..], seg, &mut present, sink);
        }
        let missing = def.required & !present;
        if missing != 0 {
            for (i, slot) in def.slots.iter().enumerate() {
                if missing & (1 << i) != 0 {
                    self.missing(
                        &slot.def,
                        (i + 1) as u8,
                        0,
                        seg,
                        "1",
                        format!("{} is required and missing", slot.def.name),
                        sink,
                    );
                }
            }
        }
        for c in def.conditions.iter() {
            self.condition(
                c,
                present,
                |p| def.slots.get(usize::from(p) - 1).map(|s| (&s.def, p, 0)),
                seg,
                sink,
            );
        }
    }

    #[inline]
    fn element(
        &self,
        def: &SegmentDef,
        pos: usize,
        v: &[u8],
        seg: &Segment<'_>,
        present: &mut u64,
        sink: &mut dyn FnMut(Finding),
    ) {
        match def.slots.get(pos - 1) {
            Some(slot) => {
                if pos <= 64 {
                    *present |= 1 << (pos - 1);
                }
                self.slot(slot, pos as u8, v, seg, sink);
            }
            None => {
                let name = element_name(seg.id_bytes(), pos);
                sink(
                    self.finding(
                        RuleId::ElementSyntax,
                        seg,
                        format!(
                            "{name} is past the segment's last element ({} elements)",
                            def.slots.len()
                        ),
                    )
                    .with_element(name)
                    .with_phi_value(String::from_utf8_lossy(v))
                    .with_ack(AckDetail::element(
                        "3",
                        pos.min(99) as u8,
                        0,
                        "",
                    )),
                );
            }
        }
    }

    fn slot(
        &self,
        slot: &ElementSlot,
        pos: u8,
        v: &[u8],
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        let def = &slot.def;
        if def.usage == ElementUsage::NotUsed {
            sink(self.value_finding(
                RuleId::ElementNotUsed,
                def,
                pos,
                0,
                "I10",
                v,
                seg,
                format!(
                    "{} is not used in this segment here; it holds a value",
                    def.name
                ),
            ));
            return;
        }
        if slot.components.is_empty() {
            if plainly_valid(def, v, seg.delimiters()) {
                return;
            }
            let s = self.scan(v, seg.delimiters());
            if s.component {
                sink(self.value_finding(
                    RuleId::ElementSyntax,
                    def,
                    pos,
                    0,
                    "13",
                    v,
                    seg,
                    format!(
                        "{} is a simple element but holds the component separator",
                        def.name
                    ),
                ));
                return;
            }
            self.value(def, pos, 0, v, s, &[], seg, sink);
            return;
        }
        self.composite(slot, pos, v, seg, sink);
    }

    /// A composite's components; out of line, as most elements are simple.
    #[inline(never)]
    fn composite(
        &self,
        slot: &ElementSlot,
        pos: u8,
        v: &[u8],
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        let def = &slot.def;
        // The first components are kept for `when` lookups (qualifiers).
        let mut parts: [&[u8]; 4] = [&[]; 4];
        let comp_sep = seg.delimiters().component;
        let mut present = 0u64;
        for (j, c) in v.split(|b| *b == comp_sep).enumerate() {
            if j < parts.len() {
                parts[j] = c;
            }
            if c.is_empty() {
                continue;
            }
            let cp = (j + 1) as u8;
            let Some(cdef) = slot.components.get(j) else {
                sink(self.value_finding(
                    RuleId::ElementSyntax,
                    def,
                    pos,
                    cp,
                    "13",
                    c,
                    seg,
                    format!(
                        "{} has more components than the guide defines ({})",
                        def.name,
                        slot.components.len()
                    ),
                ));
                continue;
            };
            if j < 64 {
                present |= 1 << j;
            }
            if cdef.usage == ElementUsage::NotUsed {
                sink(self.value_finding(
                    RuleId::ElementNotUsed,
                    cdef,
                    pos,
                    cp,
                    "I10",
                    c,
                    seg,
                    format!("{} is not used here; it holds a value", cdef.name),
                ));
            }
        }
        for (j, cdef) in slot.components.iter().enumerate() {
            let cp = (j + 1) as u8;
            if present & (1 << j) != 0 {
                if cdef.usage != ElementUsage::NotUsed {
                    // Past the kept ones (modifiers 3 and 4 of SV101, say),
                    // the component is found again: it is present.
                    let c = match parts.get(j) {
                        Some(c) => *c,
                        None => v.split(|b| *b == comp_sep).nth(j).unwrap_or_default(),
                    };
                    if !plainly_valid(cdef, c, seg.delimiters()) {
                        let s = self.scan(c, seg.delimiters());
                        self.value(cdef, pos, cp, c, s, &parts, seg, sink);
                    }
                }
            } else if cdef.usage == ElementUsage::Required {
                self.missing(
                    cdef,
                    pos,
                    cp,
                    seg,
                    "1",
                    format!("{} is required in {} and missing", cdef.name, def.name),
                    sink,
                );
            }
        }
        for c in slot.conditions.iter() {
            self.condition(
                c,
                present,
                |p| slot.components.get(usize::from(p) - 1).map(|d| (d, pos, p)),
                seg,
                sink,
            );
        }
    }

    /// Type, length, characters and codes of one present element or component.
    #[allow(clippy::too_many_arguments)]
    fn value(
        &self,
        def: &ElementDef,
        pos: u8,
        comp: u8,
        v: &[u8],
        s: Scan,
        parts: &[&[u8]],
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        let syntax = |code: &'static str, msg: String| {
            self.value_finding(RuleId::ElementSyntax, def, pos, comp, code, v, seg, msg)
        };
        if s.repetition {
            sink(syntax(
                "12",
                format!("{} repeats, but the guide allows one value", def.name),
            ));
            return;
        }
        if s.invalid {
            sink(syntax(
                "6",
                format!(
                    "{} holds a character outside the X12 character set",
                    def.name
                ),
            ));
            return;
        }
        // Length: digits only for numbers.
        let len = match def.data_type {
            DataType::Numeric(_) | DataType::Decimal => {
                v.iter().filter(|b| b.is_ascii_digit()).count()
            }
            _ => v.len(),
        };
        let well_formed = match def.data_type {
            DataType::Numeric(_) => is_integer(v),
            DataType::Decimal => is_decimal(v),
            DataType::Date | DataType::Time => v.iter().all(u8::is_ascii_digit),
            _ => true,
        };
        if !well_formed {
            let (code, what) = match def.data_type {
                DataType::Numeric(_) => ("6", "a whole number"),
                DataType::Decimal => ("6", "a decimal number"),
                DataType::Date => ("8", "a date (CCYYMMDD)"),
                _ => ("9", "a time (HHMM[SS])"),
            };
            sink(syntax(code, format!("{} is not {what}", def.name)));
            return;
        }
        if len < usize::from(def.min) {
            sink(syntax(
                "4",
                format!(
                    "{} is {len} long; the guide asks for at least {}",
                    def.name, def.min
                ),
            ));
            return;
        }
        if len > usize::from(def.max) {
            sink(syntax(
                "5",
                format!(
                    "{} is {len} long; the guide allows at most {}",
                    def.name, def.max
                ),
            ));
            return;
        }
        match def.data_type {
            DataType::Date if !is_date(v) => {
                sink(self.value_finding(
                    RuleId::BadDate,
                    def,
                    pos,
                    comp,
                    "8",
                    v,
                    seg,
                    format!("{} is not a real date", def.name),
                ));
                return;
            }
            DataType::Time if !is_time(v) => {
                sink(syntax(
                    "9",
                    format!("{} is not a real time of day", def.name),
                ));
                return;
            }
            _ => {}
        }
        if v.last() == Some(&b' ')
            && matches!(def.data_type, DataType::String | DataType::Identifier)
            && !self.padded.replace(true)
        {
            // X12 asks for trailing spaces to be suppressed; receivers that
            // check strictly reject them. Read, and said once per input.
            sink(
                self.finding(
                    RuleId::LenientRead,
                    seg,
                    format!(
                        "{} ends in spaces, which X12 asks senders to suppress {SAID_ONCE}",
                        def.name
                    ),
                )
                .with_element(def.name.to_string()),
            );
        }
        if def.digits > 0
            && (v.len() != usize::from(def.digits) || !v.iter().all(u8::is_ascii_digit))
        {
            sink(syntax(
                "I12",
                format!("{} must be {} digits", def.name, def.digits),
            ));
            return;
        }
        match &def.codes {
            Codes::Any => {}
            Codes::List(list) => {
                if !def.has_code(v) {
                    let shown: Vec<String> = list
                        .iter()
                        .take(12)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    let more = if list.len() > 12 { ", ..." } else { "" };
                    sink(self.code_finding(
                        def,
                        pos,
                        comp,
                        v,
                        seg,
                        format!(
                            "{} {:?} is not a code the guide allows here ({}{more})",
                            def.name,
                            String::from_utf8_lossy(v),
                            shown.join(", ")
                        ),
                    ));
                }
            }
            Codes::External(ext) => {
                let Some(list) = self.codes.at(ext.list) else {
                    return;
                };
                if let Some((n, quals)) = &ext.when {
                    let q = parts
                        .get(usize::from(*n).wrapping_sub(1))
                        .copied()
                        .unwrap_or_default();
                    if quals.binary_search_by(|c| (**c).cmp(q)).is_err() {
                        return;
                    }
                }
                let key = match usize::from(ext.prefix) {
                    0 => v,
                    p => &v[..p.min(v.len())],
                };
                if !list.contains(key) {
                    sink(self.code_finding(
                        def,
                        pos,
                        comp,
                        v,
                        seg,
                        format!(
                            "{} {:?} is not on the {} code list",
                            def.name,
                            String::from_utf8_lossy(v),
                            ext.name
                        ),
                    ));
                }
            }
        }
    }

    fn condition<'d>(
        &self,
        c: &Condition,
        present: u64,
        def_of: impl Fn(u8) -> Option<(&'d ElementDef, u8, u8)>,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(Finding),
    ) {
        let has = |p: u8| p <= 64 && present & (1 << (p - 1)) != 0;
        let names = || {
            c.positions
                .iter()
                .filter_map(|p| def_of(*p).map(|(d, ..)| d.name.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first = c.positions[0];
        let rest = &c.positions[1..];
        match c.kind {
            ConditionKind::Paired if c.positions.iter().any(|p| has(*p)) => {
                for p in c.positions.iter().filter(|p| !has(**p)) {
                    if let Some((d, e, k)) = def_of(*p) {
                        self.missing(
                            d,
                            e,
                            k,
                            seg,
                            "2",
                            format!("{} is required: {} go together", d.name, names()),
                            sink,
                        );
                    }
                }
            }
            ConditionKind::Required if !c.positions.iter().any(|p| has(*p)) => {
                if let Some((d, e, k)) = def_of(first) {
                    self.missing(
                        d,
                        e,
                        k,
                        seg,
                        "2",
                        format!("one of {} is required", names()),
                        sink,
                    );
                }
            }
            ConditionKind::Exclusion => {
                for p in c.positions.iter().filter(|p| has(**p)).skip(1) {
                    if let Some((d, e, k)) = def_of(*p) {
                        sink(
                            self.finding(
                                RuleId::ElementNotUsed,
                                seg,
                                format!(
                                    "{} must be empty: only one of {} may be used",
                                    d.name,
                                    names()
                                ),
                            )
                            .with_element(d.name.to_string())
                            .with_ack(AckDetail::element(
                                "10",
                                e,
                                k,
                                &d.reference,
                            )),
                        );
                    }
                }
            }
            ConditionKind::Conditional if has(first) => {
                for p in rest.iter().filter(|p| !has(**p)) {
                    if let (Some((d, e, k)), Some((f, ..))) = (def_of(*p), def_of(first)) {
                        self.missing(
                            d,
                            e,
                            k,
                            seg,
                            "2",
                            format!("{} is required when {} is present", d.name, f.name),
                            sink,
                        );
                    }
                }
            }
            ConditionKind::ListConditional if has(first) && !rest.iter().any(|p| has(*p)) => {
                if let (Some((d, e, k)), Some((f, ..))) = (def_of(rest[0]), def_of(first)) {
                    let others: Vec<String> = rest
                        .iter()
                        .filter_map(|p| def_of(*p).map(|(d, ..)| d.name.to_string()))
                        .collect();
                    self.missing(
                        d,
                        e,
                        k,
                        seg,
                        "2",
                        format!(
                            "one of {} is required when {} is present",
                            others.join(", "),
                            f.name
                        ),
                        sink,
                    );
                }
            }
            _ => {}
        }
    }

    fn finding(&self, rule: RuleId, seg: &Segment<'_>, msg: String) -> Finding {
        Finding::new(rule, self.label.clone(), seg.position(), msg)
    }

    #[allow(clippy::too_many_arguments)]
    fn missing(
        &self,
        def: &ElementDef,
        pos: u8,
        comp: u8,
        seg: &Segment<'_>,
        code: &'static str,
        msg: String,
        sink: &mut dyn FnMut(Finding),
    ) {
        sink(
            self.finding(RuleId::ElementMissing, seg, msg)
                .with_element(def.name.to_string())
                .with_ack(AckDetail::element(code, pos, comp, &def.reference)),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn value_finding(
        &self,
        rule: RuleId,
        def: &ElementDef,
        pos: u8,
        comp: u8,
        code: &'static str,
        v: &[u8],
        seg: &Segment<'_>,
        msg: String,
    ) -> Finding {
        let f = self
            .finding(rule, seg, msg)
            .with_element(def.name.to_string())
            .with_ack(AckDetail::element(code, pos, comp, &def.reference));
        let shown = String::from_utf8_lossy(v);
        match def.data_type {
            DataType::String | DataType::Date | DataType::Composite => f.with_phi_value(shown),
            _ => f.with_value(shown),
        }
    }

    fn code_finding(
        &self,
        def: &ElementDef,
        pos: u8,
        comp: u8,
        v: &[u8],
        seg: &Segment<'_>,
        msg: String,
    ) -> Finding {
        // A code is not PHI, whatever the element's type.
        self.finding(RuleId::CodeInvalid, seg, msg)
            .with_element(def.name.to_string())
            .with_value(String::from_utf8_lossy(v))
            .with_ack(AckDetail::element("7", pos, comp, &def.reference))
    }
}

/// A [`SegmentDef`] compiled for the fast path: one flat array of small
/// steps, codes packed as integers, conditions as bit masks. Built when the
/// definition is loaded, so a clean segment costs a walk over its bytes and
/// a few instructions an element, with no pointer chasing through names,
/// references and boxed code lists.
#[derive(Clone, Default)]
pub(crate) struct Plan {
    /// Unique among plans: the checker's per-definition counts go by it.
    id: usize,
    /// One step per element position, then the components of composites.
    steps: Box<[Step]>,
    /// How many of `steps` are element positions.
    slots: usize,
    /// The segment's conditions first, then the composites'.
    conds: Box<[Cond]>,
    segment_conds: usize,
    /// Listed codes packed by [`pack_exact`], each list sorted.
    codes: Box<[u64]>,
    exts: Box<[ExternalCodes]>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("steps", &self.steps.len())
            .finish()
    }
}

/// What the fast path checks of one element or component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Nothing: always the full check (not used, or a shape left to it).
    Full,
    /// A string or an identifier: length, character set, no trailing space.
    Text,
    /// Exactly `digits` digits (an SSN, an EIN).
    Digits,
    /// One of the listed codes, which the full check passes as they are.
    Listed,
    /// `-?[0-9]+`, its digits counted for length.
    Integer,
    /// X12's R, its digits counted for length.
    Decimal,
    Date,
    Time,
    /// A composite: its components are `steps[at..at + n]`.
    Composite,
}

/// `Step::list` of an element without an external list.
const NO_LIST: u8 = u8::MAX;

#[derive(Clone, Copy, Debug)]
struct Step {
    kind: Kind,
    /// The external list's index in [`KNOWN_LISTS`], or [`NO_LIST`].
    list: u8,
    digits: u8,
    min: u16,
    max: u16,
    /// `exts[ext]`: the external list's reference.
    ext: u16,
    /// Listed: the codes are `codes[at..at + n]`; composite: the
    /// components are `steps[at..at + n]`.
    at: u16,
    n: u16,
    /// Composite: its conditions are `conds[cond_at..cond_at + cond_n]`.
    cond_at: u16,
    cond_n: u16,
    /// Composite: bit `j` set, component `j + 1` is required.
    required: u64,
}

/// A relational condition as masks of positions (bit `p - 1`: position `p`).
#[derive(Clone, Copy, Debug)]
struct Cond {
    kind: ConditionKind,
    all: u64,
    first: u64,
    rest: u64,
    /// An exclusion that names a position twice: left to the full check,
    /// which counts names, not positions.
    full: bool,
}

impl Cond {
    fn new(c: &Condition) -> Cond {
        let bit = |p: &u8| 1u64 << (p - 1);
        let all = c.positions.iter().fold(0, |m, p| m | bit(p));
        let rest = c.positions[1..].iter().fold(0, |m, p| m | bit(p));
        Cond {
            kind: c.kind,
            all,
            first: bit(&c.positions[0]),
            rest,
            full: c.kind == ConditionKind::Exclusion
                && all.count_ones() as usize != c.positions.len(),
        }
    }

    /// Whether the condition holds for the positions in `present`. When it
    /// holds, [`ElementChecker::condition`] reports nothing.
    #[inline]
    fn holds(&self, present: u64) -> bool {
        let p = present & self.all;
        !self.full
            && match self.kind {
                ConditionKind::Paired => p == 0 || p == self.all,
                ConditionKind::Required => p != 0,
                ConditionKind::Exclusion => p & p.wrapping_sub(1) == 0,
                ConditionKind::Conditional => {
                    present & self.first == 0 || present & self.rest == self.rest
                }
                ConditionKind::ListConditional => {
                    present & self.first == 0 || present & self.rest != 0
                }
            }
    }
}

impl Plan {
    fn segment_conds(&self) -> std::ops::Range<usize> {
        0..self.segment_conds
    }

    /// Whether conditions `conds` hold for the positions in `present`.
    #[inline]
    fn conds_hold(&self, present: u64, conds: std::ops::Range<usize>) -> bool {
        self.conds[conds].iter().all(|c| c.holds(present))
    }

    /// Compiles `def`.
    pub(crate) fn compile(def: &SegmentDef) -> Plan {
        let mut b = PlanBuilder {
            steps: vec![Step::full(); def.slots.len()],
            ..PlanBuilder::default()
        };
        for (i, slot) in def.slots.iter().enumerate() {
            b.steps[i] = if slot.def.usage == ElementUsage::NotUsed {
                Step::full()
            } else if slot.components.is_empty() {
                b.value(&slot.def)
            } else {
                b.composite(slot)
            };
        }
        // The segment's conditions go first; the composites' were added
        // after them, so move those to the end.
        let composite_conds = std::mem::take(&mut b.conds);
        let segment_conds = def.conditions.len();
        b.conds = def.conditions.iter().map(Cond::new).collect();
        b.conds.extend(composite_conds);
        for s in b.steps.iter_mut().filter(|s| s.kind == Kind::Composite) {
            s.cond_at += segment_conds as u16;
        }
        static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        Plan {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            steps: b.steps.into(),
            slots: def.slots.len(),
            conds: b.conds.into(),
            segment_conds,
            codes: b.codes.into(),
            exts: b.exts.into(),
        }
    }
}

#[derive(Default)]
struct PlanBuilder {
    steps: Vec<Step>,
    conds: Vec<Cond>,
    codes: Vec<u64>,
    exts: Vec<ExternalCodes>,
}

impl Step {
    fn full() -> Step {
        Step {
            kind: Kind::Full,
            list: NO_LIST,
            digits: 0,
            min: 0,
            max: 0,
            ext: 0,
            at: 0,
            n: 0,
            cond_at: 0,
            cond_n: 0,
            required: 0,
        }
    }
}

impl PlanBuilder {
    fn composite(&mut self, slot: &ElementSlot) -> Step {
        let at = self.steps.len();
        let comps: Vec<Step> = slot
            .components
            .iter()
            .map(|c| match (c.usage, c.data_type) {
                (ElementUsage::NotUsed, _) | (_, DataType::Composite) => Step::full(),
                _ => self.value(c),
            })
            .collect();
        self.steps.extend(comps);
        let required = slot
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| c.usage == ElementUsage::Required)
            .fold(0u64, |m, (j, _)| m | 1 << j);
        let cond_at = self.conds.len();
        self.conds.extend(slot.conditions.iter().map(Cond::new));
        Step {
            kind: Kind::Composite,
            at: at as u16,
            n: slot.components.len() as u16,
            cond_at: cond_at as u16,
            cond_n: slot.conditions.len() as u16,
            required,
            ..Step::full()
        }
    }

    /// The step of a used simple element or component.
    fn value(&mut self, d: &ElementDef) -> Step {
        let kind = match d.data_type {
            DataType::String | DataType::Identifier if d.digits == 0 => Kind::Text,
            DataType::String | DataType::Identifier => Kind::Digits,
            _ if d.digits > 0 => Kind::Full,
            DataType::Numeric(_) => Kind::Integer,
            DataType::Decimal => Kind::Decimal,
            DataType::Date => Kind::Date,
            DataType::Time => Kind::Time,
            DataType::Composite => Kind::Full,
        };
        let mut step = Step {
            kind,
            digits: d.digits,
            min: d.min,
            max: d.max,
            ..Step::full()
        };
        match &d.codes {
            Codes::Any => {}
            Codes::External(e) => match u8::try_from(e.list) {
                Ok(list) if list < 64 => {
                    step.list = list;
                    step.ext = self.exts.len() as u16;
                    self.exts.push(e.clone());
                }
                _ => step.kind = Kind::Full,
            },
            Codes::List(list) => {
                // An identifier on its list is clean whatever else it is
                // (`plainly_valid`); another type's listed codes must pass
                // its own test, with no byte a separator could be.
                let listed_ok = d.data_type == DataType::Identifier
                    || (kind != Kind::Full
                        && list.iter().all(|c| {
                            c.iter().all(u8::is_ascii_alphanumeric)
                                && well_formed(&step, c, Words::new(Delimiters::STANDARD))
                        }));
                if listed_ok {
                    let mut packed: Vec<u64> = list.iter().filter_map(|c| pack_exact(c)).collect();
                    packed.sort_unstable();
                    step.kind = Kind::Listed;
                    step.at = self.codes.len() as u16;
                    step.n = packed.len() as u16;
                    self.codes.extend(packed);
                } else {
                    step.kind = Kind::Full;
                }
            }
        }
        step
    }
}

/// [`well_formed`] for numbers, dates and times.
#[inline(never)]
fn typed(step: &Step, v: &[u8]) -> bool {
    well_formed(step, v, Words::new(Delimiters::STANDARD))
}

/// Whether `v` passes a step's type, length and character tests (the full
/// path's, for a value it would pass without a finding).
#[inline]
fn well_formed(step: &Step, v: &[u8], w: Words) -> bool {
    let len_ok = |n: usize| n >= usize::from(step.min) && n <= usize::from(step.max);
    match step.kind {
        Kind::Text => len_ok(v.len()) && v.last() != Some(&b' ') && w.plain(v),
        Kind::Digits => v.len() == usize::from(step.digits) && len_ok(v.len()) && all_digits(v),
        Kind::Integer => {
            let d = v.strip_prefix(b"-").unwrap_or(v);
            !d.is_empty() && all_digits(d) && len_ok(d.len())
        }
        Kind::Decimal => decimal_digits(v).is_some_and(len_ok),
        Kind::Date => len_ok(v.len()) && all_digits(v) && is_date(v),
        Kind::Time => len_ok(v.len()) && all_digits(v) && is_time(v),
        Kind::Full | Kind::Listed | Kind::Composite => false,
    }
}

/// Whether `v` is one of a listed step's codes; `false` for one too long
/// to pack, which the full check decides.
#[inline(always)]
fn listed(codes: &[u64], step: &Step, v: &[u8]) -> bool {
    let Some(k) = pack(v) else {
        return false;
    };
    let set = &codes[usize::from(step.at)..][..usize::from(step.n)];
    if set.len() <= 8 {
        set.contains(&k)
    } else {
        set.binary_search(&k).is_ok()
    }
}

/// [`pack_exact`] with word loads.
#[inline(always)]
fn pack(v: &[u8]) -> Option<u64> {
    match v.len() {
        8 => Some(u64::from_le_bytes(v.try_into().expect("eight bytes"))),
        n if n < 8 => Some(load_short(v)),
        _ => None,
    }
}

/// The digits of an R value (`-?[0-9]*(\.[0-9]*)?`, at least one digit),
/// or `None` if it is not one.
#[inline]
fn decimal_digits(v: &[u8]) -> Option<usize> {
    let d = v.strip_prefix(b"-").unwrap_or(v);
    let mut dots = 0usize;
    for &b in d {
        if b == b'.' {
            dots += 1;
        } else if !b.is_ascii_digit() {
            return None;
        }
    }
    let n = d.len() - dots;
    (dots <= 1 && n > 0).then_some(n)
}

/// Whether every byte of `v` is an ASCII digit, eight at a time.
#[inline]
fn all_digits(v: &[u8]) -> bool {
    // Digits XOR '0' are 0..=9: high nibble clear, and adding 6 stays
    // below 16.
    let bad = |w: u64| {
        let x = w ^ (LO * 0x30);
        (x & (LO * 0xF0)) | (x.wrapping_add(LO * 0x06) & (LO * 0x10))
    };
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        if bad(u64::from_le_bytes(c.try_into().expect("eight bytes"))) != 0 {
            return false;
        }
    }
    let tail = chunks.remainder();
    tail.is_empty() || bad(load_short(tail) | (LO * 0x30) << (8 * tail.len())) == 0
}

/// The separators [`Words::plain`] looks for, one per byte of a word.
#[derive(Clone, Copy, Debug)]
struct Words {
    comp: u64,
    rep: u64,
}

impl Words {
    fn new(d: Delimiters) -> Words {
        Words {
            comp: LO * u64::from(d.component),
            // No repetition separator: test the component separator twice.
            rep: LO * u64::from(d.repetition.unwrap_or(d.component)),
        }
    }

    /// Whether every byte of `v` is printable ASCII and neither the
    /// component nor the repetition separator; eight bytes at a time.
    #[inline]
    fn plain(self, v: &[u8]) -> bool {
        let bad = |w: u64| {
            let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
            // A byte below 0x20, or above 0x7E (0x7F and the high half).
            let low = w.wrapping_sub(LO * 0x20) & !w & HI;
            // Adding 1 to each byte sets its high bit from 0x7F up.
            let high = (w.wrapping_add(LO) | w) & HI;
            low | high | zero(w ^ self.comp) | zero(w ^ self.rep)
        };
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            if bad(u64::from_le_bytes(c.try_into().expect("eight bytes"))) != 0 {
                return false;
            }
        }
        let tail = chunks.remainder();
        if tail.is_empty() {
            return true;
        }
        // The last bytes, with the rest of the word a plain byte.
        let n = tail.len();
        let pad = 0x4141_4141_4141_4141u64 << (8 * n);
        bad(load_short(tail) | pad) == 0
    }
}

/// The separators of `b` as a bitmap (bit `i`: byte `i`), with a sentinel
/// bit at `b.len()` so every field ends at a set bit; `None` for 64 bytes
/// or more.
#[inline(always)]
fn fields(b: &[u8], sep: u8) -> Option<u64> {
    (b.len() < 64).then(|| index_seps(b, sep) | 1 << b.len())
}

/// The common cases, decided in a few instructions: a listed code (a list
/// holds only well-formed codes), or a string of the right length in the
/// character set with no trailing space. Anything else takes the full
/// check, which says what is wrong; `false` never means invalid.
#[inline(always)]
fn plainly_valid(def: &ElementDef, v: &[u8], d: Delimiters) -> bool {
    let len_ok = || v.len() >= usize::from(def.min) && v.len() <= usize::from(def.max);
    match (def.data_type, &def.codes) {
        (DataType::Identifier, Codes::List(_)) => def.has_code(v),
        (DataType::String | DataType::Identifier, Codes::Any) => {
            def.digits == 0 && len_ok() && v.last() != Some(&b' ') && all_plain(v, d)
        }
        _ => false,
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether every byte of `v` is printable ASCII and neither the component
/// nor the repetition separator.
#[inline]
fn all_plain(v: &[u8], d: Delimiters) -> bool {
    Words::new(d).plain(v)
}

/// Up to seven bytes as a little-endian word, high bytes zero, without a
/// byte-wise copy through memory (which stalls the load that follows).
#[inline]
fn load_short(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else if n >= 2 {
        let lo = u16::from_le_bytes([b[0], b[1]]);
        let hi = u16::from_le_bytes([b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << (8 * (n - 2))
    } else if n == 1 {
        u64::from(b[0])
    } else {
        0
    }
}

/// `-?[0-9]+`
fn is_integer(v: &[u8]) -> bool {
    let d = v.strip_prefix(b"-").unwrap_or(v);
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

/// `-?[0-9]*(\.[0-9]*)?` with at least one digit: X12's R type.
fn is_decimal(v: &[u8]) -> bool {
    let d = v.strip_prefix(b"-").unwrap_or(v);
    let (int, frac) = match d.iter().position(|b| *b == b'.') {
        Some(i) => (&d[..i], &d[i + 1..]),
        None => (d, &[][..]),
    };
    (int.len() + frac.len()) > 0
        && int.iter().all(u8::is_ascii_digit)
        && frac.iter().all(u8::is_ascii_digit)
}

/// CCYYMMDD or YYMMDD, a date that exists.
pub(crate) fn is_date(v: &[u8]) -> bool {
    let n = |b: &[u8]| b.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    let (y, rest) = match v.len() {
        8 => (n(&v[..4]) as i32, &v[4..]),
        6 => (2000 + n(&v[..2]) as i32, &v[2..]),
        _ => return false,
    };
    chrono::NaiveDate::from_ymd_opt(y, n(&rest[..2]), n(&rest[2..4])).is_some()
}

/// HHMM, HHMMSS, HHMMSSd or HHMMSSdd, a time that exists.
pub(crate) fn is_time(v: &[u8]) -> bool {
    let n = |b: &[u8]| b.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    if !matches!(v.len(), 4 | 6 | 7 | 8) {
        return false;
    }
    n(&v[..2]) < 24 && n(&v[2..4]) < 60 && (v.len() < 6 || n(&v[4..6]) < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes() {
        let d = Delimiters::STANDARD;
        assert!(all_plain(b"", d));
        assert!(all_plain(b"Smith Jr. & Sons, (a) {b} [c] #1 $2 %3 `~", d));
        for bad in [
            &b"A:B"[..],
            b"A^B",
            b"a\x7f",
            b"ab\tc",
            b"caf\xc3\xa9",
            b"0123456789\x01",
        ] {
            assert!(!all_plain(bad, d), "{bad:?}");
        }
        for n in 0..40 {
            let mut v = vec![b'x'; n];
            assert!(all_plain(&v, d));
            if n > 0 {
                v[n - 1] = 0x80;
                assert!(!all_plain(&v, d), "{n}");
            }
        }
    }

    /// The memo only ever skips a segment it has seen clean, byte for byte,
    /// under the same definition and separators.
    #[test]
    fn remembered_segments_are_exact_repeats_only() {
        use crate::grammar::Grammars;
        use crate::Position;
        let g = &Grammars::embedded().professional;
        let clm = g.loops[g.loop_index("2300").expect("2300")].trigger();
        let def = clm.elements.as_deref().expect("CLM defined");
        let mut c = ElementChecker::new(Arc::new(CodeLists::bundled().clone()), "t");
        let count = |c: &mut ElementChecker, bytes: &[u8], d: Delimiters| {
            let mut n = 0;
            c.check(
                def,
                &Segment::new(bytes, d, Position::default()),
                &mut |_| n += 1,
            );
            n
        };
        let std = Delimiters::STANDARD;
        let good = b"CLM*A1*100***11:B:1*Y*A*Y*Y";
        let bad = b"CLM*A1*100***11:X:1*Y*A*Y*Y";
        for _ in 0..3 {
            assert_eq!(count(&mut c, good, std), 0);
            assert_eq!(count(&mut c, bad, std), 1);
        }
        // The same bytes under another component separator: `:` is now
        // data, and CLM05 a simple value where a composite belongs.
        let other = Delimiters {
            component: b'>',
            ..std
        };
        assert!(count(&mut c, good, other) > 0);
        assert_eq!(count(&mut c, good, std), 0);
        // A segment too long to remember is still checked every time.
        let long = b"CLM*A123456789012345678901234567890*100***11:X:1*Y*A*Y*Y";
        assert!(long.len() > MEMO_BYTES);
        for _ in 0..2 {
            assert_eq!(count(&mut c, long, std), 2, "CLM01 too long, CLM05-2 bad");
        }
    }

    /// Every segment definition of both guides with its segment id.
    fn all_defs() -> Vec<(Vec<u8>, Arc<SegmentDef>)> {
        use crate::grammar::{Grammars, Node};
        let g = Grammars::embedded();
        let mut out = Vec::new();
        for grammar in [&g.professional, &g.institutional] {
            for l in &grammar.loops {
                for n in &l.body {
                    if let Node::Segment(sn) = n {
                        if let Some(def) = &sn.elements {
                            out.push((sn.id.as_bytes().to_vec(), def.clone()));
                        }
                    }
                }
            }
        }
        out
    }

    /// The segments of the test inputs and samples, and some of our own,
    /// without repeats.
    fn corpus() -> Vec<Vec<u8>> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "edi") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("tests"), &mut files);
        walk(&root.join("samples"), &mut files);
        files.sort();
        let mut seen = std::collections::BTreeSet::new();
        for f in files {
            let data = std::fs::read(&f).expect("readable");
            let Some(at) = data.windows(4).position(|w| w == b"ISA*") else {
                continue;
            };
            let isa = &data[at..];
            if isa.len() < 106 {
                continue;
            }
            for s in isa.split(|b| *b == isa[105]) {
                let s = s.trim_ascii();
                if !s.is_empty() {
                    seen.insert(s.to_vec());
                }
            }
        }
        for s in [
            &b"SV1*HC:99213:25:59:XU:76:A description*-100.*UN*1.5***1:2:3:4"[..],
            b"SV1*HC:99213*.5*UN*5.***1",
            b"SV1*HC:99213*1.2.3*UN*1***1",
            b"SV1*HC:99213*10*UN*-*** 1",
            b"SV2*0450*HC:99283*1200*UN*1",
            b"HI*ABK:E119*ABF:Z000*ABF:I10",
            b"HI*ABK:E119:D8:20240101",
            b"HI*BK:E119",
            b"N4*BOSTON*MA*021150000",
            b"N4*BOSTON*MA*02115*US",
            b"N4*TORONTO**M5V2T6*CA*ON",
            b"DMG*D8*20240229*F",
            b"DMG*D8*20230229*M",
            b"DMG*D8*19991231*U*X",
            b"DTP*472*D8*20240101",
            b"DTP*472*RD8*20240101-20240105",
            b"DTP*434*RD8*20240101-20240105",
            b"DTP*096*TM*2359",
            b"CLM*A1*100***11:B:1*Y*A*Y*Y*P*AA:EM::MA:US",
            b"CLM*A1*100***11:B:1*Y*A*Y*Y*P*AA:EM:OA:MA:US",
            b"CLM*A1*100***11::1*Y*A*Y*Y",
            b"CLM*A1 *100***11:B:1*Y*A*Y*Y",
            b"NM1*IL*1*DOE*JANE****MI*123456789A",
            b"NM1*IL*1*DOE*JANE****MI",
            b"NM1*IL*1*DOE*JANE*****123456789A",
            b"NM1*85*2*A CLINIC*****XX*1234567893",
            b"REF*EI*123456789",
            b"REF*EI*12345678",
            b"REF*EI*12345678X",
            b"REF*SY*123456789",
            b"PRV*BI*PXC*207Q00000X",
            b"AMT*F5*100",
            b"LX*1",
            b"LX*-1",
            b"LX*0000001",
            b"HL*1**20*1",
            b"SBR*P*18*GRP1******CI",
            b"PER*IC*JOHN*TE*6175551212*EX*123*FX*6175551213",
            b"CL1*1*7*01",
            b"NTE*ADD*SOME TEXT",
            b"CAS*CO*45*100**253*2",
        ] {
            seen.insert(s.to_vec());
        }
        seen.into_iter().collect()
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// One to three edits of `s`: bytes swapped for tricky ones, inserted
    /// or dropped, elements emptied, cut short, padded or made up.
    fn mutate(s: &[u8], d: Delimiters, rng: &mut Rng) -> Vec<u8> {
        let tricky = [
            b' ',
            b'-',
            b'.',
            b'0',
            b'9',
            b'A',
            b'z',
            b'#',
            0x01,
            0x7F,
            0xC3,
            d.component,
            d.repetition.unwrap_or(b'^'),
            d.element,
        ];
        let mut v = s.to_vec();
        for _ in 0..1 + rng.below(3) {
            let n = v.len();
            let at = 3 + rng.below(n.saturating_sub(3));
            match rng.below(9) {
                0 if at < n => v[at] = tricky[rng.below(tricky.len())],
                1 => v.insert(at.min(n), tricky[rng.below(tricky.len())]),
                2 if at < n => {
                    v.remove(at);
                }
                3 => v.truncate(at),
                4 => {
                    // Empty the element around `at`.
                    let a = v[..at.min(n)].iter().rposition(|b| *b == d.element);
                    let b = v[at.min(n)..].iter().position(|b| *b == d.element);
                    if let Some(a) = a {
                        let b = b.map_or(n, |b| b + at.min(n));
                        v.drain(a + 1..b.max(a + 1));
                    }
                }
                5 => {
                    let tail: &[u8] = [&b"*X"[..], b"*", b"**1", b"* "][rng.below(4)];
                    v.extend(tail.iter().map(|b| if *b == b'*' { d.element } else { *b }));
                }
                6 => {
                    // A made-up value of random length and kind.
                    let len = rng.below(12);
                    let kind = rng.below(3);
                    let val: Vec<u8> = (0..len)
                        .map(|_| match kind {
                            0 => b'0' + rng.below(10) as u8,
                            1 => b'A' + rng.below(26) as u8,
                            _ => b"19-.0:A "[rng.below(8)],
                        })
                        .map(|b| if b == b':' { d.component } else { b })
                        .collect();
                    let i = at.min(n);
                    v.splice(i..i, val);
                }
                7 => {
                    // Trailing spaces before the next separator.
                    let i = v[at.min(n)..]
                        .iter()
                        .position(|b| *b == d.element)
                        .map_or(n, |p| p + at.min(n));
                    v.insert(i, b' ');
                }
                _ => {
                    // A second copy of one element.
                    if let Some(a) = v[..at.min(n)].iter().rposition(|b| *b == d.element) {
                        let b = v[a + 1..]
                            .iter()
                            .position(|b| *b == d.element)
                            .map_or(n, |p| p + a + 1);
                        let el = v[a..b].to_vec();
                        v.splice(b..b, el);
                    }
                }
            }
        }
        v
    }

    /// `s` with the standard separators swapped for those of `d`.
    fn under(s: &[u8], d: Delimiters) -> Vec<u8> {
        s.iter()
            .map(|b| match *b {
                b'*' => d.element,
                b':' => d.component,
                b'^' => d.repetition.unwrap_or(b'^'),
                b => b,
            })
            .collect()
    }

    /// Lists the guides name but do not bundle, so the list checks behind
    /// a qualifier (`when`) and on a prefix run too.
    fn loaded_lists() -> CodeLists {
        let mut lists = CodeLists::bundled().clone();
        for (name, text) in [
            ("icd10-cm", "E11.9\nZ00.00\nC54.1\nI10\nR11.0\n"),
            ("icd10-pcs", "0DTJ4ZZ\n"),
            ("hcpcs", "99213\n99214\n96413\nJ9271\n"),
            ("zip", "02115\n02740\n"),
            ("taxonomy", "207Q00000X\n"),
            ("revenue", "0450\n"),
        ] {
            lists.add_text(name, text).expect("a list");
        }
        lists
    }

    /// The fast path says clean only where the full check finds nothing,
    /// on every segment of the test inputs under every definition of its
    /// id, and on thousands of edits of them, under several separator sets
    /// and with more code lists known; and it does decide most clean ones.
    #[test]
    fn fast_path_agrees_with_the_full_check() {
        use crate::Position;
        let defs = all_defs();
        let corpus = corpus();
        let seps = [
            Delimiters::STANDARD,
            Delimiters {
                element: b'|',
                component: b'>',
                repetition: None,
                segment: b'~',
            },
            // A component separator that is a letter: no fast path.
            Delimiters {
                component: b'X',
                ..Delimiters::STANDARD
            },
        ];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut tried, mut clean, mut fast) = (0u64, 0u64, 0u64);
        for lists in [CodeLists::bundled().clone(), loaded_lists()] {
            let mut c = ElementChecker::new(Arc::new(lists), "t");
            for d in seps {
                for s in &corpus {
                    let s = under(s, d);
                    let id_end = s.iter().position(|b| *b == d.element).unwrap_or(s.len());
                    for (id, def) in defs.iter().filter(|(id, _)| *id == s[..id_end]) {
                        let _ = id;
                        for k in 0..12 {
                            let v = if k == 0 {
                                s.clone()
                            } else {
                                mutate(&s, d, &mut rng)
                            };
                            c.classes_for(d);
                            let quick = c.fast && c.clean(def, &v, None);
                            c.padded.set(false);
                            let seg = Segment::new(&v, d, Position::default());
                            let mut found = Vec::new();
                            c.check_uncached(def, &seg, &mut |f| found.push(f));
                            assert!(
                                !quick || found.is_empty(),
                                "{:?} passed the fast path but not the full check: {found:?}",
                                String::from_utf8_lossy(&v)
                            );
                            tried += 1;
                            if k == 0 && found.is_empty() && d != seps[2] {
                                clean += 1;
                                fast += u64::from(quick);
                            }
                        }
                    }
                }
            }
        }
        assert!(tried > 10_000, "{tried}");
        assert!(fast * 100 >= clean * 95, "fast {fast} of {clean} clean");
    }

    /// Through the public entry point, memo and fast path included, a
    /// checker reports what a checker that always takes the full check
    /// reports, segment by segment, in the same order.
    #[test]
    fn check_reports_what_the_full_check_does() {
        use crate::Position;
        let defs = all_defs();
        let corpus = corpus();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let codes = Arc::new(loaded_lists());
        let mut quick = ElementChecker::new(codes.clone(), "t");
        let mut full = ElementChecker::new(codes, "t");
        let d = Delimiters::STANDARD;
        full.classes_for(d);
        for round in 0..3 {
            for s in &corpus {
                let id_end = s.iter().position(|b| *b == d.element).unwrap_or(s.len());
                for (_, def) in defs.iter().filter(|(id, _)| *id == s[..id_end]) {
                    let v = if round == 0 {
                        s.clone()
                    } else {
                        mutate(s, d, &mut rng)
                    };
                    let seg = Segment::new(&v, d, Position::default());
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    quick.check(def, &seg, &mut |f| a.push(f));
                    full.check_uncached(def, &seg, &mut |f| b.push(f));
                    assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&v));
                }
            }
        }
    }

    /// Relational conditions as masks hold exactly where the full check
    /// reports nothing, for every presence of up to six positions.
    #[test]
    fn condition_masks_match_the_full_check() {
        use crate::grammar::Grammars;
        use crate::Position;
        let g = &Grammars::embedded().professional;
        let nm1 = g.loops[g.loop_index("2010AA").expect("2010AA")].trigger();
        let def = nm1.elements.as_deref().expect("NM1 defined");
        let c = ElementChecker::new(Arc::new(CodeLists::bundled().clone()), "t");
        let seg = Segment::new(b"NM1", Delimiters::STANDARD, Position::default());
        for text in [
            "P0102",
            "R010203",
            "E0102",
            "E010201",
            "C010203",
            "L01020304",
            "L0103",
        ] {
            let cond = Condition::parse(text).expect("a condition");
            let mask = Cond::new(&cond);
            for present in 0u64..64 {
                let mut n = 0;
                c.condition(
                    &cond,
                    present,
                    |p| def.slots.get(usize::from(p) - 1).map(|s| (&s.def, p, 0)),
                    &seg,
                    &mut |_| n += 1,
                );
                if mask.full {
                    // Left to the full check.
                    assert!(!mask.holds(present));
                } else {
                    assert_eq!(mask.holds(present), n == 0, "{text} {present:06b}");
                }
            }
        }
    }

    #[test]
    fn separator_bitmaps() {
        for len in 0..64 {
            let mut rng = Rng(len as u64 + 1);
            let b: Vec<u8> = (0..len).map(|_| b"*:A\0"[rng.below(4)]).collect();
            for sep in [b'*', b':', 0] {
                let want = b
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == sep)
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                assert_eq!(index_seps(&b, sep), want, "{len} {sep}");
            }
        }
    }

    #[test]
    fn digits_and_decimals() {
        for (v, ok) in [
            (&b"0123456789"[..], true),
            (b"", true),
            (b"12345678", true),
            (b"1234567/", false),
            (b"1234567:", false),
            (b"12 4", false),
        ] {
            assert_eq!(all_digits(v), ok, "{v:?}");
        }
        for v in [
            &b"0"[..],
            b"12",
            b"-3",
            b"12.50",
            b".5",
            b"5.",
            b"-0.25",
            b"",
            b"-",
            b".",
            b"1.2.3",
            b"1,0",
            b"+1",
            b"--1",
        ] {
            assert_eq!(decimal_digits(v).is_some(), is_decimal(v), "{v:?}");
            if let Some(n) = decimal_digits(v) {
                assert_eq!(n, v.iter().filter(|b| b.is_ascii_digit()).count(), "{v:?}");
            }
        }
    }

    #[test]
    fn short_loads() {
        let b = b"abcdefg";
        for n in 0..8 {
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(&b[..n]);
            assert_eq!(load_short(&b[..n]), u64::from_le_bytes(w), "{n}");
        }
    }

    #[test]
    fn numbers() {
        for ok in [&b"0"[..], b"12", b"-3", b"12.50", b".5", b"5.", b"-0.25"] {
            assert!(is_decimal(ok), "{ok:?}");
        }
        for bad in [&b""[..], b"-", b".", b"1.2.3", b"1,000", b"1e5", b"+1"] {
            assert!(!is_decimal(bad), "{bad:?}");
        }
        assert!(is_integer(b"-12") && !is_integer(b"1.0") && !is_integer(b""));
    }

    #[test]
    fn dates_and_times() {
        assert!(is_date(b"20240229") && !is_date(b"20230229") && !is_date(b"20241301"));
        assert!(is_date(b"240101") && !is_date(b"2024011"));
        assert!(is_time(b"2359") && is_time(b"235959") && is_time(b"23595999"));
        assert!(!is_time(b"2400") && !is_time(b"1260") && !is_time(b"123"));
    }
}
