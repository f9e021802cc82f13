//! `auth-missing`: S-code lines carry a prior authorization number.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};

/// Fires once for a claim when any S-code line has no authorization number:
/// neither its own REF*G1 nor the claim's.
pub fn auth_missing(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    let missing = c
        .scodes
        .iter()
        .filter(|s| s.authorization.is_none())
        .count();
    if missing == 0 {
        return;
    }
    out.push(
        c.claim_finding(
            RuleId::AuthMissing,
            ctx.policy,
            format!("{missing} S-code line(s) have no prior authorization number (REF*G1)"),
        )
        .with_element("REF02"),
    );
}
