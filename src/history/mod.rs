//! The claim history: what earlier runs accepted, for the frequency rules.
//!
//! An SQLite file (bundled, nothing to install) holds one row per accepted
//! S-code line: a keyed hash of the patient (HMAC-SHA256, never the member
//! id, name or birth date), the billing provider's NPI, the claim id, the
//! form, the code and the date of service. The key comes from
//! `SCRUB837_HISTORY_KEY` or from a key file created beside the database on
//! first use (mode 0600); the store remembers a fingerprint of it and
//! refuses another key, which would silently split every patient's history.
//!
//! A check run loads its patients' rows, decides and records inside one
//! write transaction (`BEGIN IMMEDIATE`), so two pipelines recording into one
//! store at once are serialized and cannot both accept an S0353 for the same
//! patient; a run killed at any moment leaves the store as it was before it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::grammar::Form;
use crate::policy::ScodeKind;
use crate::rules::{Accepted, Frequency, PatientHistory, ScodeRecord};

/// The environment variable that holds the history key.
pub const KEY_ENV: &str = "SCRUB837_HISTORY_KEY";

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// What went wrong with the store.
#[derive(Debug)]
pub struct HistoryError(String);

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HistoryError {}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError(format!("history store: {e}"))
    }
}

impl From<std::io::Error> for HistoryError {
    fn from(e: std::io::Error) -> Self {
        HistoryError(format!("history store: {e}"))
    }
}

type Result<T> = std::result::Result<T, HistoryError>;

/// An open history store.
#[derive(Debug)]
pub struct HistoryStore {
    conn: Connection,
    key: [u8; 32],
    path: PathBuf,
}

/// Counts of a store.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HistoryStats {
    /// The database file.
    pub path: String,
    /// The schema version.
    pub schema_version: i64,
    /// The fingerprint of the key in use (not the key).
    pub key_fingerprint: String,
    /// Distinct patients.
    pub patients: u64,
    /// Lines recorded.
    pub lines: u64,
    /// Lines of the initial code.
    pub initial: u64,
    /// Lines of the established code.
    pub established: u64,
}

/// One recorded line, as `history list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HistoryRow {
    /// The patient's hash (hex), the store's only name for a patient.
    pub patient: String,
    /// `initial` or `established`.
    pub code: &'static str,
    /// Date of service.
    pub date_of_service: String,
    /// `837P` or `837I`.
    pub form: &'static str,
    /// CLM01.
    pub claim_id: String,
    /// The billing provider's NPI.
    pub billing_provider: String,
}

fn kind_text(k: ScodeKind) -> &'static str {
    match k {
        ScodeKind::Initial => "initial",
        ScodeKind::Established => "established",
    }
}

fn form_text(f: Form) -> &'static str {
    f.as_str()
}

fn key_file(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    db.with_file_name(name)
}

/// Creates `path` with owner-only permissions if it does not exist.
fn create_private(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    }
}

fn load_key(db: &Path) -> Result<[u8; 32]> {
    if let Some(secret) = std::env::var_os(KEY_ENV) {
        let secret = secret.to_string_lossy().into_owned();
        if secret.len() < 16 {
            return Err(HistoryError(format!(
                "{KEY_ENV} must hold at least 16 characters"
            )));
        }
        return Ok(Sha256::digest(secret.as_bytes()).into());
    }
    let path = key_file(db);
    if let Some(mut f) = create_private(&path)? {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        use std::io::Write;
        f.write_all(&key)?;
        f.sync_all()?;
        return Ok(key);
    }
    let bytes = std::fs::read(&path)?;
    bytes.try_into().map_err(|_| {
        HistoryError(format!(
            "{}: a key file holds exactly 32 bytes",
            path.display()
        ))
    })
}

impl HistoryStore {
    /// Opens (creating if needed, mode 0600) the store at `path`, with the
    /// key from the environment or the key file beside it.
    ///
    /// # Errors
    ///
    /// I/O or SQLite errors; a store written with another key; a store of a
    /// newer schema.
    pub fn open(path: &Path) -> Result<HistoryStore> {
        let key = load_key(path)?;
        HistoryStore::open_with_key(path, key)
    }

