//! The payer policy: every number and code the S-code rules use.
//!
//! The default is the program's own (`policy/default.toml`, embedded); a
//! payer with a similar program is served by another file in the same
//! format. A policy is identified in reports by its name and the SHA-256 of
//! its text.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::report::PolicyInfo;

/// The embedded default policy text.
pub const DEFAULT_POLICY: &str = include_str!("../policy/default.toml");

/// Why a policy file was refused; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    codes: Codes,
    institutional_revenue_code: String,
    #[serde(default)]
    retired_revenue_codes: Vec<String>,
    min_interval_days: u32,
    max_established_per_episode: u32,
    #[serde(default)]
    filing_limit_days: u32,
    #[serde(default)]
    payer_ids: Vec<String>,
}

/// The two S-codes of the program.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    /// The initial (onset of treatment) code, `S0353`.
    pub initial: String,
    /// The established-patient code, `S0354`.
    pub established: String,
}

/// Which of the program's codes a line carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ScodeKind {
    /// The initial code (S0353): sorts before the established one on a date.
    Initial,
    /// The established code (S0354).
    Established,
}

/// A checked policy.
///
/// ```
/// use scrub837::policy::Policy;
/// let p = Policy::default_policy();
/// assert_eq!(p.codes.initial, "S0353");
/// assert_eq!(p.min_interval_days, 30);
/// let e = Policy::from_toml("name = \"x\"\ncodes = { initial = \"S0353\", established = \"S0354\" }\ninstitutional_revenue_code = \"960\"\nmin_interval_days = 30\nmax_established_per_episode = 11\n").unwrap_err();
/// assert!(e.to_string().contains("institutional_revenue_code"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The program's name.
    pub name: String,
    /// The S-codes.
    pub codes: Codes,
    /// The revenue code of an 837I S-code line (`0960`).
    pub institutional_revenue_code: String,
    /// Revenue codes once instructed and now wrong (`0980`).
    pub retired_revenue_codes: Vec<String>,
    /// Days that must pass between S0354s, and from S0353 to S0354.
    pub min_interval_days: u32,
    /// Most S0354 lines per episode.
    pub max_established_per_episode: u32,
    /// Filing limit in days after the date of service; 0: not checked.
    pub filing_limit_days: u32,
    /// Payer ids in scope (upper-cased, trimmed); empty: all.
    pub payer_ids: Vec<String>,
    sha256: String,
}

fn is_revenue_code(v: &str) -> bool {
    v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit())
}

