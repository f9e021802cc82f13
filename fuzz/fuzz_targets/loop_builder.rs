//! One whole scan over arbitrary bytes: reader, envelope checks, loop
//! builder and claim model, with every model accessor the rules use.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scrub837::model::Transaction;
use scrub837::scan::Scanner;

fn walk(tx: &Transaction<'_>) {
    for claim in tx.claims() {
        let _ = (
            claim.subscriber(),
            claim.patient(),
            claim.billing_provider(),
        );
        let _ = (
            claim.dates().len(),
            claim.diagnoses().len(),
            claim.date(b"434"),
        );
        let _ = claim.line_total().map(|a| a.to_string());
        for line in claim.lines() {
            assert_eq!(line.claim, claim.index(), "a line points at its claim");
            let _ = claim.service_date(line);
            let _ = line.procedure.map(|p| p.modifiers().count());
        }
    }
    assert!(tx.lines().len() >= tx.claims().map(|c| c.lines().len()).sum::<usize>());
}

fuzz_target!(|data: &[u8]| {
    let mut findings = 0u64;
    let mut claims = 0u64;
    let result = Scanner::new().max_transaction_bytes(1 << 16).scan(
        data,
        "fuzz",
        &mut |f| {
            findings += 1;
            let _ = f.to_string();
        },
        &mut |tx| {
            claims += tx.claim_count() as u64;
            walk(tx);
        },
    );
    match result {
        Ok(counts) => assert_eq!(counts.claims, claims, "counted claims"),
        Err(e) => {
            let _ = (e.to_string(), e.position());
        }
    }
});
