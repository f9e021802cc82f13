//! The history store across runs: frequency rules month by month, exactly
//! once records, voids and replacements, no PHI at rest, crashes and
//! concurrent writers.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::synth::{interchange, Claim, Line};
use crate::util::{bin, data, s, stderr, stdout};

fn fixture(name: &str) -> PathBuf {
    data(&format!("rules/{name}"))
}

/// `check --history DB [--record] FILE...` as JSON: (exit code, rules hit).
fn check(db: &Path, record: bool, files: &[&Path]) -> (Option<i32>, Vec<String>) {
    let mut cmd = bin();
    cmd.args(["check", "--format", "json", "--history", s(db)]);
    if record {
        cmd.arg("--record");
    }
    cmd.args(files).env_remove("SCRUB837_HISTORY_KEY");
    let out = cmd.output().unwrap();
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let rules = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    (out.status.code(), rules)
}

fn stats(db: &Path) -> Value {
    let out = bin()
        .args(["history", "stats", "--format", "json", "--history", s(db)])
        .env_remove("SCRUB837_HISTORY_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn claim_ids(db: &Path) -> Vec<String> {
    let out = bin()
        .args(["history", "list", "--format", "json", "--history", s(db)])
        .env_remove("SCRUB837_HISTORY_KEY")
        .output()
        .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .map(|r| r["claim_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn month_by_month_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    assert_eq!(
        check(&db, true, &[&fixture("hist-s0353-jan01.edi")]),
        (Some(0), vec![])
    );
    // 29 days later: fires, and the denied line is not recorded.
    assert_eq!(
        check(&db, true, &[&fixture("hist-s0354-jan30.edi")]).1,
        ["s0354-after-s0353"]
    );
    // 30 days later: allowed.
    assert_eq!(
        check(&db, true, &[&fixture("hist-s0354-jan31.edi")]),
        (Some(0), vec![])
    );
    assert_eq!(claim_ids(&db), ["H1", "H3"]);
    assert_eq!(stats(&db)["lines"], 2);
}

#[test]
fn the_twelfth_s0354_fires_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    assert_eq!(
        check(&db, true, &[&fixture("s0354-eleven.edi")]),
        (Some(0), vec![])
    );
    assert_eq!(stats(&db)["established"], 11);
    assert_eq!(
        check(&db, true, &[&fixture("hist-s0354-twelfth.edi")]).1,
        ["s0354-cap"]
    );
    assert_eq!(stats(&db)["established"], 11);
}

#[test]
fn recording_twice_stores_once_and_a_retry_is_not_a_second_billing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let f = fixture("hist-s0353-jan01.edi");
    assert_eq!(check(&db, true, &[&f]), (Some(0), vec![]));
    assert_eq!(check(&db, true, &[&f]), (Some(0), vec![]));
    assert_eq!(check(&db, true, &[&f, &f]), (Some(0), vec![]));
    assert_eq!(stats(&db)["lines"], 1);
    // Another S0353 for the patient is a second one.
    assert_eq!(
        check(&db, false, &[&fixture("hist-s0353-feb15.edi")]).1,
        ["s0353-once"]
    );
}

#[test]
fn voids_remove_and_replacements_replace() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    check(&db, true, &[&fixture("hist-s0353-jan01.edi")]);
    // The void of H1 and a new S0353 in a later run: no second S0353.
    assert_eq!(
        check(
            &db,
            true,
            &[
                &fixture("hist-void-h1.edi"),
                &fixture("hist-s0353-feb15.edi")
            ]
        ),
        (Some(0), vec![])
    );
    assert_eq!(claim_ids(&db), ["H4"]);
    let db2 = dir.path().join("h2.db");
    check(&db2, true, &[&fixture("hist-s0353-jan01.edi")]);
    assert_eq!(
        check(&db2, true, &[&fixture("hist-replace-h1.edi")]),
        (Some(0), vec![])
    );
    let out = bin()
        .args(["history", "list", "--format", "json", "--history", s(&db2)])
        .output()
        .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["date_of_service"], "2024-01-02",
        "the replacement's line replaced the original's"
    );
    // forget: a denied claim leaves the history.
    let out = bin()
        .args(["history", "forget", "--claim", "H1", "--history", s(&db2)])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("forgot 1 line(s)"));
    assert_eq!(stats(&db2)["lines"], 0);
}

