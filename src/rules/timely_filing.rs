//! `timely-filing`: the claim is filed within the policy's limit.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};

/// Fires for each S-code line filed more than `filing_limit_days` after its
/// date of service (exactly the limit is on time). The filing date is
/// `--as-of`, else BHT04; a limit of 0 turns the rule off.
pub fn timely_filing(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    let limit = i64::from(ctx.policy.filing_limit_days);
    let Some(filed) = ctx.filing_date else { return };
    if limit == 0 {
        return;
    }
    for s in &c.scodes {
        let Some(date) = s.date else { continue };
        let days = (filed - date).num_days();
        if days > limit {
            out.push(
                c.line_finding(
                    RuleId::TimelyFiling,
                    ctx.policy,
                    s,
                    format!("filed {days} days after the date of service; the limit is {limit}"),
                )
                .with_element("DTP03")
                .with_value(date.format("%Y-%m-%d").to_string()),
            );
        }
    }
}
