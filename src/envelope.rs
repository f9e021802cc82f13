//! Envelope checks: ISA/IEA, GS/GE and ST/SE pairing, counts and control
//! numbers, and which transactions this reader can read.
//!
//! The [`EnvelopeChecker`] sees every block of an input in order. For each
//! transaction it answers with the [`Grammar`] to read it with, or `None`
//! when the envelope says it is not a 5010 837P/837I (an
//! `unsupported-version` finding, made once per interchange, group or
//! transaction that declares it).

use std::collections::HashSet;
use std::sync::Arc;

use crate::finding::{Finding, Position, RuleId};
use crate::grammar::{Grammar, Grammars};
use crate::lex::Segment;
use crate::reader::Block;
use crate::validate::{is_date, is_time};

#[derive(Debug)]
struct Interchange {
    control: Vec<u8>,
    position: Position,
    groups: u64,
    group_ids: HashSet<Vec<u8>>,
    supported: bool,
}

#[derive(Debug)]
struct Group {
    control: Vec<u8>,
    position: Position,
    transactions: u64,
    transaction_ids: HashSet<Vec<u8>>,
    version: Vec<u8>,
    grammar: Option<&'static Grammar>,
}

/// What the envelopes of one input held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnvelopeCounts {
    /// ISA segments.
    pub interchanges: u64,
    /// GS segments.
    pub groups: u64,
    /// ST segments.
    pub transactions: u64,
}

