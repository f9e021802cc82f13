//! scrub837 against pyx12 on the implementation-guide corpus `tests/data/ig/`.
//!
//! For every file, pyx12 `x12valid -J` runs live and scrub837 `validate
//! --format json` runs, and the two must agree: (a) pyx12 reports an error
//! ⇔ scrub837 exits 1, and (b) every segment pyx12 reports an error at has a
//! scrub837 error finding within one segment of it. Files where they do not
//! agree must be listed in the disagreement table of
//! `docs/pyx12-comparison.md`, which states exactly what each tool reports;
//! the test reads that table, so a row that no longer matches what the tools
//! say (or a file that now agrees) fails the test too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pyx12::{require_python, said_ok, x12valid};
use crate::util::{edi_files, root, run, s, stdout};

/// One pyx12 error: the file segment number it names (`cur_line`) and its
/// error code (`err_cde`, e.g. `1`, `8`, `HL2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PyErr {
    segment: u64,
    code: String,
    text: String,
}

/// One scrub837 error finding: rule id and segment number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ScrubErr {
    rule: String,
    segment: Option<u64>,
}

/// Every file of the corpus, sorted.
pub fn corpus() -> Vec<PathBuf> {
    edi_files("tests/data/ig")
}

pub fn name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Runs `x12valid -J` on a copy of `file` (it writes its JSON and 999 beside
/// the input) and collects every error at every level of its JSON.
fn pyx12_errors(python: &Path, file: &Path) -> Vec<PyErr> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (copy, text) = x12valid(python, file, dir.path(), &["-J"]);
    assert!(
        !text.contains("Traceback"),
        "pyx12 crashed on {}:\n{text}",
        file.display()
    );
    // `FILE.edi.json`, or `FILE.json` in versions that replace the extension.
    let json = [
        dir.path().join(format!("{}.json", name(file))),
        copy.with_extension("json"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("pyx12 wrote no JSON for {}:\n{text}", file.display()));
    let v: Value = serde_json::from_slice(&std::fs::read(&json).expect("read pyx12 json"))
        .unwrap_or_else(|e| panic!("pyx12 JSON for {}: {e}", file.display()));
    let mut errs = Vec::new();
    collect(&v, None, &mut errs);
    let said_ok = said_ok(&copy, &text);
    if !said_ok && errs.is_empty() {
        // Errors in the ISA and GS (ISA15, GS04) are logged but left out of
        // its JSON: read them from the log's `Line:N` instead.
        errs.extend(
            text.lines()
                .filter(|l| l.contains(" ERROR "))
                .filter_map(|l| {
                    let n = l.split("Line:").nth(1)?.split_whitespace().next()?;
                    Some(PyErr {
                        segment: n.parse().ok()?,
                        code: "log".into(),
                        text: l.to_string(),
                    })
                }),
        );
    }
    errs.sort();
    errs.dedup();
    // Its words must agree with its errors, or one of the two is misread.
    assert_eq!(
        said_ok,
        errs.is_empty(),
        "pyx12 output and JSON disagree on {}:\n{text}\n{errs:?}",
        file.display()
    );
    errs
}

/// Walks pyx12's JSON: interchanges, groups, transactions and segments carry
/// `cur_line` and `errors`; elements carry `errors` and sit in a segment.
fn collect(v: &Value, line: Option<u64>, out: &mut Vec<PyErr>) {
    match v {
        Value::Object(m) => {
            let line = m.get("cur_line").and_then(Value::as_u64).or(line);
            if let Some(Value::Array(errors)) = m.get("errors") {
                for e in errors {
                    out.push(PyErr {
                        segment: line.expect("pyx12 error without cur_line"),
                        code: match &e["err_cde"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                        text: e["err_str"].as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
            for (k, child) in m {
                if k != "errors" {
                    collect(child, line, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect(c, line, out)),
        _ => {}
    }
}

/// scrub837's exit code and error findings on `file`.
fn scrub_errors(file: &Path) -> (Option<i32>, Vec<ScrubErr>) {
    let out = run(&["validate", "--format", "json", s(file)]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} on {}", stdout(&out), file.display()));
    let mut errs: Vec<ScrubErr> = v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| ScrubErr {
            rule: f["rule"].as_str().expect("rule").to_owned(),
            segment: f["segment"].as_u64(),
        })
        .collect();
    errs.sort();
    errs.dedup();
    (out.status.code(), errs)
}

/// A row of the disagreement table: the file, and the exact reports of both
/// tools written as backticked tokens, `N:CODE` for pyx12 (segment, error
/// code) and `rule@N` for scrub837, or `clean`.
#[derive(Debug)]
pub struct Row {
    pub file: String,
    pub pyx12: BTreeSet<String>,
    pub scrub: BTreeSet<String>,
}

const DOC: &str = "docs/pyx12-comparison.md";
const TABLE_HEADING: &str = "## Disagreements";

fn ticks(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Tokens of a report cell; `clean` is the empty set.
fn tokens(cell: &str, pyx12: bool, where_: &str) -> BTreeSet<String> {
    let t: BTreeSet<String> = ticks(cell).into_iter().collect();
    if t.len() == 1 && t.contains("clean") {
        return BTreeSet::new();
    }
    assert!(!t.is_empty(), "{where_}: no backticked tokens in {cell:?}");
    for tok in &t {
        let ok = if pyx12 {
            tok.split_once(':')
                .is_some_and(|(n, c)| n.parse::<u64>().is_ok() && !c.is_empty())
        } else {
            tok.split_once('@')
                .is_some_and(|(r, n)| !r.is_empty() && (n == "-" || n.parse::<u64>().is_ok()))
        };
        assert!(ok, "{where_}: token `{tok}` is not in the table's format");
    }
    t
}

/// The cells of a markdown table row; `\\|` is a pipe inside a cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().expect("a cell").push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            _ => out.last_mut().expect("a cell").push(c),
        }
    }
    out.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// Parses the table under [`TABLE_HEADING`] in [`DOC`].
pub fn disagreement_table() -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(root().join(DOC)).expect("docs/pyx12-comparison.md");
    let start = text
        .find(TABLE_HEADING)
        .unwrap_or_else(|| panic!("{DOC} has no `{TABLE_HEADING}` section"));
    let mut rows = BTreeMap::new();
    let mut seen_header = false;
    for (i, line) in text[start..].lines().enumerate().skip(1) {
        let line = line.trim();
        if line.starts_with("## ") {
            break;
        }
        if !line.starts_with('|') {
            continue;
        }
        let cells = cells(line);
        if !seen_header {
            seen_header = true; // the header row
            continue;
        }
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
        {
            continue; // the separator row
        }
        let where_ = format!("{DOC} table row {i}");
        assert_eq!(cells.len(), 4, "{where_}: want 4 cells: {line}");
        let file = ticks(&cells[0]);
        assert_eq!(file.len(), 1, "{where_}: file cell {:?}", cells[0]);
        assert!(!cells[3].is_empty(), "{where_}: say who is right and why");
        let row = Row {
            file: file[0].clone(),
            pyx12: tokens(&cells[1], true, &where_),
            scrub: tokens(&cells[2], false, &where_),
        };
        assert!(
            rows.insert(row.file.clone(), row).is_none(),
            "{where_}: file listed twice"
        );
    }
    assert!(seen_header, "{DOC}: `{TABLE_HEADING}` has no table");
    rows
}

/// What one file yields, and whether the two tools agree on it.
struct Outcome {
    file: String,
    pyx12: Vec<PyErr>,
    exit: Option<i32>,
    scrub: Vec<ScrubErr>,
}

impl Outcome {
    fn pyx12_tokens(&self) -> BTreeSet<String> {
        self.pyx12
            .iter()
            .map(|e| format!("{}:{}", e.segment, e.code))
            .collect()
    }

    fn scrub_tokens(&self) -> BTreeSet<String> {
        self.scrub
            .iter()
            .map(|e| match e.segment {
                Some(n) => format!("{}@{n}", e.rule),
                None => format!("{}@-", e.rule),
            })
            .collect()
    }

    /// Ways the tools disagree on this file; empty when they agree.
    fn disagreements(&self) -> Vec<String> {
        let mut d = Vec::new();
        let py_bad = !self.pyx12.is_empty();
        let scrub_bad = self.exit == Some(1);
        if py_bad != scrub_bad {
            d.push(format!(
                "verdict: pyx12 {}, scrub837 exits {:?}",
                if py_bad { "reports errors" } else { "is clean" },
                self.exit
            ));
        }
        let near: BTreeSet<u64> = self.scrub.iter().filter_map(|e| e.segment).collect();
        let uncovered: BTreeSet<u64> = self
            .pyx12
            .iter()
            .map(|e| e.segment)
            .filter(|&n| !near.iter().any(|&m| m.abs_diff(n) <= 1))
            .collect();
        for n in uncovered {
            d.push(format!(
                "position: pyx12 error at segment {n}, no scrub837 error within one segment"
            ));
        }
        d
    }

    fn suggested_row(&self) -> String {
        let cell = |t: BTreeSet<String>| {
            if t.is_empty() {
                "`clean`".to_owned()
            } else {
                t.iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        format!(
            "| `{}` | {} | {} | WHO IS RIGHT AND WHY |",
            self.file,
            cell(self.pyx12_tokens()),
            cell(self.scrub_tokens())
        )
    }
}

fn outcomes(python: &Path) -> Vec<Outcome> {
    let files = corpus();
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get().min(8));
    let chunk = files.len().div_ceil(threads).max(1);
    let mut all: Vec<Outcome> = std::thread::scope(|sc| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                sc.spawn(move || {
                    part.iter()
                        .map(|f| {
                            let (exit, scrub) = scrub_errors(f);
                            Outcome {
                                file: name(f),
                                pyx12: pyx12_errors(python, f),
                                exit,
                                scrub,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    all.sort_by(|a, b| a.file.cmp(&b.file));
    all
}

#[test]
fn scrub837_agrees_with_pyx12_on_the_ig_corpus() {
    let Some(py) = require_python() else { return };
    let table = disagreement_table();
    let results = outcomes(&py);
    assert!(results.len() >= 40, "the corpus shrank: {}", results.len());

    let mut problems = Vec::new();
    for r in &results {
        // scrub837's exit code must follow its own findings.
        let expect_exit = if r.scrub.is_empty() { 0 } else { 1 };
        if r.exit != Some(expect_exit) {
            problems.push(format!(
                "{}: scrub837 exits {:?} with error findings {:?}",
                r.file,
                r.exit,
                r.scrub_tokens()
            ));
        }
        // The corpus itself: valid files are clean in pyx12; every broken
        // file is flagged by at least one of the two.
        if r.file.contains("-valid-") {
            if !r.pyx12.is_empty() {
                problems.push(format!(
                    "{}: a valid file, but pyx12 says {:?}",
                    r.file, r.pyx12
                ));
            }
        } else if r.pyx12.is_empty() && r.scrub.is_empty() {
            problems.push(format!("{}: a broken file neither tool flags", r.file));
        }

        let d = r.disagreements();
        match (table.get(&r.file), d.is_empty()) {
            (None, true) => {}
            (None, false) => problems.push(format!(
                "{}: undocumented disagreement: {}\n    pyx12: {:?}\n    add to {DOC}, or fix scrub837:\n    {}",
                r.file,
                d.join("; "),
                r.pyx12.iter().map(|e| format!("{}:{} {}", e.segment, e.code, e.text)).collect::<Vec<_>>(),
                r.suggested_row()
            )),
            (Some(_), true) => problems.push(format!(
                "{}: listed in {DOC} but the tools now agree: remove the stale row",
                r.file
            )),
            (Some(row), false) => {
                if row.pyx12 != r.pyx12_tokens() || row.scrub != r.scrub_tokens() {
                    problems.push(format!(
                        "{}: the {DOC} row no longer matches what the tools say ({}); now:\n    {}",
                        r.file,
                        d.join("; "),
                        r.suggested_row()
                    ));
                }
            }
        }
    }
    let names: BTreeSet<&str> = results.iter().map(|r| r.file.as_str()).collect();
    for f in table.keys() {
        if !names.contains(f.as_str()) {
            problems.push(format!("{f}: listed in {DOC} but not in tests/data/ig/"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The table parser reads what the doc writes.
#[test]
fn disagreement_table_parses() {
    let t = disagreement_table();
    for row in t.values() {
        assert!(row.file.ends_with(".edi"), "{row:?}");
    }
}

/// Finding ids that name corpus files: `p-element-missing-nm103.edi` must
/// draw an `element-missing` error from scrub837, whatever pyx12 says.
const NAMED_RULES: &[&str] = &[
    "element-missing",
    "element-not-used",
    "element-syntax",
    "code-invalid",
    "repeat-exceeded",
    "hierarchy",
    "segment-missing",
    "segment-out-of-place",
    "bad-date",
    "claim-balance",
];

/// The finding id a file name (without `p-`/`i-`) starts with.
fn named_rule(rest: &str) -> Option<&'static str> {
    NAMED_RULES.iter().copied().find(|r| {
        rest.strip_prefix(*r)
            .is_some_and(|tail| tail.starts_with('-') || tail.starts_with('.'))
    })
}

/// Files whose named defect scrub837 reports under another id, and that id.
/// SBR01 identifies the 2000B SBR in the guide's map, so an unknown SBR01
/// leaves the segment unplaced (pyx12 does the same: segment 1 + 3).
const REPORTED_AS: &[(&str, &str)] = &[("p-code-invalid-sbr01.edi", "segment-out-of-place")];

#[test]
fn every_file_named_for_a_finding_id_draws_it() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for f in corpus() {
        let file = name(&f);
        let Some(rest) = file.strip_prefix("p-").or(file.strip_prefix("i-")) else {
            problems.push(format!("{file}: name starts with neither p- nor i-"));
            continue;
        };
        let Some(rule) = named_rule(rest) else {
            continue;
        };
        let want = REPORTED_AS
            .iter()
            .find(|(f, _)| *f == file)
            .map_or(rule, |(_, r)| *r);
        let (_, errs) = scrub_errors(&f);
        if !errs.iter().any(|e| e.rule == want) {
            problems.push(format!("{file}: no {want} error in {errs:?}"));
        }
        checked += 1;
    }
    for rule in NAMED_RULES {
        let n = corpus()
            .iter()
            .filter(|p| named_rule(&name(p)[2..]) == Some(*rule))
            .count();
        // element-syntax files are named by data type: p-an-…, p-n0-…, p-tm-…
        if n == 0 && *rule != "element-syntax" {
            problems.push(format!("no corpus file is named for {rule}"));
        }
    }
    assert!(checked >= 20, "only {checked} files named for a finding id");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
