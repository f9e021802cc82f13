//! `s0353-once`: the initial code is paid once per patient.

use super::history::describe;
use super::{PatientHistory, ScodeRecord, Verdict};
use crate::policy::{Policy, ScodeKind};

/// Fires when the patient already has an accepted S0353.
pub fn s0353_once(r: &ScodeRecord, h: &PatientHistory, policy: &Policy) -> Option<Verdict> {
    if r.kind != ScodeKind::Initial {
        return None;
    }
    let first = h.initial()?;
    Some(Verdict {
        message: format!("the patient already has {}", describe(first, policy)),
        action: None,
    })
}
