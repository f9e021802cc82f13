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
use crate::lex::{
    decimal, element_name, index_seps, load8, trim, walk, Segment, SegmentId, Walk, INDEXED_MAX,
};
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
    match d.try_into() {
        Ok(w) => date8_word(u64::from_le_bytes(w)),
        Err(_) => None,
    }
}

/// [`date8`] of the eight bytes in `w` (byte 0 first), a word at a time: a
/// calendar read per claim and per birth date adds up.
#[inline]
fn date8_word(w: u64) -> Option<NaiveDate> {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // Digits become 0..=9 per byte; any other byte is 10 or more.
    let x = w ^ 0x3030_3030_3030_3030;
    // A byte's high bit is set here when it is 10 or more: `x & LO7` plus
    // 0x76 reaches 0x80 from 10 up and never carries out of the byte.
    if (((x & LO7) + 0x7676_7676_7676_7676) | x) & !LO7 != 0 {
        return None;
    }
    // Byte 2k becomes the two-digit number of bytes 2k and 2k+1 (at most
    // 99: nothing carries).
    let pairs = x * 10 + (x >> 8);
    let two = |k: u32| ((pairs >> (16 * k)) & 0xFF) as u32;
    let year = two(0) * 100 + two(1);
    if year < 1800 {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, two(2), two(3))
}

/// An `RD8` value of exactly `CCYYMMDD-CCYYMMDD`, from not after to, by
/// two word reads (statement dates are on every institutional claim);
/// `None` for anything else, which [`rd8_general`] then reads (and finds
/// the same range for, or says what is wrong).
fn rd8_exact(value: &[u8]) -> Option<DateRange> {
    rd8_exact_with(value, date8_word)
}

/// [`rd8_exact`], reading each `CCYYMMDD` word with `date` (which
/// [`ModelBuilder::date`] gives its memory of the last date).
#[inline(always)]
fn rd8_exact_with(
    value: &[u8],
    mut date: impl FnMut(u64) -> Option<NaiveDate>,
) -> Option<DateRange> {
    let v: &[u8; 17] = value.try_into().ok()?;
    if v[8] != b'-' {
        return None;
    }
    let from = date(crate::lex::load8(&v[..8]))?;
    let to = date(crate::lex::load8(&v[9..]))?;
    (from <= to).then_some(DateRange { from, to })
}

