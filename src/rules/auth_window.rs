//! `auth-window`: the date of service is inside the authorization's dates.

use super::{ClaimContext, ClaimFacts};
use crate::auth::normalize;
use crate::finding::{Finding, RuleId};

/// Fires for each dated S-code line whose authorization (for this member)
/// does not cover its date; valid dates are inclusive.
pub fn auth_window(c: &ClaimFacts<'_, '_>, ctx: &ClaimContext<'_>, out: &mut Vec<Finding>) {
    let Some(auths) = ctx.authorizations else {
        return;
    };
    let member = normalize(c.claim.subscriber().member_id);
    for s in &c.scodes {
        let (Some(number), Some(date)) = (s.authorization, s.date) else {
            continue;
        };
        let mine: Vec<_> = auths
            .get(number)
            .into_iter()
            .filter(|a| a.member_id == member)
            .collect();
        if mine.is_empty()
            || mine
                .iter()
                .any(|a| a.valid_from <= date && date <= a.valid_to)
        {
            continue;
        }
        let spans: Vec<String> = mine
            .iter()
            .map(|a| {
                format!(
                    "{} to {}",
                    a.valid_from.format("%Y-%m-%d"),
                    a.valid_to.format("%Y-%m-%d")
                )
            })
            .collect();
        out.push(
            c.line_finding(
                RuleId::AuthWindow,
                ctx.policy,
                s,
                format!(
                    "the date of service is outside the authorization's valid dates ({})",
                    spans.join(", ")
                ),
            )
            .with_element("DTP03")
            .with_value(date.format("%Y-%m-%d").to_string()),
        );
    }
}
