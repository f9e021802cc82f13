//! `auth-member-mismatch`: the authorization was approved for this member.

use super::{ClaimContext, ClaimFacts};
use crate::auth::normalize;
use crate::finding::{Finding, RuleId};

/// Fires for each S-code line whose authorization is on file for another
/// member id than the subscriber's (2010BA NM109), also for a dependent.
pub fn auth_member_mismatch(
    c: &ClaimFacts<'_, '_>,
    ctx: &ClaimContext<'_>,
    out: &mut Vec<Finding>,
) {
    let Some(auths) = ctx.authorizations else {
        return;
    };
    let member = normalize(c.claim.subscriber().member_id);
    for s in &c.scodes {
        let Some(number) = s.authorization else {
            continue;
        };
        let found = auths.get(number);
        if found.is_empty() || found.iter().any(|a| a.member_id == member) {
            continue;
        }
        out.push(
            c.line_finding(
                RuleId::AuthMemberMismatch,
                ctx.policy,
                s,
                "the authorization on file belongs to another member",
            )
            .with_element("NM1-09")
            .with_phi_value(String::from_utf8_lossy(c.claim.subscriber().member_id)),
        );
    }
}
