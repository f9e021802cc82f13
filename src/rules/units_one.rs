//! `units-one`: a flat fee is one unit.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};
use crate::grammar::Form;

/// Fires for each S-code line whose unit count is not exactly 1.
pub fn units_one(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    let element = match c.claim.transaction().form {
        Form::Institutional => "SV2-05",
        _ => "SV1-04",
    };
    for s in &c.scodes {
        if s.line.units.is_some_and(|u| u.is_units(1)) {
            continue;
        }
        let shown = s
            .line
            .units
            .map_or_else(|| "none".to_string(), |u| u.to_string());
        out.push(
            c.line_finding(
                RuleId::UnitsOne,
                ctx.policy,
                s,
                "the S-code line does not bill exactly one unit",
            )
            .with_element(element)
            .with_value(shown),
        );
    }
}