    /// Opens the store with an explicit key.
    ///
    /// # Errors
    ///
    /// As [`HistoryStore::open`].
    pub fn open_with_key(path: &Path, key: [u8; 32]) -> Result<HistoryStore> {
        drop(create_private(path)?);
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(60))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut store = HistoryStore {
            conn,
            key,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        store.check_key()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError(format!(
                "{}: schema version {version} is newer than this scrub837 reads ({SCHEMA_VERSION})",
                self.path.display()
            )));
        }
        if version < 1 {
            tx.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE lines (
                     patient BLOB NOT NULL,
                     billing_provider TEXT NOT NULL,
                     claim_id TEXT NOT NULL,
                     form TEXT NOT NULL,
                     code TEXT NOT NULL,
                     date_of_service TEXT NOT NULL,
                     source TEXT NOT NULL,
                     PRIMARY KEY (patient, billing_provider, claim_id, form, code, date_of_service)
                 ) WITHOUT ROWID;
                 CREATE INDEX lines_claim ON lines (claim_id);
                 PRAGMA user_version = 1;",
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The fingerprint of the key: a hash that identifies it without
    /// revealing it.
    pub fn key_fingerprint(&self) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        mac.update(b"scrub837 history key fingerprint");
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn check_key(&mut self) -> Result<()> {
        let fp = self.key_fingerprint();
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'key_fingerprint'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            None => {
                self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('key_fingerprint', ?1)", params![fp])?;
                Ok(())
            }
            Some(s) if s == fp => Ok(()),
            Some(s) => Err(HistoryError(format!(
                "{}: the store was written with another key (fingerprint {s}, this key {fp}); set {KEY_ENV} or the key file back",
                self.path.display()
            ))),
        }
    }

    /// The keyed hash of a patient key.
    pub fn patient_hash(&self, patient: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        mac.update(patient.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Runs `f` inside one write transaction (`BEGIN IMMEDIATE`): reads and
    /// writes through the [`Session`] it gets are atomic and serialized with
    /// every other writer of the store.
    ///
    /// # Errors
    ///
    /// SQLite errors, or `f`'s; the transaction is rolled back then.
    pub fn with_session<T>(&mut self, f: impl FnOnce(&Session<'_>) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Session {
            tx: &tx,
            key: &self.key,
        })?;
        tx.commit()?;
        Ok(out)
    }

    /// Counts.
    ///
    /// # Errors
    ///
    /// SQLite errors.
    pub fn stats(&self) -> Result<HistoryStats> {
        let count = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(HistoryStats {
            path: self.path.display().to_string(),
            schema_version: self
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))?,
            key_fingerprint: self.key_fingerprint(),
            patients: count("SELECT COUNT(DISTINCT patient) FROM lines")?,
            lines: count("SELECT COUNT(*) FROM lines")?,
            initial: count("SELECT COUNT(*) FROM lines WHERE code = 'initial'")?,
            established: count("SELECT COUNT(*) FROM lines WHERE code = 'established'")?,
        })
    }

    /// Every recorded line, by patient hash, then date.
    ///
    /// # Errors
    ///
    /// SQLite errors.
    pub fn list(&self) -> Result<Vec<HistoryRow>> {
        let mut st = self.conn.prepare(
            "SELECT patient, code, date_of_service, form, claim_id, billing_provider FROM lines ORDER BY patient, date_of_service, code",
        )?;
        let rows = st.query_map([], |r| {
            let p: Vec<u8> = r.get(0)?;
            let code: String = r.get(1)?;
            let form: String = r.get(3)?;
            Ok(HistoryRow {
                patient: p.iter().take(8).map(|b| format!("{b:02x}")).collect(),
                code: if code == "initial" {
                    "initial"
                } else {
                    "established"
                },
                date_of_service: r.get(2)?,
                form: if form == "837I" { "837I" } else { "837P" },
                claim_id: r.get(4)?,
                billing_provider: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Removes every line of claim `claim_id` (a claim the payer denied);
    /// returns how many.
    ///
    /// # Errors
    ///
    /// SQLite errors.
    pub fn forget_claim(&mut self, claim_id: &str) -> Result<usize> {
        self.with_session(|s| {
            Ok(s.tx.execute("DELETE FROM lines WHERE claim_id = ?1", params![claim_id])?)
        })
    }
}

/// Reads and writes inside one write transaction.
#[derive(Debug)]
pub struct Session<'s> {
    tx: &'s rusqlite::Transaction<'s>,
    key: &'s [u8; 32],
}

impl Session<'_> {
    fn hash(&self, patient: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.key).expect("HMAC takes any key length");
        mac.update(patient.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The recorded lines of `patient` (a patient key), in date order.
    ///
    /// # Errors
    ///
    /// SQLite errors.
    pub fn load(&self, patient: &str) -> Result<PatientHistory> {
        let mut st = self.tx.prepare_cached(
            "SELECT code, date_of_service, form, claim_id, billing_provider FROM lines WHERE patient = ?1 ORDER BY date_of_service, code",
        )?;
        let rows = st.query_map(params![self.hash(patient)], |r| {
            let code: String = r.get(0)?;
            let date: String = r.get(1)?;
            let form: String = r.get(2)?;
            Ok((
                code,
                date,
                form,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut h = PatientHistory::default();
        for row in rows {
            let (code, date, form, claim_id, billing_provider) = row?;
            let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|_| HistoryError(format!("history store: bad date {date:?}")))?;
            h.lines.push(Accepted {
                kind: if code == "initial" {
                    ScodeKind::Initial
                } else {
                    ScodeKind::Established
                },
                date,
                form: if form == "837I" {
                    Form::Institutional
                } else {
                    Form::Professional
                },
                claim_id,
                billing_provider,
                source: "history".into(),
            });
        }
        Ok(h)
    }

    /// Records a run: first the claims that voids and replacements take
    /// out, then the accepted lines (a line already recorded is left as it
    /// is). Returns (lines removed, lines added).
    ///
    /// # Errors
    ///
    /// SQLite errors.
    pub fn record(
        &self,
        superseding: &[ScodeRecord],
        accepted: &[ScodeRecord],
    ) -> Result<(usize, usize)> {
        let mut removed = 0;
        {
            let mut del = self.tx.prepare_cached(
                "DELETE FROM lines WHERE patient = ?1 AND billing_provider = ?2 AND claim_id = ?3",
            )?;
            for r in superseding {
                removed += del.execute(params![
                    self.hash(&r.patient),
                    r.billing_provider,
                    r.claim_id
                ])?;
            }
        }
        let mut added = 0;
        let mut ins = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO lines (patient, billing_provider, claim_id, form, code, date_of_service, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for r in accepted {
            if matches!(r.frequency, Frequency::Void) {
                continue;
            }
            added += ins.execute(params![
                self.hash(&r.patient),
                r.billing_provider,
                r.claim_id,
                form_text(r.form),
                kind_text(r.kind),
                r.date.format("%Y-%m-%d").to_string(),
                // The input's file name only: a path can say too much.
                Path::new(&*r.label)
                    .file_name()
                    .map_or_else(|| r.label.to_string(), |n| n.to_string_lossy().into_owned()),
            ])?;
        }
        Ok((removed, added))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_fingerprint_guards_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        let a = HistoryStore::open_with_key(&db, [1; 32]).unwrap();
        let fp = a.key_fingerprint();
        drop(a);
        let e = HistoryStore::open_with_key(&db, [2; 32]).unwrap_err();
        assert!(e.to_string().contains(&fp), "{e}");
        assert!(HistoryStore::open_with_key(&db, [1; 32]).is_ok());
    }

    #[test]
    fn hashes_depend_on_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = HistoryStore::open_with_key(&dir.path().join("a.db"), [1; 32]).unwrap();
        let b = HistoryStore::open_with_key(&dir.path().join("b.db"), [2; 32]).unwrap();
        assert_ne!(a.patient_hash("P|M1"), b.patient_hash("P|M1"));
        assert_eq!(a.patient_hash("P|M1"), a.patient_hash("P|M1"));
        assert_eq!(key_file(Path::new("/x/h.db")), PathBuf::from("/x/h.db.key"));
    }
}