/// Any `RD8` value, through the combinator chain.
fn rd8_general(value: &[u8]) -> Result<DateRange, DateError> {
    let (_, (from, to)) = all_consuming(separated_pair(d8, tag(&b"-"[..]), d8))
        .parse(value)
        .map_err(|_| DateError::Invalid)?;
    if from > to {
        return Err(DateError::Invalid);
    }
    Ok(DateRange { from, to })
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
        b"RD8" => rd8_exact(value).map_or_else(|| rd8_general(value), Ok),
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

/// [`SegmentId::key`] of a known id, for `match` arms (`key` is not a
/// `const fn`); `ids_pack_like_segment_id` pins the two together.
const fn key(id: &[u8]) -> u32 {
    let c = if id.len() == 3 { id[2] } else { 0 };
    u32::from_be_bytes([0, id[0], id[1], c])
}

const ST: u32 = key(b"ST");
const BHT: u32 = key(b"BHT");
const NM1: u32 = key(b"NM1");
const SBR: u32 = key(b"SBR");
const DMG: u32 = key(b"DMG");
const PAT: u32 = key(b"PAT");
const AMT: u32 = key(b"AMT");
const CAS: u32 = key(b"CAS");
const CLM: u32 = key(b"CLM");
const DTP: u32 = key(b"DTP");
const REF: u32 = key(b"REF");
const HI: u32 = key(b"HI");
const LX: u32 = key(b"LX");
const SV1: u32 = key(b"SV1");
const SV2: u32 = key(b"SV2");

/// Declares [`ModelRead`] and [`ModelBuilder::read_fn`] from one list of
/// reads (the first is the default), so that each read's function is
/// there by construction.
macro_rules! model_reads {
    ($(#[$first_doc:meta])* $first:ident, $($(#[$doc:meta])* $read:ident,)*) => {
        /// What the claim model reads from a segment at one place of the
        /// grammar, worked out once per grammar node ([`ModelRead::of`]) so
        /// that building the model is one `match` per segment, and a
        /// segment it does not read costs no call at all.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub(crate) enum ModelRead {
            $(#[$first_doc])*
            #[default]
            $first,
            $($(#[$doc])* $read,)*
        }

        impl<'a> ModelBuilder<'a> {
            /// The function for `read` alone:
            /// [`ModelBuilder::model_segment`] with `read` as a constant,
            /// so that its `match` folds to one arm and the function saves
            /// and restores only the registers that arm uses. (The `match`
            /// compiles to a table of the functions.)
            #[inline(always)]
            fn read_fn(read: ModelRead) -> fn(&mut ModelBuilder<'a>, &Segment<'a>) {
                match read {
                    ModelRead::$first => |m, s| m.model_segment(ModelRead::$first, s),
                    $(ModelRead::$read => |m, s| m.model_segment(ModelRead::$read, s),)*
                }
            }
        }
    };
}

model_reads! {
    /// Nothing: most segments.
    Nothing,
    /// ST: control number and version.
    St,
    /// BHT: creation date.
    Bht,
    /// 2010AA NM1: billing provider name and NPI.
    BillingProviderName,
    /// 2000B SBR: relationship.
    Sbr,
    /// 2010BA NM1: subscriber name and member id.
    SubscriberName,
    /// 2010BA DMG: subscriber birth date.
    SubscriberBirth,
    /// 2010BB NM1: payer name and id.
    PayerName,
    /// 2000C PAT: relationship.
    Pat,
    /// 2010CA NM1: patient name.
    PatientName,
    /// 2010CA DMG: patient birth date.
    PatientBirth,
    /// 2320 AMT or CAS: another payer adjudicated the claim.
    OtherPayer,
    /// 2300 CLM.
    Clm,
    /// 2300 DTP: a claim date.
    ClaimDate,
    /// 2300 REF: prior authorization or payer claim number.
    ClaimRef,
    /// 2300 HI: diagnoses.
    Hi,
    /// 2400 LX: line number.
    Lx,
    /// 2400 SV1: professional service.
    Sv1,
    /// 2400 SV2: institutional service.
    Sv2,
    /// 2400 DTP: the service date (DTP*472).
    LineDate,
    /// 2400 REF: line prior authorization (REF*G1).
    LineRef,
}

impl ModelRead {
    /// What the model reads from segment `id` placed in a loop of `kind`.
    pub(crate) fn of(kind: LoopKind, id: SegmentId) -> ModelRead {
        use ModelRead as R;
        match (kind, id.key()) {
            (LoopKind::Transaction, ST) => R::St,
            (LoopKind::Transaction, BHT) => R::Bht,
            (LoopKind::BillingProviderName, NM1) => R::BillingProviderName,
            (LoopKind::Subscriber, SBR) => R::Sbr,
            (LoopKind::SubscriberName, NM1) => R::SubscriberName,
            (LoopKind::SubscriberName, DMG) => R::SubscriberBirth,
            (LoopKind::PayerName, NM1) => R::PayerName,
            (LoopKind::Patient, PAT) => R::Pat,
            (LoopKind::PatientName, NM1) => R::PatientName,
            (LoopKind::PatientName, DMG) => R::PatientBirth,
            (LoopKind::OtherSubscriber, AMT | CAS) => R::OtherPayer,
            (LoopKind::Claim, CLM) => R::Clm,
            (LoopKind::Claim, DTP) => R::ClaimDate,
            (LoopKind::Claim, REF) => R::ClaimRef,
            (LoopKind::Claim, HI) => R::Hi,
            (LoopKind::ServiceLine, LX) => R::Lx,
            (LoopKind::ServiceLine, SV1) => R::Sv1,
            (LoopKind::ServiceLine, SV2) => R::Sv2,
            (LoopKind::ServiceLine, DTP) => R::LineDate,
            (LoopKind::ServiceLine, REF) => R::LineRef,
            _ => R::Nothing,
        }
    }

    /// Whether a value read here can be a finding, so that
    /// [`check_transaction`] reads it too.
    fn finds(self) -> bool {
        use ModelRead as R;
        matches!(
            self,
            R::Bht
                | R::SubscriberBirth
                | R::PatientBirth
                | R::Clm
                | R::ClaimDate
                | R::Sv1
                | R::Sv2
                | R::LineDate
        )
    }
}

/// The first `N` components of `v` split on `sep`, empty where absent:
/// what `split(sep)` and `next().unwrap_or(&[])` give, in one pass. The
/// separators of a value of up to 64 bytes (every composite in practice)
/// come from one word-at-a-time scan, not a byte loop that mispredicts at
/// each separator.
#[inline(always)]
fn components<const N: usize>(v: &[u8], sep: u8) -> [&[u8]; N] {
    if v.len() > INDEXED_MAX {
        return components_bytewise(v, sep);
    }
    let mut out: [&[u8]; N] = [&[]; N];
    let mut m = index_seps(v, sep);
    let mut start = 0;
    for slot in out.iter_mut() {
        if m == 0 {
            *slot = &v[start..];
            break;
        }
        let i = m.trailing_zeros() as usize;
        *slot = &v[start..i];
        start = i + 1;
        m &= m - 1;
    }
    out
}

/// [`components`] for a value too long to index.
#[cold]
fn components_bytewise<const N: usize>(v: &[u8], sep: u8) -> [&[u8]; N] {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut k = 0;
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if b == sep {
            out[k] = &v[start..i];
            k += 1;
            start = i + 1;
            if k == N {
                return out;
            }
        }
    }
    out[k] = &v[start..];
    out
}

/// Elements 1 to 3 (a DTP's qualifier, format and date), in one walk.
#[inline(always)]
fn first_three<'a>(seg: &Segment<'a>) -> (&'a [u8], &'a [u8], &'a [u8]) {
    match walk(seg) {
        Some(mut w) => (w.next(), w.next(), w.next()),
        None => (seg.value(1), seg.value(2), seg.value(3)),
    }
}

/// `pattern` as a little-endian word, with the interchange's element
/// separator `sep` wherever the pattern has `*`: what a segment's bytes
/// read as one word when they have that shape. (The positions of `*` fold
/// to a constant where the pattern is a literal.)
#[inline(always)]
fn with_separator(pattern: [u8; 8], sep: u8) -> u64 {
    let mut stars = 0u64;
    for (i, &b) in pattern.iter().enumerate() {
        if b == b'*' {
            stars |= 1 << (8 * i);
        }
    }
    u64::from_le_bytes(pattern) ^ (u64::from(sep ^ b'*') * stars)
}

/// Where `sep` lies in `value` (one to eight bytes): bit 7 of byte `i` of
/// the word for each byte `i` that is `sep`, from one load.
#[inline(always)]
fn short_seps(value: &[u8], sep: u8) -> u64 {
    debug_assert!((1..=8).contains(&value.len()));
    let w = if value.len() == 8 {
        load8(value)
    } else {
        crate::lex::load_short(value)
    };
    let valid = u64::MAX >> (64 - 8 * value.len());
    crate::lex::zero_bytes(w ^ u64::from_ne_bytes([sep; 8])) & valid
}

/// CLM05's facility code and frequency code (its first and third
/// components), trimmed.
#[inline(always)]
fn facility_and_frequency(place: &[u8], component: u8) -> (&[u8], &[u8]) {
    let plain = |b: u8| b > b' ' && b != component;
    match *place {
        // The usual CLM05, `11:B:1`, read straight: nothing to trim, and no
        // other separator.
        [f, g, c, q, d, n]
            if c == component
                && d == component
                && q != component
                && plain(f) & plain(g) & plain(n) =>
        {
            (&place[..2], &place[5..])
        }
        _ => {
            let [facility, _, frequency] = components::<3>(place, component);
            (trim(facility), trim(frequency))
        }
    }
}

/// The procedure `value` whose one component separator is at `at`: a
/// qualifier and a code, no modifiers.
#[inline(always)]
fn qualifier_and_code(value: &[u8], at: usize) -> Procedure<'_> {
    let (qualifier, rest) = value.split_at(at);
    Procedure {
        qualifier,
        code: &rest[1..],
        modifiers: [&[]; 4],
    }
}

/// A composite procedure (qualifier, code, up to four modifiers); `None`
/// for an empty value.
#[inline(always)]
fn procedure_of(value: &[u8], component: u8) -> Option<Procedure<'_>> {
    if value.is_empty() {
        return None;
    }
    // The usual procedure, up to eight bytes: a two-byte qualifier, its
    // separator and a code without modifiers. One word says so.
    if let 4..=8 = value.len() {
        if short_seps(value, component) == 0x80 << 16 {
            return Some(qualifier_and_code(value, 2));
        }
    }
    if value.len() >= 64 {
        let [qualifier, code, m1, m2, m3, m4] = components::<6>(value, component);
        return Some(Procedure {
            qualifier,
            code,
            modifiers: [m1, m2, m3, m4],
        });
    }
    let seps = index_seps(value, component);
    // The usual procedure: a qualifier and a code, no modifiers.
    if seps != 0 && seps & (seps - 1) == 0 {
        return Some(qualifier_and_code(value, seps.trailing_zeros() as usize));
    }
    let mut w = Walk::new(value, seps | 1 << value.len());
    Some(Procedure {
        qualifier: w.next(),
        code: w.next(),
        modifiers: [w.next(), w.next(), w.next(), w.next()],
    })
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
    /// The last `CCYYMMDD` value read (as `D8` or either end of an exact
    /// `RD8`) and its date: lines of a claim mostly repeat one service
    /// date, and a calendar check per line adds up.
    last_d8: Option<(u64, NaiveDate)>,
    /// Whether to keep the whole model; `false` for [`check_transaction`],
    /// which wants only the findings: then only what a finding reads is
    /// kept (claim ids, totals and positions, line charges), and every
    /// value that can be a finding is still read, in the same order.
    keep: bool,
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
            keep: true,
        }
    }

    /// The model, and the findings met while building it (bad dates and
    /// amounts).
    pub fn finish(mut self) -> (Transaction<'a>, Vec<Finding>) {
        self.tx.sum_last_claim();
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
    #[inline(always)]
    fn date(
        &mut self,
        seg: &Segment<'a>,
        format_el: usize,
        format: &[u8],
        value: &[u8],
        phi: bool,
    ) -> Option<DateRange> {
        // The usual cases, a good `D8` or exact `RD8`, without the general
        // checks: lines of a claim mostly repeat one date, so the last one
        // is remembered.
        // Anything this does not read goes the long way, which finds the
        // same dates and says what is wrong with the rest.
        if let (b"D8", Ok(w)) = (format, <[u8; 8]>::try_from(value)) {
            if let Some(d) = self.date8_remembered(u64::from_le_bytes(w)) {
                return Some(DateRange::single(d));
            }
        }
        // The statement dates of every institutional claim, exactly
        // `CCYYMMDD-CCYYMMDD`.
        if format == b"RD8" {
            if let Some(range) = rd8_exact_with(value, |w| self.date8_remembered(w)) {
                return Some(range);
            }
        }
        self.date_slow(seg, format_el, format, value, phi)
    }

    /// [`date8_word`], remembering the last date read: lines of a claim
    /// mostly repeat one, and a calendar check per line adds up.
    #[inline(always)]
    fn date8_remembered(&mut self, word: u64) -> Option<NaiveDate> {
        if let Some((w, d)) = self.last_d8 {
            if w == word {
                return Some(d);
            }
        }
        let d = date8_word(word)?;
        self.last_d8 = Some((word, d));
        Some(d)
    }

    #[cold]
    #[inline(never)]
    fn date_slow(
        &mut self,
        seg: &Segment<'a>,
        format_el: usize,
        format: &[u8],
        value: &[u8],
        phi: bool,
    ) -> Option<DateRange> {
        // A date read is a date whatever else holds (the value is not
        // empty and the format is not TM), so it comes first: a range the
        // quick read in [`ModelBuilder::date`] left (one with a blank, say)
        // comes this way. (A plain `D8` that it could not read is no date
        // here either: nothing to remember.)
        let e = match parse_date_value(format, value) {
            Ok(d) => return Some(d),
            Err(e) => e,
        };
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

    #[inline]
    fn amount(&mut self, seg: &Segment<'a>, value: &[u8], name: &'static str) -> Option<Amount> {
        let v = trim(value);
        if v.is_empty() {
            return None;
        }
        let a = Amount::parse(v);
        if a.is_none() {
            self.bad_amount(seg, v, name);
        }
        a
    }

    /// [`ModelBuilder::amount`]'s finding, out of the way of the good case.
    #[cold]
    #[inline(never)]
    fn bad_amount(&mut self, seg: &Segment<'a>, v: &[u8], name: &'static str) {
        self.bad_value(
            RuleId::ElementSyntax,
            seg,
            name.to_string(),
            format!("{name} is not a decimal number"),
            v,
            false,
        );
    }

    /// The diagnoses of an HI segment: each element's qualifier and code
    /// (its first two components), kept when the qualifier names a
    /// diagnosis code list.
    #[inline(always)]
    fn diagnoses(&mut self, seg: &Segment<'a>) {
        let comp = seg.delimiters().component;
        // One element of the usual shape, `HI*ABK:C541`: a three-byte
        // qualifier, its separator and a code of up to eight bytes without
        // one, told by one word; no map of the separators and no walk.
        let b = seg.as_bytes();
        if let Some(code) = b.get(7..).filter(|c| (1..=8).contains(&c.len())) {
            let comps = short_seps(code, comp);
            if seg.field_ends() == Some(1 << 2 | 1 << b.len()) && b[6] == comp && comps == 0 {
                self.diagnosis(&b[3..6], code);
                return;
            }
        }
        let Some(mut elements) = walk(seg) else {
            for e in seg.elements() {
                let [q, code] = components::<2>(e.as_bytes(), comp);
                self.diagnosis(q, code);
            }
            return;
        };
        // Under 64 bytes (nearly every HI): the component separators of
        // the whole segment in one scan, and each element's components
        // walked from its span of that map, rather than a scan per element.
        let comps = index_seps(b, comp);
        while let Some(r) = elements.next_range() {
            // (The span is under 64 bytes: the shifts stay in range.)
            let len = r.end - r.start;
            let inside = (comps >> r.start) & ((1u64 << len) - 1);
            let e = &b[r];
            // The usual element: three bytes, the separator and the code,
            // nothing more: its two components without the walk.
            if inside == 1 << 3 {
                self.diagnosis(&e[..3], &e[4..]);
                continue;
            }
            let mut parts = Walk::new(e, inside | 1 << len);
            let q = parts.next();
            self.diagnosis(q, parts.next());
        }
    }

    /// One HI element's qualifier and code, kept when it is a diagnosis.
    #[inline(always)]
    fn diagnosis(&mut self, q: &'a [u8], code: &'a [u8]) {
        let q = trim(q);
        if is_diagnosis_qualifier(q) {
            self.tx.diagnoses.push(Diagnosis {
                qualifier: q,
                code: trim(code),
            });
        }
    }

    /// The 2300 loop's segments.
    #[inline(always)]
    fn claim_segment(&mut self, read: ModelRead, seg: &Segment<'a>) {
        match read {
            ModelRead::Clm => {
                let (id, total, place) = match walk(seg) {
                    Some(mut w) => (w.next(), w.next(), {
                        w.next();
                        w.next();
                        w.next()
                    }),
                    None => (seg.value(1), seg.value(2), seg.value(5)),
                };
                let total = self.amount(seg, total, "CLM02");
                let claim = self.tx.claims.last_mut().expect("a 2300 loop is open");
                claim.id = trim(id);
                claim.total = total;
                if self.keep {
                    (claim.facility_code, claim.frequency) =
                        facility_and_frequency(place, seg.delimiters().component);
                }
            }
            ModelRead::ClaimDate => {
                // Statement dates, on every institutional claim, in one
                // compare; anything else, a bad date included, element by
                // element.
                let (qualifier, read) = match self.exact_claim_range(seg) {
                    Some((qualifier, range)) => (qualifier, Some(range)),
                    None => {
                        let (qualifier, format, value) = first_three(seg);
                        (trim(qualifier), self.date(seg, 2, format, value, false))
                    }
                };
                if let Some(dates) = read.filter(|_| self.keep) {
                    self.tx.dates.push(ClaimDate { qualifier, dates });
                    let n = self.tx.dates.len();
                    self.tx
                        .claims
                        .last_mut()
                        .expect("a 2300 loop is open")
                        .dates
                        .end = n;
                }
            }
            ModelRead::ClaimRef => {
                let value = trim(seg.value(2));
                let claim = self.tx.claims.last_mut().expect("a 2300 loop is open");
                match trim(seg.value(1)) {
                    b"G1" if claim.prior_authorization.is_none() => {
                        claim.prior_authorization = Some(value)
                    }
                    b"F8" if claim.payer_claim_number.is_none() => {
                        claim.payer_claim_number = Some(value)
                    }
                    _ => {}
                }
            }
            ModelRead::Hi => {
                self.diagnoses(seg);
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

    /// SV1 or SV2: charge, units, procedure, unit basis (and on SV2 the
    /// revenue code). The charge, which the claim balance reads, is always
    /// kept; without `keep` the units are read only for what a bad value
    /// says. Under 64 bytes (every service segment in practice) the five
    /// elements come from one walk of the separator map, not a walk per
    /// element, and the procedure's components from one scan.
    #[inline(always)]
    fn service(&mut self, seg: &Segment<'a>, sv2: bool) {
        let (charge_name, units_name) = if sv2 {
            ("SV2-03", "SV2-05")
        } else {
            ("SV1-02", "SV1-04")
        };
        if !self.keep {
            // Findings only: the charge, and the units for what a bad value
            // says unless the element checks say it.
            let at = usize::from(sv2);
            let charge = self.amount(seg, seg.value(2 + at), charge_name);
            if !self.elements_checked {
                self.amount(seg, seg.value(4 + at), units_name);
            }
            self.tx
                .lines
                .last_mut()
                .expect("a 2400 loop is open")
                .charge = charge;
            return;
        }
        let (rev, procedure, charge, basis, units) = match walk(seg) {
            Some(mut w) => {
                let rev = if sv2 { w.next() } else { &[] };
                (rev, w.next(), w.next(), w.next(), w.next())
            }
            None if sv2 => (
                seg.value(1),
                seg.value(2),
                seg.value(3),
                seg.value(4),
                seg.value(5),
            ),
            None => (
                &[][..],
                seg.value(1),
                seg.value(2),
                seg.value(3),
                seg.value(4),
            ),
        };
        let charge = self.amount(seg, charge, charge_name);
        let units = self.amount(seg, units, units_name);
        let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
        line.charge = charge;
        if sv2 {
            let rev = trim(rev);
            line.revenue_code = (!rev.is_empty()).then_some(rev);
        }
        line.procedure = procedure_of(procedure, seg.delimiters().component);
        line.unit_basis = trim(basis);
        line.units = units;
        line.service_position = seg.position();
    }

    /// The 2400 loop's segments.
    #[inline(always)]
    fn line_segment(&mut self, read: ModelRead, seg: &Segment<'a>) {
        match read {
            ModelRead::Lx => {
                // `LX*` and one or two digits, most lines: read straight.
                let n = match *seg.as_bytes() {
                    [_, _, _, d] if d.is_ascii_digit() => Some(u32::from(d - b'0')),
                    [_, _, _, d, e] if d.is_ascii_digit() && e.is_ascii_digit() => {
                        Some(u32::from(d - b'0') * 10 + u32::from(e - b'0'))
                    }
                    _ => Self::line_number_value(seg),
                };
                self.tx
                    .lines
                    .last_mut()
                    .expect("a 2400 loop is open")
                    .number = n;
            }
            ModelRead::Sv1 => self.service(seg, false),
            ModelRead::Sv2 => self.service(seg, true),
            ModelRead::LineDate => {
                // The usual service date in one compare; anything else, a
                // bad date included, the long way.
                let d = match self.exact_service_date(seg) {
                    Some(d) => Some(DateRange::single(d)),
                    None => match self.service_date(seg) {
                        Some(read) => read,
                        None => return,
                    },
                };
                let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
                if line.service_date.is_none() {
                    line.service_date = d;
                }
            }
            ModelRead::LineRef if trim(seg.value(1)) == b"G1" => {
                let line = self.tx.lines.last_mut().expect("a 2400 loop is open");
                if line.prior_authorization.is_none() {
                    line.prior_authorization = Some(trim(seg.value(2)));
                }
            }
            _ => {}
        }
    }
}

impl<'a> ModelBuilder<'a> {
    /// LX01 read element by element: up to nine digits as a number, and
    /// anything else as `str::parse` reads it.
    fn line_number_value(seg: &Segment<'a>) -> Option<u32> {
        let v = trim(seg.value(1));
        // Up to nine digits cannot overflow a u32.
        decimal(v, 9)
            .map(|n| n as u32)
            .or_else(|| std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()))
    }

    /// The date of a line's DTP that is exactly `DTP*472*D8*CCYYMMDD` with
    /// a real date: the bytes after the id in one compare, then the date
    /// word. `None` for any other DTP, which [`ModelBuilder::service_date`]
    /// reads.
    #[inline(always)]
    fn exact_service_date(&mut self, seg: &Segment<'a>) -> Option<NaiveDate> {
        let b: &[u8; 19] = seg.as_bytes().try_into().ok()?;
        let middle = with_separator(*b"*472*D8*", seg.delimiters().element);
        if load8(&b[3..11]) != middle {
            return None;
        }
        self.date8_remembered(load8(&b[11..]))
    }

    /// The qualifier and range of a claim's DTP that is exactly
    /// `DTP*nnn*RD8*CCYYMMDD-CCYYMMDD` (a three-digit qualifier) with real
    /// dates, from not after to: the separators and the format in one
    /// compare. `None` for any other DTP, which is read element by element.
    #[inline(always)]
    fn exact_claim_range(&mut self, seg: &Segment<'a>) -> Option<(&'a [u8], DateRange)> {
        let b: &'a [u8; 29] = seg.as_bytes().try_into().ok()?;
        let sep = seg.delimiters().element;
        // The qualifier's three bytes, then `*RD8*`: compared without the
        // qualifier.
        let rd8 = with_separator(*b"\0\0\0*RD8*", sep);
        let qualifier = &b[4..7];
        if b[3] != sep
            || load8(&b[4..12]) & !0xFF_FFFF != rd8
            || !qualifier.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let range = rd8_exact_with(&b[12..], |w| self.date8_remembered(w))?;
        Some((qualifier, range))
    }

    /// A line's DTP read element by element: `None` when it is not the
    /// service date (DTP01 472), else its date, `None` inside when the date
    /// is bad (and a finding says why).
    fn service_date(&mut self, seg: &Segment<'a>) -> Option<Option<DateRange>> {
        let (qualifier, format, value) = first_three(seg);
        if trim(qualifier) != b"472" {
            return None;
        }
        Some(self.date(seg, 2, format, value, false))
    }
}

#[cfg(test)]
impl ModelBuilder<'_> {
    /// Opens one empty service line, as a 2400 loop's start does.
    fn open_line_for_test(&mut self) {
        let seg = Segment::new(
            b"LX*1",
            crate::lex::Delimiters::STANDARD,
            Default::default(),
        );
        let g = &crate::grammar::Grammars::embedded().professional;
        let l = (0..g.loops.len())
            .find(|&l| g.loop_kind(l) == LoopKind::ServiceLine)
            .expect("a 2400 loop");
        self.open(g, l, &seg);
    }
}

impl<'a> LoopVisitor<'a> for ModelBuilder<'a> {
    #[inline(always)]
    fn open(&mut self, g: &Grammar, l: usize, seg: &Segment<'a>) {
        let pos = seg.position();
        let tx = &mut self.tx;
        match g.loop_kind(l) {
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
                tx.sum_last_claim();
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
                    line_total: Some(Amount::ZERO),
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

    #[inline]
    fn segment(&mut self, _g: &Grammar, _l: usize, seg: &Segment<'a>, node: Option<&SegmentNode>) {
        let Some(node) = node else { return };
        // Most segments hold nothing the model reads, and without `keep`
        // most of the rest nothing a finding reads: say so before the call.
        let read = node.model;
        if read != ModelRead::Nothing && (self.keep || read.finds()) {
            // One indirect call to a function for this read alone, which
            // saves and restores only the registers it uses.
            Self::read_fn(read)(self, seg);
        }
    }
}

impl<'a> ModelBuilder<'a> {
    /// [`LoopVisitor::segment`] for a segment the model reads.
    #[inline(always)]
    fn model_segment(&mut self, read: ModelRead, seg: &Segment<'a>) {
        use ModelRead as R;
        // Called with a constant `read` (see [`ModelBuilder::read_fn`]): the
        // inlined `line_segment` and `claim_segment` fold their `match`
        // away.
        let line_open = !self.tx.lines.is_empty();
        match read {
            R::Lx if line_open => self.line_segment(R::Lx, seg),
            R::Sv1 if line_open => self.line_segment(R::Sv1, seg),
            R::Sv2 if line_open => self.line_segment(R::Sv2, seg),
            R::LineDate if line_open => self.line_segment(R::LineDate, seg),
            R::LineRef if line_open => self.line_segment(R::LineRef, seg),
            R::Clm if !self.tx.claims.is_empty() => self.claim_segment(R::Clm, seg),
            R::ClaimDate if !self.tx.claims.is_empty() => self.claim_segment(R::ClaimDate, seg),
            R::ClaimRef if !self.tx.claims.is_empty() => self.claim_segment(R::ClaimRef, seg),
            R::Hi if !self.tx.claims.is_empty() => self.claim_segment(R::Hi, seg),
            R::St => {
                self.tx.control_number = trim(seg.value(2));
                self.tx.version = trim(seg.value(3));
            }
            R::Bht => {
                let v = seg.value(4);
                if !v.is_empty() {
                    match date8(trim(v)) {
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
            R::BillingProviderName => {
                if let Some(bp) = self.tx.billing_providers.last_mut() {
                    bp.name = trim(seg.value(3));
                    bp.npi = trim(seg.value(9));
                }
            }
            R::Sbr => {
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.relationship = trim(seg.value(2));
                }
            }
            R::SubscriberName => {
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.last_name = trim(seg.value(3));
                    s.first_name = trim(seg.value(4));
                    s.member_id = trim(seg.value(9));
                }
            }
            R::SubscriberBirth => {
                let d = self
                    .date(seg, 1, seg.value(1), seg.value(2), true)
                    .map(|d| d.from);
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.birth_date = d;
                }
            }
            R::PayerName => {
                if let Some(s) = self.tx.subscribers.last_mut() {
                    s.payer_name = trim(seg.value(3));
                    s.payer_id = trim(seg.value(9));
                }
            }
            R::Pat => {
                if let Some(p) = self.tx.patients.last_mut() {
                    p.relationship = trim(seg.value(1));
                }
            }
            R::PatientName => {
                if let Some(p) = self.tx.patients.last_mut() {
                    p.last_name = trim(seg.value(3));
                    p.first_name = trim(seg.value(4));
                }
            }
            R::PatientBirth => {
                let d = self
                    .date(seg, 1, seg.value(1), seg.value(2), true)
                    .map(|d| d.from);
                if let Some(p) = self.tx.patients.last_mut() {
                    p.birth_date = d;
                }
            }
            R::OtherPayer => {
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
    build(block, builder, true, sink)
}

/// How many claims and service lines a transaction held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransactionCounts {
    /// 2300 loops.
    pub claims: u64,
    /// 2400 loops.
    pub service_lines: u64,
}

/// Everything [`build_transaction`] and then [`check_balances`] report for
/// the transaction in `block`, in the same order, without keeping the
/// model: what `scrub837 validate` needs. Names, procedures, diagnoses and
/// the other values no finding reads are skipped.
///
/// ```
/// use scrub837::grammar::{builder::LoopBuilder, Grammars};
/// use scrub837::model::{build_transaction, check_balances, check_transaction};
/// use scrub837::reader::{Block, BlockKind, Reader};
/// let input = include_bytes!("../../samples/837p-clean.edi");
/// let mut rdr = Reader::new(&input[..], "837p-clean.edi");
/// let mut block = Block::new();
/// let g = &Grammars::embedded().professional;
/// let mut lb = LoopBuilder::new(g, "837p-clean.edi");
/// while rdr.read_block(&mut block, &mut |_| {}).unwrap() {
///     if block.kind() == BlockKind::Transaction {
///         let counts = check_transaction(&block, &mut lb, &mut |f| panic!("{f:?}"));
///         let tx = build_transaction(&block, &mut lb, &mut |_| {});
///         assert_eq!(counts.claims, tx.claim_count() as u64);
///         assert_eq!(counts.service_lines, tx.lines().len() as u64);
///     }
/// }
/// ```
pub fn check_transaction(
    block: &Block,
    builder: &mut LoopBuilder<'_>,
    sink: &mut dyn FnMut(Finding),
) -> TransactionCounts {
    let tx = build(block, builder, false, sink);
    check_balances(&tx, builder.label(), sink);
    TransactionCounts {
        claims: tx.claim_count() as u64,
        service_lines: tx.lines().len() as u64,
    }
}

fn build<'b>(
    block: &'b Block,
    builder: &mut LoopBuilder<'_>,
    keep: bool,
    sink: &mut dyn FnMut(Finding),
) -> Transaction<'b> {
    let g = builder.grammar();
    let mut model = ModelBuilder::new(g.form, builder.label().clone());
    model.elements_checked = builder.checks_elements();
    model.keep = keep;
    // Typical shares of segments, so the vectors rarely grow.
    let n = block.segments().len();
    // (Generous: growing a vector copies all of it, and 837P runs about
    // one line in five segments and two to three diagnoses per claim.)
    model.tx.claims.reserve(n / 10);
    model.tx.lines.reserve(n / 3);
    // (A subscriber with one claim of one line takes a dozen segments, and
    // most have several claims: growing this vector copied it a few times
    // a transaction.)
    model.tx.subscribers.reserve(n / 32);
    if keep {
        model.tx.dates.reserve(n / 10);
        model.tx.diagnoses.reserve(n / 4);
    }
    builder.reset();
    builder.memo_for(block.delimiters());
    for seg in block.segments() {
        builder.feed_in_run(&seg, &mut model, sink);
    }
    if let Some(last) = block.segments().next_back() {
        builder.ran_to(last.position());
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

    /// The byte-at-a-time reading `date8` replaced.
    fn date8_reference(d: &[u8]) -> Option<NaiveDate> {
        if d.len() != 8 || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n =
            |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
        let year = n(0..4);
        if year < 1800 {
            return None;
        }
        NaiveDate::from_ymd_opt(year as i32, n(4..6), n(6..8))
    }

    /// A claim's line total, summed as the claim was read, is the sum of
    /// its lines' charges as they stand: with a bad charge (none), a line
    /// read twice, a claim without lines, and the file's last claim.
    #[test]
    fn line_totals_are_the_sums_of_the_lines_as_read() {
        use crate::reader::{Block, BlockKind, Reader};
        let clean = std::str::from_utf8(include_bytes!("../../samples/837p-clean.edi")).unwrap();
        let last_claim = clean.rfind("CLM*").unwrap();
        let its_lines = last_claim + clean[last_claim..].find("LX*").unwrap();
        let se = its_lines + clean[its_lines..].find("SE*").unwrap();
        let variants = [
            clean.to_string(),
            clean.replacen("SV1*HC:96413*450*", "SV1*HC:96413*4X0*", 1),
            clean.replacen(
                "SV1*HC:96415*110*UN*1***1:2~",
                "SV1*HC:96415*110*UN*1***1:2~SV1*HC:96415*7*UN*1***1:2~",
                1,
            ),
            format!("{}{}", &clean[..its_lines], &clean[se..]),
        ];
        let g = &crate::grammar::Grammars::embedded().professional;
        let mut lb = LoopBuilder::new(g, "t");
        let totals: Vec<Vec<Option<Amount>>> = variants
            .iter()
            .map(|text| {
                let mut totals = Vec::new();
                let mut rdr = Reader::new(text.as_bytes(), "t");
                let mut block = Block::new();
                while rdr.read_block(&mut block, &mut |_| {}).unwrap() {
                    if block.kind() != BlockKind::Transaction {
                        continue;
                    }
                    let tx = build_transaction(&block, &mut lb, &mut |_| {});
                    for claim in tx.claims() {
                        let want = claim.lines().iter().map(|l| l.charge).sum();
                        assert_eq!(claim.line_total(), want, "{:?}", claim.position);
                        totals.push(claim.line_total());
                    }
                }
                totals
            })
            .collect();
        // The variants reach each case: a bad charge; a line read twice,
        // whose second charge stands (110 replaced by 7 in one claim); a
        // last claim without lines.
        assert!(totals[0].iter().all(Option::is_some));
        assert!(totals[1].contains(&None));
        let changed: Vec<_> = (totals[0].iter().zip(&totals[2]))
            .filter(|(a, b)| a != b)
            .map(|(a, b)| a.unwrap() - b.unwrap())
            .collect();
        assert_eq!(changed, [Amount::parse(b"103").unwrap()]);
        assert_eq!(totals[3].last(), Some(&Some(Amount::ZERO)));
        assert!(totals[0].len() > 1 && totals[3].len() == totals[0].len());
    }

    #[test]
    fn ids_pack_like_segment_id() {
        for id in [
            &b"ST"[..],
            b"BHT",
            b"NM1",
            b"SBR",
            b"DMG",
            b"PAT",
            b"AMT",
            b"CAS",
            b"CLM",
            b"DTP",
            b"REF",
            b"HI",
            b"LX",
            b"SV1",
            b"SV2",
        ] {
            assert_eq!(key(id), crate::lex::SegmentId::new(id).key(), "{id:?}");
        }
        assert_eq!(
            [ST, BHT, NM1, SBR, DMG, PAT, AMT, CAS, CLM, DTP, REF, HI, LX, SV1, SV2],
            [
                key(b"ST"),
                key(b"BHT"),
                key(b"NM1"),
                key(b"SBR"),
                key(b"DMG"),
                key(b"PAT"),
                key(b"AMT"),
                key(b"CAS"),
                key(b"CLM"),
                key(b"DTP"),
                key(b"REF"),
                key(b"HI"),
                key(b"LX"),
                key(b"SV1"),
                key(b"SV2"),
            ]
        );
    }

    #[test]
    fn trim_is_trim_ascii() {
        let bytes = [
            b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c, 0, b'A', b'1', 0x80, 0xff, b'!',
        ];
        // Every string of up to four of these bytes.
        let mut v = Vec::new();
        for len in 0..=4u32 {
            for mut n in 0..bytes.len().pow(len) {
                v.clear();
                for _ in 0..len {
                    v.push(bytes[n % bytes.len()]);
                    n /= bytes.len();
                }
                assert_eq!(trim(&v), v.trim_ascii(), "{v:?}");
            }
        }
    }

    #[test]
    fn diagnoses_are_read_like_a_split() {
        // The model's HI read against `split`: every element after the id,
        // its first two components, the qualifier trimmed and kept when it
        // names a diagnosis list. Segments under and over 64 bytes (the
        // one-scan path and the per-element one).
        let elements: [&[u8]; 20] = [
            b"ABK:C541",
            b"ABF:R110",
            // Codes of eight and nine bytes (the one-word read of a lone
            // element takes eight), and one with a separator in its word.
            b"ABK:C5410XXA",
            b"ABF:R1100XXAB",
            b"ABK:R11000A:",
            // Three bytes before one separator (the quick read's shape):
            // not a diagnosis list, one that trims to one, a code to trim.
            b"ZZZ:C541",
            b" BK:C541",
            b"BK :C541",
            b"ABK: C541 ",
            b"APR:",
            b"BF:Z5111:D8:20240101",
            b"BH:01:D8:20240101",
            b"",
            b":",
            b"ABJ",
            b" APR :Z992 ",
            b"ABN:::",
            b"ZZ:X",
            b"PR:A01",
            b"BN:V01XXXA:D8",
        ];
        let mut cases = Vec::new();
        for n in 0..=24usize {
            for shift in 0..elements.len() {
                let mut seg = b"HI".to_vec();
                for k in 0..n {
                    seg.push(b'*');
                    seg.extend_from_slice(elements[(shift + 3 * k) % elements.len()]);
                }
                cases.push(seg);
            }
        }
        cases.push(b"HI*".to_vec());
        cases.push(b"HI**".to_vec());
        let mut long_ones = 0;
        for content in &cases {
            long_ones += usize::from(content.len() >= 64);
            let seg = Segment::new(
                content,
                crate::lex::Delimiters::STANDARD,
                Default::default(),
            );
            let mut mb = ModelBuilder::new(Form::Professional, "t".into());
            mb.diagnoses(&seg);
            let want: Vec<Diagnosis<'_>> = content
                .split(|b| *b == b'*')
                .skip(1)
                .filter_map(|e| {
                    let mut c = e.split(|b| *b == b':');
                    let q = c.next().unwrap_or(&[]).trim_ascii();
                    let code = c.next().unwrap_or(&[]).trim_ascii();
                    is_diagnosis_qualifier(q).then_some(Diagnosis { qualifier: q, code })
                })
                .collect();
            assert_eq!(
                mb.tx.diagnoses,
                want,
                "{}",
                String::from_utf8_lossy(content)
            );
        }
        assert!(long_ones > 20 && cases.len() - long_ones > 20);
    }

    #[test]
    fn service_lines_are_read_like_element_lookups() {
        // `service` walks the separator map once; the reference looks each
        // element up and splits the procedure. SV1 and SV2, under and over
        // 64 bytes, elements missing, empty or padded, bad amounts.
        let procs: [&str; 13] = [
            "HC:S0353",
            // Four to eight bytes (one word), one separator or more, and
            // not always after two bytes.
            "HC:1",
            "HC:1234",
            "H:123456",
            "HCC:1234",
            "HC:12:4",
            "HC::",
            "HC:1234:",
            "HC:96413:25:59:GT:XU",
            "HC:99213:25:59:GT:XU:76",
            "",
            " HC : 99213 ",
            "HC:G0498:::JW",
        ];
        let tails: [&str; 7] = [
            "*450*UN*1***1:2",
            "*286.5*UN*3",
            "*12.50*MJ*",
            "*x*UN*1",
            "**UN*2.5",
            "* 75 *UN* 4 *****Y",
            "",
        ];
        let revs = ["0960", "", " 0260 "];
        let pad = "*".to_string() + &"A".repeat(40);
        let mut cases = Vec::new();
        for p in procs {
            for t in tails {
                cases.push(format!("SV1*{p}{t}"));
                cases.push(format!("SV1*{p}{t}{pad}"));
                for r in revs {
                    cases.push(format!("SV2*{r}*{p}{t}"));
                    cases.push(format!("SV2*{r}*{p}{t}{pad}"));
                }
            }
        }
        cases.push("SV1".to_string());
        cases.push("SV2*".to_string());
        let mut long_ones = 0;
        for content in &cases {
            long_ones += usize::from(content.len() >= 64);
            let seg = Segment::new(
                content.as_bytes(),
                crate::lex::Delimiters::STANDARD,
                crate::finding::Position {
                    segment: 7,
                    offset: 99,
                },
            );
            let sv2 = content.starts_with("SV2");
            let mut mb = ModelBuilder::new(Form::Professional, "t".into());
            mb.open_line_for_test();
            mb.service(&seg, sv2);
            let got = (mb.tx.lines[0].clone(), mb.findings.len());
            // The reference.
            let at = |n: usize| seg.value(n + usize::from(sv2));
            let amount = |v: &[u8]| {
                let v = v.trim_ascii();
                (!v.is_empty()).then(|| Amount::parse(v))
            };
            let mut want = ServiceLine {
                charge: amount(at(2)).flatten(),
                units: amount(at(4)).flatten(),
                unit_basis: at(3).trim_ascii(),
                service_position: seg.position(),
                ..mb.tx.lines[0].clone()
            };
            want.revenue_code = Some(seg.value(1).trim_ascii()).filter(|r| sv2 && !r.is_empty());
            want.procedure = (!at(1).is_empty()).then(|| {
                let mut c = at(1)
                    .split(|b| *b == b':')
                    .chain(std::iter::repeat(&[][..]));
                let mut next = || c.next().unwrap_or(&[]);
                Procedure {
                    qualifier: next(),
                    code: next(),
                    modifiers: [next(), next(), next(), next()],
                }
            });
            let bad = [at(2), at(4)]
                .iter()
                .filter(|v| amount(v) == Some(None))
                .count();
            assert_eq!(got, (want, bad), "{content}");
        }
        assert!(long_ones > 20 && cases.len() - long_ones > 20);
    }

    #[test]
    fn line_numbers_are_read_like_str_parse() {
        // The one-pass digit read against `str::parse` on the trimmed value,
        // around nine digits (where it hands over) and u32::MAX.
        let values = [
            "1",
            "0",
            "07",
            "42",
            " 7 ",
            "999999999",
            "1000000000",
            "4294967295",
            "4294967296",
            "99999999999",
            "+5",
            "-1",
            "1a",
            "a1",
            "",
            " ",
            "1.0",
            "\u{661}",
            "12:3",
            // One and two bytes, which are read straight: the bytes on
            // either side of the digits, and an element after.
            "9",
            "99",
            "/",
            ":",
            "9/",
            "/9",
            ":0",
            "1 ",
            "1*",
        ];
        for v in values {
            let content = format!("LX*{v}");
            let seg = Segment::new(
                content.as_bytes(),
                crate::lex::Delimiters::STANDARD,
                Default::default(),
            );
            let mut mb = ModelBuilder::new(Form::Professional, "t".into());
            mb.open_line_for_test();
            mb.line_segment(ModelRead::Lx, &seg);
            let want = std::str::from_utf8(seg.value(1).trim_ascii())
                .ok()
                .and_then(|s| s.parse::<u32>().ok());
            assert_eq!(mb.tx.lines[0].number, want, "{v:?}");
        }
    }

    /// CLM05 read straight, where it can be, as the component split reads
    /// it: every six-byte value over separators, blanks and letters, and a
    /// few of other lengths.
    #[test]
    fn facility_and_frequency_are_read_like_a_split() {
        let alphabet = [b'1', b'B', b' ', b':', b'>'];
        let mut straight = 0;
        let mut values: Vec<Vec<u8>> = vec![b"".to_vec(), b"11:B".to_vec(), b"11:B:1:".to_vec()];
        for n in 0..alphabet.len().pow(6) {
            values.push(
                (0..6)
                    .map(|k| alphabet[n / alphabet.len().pow(k) % alphabet.len()])
                    .collect(),
            );
        }
        for v in &values {
            for comp in [b':', b'>'] {
                let [f, _, q] = components::<3>(v, comp);
                let want = (f.trim_ascii(), q.trim_ascii());
                assert_eq!(
                    facility_and_frequency(v, comp),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(v)
                );
                straight +=
                    usize::from(v.len() == 6 && v[2] == comp && v[4] == comp && v[3] != comp);
            }
        }
        assert!(straight > 500, "{straight}");
    }

    #[test]
    fn components_are_split() {
        fn reference<const N: usize>(v: &[u8], sep: u8) -> [&[u8]; N] {
            let mut it = v.split(|b| *b == sep);
            std::array::from_fn(|_| it.next().unwrap_or(&[]))
        }
        for v in [
            &b""[..],
            b":",
            b"::",
            b"HC",
            b"HC:",
            b":99213",
            b"HC:99213",
            b"HC:99213:25",
            b"HC:99213:25:59:GT:XU",
            b"HC:99213:25:59:GT:XU:76:77",
            b"HC:99213:::::",
            b" HC : 99213 :25 ",
            b"HC:99213:25:59:GT:XU:",
        ]
        .into_iter()
        .map(<[u8]>::to_vec)
        // Every length around the word and index limits (64 bytes), with
        // separators spread unevenly.
        .chain((0..90).map(|n| {
            (0..n)
                .map(|i| {
                    if i % 7 == 3 || i % 11 == 0 {
                        b':'
                    } else {
                        b'A' + (i % 26) as u8
                    }
                })
                .collect()
        })) {
            let v = &v[..];
            assert_eq!(components::<1>(v, b':'), reference::<1>(v, b':'), "{v:?}");
            assert_eq!(components::<2>(v, b':'), reference::<2>(v, b':'), "{v:?}");
            assert_eq!(components::<3>(v, b':'), reference::<3>(v, b':'), "{v:?}");
            assert_eq!(components::<6>(v, b':'), reference::<6>(v, b':'), "{v:?}");
        }
    }

    #[test]
    fn date8_matches_reference() {
        let mut cases: Vec<Vec<u8>> = [
            &b"20240229"[..],
            b"20230229",
            b"17991231",
            b"18000101",
            b"00000000",
            b"99999999",
            b"20241301",
            b"20240100",
            b"20240132",
            b"20240431",
            b"2024022",
            b"202402299",
            b"",
            b" 2024022",
            b"2024022 ",
            b"2024-2-1",
            b"2024022:",
            b"2024022/",
            b"\xb0\xb0\xb0\xb0\xb0\xb0\xb0\xb0",
            b"2024\x00229",
            b"19000229",
            b"20000229",
        ]
        .iter()
        .map(|c| c.to_vec())
        .collect();
        // Every byte in every place of a good date.
        for at in 0..8 {
            for b in 0..=255u8 {
                let mut d = b"20240229".to_vec();
                d[at] = b;
                cases.push(d);
            }
        }
        // Every month and day, over leap and common years.
        for year in [1800, 1900, 2000, 2023, 2024, 9999] {
            for month in 0..=13 {
                for day in 0..=32 {
                    cases.push(format!("{year:04}{month:02}{day:02}").into_bytes());
                }
            }
        }
        for c in &cases {
            assert_eq!(date8(c), date8_reference(c), "{c:?}");
        }
    }

    /// `date` reads what the general path reads, and says the same of what
    /// it cannot read, remembered date or not.
    #[test]
    fn date_fast_path_matches_general_path() {
        let formats: [&[u8]; 7] = [b"D8", b"d8", b" D8", b"D8 ", b"RD8", b"RD8 ", b"TM"];
        let values: [&[u8]; 16] = [
            b"20240229",
            b"20230229",
            b" 2024022",
            b"2024022 ",
            b"        ",
            b"17991231",
            b"2024022",
            b"202402290",
            b"20240229-20240301",
            b"20240301-20240229",
            b"20240229-20240229",
            b"20240229+20240301",
            b"20230229-20240301",
            b"20240229-2024030 ",
            b" 20240229-20240301",
            b"17991231-18000101",
        ];
        let seg = Segment::new(
            b"DTP*472*D8*20240229",
            crate::lex::Delimiters::STANDARD,
            Default::default(),
        );
        for warm in [
            None,
            Some(&b"20240229"[..]),
            Some(&b"20240301"[..]),
            Some(&b"20230228"[..]),
        ] {
            for f in formats {
                for v in values {
                    let mut fast = ModelBuilder::new(Form::Professional, "t".into());
                    let mut slow = ModelBuilder::new(Form::Professional, "t".into());
                    if let Some(w) = warm {
                        assert!(fast.date(&seg, 2, b"D8", w, false).is_some());
                    }
                    let got = fast.date(&seg, 2, f, v, false);
                    let want = slow.date_slow(&seg, 2, f, v, false);
                    assert_eq!(got, want, "{f:?} {v:?}");
                    assert_eq!(fast.findings, slow.findings, "{f:?} {v:?}");
                    // And again, now that it may be remembered.
                    assert_eq!(fast.date(&seg, 2, f, v, false), want, "{f:?} {v:?}");
                }
            }
        }
    }

    /// DTP segments of every qualifier, format and value in `parts`, under
    /// each separator in `seps`, and with each byte of `others` in the
    /// separator's place once at each of the three places (the separator
    /// itself among them gives the plain segment).
    fn dtp_cases(
        seps: &[u8],
        others: &[u8],
        parts: [&[&[u8]]; 3],
    ) -> Vec<(crate::lex::Delimiters, Vec<u8>)> {
        let mut cases = Vec::new();
        for &sep in seps {
            let delims = crate::lex::Delimiters {
                element: sep,
                ..crate::lex::Delimiters::STANDARD
            };
            for q in parts[0] {
                for f in parts[1] {
                    for v in parts[2] {
                        for &other in others {
                            for at in 0..4 {
                                let mut text = b"DTP".to_vec();
                                for (k, part) in [q, f, v].into_iter().enumerate() {
                                    text.push(if k == at { other } else { sep });
                                    text.extend_from_slice(part);
                                }
                                cases.push((delims, text));
                            }
                        }
                    }
                }
            }
        }
        cases
    }

    /// The one-compare read of a line's DTP answers only where the element
    /// read finds the same date and nothing wrong, and answers for every
    /// plain `DTP*472*D8*` with a real date.
    #[test]
    fn exact_service_date_agrees_with_the_element_read() {
        let qualifiers: [&[u8]; 5] = [b"472", b"471", b"47", b"4720", b" 472"];
        let formats: [&[u8]; 5] = [b"D8", b"RD8", b"d8", b"D9", b"D"];
        let values: [&[u8]; 9] = [
            b"20240229",
            b"20230229",
            b"17991231",
            b"2024022 ",
            b"2024022",
            b"202402290",
            b"20240229-20240301",
            b"2024A229",
            b"20241301",
        ];
        let seps = [b'*', b'|', b'^'];
        let mut plain = 0;
        for (delims, text) in dtp_cases(&seps, &seps, [&qualifiers, &formats, &values]) {
            let seg = Segment::new(&text, delims, Default::default());
            let mut fast = ModelBuilder::new(Form::Professional, "t".into());
            let mut slow = ModelBuilder::new(Form::Professional, "t".into());
            let got = fast.exact_service_date(&seg);
            let want = slow.service_date(&seg);
            let shown = String::from_utf8_lossy(&text).into_owned();
            if let Some(d) = got {
                assert_eq!(want, Some(Some(DateRange::single(d))), "{shown}");
                assert!(slow.findings.is_empty(), "{shown}");
                plain += 1;
            } else if text.len() == 19
                && text[4..11] == b"472*D8*".map(|b| if b == b'*' { delims.element } else { b })
                && text.iter().filter(|&&b| b == delims.element).count() == 3
            {
                // The plain shape it refused: a bad date.
                assert_eq!(want, Some(None), "{shown}");
            }
            assert!(fast.findings.is_empty(), "{shown}");
        }
        // The plain good date under each separator: with the separator
        // itself in its place (four times) or with `at` past the three
        // places (once for each of the two other bytes).
        assert_eq!(plain, 3 * 6);
    }

    /// The one-compare read of a claim's RD8 DTP answers only where the
    /// element read finds the same qualifier and range and nothing wrong,
    /// and answers for every plain `DTP*nnn*RD8*` with real dates in order.
    #[test]
    fn exact_claim_range_agrees_with_the_element_read() {
        // (With a separator inside, the qualifier is two elements.)
        let qualifiers: [&[u8]; 8] = [
            b"434", b"096", b"43", b"4344", b"43a", b" 43", b"4*4", b"4|4",
        ];
        let formats: [&[u8]; 4] = [b"RD8", b"D8", b"RD", b"rd8"];
        let values: [&[u8]; 6] = [
            b"20240101-20240131",
            b"20240131-20240101",
            b"20230229-20230301",
            b"20240101+20240131",
            b"2024010-120240131",
            b"20240101-20240131 ",
        ];
        let mut plain = 0;
        for (delims, text) in dtp_cases(b"*|", b"^", [&qualifiers, &formats, &values]) {
            let seg = Segment::new(&text, delims, Default::default());
            let mut fast = ModelBuilder::new(Form::Institutional, "t".into());
            let mut slow = ModelBuilder::new(Form::Institutional, "t".into());
            let got = fast.exact_claim_range(&seg);
            let (sq, sf, sv) = first_three(&seg);
            let want = (trim(sq), slow.date(&seg, 2, sf, sv, false));
            let shown = String::from_utf8_lossy(&text).into_owned();
            if let Some((q, range)) = got {
                assert_eq!((q, Some(range)), want, "{shown}");
                assert!(slow.findings.is_empty(), "{shown}");
                plain += 1;
            }
            assert!(fast.findings.is_empty(), "{shown}");
        }
        // `434` and `096` with the good range, under each separator.
        assert_eq!(plain, 2 * 2);
    }

    #[test]
    fn rd8_fast_read_agrees_with_the_general_read() {
        let dates = [
            "20240229", "20230229", "20240301", "17991231", "18000101", "2024022x",
        ];
        let mut values: Vec<Vec<u8>> = Vec::new();
        for a in dates {
            for b in dates {
                for sep in ["-", "+", "--"] {
                    values.push(format!("{a}{sep}{b}").into_bytes());
                }
            }
        }
        values.push(b" 20240229-20240301".to_vec());
        values.push(b"20240229-20240301 ".to_vec());
        let mut read = 0;
        for v in &values {
            let want = rd8_general(v).ok();
            if let Some(got) = rd8_exact(v) {
                assert_eq!(Some(got), want, "{:?}", String::from_utf8_lossy(v));
                read += 1;
            } else if v.len() == 17 && v[8] == b'-' {
                assert_eq!(want, None, "{:?}", String::from_utf8_lossy(v));
            }
        }
        // The good ranges: 2024-02-29 and 2024-03-01 to themselves and
        // forward, and 1800-01-01 to any of those.
        assert_eq!(read, 6);
    }

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
