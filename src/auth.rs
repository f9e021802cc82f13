//! Prior authorizations (Carelon approvals), read from CSV or JSON.
//!
//! CSV has a header row with at least `auth_number,member_id,valid_from,
//! valid_to` (any order, extra columns allowed); JSON is an array of objects
//! with the same keys. Dates are `YYYY-MM-DD`. Numbers and member ids are
//! matched ignoring case and blanks.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

/// One approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The number, normalized (upper case, no blanks).
    pub number: String,
    /// The member id it was approved for, normalized.
    pub member_id: String,
    /// First valid date, inclusive.
    pub valid_from: NaiveDate,
    /// Last valid date, inclusive.
    pub valid_to: NaiveDate,
}

/// Why an authorization file was refused.
#[derive(Debug)]
pub struct AuthError(String);

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthError {}

#[derive(Deserialize)]
struct Row {
    auth_number: String,
    member_id: String,
    valid_from: String,
    valid_to: String,
}

/// Normalizes a number or member id for matching: upper case, no blanks.
pub fn normalize(v: &[u8]) -> String {
    v.iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase() as char)
        .collect()
}

/// The approvals, by number.
///
/// ```
/// use scrub837::auth::Authorizations;
/// let a = Authorizations::from_csv("auth_number,member_id,valid_from,valid_to,notes\nCRL-1, xyz1 ,2024-01-01,2024-06-30,ok\n".as_bytes()).unwrap();
/// let found = a.get(b"crl-1")[0];
/// assert_eq!(found.member_id, "XYZ1");
/// assert!(a.get(b"CRL-2").is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Authorizations {
    by_number: HashMap<String, Vec<Authorization>>,
}

impl Authorizations {
    /// The approvals recorded under `number` (a number may be listed more
    /// than once, e.g. renewed with new dates).
    pub fn get(&self, number: &[u8]) -> Vec<&Authorization> {
        self.by_number
            .get(&normalize(number))
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    /// How many approvals.
    pub fn len(&self) -> usize {
        self.by_number.values().map(Vec::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }

    fn add(&mut self, row: Row, at: &dyn Fn() -> String) -> Result<(), AuthError> {
        let date = |key: &str, v: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| AuthError(format!("{}: {key} {v:?} is not a YYYY-MM-DD date", at())))
        };
        let valid_from = date("valid_from", &row.valid_from)?;
        let valid_to = date("valid_to", &row.valid_to)?;
        if valid_to < valid_from {
            return Err(AuthError(format!(
                "{}: valid_to is before valid_from",
                at()
            )));
        }
        let number = normalize(row.auth_number.as_bytes());
        if number.is_empty() {
            return Err(AuthError(format!("{}: auth_number is empty", at())));
        }
        self.by_number
            .entry(number.clone())
            .or_default()
            .push(Authorization {
                number,
                member_id: normalize(row.member_id.as_bytes()),
                valid_from,
                valid_to,
            });
        Ok(())
    }

    /// Reads CSV with a header row.
    ///
    /// # Errors
    ///
    /// A missing column, a bad date, or bad CSV, naming the row.
    pub fn from_csv(rdr: impl std::io::Read) -> Result<Authorizations, AuthError> {
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(rdr);
        let headers = csv
            .headers()
            .map_err(|e| AuthError(format!("cannot read the header row: {e}")))?
            .clone();
        for key in ["auth_number", "member_id", "valid_from", "valid_to"] {
            if !headers.iter().any(|h| h == key) {
                return Err(AuthError(format!(
                    "the header row lacks the column `{key}`"
                )));
            }
        }
        let mut out = Authorizations::default();
        for (i, rec) in csv.deserialize::<Row>().enumerate() {
            let line = i + 2;
            let row = rec.map_err(|e| AuthError(format!("row {line}: {e}")))?;
            out.add(row, &|| format!("row {line}"))?;
        }
        Ok(out)
    }

    /// Reads a JSON array of objects.
    ///
    /// # Errors
    ///
    /// Bad JSON, a missing key or a bad date, naming the entry.
    pub fn from_json(rdr: impl std::io::Read) -> Result<Authorizations, AuthError> {
        let rows: Vec<serde_json::Value> = serde_json::from_reader(rdr)
            .map_err(|e| AuthError(format!("not a JSON array of objects: {e}")))?;
        let mut out = Authorizations::default();
        for (i, v) in rows.into_iter().enumerate() {
            let row: Row = serde_json::from_value(v)
                .map_err(|e| AuthError(format!("entry {}: {e}", i + 1)))?;
            out.add(row, &|| format!("entry {}", i + 1))?;
        }
        Ok(out)
    }

    /// Reads a file: JSON when it starts with `[` (after blanks), else CSV.
    ///
    /// # Errors
    ///
    /// I/O errors and the errors of the two formats, prefixed by the path.
    pub fn from_path(path: &Path) -> Result<Authorizations, AuthError> {
        let bytes =
            std::fs::read(path).map_err(|e| AuthError(format!("{}: {e}", path.display())))?;
        let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        let r = if json {
            Authorizations::from_json(&bytes[..])
        } else {
            Authorizations::from_csv(&bytes[..])
        };
        r.map_err(|e| AuthError(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_agree() {
        let csv = "member_id,auth_number,valid_from,valid_to\nM1,A1,2024-01-01,2024-03-31\n";
        let json = r#"[{"auth_number":"a1","member_id":"m 1","valid_from":"2024-01-01","valid_to":"2024-03-31","extra":1}]"#;
        let a = Authorizations::from_csv(csv.as_bytes()).unwrap();
        let b = Authorizations::from_json(json.as_bytes()).unwrap();
        assert_eq!(a.get(b"A1"), b.get(b"A1"));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn errors_name_the_row() {
        let e = Authorizations::from_csv(
            "auth_number,member_id,valid_from,valid_to\nA,M,2024-13-01,2024-01-01\n".as_bytes(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("row 2: valid_from"), "{e}");
        let e =
            Authorizations::from_csv("auth_number,member_id,valid_from\n".as_bytes()).unwrap_err();
        assert!(e.to_string().contains("valid_to"), "{e}");
        let e = Authorizations::from_json(r#"[{"auth_number":"A"}]"#.as_bytes()).unwrap_err();
        assert!(e.to_string().starts_with("entry 1"), "{e}");
        let e = Authorizations::from_csv(
            "auth_number,member_id,valid_from,valid_to\nA,M,2024-02-01,2024-01-01\n".as_bytes(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("before"), "{e}");
    }
}
