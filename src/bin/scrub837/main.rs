//! The `scrub837` command: flags, input walking, exit codes. The work is
//! done by the `scrub837` library.

mod args;
mod inputs;
mod tree;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use scrub837::report::{write_report, RenderOptions, Summary};
use scrub837::scan::{Counts, Scanner};
use scrub837::{Finding, Severity};

use args::{Cli, Command, ReportConfig};
use inputs::Input;

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
            let scanner = Scanner::new().max_transaction_bytes(a.input.max_transaction_bytes);
            validate(&inputs, &scanner, &cfg)
        }
    }
}

/// Reads every input, then reports. Per-input failures are printed to
/// stderr and make the exit status 2; the other inputs are still read.
fn validate(inputs: &[Input], scanner: &Scanner, cfg: &ReportConfig) -> anyhow::Result<ExitCode> {
    let mut findings: Vec<Finding> = Vec::new();
    let mut counts = Counts::default();
    let mut failed = false;
    for input in inputs {
        let label = input.label();
        let start = findings.len();
        let result = input
            .open()
            .with_context(|| format!("{label}: cannot open"))
            .and_then(|rdr| {
                scanner
                    .scan(rdr, label.as_str(), &mut |f| findings.push(f), &mut |_| {})
                    .map_err(anyhow::Error::from)
                    .with_context(|| label.clone())
            });
        // Findings of one input are reported by segment position.
        findings[start..].sort_by_key(|f| (f.segment, f.offset));
        match result {
            Ok(c) => counts += c,
            Err(e) => {
                counts.files += 1;
                failed = true;
                eprintln!("scrub837: {e:#}");
            }
        }
    }
    let summary = Summary::new(counts, None, &findings);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let opts = RenderOptions {
        show_phi: cfg.show_phi,
        color: cfg.color,
    };
    write_report(&mut out, cfg.format, &findings, &summary, None, &opts)?;
    out.flush()?;
    Ok(exit_code(failed, &findings, cfg.deny_warnings))
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
