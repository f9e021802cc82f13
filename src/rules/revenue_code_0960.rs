//! `revenue-code-0960`: an 837I S-code line carries the program's revenue
//! code.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};
use crate::grammar::Form;

/// Fires for each 837I S-code line whose SV201 is neither the policy's
/// revenue code nor a retired one (those fire `legacy-revenue-0980`). The
/// comparison is exact: `960` is not `0960`.
pub fn revenue_code_0960(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    if c.claim.transaction().form != Form::Institutional {
        return;
    }
    let want = ctx.policy.institutional_revenue_code.as_bytes();
    for s in &c.scodes {
        let rev = s.line.revenue_code.unwrap_or(&[]);
        if rev == want
            || ctx
                .policy
                .retired_revenue_codes
                .iter()
                .any(|r| r.as_bytes() == rev)
        {
            continue;
        }
        out.push(
            c.line_finding(
                RuleId::RevenueCode0960,
                ctx.policy,
                s,
                format!(
                    "the S-code line's revenue code is not {}",
                    ctx.policy.institutional_revenue_code
                ),
            )
            .with_element("SV2-01")
            .with_value(String::from_utf8_lossy(rev))
            .with_action(format!(
                "Bill the S-code line under revenue code {}.",
                ctx.policy.institutional_revenue_code
            )),
        );
    }
}
