//! `s0354-after-s0353`: no S0354 within `min_interval_days` of the S0353.

use super::history::{days_between, describe};
use super::{PatientHistory, ScodeRecord, Verdict};
use crate::policy::{Policy, ScodeKind};

/// Fires when the patient's S0353 is fewer than `min_interval_days` before
/// this S0354. Looks forward only: an S0354 dated before the S0353 makes
/// the S0353 fire `s0353-not-onset` instead.
pub fn s0354_after_s0353(r: &ScodeRecord, h: &PatientHistory, policy: &Policy) -> Option<Verdict> {
    if r.kind != ScodeKind::Established {
        return None;
    }
    let initial = h.initial()?;
    let days = days_between(initial.date, r.date);
    if !(0..i64::from(policy.min_interval_days)).contains(&days) {
        return None;
    }
    let allowed = initial.date + chrono::Days::new(u64::from(policy.min_interval_days));
    Some(Verdict {
        message: format!(
            "{days} day(s) after {}; at least {} must pass",
            describe(initial, policy),
            policy.min_interval_days
        ),
        action: Some(format!(
            "Hold this {} until {} or later.",
            policy.code(r.kind),
            allowed.format("%Y-%m-%d")
        )),
    })
}
