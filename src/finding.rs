//! Findings: the one record every check produces and every front end renders.
//!
//! A [`Finding`] is data, not an error: the reader, the envelope checks, the
//! loop builder and the rules all report what they see as findings and go on.
//! The field list and its order are the output contract of
//! `docs/policy.md` ("The output contract").

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// Where a segment sits in its file.
///
/// `segment` is 1-based and counts every segment of the file, envelopes
/// included; `offset` is the 0-based byte offset of the segment's first byte
/// (its id, after any line break or blank that precedes it).
///
/// ```
/// use scrub837::Position;
/// let p = Position { segment: 3, offset: 212 };
/// assert_eq!(p.to_string(), "segment 3 (byte 212)");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// 1-based number of the segment in the file.
    pub segment: u64,
    /// 0-based byte offset of the segment in the file.
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} (byte {})", self.segment, self.offset)
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// The payer or the clearinghouse will reject the claim or the file.
    Error,
    /// Worth a look; fails a run only under `--deny warnings`.
    Warning,
}

impl Severity {
    /// The lower-case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! rule_ids {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, $sev:ident, $action:literal; )*) => {
        /// A stable finding id: a structure check of the reader or a policy rule.
        ///
        /// The kebab-case string ([`RuleId::as_str`]) is the contract; tests,
        /// pipelines and users grep for it, so an id never changes meaning.
        ///
        /// ```
        /// use scrub837::{RuleId, Severity};
        /// assert_eq!(RuleId::EnvelopeCount.as_str(), "envelope-count");
        /// assert_eq!(RuleId::LenientRead.severity(), Severity::Warning);
        /// assert_eq!("segment-missing".parse::<RuleId>(), Ok(RuleId::SegmentMissing));
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum RuleId {
            $( $(#[$doc])* $variant, )*
        }

        impl RuleId {
            /// Every id, in documentation order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant),*];

            /// The stable kebab-case id.
            pub fn as_str(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// The severity this id always carries.
            pub fn severity(self) -> Severity {
                match self { $(RuleId::$variant => Severity::$sev,)* }
            }

            /// The default advice to the biller, one sentence.
            pub fn default_action(self) -> &'static str {
                match self { $(RuleId::$variant => $action,)* }
            }
        }

        impl std::str::FromStr for RuleId {
            type Err = UnknownRuleId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($id => Ok(RuleId::$variant),)*
                    _ => Err(UnknownRuleId),
                }
            }
        }
    };
}

