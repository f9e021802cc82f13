//! `fix`: split mixed claims into stand-alone S-code claims and correct
//! 837I revenue codes, keeping every byte the fix does not change.
//!
//! The fix streams, one transaction at a time, like the reader. For each
//! transaction it plans the edits on the claim model, then writes the
//! transaction's segments: untouched ones byte for byte (lead and tail
//! included), edited ones with the input's separators and the line break of
//! the segment they replace ([`crate::write`]). It recomputes only what an
//! edit touches: CLM02 of split claims, LX numbers, SE01; and GE01/IEA01
//! from what was counted.
//!
//! The contract is the policy document's section "The fixes": every input
//! service line appears in exactly one output claim, and the charges of the
//! split claims add up to the original total. A replacement or void, a claim
//! with claim-level adjudication from another payer (2320 AMT or CAS), and a
//! transaction with structure errors are left as they are and reported as
//! not fixed.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};
use std::sync::Arc;

use serde::Serialize;

use crate::envelope::EnvelopeChecker;
use crate::error::{Error, ErrorKind, Result};
use crate::finding::{Position, RuleId, Severity};
use crate::grammar::builder::LoopBuilder;
use crate::grammar::{Form, Grammars};
use crate::lex::framer::Span;
use crate::lex::SegmentId;
use crate::model::{build_transaction, Amount, Transaction};
use crate::policy::Policy;
use crate::reader::{Block, BlockKind, ReaderBuilder};
use crate::rules::{ClaimFacts, Frequency};
use crate::write::{copy_segment, replace_segment, with_element};

const CLM: SegmentId = SegmentId::new(b"CLM");
const HL: SegmentId = SegmentId::new(b"HL");
const SE: SegmentId = SegmentId::new(b"SE");

/// The longest patient control number the guides allow (CLM01).
pub const MAX_CLAIM_ID: usize = 20;

/// Settings of a fix.
#[derive(Clone, Debug)]
pub struct FixOptions {
    /// The policy: S-codes, the revenue code, payer scope.
    pub policy: Policy,
    /// Rewrite 837I S-code revenue codes to the policy's (default true).
    pub revenue_fix: bool,
    /// The largest transaction held in memory.
    pub max_transaction_bytes: usize,
    /// Claim ids that new ids must not take (ids found later in the input
    /// on an earlier attempt).
    pub reserved_ids: HashSet<String>,
}

/// The separate interchange `--scode-out` writes: the claims made by splits,
/// each under copies of its billing provider, subscriber and patient
/// levels, in one transaction per input transaction and one group per form.
#[derive(Debug, Default)]
struct ScodeOut {
    control_number: u64,
    next_st: u64,
    isa: Option<(Vec<u8>, Vec<u8>, crate::lex::Delimiters)>,
    gs: Option<Vec<u8>>,
    groups: std::collections::BTreeMap<Form, (Vec<u8>, Vec<Vec<u8>>)>,
}

impl ScodeOut {
    /// The whole interchange, or nothing when no claim was moved.
    fn finish(self) -> Vec<u8> {
        let Some((isa, tail, d)) = self.isa else {
            return Vec::new();
        };
        if self.groups.is_empty() {
            return Vec::new();
        }
        let n = self.control_number;
        let isa13 = format!("{n:09}");
        let mut out = with_element(&isa, d, 13, isa13.as_bytes());
        out.extend_from_slice(&tail);
        let seg = |out: &mut Vec<u8>, content: String| {
            out.extend_from_slice(content.as_bytes());
            out.extend_from_slice(&tail);
        };
        let e = d.element as char;
        for (g, (gs, txs)) in self.groups.values().enumerate() {
            let gs06 = (n + g as u64).to_string();
            out.extend_from_slice(&with_element(gs, d, 6, gs06.as_bytes()));
            out.extend_from_slice(&tail);
            for t in txs {
                out.extend_from_slice(t);
            }
            seg(&mut out, format!("GE{e}{}{e}{gs06}", txs.len()));
        }
        seg(&mut out, format!("IEA{e}{}{e}{isa13}", self.groups.len()));
        out
    }
}

impl Default for FixOptions {
    fn default() -> Self {
        FixOptions {
            policy: Policy::default_policy().clone(),
            revenue_fix: true,
            max_transaction_bytes: 64 << 20,
            reserved_ids: HashSet::new(),
        }
    }
}

