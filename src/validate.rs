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

use crate::codes::CodeLists;
use crate::finding::{AckDetail, Finding, RuleId};
use crate::grammar::elements::{
    Codes, Condition, ConditionKind, DataType, ElementDef, ElementSlot, ElementUsage, SegmentDef,
};
use crate::lex::{each_sep, element_name, Delimiters, Segment};

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
    /// A value padded with trailing spaces was reported (once per input).
    padded: std::cell::Cell<bool>,
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
#[derive(Clone)]
struct Memo {
    slots: Box<[MemoSlot]>,
}

/// Segments longer than this are checked every time.
const MEMO_BYTES: usize = 48;
const MEMO_SLOTS: usize = 4096;

#[derive(Clone, Copy)]
struct MemoSlot {
    /// The definition's address; 0 for an empty slot.
    def: usize,
    len: u8,
    bytes: [u8; MEMO_BYTES],
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
        let empty = MemoSlot {
            def: 0,
            len: 0,
            bytes: [0; MEMO_BYTES],
        };
        Memo {
            slots: vec![empty; MEMO_SLOTS].into_boxed_slice(),
        }
    }

    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| s.def = 0);
    }

    /// The slot for `bytes` under definition `def`.
    #[inline]
    fn index(def: usize, bytes: &[u8]) -> usize {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = (def as u64).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("eight bytes"));
            h = (h.rotate_left(23) ^ w).wrapping_mul(K);
        }
        h = (h.rotate_left(23) ^ load_short(chunks.remainder()) ^ bytes.len() as u64)
            .wrapping_mul(K);
        (h >> 52) as usize & (MEMO_SLOTS - 1)
    }

    #[inline]
    fn hit(&self, i: usize, def: usize, bytes: &[u8]) -> bool {
        let s = &self.slots[i];
        s.def == def && usize::from(s.len) == bytes.len() && s.bytes[..bytes.len()] == *bytes
    }

    fn store(&mut self, i: usize, def: usize, bytes: &[u8]) {
        let s = &mut self.slots[i];
        s.def = def;
        s.len = bytes.len() as u8;
        s.bytes[..bytes.len()].copy_from_slice(bytes);
    }
}

/// What one pass over an element's bytes saw.
#[derive(Clone, Copy, Default)]
struct Scan {
    component: bool,
    repetition: bool,
    invalid: bool,
}

impl ElementChecker {
    /// A checker with these external code lists, labelling findings with
    /// the input's name.
    pub fn new(codes: Arc<CodeLists>, label: impl Into<Arc<str>>) -> ElementChecker {
        ElementChecker {
            codes,
            label: label.into(),
            delims: None,
            class: [PLAIN; 256],
            memo: Memo::new(),
            padded: std::cell::Cell::new(false),
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
        if bytes.len() > MEMO_BYTES {
            self.check_uncached(def, seg, sink);
            return;
        }
        let key = def as *const SegmentDef as usize;
        let i = Memo::index(key, bytes);
        if self.memo.hit(i, key, bytes) {
            return;
        }
        let mut clean = true;
        self.check_uncached(def, seg, &mut |f| {
            clean = false;
            sink(f);
        });
        if clean {
            self.memo.store(i, key, bytes);
        }
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
                    let c = parts.get(j).copied().unwrap_or_default();
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
                        "{} ends in spaces, which X12 asks senders to suppress (reported once per file)",
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
                let Some(list) = self.codes.get(&ext.name) else {
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
/// nor the repetition separator; eight bytes at a time.
#[inline]
fn all_plain(v: &[u8], d: Delimiters) -> bool {
    let comp = LO * u64::from(d.component);
    // No repetition separator: test the component separator twice.
    let rep = LO * u64::from(d.repetition.unwrap_or(d.component));
    let bad = |w: u64| {
        let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
        // A byte below 0x20, or above 0x7E (0x7F and the high half).
        let low = w.wrapping_sub(LO * 0x20) & !w & HI;
        // Adding 1 to each byte sets its high bit from 0x7F up.
        let high = (w.wrapping_add(LO) | w) & HI;
        low | high | zero(w ^ comp) | zero(w ^ rep)
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