rule_ids! {
    /// SE01, GE01 or IEA01 does not match what was counted.
    EnvelopeCount = "envelope-count", Error,
        "Correct the trailer count or regenerate the file from the billing system.";
    /// A trailer's control number does not match its header, or one repeats.
    ControlNumberMismatch = "control-number-mismatch", Error,
        "Make the trailer's control number equal the header's and keep control numbers unique.";
    /// A segment cannot be read as X12 (empty, bad id, bad fixed-width field).
    SegmentSyntax = "segment-syntax", Error,
        "Fix the segment's syntax in the billing system and regenerate the file.";
    /// A segment fits nowhere in the implementation guide at this point.
    SegmentOutOfPlace = "segment-out-of-place", Error,
        "Move or remove the segment so the file follows the implementation guide's order.";
    /// A segment or loop the implementation guide requires is missing.
    SegmentMissing = "segment-missing", Error,
        "Add the required segment before submitting.";
    /// A segment or loop is used more often than the guide allows.
    RepeatExceeded = "repeat-exceeded", Error,
        "Remove the extra repeats or split the claim or transaction.";
    /// HL numbering, parent or child codes are inconsistent.
    Hierarchy = "hierarchy", Error,
        "Renumber the HL segments so each names its parent and child codes correctly.";
    /// A required element is empty.
    ElementMissing = "element-missing", Error,
        "Fill in the required element.";
    /// An element the guide marks as not used carries a value.
    ElementNotUsed = "element-not-used", Error,
        "Remove the value of the element the guide does not use.";
    /// An element has the wrong type or length.
    ElementSyntax = "element-syntax", Error,
        "Correct the element's value to the type and length the guide requires.";
    /// A value is outside the guide's code list.
    CodeInvalid = "code-invalid", Error,
        "Use a code from the implementation guide's list.";
    /// A date is not a real calendar date in the format its qualifier names.
    BadDate = "bad-date", Error,
        "Correct the date to a real date in the format of its qualifier.";
    /// CLM02 is not the sum of the service line charges.
    ClaimBalance = "claim-balance", Error,
        "Make the claim total (CLM02) equal the sum of its line charges.";
    /// Not a 5010 837P/837I transaction.
    UnsupportedVersion = "unsupported-version", Error,
        "Send this file through the matching process: scrub837 reads only 5010 837P and 837I.";
    /// A configured size limit was exceeded; the part over it was not read.
    LimitExceeded = "limit-exceeded", Error,
        "Split the transaction into smaller ones, or raise the limit if the file is trusted.";
    /// The reader accepted something the standard does not allow.
    LenientRead = "lenient-read", Warning,
        "Ask the sender to fix the file's formatting; scrub837 read it anyway.";
    /// A claim holds an S-code line and a line with another procedure.
    StandaloneClaim = "standalone-claim", Error,
        "Split the claim: bill the S-code on a claim of its own, apart from the other services.";
    /// An 837I S-code line's revenue code is not the program's.
    RevenueCode0960 = "revenue-code-0960", Error,
        "Bill the S-code line under revenue code 0960.";
    /// An 837I S-code line carries the retired revenue code 0980.
    LegacyRevenue0980 = "legacy-revenue-0980", Error,
        "Replace revenue code 0980 with 0960: 0980 was retired in December 2021.";
    /// The patient already has an S0353 that was not voided.
    S0353Once = "s0353-once", Error,
        "Do not bill S0353 again: it is paid once per patient; bill S0354 for ongoing care coordination.";
    /// An S0353 is dated after an S0354 of the same episode.
    S0353NotOnset = "s0353-not-onset", Error,
        "Bill S0353 only at the onset of treatment, before any S0354; correct the code or the date.";
    /// An S0354 follows the patient's previous S0354 too soon.
    S0354Interval = "s0354-interval", Error,
        "Hold the S0354 until the interval since the previous S0354 has passed.";
    /// An S0354 follows the patient's S0353 too soon.
    S0354AfterS0353 = "s0354-after-s0353", Error,
        "Hold the S0354 until the interval since the S0353 has passed.";
    /// The episode would hold more S0354 lines than the program pays.
    S0354Cap = "s0354-cap", Error,
        "Do not bill this S0354: the episode has reached the program's limit.";
    /// The same S-code, patient and date on both an 837P and an 837I.
    FormExclusive = "form-exclusive", Error,
        "Bill the S-code on one form only: remove it from the 837P or the 837I.";
    /// An S-code line has no prior authorization number.
    AuthMissing = "auth-missing", Warning,
        "Add the Carelon authorization number in REF*G1 on the claim or the line.";
    /// The claim's authorization number is not in the authorization file.
    AuthUnknown = "auth-unknown", Error,
        "Check the authorization number against the Carelon approval, or obtain an authorization.";
    /// The authorization belongs to another member.
    AuthMemberMismatch = "auth-member-mismatch", Error,
        "Use the authorization approved for this member.";
    /// The date of service is outside the authorization's valid dates.
    AuthWindow = "auth-window", Error,
        "Bill only dates of service inside the authorization's valid dates, or obtain a new authorization.";
    /// An S-code line bills other than one unit.
    UnitsOne = "units-one", Warning,
        "Bill the S-code as one unit: it is a flat fee.";
    /// A stand-alone S-code claim carries more than one S-code line.
    OneScodePerClaim = "one-scode-per-claim", Warning,
        "Bill each S-code on a claim of its own.";
    /// The claim is filed later than the policy's filing limit.
    TimelyFiling = "timely-filing", Error,
        "The filing limit has passed: file with proof of timely filing or write the line off.";
    /// An S-code line has no date of service.
    ServiceDateMissing = "service-date-missing", Error,
        "Add the date of service (DTP*472) to the S-code line.";
}

impl RuleId {
    /// Whether the id belongs to the S-code policy rules (not the reader).
    pub fn is_policy_rule(self) -> bool {
        self >= RuleId::StandaloneClaim
    }
}

/// The error of parsing an unknown id with `str::parse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownRuleId;

impl fmt::Display for UnknownRuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown rule id")
    }
}

impl std::error::Error for UnknownRuleId {}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem found in one file.
///
/// Build one with [`Finding::new`] and the `with_*` setters; the severity and
/// the default action come from the [`RuleId`].
///
/// ```
/// use scrub837::{Finding, Position, RuleId};
/// let f = Finding::new(RuleId::EnvelopeCount, "a.edi", Position { segment: 9, offset: 310 },
///     "SE01 says 8, counted 7")
///     .with_element("SE01")
///     .with_value("8");
/// assert_eq!(f.severity, scrub837::Severity::Error);
/// assert_eq!(f.to_string(), "a.edi: segment 9 (byte 310): error[envelope-count]: SE01 says 8, counted 7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule or structure id.
    pub rule: RuleId,
    /// `error` or `warning`.
    pub severity: Severity,
    /// What is wrong, for a person.
    pub message: String,
    /// What the biller should do about it, one sentence.
    pub action: String,
    /// The input path as given (`-` for standard input).
    pub file: Arc<str>,
    /// 1-based position of the segment in the file.
    pub segment: u64,
    /// 0-based byte offset of the segment in the file.
    pub offset: u64,
    /// CLM01 of the claim concerned.
    pub claim_id: Option<String>,
    /// LX number of the service line concerned.
    pub line: Option<u32>,
    /// The S-code of that line.
    pub code: Option<String>,
    /// The element concerned, e.g. `SV2-01` or `CLM05-3`.
    pub element: Option<String>,
    /// The offending value.
    pub value: Option<String>,
    /// Whether `value` is protected health information, masked unless asked.
    #[serde(skip)]
    pub value_is_phi: bool,
    /// The finding in X12 acknowledgment terms, for the 999 (not part of
    /// the report: the report's fields say the same in words).
    #[serde(skip)]
    pub ack: Option<Box<AckDetail>>,
}

