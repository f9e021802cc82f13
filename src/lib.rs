//! scrub837 reads ANSI X12 837 health-care claim files (837P, 005010X222A1;
//! 837I, 005010X223A2) and checks them before they go to a payer.
//!
//! The data flows in one direction, one transaction at a time:
//!
//! ```text
//! bytes -> reader (blocks of borrowed segments) -> envelope checks
//!       -> loop builder (grammar/*.toml) -> claim model -> checks -> report
//! ```
//!
//! Problems in a file are [`Finding`]s (data, with a stable [`RuleId`], the
//! file, the segment number and the byte offset); an [`Error`] means an input
//! could not be read at all.
//!
//! # Example
//!
//! ```
//! use scrub837::scan::Scanner;
//!
//! let input = include_bytes!("../samples/837p-mixed-scode.edi");
//! let mut findings = Vec::new();
//! let mut scodes = 0;
//! let counts = Scanner::new().scan(&input[..], "837p-mixed-scode.edi", &mut |f| findings.push(f), &mut |tx| {
//!     for claim in tx.claims() {
//!         for line in claim.lines() {
//!             if line.procedure.is_some_and(|p| p.is("HC", "S0353") || p.is("HC", "S0354")) {
//!                 scodes += 1;
//!             }
//!         }
//!     }
//! })?;
//! assert!(findings.is_empty(), "{findings:?}");
//! assert!(counts.claims > 0 && scodes > 0);
//! # Ok::<(), scrub837::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod auth;
pub mod check;
pub mod codes;
pub mod envelope;
mod error;
pub mod extract;
mod finding;
pub mod fix;
pub mod grammar;
pub mod history;
pub mod lex;
pub mod model;
pub mod policy;
pub mod reader;
pub mod report;
pub mod rules;
pub mod scan;
pub mod validate;
pub mod write;

pub use error::{Error, ErrorKind, Result};

/// The README's examples, run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub use finding::{AckDetail, Finding, Position, RuleId, Severity, UnknownRuleId};