impl Policy {
    /// The embedded default policy.
    pub fn default_policy() -> &'static Policy {
        static CELL: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
        CELL.get_or_init(|| {
            Policy::from_toml(DEFAULT_POLICY).expect("the embedded policy is valid")
        })
    }

    /// Reads and checks a policy in TOML.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the key that is missing, unknown or wrong.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| {
            // Name the key and line the error is at: toml's message names
            // unknown and missing keys, but not the key of a wrong value.
            let at = e.span().map(|span| {
                let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
                let line_no = text[..span.start].matches('\n').count() + 1;
                let line = &text[line_start..];
                let key = line.split(['=', '\n']).next().unwrap_or("").trim();
                format!(" (line {line_no}, key `{key}`)")
            });
            PolicyError(format!(
                "invalid policy: {}{}",
                e.message().trim(),
                at.unwrap_or_default()
            ))
        })?;
        let err =
            |key: &str, what: &str| Err(PolicyError(format!("invalid policy: key `{key}` {what}")));
        let code_ok = |c: &str| c.len() == 5 && c.bytes().all(|b| b.is_ascii_alphanumeric());
        if f.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if !code_ok(f.codes.initial.trim()) {
            return err("codes.initial", "must be a 5-character HCPCS code");
        }
        if !code_ok(f.codes.established.trim()) {
            return err("codes.established", "must be a 5-character HCPCS code");
        }
        if f.codes
            .initial
            .trim()
            .eq_ignore_ascii_case(f.codes.established.trim())
        {
            return err("codes.established", "must differ from codes.initial");
        }
        if !is_revenue_code(&f.institutional_revenue_code) {
            return err(
                "institutional_revenue_code",
                "must be four digits, e.g. \"0960\"",
            );
        }
        if let Some(bad) = f.retired_revenue_codes.iter().find(|c| !is_revenue_code(c)) {
            return err(
                "retired_revenue_codes",
                &format!("holds {bad:?}, not four digits"),
            );
        }
        if f.retired_revenue_codes
            .contains(&f.institutional_revenue_code)
        {
            return err(
                "retired_revenue_codes",
                "must not hold institutional_revenue_code",
            );
        }
        if f.min_interval_days == 0 {
            return err("min_interval_days", "must be at least 1");
        }
        if f.max_established_per_episode == 0 {
            return err("max_established_per_episode", "must be at least 1");
        }
        let sha256 = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Policy {
            name: f.name.trim().to_string(),
            codes: Codes {
                initial: f.codes.initial.trim().to_ascii_uppercase(),
                established: f.codes.established.trim().to_ascii_uppercase(),
            },
            institutional_revenue_code: f.institutional_revenue_code,
            retired_revenue_codes: f.retired_revenue_codes,
            min_interval_days: f.min_interval_days,
            max_established_per_episode: f.max_established_per_episode,
            filing_limit_days: f.filing_limit_days,
            payer_ids: f
                .payer_ids
                .iter()
                .map(|p| p.trim().to_ascii_uppercase())
                .collect(),
            sha256,
        })
    }

    /// The S-code a procedure (qualifier, code) is, if any: qualifier `HC`
    /// and one of the program's codes, ignoring case and blanks.
    pub fn scode(&self, qualifier: &[u8], code: &[u8]) -> Option<ScodeKind> {
        if !qualifier.trim_ascii().eq_ignore_ascii_case(b"HC") {
            return None;
        }
        let code = code.trim_ascii();
        if code.eq_ignore_ascii_case(self.codes.initial.as_bytes()) {
            Some(ScodeKind::Initial)
        } else if code.eq_ignore_ascii_case(self.codes.established.as_bytes()) {
            Some(ScodeKind::Established)
        } else {
            None
        }
    }

    /// The code text of a kind.
    pub fn code(&self, kind: ScodeKind) -> &str {
        match kind {
            ScodeKind::Initial => &self.codes.initial,
            ScodeKind::Established => &self.codes.established,
        }
    }

    /// Whether a claim to `payer_id` is in the program's scope.
    pub fn in_scope(&self, payer_id: &[u8]) -> bool {
        self.payer_ids.is_empty()
            || self
                .payer_ids
                .iter()
                .any(|p| p.as_bytes().eq_ignore_ascii_case(payer_id.trim_ascii()))
    }

    /// Name and hash, for reports.
    pub fn info(&self) -> PolicyInfo {
        PolicyInfo {
            name: self.name.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl Fn(String) -> String) -> Result<Policy, PolicyError> {
        Policy::from_toml(&edit(DEFAULT_POLICY.to_string()))
    }

    #[test]
    fn default_policy_reads() {
        let p = Policy::default_policy();
        assert_eq!(p.institutional_revenue_code, "0960");
        assert_eq!(p.retired_revenue_codes, ["0980"]);
        assert_eq!(p.max_established_per_episode, 11);
        assert_eq!(p.info().sha256.len(), 64);
        assert!(p.in_scope(b"ANY"));
        assert_eq!(p.scode(b"hc", b" s0353 "), Some(ScodeKind::Initial));
        assert_eq!(p.scode(b"HC", b"S0354"), Some(ScodeKind::Established));
        assert_eq!(p.scode(b"ER", b"S0354"), None);
        assert_eq!(p.scode(b"HC", b"96413"), None);
    }

    #[test]
    fn bad_policies_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "min_interval_days = 30",
                "min_interval_days = 0",
                "min_interval_days",
            ),
            (
                "min_interval_days = 30",
                "min_interval_days = \"thirty\"",
                "min_interval_days",
            ),
            ("name = \"BCBSMA Quality Care Cancer Program\"", "", "name"),
            (
                "payer_ids = []",
                "payer_ids = []\nfiling_limit = 90",
                "filing_limit",
            ),
            (
                "retired_revenue_codes = [\"0980\"]",
                "retired_revenue_codes = [\"98\"]",
                "retired_revenue_codes",
            ),
            (
                "established = \"S0354\"",
                "established = \"S0353\"",
                "codes.established",
            ),
        ];
        for (from, to, key) in cases {
            let e = with(|t| t.replace(from, to)).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn payer_scope_and_hash_follow_the_text() {
        let p = with(|t| t.replace("payer_ids = []", "payer_ids = [\" bcbsma \"]")).unwrap();
        assert!(p.in_scope(b"BCBSMA"));
        assert!(!p.in_scope(b"OTHER"));
        assert_ne!(p.info().sha256, Policy::default_policy().info().sha256);
    }
}