/// Checks the envelopes of one input.
///
/// ```
/// use scrub837::envelope::EnvelopeChecker;
/// use scrub837::reader::{Block, BlockKind, Reader};
/// let input = include_bytes!("../samples/837i-clean.edi");
/// let mut rdr = Reader::new(&input[..], "837i-clean.edi");
/// let mut env = EnvelopeChecker::new("837i-clean.edi");
/// let mut block = Block::new();
/// let mut findings = Vec::new();
/// while rdr.read_block(&mut block, &mut |f| findings.push(f)).unwrap() {
///     let grammar = env.block(&block, &mut |f| findings.push(f));
///     if block.kind() == BlockKind::Transaction {
///         assert_eq!(grammar.unwrap().form, scrub837::grammar::Form::Institutional);
///     }
/// }
/// env.finish(&mut |f| findings.push(f));
/// assert!(findings.is_empty());
/// assert_eq!(env.counts().interchanges, 1);
/// ```
#[derive(Debug)]
pub struct EnvelopeChecker {
    label: Arc<str>,
    grammars: &'static Grammars,
    interchange: Option<Interchange>,
    group: Option<Group>,
    interchange_ids: HashSet<Vec<u8>>,
    counts: EnvelopeCounts,
    last_position: Position,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn count_of(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Control numbers compare as numbers when both are numeric (`1` = `0001`),
/// else as text.
fn same_control(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (a.trim_ascii(), b.trim_ascii());
    match (count_of(a), count_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl EnvelopeChecker {
    /// A checker for the input named `label`, reading with the embedded maps.
    pub fn new(label: impl Into<Arc<str>>) -> EnvelopeChecker {
        EnvelopeChecker {
            label: label.into(),
            // (Versions only: the element definitions are not needed.)
            grammars: Grammars::structure(),
            interchange: None,
            group: None,
            interchange_ids: HashSet::new(),
            counts: EnvelopeCounts::default(),
            last_position: Position::default(),
        }
    }

    /// What has been counted so far.
    pub fn counts(&self) -> EnvelopeCounts {
        self.counts
    }

    fn finding(&self, rule: RuleId, pos: Position, msg: impl Into<String>) -> Finding {
        Finding::new(rule, self.label.clone(), pos, msg)
    }

    /// Checks one block; for a transaction, returns the grammar to read it
    /// with, or `None` when it must not be read as an 837.
    pub fn block(
        &mut self,
        block: &Block,
        sink: &mut dyn FnMut(Finding),
    ) -> Option<&'static Grammar> {
        match block.kind() {
            crate::reader::BlockKind::Transaction => self.transaction(block, sink),
            _ => {
                if let Some(seg) = block.first() {
                    self.segment(&seg, sink);
                }
                None
            }
        }
    }

    fn segment(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let pos = seg.position();
        self.last_position = pos;
        let id = seg.id_bytes().to_ascii_uppercase();
        match id.as_slice() {
            b"ISA" => self.isa(seg, sink),
            b"GS" => self.gs(seg, sink),
            b"GE" => self.ge(seg, sink),
            b"IEA" => self.iea(seg, sink),
            b"SE" => sink(self.finding(RuleId::SegmentOutOfPlace, pos, "SE without a matching ST")),
            _ if seg.as_bytes().is_empty() => sink(self.finding(
                RuleId::SegmentSyntax,
                pos,
                "an empty segment (two terminators in a row)",
            )),
            _ => sink(self.finding(
                RuleId::SegmentOutOfPlace,
                pos,
                format!(
                    "{} outside a transaction (only ISA, GS, GE and IEA belong there)",
                    text(&id)
                ),
            )),
        }
    }

    fn close_group(&mut self, at: Position, sink: &mut dyn FnMut(Finding)) {
        if let Some(g) = self.group.take() {
            sink(self.finding(
                RuleId::SegmentMissing,
                g.position,
                format!(
                    "the group with GS06 {} has no GE before {at}",
                    text(&g.control)
                ),
            ));
        }
    }

    fn close_interchange(&mut self, at: Position, sink: &mut dyn FnMut(Finding)) {
        self.close_group(at, sink);
        if let Some(i) = self.interchange.take() {
            sink(self.finding(
                RuleId::SegmentMissing,
                i.position,
                format!(
                    "the interchange with ISA13 {} has no IEA before {at}",
                    text(&i.control)
                ),
            ));
        }
    }

    /// ISA09 and ISA10 (the interchange's date and time), ISA14 and ISA15.
    fn isa_stamps(&self, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let pos = seg.position();
        let f = seg.fields::<15>();
        let (date, time) = (f.get(9).trim_ascii(), f.get(10).trim_ascii());
        if date.len() != 6 || !date.iter().all(u8::is_ascii_digit) || !is_date(date) {
            sink(self.stamp_finding(RuleId::BadDate, pos, "ISA09", "a real YYMMDD date", date));
        }
        if time.len() != 4 || !time.iter().all(u8::is_ascii_digit) || !is_time(time) {
            sink(self.stamp_finding(
                RuleId::ElementSyntax,
                pos,
                "ISA10",
                "a real HHMM time",
                time,
            ));
        }
        for (name, codes) in [("ISA14", &[&b"0"[..], b"1"]), ("ISA15", &[&b"P"[..], b"T"])] {
            let v = f.get(if name == "ISA14" { 14 } else { 15 }).trim_ascii();
            if !codes.contains(&v) {
                sink(self.stamp_finding(
                    RuleId::CodeInvalid,
                    pos,
                    name,
                    "0 or 1 (ISA14), P or T (ISA15)",
                    v,
                ));
            }
        }
    }

    fn stamp_finding(
        &self,
        rule: RuleId,
        pos: Position,
        element: &str,
        want: &str,
        v: &[u8],
    ) -> Finding {
        self.finding(rule, pos, format!("{element} {:?} is not {want}", text(v)))
            .with_element(element)
            .with_value(text(v))
    }

    fn isa(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let pos = seg.position();
        self.close_interchange(pos, sink);
        self.counts.interchanges += 1;
        let control = seg.value(13).trim_ascii().to_vec();
        if control.len() != 9 || !control.iter().all(u8::is_ascii_digit) {
            sink(
                self.finding(
                    RuleId::SegmentSyntax,
                    pos,
                    "ISA13 must be a 9-digit control number",
                )
                .with_element("ISA13")
                .with_value(text(&control)),
            );
        }
        if !self.interchange_ids.insert(control.clone()) {
            sink(
                self.finding(
                    RuleId::ControlNumberMismatch,
                    pos,
                    "ISA13 repeats an earlier interchange's control number in this file",
                )
                .with_element("ISA13")
                .with_value(text(&control)),
            );
        }
        self.isa_stamps(seg, sink);
        let version = seg.value(12).trim_ascii();
        let supported = version == b"00501";
        if !supported {
            sink(
                self.finding(
                    RuleId::UnsupportedVersion,
                    pos,
                    format!(
                        "interchange version {} is not 00501 (5010); its transactions are not read",
                        text(version)
                    ),
                )
                .with_element("ISA12")
                .with_value(text(version)),
            );
        }
        self.interchange = Some(Interchange {
            control,
            position: pos,
            groups: 0,
            group_ids: HashSet::new(),
            supported,
        });
    }

    fn gs(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let pos = seg.position();
        self.close_group(pos, sink);
        self.counts.groups += 1;
        let control = seg.value(6).trim_ascii().to_vec();
        let version = seg.value(8).trim_ascii().to_vec();
        let Some(ic) = self.interchange.as_mut() else {
            sink(self.finding(
                RuleId::SegmentOutOfPlace,
                pos,
                "GS outside an interchange (no ISA before it)",
            ));
            return;
        };
        ic.groups += 1;
        let repeated = !ic.group_ids.insert(control.clone());
        let supported_ic = ic.supported;
        if repeated {
            sink(
                self.finding(
                    RuleId::ControlNumberMismatch,
                    pos,
                    "GS06 repeats an earlier group's control number in this interchange",
                )
                .with_element("GS06")
                .with_value(text(&control)),
            );
        }
        let f = seg.fields::<5>();
        let (date, time) = (f.get(4).trim_ascii(), f.get(5).trim_ascii());
        if date.len() != 8 || !date.iter().all(u8::is_ascii_digit) || !is_date(date) {
            sink(self.stamp_finding(RuleId::BadDate, pos, "GS04", "a real CCYYMMDD date", date));
        }
        if !time.iter().all(u8::is_ascii_digit) || !is_time(time) {
            sink(self.stamp_finding(
                RuleId::ElementSyntax,
                pos,
                "GS05",
                "a real HHMM[SS[dd]] time",
                time,
            ));
        }
        let mut grammar = None;
        if supported_ic {
            let functional = seg.value(1).trim_ascii();
            if functional != b"HC" {
                sink(self.finding(
                    RuleId::UnsupportedVersion,
                    pos,
                    format!("functional group {} is not HC (health care claims); its transactions are not read", text(functional)),
                ).with_element("GS01").with_value(text(functional)));
            } else {
                grammar = self.grammars.for_version(&version);
                if grammar.is_none() {
                    sink(self.finding(
                        RuleId::UnsupportedVersion,
                        pos,
                        format!("{} is not a 5010 837P or 837I guide; the group's transactions are not read", text(&version)),
                    ).with_element("GS08").with_value(text(&version)));
                }
            }
        }
        self.group = Some(Group {
            control,
            position: pos,
            transactions: 0,
            transaction_ids: HashSet::new(),
            version,
            grammar,
        });
    }

    fn ge(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let pos = seg.position();
        let Some(g) = self.group.take() else {
            sink(self.finding(RuleId::SegmentOutOfPlace, pos, "GE without a matching GS"));
            return;
        };
        let ge01 = seg.value(1);
        if count_of(ge01) != Some(g.transactions) {
            sink(
                self.finding(
                    RuleId::EnvelopeCount,
                    pos,
                    format!(
                        "GE01 says {}, but the group holds {} transaction(s)",
                        text(ge01.trim_ascii()),
                        g.transactions
                    ),
                )
                .with_element("GE01")
                .with_value(text(ge01)),
            );
        }
        let ge02 = seg.value(2);
        if !same_control(ge02, &g.control) {
            sink(
                self.finding(
                    RuleId::ControlNumberMismatch,
                    pos,
                    format!(
                        "GE02 {} does not match GS06 {}",
                        text(ge02.trim_ascii()),
                        text(&g.control)
                    ),
                )
                .with_element("GE02")
                .with_value(text(ge02)),
            );
        }
    }

    fn iea(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(Finding)) {
        let pos = seg.position();
        self.close_group(pos, sink);
        let Some(ic) = self.interchange.take() else {
            sink(self.finding(RuleId::SegmentOutOfPlace, pos, "IEA without a matching ISA"));
            return;
        };
        let iea01 = seg.value(1);
        if count_of(iea01) != Some(ic.groups) {
            sink(
                self.finding(
                    RuleId::EnvelopeCount,
                    pos,
                    format!(
                        "IEA01 says {}, but the interchange holds {} group(s)",
                        text(iea01.trim_ascii()),
                        ic.groups
                    ),
                )
                .with_element("IEA01")
                .with_value(text(iea01)),
            );
        }
        let iea02 = seg.value(2);
        if !same_control(iea02, &ic.control) {
            sink(
                self.finding(
                    RuleId::ControlNumberMismatch,
                    pos,
                    format!(
                        "IEA02 {} does not match ISA13 {}",
                        text(iea02.trim_ascii()),
                        text(&ic.control)
                    ),
                )
                .with_element("IEA02")
                .with_value(text(iea02)),
            );
        }
    }

    fn transaction(
        &mut self,
        block: &Block,
        sink: &mut dyn FnMut(Finding),
    ) -> Option<&'static Grammar> {
        let pos = block.position();
        self.last_position = pos;
        self.counts.transactions += 1;
        let Some(group) = self.group.as_mut() else {
            sink(self.finding(
                RuleId::SegmentOutOfPlace,
                pos,
                "ST outside a functional group (no GS before it)",
            ));
            return None;
        };
        group.transactions += 1;
        let group_grammar = group.grammar;
        let group_version = group.version.clone();
        if block.is_oversized() {
            return None;
        }
        let st = block.first()?;
        let st01 = st.value(1).trim_ascii();
        let st02 = st.value(2).trim_ascii();
        let st03 = st.value(3).trim_ascii();
        if !group.transaction_ids.insert(st02.to_vec()) {
            sink(
                self.finding(
                    RuleId::ControlNumberMismatch,
                    pos,
                    "ST02 repeats an earlier transaction's control number in this group",
                )
                .with_element("ST02")
                .with_value(text(st02)),
            );
        }
        if block.is_ended() {
            let se = block
                .segments()
                .next_back()
                .expect("an ended transaction has its SE");
            let counted = block.segment_count();
            let se01 = se.value(1);
            if count_of(se01) != Some(counted) {
                sink(self.finding(
                    RuleId::EnvelopeCount,
                    se.position(),
                    format!("SE01 says {}, but the transaction has {counted} segments from ST to SE", text(se01.trim_ascii())),
                ).with_element("SE01").with_value(text(se01)));
            }
            let se02 = se.value(2).trim_ascii();
            if se02 != st02 {
                sink(
                    self.finding(
                        RuleId::ControlNumberMismatch,
                        se.position(),
                        format!("SE02 {} does not match ST02 {}", text(se02), text(st02)),
                    )
                    .with_element("SE02")
                    .with_value(text(se02)),
                );
            }
        }
        group_grammar?;
        if st01 != b"837" {
            sink(
                self.finding(
                    RuleId::UnsupportedVersion,
                    pos,
                    format!(
                        "transaction set {} is not an 837; it is not read",
                        text(st01)
                    ),
                )
                .with_element("ST01")
                .with_value(text(st01)),
            );
            return None;
        }
        if !st03.is_empty() && st03 != group_version.as_slice() {
            let g = self.grammars.for_version(st03);
            if g.map(|g| g.form) != group_grammar.map(|g| g.form) {
                sink(
                    self.finding(
                        RuleId::CodeInvalid,
                        pos,
                        format!(
                            "ST03 {} does not match the group's GS08 {}",
                            text(st03),
                            text(&group_version)
                        ),
                    )
                    .with_element("ST03")
                    .with_value(text(st03)),
                );
                return g;
            }
        }
        group_grammar
    }

    /// Reports the envelopes still open at the end of the input.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Finding)) {
        let at = self.last_position;
        self.close_group_at_end(at, sink);
        if let Some(i) = self.interchange.take() {
            sink(self.finding(
                RuleId::SegmentMissing,
                i.position,
                format!(
                    "the interchange with ISA13 {} has no IEA at the end of the input",
                    text(&i.control)
                ),
            ));
        }
    }

    fn close_group_at_end(&mut self, _at: Position, sink: &mut dyn FnMut(Finding)) {
        if let Some(g) = self.group.take() {
            sink(self.finding(
                RuleId::SegmentMissing,
                g.position,
                format!(
                    "the group with GS06 {} has no GE at the end of the input",
                    text(&g.control)
                ),
            ));
        }
    }
}