/// Where a finding sits in a 999's terms: the IK3 segment error code or the
/// IK4 element error code, and the element it names.
///
/// ```
/// use scrub837::AckDetail;
/// let d = AckDetail::element("7", 5, 2, "1332");
/// assert_eq!((d.element, d.component, d.code), (5, 2, "7"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckDetail {
    /// The IK304 (segment) or IK403 (element) error code.
    pub code: &'static str,
    /// Element position (IK401-1); 0 for a segment-level error.
    pub element: u8,
    /// Component position (IK401-2); 0 for a simple element.
    pub component: u8,
    /// Data element reference number (IK402).
    pub reference: Box<str>,
    /// The segment the error is about when it is not the one at the
    /// finding's position (a missing segment: IK301).
    pub segment_id: Option<crate::lex::SegmentId>,
    /// The loop the segment belongs to (IK303).
    pub loop_id: Option<Box<str>>,
}

impl AckDetail {
    /// An IK4 element error.
    pub fn element(code: &'static str, element: u8, component: u8, reference: &str) -> AckDetail {
        AckDetail {
            code,
            element,
            component,
            reference: reference.into(),
            ..AckDetail::default()
        }
    }

    /// An IK3 segment error.
    pub fn segment(code: &'static str) -> AckDetail {
        AckDetail {
            code,
            ..AckDetail::default()
        }
    }

    /// The same, naming the segment it is about.
    pub fn for_segment(mut self, id: crate::lex::SegmentId) -> AckDetail {
        self.segment_id = Some(id);
        self
    }

    /// The same, naming the loop.
    pub fn in_loop(mut self, loop_id: &str) -> AckDetail {
        self.loop_id = Some(loop_id.into());
        self
    }
}

impl Finding {
    /// A finding for `rule` at `position` of `file`.
    pub fn new(
        rule: RuleId,
        file: impl Into<Arc<str>>,
        position: Position,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            message: message.into(),
            action: rule.default_action().to_string(),
            file: file.into(),
            segment: position.segment,
            offset: position.offset,
            claim_id: None,
            line: None,
            code: None,
            element: None,
            value: None,
            value_is_phi: false,
            ack: None,
        }
    }

    /// The position the finding points at.
    pub fn position(&self) -> Position {
        Position {
            segment: self.segment,
            offset: self.offset,
        }
    }

    /// Sets the advice to the biller.
    pub fn with_action(mut self, action: impl Into<String>) -> Finding {
        self.action = action.into();
        self
    }

    /// Sets the claim (CLM01) concerned.
    pub fn with_claim(mut self, claim_id: impl Into<String>) -> Finding {
        self.claim_id = Some(claim_id.into());
        self
    }

    /// Sets the service line (LX01) concerned.
    pub fn with_line(mut self, line: u32) -> Finding {
        self.line = Some(line);
        self
    }

    /// Sets the S-code of the line concerned.
    pub fn with_code(mut self, code: impl Into<String>) -> Finding {
        self.code = Some(code.into());
        self
    }

    /// Sets the element concerned (`CLM05-3`).
    pub fn with_element(mut self, element: impl Into<String>) -> Finding {
        self.element = Some(element.into());
        self
    }

    /// Sets the offending value.
    pub fn with_value(mut self, value: impl Into<String>) -> Finding {
        self.value = Some(value.into());
        self
    }

    /// Sets a value that is protected health information (a name, member id
    /// or birth date): renderers mask it unless the user asked to see it.
    pub fn with_phi_value(mut self, value: impl Into<String>) -> Finding {
        self.value = Some(value.into());
        self.value_is_phi = true;
        self
    }

    /// Attaches the 999 terms of the finding.
    pub fn with_ack(mut self, ack: AckDetail) -> Finding {
        self.ack = Some(Box::new(ack));
        self
    }

    /// The value as a report may show it: `***` for PHI unless `show_phi`.
    pub fn shown_value(&self, show_phi: bool) -> Option<&str> {
        match &self.value {
            Some(_) if self.value_is_phi && !show_phi => Some("***"),
            Some(v) => Some(v),
            None => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}[{}]: {}",
            self.file,
            self.position(),
            self.severity,
            self.rule,
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for id in RuleId::ALL {
            assert!(seen.insert(id.as_str()), "duplicate id {id}");
            assert_eq!(id.as_str().parse::<RuleId>(), Ok(*id));
            assert!(id.default_action().ends_with('.'));
        }
        assert!("no-such-rule".parse::<RuleId>().is_err());
    }

    #[test]
    fn phi_values_are_masked_unless_asked() {
        let f = Finding::new(RuleId::BadDate, "x", Position::default(), "m").with_phi_value("DOE");
        assert_eq!(f.shown_value(false), Some("***"));
        assert_eq!(f.shown_value(true), Some("DOE"));
        let g = Finding::new(RuleId::BadDate, "x", Position::default(), "m").with_value("2024");
        assert_eq!(g.shown_value(false), Some("2024"));
    }
}
