//! Rendering findings: text, JSON, JSON Lines and CSV.
//!
//! Every format renders the same [`Finding`] fields in the order of the
//! output contract (`docs/policy.md`, "The output contract"):
//!
//! - `json`: one object, `{"schema_version": 1, "tool": {...}, "policy":
//!   {...} or null, "findings": [...], "summary": {...}}`;
//! - `jsonl`: one object per line, each tagged `"type": "finding"`, then one
//!   `"type": "summary"` line;
//! - `csv`: a header row, then one row per finding (the summary is not
//!   part of CSV);
//! - `text`: one finding a line, grouped by file and claim, then a summary.
//!
//! Values that are protected health information are masked (`***`) unless
//! [`RenderOptions::show_phi`] is set.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::scan::Counts;

/// The version of the JSON and JSONL schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// For people: one finding a line.
    Text,
    /// One JSON object.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

/// How to render.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// Show PHI values instead of `***`.
    pub show_phi: bool,
    /// Colour severities with ANSI escapes (text only).
    pub color: bool,
}

/// The policy a report was made under.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The policy's name.
    pub name: String,
    /// SHA-256 of the policy text, hex.
    pub sha256: String,
}

/// Counts of what was read and found.
///
/// ```
/// use scrub837::report::Summary;
/// use scrub837::{Finding, Position, RuleId};
/// let f = Finding::new(RuleId::LenientRead, "a", Position::default(), "m");
/// let s = Summary::new(Default::default(), None, std::slice::from_ref(&f));
/// assert_eq!(s.warnings, 1);
/// assert_eq!(s.by_rule["lenient-read"], 1);
/// ```
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Inputs given.
    pub files: u64,
    /// ISA segments read.
    pub interchanges: u64,
    /// ST segments read.
    pub transactions: u64,
    /// Claims (2300) read.
    pub claims: u64,
    /// Service lines (2400) read.
    pub service_lines: u64,
    /// S-code service lines read, when the command looks for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scode_lines: Option<u64>,
    /// Findings of severity error.
    pub errors: u64,
    /// Findings of severity warning.
    pub warnings: u64,
    /// Findings per rule id.
    pub by_rule: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// The summary of `findings` over inputs that read as `counts`.
    pub fn new(counts: Counts, scode_lines: Option<u64>, findings: &[Finding]) -> Summary {
        let mut s = Summary {
            files: counts.files,
            interchanges: counts.interchanges,
            transactions: counts.transactions,
            claims: counts.claims,
            service_lines: counts.service_lines,
            scode_lines,
            ..Summary::default()
        };
        for f in findings {
            match f.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
            }
            *s.by_rule.entry(f.rule.as_str()).or_default() += 1;
        }
        s
    }
}

/// A finding as every format writes it, PHI masked as asked.
#[derive(Serialize)]
struct Row<'a> {
    rule: &'static str,
    severity: &'static str,
    message: &'a str,
    action: &'a str,
    file: &'a str,
    segment: u64,
    offset: u64,
    claim_id: Option<&'a str>,
    line: Option<u32>,
    code: Option<&'a str>,
    element: Option<&'a str>,
    value: Option<&'a str>,
}

impl<'a> Row<'a> {
    fn new(f: &'a Finding, opts: &RenderOptions) -> Row<'a> {
        Row {
            rule: f.rule.as_str(),
            severity: f.severity.as_str(),
            message: &f.message,
            action: &f.action,
            file: &f.file,
            segment: f.segment,
            offset: f.offset,
            claim_id: f.claim_id.as_deref(),
            line: f.line,
            code: f.code.as_deref(),
            element: f.element.as_deref(),
            value: f.shown_value(opts.show_phi),
        }
    }
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

const TOOL: Tool = Tool {
    name: env!("CARGO_PKG_NAME"),
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool: Tool,
    policy: Option<&'a PolicyInfo>,
    findings: Vec<Row<'a>>,
    summary: &'a Summary,
}

#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<Option<&'a PolicyInfo>>,
}

/// Writes `findings` and `summary` to `w` in `format`.
///
/// # Errors
///
/// Write failures.
///
/// ```
/// use scrub837::report::{write_report, Format, RenderOptions, Summary};
/// use scrub837::{Finding, Position, RuleId};
/// let f = vec![Finding::new(RuleId::EnvelopeCount, "a.edi", Position { segment: 9, offset: 300 }, "SE01 says 8, counted 7")];
/// let s = Summary::new(Default::default(), None, &f);
/// let mut out = Vec::new();
/// write_report(&mut out, Format::Csv, &f, &s, None, &RenderOptions::default()).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("rule,severity,message,action,file,segment,offset,claim_id,line,code,element,value\n"));
/// assert!(text.contains("envelope-count,error,\"SE01 says 8, counted 7\""));
/// ```
pub fn write_report(
    w: &mut dyn Write,
    format: Format,
    findings: &[Finding],
    summary: &Summary,
    policy: Option<&PolicyInfo>,
    opts: &RenderOptions,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let report = JsonReport {
                schema_version: SCHEMA_VERSION,
                tool: TOOL,
                policy,
                findings: findings.iter().map(|f| Row::new(f, opts)).collect(),
                summary,
            };
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)
        }
        Format::Jsonl => {
            for f in findings {
                let t = Tagged {
                    kind: "finding",
                    body: Row::new(f, opts),
                    schema_version: None,
                    policy: None,
                };
                serde_json::to_writer(&mut *w, &t)?;
                writeln!(w)?;
            }
            let t = Tagged {
                kind: "summary",
                body: summary,
                schema_version: Some(SCHEMA_VERSION),
                policy: Some(policy),
            };
            serde_json::to_writer(&mut *w, &t)?;
            writeln!(w)
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            if findings.is_empty() {
                c.write_record([
                    "rule", "severity", "message", "action", "file", "segment", "offset",
                    "claim_id", "line", "code", "element", "value",
                ])
                .map_err(io::Error::other)?;
            }
            for f in findings {
                c.serialize(Row::new(f, opts)).map_err(io::Error::other)?;
            }
            c.flush()
        }
        Format::Text => write_text(w, findings, summary, opts),
    }
}

