//! Building the claim model from the loop builder's events.

use std::sync::Arc;

use chrono::NaiveDate;
use nom::bytes::complete::{tag, take};
use nom::combinator::{all_consuming, map_opt};
use nom::sequence::separated_pair;
use nom::Parser;

use super::{
    Amount, BillingProvider, Claim, ClaimDate, DateRange, Diagnosis, Patient, Procedure,
    ServiceLine, Subscriber, Transaction,
};
use crate::finding::{AckDetail, Finding, RuleId};
use crate::grammar::builder::{LoopBuilder, LoopVisitor};
use crate::grammar::{Form, Grammar, LoopKind, SegmentNode};
use crate::lex::{element_name, Segment, SegmentId};
use crate::reader::Block;
use crate::validate::is_time;

/// Why a date value could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    /// The format qualifier (DTP02) is not one this reader knows.
    UnknownFormat,
    /// The value is not a real date in the named format.
    Invalid,
}

/// `CCYYMMDD` as a real date (years before 1800 refused, as pyx12 does).
fn date8(d: &[u8]) -> Option<NaiveDate> {
    if d.len() != 8 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
    let year = n(0..4);
    if year < 1800 {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, n(4..6), n(6..8))
}

fn d8(input: &[u8]) -> nom::IResult<&[u8], NaiveDate> {
    map_opt(take(8usize), date8).parse(input)
}

/// Reads a date value by its format qualifier: `D8` (`CCYYMMDD`), `RD8`
/// (`CCYYMMDD-CCYYMMDD`, from not after to) or `DT` (`CCYYMMDDHHMM`, the
/// date part).
///
/// # Errors
///
/// [`DateError::UnknownFormat`] for other qualifiers, [`DateError::Invalid`]
/// for values that are not real dates in the format.
pub fn parse_date_value(format: &[u8], value: &[u8]) -> Result<DateRange, DateError> {
    let value = value.trim_ascii();
    match format.trim_ascii() {
        b"D8" => date8(value)
            .map(DateRange::single)
            .ok_or(DateError::Invalid),
        b"RD8" => {
            let (_, (from, to)) = all_consuming(separated_pair(d8, tag(&b"-"[..]), d8))
                .parse(value)
                .map_err(|_| DateError::Invalid)?;
            if from > to {
                return Err(DateError::Invalid);
            }
            Ok(DateRange { from, to })
        }
        b"DT" if value.len() == 12 => {
            let d = date8(&value[..8]).ok_or(DateError::Invalid)?;
            let hh = &value[8..10];
            let mm = &value[10..12];
            if !hh.iter().chain(mm).all(u8::is_ascii_digit) || hh > &b"23"[..] || mm > &b"59"[..] {
                return Err(DateError::Invalid);
            }
            Ok(DateRange::single(d))
        }
        b"DT" => Err(DateError::Invalid),
        _ => Err(DateError::UnknownFormat),
    }
}

fn is_diagnosis_qualifier(q: &[u8]) -> bool {
    matches!(
        q,
        b"ABK" | b"ABF" | b"ABJ" | b"APR" | b"ABN" | b"BK" | b"BF" | b"BJ" | b"PR" | b"BN"
    )
}

/// Builds a [`Transaction`] from the loop builder's events.
///
/// Use [`build_transaction`] for a whole block; the builder is public for
/// callers that drive a [`LoopBuilder`] themselves.
#[derive(Debug)]
pub struct ModelBuilder<'a> {
    tx: Transaction<'a>,
    label: Arc<str>,
    findings: Vec<Finding>,
    current_patient: Option<usize>,
    /// The loop builder checks elements too: leave the element syntax it
    /// reports (amounts, BHT04) to it rather than say it twice.
    elements_checked: bool,
    /// The last `D8` value read and its date: lines of a claim mostly
    /// repeat one service date, and a calendar check per line adds up.
    last_d8: Option<(u64, NaiveDate)>,
}