#[test]
fn no_phi_at_rest_and_owner_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    check(
        &db,
        true,
        &[
            &fixture("hist-s0353-jan01.edi"),
            &fixture("s0353-dependent-same-member.edi"),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    for f in [db.clone(), dir.path().join("h.db.key")] {
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.display()
        );
    }
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    for phi in [
        "M300", "M100", "CHEN", "ALVAREZ", "TOMAS", "19700121", "20100404",
    ] {
        assert!(
            !bytes.windows(phi.len()).any(|w| w == phi.as_bytes()),
            "{phi} is in the store"
        );
    }
    assert_eq!(stats(&db)["patients"], 2);
}

#[test]
fn another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let run = |key: &str| {
        bin()
            .args([
                "check",
                "--history",
                s(&db),
                "--record",
                s(&fixture("hist-s0353-jan01.edi")),
            ])
            .env("SCRUB837_HISTORY_KEY", key)
            .output()
            .unwrap()
    };
    assert_eq!(run("a secret of sixteen+ chars").status.code(), Some(0));
    let out = run("another secret, also long");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("another key"), "{}", stderr(&out));
    assert!(
        !dir.path().join("h.db.key").exists(),
        "no key file when the key comes from the environment"
    );
}

/// Starts `check --record` of `file` into `db`, output piped.
fn record_in_background(db: &Path, file: &Path) -> std::process::Child {
    bin()
        .args([
            "check",
            "--format",
            "json",
            "--history",
            s(db),
            "--record",
            s(file),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `n` claims, one S0353 each, for distinct patients (member ids with
/// `prefix`).
fn many_patients(n: usize, prefix: char) -> String {
    let claims: Vec<Claim> = (0..n)
        .map(|i| Claim {
            id: format!("{prefix}{i}"),
            frequency: '1',
            lines: vec![Line {
                code: Some("S0353"),
                cents: 30000,
                revenue: "0960",
            }],
            other_payer_paid: false,
        })
        .collect();
    interchange('P', &claims).replace("*MI*M", &format!("*MI*{prefix}"))
}

#[test]
fn a_killed_recording_leaves_the_store_whole() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.edi");
    std::fs::write(&input, many_patients(3000, 'K')).unwrap();
    for (round, delay_ms) in [5u64, 40, 120, 250, 400, 700].into_iter().enumerate() {
        let db = dir.path().join(format!("h{round}.db"));
        let mut child = bin()
            .args([
                "check",
                "--format",
                "json",
                "--history",
                s(&db),
                "--record",
                s(&input),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if !db.exists() {
            continue; // killed before the store was created
        }
        let lines = stats(&db)["lines"].as_u64().unwrap();
        assert!(
            lines == 0 || lines == 3000,
            "round {round}: {lines} lines, half a run"
        );
        let conn = rusqlite::Connection::open(&db).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "round {round}");
    }
}

#[test]
fn two_pipelines_record_at_once_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let a = dir.path().join("a.edi");
    let b = dir.path().join("b.edi");
    std::fs::write(&a, many_patients(10_000, 'A')).unwrap();
    std::fs::write(&b, many_patients(10_000, 'B')).unwrap();
    // Create the store (and its key) first, as a deployment would.
    assert_eq!(stats(&db)["lines"], 0);
    let (pa, pb) = (record_in_background(&db, &a), record_in_background(&db, &b));
    let (oa, ob) = (
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    );
    assert_eq!(
        oa.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&oa.stderr)
    );
    assert_eq!(
        ob.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ob.stderr)
    );
    assert_eq!(stats(&db)["lines"], 20_000);
}

#[test]
fn two_runs_racing_for_one_s0353_exactly_one_wins() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        assert_eq!(stats(&db)["lines"], 0);
        let (pa, pb) = (
            record_in_background(&db, &fixture("s0353-jan.edi")),
            record_in_background(&db, &fixture("s0353-again-mar.edi")),
        );
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        let codes = [oa.status.code(), ob.status.code()];
        assert!(
            codes.contains(&Some(0)) && codes.contains(&Some(1)),
            "round {round}: {codes:?}"
        );
        let loser = if oa.status.code() == Some(1) {
            &oa
        } else {
            &ob
        };
        assert!(String::from_utf8_lossy(&loser.stdout).contains("s0353-once"));
        assert_eq!(stats(&db)["initial"], 1, "round {round}");
    }
}

#[test]
fn import_loads_past_claims_without_rules() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let out = bin()
        .args([
            "history",
            "import",
            "--history",
            s(&db),
            s(&fixture("standalone-mixed.edi")),
            s(&fixture("hist-s0353-jan01.edi")),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported 2 line(s)"));
    // Billed before: a later S0353 for M300 is a second one.
    assert_eq!(
        check(&db, false, &[&fixture("hist-s0353-feb15.edi")]).1,
        ["s0353-once"]
    );
}
