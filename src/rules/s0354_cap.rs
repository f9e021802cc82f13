//! `s0354-cap`: at most `max_established_per_episode` S0354 lines.

use super::history::describe;
use super::{PatientHistory, ScodeRecord, Verdict};
use crate::policy::{Policy, ScodeKind};

/// Fires when the patient's episode already holds the maximum.
pub fn s0354_cap(r: &ScodeRecord, h: &PatientHistory, policy: &Policy) -> Option<Verdict> {
    if r.kind != ScodeKind::Established {
        return None;
    }
    let held = h.established().count();
    if held < policy.max_established_per_episode as usize {
        return None;
    }
    let last = h.established().max_by_key(|l| l.date)?;
    Some(Verdict {
        message: format!(
            "the episode already holds {held} {} line(s), the most the program pays; the last is {}",
            policy.code(r.kind),
            describe(last, policy)
        ),
        action: None,
    })
}
