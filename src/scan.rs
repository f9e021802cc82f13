//! One pass over one input: reader, envelopes, loop builder and claim model.
//!
//! [`Scanner::scan`] streams an input block by block. Every structure
//! finding goes to the caller's sink; every transaction that could be read
//! as an 837 is handed to the caller's callback as a borrowed
//! [`Transaction`], valid only during the call (its bytes are the reader's
//! reused block). Counts come back at the end.

use std::io::Read;
use std::sync::Arc;

use crate::codes::CodeLists;
use crate::envelope::EnvelopeChecker;
use crate::error::Result;
use crate::finding::{Finding, Position, RuleId};
use crate::grammar::builder::LoopBuilder;
use crate::grammar::{Form, Grammar, Grammars};
use crate::model::{build_transaction, check_balances, Transaction};
use crate::reader::{Block, BlockKind, ReaderBuilder};

/// What one or more scans read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Inputs read (those that could not be read at all included).
    pub files: u64,
    /// ISA segments.
    pub interchanges: u64,
    /// ST segments.
    pub transactions: u64,
    /// 2300 loops read into the model.
    pub claims: u64,
    /// 2400 loops read into the model.
    pub service_lines: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.files += o.files;
        self.interchanges += o.interchanges;
        self.transactions += o.transactions;
        self.claims += o.claims;
        self.service_lines += o.service_lines;
    }
}

/// Reads inputs and checks their structure.
///
/// ```
/// use scrub837::scan::Scanner;
/// let input = include_bytes!("../samples/837p-clean.edi");
/// let mut findings = Vec::new();
/// let mut claims = 0;
/// let counts = Scanner::new()
///     .scan(&input[..], "837p-clean.edi", &mut |f| findings.push(f), &mut |tx| claims += tx.claim_count())
///     .unwrap();
/// assert!(findings.is_empty());
/// assert_eq!(counts.claims as usize, claims);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    reader: ReaderBuilder,
    max_findings_per_rule: Option<u64>,
    /// External code lists; `None`: the bundled ones.
    codes: Option<Arc<CodeLists>>,
    skip_elements: bool,
}

/// The default cap on findings of one rule in one input: plenty for any
/// real file, and it keeps a file of a million empty segments from
/// becoming a million findings in memory.
pub const DEFAULT_MAX_FINDINGS_PER_RULE: u64 = 100_000;

impl Scanner {
    /// A scanner with the default limits.
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// The largest transaction held in memory (see
    /// [`ReaderBuilder::max_transaction_bytes`]).
    pub fn max_transaction_bytes(mut self, n: usize) -> Scanner {
        self.reader = self.reader.max_transaction_bytes(n);
        self
    }

    /// The most findings of one rule reported for one input (default
    /// [`DEFAULT_MAX_FINDINGS_PER_RULE`]); the rest are counted in one
    /// `limit-exceeded` finding at the first one left out.
    pub fn max_findings_per_rule(mut self, n: u64) -> Scanner {
        self.max_findings_per_rule = Some(n.max(1));
        self
    }

    /// Checks elements against these external code lists (default: the
    /// bundled lists, [`CodeLists::bundled`]).
    pub fn code_lists(mut self, lists: Arc<CodeLists>) -> Scanner {
        self.codes = Some(lists);
        self
    }

    /// Whether to check elements (usage, type, length, codes, relational
    /// conditions) as well as loops and segments. On by default.
    pub fn element_checks(mut self, on: bool) -> Scanner {
        self.skip_elements = !on;
        self
    }

    /// Scans one input.
    ///
    /// # Errors
    ///
    /// When the input cannot be read or is not X12; findings made before the
    /// error have reached `sink`.
    pub fn scan<R: Read>(
        &self,
        rdr: R,
        label: impl Into<Arc<str>>,
        sink: &mut dyn FnMut(Finding),
        on_transaction: &mut dyn FnMut(&Transaction<'_>),
    ) -> Result<Counts> {
        let label: Arc<str> = label.into();
        let max = self
            .max_findings_per_rule
            .unwrap_or(DEFAULT_MAX_FINDINGS_PER_RULE);
        let mut seen = vec![0u64; RuleId::ALL.len()];
        let mut first_left_out: Vec<Option<Position>> = vec![None; RuleId::ALL.len()];
        let mut capped = |f: Finding| {
            let i = f.rule as usize;
            seen[i] += 1;
            if seen[i] <= max {
                sink(f);
            } else if first_left_out[i].is_none() {
                first_left_out[i] = Some(f.position());
            }
        };
        let result = self.scan_all(rdr, label.clone(), &mut capped, on_transaction);
        for (i, at) in first_left_out.iter().enumerate() {
            if let Some(at) = at {
                let rule = RuleId::ALL[i];
                sink(Finding::new(
                    RuleId::LimitExceeded,
                    label.clone(),
                    *at,
                    format!("{} more {rule} finding(s) in this file were not listed (at most {max} per rule)", seen[i] - max),
                ));
            }
        }
        result
    }

    fn scan_all<R: Read>(
        &self,
        rdr: R,
        label: Arc<str>,
        sink: &mut dyn FnMut(Finding),
        on_transaction: &mut dyn FnMut(&Transaction<'_>),
    ) -> Result<Counts> {
        let mut reader = self.reader.from_reader(rdr, label.clone());
        let mut envelope = EnvelopeChecker::new(label.clone());
        let mut block = Block::new();
        let grammars = Grammars::embedded();
        let mut professional = LoopBuilder::new(&grammars.professional, label.clone());
        let mut institutional = LoopBuilder::new(&grammars.institutional, label.clone());
        if !self.skip_elements {
            let codes = self
                .codes
                .clone()
                .unwrap_or_else(|| Arc::new(CodeLists::bundled().clone()));
            professional = professional.with_element_checks(codes.clone());
            institutional = institutional.with_element_checks(codes);
        }
        let mut counts = Counts {
            files: 1,
            ..Counts::default()
        };
        while reader.read_block(&mut block, sink)? {
            let grammar: Option<&Grammar> = envelope.block(&block, sink);
            if block.kind() != BlockKind::Transaction {
                continue;
            }
            let Some(grammar) = grammar else { continue };
            let builder = match grammar.form {
                Form::Professional => &mut professional,
                Form::Institutional => &mut institutional,
            };
            let tx = build_transaction(&block, builder, sink);
            check_balances(&tx, &label, sink);
            counts.claims += tx.claim_count() as u64;
            counts.service_lines += tx.lines().len() as u64;
            on_transaction(&tx);
        }
        envelope.finish(sink);
        let e = envelope.counts();
        counts.interchanges = e.interchanges;
        counts.transactions = e.transactions;
        Ok(counts)
    }
}
