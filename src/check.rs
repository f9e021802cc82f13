//! A check run: structure checks and the S-code rules over several inputs.
//!
//! [`Checker::check`] reads one input at a time, streaming: structure
//! findings and claim rules as it goes, and a small owned
//! [`ScodeRecord`] per S-code line. [`Checker::finish`] runs the history
//! rules over the records of every input together, in order of date of
//! service, so `check a.edi b.edi` is exactly as correct as one file.

use std::io::Read;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::auth::{normalize, Authorizations};
use crate::error::Result;
use crate::finding::{Finding, Severity};
use crate::model::ClaimRef;
use crate::policy::Policy;
use crate::rules::history::HistoryPass;
use crate::rules::{check_claim, ClaimContext, ClaimFacts, Frequency, ScodeRecord};
use crate::scan::{Counts, Scanner};

/// The settings of a check run.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The policy.
    pub policy: Policy,
    /// The approvals, when an authorization file was given.
    pub authorizations: Option<Authorizations>,
    /// The filing date for `timely-filing`; else each transaction's BHT04.
    pub as_of: Option<NaiveDate>,
    /// The reader settings.
    pub scanner: Scanner,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            policy: Policy::default_policy().clone(),
            authorizations: None,
            as_of: None,
            scanner: Scanner::new(),
        }
    }
}

/// The patient key of a claim under `policy`: payer (or the program, when
/// the policy lists payer ids), the subscriber's member id and, when a
/// 2000C loop holds the claim, the patient's last name, first name and
/// birth date; upper-cased, blanks trimmed.
///
/// This is protected health information: it is held in memory only (the
/// history store keeps a keyed hash of it).
pub fn patient_key(claim: &ClaimRef<'_, '_>, policy: &Policy) -> String {
    let sub = claim.subscriber();
    let payer = if policy.payer_ids.is_empty() {
        normalize(sub.payer_id)
    } else {
        format!("program:{}", policy.name.to_ascii_uppercase())
    };
    let mut key = format!("{payer}|{}", normalize(sub.member_id));
    if let Some(p) = claim.patient() {
        let up = |v: &[u8]| String::from_utf8_lossy(v.trim_ascii()).to_ascii_uppercase();
        key.push_str(&format!(
            "|{}|{}|{}",
            up(p.last_name),
            up(p.first_name),
            p.birth_date
                .map(|d| d.format("%Y%m%d").to_string())
                .unwrap_or_default()
        ));
    }
    key
}

/// What a check run found.
#[derive(Debug, Default)]
pub struct CheckOutcome {
    /// Every finding: by input in the order checked, then by segment.
    pub findings: Vec<Finding>,
    /// What was read.
    pub counts: Counts,
    /// S-code lines read (in the policy's scope).
    pub scode_lines: u64,
    /// The records that entered the history (no error finding), for a
    /// caller that records them.
    pub accepted: Vec<ScodeRecord>,
    /// The voids and replacements read: the claims they take out of the
    /// history.
    pub superseding: Vec<ScodeRecord>,
    /// Every S-code record read (with a date of service), for an import.
    pub records: Vec<ScodeRecord>,
}

/// A check run over one or more inputs.
///
/// ```
/// use scrub837::check::{CheckOptions, Checker};
/// let mut run = Checker::new(CheckOptions::default());
/// run.check(&include_bytes!("../samples/837p-mixed-scode.edi")[..], "837p-mixed-scode.edi").unwrap();
/// let out = run.finish();
/// assert_eq!(out.findings.iter().filter(|f| f.rule == scrub837::RuleId::StandaloneClaim).count(), 2);
/// ```
#[derive(Debug)]
pub struct Checker {
    opts: CheckOptions,
    findings: Vec<Vec<Finding>>,
    records: Vec<ScodeRecord>,
    counts: Counts,
    scode_lines: u64,
    history: HistoryPass,
}