impl<'a> ModelBuilder<'a> {
    /// A builder for a transaction of `form`.
    pub fn new(form: Form, label: Arc<str>) -> ModelBuilder<'a> {
        ModelBuilder {
            tx: Transaction {
                form,
                control_number: &[],
                version: &[],
                creation_date: None,
                position: Default::default(),
                billing_providers: Vec::new(),
                subscribers: Vec::new(),
                patients: Vec::new(),
                claims: Vec::new(),
                lines: Vec::new(),
                dates: Vec::new(),
                diagnoses: Vec::new(),
            },
            label,
            findings: Vec::new(),
            current_patient: None,
            elements_checked: false,
            last_d8: None,
        }
    }

    /// The model, and the findings met while building it (bad dates and
    /// amounts).
    pub fn finish(self) -> (Transaction<'a>, Vec<Finding>) {
        (self.tx, self.findings)
    }

    fn bad_value(
        &mut self,
        rule: RuleId,
        seg: &Segment<'a>,
        element: String,
        message: String,
        value: &[u8],
        phi: bool,
    ) {
        let typed = rule == RuleId::ElementSyntax || element == "BHT04";
        if typed && self.elements_checked {
            return;
        }
        let v = String::from_utf8_lossy(value).into_owned();
        let mut f =
            Finding::new(rule, self.label.clone(), seg.position(), message).with_element(element);
        f = if phi {
            f.with_phi_value(v)
        } else {
            f.with_value(v)
        };
        if let Some(c) = self.tx.claims.last() {
            f = f.with_claim(String::from_utf8_lossy(c.id));
        }
        self.findings.push(f);
    }

    /// Reads a date from a format element and a value element of `seg`
    /// (numbered `format_el` and `format_el + 1`); a bad one is a finding.
    fn date(
        &mut self,
        seg: &Segment<'a>,
        format_el: usize,
        format: &[u8],
        value: &[u8],
        phi: bool,
    ) -> Option<DateRange> {
        // An empty value is the element checker's (element-missing).
        if value.trim_ascii().is_empty() {
            return None;
        }
        // A time (DTP*096*TM, the discharge hour): no date to read, but it
        // must be a real HHMM.
        if format.trim_ascii() == b"TM" {
            let v = value.trim_ascii();
            let real = v.len() == 4 && v.iter().all(u8::is_ascii_digit) && is_time(v);
            if !real {
                let name = element_name(seg.id_bytes(), format_el + 1);
                self.findings.push(
                    Finding::new(
                        RuleId::ElementSyntax,
                        self.label.clone(),
                        seg.position(),
                        format!("{name} is not a real time of day (TM, HHMM)"),
                    )
                    .with_element(name)
                    .with_value(String::from_utf8_lossy(v))
                    .with_ack(AckDetail::element(
                        "9",
                        (format_el + 1) as u8,
                        0,
                        "1251",
                    )),
                );
            }
            return None;
        }
        let plain_d8 = format == b"D8" && value.len() == 8;
        let word = if plain_d8 {
            crate::lex::load8(value)
        } else {
            0
        };
        if let Some((w, d)) = self.last_d8 {
            if plain_d8 && w == word {
                return Some(DateRange::single(d));
            }
        }
        match parse_date_value(format, value) {
            Ok(d) => {
                if plain_d8 {
                    self.last_d8 = Some((word, d.from));
                }
                Some(d)
            }
            Err(e) => {
                let shown = String::from_utf8_lossy(format).into_owned();
                let (rule, el, v, what) = match e {
                    DateError::UnknownFormat => (
                        RuleId::CodeInvalid,
                        format_el,
                        format,
                        "is not a date format this reader knows (D8, RD8, DT)",
                    ),
                    DateError::Invalid => (
                        RuleId::BadDate,
                        format_el + 1,
                        value,
                        "does not hold a real date in that format",
                    ),
                };
                let name = element_name(seg.id_bytes(), el);
                self.bad_value(
                    rule,
                    seg,
                    name.clone(),
                    format!("{name} {what} ({shown})"),
                    v,
                    phi,
                );
                // 999: an invalid date (8) or code (7), and the element's
                // reference number (1250 format, 1251 value; DMG 1250/1251 too).
                let (code, reference) = match rule {
                    RuleId::BadDate => ("8", "1251"),
                    _ => ("7", "1250"),
                };
                if let Some(f) = self.findings.last_mut() {
                    if f.element.as_deref() == Some(name.as_str()) {
                        f.ack = Some(Box::new(AckDetail::element(code, el as u8, 0, reference)));
                    }
                }
                None
            }
        }
    }

    fn amount(&mut self, seg: &Segment<'a>, value: &[u8], name: &str) -> Option<Amount> {
        let v = value.trim_ascii();
        if v.is_empty() {
            return None;
        }
        let a = Amount::parse(v);
        if a.is_none() {
            self.bad_value(
                RuleId::ElementSyntax,
                seg,
                name.to_string(),
                format!("{name} is not a decimal number"),
                v,
                false,
            );
        }
        a
    }

    fn procedure(value: &'a [u8], component: u8) -> Option<Procedure<'a>> {
        if value.is_empty() {
            return None;
        }
        let mut c = value.split(move |b| *b == component);
        let qualifier = c.next().unwrap_or(&[]);
        let code = c.next().unwrap_or(&[]);
        let mut modifiers: [&[u8]; 4] = [&[]; 4];
        for m in modifiers.iter_mut() {
            *m = c.next().unwrap_or(&[]);
        }
        Some(Procedure {
            qualifier,
            code,
            modifiers,
        })
    }

    fn claim_segment(&mut self, id: SegmentId, seg: &Segment<'a>) {
        match id.as_bytes() {
            b"CLM" => {
                let f = seg.fields::<5>();
                let total = self.amount(seg, f.get(2), "CLM02");
                let comp = seg.delimiters().component;
                let mut clm05 = f.get(5).split(move |b| *b == comp);
                let claim = self.tx.claims.last_mut().expect("a 2300 loop is open");
                claim.id = f.get(1).trim_ascii();
                claim.total = total;
                claim.facility_code = clm05.next().unwrap_or(&[]).trim_ascii();
                claim.frequency = clm05.nth(1).unwrap_or(&[]).trim_ascii();
            }
            b"DTP" => {
                let f = seg.fields::<3>();
                if let Some(dates) = self.date(seg, 2, f.get(2), f.get(3), false) {
                    self.tx.dates.push(ClaimDate {
                        qualifier: f.get(1).trim_ascii(),
                        dates,
                    });
                    let n = self.tx.dates.len();
                    self.tx
                        .claims
                        .last_mut()
                        .expect("a 2300 loop is open")
                        .dates
                        .end = n;
                }
            }
            b"REF" => {
                let f = seg.fields::<2>();
                let value = f.get(2).trim_ascii();
                let claim = self.tx.claims.last_mut().expect("a 2300 loop is open");
                match f.get(1).trim_ascii() {
                    b"G1" if claim.prior_authorization.is_none() => {
                        claim.prior_authorization = Some(value)
                    }
                    b"F8" if claim.payer_claim_number.is_none() => {
                        claim.payer_claim_number = Some(value)
                    }
                    _ => {}
                }
            }
            b"HI" => {
                for e in seg.elements() {
                    let q = e.component(1).unwrap_or(&[]).trim_ascii();
                    if is_diagnosis_qualifier(q) {
                        self.tx.diagnoses.push(Diagnosis {
                            qualifier: q,
                            code: e.component(2).unwrap_or(&[]).trim_ascii(),
                        });
                    }
                }
                let n = self.tx.diagnoses.len();
                self.tx
                    .claims
                    .last_mut()
                    .expect("a 2300 loop is open")
                    .diagnoses
                    .end = n;
            }
            _ => {}
        }
    }

    fn line_segment(&mut self, id: SegmentId, seg: &Segment<'a>) {
        let comp = seg.delimiters().component;
        match id.as_bytes() {
            b"LX" => {
                let v = seg.fields::<1>().get(1).trim_ascii();
                // Up to nine digits cannot overflow; anything else goes the
                // long way, with the same answer.
                let n = if (1..=9).contains(&v.len()) && v.iter().all(u8::is_ascii_digit) {
                    Some(v.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
                } else {
                    std::str::from_utf8(v).ok().and_then(|s| s.parse().ok())
                };
                self.tx
                    .lines
                    .last_mut()
                    .expect("a 2400 loop is open")
                    .number = n;
            }
            b"SV1" => {
                let f = seg.fields::<4>();
                let charge = self.amount(seg, f.get(2), "SV1-02");
                let units = self.amount(seg, f.get(4), "SV1-04");
                let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
                line.procedure = Self::procedure(f.get(1), comp);
                line.charge = charge;
                line.unit_basis = f.get(3).trim_ascii();
                line.units = units;
                line.service_position = seg.position();
            }
            b"SV2" => {
                let f = seg.fields::<5>();
                let charge = self.amount(seg, f.get(3), "SV2-03");
                let units = self.amount(seg, f.get(5), "SV2-05");
                let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
                let rev = f.get(1).trim_ascii();
                line.revenue_code = (!rev.is_empty()).then_some(rev);
                line.procedure = Self::procedure(f.get(2), comp);
                line.charge = charge;
                line.unit_basis = f.get(4).trim_ascii();
                line.units = units;
                line.service_position = seg.position();
            }
            b"DTP" => {
                let f = seg.fields::<3>();
                if f.get(1).trim_ascii() == b"472" {
                    let d = self.date(seg, 2, f.get(2), f.get(3), false);
                    let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
                    if line.service_date.is_none() {
                        line.service_date = d;
                    }
                }
            }
            b"REF" => {
                let f = seg.fields::<2>();
                if f.get(1).trim_ascii() == b"G1" {
                    let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
                    if line.prior_authorization.is_none() {
                        line.prior_authorization = Some(f.get(2).trim_ascii());
                    }
                }
            }
            _ => {}
        }
    }
}

impl<'a> LoopVisitor<'a> for ModelBuilder<'a> {
    fn open(&mut self, g: &Grammar, l: usize, seg: &Segment<'a>) {
        let pos = seg.position();
        let tx = &mut self.tx;
        match g.loops[l].kind {
            LoopKind::Transaction => tx.position = pos,
            LoopKind::BillingProvider => tx.billing_providers.push(BillingProvider {
                name: &[],
                npi: &[],
                position: pos,
            }),
            LoopKind::Subscriber => {
                self.current_patient = None;
                tx.subscribers.push(Subscriber {
                    billing_provider: tx.billing_providers.len().saturating_sub(1),
                    relationship: &[],
                    member_id: &[],
                    last_name: &[],
                    first_name: &[],
                    birth_date: None,
                    payer_id: &[],
                    payer_name: &[],
                    position: pos,
                });
            }
            LoopKind::Patient => {
                self.current_patient = Some(tx.patients.len());
                tx.patients.push(Patient {
                    subscriber: tx.subscribers.len().saturating_sub(1),
                    relationship: &[],
                    last_name: &[],
                    first_name: &[],
                    birth_date: None,
                    position: pos,
                });
            }
            LoopKind::Claim => {
                let (l, d, x) = (tx.lines.len(), tx.dates.len(), tx.diagnoses.len());
                tx.claims.push(Claim {
                    id: &[],
                    total: None,
                    facility_code: &[],
                    frequency: &[],
                    prior_authorization: None,
                    payer_claim_number: None,
                    other_payer_adjudication: false,
                    billing_provider: tx.billing_providers.len().saturating_sub(1),
                    subscriber: tx.subscribers.len().saturating_sub(1),
                    patient: self.current_patient,
                    lines: l..l,
                    dates: d..d,
                    diagnoses: x..x,
                    position: pos,
                });
            }
            LoopKind::ServiceLine => {
                tx.lines.push(ServiceLine {
                    claim: tx.claims.len().saturating_sub(1),
                    number: None,
                    procedure: None,
                    revenue_code: None,
                    charge: None,
                    unit_basis: &[],
                    units: None,
                    service_date: None,
                    prior_authorization: None,
                    position: pos,
                    service_position: pos,
                });
                let n = tx.lines.len();
                if let Some(c) = tx.claims.last_mut() {
                    c.lines.end = n;
                }
            }
            _ => {}
        }
    }

    fn segment(&mut self, g: &Grammar, l: usize, seg: &Segment<'a>, node: Option<&SegmentNode>) {
        let Some(node) = node else { return };
        let id = node.id;
        match (g.loops[l].kind, id.as_bytes()) {
            (LoopKind::ServiceLine, _) if !self.tx.lines.is_empty() => self.line_segment(id, seg),
            (LoopKind::Claim, _) if !self.tx.claims.is_empty() => self.claim_segment(id, seg),
            (LoopKind::Transaction, b"ST") => {
                let f = seg.fields::<3>();
                self.tx.control_number = f.get(2).trim_ascii();
                self.tx.version = f.get(3).trim_ascii();
            }
            (LoopKind::Transaction, b"BHT") => {
                let v = seg.fields::<4>().get(4);
                if !v.is_empty() {
                    match date8(v.trim_ascii()) {
                        Some(d) => self.tx.creation_date = Some(d),
                        None => self.bad_value(
                            RuleId::BadDate,
                            seg,
                            "BHT04".into(),
                            "BHT04 is not a real CCYYMMDD date".into(),
                            v,
                            false,
                        ),
                    }
                }
            }
            (LoopKind::BillingProviderName, b"NM1") => {
                let f = seg.fields::<9>();
                if let Some(bp) = self.tx.billing_providers.last_mut() {
                    bp.name = f.get(3).trim_ascii();
                    bp.npi = f.get(9).trim_ascii();
                }
            }
            (LoopKind::Subscriber, b"SBR") => {
                let f = seg.fields::<2>();
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.relationship = f.get(2).trim_ascii();
                }
            }
            (LoopKind::SubscriberName, b"NM1") => {
                let f = seg.fields::<9>();
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.last_name = f.get(3).trim_ascii();
                    s.first_name = f.get(4).trim_ascii();
                    s.member_id = f.get(9).trim_ascii();
                }
            }
            (LoopKind::SubscriberName, b"DMG") => {
                let f = seg.fields::<2>();
                let d = self.date(seg, 1, f.get(1), f.get(2), true).map(|d| d.from);
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.birth_date = d;
                }
            }
            (LoopKind::PayerName, b"NM1") => {
                let f = seg.fields::<9>();
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.payer_name = f.get(3).trim_ascii();
                    s.payer_id = f.get(9).trim_ascii();
                }
            }
            (LoopKind::Patient, b"PAT") => {
                let f = seg.fields::<1>();
                if let Some(p) = self.tx.patients.last_mut() {
                    p.relationship = f.get(1).trim_ascii();
                }
            }
            (LoopKind::PatientName, b"NM1") => {
                let f = seg.fields::<4>();
                if let Some(p) = self.tx.patients.last_mut() {
                    p.last_name = f.get(3).trim_ascii();
                    p.first_name = f.get(4).trim_ascii();
                }
            }
            (LoopKind::PatientName, b"DMG") => {
                let f = seg.fields::<2>();
                let d = self.date(seg, 1, f.get(1), f.get(2), true).map(|d| d.from);
                if let Some(p) = self.tx.patients.last_mut() {
                    p.birth_date = d;
                }
            }
            (LoopKind::OtherSubscriber, b"AMT" | b"CAS") => {
                if let Some(c) = self.tx.claims.last_mut() {
                    c.other_payer_adjudication = true;
                }
            }
            _ => {}
        }
    }
}

