//! `scrub837 history`: import, list, forget, stats.

use std::collections::HashSet;
use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use scrub837::check::{CheckOptions, Checker};
use scrub837::history::HistoryStore;
use scrub837::rules::Frequency;

use crate::args::{HistoryAction, HistoryArgs, TreeFormatArg};

pub fn run(a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = a.history.as_deref() else {
        bail!("history: give the store with --history PATH");
    };
    let mut store = HistoryStore::open(path).with_context(|| path.display().to_string())?;
    let mut out = io::stdout().lock();
    match a.action {
        HistoryAction::Import { input, policy } => {
            let inputs = crate::inputs::resolve(&input.paths)?;
            let opts = CheckOptions {
                policy: crate::load_policy(&policy)?,
                scanner: crate::scanner(&input)?,
                ..CheckOptions::default()
            };
            let mut run = Checker::new(opts);
            let progress = crate::progress::Progress::new(&inputs);
            let failed =
                crate::inputs::read_each(&inputs, &progress, |rdr, label| run.check(rdr, label))
                    > 0;
            let outcome = run.finish();
            // Past billings are recorded as billed: every line but voids
            // and the claims voids and replacements take out.
            let taken: HashSet<(&str, &str, &str)> = outcome
                .superseding
                .iter()
                .map(|r| {
                    (
                        r.patient.as_str(),
                        r.billing_provider.as_str(),
                        r.claim_id.as_str(),
                    )
                })
                .collect();
            let lines: Vec<_> = outcome
                .records
                .iter()
                .filter(|r| match r.frequency {
                    Frequency::Void => false,
                    Frequency::Replacement => true,
                    _ => !taken.contains(&(
                        r.patient.as_str(),
                        r.billing_provider.as_str(),
                        r.claim_id.as_str(),
                    )),
                })
                .cloned()
                .collect();
            let (removed, added) =
                store.with_session(|s| s.record(&outcome.superseding, &lines))?;
            writeln!(
                out,
                "imported {added} line(s), removed {removed}, from {} file(s)",
                inputs.len()
            )?;
            return Ok(if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
        HistoryAction::List { format } => {
            let rows = store.list()?;
            match format {
                TreeFormatArg::Json => {
                    serde_json::to_writer_pretty(&mut out, &rows)?;
                    writeln!(out)?;
                }
                TreeFormatArg::Text => {
                    let mut last = String::new();
                    for r in &rows {
                        if r.patient != last {
                            writeln!(out, "patient {}", r.patient)?;
                            last = r.patient.clone();
                        }
                        writeln!(
                            out,
                            "  {} {} {} claim {} provider {}",
                            r.date_of_service, r.code, r.form, r.claim_id, r.billing_provider
                        )?;
                    }
                }
            }
        }
        HistoryAction::Forget { claim } => {
            let n = store.forget_claim(&claim)?;
            writeln!(out, "forgot {n} line(s) of claim {claim}")?;
        }
        HistoryAction::Stats { format } => {
            let s = store.stats()?;
            match format {
                TreeFormatArg::Json => {
                    serde_json::to_writer_pretty(&mut out, &s)?;
                    writeln!(out)?;
                }
                TreeFormatArg::Text => {
                    writeln!(out, "store: {} (schema {})", s.path, s.schema_version)?;
                    writeln!(out, "key fingerprint: {}", s.key_fingerprint)?;
                    writeln!(
                        out,
                        "patients: {}, lines: {} ({} initial, {} established)",
                        s.patients, s.lines, s.initial, s.established
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
