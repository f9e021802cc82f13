//! `s0353-not-onset`: the initial code comes at the onset of treatment,
//! before any S0354 of the episode.

use super::history::describe;
use super::{PatientHistory, ScodeRecord, Verdict};
use crate::policy::{Policy, ScodeKind};

/// Fires when an accepted S0354 of the patient is dated before this S0353.
pub fn s0353_not_onset(r: &ScodeRecord, h: &PatientHistory, policy: &Policy) -> Option<Verdict> {
    if r.kind != ScodeKind::Initial {
        return None;
    }
    let earlier = h
        .established()
        .filter(|l| l.date < r.date)
        .min_by_key(|l| l.date)?;
    Some(Verdict {
        message: format!(
            "the episode already started with {}",
            describe(earlier, policy)
        ),
        action: None,
    })
}