/// Builds the model of the transaction in `block` with `grammar`, sending
/// structure findings and bad values to `sink`.
///
/// `builder` is reused between transactions (it owns the loop builder's
/// scratch space); it must have been made for `grammar`.
///
/// ```
/// use scrub837::grammar::{builder::LoopBuilder, Grammars};
/// use scrub837::model::build_transaction;
/// use scrub837::reader::{Block, BlockKind, Reader};
/// let input = include_bytes!("../../samples/837p-clean.edi");
/// let mut rdr = Reader::new(&input[..], "837p-clean.edi");
/// let mut block = Block::new();
/// let g = &Grammars::embedded().professional;
/// let mut lb = LoopBuilder::new(g, "837p-clean.edi");
/// let mut findings = Vec::new();
/// while rdr.read_block(&mut block, &mut |f| findings.push(f)).unwrap() {
///     if block.kind() == BlockKind::Transaction {
///         let tx = build_transaction(&block, &mut lb, &mut |f| findings.push(f));
///         assert!(tx.claim_count() > 0);
///         for claim in tx.claims() {
///             assert!(!claim.id.is_empty());
///             assert_eq!(claim.line_total(), claim.total);
///         }
///     }
/// }
/// assert!(findings.is_empty(), "{findings:?}");
/// ```
pub fn build_transaction<'b>(
    block: &'b Block,
    builder: &mut LoopBuilder<'_>,
    sink: &mut dyn FnMut(Finding),
) -> Transaction<'b> {
    let g = builder.grammar();
    let mut model = ModelBuilder::new(g.form, builder.label().clone());
    model.elements_checked = builder.checks_elements();
    // Typical shares of segments, so the vectors rarely grow.
    let n = block.segments().len();
    // (Generous: growing a vector copies all of it, and 837P runs about
    // one line in five segments and two to three diagnoses per claim.)
    model.tx.claims.reserve(n / 10);
    model.tx.lines.reserve(n / 3);
    model.tx.dates.reserve(n / 10);
    model.tx.diagnoses.reserve(n / 4);
    builder.reset();
    for seg in block.segments() {
        builder.feed(&seg, &mut model, sink);
    }
    builder.finish(&mut model, sink);
    let (tx, findings) = model.finish();
    for f in findings {
        sink(f);
    }
    tx
}

