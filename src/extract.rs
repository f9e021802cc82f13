//! The S-code service lines as rows, for a billing office's spreadsheet.

use std::sync::Arc;

use serde::Serialize;

use crate::model::Transaction;
use crate::policy::Policy;

/// One S-code service line. No PHI: claims are named by CLM01.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScodeRow {
    /// The input path as given.
    pub file: Arc<str>,
    /// CLM01.
    pub claim_id: String,
    /// `837P` or `837I`.
    pub form: &'static str,
    /// The S-code.
    pub code: String,
    /// The procedure modifiers, joined with `:`.
    pub modifiers: String,
    /// SV201 (837I).
    pub revenue_code: String,
    /// SV102 or SV203.
    pub charge: String,
    /// SV104 or SV205.
    pub units: String,
    /// The date of service, `YYYY-MM-DD` (DTP*472, else 837I DTP*434).
    pub date_of_service: String,
    /// REF*G1 of the line, else of the claim.
    pub authorization: String,
    /// CLM05-3.
    pub frequency: String,
    /// The service segment's position in the file.
    pub segment: u64,
}

/// Appends the S-code lines of `tx` (in the policy's scope) to `out`.
///
/// ```
/// use scrub837::{extract::scode_rows, policy::Policy, scan::Scanner};
/// let mut rows = Vec::new();
/// Scanner::new().scan(&include_bytes!("../samples/837i-scode-standalone.edi")[..], "a.edi", &mut |_| {}, &mut |tx| {
///     scode_rows(tx, Policy::default_policy(), &"a.edi".into(), &mut rows);
/// }).unwrap();
/// assert_eq!(rows.len(), 2);
/// assert_eq!(rows[0].revenue_code, "0960");
/// ```
pub fn scode_rows(
    tx: &Transaction<'_>,
    policy: &Policy,
    label: &Arc<str>,
    out: &mut Vec<ScodeRow>,
) {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    for claim in tx.claims() {
        if !policy.in_scope(claim.subscriber().payer_id) {
            continue;
        }
        for line in claim.lines() {
            let Some(p) = line.procedure else { continue };
            let Some(kind) = policy.scode(p.qualifier, p.code) else {
                continue;
            };
            out.push(ScodeRow {
                file: label.clone(),
                claim_id: text(claim.id),
                form: tx.form.as_str(),
                code: policy.code(kind).to_string(),
                modifiers: p.modifiers().map(text).collect::<Vec<_>>().join(":"),
                revenue_code: line.revenue_code.map(text).unwrap_or_default(),
                charge: line.charge.map(|a| a.to_string()).unwrap_or_default(),
                units: line.units.map(|a| a.to_string()).unwrap_or_default(),
                date_of_service: claim
                    .service_date(line)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                authorization: line
                    .prior_authorization
                    .or(claim.prior_authorization)
                    .map(text)
                    .unwrap_or_default(),
                frequency: text(claim.frequency),
                segment: line.service_position.segment,
            });
        }
    }
}
