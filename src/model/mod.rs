//! The claim model: the typed view of one transaction that the rules read.
//!
//! A [`Transaction`] borrows every value from its block's bytes; nothing is
//! copied. Its parts live in flat vectors (claims, lines, dates, diagnoses)
//! with index ranges, so building one allocates a handful of vectors per
//! transaction rather than per claim. [`Transaction::claims`] gives
//! [`ClaimRef`] views that walk the ranges.
//!
//! Values stay bytes until a typed accessor converts them; dates and amounts
//! are converted while building, and a bad one is a finding, never a panic.

mod amount;
mod build;

use std::ops::Range;

pub use amount::Amount;
pub(crate) use build::ModelRead;
pub use build::{
    build_transaction, check_balances, check_transaction, parse_date_value, DateError,
    ModelBuilder, TransactionCounts,
};
use chrono::NaiveDate;

use crate::finding::Position;
use crate::grammar::Form;

/// A date or an inclusive range of dates (`D8` or `RD8`).
///
/// ```
/// use scrub837::model::{parse_date_value, DateRange};
/// let r = parse_date_value(b"RD8", b"20240101-20240131").unwrap();
/// assert_eq!(r.days(), 30);
/// assert_eq!(parse_date_value(b"D8", b"20240101").unwrap().from, r.from);
/// assert!(parse_date_value(b"D8", b"20240230").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DateRange {
    /// The first (or only) date.
    pub from: NaiveDate,
    /// The last date; equal to `from` for a single date.
    pub to: NaiveDate,
}

impl DateRange {
    /// A single date.
    pub fn single(d: NaiveDate) -> DateRange {
        DateRange { from: d, to: d }
    }

    /// Calendar days from `from` to `to`.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }
}

/// A procedure composite: SV101 (837P) or SV202 (837I).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Procedure<'a> {
    /// Product or service id qualifier (`HC` for HCPCS/CPT).
    pub qualifier: &'a [u8],
    /// The procedure code.
    pub code: &'a [u8],
    /// Up to four modifiers; empty slices where absent.
    pub modifiers: [&'a [u8]; 4],
}

impl<'a> Procedure<'a> {
    /// The modifiers that are present.
    pub fn modifiers(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.modifiers.iter().copied().filter(|m| !m.is_empty())
    }

    /// Whether qualifier and code are these, ignoring case and blanks.
    pub fn is(&self, qualifier: &str, code: &str) -> bool {
        self.qualifier
            .trim_ascii()
            .eq_ignore_ascii_case(qualifier.as_bytes())
            && self.code.trim_ascii().eq_ignore_ascii_case(code.as_bytes())
    }
}

/// Loop 2000A/2010AA: the billing provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingProvider<'a> {
    /// NM103, the organization or last name.
    pub name: &'a [u8],
    /// NM109, the NPI (NM108 `XX`).
    pub npi: &'a [u8],
    /// The 2000A HL.
    pub position: Position,
}

/// Loop 2000B/2010BA/2010BB: the subscriber and the payer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriber<'a> {
    /// Index of the billing provider.
    pub billing_provider: usize,
    /// SBR02, the relationship code (`18`: the subscriber is the patient).
    pub relationship: &'a [u8],
    /// 2010BA NM109, the member id (PHI).
    pub member_id: &'a [u8],
    /// 2010BA NM103 (PHI).
    pub last_name: &'a [u8],
    /// 2010BA NM104 (PHI).
    pub first_name: &'a [u8],
    /// 2010BA DMG02 (PHI).
    pub birth_date: Option<NaiveDate>,
    /// 2010BB NM109, the payer id.
    pub payer_id: &'a [u8],
    /// 2010BB NM103, the payer name.
    pub payer_name: &'a [u8],
    /// The 2000B HL.
    pub position: Position,
}

