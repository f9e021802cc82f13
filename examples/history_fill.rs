//! Fills a history store with synthetic patients, for the history benchmark.
//!
//! ```sh
//! cargo run --release --example history_fill -- STORE PATIENTS
//! ```
//!
//! Each patient gets an S0353 and two S0354 lines (three rows), under keys
//! that no generated 837 uses, so a check run against the store pays the
//! cost of a large store without its patients' lines changing the findings.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use scrub837::grammar::Form;
use scrub837::history::HistoryStore;
use scrub837::policy::ScodeKind;
use scrub837::rules::{Frequency, ScodeRecord};
use scrub837::Position;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(store), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: history_fill STORE PATIENTS");
        std::process::exit(2);
    };
    let mut store = HistoryStore::open(&PathBuf::from(store)).expect("the store opens");
    let label: Arc<str> = "history_fill".into();
    let start = NaiveDate::from_ymd_opt(2023, 1, 2).expect("a real date");
    let batch = 100_000;
    let mut done = 0;
    while done < n {
        let records: Vec<ScodeRecord> = (done..(done + batch).min(n))
            .flat_map(|i| {
                let label = label.clone();
                [
                    (ScodeKind::Initial, 0u64),
                    (ScodeKind::Established, 31),
                    (ScodeKind::Established, 62),
                ]
                .into_iter()
                .map(move |(kind, day)| ScodeRecord {
                    input: 0,
                    label: label.clone(),
                    position: Position::default(),
                    sequence: i,
                    patient: format!("FILL|P{i:09}"),
                    billing_provider: "1234567893".into(),
                    claim_id: format!("F{i}-{day}"),
                    payer_claim_number: None,
                    form: Form::Professional,
                    kind,
                    date: start + Days::new(day + i % 300),
                    frequency: Frequency::Original,
                    line: Some(1),
                    has_error: false,
                })
            })
            .collect();
        store
            .with_session(|s| s.record(&[], &records))
            .expect("recorded");
        done = (done + batch).min(n);
    }
    let stats = store.stats().expect("stats");
    println!("{} patients, {} lines", stats.patients, stats.lines);
}