fn paint(text: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn write_text(
    w: &mut dyn Write,
    findings: &[Finding],
    summary: &Summary,
    opts: &RenderOptions,
) -> io::Result<()> {
    let mut file: Option<&str> = None;
    let mut claim: Option<Option<&str>> = None;
    for f in findings {
        if file != Some(&*f.file) {
            writeln!(w, "{}", paint(&f.file, "1", opts.color))?;
            file = Some(&f.file);
            claim = None;
        }
        if claim != Some(f.claim_id.as_deref()) {
            if let Some(c) = f.claim_id.as_deref() {
                writeln!(w, "  claim {c}")?;
            }
            claim = Some(f.claim_id.as_deref());
        }
        let sev = match f.severity {
            Severity::Error => paint("error", "31;1", opts.color),
            Severity::Warning => paint("warning", "33;1", opts.color),
        };
        let mut at = format!("segment {} (byte {})", f.segment, f.offset);
        if let Some(l) = f.line {
            at.push_str(&format!(", line {l}"));
        }
        if let Some(c) = &f.code {
            at.push_str(&format!(", {c}"));
        }
        let indent = if f.claim_id.is_some() { "    " } else { "  " };
        let mut detail = String::new();
        if let Some(e) = &f.element {
            detail.push_str(&format!(" [{e}"));
            if let Some(v) = f.shown_value(opts.show_phi) {
                detail.push_str(&format!(" = {v:?}"));
            }
            detail.push(']');
        }
        writeln!(w, "{indent}{at}: {sev}[{}]: {}{detail}", f.rule, f.message)?;
        writeln!(w, "{indent}  -> {}", f.action)?;
    }
    let mut line = format!(
        "{} file(s), {} interchange(s), {} transaction(s), {} claim(s), {} service line(s)",
        summary.files,
        summary.interchanges,
        summary.transactions,
        summary.claims,
        summary.service_lines
    );
    if let Some(n) = summary.scode_lines {
        line.push_str(&format!(", {n} S-code line(s)"));
    }
    line.push_str(&format!(
        ": {} error(s), {} warning(s)",
        summary.errors, summary.warnings
    ));
    writeln!(w, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Position, RuleId};

    fn sample() -> Vec<Finding> {
        vec![
            Finding::new(
                RuleId::BadDate,
                "a.edi",
                Position {
                    segment: 40,
                    offset: 999,
                },
                "DMG02 is not a date",
            )
            .with_claim("PCN1")
            .with_element("DMG02")
            .with_phi_value("19700231"),
            Finding::new(
                RuleId::LenientRead,
                "b.edi",
                Position {
                    segment: 1,
                    offset: 0,
                },
                "BOM",
            ),
        ]
    }

    fn render(format: Format, opts: RenderOptions) -> String {
        let f = sample();
        let s = Summary::new(Counts::default(), None, &f);
        let mut out = Vec::new();
        write_report(&mut out, format, &f, &s, None, &opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn phi_is_masked_in_every_format() {
        for fmt in [Format::Text, Format::Json, Format::Jsonl, Format::Csv] {
            let out = render(fmt, RenderOptions::default());
            assert!(!out.contains("19700231"), "{fmt:?}: {out}");
            assert!(out.contains("***"), "{fmt:?}: {out}");
            let shown = render(
                fmt,
                RenderOptions {
                    show_phi: true,
                    color: false,
                },
            );
            assert!(shown.contains("19700231"), "{fmt:?}");
        }
    }

    #[test]
    fn json_has_the_contract_keys_in_order() {
        let out = render(Format::Json, RenderOptions::default());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["tool"]["name"], "scrub837");
        assert!(v["policy"].is_null());
        let keys: Vec<&str> = [
            "rule", "severity", "message", "action", "file", "segment", "offset", "claim_id",
            "line", "code", "element", "value",
        ]
        .to_vec();
        let first = out.find("\"rule\"").unwrap();
        let mut last = first;
        for k in keys {
            let at = out[first..].find(&format!("\"{k}\"")).unwrap() + first;
            assert!(at >= last, "{k} out of order");
            last = at;
        }
        assert_eq!(v["summary"]["errors"], 1);
        assert_eq!(v["summary"]["by_rule"]["lenient-read"], 1);
    }

    #[test]
    fn jsonl_tags_lines() {
        let out = render(Format::Jsonl, RenderOptions::default());
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["type"], "finding");
        assert_eq!(lines[2]["type"], "summary");
        assert_eq!(lines[2]["schema_version"], 1);
    }

    #[test]
    fn text_groups_by_file_and_claim_and_colours_on_request() {
        let out = render(Format::Text, RenderOptions::default());
        assert!(
            out.starts_with("a.edi\n  claim PCN1\n    segment 40 (byte 999): error[bad-date]"),
            "{out}"
        );
        assert!(!out.contains('\x1b'));
        assert!(out.trim_end().ends_with("1 error(s), 1 warning(s)"));
        let colored = render(
            Format::Text,
            RenderOptions {
                show_phi: false,
                color: true,
            },
        );
        assert!(colored.contains("\x1b[31;1merror"));
    }
}