/// Loop 2000C/2010CA: a patient who is not the subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patient<'a> {
    /// Index of the subscriber.
    pub subscriber: usize,
    /// PAT01, the relationship to the subscriber.
    pub relationship: &'a [u8],
    /// 2010CA NM103 (PHI).
    pub last_name: &'a [u8],
    /// 2010CA NM104 (PHI).
    pub first_name: &'a [u8],
    /// 2010CA DMG02 (PHI).
    pub birth_date: Option<NaiveDate>,
    /// The 2000C HL.
    pub position: Position,
}

/// A claim-level date (2300 DTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimDate<'a> {
    /// DTP01, e.g. `434` statement period, `431` onset.
    pub qualifier: &'a [u8],
    /// The dates.
    pub dates: DateRange,
}

/// A diagnosis (one HI composite of loop 2300).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Diagnosis<'a> {
    /// The code list qualifier (`ABK` principal, `ABF` other, ...).
    pub qualifier: &'a [u8],
    /// The code, e.g. `C50911`.
    pub code: &'a [u8],
}

/// Loop 2300: one claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim<'a> {
    /// CLM01, the patient control number.
    pub id: &'a [u8],
    /// CLM02, the total charge, when it is a valid amount.
    pub total: Option<Amount>,
    /// CLM05-1: place of service (837P) or facility type (837I).
    pub facility_code: &'a [u8],
    /// CLM05-3: claim frequency (`1` original, `7` replacement, `8` void).
    pub frequency: &'a [u8],
    /// 2300 REF*G1, the prior authorization number.
    pub prior_authorization: Option<&'a [u8]>,
    /// 2300 REF*F8, the payer's claim control number.
    pub payer_claim_number: Option<&'a [u8]>,
    /// Whether a 2320 loop carries claim-level adjudication (AMT or CAS).
    pub other_payer_adjudication: bool,
    /// Index of the billing provider.
    pub billing_provider: usize,
    /// Index of the subscriber.
    pub subscriber: usize,
    /// Index of the patient, when a 2000C loop holds the claim.
    pub patient: Option<usize>,
    lines: Range<usize>,
    dates: Range<usize>,
    diagnoses: Range<usize>,
    /// [`ClaimRef::line_total`], summed when the claim's last line had
    /// been read, while the lines were still in cache: summed later, for
    /// the balance check, a transaction's lines came back from memory.
    line_total: Option<Amount>,
    /// The CLM segment.
    pub position: Position,
}

/// Loop 2400: one service line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLine<'a> {
    /// Index of the claim.
    pub claim: usize,
    /// LX01, the line number, when numeric.
    pub number: Option<u32>,
    /// SV101 or SV202.
    pub procedure: Option<Procedure<'a>>,
    /// SV201, the revenue code (837I).
    pub revenue_code: Option<&'a [u8]>,
    /// SV102 or SV203, when a valid amount.
    pub charge: Option<Amount>,
    /// SV103 or SV204 (`UN`, `MJ`, `DA`).
    pub unit_basis: &'a [u8],
    /// SV104 or SV205, when a valid amount.
    pub units: Option<Amount>,
    /// 2400 DTP*472, the date of service.
    pub service_date: Option<DateRange>,
    /// The first 2400 REF*G1 (837P).
    pub prior_authorization: Option<&'a [u8]>,
    /// The LX segment.
    pub position: Position,
    /// The SV1 or SV2 segment.
    pub service_position: Position,
}

/// One transaction (ST..SE) as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction<'a> {
    /// The form, from the grammar that read it.
    pub form: Form,
    /// ST02.
    pub control_number: &'a [u8],
    /// ST03 (or GS08 when ST03 is empty).
    pub version: &'a [u8],
    /// BHT04, the creation date.
    pub creation_date: Option<NaiveDate>,
    /// The ST segment.
    pub position: Position,
    /// 2000A loops.
    pub billing_providers: Vec<BillingProvider<'a>>,
    /// 2000B loops.
    pub subscribers: Vec<Subscriber<'a>>,
    /// 2000C loops.
    pub patients: Vec<Patient<'a>>,
    claims: Vec<Claim<'a>>,
    lines: Vec<ServiceLine<'a>>,
    dates: Vec<ClaimDate<'a>>,
    diagnoses: Vec<Diagnosis<'a>>,
}

