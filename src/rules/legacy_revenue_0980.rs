//! `legacy-revenue-0980`: the retired revenue code is wrong for every date.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};
use crate::grammar::Form;

/// Fires for each 837I S-code line whose SV201 is a retired revenue code.
pub fn legacy_revenue_0980(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    if c.claim.transaction().form != Form::Institutional {
        return;
    }
    for s in &c.scodes {
        let rev = s.line.revenue_code.unwrap_or(&[]);
        if !ctx
            .policy
            .retired_revenue_codes
            .iter()
            .any(|r| r.as_bytes() == rev)
        {
            continue;
        }
        let want = &ctx.policy.institutional_revenue_code;
        out.push(
            c.line_finding(
                RuleId::LegacyRevenue0980,
                ctx.policy,
                s,
                format!(
                    "the S-code line carries a retired revenue code; the program requires {want}"
                ),
            )
            .with_element("SV2-01")
            .with_value(String::from_utf8_lossy(rev))
            .with_action(format!(
                "Replace revenue code {} with {want}.",
                String::from_utf8_lossy(rev)
            )),
        );
    }
}
