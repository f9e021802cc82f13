//! The cross-file pass: every S-code line of a run, in order of date of
//! service, against the patient's accepted lines.
//!
//! Order: by date of service; on one date the initial code (S0353) before
//! the established one; otherwise input order (files in command-line order,
//! then position). A line's checks see only lines before it. A line with an
//! error finding (its own, or its claim's) does not enter the history.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;

use super::{Check, Verdict, RULES};
use crate::finding::{Finding, Position, RuleId};
use crate::grammar::Form;
use crate::policy::{Policy, ScodeKind};

/// A claim's frequency code (CLM05-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Frequency {
    /// `1`: an original claim.
    Original,
    /// `7`: replaces an earlier claim.
    Replacement,
    /// `8`: voids an earlier claim.
    Void,
    /// Any other code (interim bills, late charges...), checked as billed.
    Other,
}

impl Frequency {
    /// The frequency of a CLM05-3 value.
    pub fn from_code(v: &[u8]) -> Frequency {
        match v.trim_ascii() {
            b"1" => Frequency::Original,
            b"7" => Frequency::Replacement,
            b"8" => Frequency::Void,
            _ => Frequency::Other,
        }
    }
}

/// One S-code line, owned, as the history pass needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScodeRecord {
    /// Index of the input (command-line order).
    pub input: usize,
    /// The input's label.
    pub label: Arc<str>,
    /// The line's SV1/SV2 segment.
    pub position: Position,
    /// Input order, to break ties.
    pub sequence: u64,
    /// The patient key (see [`patient_key`](crate::check::patient_key));
    /// protected health information, held in memory only.
    pub patient: String,
    /// The billing provider's NPI.
    pub billing_provider: String,
    /// CLM01.
    pub claim_id: String,
    /// REF*F8, when given.
    pub payer_claim_number: Option<String>,
    /// 837P or 837I.
    pub form: Form,
    /// Which S-code.
    pub kind: ScodeKind,
    /// Date of service.
    pub date: NaiveDate,
    /// CLM05-3.
    pub frequency: Frequency,
    /// LX01.
    pub line: Option<u32>,
    /// Whether the line or its claim already has an error finding.
    pub has_error: bool,
}

/// A line in a patient's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Which S-code.
    pub kind: ScodeKind,
    /// Date of service.
    pub date: NaiveDate,
    /// 837P or 837I.
    pub form: Form,
    /// CLM01.
    pub claim_id: String,
    /// The billing provider's NPI.
    pub billing_provider: String,
    /// Where it came from: an input label, or `history`.
    pub source: Arc<str>,
}

/// A patient's accepted S-code lines, in processing order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatientHistory {
    /// The lines.
    pub lines: Vec<Accepted>,
}

impl PatientHistory {
    /// The patient's S0353, if any.
    pub fn initial(&self) -> Option<&Accepted> {
        self.lines.iter().find(|l| l.kind == ScodeKind::Initial)
    }

    /// The patient's S0354 lines.
    pub fn established(&self) -> impl Iterator<Item = &Accepted> + '_ {
        self.lines
            .iter()
            .filter(|l| l.kind == ScodeKind::Established)
    }

    /// The latest S0354 on or before `date`.
    pub fn previous_established(&self, date: NaiveDate) -> Option<&Accepted> {
        self.established()
            .filter(|l| l.date <= date)
            .max_by_key(|l| l.date)
    }

    /// Whether `record` is a line already accepted: same billing provider,
    /// claim, form, code and date (a retry of the same billing).
    pub fn holds(&self, r: &ScodeRecord) -> bool {
        self.lines.iter().any(|l| {
            l.kind == r.kind
                && l.date == r.date
                && l.form == r.form
                && l.claim_id == r.claim_id
                && l.billing_provider == r.billing_provider
        })
    }

    /// Removes the lines of a claim (a void or a replacement's original).
    pub fn remove_claim(&mut self, billing_provider: &str, claim_id: &str) {
        self.lines
            .retain(|l| !(l.billing_provider == billing_provider && l.claim_id == claim_id));
    }
}