impl<'a> Transaction<'a> {
    /// Sums the last claim's line charges ([`ClaimRef::line_total`]): its
    /// lines are all read once the next claim opens or the transaction
    /// ends.
    pub(crate) fn sum_last_claim(&mut self) {
        if let Some(c) = self.claims.last_mut() {
            c.line_total = sum_of_charges(&self.lines[c.lines.clone()]);
        }
    }

    /// The claims, in file order.
    pub fn claims(&self) -> impl ExactSizeIterator<Item = ClaimRef<'_, 'a>> + '_ {
        (0..self.claims.len()).map(move |i| ClaimRef { tx: self, index: i })
    }

    /// How many claims.
    pub fn claim_count(&self) -> usize {
        self.claims.len()
    }

    /// Every service line of every claim, in file order.
    pub fn lines(&self) -> &[ServiceLine<'a>] {
        &self.lines
    }
}

/// A claim with access to its lines, dates, diagnoses and parties.
#[derive(Clone, Copy, Debug)]
pub struct ClaimRef<'t, 'a> {
    tx: &'t Transaction<'a>,
    index: usize,
}

impl<'t, 'a> std::ops::Deref for ClaimRef<'t, 'a> {
    type Target = Claim<'a>;
    fn deref(&self) -> &Claim<'a> {
        &self.tx.claims[self.index]
    }
}

impl<'t, 'a> ClaimRef<'t, 'a> {
    /// The claim's index in its transaction.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The transaction the claim is in.
    pub fn transaction(&self) -> &'t Transaction<'a> {
        self.tx
    }

    /// The service lines.
    pub fn lines(&self) -> &'t [ServiceLine<'a>] {
        &self.tx.lines[self.tx.claims[self.index].lines.clone()]
    }

    /// The claim-level dates.
    pub fn dates(&self) -> &'t [ClaimDate<'a>] {
        &self.tx.dates[self.tx.claims[self.index].dates.clone()]
    }

    /// The first claim date with qualifier `qualifier` (`434`).
    pub fn date(&self, qualifier: &[u8]) -> Option<DateRange> {
        self.dates()
            .iter()
            .find(|d| d.qualifier == qualifier)
            .map(|d| d.dates)
    }

    /// The diagnoses, in HI order.
    pub fn diagnoses(&self) -> &'t [Diagnosis<'a>] {
        &self.tx.diagnoses[self.tx.claims[self.index].diagnoses.clone()]
    }

    /// The subscriber.
    pub fn subscriber(&self) -> &'t Subscriber<'a> {
        &self.tx.subscribers[self.tx.claims[self.index].subscriber]
    }

    /// The patient, when a 2000C loop holds the claim.
    pub fn patient(&self) -> Option<&'t Patient<'a>> {
        self.tx.claims[self.index]
            .patient
            .map(|p| &self.tx.patients[p])
    }

    /// The billing provider.
    pub fn billing_provider(&self) -> &'t BillingProvider<'a> {
        &self.tx.billing_providers[self.tx.claims[self.index].billing_provider]
    }

    /// The date of service of `line`: its DTP*472, else on 837I the first
    /// date of the claim's statement period (DTP*434).
    pub fn service_date(&self, line: &ServiceLine<'a>) -> Option<NaiveDate> {
        match line.service_date {
            Some(d) => Some(d.from),
            None if self.tx.form == Form::Institutional => self.date(b"434").map(|d| d.from),
            None => None,
        }
    }

    /// The sum of the line charges, when every line has a valid charge.
    pub fn line_total(&self) -> Option<Amount> {
        debug_assert_eq!(
            self.tx.claims[self.index].line_total,
            sum_of_charges(self.lines()),
            "summed as the claim was read"
        );
        self.tx.claims[self.index].line_total
    }
}

/// The sum of the lines' charges, when every line has a valid one.
fn sum_of_charges(lines: &[ServiceLine<'_>]) -> Option<Amount> {
    lines.iter().map(|l| l.charge).sum::<Option<Amount>>()
}
