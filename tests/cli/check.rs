//! `scrub837 check`: every rule fires where it must and stays quiet where
//! it must not, with the boundary cases of the policy.

use serde_json::Value;

use crate::util::{run, s, sample, stdout};

fn rules(file: &str) -> String {
    crate::util::data(&format!("rules/{file}"))
        .display()
        .to_string()
}

struct Report {
    code: Option<i32>,
    json: Value,
}

impl Report {
    fn findings(&self) -> &Vec<Value> {
        self.json["findings"].as_array().expect("findings")
    }

    /// (rule, claim id) of every policy finding, in report order.
    fn hits(&self) -> Vec<(String, String)> {
        self.findings()
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["claim_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn count(&self, rule: &str) -> usize {
        self.findings().iter().filter(|f| f["rule"] == rule).count()
    }

    fn only(&self, rule: &str) -> &Value {
        let hits: Vec<&Value> = self
            .findings()
            .iter()
            .filter(|f| f["rule"] == rule)
            .collect();
        assert_eq!(hits.len(), 1, "{:#?}", self.findings());
        hits[0]
    }
}

fn check(args: &[&str]) -> Report {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    Report {
        code: out.status.code(),
        json,
    }
}

fn check_files(files: &[&str]) -> Report {
    let paths: Vec<String> = files.iter().map(|f| rules(f)).collect();
    check(&paths.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn standalone_claim_fires_on_mixed_claims_only() {
    let r = check_files(&["standalone-mixed.edi"]);
    assert_eq!(
        r.hits(),
        [("standalone-claim".to_string(), "MIX1".to_string())]
    );
    let f = r.only("standalone-claim");
    assert_eq!(f["code"], "S0353");
    assert!(f["line"].is_null(), "a claim-level finding");
    assert_eq!(r.code, Some(1));
    let quiet = check_files(&["standalone-alone.edi"]);
    assert!(quiet.hits().is_empty(), "{:?}", quiet.hits());
    assert_eq!(quiet.code, Some(0));
    // An 837I line with a revenue code and no procedure is another service.
    assert_eq!(
        check_files(&["standalone-837i-revenue-only-line.edi"]).count("standalone-claim"),
        1
    );
}

#[test]
fn two_scodes_on_one_claim_is_one_scode_per_claim_not_standalone() {
    let r = check_files(&["two-scodes-one-claim.edi"]);
    assert_eq!(r.count("one-scode-per-claim"), 1);
    assert_eq!(r.count("standalone-claim"), 0);
    assert_eq!(r.only("one-scode-per-claim")["severity"], "warning");
    assert!(
        r.only("one-scode-per-claim")["code"].is_null(),
        "two codes: no single code"
    );
}

#[test]
fn revenue_codes() {
    let r = check_files(&["revenue-0510-and-960.edi"]);
    let values: Vec<&str> = r
        .findings()
        .iter()
        .filter(|f| f["rule"] == "revenue-code-0960")
        .map(|f| f["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["0510", "960"], "three digits are not 0960");
    assert!(r
        .findings()
        .iter()
        .all(|f| f["element"] == "SV2-01" && f["line"] == 1));
    let legacy = check_files(&["revenue-0980.edi"]);
    assert_eq!(
        legacy.hits(),
        [("legacy-revenue-0980".to_string(), "LEG1".to_string())]
    );
    assert!(check_files(&["revenue-0960.edi"]).hits().is_empty());
}

#[test]
fn s0353_once_across_files_and_patients() {
    let r = check_files(&["s0353-jan.edi", "s0353-again-mar.edi"]);
    assert_eq!(r.hits(), [("s0353-once".to_string(), "ONC2".to_string())]);
    assert!(r.only("s0353-once")["message"]
        .as_str()
        .unwrap()
        .contains("ONC1"));
    // Given in reverse order, the March line is still the second.
    let rev = check_files(&["s0353-again-mar.edi", "s0353-jan.edi"]);
    assert_eq!(rev.hits(), [("s0353-once".to_string(), "ONC2".to_string())]);
    // A dependent under the same member id is another patient.
    assert!(
        check_files(&["s0353-jan.edi", "s0353-dependent-same-member.edi"])
            .hits()
            .is_empty()
    );
    // The same file twice is a retry, not a second billing.
    assert!(check_files(&["s0353-jan.edi", "s0353-jan.edi"])
        .hits()
        .is_empty());
}

#[test]
fn s0353_after_an_s0354_is_not_onset() {
    let r = check_files(&["s0354-then-s0353.edi"]);
    assert_eq!(
        r.hits(),
        [("s0353-not-onset".to_string(), "ONS2".to_string())]
    );
}

#[test]
fn s0354_after_s0353_29_vs_30_days() {
    let r = check_files(&["s0354-29-days-after-s0353.edi"]);
    let f = r.only("s0354-after-s0353");
    assert_eq!(f["claim_id"], "A2");
    assert_eq!(f["code"], "S0354");
    assert_eq!(f["line"], 1);
    assert_eq!(f["value"], "2024-01-30");
    assert!(f["action"].as_str().unwrap().contains("2024-01-31"), "{f}");
    assert!(check_files(&["s0354-30-days-after-s0353.edi"])
        .hits()
        .is_empty());
}

#[test]
fn s0354_interval_29_vs_30_days() {
    // S0353 01-01, S0354 02-01, 03-01 (29 days: fires), 03-02 (30 days after 02-01: allowed).
    let r = check_files(&["s0354-interval-29-and-30.edi"]);
    assert_eq!(r.hits(), [("s0354-interval".to_string(), "I3".to_string())]);
}

#[test]
fn s0354_cap_11th_and_12th() {
    assert!(check_files(&["s0354-eleven.edi"]).hits().is_empty());
    let r = check_files(&["s0354-twelve.edi"]);
    assert_eq!(r.hits(), [("s0354-cap".to_string(), "CAP12".to_string())]);
}

#[test]
fn form_exclusive_fires_once_on_the_later_line() {
    let r = check_files(&["form-p-jun3.edi", "form-i-jun3.edi"]);
    assert_eq!(
        r.hits(),
        [("form-exclusive".to_string(), "FI1".to_string())]
    );
    // Not also an interval rule for the same pair.
    assert_eq!(r.findings().len(), 1);
    assert!(r.only("form-exclusive")["message"]
        .as_str()
        .unwrap()
        .contains("FP1"));
    // Another date is no duplicate (but is an interval violation).
    let other = check_files(&["form-p-jun3.edi", "form-i-jun4.edi"]);
    assert_eq!(other.count("form-exclusive"), 0);
    assert_eq!(other.count("s0354-interval"), 1);
}

#[test]
fn authorizations() {
    let csv = rules("auth.csv");
    let json = rules("auth.json");
    // No number: a warning, once per claim; with a file, only auth-missing.
    let r = check(&["--auth", &csv, &rules("auth-none.edi")]);
    assert_eq!(r.hits(), [("auth-missing".to_string(), "AN1".to_string())]);
    assert_eq!(r.code, Some(0), "a warning alone passes");
    assert_eq!(
        check(&["--deny", "warnings", &rules("auth-none.edi")]).code,
        Some(1)
    );
    // A line-level REF*G1 counts; case and blanks are ignored.
    assert!(check(&["--auth", &csv, &rules("auth-line-level.edi")])
        .hits()
        .is_empty());
    for file in [&csv, &json] {
        assert!(
            check(&["--auth", file, &rules("auth-known.edi")])
                .hits()
                .is_empty(),
            "{file}"
        );
        let u = check(&["--auth", file, &rules("auth-unknown.edi")]);
        assert_eq!(u.only("auth-unknown")["value"], "CRL9999");
        let m = check(&["--auth", file, &rules("auth-other-member.edi")]);
        assert_eq!(
            m.only("auth-member-mismatch")["value"],
            "***",
            "member ids are PHI"
        );
        let w = check(&["--auth", file, &rules("auth-window-edges.edi")]);
        assert_eq!(
            w.hits(),
            [("auth-window".to_string(), "AW3".to_string())],
            "valid_to itself is inside"
        );
    }
    // Without an authorization file, unknown numbers are not checked.
    assert!(check(&[&rules("auth-unknown.edi")]).hits().is_empty());
}

#[test]
fn units_one() {
    let r = check_files(&["units.edi"]);
    assert_eq!(
        r.hits(),
        [("units-one".to_string(), "U1".to_string())],
        "1.0 is one unit"
    );
    assert_eq!(r.only("units-one")["value"], "2");
}

#[test]
fn timely_filing_at_the_limit_and_past_it() {
    let policy = rules("policy-filing-90.toml");
    let r = check(&["--policy", &policy, &rules("timely-filing.edi")]);
    assert_eq!(r.hits(), [("timely-filing".to_string(), "T91".to_string())]);
    // --as-of moves the filing date: one day earlier, both are on time.
    assert!(check(&[
        "--policy",
        &policy,
        "--as-of",
        "2024-05-31",
        &rules("timely-filing.edi")
    ])
    .hits()
    .is_empty());
    // The default policy does not check filing.
    assert!(check_files(&["timely-filing.edi"]).hits().is_empty());
    assert_eq!(
        r.json["policy"]["name"],
        "BCBSMA Quality Care Cancer Program"
    );
    let default = check_files(&["timely-filing.edi"]);
    assert_ne!(r.json["policy"]["sha256"], default.json["policy"]["sha256"]);
}

#[test]
fn service_dates() {
    let r = check_files(&["date-missing-837p.edi"]);
    assert_eq!(r.count("service-date-missing"), 1);
    // 837I: the statement period stands in for a missing DTP*472.
    assert!(check_files(&["date-from-statement-837i.edi"])
        .hits()
        .is_empty());
    // RD8: the first date counts (01-01 to 01-31 is 30 days).
    assert!(check_files(&["date-rd8-range.edi"]).hits().is_empty());
}

#[test]
fn voids_and_replacements_are_not_second_billings() {
    assert!(check_files(&["void-then-new-s0353.edi"]).hits().is_empty());
    assert!(check_files(&["replacement.edi"]).hits().is_empty());
    // The bundled series with its replacement and void, together.
    let r = check(&[
        s(&sample("837p-s0354-monthly-series.edi")),
        s(&sample("837p-scode-replacement-void.edi")),
    ]);
    assert!(r.hits().is_empty(), "{:?}", r.hits());
}

#[test]
fn modifiers_and_case_do_not_hide_an_scode() {
    let r = check_files(&["modifiers-and-case.edi"]);
    // The lower-case `hc` qualifier is read, and reported: codes are
    // upper case.
    assert_eq!(
        r.hits(),
        [
            ("code-invalid".to_string(), String::new()),
            ("s0353-once".to_string(), "MC2".to_string())
        ]
    );
}

#[test]
fn a_line_with_an_error_does_not_enter_the_history() {
    // The mixed S0353 (standalone-claim) is denied: the later stand-alone
    // S0353 is then not a second one.
    let mixed = rules("standalone-mixed.edi");
    let again = rules("s0353-again-mar.edi");
    let r = check(&[&mixed, &again]);
    assert_eq!(
        r.hits(),
        [("standalone-claim".to_string(), "MIX1".to_string())]
    );
}

#[test]
fn samples_report_what_their_readme_says() {
    let r = check(&[s(&crate::util::root().join("samples"))]);
    let mut rules: Vec<String> = r.hits().into_iter().map(|(r, _)| r).collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "form-exclusive",
            "legacy-revenue-0980",
            "revenue-code-0960",
            "revenue-code-0960",
            "standalone-claim",
            "standalone-claim",
            "standalone-claim",
            "standalone-claim"
        ]
    );
    let sum = &r.json["summary"];
    assert_eq!(sum["scode_lines"], 25);
    assert_eq!(sum["by_rule"]["standalone-claim"], 4);
    assert_eq!(sum["errors"], 8);
}

#[test]
fn every_format_and_bad_inputs() {
    let file = rules("standalone-mixed.edi");
    let csv = run(&["check", "--format", "csv", &file]);
    let text = stdout(&csv);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("standalone-claim,error,"),
        "{text}"
    );
    let jsonl = run(&["check", "--format", "jsonl", &file]);
    let last: Value = serde_json::from_str(stdout(&jsonl).lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["policy"]["name"], "BCBSMA Quality Care Cancer Program");
    let human = run(&["check", &file]);
    assert!(stdout(&human).contains("error[standalone-claim]"));
    // A bad policy names the key and exits 2.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("p.toml");
    std::fs::write(
        &bad,
        scrub837::policy::DEFAULT_POLICY
            .replace("min_interval_days = 30", "min_interval_days = -3"),
    )
    .unwrap();
    let out = run(&["check", "--policy", s(&bad), &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::util::stderr(&out).contains("min_interval_days"),
        "{}",
        crate::util::stderr(&out)
    );
    // A bad authorization file names the row.
    let auth = dir.path().join("a.csv");
    std::fs::write(
        &auth,
        "auth_number,member_id,valid_from,valid_to\nX,M,2024-02-30,2024-03-01\n",
    )
    .unwrap();
    let out = run(&["check", "--auth", s(&auth), &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::util::stderr(&out).contains("row 2"),
        "{}",
        crate::util::stderr(&out)
    );
    // One unreadable input: reported, the others still checked, exit 2.
    let out = run(&[
        "check",
        "--format",
        "json",
        s(&crate::util::data("not-x12.txt")),
        &file,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["by_rule"]["standalone-claim"], 1);
}

#[test]
fn policy_command_prints_the_default() {
    let out = run(&["policy"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), scrub837::policy::DEFAULT_POLICY);
}

#[test]
fn extract_lists_scode_lines() {
    let out = run(&[
        "extract",
        "--format",
        "json",
        s(&sample("837i-scode-revenue-0510.edi")),
        s(&sample("837p-mixed-scode.edi")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["form"], "837I");
    assert_eq!(rows[1]["revenue_code"], "960");
    assert_eq!(rows[2]["form"], "837P");
    assert_eq!(rows[2]["code"], "S0353");
    assert!(rows
        .iter()
        .all(|r| r["charge"] == "300" && r["units"] == "1"));
    let csv = run(&["extract", s(&sample("837p-clean.edi"))]);
    assert_eq!(
        stdout(&csv).lines().count(),
        1,
        "header only: no S-code lines"
    );
    // No PHI in extract output.
    let all = run(&["extract", s(&crate::util::root().join("samples"))]);
    let text = stdout(&all);
    assert!(!text.contains("XYZ8844"), "member ids leaked");
}

#[test]
fn a_directory_of_a_thousand_files_is_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let jan = std::fs::read(crate::util::data("rules/s0353-jan.edi")).unwrap();
    for i in 0..999 {
        // The same billing sent again and again: retries, not new S0353s.
        std::fs::write(dir.path().join(format!("{i:04}.edi")), &jan).unwrap();
    }
    std::fs::copy(
        crate::util::data("rules/s0353-again-mar.edi"),
        dir.path().join("0999.edi"),
    )
    .unwrap();
    let r = check(&[s(dir.path())]);
    assert_eq!(r.json["summary"]["files"], 1000);
    assert_eq!(r.hits(), [("s0353-once".to_string(), "ONC2".to_string())]);
    assert!(r.only("s0353-once")["file"]
        .as_str()
        .unwrap()
        .ends_with("0999.edi"));
}
