//! `auth-unknown`: the authorization number is one Carelon approved.

use super::{ClaimContext, ClaimFacts};
use crate::finding::{Finding, RuleId};

/// Fires for each S-code line whose authorization number is not in the
/// authorization file (only when one is given).
pub fn auth_unknown(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    let Some(auths) = ctx.authorizations else {
        return;
    };
    for s in &c.scodes {
        let Some(number) = s.authorization else {
            continue;
        };
        if auths.get(number).is_empty() {
            out.push(
                c.line_finding(
                    RuleId::AuthUnknown,
                    ctx.policy,
                    s,
                    "the authorization number is not in the authorization file",
                )
                .with_element("REF02")
                .with_value(String::from_utf8_lossy(number)),
            );
        }
    }
}
