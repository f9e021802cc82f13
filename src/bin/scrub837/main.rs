//! The `scrub837` command: flags, input walking, exit codes. The work is
//! done by the `scrub837` library.

mod args;
mod fixcmd;
mod history;
mod inputs;
mod progress;
mod tree;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use scrub837::ack::{AckOptions, AckRecorder};
use scrub837::auth::Authorizations;
use scrub837::check::{CheckOptions, Checker};
use scrub837::codes::CodeLists;
use scrub837::extract::scode_rows;
use scrub837::history::HistoryStore;
use scrub837::policy::Policy;
use scrub837::report::{write_report, PolicyInfo, RenderOptions, Summary};
use scrub837::scan::{Counts, Scanner};
use scrub837::{Finding, Severity};

use args::{Cli, Command, ReportConfig};
use inputs::Input;
use progress::Progress;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("scrub837: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(a) => tree::run(&a),
        Command::Validate(a) => {
            let inputs = inputs::resolve(&a.input.paths)?;
            let cfg = a.report.resolve();
            let scanner = scanner(&a.input)?.jobs(a.jobs());
            let ack = match &a.ack {
                None => None,
                Some(path) => {
                    if inputs.len() != 1 {
                        bail!("--ack acknowledges one input; {} were given", inputs.len());
                    }
                    let mut opts = AckOptions::now();
                    if let Some(n) = a.ack_control_number {
                        opts.control_number = n;
                    }
                    opts.show_phi = a.report.show_phi;
                    Some((path.as_path(), opts))
                }
            };
            validate(&inputs, &scanner, &cfg, ack)
        }
        Command::Check(a) => {
            let policy = load_policy(&a.policy)?;
            let authorizations = match &a.auth {
                Some(p) => Some(Authorizations::from_path(p)?),
                None => None,
            };
            let inputs = inputs::resolve(&a.input.paths)?;
            let cfg = a.report.resolve();
            let opts = CheckOptions {
                policy,
                authorizations,
                as_of: a.as_of,
                scanner: scanner(&a.input)?,
            };
            check(&inputs, opts, &cfg, a.history.as_deref(), a.record)
        }
        Command::History(a) => history::run(a),
        Command::Extract(a) => {
            let policy = load_policy(&a.policy)?;
            let inputs = inputs::resolve(&a.input.paths)?;
            let scanner = scanner(&a.input)?;
            extract(&inputs, &scanner, &policy, a.format)
        }
        Command::Fix(a) => {
            let opts = scrub837::fix::FixOptions {
                policy: load_policy(&a.policy)?,
                revenue_fix: !a.no_revenue_fix,
                max_transaction_bytes: a.max_transaction_bytes,
                reserved_ids: Default::default(),
            };
            fixcmd::run(&a, opts)
        }
        Command::Policy => {
            io::stdout()
                .lock()
                .write_all(scrub837::policy::DEFAULT_POLICY.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn load_policy(a: &args::PolicyArgs) -> anyhow::Result<Policy> {
    match &a.policy {
        None => Ok(Policy::default_policy().clone()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read the policy", p.display()))?;
            Policy::from_toml(&text).with_context(|| p.display().to_string())
        }
    }
}

/// The scanner the input flags ask for: transaction limit, code lists.
pub fn scanner(a: &args::InputArgs) -> anyhow::Result<Scanner> {
    let mut scanner = Scanner::new().max_transaction_bytes(a.max_transaction_bytes);
    if !a.code_lists.is_empty() {
        let mut lists = CodeLists::bundled().clone();
        for (name, path) in &a.code_lists {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the code list", path.display()))?;
            lists
                .add_text(name, &text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        scanner = scanner.code_lists(std::sync::Arc::new(lists));
    }
    Ok(scanner)
}

/// Reads every input, then reports (and writes the acknowledgment when
/// asked). Per-input failures are printed to stderr and make the exit
/// status 2; the other inputs are still read.
fn validate(
    inputs: &[Input],
    scanner: &Scanner,
    cfg: &ReportConfig,
    ack: Option<(&std::path::Path, AckOptions)>,
) -> anyhow::Result<ExitCode> {
    let mut findings: Vec<Finding> = Vec::new();
    let mut counts = Counts::default();
    let mut recorder = AckRecorder::new();
    let failed = inputs::read_each(inputs, &Progress::new(inputs), |rdr, label| {
        let start = findings.len();
        // The recorder is only fed when an acknowledgment is asked for.
        let observer = ack
            .as_ref()
            .map(|_| &mut recorder as &mut dyn scrub837::scan::ScanObserver);
        let result = scanner.scan_findings(rdr, label, &mut |f| findings.push(f), observer);
        // Findings of one input are reported by segment position.
        findings[start..].sort_by_key(|f| (f.segment, f.offset));
        counts += result?;
        Ok(())
    });
    // An input that could not be read still counts as a file.
    counts.files += failed;
    if let Some((path, opts)) = ack {
        // No acknowledgment of an input that could not be read.
        if failed == 0 {
            let mut out = Vec::new();
            recorder.write(&opts, &mut out)?;
            fixcmd::write_atomically_bytes(path, &out)?;
        }
    }
    let summary = Summary::new(counts, None, &findings);
    report(&findings, &summary, None, cfg)?;
    Ok(exit_code(failed > 0, &findings, cfg.deny_warnings))
}

fn check(
    inputs: &[Input],
    opts: CheckOptions,
    cfg: &ReportConfig,
    history: Option<&std::path::Path>,
    record: bool,
) -> anyhow::Result<ExitCode> {
    let policy = opts.policy.info();
    let mut run = Checker::new(opts);
    let failed = inputs::read_each(inputs, &Progress::new(inputs), |rdr, label| {
        run.check(rdr, label)
    }) > 0;
    let out = match history {
        None => run.finish(),
        Some(path) => {
            let mut store = HistoryStore::open(path).with_context(|| path.display().to_string())?;
            // Load, decide and record in one write transaction.
            store
                .with_session(|s| {
                    for p in run.patients() {
                        let h = s.load(&p)?;
                        run.history_mut().patients.insert(p, h);
                    }
                    let out = run.finish();
                    if record {
                        s.record(&out.superseding, &out.accepted)?;
                    }
                    Ok(out)
                })
                .with_context(|| path.display().to_string())?
        }
    };
    let summary = Summary::new(out.counts, Some(out.scode_lines), &out.findings);
    report(&out.findings, &summary, Some(&policy), cfg)?;
    Ok(exit_code(failed, &out.findings, cfg.deny_warnings))
}

fn extract(
    inputs: &[Input],
    scanner: &Scanner,
    policy: &Policy,
    format: args::RowFormatArg,
) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    let failed = inputs::read_each(inputs, &Progress::new(inputs), |rdr, label| {
        let label: std::sync::Arc<str> = label.into();
        scanner.scan(rdr, label.clone(), &mut |_| {}, &mut |tx| {
            scode_rows(tx, policy, &label, &mut rows)
        })?;
        Ok(())
    }) > 0;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match format {
        args::RowFormatArg::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        args::RowFormatArg::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            if rows.is_empty() {
                w.write_record([
                    "file",
                    "claim_id",
                    "form",
                    "code",
                    "modifiers",
                    "revenue_code",
                    "charge",
                    "units",
                    "date_of_service",
                    "authorization",
                    "frequency",
                    "segment",
                ])?;
            }
            for r in &rows {
                w.serialize(r)?;
            }
            w.flush()?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(
    findings: &[Finding],
    summary: &Summary,
    policy: Option<&PolicyInfo>,
    cfg: &ReportConfig,
) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let opts = RenderOptions {
        show_phi: cfg.show_phi,
        color: cfg.color,
    };
    write_report(&mut out, cfg.format, findings, summary, policy, &opts)?;
    out.flush()?;
    Ok(())
}

fn exit_code(failed: bool, findings: &[Finding], deny_warnings: bool) -> ExitCode {
    if failed {
        return ExitCode::from(2);
    }
    let fails = findings.iter().any(|f| {
        f.severity == Severity::Error || (deny_warnings && f.severity == Severity::Warning)
    });
    if fails {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether standard input is a terminal (then it is not read implicitly).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}
