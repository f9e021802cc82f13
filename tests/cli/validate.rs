//! `scrub837 validate`: one broken file per finding id, exit codes, formats.

use crate::util::{data, run, run_stdin, s, sample, samples, stderr, stdout};

/// Where `needle` starts in `file`: its 1-based segment number (counted
/// independently of the reader, by `~` terminators before it) and offset.
fn locate(file: &str, needle: &str) -> (u64, u64) {
    let bytes = std::fs::read(data(file)).expect("fixture exists");
    let text = String::from_utf8_lossy(&bytes);
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {file}"));
    let segment = text[..at].matches('~').count() as u64 + 1;
    (segment, at as u64)
}

fn findings(file: &str) -> Vec<serde_json::Value> {
    let out = run(&["validate", "--format", "json", s(&data(file))]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    v["findings"].as_array().expect("findings array").clone()
}

/// Each fixture breaks one thing; the finding must name it where it is.
macro_rules! finds {
    ($name:ident, $file:expr, $rule:expr, $needle:expr, $element:expr) => {
        #[test]
        fn $name() {
            let f = findings($file);
            let (segment, offset) = locate($file, $needle);
            let hit = f
                .iter()
                .find(|x| x["rule"] == $rule)
                .unwrap_or_else(|| panic!("no {} in {f:#?}", $rule));
            assert_eq!(hit["segment"], segment, "{hit:#?}");
            assert_eq!(hit["offset"], offset, "{hit:#?}");
            let element: Option<&str> = $element;
            assert_eq!(hit["element"].as_str(), element, "{hit:#?}");
            assert_eq!(
                hit["severity"],
                if $rule == "lenient-read" {
                    "warning"
                } else {
                    "error"
                }
            );
        }
    };
}

finds!(
    se01_wrong,
    "envelope-se01-wrong.edi",
    "envelope-count",
    "SE*51",
    Some("SE01")
);
finds!(
    ge01_wrong,
    "envelope-ge01-wrong.edi",
    "envelope-count",
    "GE*2",
    Some("GE01")
);
finds!(
    iea01_wrong,
    "envelope-iea01-wrong.edi",
    "envelope-count",
    "IEA*3",
    Some("IEA01")
);
finds!(
    se02_mismatch,
    "control-se02-mismatch.edi",
    "control-number-mismatch",
    "SE*52*0002",
    Some("SE02")
);
finds!(
    ge02_mismatch,
    "control-ge02-mismatch.edi",
    "control-number-mismatch",
    "GE*1*4102",
    Some("GE02")
);
finds!(
    iea02_mismatch,
    "control-iea02-mismatch.edi",
    "control-number-mismatch",
    "IEA*1*000004109",
    Some("IEA02")
);
finds!(
    isa13_not_numeric,
    "isa13-not-numeric.edi",
    "segment-syntax",
    "ISA*",
    Some("ISA13")
);
finds!(
    empty_segment,
    "empty-segment.edi",
    "segment-syntax",
    "~\nNM1*40",
    None
);
finds!(
    version_4010,
    "unsupported-4010.edi",
    "unsupported-version",
    "ISA*",
    Some("ISA12")
);
finds!(
    not_claims_group,
    "unsupported-835.edi",
    "unsupported-version",
    "GS*HP",
    Some("GS01")
);
finds!(
    not_837_transaction,
    "unsupported-st-999.edi",
    "unsupported-version",
    "ST*999",
    Some("ST01")
);
finds!(
    out_of_place,
    "segment-out-of-place.edi",
    "segment-out-of-place",
    "ZZZ*1",
    None
);
finds!(
    missing_hi,
    "segment-missing-hi.edi",
    "segment-missing",
    // Where the gap is noticed: the first segment after HI's place.
    "NM1*82*1*OKAFOR",
    None
);
finds!(
    missing_ge,
    "segment-missing-ge.edi",
    "segment-missing",
    "GS*HC",
    None
);
finds!(
    missing_iea,
    "segment-missing-iea.edi",
    "segment-missing",
    "ISA*",
    None
);
finds!(
    repeat_exceeded,
    "repeat-exceeded-bht.edi",
    "repeat-exceeded",
    "BHT*0019*00*LBO20240426A*20240426*0915*CH~\nNM1",
    None
);
finds!(
    hl_not_restarting,
    "hierarchy-hl-not-restarting.edi",
    "hierarchy",
    "HL*3**20",
    Some("HL01")
);
finds!(
    bad_date,
    "bad-date.edi",
    "bad-date",
    "DTP*472*D8*20240231",
    Some("DTP03")
);
finds!(
    claim_balance,
    "claim-balance.edi",
    "claim-balance",
    "CLM*LBO240402SANT01",
    Some("CLM02")
);
finds!(
    junk_between_interchanges,
    "junk-between-interchanges.edi",
    "segment-out-of-place",
    "THIS IS NOT",
    None
);
finds!(
    isa_unpadded,
    "isa-unpadded.edi",
    "lenient-read",
    "ISA*",
    Some("ISA")
);
finds!(
    repetition_collides,
    "repetition-collides.edi",
    "lenient-read",
    "ISA*",
    Some("ISA11")
);
finds!(
    blank_line,
    "blank-lines.edi",
    "lenient-read",
    "NM1*40",
    None
);
finds!(
    no_final_terminator,
    "no-final-terminator.edi",
    "lenient-read",
    "IEA*1",
    None
);
finds!(
    lowercase_id,
    "lowercase-ids.edi",
    "lenient-read",
    "nm1*40",
    None
);
finds!(
    trailing_separator,
    "trailing-separator.edi",
    "lenient-read",
    "REF*EI*046718293*",
    None
);
finds!(indented, "indented.edi", "lenient-read", "GS*HC", None);

#[test]
fn truncated_transaction_names_every_missing_trailer() {
    let f = findings("truncated-transaction.edi");
    let missing: Vec<&str> = f
        .iter()
        .filter(|x| x["rule"] == "segment-missing")
        .map(|x| x["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(missing.len(), 3, "{f:#?}");
    assert!(
        missing[0].contains("no IEA")
            && missing[1].contains("no GE")
            && missing[2].contains("required SE"),
        "{missing:?}"
    );
}

#[test]
fn repeated_st02_is_reported_on_the_second_transaction() {
    let f = findings("control-st02-repeated.edi");
    let hits: Vec<_> = f
        .iter()
        .filter(|x| x["rule"] == "control-number-mismatch")
        .collect();
    assert_eq!(hits.len(), 1, "{f:#?}");
    let text = std::fs::read_to_string(data("control-st02-repeated.edi")).unwrap();
    let second = text.rfind("ST*837*0001").unwrap() as u64;
    assert_eq!(hits[0]["offset"], second);
}

#[test]
fn every_sample_validates_clean() {
    for p in samples() {
        let out = run(&["validate", s(&p)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            p.display(),
            stdout(&out)
        );
        assert!(
            stdout(&out).contains(": 0 error(s), 0 warning(s)"),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn exit_codes() {
    assert_eq!(
        run(&["validate", s(&sample("837p-clean.edi"))])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["validate", s(&data("claim-balance.edi"))])
            .status
            .code(),
        Some(1)
    );
    // A warning fails only under --deny warnings.
    assert_eq!(
        run(&["validate", s(&data("bom.edi"))]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["validate", "--deny", "warnings", s(&data("bom.edi"))])
            .status
            .code(),
        Some(1)
    );
    // Not X12: exit 2, the error names the file, the others are still read.
    let out = run(&[
        "validate",
        "--format",
        "json",
        s(&data("not-x12.txt")),
        s(&data("claim-balance.edi")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("scrub837: ")
            && err.contains("not-x12.txt")
            && err.contains("not an X12 interchange"),
        "{err}"
    );
    assert!(err.contains("segment 1 (byte 0)"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["files"], 2);
    assert_eq!(v["summary"]["by_rule"]["claim-balance"], 1);
    // A missing file is exit 2 with its name.
    let out = run(&["validate", "no/such/file.edi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no/such/file.edi"));
    // Bad arguments are exit 2.
    assert_eq!(
        run(&["validate", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
}

#[test]
fn stdin_is_read_with_dash_and_labelled_dash() {
    let input = std::fs::read(data("claim-balance.edi")).unwrap();
    let out = run_stdin(&["validate", "--format", "jsonl", "-"], &input);
    assert_eq!(out.status.code(), Some(1));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "finding");
    assert_eq!(first["file"], "-");
    // No path and piped stdin reads stdin too.
    let out = run_stdin(&["validate"], &input);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn directories_are_walked_in_order_and_findings_follow_command_line_order() {
    let out = run(&[
        "validate",
        "--format",
        "csv",
        s(&data("claim-balance.edi")),
        s(&crate::util::root().join("samples")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let mut rows = csv_rows(&text);
    assert_eq!(rows.remove(0)[0], "rule");
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0][4].ends_with("claim-balance.edi"));
    let json = run(&[
        "validate",
        "--format",
        "json",
        s(&crate::util::root().join("samples")),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["summary"]["files"].as_u64(), Some(samples().len() as u64));
    assert!(
        stderr(&json).contains("skipped 1 file(s)"),
        "README.md is not read"
    );
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    r.records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect()
}

#[test]
fn summary_counts_what_was_read() {
    let out = run(&[
        "validate",
        "--format",
        "json",
        s(&sample("837p-multi-transaction.edi")),
        s(&sample("837-two-interchanges.edi")),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum = &v["summary"];
    assert_eq!(sum["files"], 2);
    assert_eq!(sum["interchanges"], 3);
    // Count ST and CLM and LX segments in the inputs independently.
    let mut st = 0;
    let mut clm = 0;
    let mut lx = 0;
    for f in ["837p-multi-transaction.edi", "837-two-interchanges.edi"] {
        let t = std::fs::read_to_string(sample(f)).unwrap();
        let sep = if t.as_bytes()[3] == b'|' { "|" } else { "*" };
        for seg in t.split('~').map(str::trim) {
            st += seg.starts_with(&format!("ST{sep}")) as u64;
            clm += seg.starts_with(&format!("CLM{sep}")) as u64;
            lx += seg.starts_with(&format!("LX{sep}")) as u64;
        }
    }
    assert_eq!(sum["transactions"], st);
    assert_eq!(sum["claims"], clm);
    assert_eq!(sum["service_lines"], lx);
}

#[test]
fn text_output_groups_by_file_and_claim_without_colour_when_piped() {
    let out = run(&["validate", s(&data("claim-balance.edi"))]);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with("claim-balance.edi"));
    assert_eq!(lines.next().unwrap(), "  claim LBO240402SANT01");
    assert!(lines
        .next()
        .unwrap()
        .starts_with("    segment 21 (byte 747): error[claim-balance]: CLM02 is 11346"));
    assert!(!text.contains('\x1b'));
    let colored = run(&[
        "validate",
        "--color",
        "always",
        s(&data("claim-balance.edi")),
    ]);
    assert!(stdout(&colored).contains("\x1b["));
}

#[test]
fn phi_is_masked_unless_asked() {
    // A bad birth date is PHI.
    let text = std::fs::read_to_string(sample("837p-clean.edi"))
        .unwrap()
        .replace("DMG*D8*19590417", "DMG*D8*19590431");
    let out = run_stdin(&["validate", "--format", "json", "-"], text.as_bytes());
    let body = stdout(&out);
    assert!(!body.contains("19590431"), "{body}");
    assert!(body.contains("\"value\": \"***\""));
    let shown = run_stdin(
        &["validate", "--format", "json", "--show-phi", "-"],
        text.as_bytes(),
    );
    assert!(stdout(&shown).contains("19590431"));
}

#[test]
fn oversized_transaction_is_a_finding_not_a_crash() {
    let out = run(&[
        "validate",
        "--format",
        "json",
        "--max-transaction-bytes",
        "1K",
        s(&sample("837p-clean.edi")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["rule"], "limit-exceeded");
    assert_eq!(f[0]["segment"], 3);
    assert_eq!(v["summary"]["transactions"], 1);
    assert_eq!(v["summary"]["claims"], 0);
}

finds!(
    st03_missing,
    "element-missing-st03.edi",
    "element-missing",
    "ST*837",
    Some("ST03")
);

/// External code lists: given with `--code-list`, the elements that name
/// them are checked (ICD-10-CM behind HI qualifiers, HCPCS behind `HC`, ZIP
/// on its first five digits); without, they are not.
#[test]
fn code_lists_given_on_the_command_line_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = crate::util::root().join("tests/data/ig/p-valid-basic.edi");
    let list = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write list");
        p
    };
    // Codes the file uses, written as the code sets write them (dots in
    // ICD-10, a CSV with descriptions), and one it does not.
    let icd = list("icd.csv", "code,description\nZ51.11,chemo\nC34.90,lung\n");
    let hcpcs = list("hcpcs.txt", "99214\n96413\n");
    let zip = list("zip.txt", "01605\n01545\n");
    let arg = |name: &str, p: &std::path::Path| format!("{name}={}", p.display());
    let out = run(&[
        "validate",
        "--code-list",
        &arg("icd10-cm", &icd),
        "--code-list",
        &arg("hcpcs", &hcpcs),
        "--code-list",
        &arg("zip", &zip),
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Drop one code from each list: each use of it is reported, by element.
    let icd = list("icd2.csv", "Z51.11\n");
    let hcpcs = list("hcpcs2.txt", "99214\n");
    let zip = list("zip2.txt", "01605\n");
    let out = run(&[
        "validate",
        "--format",
        "json",
        "--code-list",
        &arg("icd10-cm", &icd),
        "--code-list",
        &arg("hcpcs", &hcpcs),
        "--code-list",
        &arg("zip", &zip),
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut got: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_string(),
                f["element"].as_str().unwrap_or("").to_string(),
                f["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("code-invalid", "HI02-2", "C3490"),
        ("code-invalid", "N4-03", "01545"),
        ("code-invalid", "SV1-01-2", "96413"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    // A misspelt list name is an error before anything is read.
    let out = run(&["validate", "--code-list", &arg("icd10", &icd), s(&file)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown code list"),
        "{}",
        stderr(&out)
    );
}

/// Lower-case letters are data where the extended character set allows
/// them (names, addresses); a code must still be upper case.
#[test]
fn lower_case_is_data_in_strings_but_not_in_codes() {
    let text = std::fs::read_to_string(crate::util::root().join("tests/data/ig/p-valid-basic.edi"))
        .expect("fixture");
    let lower_name = text.replacen("N3*", "N3*apt 4, ", 1);
    assert!(crate::util::findings_of(lower_name.as_bytes()).is_empty());
    let lower_code = text.replacen("SV1*HC:", "SV1*hc:", 1);
    let f = crate::util::findings_of(lower_code.as_bytes());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule.as_str(), "code-invalid");
    assert_eq!(f[0].element.as_deref(), Some("SV1-01-1"));
}

/// A value padded with trailing spaces is read and warned about, once per
/// file: X12 asks senders to suppress them.
#[test]
fn trailing_spaces_are_a_warning_once_per_file() {
    let file = crate::util::root().join("tests/data/ig/p-an-trailing-spaces-nm103.edi");
    let out = run(&["validate", "--format", "json", s(&file)]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = v["findings"].as_array().expect("findings");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["rule"], "lenient-read");
    assert_eq!(f[0]["element"], "NM1-03");
    assert_eq!(f[0]["segment"], 16);
    let out = run(&["validate", "--deny", "warnings", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
}
