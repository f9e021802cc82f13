//! `one-scode-per-claim`: a stand-alone S-code claim holds one S-code line.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};

/// Fires once for a claim of S-code lines only that has more than one.
pub fn one_scode_per_claim(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    if c.other_lines != 0 || c.scodes.len() < 2 {
        return;
    }
    out.push(c.claim_finding(
        RuleId::OneScodePerClaim,
        ctx.policy,
        format!(
            "the stand-alone claim holds {} S-code lines",
            c.scodes.len()
        ),
    ));
}
