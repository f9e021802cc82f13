//! `scrub837 fix`: splits and revenue codes, losslessly and atomically.

use proptest::prelude::*;
use serde_json::Value;

use crate::synth::{interchange, Claim, Line};
use crate::util::{data, run, run_stdin, s, sample, samples, stderr, stdout};

fn fix_bytes(input: &[u8], extra: &[&str]) -> (Vec<u8>, Value, Option<i32>) {
    let mut args = vec!["fix", "-", "-o", "-", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run_stdin(&args, input);
    let report: Value =
        serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.stdout, report, out.status.code())
}

fn check_findings(x12: &[u8]) -> Vec<Value> {
    let out = run_stdin(&["check", "--format", "json", "-"], x12);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

/// (procedure or revenue, charge) of every service line, sorted.
fn lines_of(x12: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(x12);
    let sep = if text.as_bytes()[3] == b'|' { '|' } else { '*' };
    let mut v: Vec<String> = text
        .split('~')
        .map(str::trim)
        .filter(|s| s.starts_with(&format!("SV1{sep}")) || s.starts_with(&format!("SV2{sep}")))
        .map(|s| {
            let e: Vec<&str> = s.split(sep).collect();
            if e[0] == "SV1" {
                format!("{}={}", e[1], e[2])
            } else {
                format!("{}={}", e[2], e[3])
            }
        })
        .collect();
    v.sort();
    v
}

fn rules(f: &[Value]) -> Vec<&str> {
    f.iter().map(|x| x["rule"].as_str().unwrap()).collect()
}

#[test]
fn fixed_samples_pass_check_and_keep_every_line() {
    for p in samples() {
        let input = std::fs::read(&p).unwrap();
        let (out, report, code) = fix_bytes(&input, &[]);
        assert_eq!(code, Some(0), "{}", p.display());
        let left = check_findings(&out);
        for bad in [
            "standalone-claim",
            "revenue-code-0960",
            "legacy-revenue-0980",
        ] {
            assert!(
                !rules(&left).contains(&bad),
                "{}: {:?}",
                p.display(),
                rules(&left)
            );
        }
        assert!(
            left.iter().all(|f| {
                let r = f["rule"].as_str().unwrap();
                scrub837::RuleId::ALL
                    .iter()
                    .any(|id| id.as_str() == r && id.is_policy_rule())
            }),
            "structure findings after fix: {left:#?}"
        );
        assert_eq!(
            lines_of(&out),
            lines_of(&input),
            "{}: every line once",
            p.display()
        );
        if report["changes"].as_array().unwrap().is_empty() {
            assert!(
                out == input,
                "{}: nothing to fix must mean identical bytes",
                p.display()
            );
        }
    }
}

#[test]
fn split_keeps_lines_and_totals_and_untouched_bytes() {
    let input = std::fs::read(sample("837p-mixed-scode.edi")).unwrap();
    let (out, report, _) = fix_bytes(&input, &[]);
    assert_eq!(lines_of(&out), lines_of(&input));
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    for c in changes {
        assert_eq!(c["kind"], "split");
        let old: f64 = c["old_total"].as_str().unwrap().parse().unwrap();
        let new: f64 = c["new_total"].as_str().unwrap().parse().unwrap();
        let moved: f64 = c["new_claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["total"].as_str().unwrap().parse::<f64>().unwrap())
            .sum();
        assert!((old - new - moved).abs() < 1e-9, "{c}");
        let id = c["new_claims"][0]["claim_id"].as_str().unwrap();
        assert!(id.len() <= 20 && id.starts_with(c["claim_id"].as_str().unwrap()));
    }
    // Every input line other than CLM, LX and SE is in the output, in order,
    // byte for byte.
    let text = String::from_utf8(input).unwrap();
    let fixed = String::from_utf8(out.clone()).unwrap();
    let mut rest = fixed.as_str();
    for line in text.split_inclusive('\n') {
        if line.starts_with("CLM*") || line.starts_with("LX*") || line.starts_with("SE*") {
            continue;
        }
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("lost or reordered: {line:?}"));
        rest = &rest[at + line.len()..];
    }
    // Fixing again changes nothing.
    let (again, report2, _) = fix_bytes(&out, &[]);
    assert!(again == out);
    assert!(report2["changes"].as_array().unwrap().is_empty());
}

#[test]
fn revenue_codes_and_no_revenue_fix() {
    let input = std::fs::read(sample("837i-scode-revenue-0510.edi")).unwrap();
    let (out, report, _) = fix_bytes(&input, &[]);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("SV2|0960|HC>S0353") && text.contains("SV2|0960|HC>S0354"),
        "pipe separators kept"
    );
    assert_eq!(report["summary"]["revenue_codes_fixed"], 2);
    let (kept, report, _) = fix_bytes(&input, &["--no-revenue-fix"]);
    assert!(kept == input);
    assert!(report["changes"].as_array().unwrap().is_empty());
    let legacy = std::fs::read(sample("837i-scode-revenue-0980.edi")).unwrap();
    let (out, _, _) = fix_bytes(&legacy, &[]);
    assert!(rules(&check_findings(&out)).is_empty());
}

