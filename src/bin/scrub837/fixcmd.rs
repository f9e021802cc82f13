//! `scrub837 fix`: atomic output, the report, exit codes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use scrub837::fix::{fix_to, Change, FixOptions, FixReport};
use scrub837::report::{PolicyInfo, SCHEMA_VERSION};

use crate::args::{FixArgs, TreeFormatArg};

/// How often a fix is redone when new claim ids turn out to be taken by a
/// later claim of the input.
const ATTEMPTS: usize = 3;

pub fn run(a: &FixArgs, opts: FixOptions) -> anyhow::Result<ExitCode> {
    let stdin = a.input.as_os_str() == "-";
    let label = if stdin {
        "-".to_string()
    } else {
        a.input.display().to_string()
    };
    let to_stdout = a.output.as_deref().is_some_and(|o| o.as_os_str() == "-");
    let mut opts = opts;
    let report = if stdin {
        // Standard input cannot be read twice: collisions are an error.
        let mut input = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut input)
            .context("-: cannot read standard input")?;
        attempt(
            &mut opts,
            &label,
            &|| Ok(Box::new(io::Cursor::new(input.clone())) as Box<dyn Read>),
            a,
            to_stdout,
        )?
    } else {
        let path = a.input.clone();
        attempt(
            &mut opts,
            &label,
            &|| {
                Ok(Box::new(File::open(&path).with_context(|| {
                    format!("{}: cannot open", path.display())
                })?))
            },
            a,
            to_stdout,
        )?
    };
    write_report(a, &report, &opts.policy.info(), to_stdout)?;
    Ok(if report.not_fixed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

type Open<'a> = dyn Fn() -> anyhow::Result<Box<dyn Read>> + 'a;

fn attempt(
    opts: &mut FixOptions,
    label: &str,
    open: &Open<'_>,
    a: &FixArgs,
    to_stdout: bool,
) -> anyhow::Result<FixReport> {
    for _ in 0..ATTEMPTS {
        let rdr = open()?;
        let control = a.control_number.unwrap_or(1);
        let report = if a.dry_run {
            let mut side = io::sink();
            let scode = a
                .scode_out
                .as_ref()
                .map(|_| (&mut side as &mut dyn Write, control));
            fix_to(rdr, label, &mut io::sink(), scode, opts).with_context(|| label.to_string())?
        } else if to_stdout {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            let r = with_side_file(a.scode_out.as_deref(), |side| {
                fix_to(rdr, label, &mut w, side.map(|s| (s, control)), opts)
                    .with_context(|| label.to_string())
            })?;
            if !r.collisions.is_empty() {
                bail!("{label}: new claim id(s) {} are used by later claims; write to a file to let scrub837 pick others", r.collisions.join(", "));
            }
            r
        } else {
            let target = a
                .output
                .as_deref()
                .expect("clap requires --output without --dry-run");
            write_atomically(target, |w| {
                with_side_file(a.scode_out.as_deref(), |side| {
                    fix_to(rdr, label, w, side.map(|s| (s, control)), opts)
                        .with_context(|| label.to_string())
                })
            })?
        };
        if report.collisions.is_empty() || to_stdout {
            return Ok(report);
        }
        opts.reserved_ids.extend(report.collisions.iter().cloned());
    }
    bail!("{label}: could not find new claim ids unused in the input after {ATTEMPTS} attempts")
}

/// Runs `f` with a writer to `path` when given, the file written
/// atomically like the main output (renamed into place only when `f`
/// succeeds with no id collision).
fn with_side_file(
    path: Option<&Path>,
    f: impl FnOnce(Option<&mut dyn Write>) -> anyhow::Result<FixReport>,
) -> anyhow::Result<FixReport> {
    match path {
        None => f(None),
        Some(p) => write_atomically(p, |w| f(Some(w))),
    }
}

/// Writes through a temporary file in the target's folder, renamed into
/// place only when `write` succeeds and found no id collision (on a
/// collision nothing is written and the report says which ids).
fn write_atomically(
    target: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<FixReport>,
) -> anyhow::Result<FixReport> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // tempfile creates the file with owner-only permissions (0600).
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    let mut w = BufWriter::new(tmp.as_file());
    let report = write(&mut w)?;
    w.flush()
        .with_context(|| format!("{}: write failed", target.display()))?;
    drop(w);
    if !report.collisions.is_empty() {
        return Ok(report);
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("{}: write failed", target.display()))?;
    tmp.persist(target).with_context(|| {
        format!(
            "{}: cannot rename the temporary file into place",
            target.display()
        )
    })?;
    Ok(report)
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool: Tool,
    policy: &'a PolicyInfo,
    output: Option<String>,
    dry_run: bool,
    #[serde(flatten)]
    report: &'a FixReport,
}

