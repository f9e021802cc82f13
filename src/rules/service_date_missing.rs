//! `service-date-missing`: every S-code line has a date of service.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};

/// Fires for each S-code line with no date: no DTP*472 on the line and, on
/// 837I, no statement period (DTP*434) either.
pub fn service_date_missing(
    c: &ClaimFacts<'_, '_>,
    ctx: &ClaimContext<'_>,
    out: &mut Vec<Finding>,
) {
    for s in c.scodes.iter().filter(|s| s.date.is_none()) {
        out.push(
            c.line_finding(
                RuleId::ServiceDateMissing,
                ctx.policy,
                s,
                "the S-code line has no date of service",
            )
            .with_element("DTP03"),
        );
    }
}
