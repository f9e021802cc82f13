//! `standalone-claim`: an S-code is billed on a claim of its own.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};

/// Fires once for a claim that holds an S-code line and any line with
/// another procedure (or an 837I line with a revenue code and none).
pub fn standalone_claim(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    if c.scodes.is_empty() || c.other_lines == 0 {
        return;
    }
    let codes: Vec<&str> = c.scodes.iter().map(|s| ctx.policy.code(s.kind)).collect();
    out.push(c.claim_finding(
        RuleId::StandaloneClaim,
        ctx.policy,
        format!(
            "{} shares the claim with {} other service line(s); the program pays it only on a stand-alone claim",
            codes.join(" and "),
            c.other_lines
        ),
    ));
}