#[derive(serde::Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

fn write_report(
    a: &FixArgs,
    r: &FixReport,
    policy: &PolicyInfo,
    to_stdout: bool,
) -> anyhow::Result<()> {
    let mut text = Vec::new();
    match a.format {
        TreeFormatArg::Json => {
            let j = JsonReport {
                schema_version: SCHEMA_VERSION,
                tool: Tool {
                    name: env!("CARGO_PKG_NAME"),
                    version: env!("CARGO_PKG_VERSION"),
                },
                policy,
                output: a.output.as_ref().map(|p| p.display().to_string()),
                dry_run: a.dry_run,
                report: r,
            };
            serde_json::to_writer_pretty(&mut text, &j)?;
            writeln!(text)?;
        }
        TreeFormatArg::Text => render_text(&mut text, a, r)?,
    }
    match (&a.report, to_stdout) {
        (Some(path), _) => {
            write_atomically_bytes(path, &text)?;
        }
        (None, true) => io::stderr().lock().write_all(&text)?,
        (None, false) => {
            let mut out = io::stdout().lock();
            out.write_all(&text)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `target` through an owner-only temporary file in the
/// same folder, synced and renamed into place: all or nothing.
pub(crate) fn write_atomically_bytes(target: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("{}: write failed", target.display()))?;
    tmp.persist(target)
        .with_context(|| format!("{}: cannot rename the file into place", target.display()))?;
    Ok(())
}

fn render_text(w: &mut Vec<u8>, a: &FixArgs, r: &FixReport) -> io::Result<()> {
    let target = match (&a.output, a.dry_run) {
        (_, true) => "(dry run: nothing written)".to_string(),
        (Some(o), _) => o.display().to_string(),
        (None, _) => "-".to_string(),
    };
    writeln!(w, "{} -> {}", r.input, target)?;
    for c in &r.changes {
        match c {
            Change::Split {
                segment,
                claim_id,
                old_total,
                new_total,
                new_claims,
            } => {
                writeln!(
                    w,
                    "  segment {segment}: split claim {claim_id}: total {old_total} -> {new_total}"
                )?;
                for n in new_claims {
                    let line = n
                        .original_line
                        .map_or_else(|| "?".to_string(), |l| l.to_string());
                    writeln!(
                        w,
                        "    new claim {} for {} (line {line}), total {}",
                        n.claim_id, n.code, n.total
                    )?;
                }
            }
            Change::RevenueCode {
                segment,
                claim_id,
                code,
                old,
                new,
            } => {
                writeln!(
                    w,
                    "  segment {segment}: claim {claim_id}: {code} revenue code {old} -> {new}"
                )?;
            }
            Change::Count {
                segment,
                element,
                old,
                new,
            } => {
                writeln!(w, "  segment {segment}: {element} {old} -> {new}")?;
            }
            _ => {}
        }
    }
    for n in &r.not_fixed {
        writeln!(
            w,
            "  segment {}: not fixed, needs review: claim {} [{}]: {}",
            n.segment, n.claim_id, n.rule, n.reason
        )?;
    }
    let s = &r.summary;
    writeln!(
        w,
        "{} transaction(s), {} claim(s): {} split into {} new claim(s), {} revenue code(s) fixed, {} count(s) recomputed, {} not fixed",
        s.transactions, s.claims, s.claims_split, s.claims_created, s.revenue_codes_fixed, s.counts_recomputed, s.not_fixed
    )
}
