//! `form-exclusive`: the same S-code for the same patient and date of
//! service on both an 837P and an 837I.

use super::history::describe;
use super::{PatientHistory, ScodeRecord, Verdict};
use crate::policy::Policy;

/// Fires on the later of the two lines, naming the other claim.
pub fn form_exclusive(r: &ScodeRecord, h: &PatientHistory, policy: &Policy) -> Option<Verdict> {
    let other = h
        .lines
        .iter()
        .find(|l| l.kind == r.kind && l.date == r.date && l.form != r.form)?;
    Some(Verdict {
        message: format!(
            "the same service is already billed on the {}: {}",
            other.form,
            describe(other, policy)
        ),
        action: None,
    })
}