/// A new claim made by a split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewClaim {
    /// Its CLM01.
    pub claim_id: String,
    /// The S-code it carries.
    pub code: String,
    /// The line's LX01 in the original claim.
    pub original_line: Option<u32>,
    /// Its CLM02, the line's charge.
    pub total: String,
}

/// One edit the fix made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Change {
    /// A mixed claim split into the original and stand-alone S-code claims.
    Split {
        /// The CLM segment of the original, in the input.
        segment: u64,
        /// CLM01 of the original.
        claim_id: String,
        /// CLM02 before.
        old_total: String,
        /// CLM02 of the original after.
        new_total: String,
        /// The claims made from its S-code lines, right after it.
        new_claims: Vec<NewClaim>,
    },
    /// An 837I S-code line's revenue code rewritten.
    RevenueCode {
        /// The SV2 segment, in the input.
        segment: u64,
        /// CLM01 of the claim it is in (the new claim's, after a split).
        claim_id: String,
        /// The S-code.
        code: String,
        /// SV2-01 before.
        old: String,
        /// SV2-01 after.
        new: String,
    },
    /// A trailer count recomputed (SE01, GE01 or IEA01).
    Count {
        /// The trailer segment, in the input.
        segment: u64,
        /// `SE01`, `GE01` or `IEA01`.
        element: &'static str,
        /// Before.
        old: String,
        /// After.
        new: String,
    },
}

/// A finding the fix left for a person, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotFixed {
    /// The CLM segment.
    pub segment: u64,
    /// CLM01.
    pub claim_id: String,
    /// The rule that stays broken.
    pub rule: RuleId,
    /// Why the fix left it.
    pub reason: String,
}

/// Counts of the fix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FixSummary {
    /// Transactions read.
    pub transactions: u64,
    /// Claims read.
    pub claims: u64,
    /// Claims split.
    pub claims_split: u64,
    /// Claims made by splits.
    pub claims_created: u64,
    /// Revenue codes rewritten.
    pub revenue_codes_fixed: u64,
    /// Trailer counts recomputed to a new value.
    pub counts_recomputed: u64,
    /// Findings left for review.
    pub not_fixed: u64,
}

/// What a fix did, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FixReport {
    /// The input path as given.
    pub input: String,
    /// Every edit, in input order.
    pub changes: Vec<Change>,
    /// What was left for review.
    pub not_fixed: Vec<NotFixed>,
    /// Counts.
    pub summary: FixSummary,
    /// New claim ids that a later claim of the input also uses; non-empty
    /// means the output must not be used (see [`fix`]).
    #[serde(skip)]
    pub collisions: Vec<String>,
}

/// FNV-1a of a claim id: every claim of a file is hashed, so the hash must
/// be cheap; a collision only makes a new id skip a free suffix.
fn id_hash(id: &[u8]) -> u64 {
    id.trim_ascii()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Hashes a `u64` that is already a hash: by itself.
#[derive(Default, Clone, Copy)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdSet = HashSet<u64, BuildHasherDefault<Prehashed>>;
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

struct Fixer<'o> {
    opts: &'o FixOptions,
    label: Arc<str>,
    report: FixReport,
    seen_ids: IdSet,
    generated: IdMap<String>,
    st_in_group: u64,
    gs_in_interchange: u64,
    out: Vec<u8>,
    scode: Option<ScodeOut>,
}

/// Writes a segment whole, or with `content` in place of its own.
fn write_segment(
    out: &mut Vec<u8>,
    bytes: &[u8],
    span: &crate::lex::framer::Span,
    content: Option<&[u8]>,
) {
    match content {
        Some(c) => replace_segment(out, bytes, span, c),
        None => copy_segment(out, bytes, span),
    }
}

/// Writes segment `i` of the block to the output, whole or with new content.
type Emit<'a> = dyn FnMut(&mut Vec<u8>, usize, Option<&[u8]>) + 'a;

/// The plan for one claim.
#[derive(Default)]
struct ClaimPlan {
    /// Indices (into the claim's lines) of the S-code lines to move out.
    split: Vec<usize>,
    new_ids: Vec<String>,
}

