//! The S-code rule pack: small pure functions over the claim model.
//!
//! Two kinds of rule, one table ([`RULES`]):
//!
//! - **claim rules** look at one claim (stand-alone, revenue code, units,
//!   authorization, dates) and run while the input streams;
//! - **history rules** look at one S-code line against the patient's
//!   earlier accepted lines (once, onset, intervals, cap, form) and run after
//!   every input was read, over all S-code lines sorted by date of service.
//!
//! Adding a rule is one file here and one row in [`RULES`]; its id goes into
//! [`RuleId`].

mod auth_member_mismatch;
mod auth_missing;
mod auth_unknown;
mod auth_window;
mod form_exclusive;
mod legacy_revenue_0980;
mod one_scode_per_claim;
mod revenue_code_0960;
mod s0353_not_onset;
mod s0353_once;
mod s0354_after_s0353;
mod s0354_cap;
mod s0354_interval;
mod service_date_missing;
mod standalone_claim;
mod timely_filing;
mod units_one;

pub mod history;

use std::sync::Arc;

use chrono::NaiveDate;

pub use history::{Accepted, Frequency, PatientHistory, ScodeRecord};

use crate::auth::Authorizations;
use crate::finding::{Finding, RuleId};
use crate::model::{ClaimRef, ServiceLine};
use crate::policy::{Policy, ScodeKind};

/// An S-code service line with what the rules need of it.
#[derive(Clone, Copy, Debug)]
pub struct ScodeLine<'t, 'a> {
    /// The line.
    pub line: &'t ServiceLine<'a>,
    /// Which S-code.
    pub kind: ScodeKind,
    /// The date of service: DTP*472, else on 837I the statement period's
    /// first date.
    pub date: Option<NaiveDate>,
    /// The line's first REF*G1, else the claim's.
    pub authorization: Option<&'a [u8]>,
}

/// A claim as the claim rules see it.
#[derive(Clone, Debug)]
pub struct ClaimFacts<'t, 'a> {
    /// The claim.
    pub claim: ClaimRef<'t, 'a>,
    /// Its S-code lines.
    pub scodes: Vec<ScodeLine<'t, 'a>>,
    /// How many lines carry another procedure or none.
    pub other_lines: usize,
    /// The input label findings carry.
    pub label: Arc<str>,
}

impl<'t, 'a> ClaimFacts<'t, 'a> {
    /// Whether `claim` carries any of the policy's S-codes: most claims do
    /// not, and need no facts at all.
    pub fn has_scode(claim: &ClaimRef<'_, '_>, policy: &Policy) -> bool {
        claim.lines().iter().any(|l| {
            l.procedure
                .is_some_and(|p| policy.scode(p.qualifier, p.code).is_some())
        })
    }

    /// The facts of `claim` under `policy`.
    pub fn new(claim: ClaimRef<'t, 'a>, policy: &Policy, label: Arc<str>) -> ClaimFacts<'t, 'a> {
        let mut scodes = Vec::new();
        let mut other_lines = 0;
        for line in claim.lines() {
            let kind = line
                .procedure
                .and_then(|p| policy.scode(p.qualifier, p.code));
            match kind {
                Some(kind) => scodes.push(ScodeLine {
                    line,
                    kind,
                    date: claim.service_date(line),
                    authorization: line
                        .prior_authorization
                        .or(claim.prior_authorization)
                        .filter(|a| !a.is_empty()),
                }),
                None => other_lines += 1,
            }
        }
        ClaimFacts {
            claim,
            scodes,
            other_lines,
            label,
        }
    }

    /// CLM01 as text.
    pub fn claim_id(&self) -> String {
        String::from_utf8_lossy(self.claim.id).into_owned()
    }

    /// A claim-level finding: at the CLM segment, with the claim id, and the
    /// S-code when the claim has only one.
    pub fn claim_finding(
        &self,
        rule: RuleId,
        policy: &Policy,
        message: impl Into<String>,
    ) -> Finding {
        let mut f = Finding::new(rule, self.label.clone(), self.claim.position, message)
            .with_claim(self.claim_id());
        if let [only] = self.scodes.as_slice() {
            f = f.with_code(policy.code(only.kind));
        }
        f
    }

    /// A line finding: at the line's SV1/SV2 segment, with claim id, LX
    /// number and S-code.
    pub fn line_finding(
        &self,
        rule: RuleId,
        policy: &Policy,
        line: &ScodeLine<'_, '_>,
        message: impl Into<String>,
    ) -> Finding {
        let mut f = Finding::new(
            rule,
            self.label.clone(),
            line.line.service_position,
            message,
        )
        .with_claim(self.claim_id())
        .with_code(policy.code(line.kind));
        if let Some(n) = line.line.number {
            f = f.with_line(n);
        }
        f
    }
}

/// What the claim rules read besides the claim.
#[derive(Clone, Copy, Debug)]
pub struct ClaimContext<'p> {
    /// The policy.
    pub policy: &'p Policy,
    /// The approvals, when an authorization file was given.
    pub authorizations: Option<&'p Authorizations>,
    /// The filing date: `--as-of`, else the transaction's BHT04.
    pub filing_date: Option<NaiveDate>,
}