/// Days from `earlier` to `later`, calendar days.
pub fn days_between(earlier: NaiveDate, later: NaiveDate) -> i64 {
    (later - earlier).num_days()
}

/// The history pass over a run's records, with the patients' earlier lines.
#[derive(Debug, Default)]
pub struct HistoryPass {
    /// Accepted lines by patient key.
    pub patients: HashMap<String, PatientHistory>,
}

impl HistoryPass {
    /// A pass with no earlier history.
    pub fn new() -> HistoryPass {
        HistoryPass::default()
    }

    /// Checks `records`, returning the findings (with the index of the
    /// record each is about) and the records that entered the history (by
    /// index into `records`).
    pub fn run(
        &mut self,
        records: &[ScodeRecord],
        policy: &Policy,
    ) -> (Vec<(usize, Finding)>, Vec<usize>) {
        // Voids and replacements take their originals out first: a
        // replacement's lines are checked without the claim it replaces.
        // A set: a large run holds tens of thousands of voids and
        // replacements, and every record is looked up in it.
        let superseding: std::collections::HashSet<(&str, &str, &str)> = records
            .iter()
            .filter(|r| matches!(r.frequency, Frequency::Void | Frequency::Replacement))
            .map(|r| {
                (
                    r.patient.as_str(),
                    r.billing_provider.as_str(),
                    r.claim_id.as_str(),
                )
            })
            .collect();
        let superseded = |r: &ScodeRecord| {
            !matches!(r.frequency, Frequency::Void | Frequency::Replacement)
                && superseding.contains(&(
                    r.patient.as_str(),
                    r.billing_provider.as_str(),
                    r.claim_id.as_str(),
                ))
        };
        for (p, b, c) in &superseding {
            if let Some(h) = self.patients.get_mut(*p) {
                h.remove_claim(b, c);
            }
        }
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| {
            (
                records[i].date,
                records[i].kind,
                records[i].input,
                records[i].sequence,
            )
        });
        let mut findings = Vec::new();
        let mut accepted = Vec::new();
        for i in order {
            let r = &records[i];
            if r.frequency == Frequency::Void || superseded(r) {
                continue;
            }
            let history = self.patients.entry(r.patient.clone()).or_default();
            if r.frequency == Frequency::Original && history.holds(r) {
                // Seen again is not billed again.
                continue;
            }
            let mut error = r.has_error;
            for rule in RULES {
                let Check::History(f) = rule.check else {
                    continue;
                };
                if let Some(v) = f(r, history, policy) {
                    findings.push((i, finding(rule.id, r, policy, v)));
                    error = true;
                    if rule.id == RuleId::FormExclusive {
                        // A duplicate across forms is reported once.
                        break;
                    }
                }
            }
            if !error {
                history.lines.push(Accepted {
                    kind: r.kind,
                    date: r.date,
                    form: r.form,
                    claim_id: r.claim_id.clone(),
                    billing_provider: r.billing_provider.clone(),
                    source: r.label.clone(),
                });
                accepted.push(i);
            }
        }
        (findings, accepted)
    }
}

fn finding(rule: RuleId, r: &ScodeRecord, policy: &Policy, v: Verdict) -> Finding {
    let mut f = Finding::new(rule, r.label.clone(), r.position, v.message)
        .with_claim(r.claim_id.clone())
        .with_code(policy.code(r.kind))
        .with_value(r.date.format("%Y-%m-%d").to_string());
    if let Some(a) = v.action {
        f = f.with_action(a);
    }
    if let Some(n) = r.line {
        f = f.with_line(n);
    }
    f
}

/// How an accepted line is named in messages.
pub fn describe(a: &Accepted, policy: &Policy) -> String {
    format!(
        "{} on {} (claim {}, {})",
        policy.code(a.kind),
        a.date.format("%Y-%m-%d"),
        a.claim_id,
        a.source
    )
}