impl<'o> Fixer<'o> {
    fn new_id(&mut self, base: &[u8], later_in_tx: &IdSet) -> String {
        let base = String::from_utf8_lossy(base.trim_ascii()).into_owned();
        for k in 1.. {
            let suffix = format!("S{k}");
            let keep = MAX_CLAIM_ID.saturating_sub(suffix.len());
            let mut cut = base.len().min(keep);
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            let candidate = format!("{}{suffix}", &base[..cut]);
            let h = id_hash(candidate.as_bytes());
            if !self.seen_ids.contains(&h)
                && !later_in_tx.contains(&h)
                && !self.opts.reserved_ids.contains(&candidate)
            {
                self.seen_ids.insert(h);
                self.generated.insert(h, candidate.clone());
                return candidate;
            }
        }
        unreachable!("the suffix counter runs until a free id is found")
    }

    fn envelope(&mut self, block: &Block) {
        let (Some(seg), Some(span)) = (block.first(), block.span(0)) else {
            self.out.extend_from_slice(block.bytes());
            return;
        };
        let id = seg.id_bytes().to_ascii_uppercase();
        let (element, count) = match id.as_slice() {
            b"ISA" => {
                self.gs_in_interchange = 0;
                if let Some(sc) = self.scode.as_mut() {
                    if sc.isa.is_none() {
                        let tail = block.bytes()[span.content_end..span.end].to_vec();
                        sc.isa = Some((seg.as_bytes().to_vec(), tail, seg.delimiters()));
                    }
                }
                (None, 0)
            }
            b"GS" => {
                self.gs_in_interchange += 1;
                self.st_in_group = 0;
                if let Some(sc) = self.scode.as_mut() {
                    sc.gs = Some(seg.as_bytes().to_vec());
                }
                (None, 0)
            }
            b"GE" => (Some("GE01"), self.st_in_group),
            b"IEA" => (Some("IEA01"), self.gs_in_interchange),
            _ => (None, 0),
        };
        match element {
            Some(name) if seg.value(1).trim_ascii() != count.to_string().as_bytes() => {
                self.write_recount(block, &span, &seg, name, count);
            }
            _ => self.out.extend_from_slice(block.bytes()),
        }
    }

    /// Writes the trailer `seg` with its count (element 1) set to `count`,
    /// and reports the change.
    fn write_recount(
        &mut self,
        block: &Block,
        span: &crate::lex::framer::Span,
        seg: &crate::lex::Segment<'_>,
        element: &'static str,
        count: u64,
    ) {
        let content = with_element(
            seg.as_bytes(),
            seg.delimiters(),
            1,
            count.to_string().as_bytes(),
        );
        replace_segment(&mut self.out, block.bytes(), span, &content);
        self.record_count(seg, element, count);
    }

    /// Reports a trailer count that was wrong in the input.
    fn record_count(&mut self, seg: &crate::lex::Segment<'_>, element: &'static str, count: u64) {
        self.report.changes.push(Change::Count {
            segment: seg.position().segment,
            element,
            old: String::from_utf8_lossy(seg.value(1)).into_owned(),
            new: count.to_string(),
        });
        self.report.summary.counts_recomputed += 1;
    }

    fn not_fixed(&mut self, segment: u64, claim_id: &[u8], rule: RuleId, reason: &str) {
        self.report.not_fixed.push(NotFixed {
            segment,
            claim_id: String::from_utf8_lossy(claim_id).into_owned(),
            rule,
            reason: reason.to_string(),
        });
        self.report.summary.not_fixed += 1;
    }