/// A claim rule.
pub type ClaimRule = fn(&ClaimFacts<'_, '_>, &ClaimContext<'_>, &mut Vec<Finding>);

/// A history rule: the message when `record` breaks it, given the patient's
/// accepted lines before it.
pub type HistoryRule = fn(&ScodeRecord, &PatientHistory, &Policy) -> Option<Verdict>;

/// What a history rule found: its message and the earlier claim it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What is wrong, for a person.
    pub message: String,
    /// The advice, when it depends on the data (a date to wait for).
    pub action: Option<String>,
}

/// How a rule runs.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Over one claim, while streaming.
    Claim(ClaimRule),
    /// Over one S-code line and the patient's history, after reading.
    History(HistoryRule),
}

/// A row of the rule table.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The stable id.
    pub id: RuleId,
    /// One line on what the rule checks.
    pub doc: &'static str,
    /// The function.
    pub check: Check,
}

/// Every S-code rule. History rules run in this order; `form-exclusive`
/// comes first because a duplicate across forms is reported only once.
pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId::StandaloneClaim,
        doc: "an S-code shares its claim with other services",
        check: Check::Claim(standalone_claim::standalone_claim),
    },
    Rule {
        id: RuleId::OneScodePerClaim,
        doc: "a stand-alone S-code claim holds more than one S-code line",
        check: Check::Claim(one_scode_per_claim::one_scode_per_claim),
    },
    Rule {
        id: RuleId::RevenueCode0960,
        doc: "an 837I S-code line lacks the program's revenue code",
        check: Check::Claim(revenue_code_0960::revenue_code_0960),
    },
    Rule {
        id: RuleId::LegacyRevenue0980,
        doc: "an 837I S-code line carries a retired revenue code",
        check: Check::Claim(legacy_revenue_0980::legacy_revenue_0980),
    },
    Rule {
        id: RuleId::ServiceDateMissing,
        doc: "an S-code line has no date of service",
        check: Check::Claim(service_date_missing::service_date_missing),
    },
    Rule {
        id: RuleId::UnitsOne,
        doc: "an S-code line bills other than one unit",
        check: Check::Claim(units_one::units_one),
    },
    Rule {
        id: RuleId::AuthMissing,
        doc: "an S-code line has no prior authorization number",
        check: Check::Claim(auth_missing::auth_missing),
    },
    Rule {
        id: RuleId::AuthUnknown,
        doc: "the authorization number is not in the authorization file",
        check: Check::Claim(auth_unknown::auth_unknown),
    },
    Rule {
        id: RuleId::AuthMemberMismatch,
        doc: "the authorization belongs to another member",
        check: Check::Claim(auth_member_mismatch::auth_member_mismatch),
    },
    Rule {
        id: RuleId::AuthWindow,
        doc: "the date of service is outside the authorization's dates",
        check: Check::Claim(auth_window::auth_window),
    },
    Rule {
        id: RuleId::TimelyFiling,
        doc: "the line is filed after the policy's filing limit",
        check: Check::Claim(timely_filing::timely_filing),
    },
    Rule {
        id: RuleId::FormExclusive,
        doc: "the same S-code, patient and date on both an 837P and an 837I",
        check: Check::History(form_exclusive::form_exclusive),
    },
    Rule {
        id: RuleId::S0353Once,
        doc: "a second S0353 for the patient",
        check: Check::History(s0353_once::s0353_once),
    },
    Rule {
        id: RuleId::S0353NotOnset,
        doc: "an S0353 after an S0354 of the episode",
        check: Check::History(s0353_not_onset::s0353_not_onset),
    },
    Rule {
        id: RuleId::S0354AfterS0353,
        doc: "an S0354 too soon after the S0353",
        check: Check::History(s0354_after_s0353::s0354_after_s0353),
    },
    Rule {
        id: RuleId::S0354Interval,
        doc: "an S0354 too soon after the previous S0354",
        check: Check::History(s0354_interval::s0354_interval),
    },
    Rule {
        id: RuleId::S0354Cap,
        doc: "more S0354 lines than the episode allows",
        check: Check::History(s0354_cap::s0354_cap),
    },
];

/// Runs every claim rule over `facts`.
pub fn check_claim(facts: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    for rule in RULES {
        if let Check::Claim(f) = rule.check {
            f(facts, ctx, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_rule_has_one_row() {
        let policy_ids: Vec<RuleId> = RuleId::ALL
            .iter()
            .copied()
            .filter(|r| r.is_policy_rule())
            .collect();
        assert_eq!(policy_ids.len(), 17);
        for id in policy_ids {
            assert_eq!(RULES.iter().filter(|r| r.id == id).count(), 1, "{id}");
        }
        assert!(matches!(
            RULES
                .iter()
                .find(|r| matches!(r.check, Check::History(_)))
                .map(|r| r.id),
            Some(RuleId::FormExclusive)
        ));
    }
}