fn claim(
    id: &str,
    frequency: char,
    codes: &[Option<&'static str>],
    other_payer_paid: bool,
) -> Claim {
    Claim {
        id: id.into(),
        frequency,
        lines: codes
            .iter()
            .map(|c| Line {
                code: *c,
                cents: 30000,
                revenue: if c.is_some_and(|c| c.starts_with('S')) {
                    "0960"
                } else {
                    "0335"
                },
            })
            .collect(),
        other_payer_paid,
    }
}

#[test]
fn replacements_voids_and_other_payer_claims_are_not_split() {
    let input = interchange(
        'P',
        &[
            claim("REPL1", '7', &[Some("S0353"), Some("96413")], false),
            claim("VOID1", '8', &[Some("S0353"), Some("96413")], false),
            claim("COB1", '1', &[Some("S0354"), Some("96413")], true),
            claim("SPLIT1", '1', &[Some("96413"), Some("S0354")], false),
        ],
    );
    let (out, report, code) = fix_bytes(input.as_bytes(), &[]);
    assert_eq!(code, Some(1), "something left for review");
    let not_fixed: Vec<&str> = report["not_fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["claim_id"].as_str().unwrap())
        .collect();
    assert_eq!(not_fixed, ["REPL1", "VOID1", "COB1"]);
    assert!(report["not_fixed"][2]["reason"]
        .as_str()
        .unwrap()
        .contains("2320"));
    assert_eq!(report["summary"]["claims_split"], 1);
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("CLM*SPLIT1S1*300***11:B:1"));
}

#[test]
fn new_ids_are_short_and_unique_in_the_file() {
    // A 20-character id is shortened to make room. SPLIT1S1 is taken by a
    // claim of a later interchange, which the fix meets only after writing
    // SPLIT1's split: it runs again and picks SPLIT1S2. SPLIT2S1 is taken
    // later in the same transaction, which the fix sees at once.
    let long = "ABCDEFGHIJKLMNOPQRST";
    let input = interchange(
        'P',
        &[
            claim(long, '1', &[Some("96413"), Some("S0353")], false),
            claim("SPLIT1", '1', &[Some("96413"), Some("S0354")], false),
            claim("SPLIT2", '1', &[Some("96413"), Some("S0354")], false),
            claim("SPLIT2S1", '1', &[Some("96413")], false),
        ],
    ) + &interchange('P', &[claim("SPLIT1S1", '1', &[Some("96413")], false)])
        .replace("000000001", "000000002");
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.edi");
    std::fs::write(&inp, &input).unwrap();
    let outp = dir.path().join("out.edi");
    let res = run(&["fix", s(&inp), "-o", s(&outp), "--format", "json"]);
    assert_eq!(res.status.code(), Some(0), "{}", stderr(&res));
    let text = std::fs::read_to_string(&outp).unwrap();
    assert!(text.contains("CLM*ABCDEFGHIJKLMNOPQRS1*"), "{text}");
    assert!(text.contains("CLM*SPLIT1S2*"), "{text}");
    assert!(text.contains("CLM*SPLIT2S2*"), "{text}");
    assert_eq!(text.matches("CLM*SPLIT1S1*").count(), 1);
    assert_eq!(text.matches("CLM*SPLIT2S1*").count(), 1);
    // Through stdin the input cannot be read twice: the collision is an error.
    let out = run_stdin(&["fix", "-", "-o", "-"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SPLIT1S1"));
}

#[test]
fn output_is_atomic_and_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("fixed.edi");
    std::fs::write(&target, b"previous contents").unwrap();
    // Not X12: exit 2, the target untouched, no temporary file left.
    let out = run(&["fix", s(&data("not-x12.txt")), "-o", s(&target)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&target).unwrap(), b"previous contents");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // Success: replaced, mode 0600, report on stdout.
    let out = run(&["fix", s(&sample("837p-mixed-scode.edi")), "-o", s(&target)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("split claim GSH240304PRZY01"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // --dry-run reports and writes nothing; --report sends the report to a file.
    let other = dir.path().join("dry.edi");
    let out = run(&[
        "fix",
        s(&sample("837p-mixed-scode.edi")),
        "-o",
        s(&other),
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!other.exists());
    assert!(stdout(&out).contains("dry run"));
    let rep = dir.path().join("report.json");
    let out = run(&[
        "fix",
        s(&sample("837i-mixed-scode.edi")),
        "-o",
        s(&other),
        "--report",
        s(&rep),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).is_empty());
    let v: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["summary"]["claims_split"], 2);
}

#[test]
fn pyx12_accepts_every_fixed_sample() {
    let Some(py) = crate::pyx12::require_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for p in samples() {
        let target = dir.path().join(p.file_name().unwrap());
        let out = run(&["fix", s(&p), "-o", s(&target)]);
        assert_eq!(out.status.code(), Some(0));
        if let Err(text) = crate::pyx12::pyx12_verdict(&py, &target) {
            panic!("pyx12 rejects fixed {}:\n{text}", p.display());
        }
    }
}

fn line() -> impl Strategy<Value = Line> {
    (
        prop_oneof![
            Just(Some("S0353")),
            Just(Some("S0354")),
            Just(Some("96413")),
            Just(Some("J9271")),
            Just(None)
        ],
        1u32..100_000,
        prop_oneof![Just("0960"), Just("0980"), Just("0335"), Just("960")],
    )
        .prop_map(|(code, cents, revenue)| Line {
            code,
            cents,
            revenue,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Over generated files: after fix no claim mixes an S-code with other
    /// services, every line is kept once, and each split's charges add up.
    #[test]
    fn fix_invariants_over_generated_files(
        form in prop_oneof![Just('P'), Just('I')],
        claims in proptest::collection::vec(proptest::collection::vec(line(), 1..5), 1..6),
    ) {
        let claims: Vec<Claim> = claims.into_iter().enumerate().map(|(i, lines)| {
            let lines = lines.into_iter().map(|mut l| { if form == 'P' && l.code.is_none() { l.code = Some("99213"); } l }).collect();
            Claim { id: format!("C{i}"), frequency: '1', lines, other_payer_paid: false }
        }).collect();
        let input = interchange(form, &claims);
        prop_assert!(check_findings(input.as_bytes()).iter().all(|f| scrub837::RuleId::ALL.iter().any(|id| id.as_str() == f["rule"] && id.is_policy_rule())));
        let (out, report, _) = fix_bytes(input.as_bytes(), &["--no-revenue-fix"]);
        let left = check_findings(&out);
        prop_assert!(!rules(&left).contains(&"standalone-claim"), "{:?}", rules(&left));
        prop_assert!(left.iter().all(|f| scrub837::RuleId::ALL.iter().any(|id| id.as_str() == f["rule"] && id.is_policy_rule())), "{:#?}", left);
        prop_assert_eq!(lines_of(&out), lines_of(input.as_bytes()));
        for c in report["changes"].as_array().unwrap() {
            let cents = |v: &Value| (v.as_str().unwrap().parse::<f64>().unwrap() * 100.0).round() as i64;
            let moved: i64 = c["new_claims"].as_array().unwrap().iter().map(|n| cents(&n["total"])).sum();
            prop_assert_eq!(cents(&c["old_total"]), cents(&c["new_total"]) + moved);
        }
        let (again, _, _) = fix_bytes(&out, &["--no-revenue-fix"]);
        prop_assert!(again == out);
    }
}

#[test]
fn scode_out_writes_a_separate_valid_interchange() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.edi");
    // Two interchanges, 837I and 837P, two patients each.
    let mut both = std::fs::read(sample("837i-mixed-scode.edi")).unwrap();
    both.extend(std::fs::read(sample("837p-mixed-scode.edi")).unwrap());
    std::fs::write(&input, &both).unwrap();
    let main = dir.path().join("main.edi");
    let side = dir.path().join("scodes.edi");
    let out = run(&[
        "fix",
        s(&input),
        "-o",
        s(&main),
        "--scode-out",
        s(&side),
        "--control-number",
        "4200",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = std::fs::read(&main).unwrap();
    let sc = std::fs::read(&side).unwrap();
    // Every input line is in exactly one of the two files.
    let mut all = lines_of(&m);
    all.extend(lines_of(&sc));
    all.sort();
    assert_eq!(all, lines_of(&both));
    assert!(
        lines_of(&sc).iter().all(|l| l.contains("S035")),
        "only S-code lines moved out"
    );
    assert!(!lines_of(&m).iter().any(|l| l.contains("S035")));
    // The side file stands on its own: clean structure, its own control numbers.
    let text = String::from_utf8(sc.clone()).unwrap();
    assert!(text.contains("*000004200*0*P*:~"));
    assert!(
        text.contains("GE*1*4200~") && text.contains("GE*1*4201~"),
        "one group per form"
    );
    assert!(text.contains("IEA*2*000004200~"));
    assert!(check_findings(&sc).is_empty(), "{:#?}", check_findings(&sc));
    assert!(check_findings(&m).is_empty());
    if let Some(py) = crate::pyx12::require_python() {
        crate::pyx12::pyx12_verdict(&py, &side)
            .unwrap_or_else(|t| panic!("pyx12 rejects the side file:\n{t}"));
    }
    // --scode-out needs a control number.
    assert_eq!(
        run(&["fix", s(&input), "-o", s(&main), "--scode-out", s(&side)])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn wrong_trailer_counts_are_recomputed_and_reported() {
    for (file, element, new) in [
        ("envelope-se01-wrong.edi", "SE01", "52"),
        ("envelope-ge01-wrong.edi", "GE01", "1"),
        ("envelope-iea01-wrong.edi", "IEA01", "1"),
    ] {
        let input = std::fs::read(data(file)).unwrap();
        let (out, report, code) = fix_bytes(&input, &[]);
        assert_eq!(code, Some(0), "{file}");
        let changes = report["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{file}: {changes:#?}");
        assert_eq!(changes[0]["element"], element);
        assert_eq!(changes[0]["new"], new);
        assert!(check_findings(&out).is_empty(), "{file}");
        // Only that segment differs.
        let diff = String::from_utf8(input)
            .unwrap()
            .lines()
            .zip(String::from_utf8(out).unwrap().lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diff, 1, "{file}");
    }
}