    fn transaction(&mut self, block: &Block, tx: &Transaction<'_>, structure_errors: bool) {
        let opts = self.opts;
        let policy = &opts.policy;
        let first = block.position().segment;
        let idx = |p: Position| (p.segment - first) as usize;
        let claims: Vec<_> = tx.claims().collect();
        // Ids later in this transaction, for new ids: made only when needed.
        let mut later_in_tx: Option<IdSet> = None;
        for c in &claims {
            let h = id_hash(c.id);
            if let Some(id) = self.generated.get(&h) {
                self.report.collisions.push(id.clone());
            }
        }
        // Plan.
        let mut plans: HashMap<usize, ClaimPlan> = HashMap::new();
        let mut sv2_rewrites: HashMap<usize, (Vec<u8>, String, String, String)> = HashMap::new();
        for (ci, claim) in claims.iter().enumerate() {
            if !policy.in_scope(claim.subscriber().payer_id) {
                continue;
            }
            if !ClaimFacts::has_scode(claim, policy) {
                continue;
            }
            let facts = ClaimFacts::new(*claim, policy, self.label.clone());
            let frequency = Frequency::from_code(claim.frequency);
            let mixed = facts.other_lines > 0;
            let bad_revenue: Vec<_> = facts
                .scodes
                .iter()
                .filter(|s| {
                    tx.form == Form::Institutional
                        && s.line.revenue_code != Some(policy.institutional_revenue_code.as_bytes())
                })
                .collect();
            if structure_errors {
                if mixed {
                    self.not_fixed(
                        claim.position.segment,
                        claim.id,
                        RuleId::StandaloneClaim,
                        "the transaction has structure errors; fix them first",
                    );
                }
                for _ in &bad_revenue {
                    self.not_fixed(
                        claim.position.segment,
                        claim.id,
                        RuleId::RevenueCode0960,
                        "the transaction has structure errors; fix them first",
                    );
                }
                continue;
            }
            if self.opts.revenue_fix && frequency != Frequency::Void {
                for s in &bad_revenue {
                    let at = idx(s.line.service_position);
                    let seg = block
                        .segments()
                        .nth(at)
                        .expect("the SV2 segment is in the block");
                    let content = with_element(
                        seg.as_bytes(),
                        seg.delimiters(),
                        1,
                        policy.institutional_revenue_code.as_bytes(),
                    );
                    let old =
                        String::from_utf8_lossy(s.line.revenue_code.unwrap_or(&[])).into_owned();
                    sv2_rewrites.insert(
                        at,
                        (
                            content,
                            old,
                            policy.code(s.kind).to_string(),
                            String::from_utf8_lossy(claim.id).into_owned(),
                        ),
                    );
                }
            }
            if !mixed {
                continue;
            }
            let reason = if frequency != Frequency::Original {
                Some("a replacement or void (or other non-original frequency) is not split; correct the original claim")
            } else if claim.other_payer_adjudication {
                Some("the claim carries claim-level adjudication from another payer (2320 AMT or CAS), which cannot be divided")
            } else if claim.lines().iter().any(|l| l.charge.is_none()) {
                Some("a line charge is missing or unreadable, so the totals cannot be recomputed")
            } else if claim.id.trim_ascii().is_empty() {
                Some("the claim has no patient control number to derive new ids from")
            } else {
                None
            };
            if let Some(reason) = reason {
                self.not_fixed(
                    claim.position.segment,
                    claim.id,
                    RuleId::StandaloneClaim,
                    reason,
                );
                continue;
            }
            let split: Vec<usize> = claim
                .lines()
                .iter()
                .enumerate()
                .filter(|(_, l)| {
                    l.procedure
                        .and_then(|p| policy.scode(p.qualifier, p.code))
                        .is_some()
                })
                .map(|(i, _)| i)
                .collect();
            let new_ids = split
                .iter()
                .map(|_| {
                    let later = later_in_tx
                        .get_or_insert_with(|| claims.iter().map(|c| id_hash(c.id)).collect());
                    self.new_id(claim.id, later)
                })
                .collect();
            plans.insert(ci, ClaimPlan { split, new_ids });
        }
        for c in &claims {
            self.seen_ids.insert(id_hash(c.id));
        }
        self.report.summary.claims += claims.len() as u64;
        if plans.is_empty() && sv2_rewrites.is_empty() {
            self.write_verbatim_transaction(block);
            return;
        }
        // Where each claim and line ends: a claim runs to the next CLM, HL
        // or SE; a line to the next LX or the claim's end.
        let ids: Vec<Option<SegmentId>> = block.segments().map(|s| s.id()).collect();
        let claim_end = |start: usize| {
            (start + 1..ids.len())
                .find(|&i| ids[i].is_some_and(|id| id == CLM || id == HL || id == SE))
                .unwrap_or(ids.len())
        };
        let bytes = block.bytes();
        let spans: Vec<Span> = block.spans().collect();
        let segs: Vec<_> = block.segments().collect();
        let mut out = std::mem::take(&mut self.out);
        // Each emitter writes a segment and counts what it wrote, for the
        // SE01 of the transaction it goes to.
        let written = std::cell::Cell::new(0u64);
        let mut emit = |out: &mut Vec<u8>, i: usize, content: Option<&[u8]>| {
            write_segment(out, bytes, &spans[i], content);
            written.set(written.get() + 1);
        };
        // With --scode-out, new claims go to a side buffer instead.
        let side = self.scode.is_some();
        let moved_count = std::cell::Cell::new(0u64);
        let mut emit_moved = |out: &mut Vec<u8>, i: usize, content: Option<&[u8]>| {
            write_segment(out, bytes, &spans[i], content);
            moved_count.set(moved_count.get() + 1);
        };
        let mut moved_out: Vec<(usize, Vec<u8>, u64)> = Vec::new();
        let mut moved_buf = Vec::new();
        // Claims come in segment order: a cursor finds the next one.
        let mut next_claim = 0;
        let mut i = 0;
        while i < segs.len() {
            let seg = &segs[i];
            let starts_claim = claims.get(next_claim).is_some_and(|c| idx(c.position) == i);
            if starts_claim {
                let ci = next_claim;
                next_claim += 1;
                let claim = &claims[ci];
                let end = claim_end(i);
                if !plans.contains_key(&ci) && !(i..end).any(|k| sv2_rewrites.contains_key(&k)) {
                    // Nothing to change in this claim: its bytes in one copy.
                    out.extend_from_slice(&bytes[spans[i].start..spans[end - 1].end]);
                    written.set(written.get() + (end - i) as u64);
                    i = end;
                    continue;
                }
                let lines = claim.lines();
                let line_starts: Vec<usize> = lines.iter().map(|l| idx(l.position)).collect();
                let header_end = line_starts.first().copied().unwrap_or(end);
                let line_range =
                    |k: usize| line_starts[k]..line_starts.get(k + 1).copied().unwrap_or(end);
                let plan = plans.remove(&ci);
                let moved: &[usize] = plan.as_ref().map_or(&[], |p| p.split.as_slice());
                // The original: header (CLM02 recomputed), the lines it
                // keeps (LX renumbered).
                let kept_total: Amount = lines
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| !moved.contains(k))
                    .filter_map(|(_, l)| l.charge)
                    .sum();
                for (h, seg) in segs.iter().enumerate().take(header_end).skip(i) {
                    if h == i && plan.is_some() {
                        emit(
                            &mut out,
                            h,
                            Some(&with_element(
                                seg.as_bytes(),
                                seg.delimiters(),
                                2,
                                kept_total.to_string().as_bytes(),
                            )),
                        );
                    } else {
                        emit(&mut out, h, None);
                    }
                }
                let mut number = 0u32;
                for k in (0..lines.len()).filter(|k| !moved.contains(k)) {
                    number += 1;
                    for s in line_range(k) {
                        self.emit_line_segment(
                            &mut out,
                            &mut emit,
                            &segs,
                            s,
                            line_starts[k],
                            number,
                            &sv2_rewrites,
                            None,
                        );
                    }
                }
                if let Some(plan) = plan {
                    let mut new_claims = Vec::new();
                    for (&k, new_id) in plan.split.iter().zip(&plan.new_ids) {
                        let line = &lines[k];
                        let charge = line.charge.unwrap_or(Amount::ZERO);
                        let (target, em): (&mut Vec<u8>, &mut Emit<'_>) = if side {
                            (&mut moved_buf, &mut emit_moved)
                        } else {
                            (&mut out, &mut emit)
                        };
                        for (h, s) in segs.iter().enumerate().take(header_end).skip(i) {
                            let d = s.delimiters();
                            if h == i {
                                let c = with_element(s.as_bytes(), d, 1, new_id.as_bytes());
                                em(
                                    target,
                                    h,
                                    Some(&with_element(&c, d, 2, charge.to_string().as_bytes())),
                                );
                            } else if s.is(b"REF") && s.value(1).trim_ascii() == b"D9" {
                                // A clearinghouse claim id is the claim's own.
                                em(
                                    target,
                                    h,
                                    Some(&with_element(s.as_bytes(), d, 2, new_id.as_bytes())),
                                );
                            } else {
                                em(target, h, None);
                            }
                        }
                        for s in line_range(k) {
                            self.emit_line_segment(
                                target,
                                em,
                                &segs,
                                s,
                                line_starts[k],
                                1,
                                &sv2_rewrites,
                                Some(new_id),
                            );
                        }
                        if side {
                            moved_out.push((
                                ci,
                                std::mem::take(&mut moved_buf),
                                moved_count.replace(0),
                            ));
                        }
                        let kind = line
                            .procedure
                            .and_then(|p| policy.scode(p.qualifier, p.code))
                            .expect("a split line is an S-code line");
                        new_claims.push(NewClaim {
                            claim_id: new_id.clone(),
                            code: policy.code(kind).to_string(),
                            original_line: line.number,
                            total: charge.to_string(),
                        });
                    }
                    self.report.summary.claims_split += 1;
                    self.report.summary.claims_created += new_claims.len() as u64;
                    self.report.changes.push(Change::Split {
                        segment: claim.position.segment,
                        claim_id: String::from_utf8_lossy(claim.id).into_owned(),
                        old_total: claim.total.map(|t| t.to_string()).unwrap_or_default(),
                        new_total: kept_total.to_string(),
                        new_claims,
                    });
                }
                i = end;
                continue;
            }
            if seg.is(b"SE") {
                let count = written.get() + 1;
                if seg.value(1).trim_ascii() != count.to_string().as_bytes() {
                    emit(
                        &mut out,
                        i,
                        Some(&with_element(
                            seg.as_bytes(),
                            seg.delimiters(),
                            1,
                            count.to_string().as_bytes(),
                        )),
                    );
                    // A recount after a split is part of the split; report
                    // only a count that was wrong in the input.
                    if count == block.segment_count() {
                        self.record_count(seg, "SE01", count);
                    }
                } else {
                    emit(&mut out, i, None);
                }
            } else {
                emit(&mut out, i, None);
            }
            i += 1;
        }
        self.out = out;
        if !moved_out.is_empty() {
            self.scode_transaction(block, tx, &claims, moved_out);
        }
    }

    /// Writes the claims moved out of one transaction as a transaction of
    /// the `--scode-out` interchange, under copies of their HL levels,
    /// renumbered.
    fn scode_transaction(
        &mut self,
        block: &Block,
        tx: &Transaction<'_>,
        claims: &[crate::model::ClaimRef<'_, '_>],
        moved: Vec<(usize, Vec<u8>, u64)>,
    ) {
        let sc = self
            .scode
            .as_mut()
            .expect("moved claims only with --scode-out");
        let segs: Vec<_> = block.segments().collect();
        let bytes = block.bytes();
        let spans: Vec<Span> = block.spans().collect();
        let first = block.position().segment;
        let idx = |p: Position| (p.segment - first) as usize;
        let ids: Vec<Option<SegmentId>> = segs.iter().map(|s| s.id()).collect();
        let level_end = |start: usize| {
            (start + 1..ids.len())
                .find(|&i| ids[i].is_some_and(|id| id == CLM || id == HL || id == SE))
                .unwrap_or(ids.len())
        };
        let d = segs[0].delimiters();
        let st02 = format!("{:04}", sc.next_st);
        sc.next_st += 1;
        let mut t = Vec::new();
        let mut count = 0u64;
        replace_segment(
            &mut t,
            bytes,
            &spans[0],
            &with_element(segs[0].as_bytes(), d, 2, st02.as_bytes()),
        );
        count += 1;
        let first_hl = ids.iter().position(|x| *x == Some(HL)).unwrap_or(ids.len());
        for span in &spans[1..first_hl] {
            copy_segment(&mut t, bytes, span);
            count += 1;
        }
        let mut hl = 0u64;
        let (mut bp_hl, mut sub_hl) = (0u64, 0u64);
        let (mut last_bp, mut last_sub, mut last_pat) = (None, None, None);
        let level = |t: &mut Vec<u8>, count: &mut u64, at: usize, hl_content: Vec<u8>| {
            replace_segment(t, bytes, &spans[at], &hl_content);
            *count += 1;
            for span in &spans[at + 1..level_end(at)] {
                copy_segment(t, bytes, span);
                *count += 1;
            }
        };
        let hl_content = |at: usize, id: u64, parent: Option<u64>, child: bool| {
            let s = &segs[at];
            let c = with_element(s.as_bytes(), d, 1, id.to_string().as_bytes());
            let c = with_element(
                &c,
                d,
                2,
                parent.map(|p| p.to_string()).unwrap_or_default().as_bytes(),
            );
            with_element(&c, d, 4, if child { b"1" } else { b"0" })
        };
        for (k, (ci, claim_bytes, n)) in moved.iter().enumerate() {
            let c = &claims[*ci];
            if last_bp != Some(c.billing_provider) {
                hl += 1;
                bp_hl = hl;
                let at = idx(tx.billing_providers[c.billing_provider].position);
                level(&mut t, &mut count, at, hl_content(at, hl, None, true));
                (last_bp, last_sub, last_pat) = (Some(c.billing_provider), None, None);
            }
            if last_sub != Some(c.subscriber) {
                hl += 1;
                sub_hl = hl;
                let has_patients = moved[k..]
                    .iter()
                    .take_while(|m| claims[m.0].subscriber == c.subscriber)
                    .any(|m| claims[m.0].patient.is_some());
                let at = idx(tx.subscribers[c.subscriber].position);
                level(
                    &mut t,
                    &mut count,
                    at,
                    hl_content(at, hl, Some(bp_hl), has_patients),
                );
                (last_sub, last_pat) = (Some(c.subscriber), None);
            }
            if let Some(p) = c.patient {
                if last_pat != Some(p) {
                    hl += 1;
                    let at = idx(tx.patients[p].position);
                    level(
                        &mut t,
                        &mut count,
                        at,
                        hl_content(at, hl, Some(sub_hl), false),
                    );
                    last_pat = Some(p);
                }
            }
            t.extend_from_slice(claim_bytes);
            count += n;
        }
        let se = segs.len() - 1;
        let c = with_element(
            segs[se].as_bytes(),
            d,
            1,
            (count + 1).to_string().as_bytes(),
        );
        replace_segment(
            &mut t,
            bytes,
            &spans[se],
            &with_element(&c, d, 2, st02.as_bytes()),
        );
        let template = sc.gs.clone().unwrap_or_default();
        sc.groups
            .entry(tx.form)
            .or_insert_with(|| (template, Vec::new()))
            .1
            .push(t);
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_line_segment(
        &mut self,
        out: &mut Vec<u8>,
        emit: &mut Emit<'_>,
        segs: &[crate::lex::Segment<'_>],
        s: usize,
        lx: usize,
        number: u32,
        sv2_rewrites: &HashMap<usize, (Vec<u8>, String, String, String)>,
        new_claim: Option<&String>,
    ) {
        let seg = &segs[s];
        if s == lx {
            let n = number.to_string();
            if seg.value(1).trim_ascii() == n.as_bytes() {
                emit(out, s, None);
            } else {
                emit(
                    out,
                    s,
                    Some(&with_element(
                        seg.as_bytes(),
                        seg.delimiters(),
                        1,
                        n.as_bytes(),
                    )),
                );
            }
        } else if let Some((content, old, code, claim_id)) = sv2_rewrites.get(&s) {
            emit(out, s, Some(content));
            self.report.changes.push(Change::RevenueCode {
                segment: seg.position().segment,
                claim_id: new_claim.cloned().unwrap_or_else(|| claim_id.clone()),
                code: code.clone(),
                old: old.clone(),
                new: self.opts.policy.institutional_revenue_code.clone(),
            });
            self.report.summary.revenue_codes_fixed += 1;
        } else {
            emit(out, s, None);
        }
    }

    fn write_verbatim_transaction(&mut self, block: &Block) {
        // Only a wrong SE01 is corrected in an otherwise untouched
        // transaction.
        let segs: Vec<_> = block.segments().collect();
        let last = segs.len().saturating_sub(1);
        match segs.last() {
            Some(se)
                if block.is_ended()
                    && se.value(1).trim_ascii() != block.segment_count().to_string().as_bytes() =>
            {
                let span = block.span(last).expect("the last segment's span");
                self.out.extend_from_slice(&block.bytes()[..span.start]);
                self.write_recount(block, &span, se, "SE01", block.segment_count());
            }
            _ => self.out.extend_from_slice(block.bytes()),
        }
    }
}

/// Fixes one input, writing the fixed X12 to `out` transaction by
/// transaction.
///
/// # Errors
///
/// The input cannot be read or is not X12; a transaction is larger than the
/// limit (its bytes were not kept, so it cannot be written); writing fails.
/// New claim ids that a *later* claim of the input turns out to use are
/// returned in [`FixReport::collisions`]: the output must then be discarded
/// and the fix run again with those ids in [`FixOptions::reserved_ids`].
///
/// ```
/// use scrub837::fix::{fix, FixOptions};
/// let input = include_bytes!("../../samples/837p-mixed-scode.edi");
/// let mut out = Vec::new();
/// let report = fix(&input[..], "in.edi", &mut out, &FixOptions::default()).unwrap();
/// assert_eq!(report.summary.claims_split, 2);
/// // Fixing the output changes nothing.
/// let mut again = Vec::new();
/// let second = fix(&out[..], "out.edi", &mut again, &FixOptions::default()).unwrap();
/// assert!(second.changes.is_empty());
/// assert_eq!(again, out);
/// ```
pub fn fix<R: Read>(
    rdr: R,
    label: &str,
    out: &mut dyn Write,
    opts: &FixOptions,
) -> Result<FixReport> {
    fix_to(rdr, label, out, None, opts)
}

/// [`fix`], with the claims made by splits written to `scode_out` as a
/// separate interchange instead of after their originals: its ISA13 and
/// first GS06 are `control_number`, further groups (one per form) count
/// up from it, and ST02 counts up from it in each transaction. Segments are
/// copied from the input (the separators of its first interchange).
///
/// # Errors
///
/// As [`fix`]; also when the input's interchanges use different
/// separators, which one separate interchange cannot hold.
pub fn fix_to<R: Read>(
    rdr: R,
    label: &str,
    out: &mut dyn Write,
    scode_out: Option<(&mut dyn Write, u64)>,
    opts: &FixOptions,
) -> Result<FixReport> {
    let label: Arc<str> = label.into();
    let (mut scode_writer, scode) = match scode_out {
        Some((w, n)) => (
            Some(w),
            Some(ScodeOut {
                control_number: n,
                next_st: n,
                ..ScodeOut::default()
            }),
        ),
        None => (None, None),
    };
    let mut reader = ReaderBuilder::new()
        .max_transaction_bytes(opts.max_transaction_bytes)
        .from_reader(rdr, label.clone());
    let mut envelope = EnvelopeChecker::new(label.clone());
    let grammars = Grammars::structure();
    let mut professional = LoopBuilder::new(&grammars.professional, label.clone());
    let mut institutional = LoopBuilder::new(&grammars.institutional, label.clone());
    let mut block = Block::new();
    let mut fixer = Fixer {
        opts,
        label: label.clone(),
        report: FixReport {
            input: label.to_string(),
            ..FixReport::default()
        },
        seen_ids: IdSet::default(),
        generated: IdMap::default(),
        st_in_group: 0,
        gs_in_interchange: 0,
        out: Vec::with_capacity(1 << 16),
        scode,
    };
    let mut first_delims = None;
    while reader.read_block(&mut block, &mut |_| {})? {
        if fixer.scode.is_some()
            && *first_delims.get_or_insert(block.delimiters()) != block.delimiters()
        {
            return Err(Error::new(
                ErrorKind::NotX12 {
                    reason: "--scode-out needs every interchange of the input to use the same separators".into(),
                },
                Some(block.position()),
            ));
        }
        let grammar = envelope.block(&block, &mut |_| {});
        if block.kind() != BlockKind::Transaction {
            fixer.envelope(&block);
        } else {
            fixer.st_in_group += 1;
            fixer.report.summary.transactions += 1;
            if block.is_oversized() {
                return Err(Error::new(
                    ErrorKind::NotX12 {
                        reason: format!(
                            "a transaction is larger than the limit of {} bytes and cannot be written; raise --max-transaction-bytes",
                            opts.max_transaction_bytes
                        ),
                    },
                    Some(block.position()),
                ));
            }
            match grammar {
                None => fixer.out.extend_from_slice(block.bytes()),
                Some(g) => {
                    let builder = match g.form {
                        Form::Professional => &mut professional,
                        Form::Institutional => &mut institutional,
                    };
                    // Count errors except those the fix itself repairs.
                    let mut errors = 0;
                    let tx = build_transaction(&block, builder, &mut |f| {
                        if f.severity == Severity::Error && f.rule != RuleId::EnvelopeCount {
                            errors += 1;
                        }
                    });
                    fixer.transaction(&block, &tx, errors > 0);
                }
            }
        }
        if fixer.out.len() >= 1 << 16 {
            out.write_all(&fixer.out)?;
            fixer.out.clear();
        }
    }
    out.write_all(&fixer.out)?;
    out.flush()?;
    if let (Some(w), Some(sc)) = (scode_writer.as_mut(), fixer.scode.take()) {
        w.write_all(&sc.finish())?;
        w.flush()?;
    }
    Ok(fixer.report)
}