impl Checker {
    /// A run with `opts`.
    pub fn new(opts: CheckOptions) -> Checker {
        Checker {
            opts,
            findings: Vec::new(),
            records: Vec::new(),
            counts: Counts::default(),
            scode_lines: 0,
            history: HistoryPass::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.opts.policy
    }

    /// The patient keys of the S-code lines read so far (each once), for
    /// loading their history before [`Checker::finish`].
    pub fn patients(&self) -> Vec<String> {
        let mut v: Vec<String> = self.records.iter().map(|r| r.patient.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The history the frequency rules start from: load earlier accepted
    /// lines here before [`Checker::finish`].
    pub fn history_mut(&mut self) -> &mut HistoryPass {
        &mut self.history
    }

    /// Checks one input: its structure and its claims. An input that cannot
    /// be read still counts as a file, and its findings so far are kept.
    ///
    /// # Errors
    ///
    /// When the input cannot be read or is not X12.
    pub fn check<R: Read>(&mut self, rdr: R, label: impl Into<Arc<str>>) -> Result<()> {
        let label: Arc<str> = label.into();
        let input = self.findings.len();
        let mut findings = Vec::new();
        // Rule findings apart from structure ones: the two callbacks below
        // cannot share one vector.
        let mut rule_findings: Vec<Finding> = Vec::new();
        let mut records = Vec::new();
        let mut scode_lines = 0u64;
        let opts = &self.opts;
        let policy = &opts.policy;
        let sequence_base = self.records.len() as u64;
        let result = opts
            .scanner
            .scan(rdr, label.clone(), &mut |f| findings.push(f), &mut |tx| {
                let ctx = ClaimContext {
                    policy,
                    authorizations: opts.authorizations.as_ref(),
                    filing_date: opts.as_of.or(tx.creation_date),
                };
                for claim in tx.claims() {
                    if !policy.in_scope(claim.subscriber().payer_id) {
                        continue;
                    }
                    if !ClaimFacts::has_scode(&claim, policy) {
                        continue;
                    }
                    let facts = ClaimFacts::new(claim, policy, label.clone());
                    scode_lines += facts.scodes.len() as u64;
                    let frequency = Frequency::from_code(claim.frequency);
                    let start = rule_findings.len();
                    if frequency != Frequency::Void {
                        // A void is not a new billing: its lines only take the
                        // voided claim out of the history.
                        check_claim(&facts, &ctx, &mut rule_findings);
                    }
                    let mine = &rule_findings[start..];
                    let claim_error = mine
                        .iter()
                        .any(|f| f.severity == Severity::Error && f.line.is_none());
                    let patient = patient_key(&claim, policy);
                    for s in &facts.scodes {
                        let Some(date) = s.date else { continue };
                        let line_error = mine.iter().any(|f| {
                            f.severity == Severity::Error
                                && f.segment == s.line.service_position.segment
                        });
                        records.push(ScodeRecord {
                            input,
                            label: label.clone(),
                            position: s.line.service_position,
                            sequence: sequence_base + records.len() as u64,
                            patient: patient.clone(),
                            billing_provider: normalize(claim.billing_provider().npi),
                            claim_id: facts.claim_id(),
                            payer_claim_number: claim
                                .payer_claim_number
                                .map(|v| String::from_utf8_lossy(v).into_owned()),
                            form: tx.form,
                            kind: s.kind,
                            date,
                            frequency,
                            line: s.line.number,
                            has_error: claim_error || line_error,
                        });
                    }
                }
            });
        findings.extend(rule_findings);
        self.findings.push(findings);
        self.records.extend(records);
        self.scode_lines += scode_lines;
        match result {
            Ok(c) => {
                self.counts += c;
                Ok(())
            }
            Err(e) => {
                self.counts.files += 1;
                Err(e)
            }
        }
    }

    /// Runs the history rules over every input's S-code lines and returns
    /// all findings in report order.
    pub fn finish(mut self) -> CheckOutcome {
        let (history_findings, accepted) = self.history.run(&self.records, &self.opts.policy);
        for (i, f) in history_findings {
            self.findings[self.records[i].input].push(f);
        }
        let mut findings = Vec::new();
        for mut list in self.findings {
            list.sort_by_key(|f| (f.segment, f.offset));
            findings.extend(list);
        }
        let accepted = accepted
            .into_iter()
            .map(|i| self.records[i].clone())
            .collect();
        let superseding = self
            .records
            .iter()
            .filter(|r| matches!(r.frequency, Frequency::Void | Frequency::Replacement))
            .cloned()
            .collect();
        CheckOutcome {
            findings,
            counts: self.counts,
            scode_lines: self.scode_lines,
            accepted,
            superseding,
            records: self.records,
        }
    }
}
