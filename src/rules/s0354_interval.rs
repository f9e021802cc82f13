//! `s0354-interval`: at most one S0354 per `min_interval_days`.

use super::history::{days_between, describe};
use super::{PatientHistory, ScodeRecord, Verdict};
use crate::policy::{Policy, ScodeKind};

/// Fires when the patient's previous accepted S0354 is fewer than
/// `min_interval_days` calendar days before this one.
pub fn s0354_interval(r: &ScodeRecord, h: &PatientHistory, policy: &Policy) -> Option<Verdict> {
    if r.kind != ScodeKind::Established {
        return None;
    }
    let prev = h.previous_established(r.date)?;
    let days = days_between(prev.date, r.date);
    if days >= i64::from(policy.min_interval_days) {
        return None;
    }
    let allowed = prev.date + chrono::Days::new(u64::from(policy.min_interval_days));
    Some(Verdict {
        message: format!(
            "{days} day(s) after {}; at least {} must pass",
            describe(prev, policy),
            policy.min_interval_days
        ),
        action: Some(format!(
            "Hold this {} until {} or later.",
            policy.code(r.kind),
            allowed.format("%Y-%m-%d")
        )),
    })
}