/// Reports `claim-balance` for every claim whose CLM02 differs from the sum
/// of its line charges.
pub fn check_balances(tx: &Transaction<'_>, label: &Arc<str>, sink: &mut dyn FnMut(Finding)) {
    for claim in tx.claims() {
        let (Some(total), Some(sum)) = (claim.total, claim.line_total()) else {
            continue;
        };
        if total != sum {
            sink(
                Finding::new(
                    RuleId::ClaimBalance,
                    label.clone(),
                    claim.position,
                    format!("CLM02 is {total} but the service lines add up to {sum}"),
                )
                .with_claim(String::from_utf8_lossy(claim.id))
                .with_element("CLM02")
                .with_value(total.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            parse_date_value(b"D8", b"20240229").unwrap().from,
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
        assert_eq!(
            parse_date_value(b"D8", b"20230229"),
            Err(DateError::Invalid)
        );
        assert_eq!(parse_date_value(b"D8", b"2024022"), Err(DateError::Invalid));
        assert_eq!(
            parse_date_value(b"D8", b"17991231"),
            Err(DateError::Invalid)
        );
        assert_eq!(
            parse_date_value(b"RD8", b"20240105-20240101"),
            Err(DateError::Invalid)
        );
        assert_eq!(
            parse_date_value(b"RD8", b"20240101-20240101")
                .unwrap()
                .days(),
            0
        );
        assert_eq!(
            parse_date_value(b"RD8", b"20240101"),
            Err(DateError::Invalid)
        );
        assert!(parse_date_value(b"DT", b"202401011230").is_ok());
        assert_eq!(
            parse_date_value(b"DT", b"202401012460"),
            Err(DateError::Invalid)
        );
        assert_eq!(
            parse_date_value(b"XX", b"20240101"),
            Err(DateError::UnknownFormat)
        );
    }
}
