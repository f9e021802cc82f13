//! `validate --ack` over arbitrary bytes: a scan with the element checks and
//! an acknowledgment recorder, then the 999/TA1 written. Besides "no panic":
//! the acknowledgment is X12 again, every ST..SE counts its own segments and
//! every interchange closes. And the findings-only scan `validate` runs (the
//! model's values read without keeping it; on one thread and on two) gives
//! the same findings, in the same order, and the same counts or error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scrub837::ack::{AckOptions, AckRecorder};
use scrub837::scan::Scanner;

fuzz_target!(|data: &[u8]| {
    let mut rec = AckRecorder::new();
    let scanner = Scanner::new().max_transaction_bytes(1 << 16);
    let mut full = Vec::new();
    let scanned = scanner.scan_observed(data, "fuzz", &mut |f| full.push(f), &mut |_| {}, &mut rec);
    for jobs in [1, 2] {
        let mut lean = Vec::new();
        let again = scanner
            .clone()
            .jobs(jobs)
            .scan_findings(data, "fuzz", &mut |f| lean.push(f), None);
        assert_eq!(lean, full, "findings on {jobs} thread(s)");
        match (&scanned, &again) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "counts on {jobs} thread(s)"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("one scan failed, the other did not: {scanned:?} / {again:?}"),
        }
    }
    if scanned.is_err() {
        return;
    }
    let mut out = Vec::new();
    rec.write(&AckOptions::fixed(1, "20260101", "1200"), &mut out)
        .expect("writing to memory");
    if out.is_empty() {
        return;
    }
    // Each interchange declares its own separators (an input's second
    // interchange may use others): read them from each ISA in turn.
    let mut rest = &out[..];
    while !rest.is_empty() {
        assert!(rest.len() > 106 && rest.starts_with(b"ISA"), "{rest:?}");
        let (e, t) = (rest[3], rest[105]);
        let mut in_st: Option<u64> = None;
        let mut closed = false;
        let mut used = 0;
        for seg in rest.split(|b| *b == t) {
            used += seg.len() + 1;
            let seg = seg.trim_ascii();
            let id = seg.split(|b| *b == e).next().unwrap_or_default();
            match id {
                b"ST" => in_st = Some(1),
                b"SE" => {
                    let n = in_st.take().expect("SE closes an ST") + 1;
                    let se01 = seg.split(|b| *b == e).nth(1).unwrap_or_default();
                    assert_eq!(se01, n.to_string().as_bytes(), "SE01 counts ST..SE");
                }
                b"IEA" => {
                    closed = true;
                    break;
                }
                _ => {
                    if let Some(n) = in_st.as_mut() {
                        *n += 1;
                    }
                }
            }
        }
        assert!(closed, "every ISA has its IEA");
        assert!(in_st.is_none(), "every ST has its SE");
        rest = rest.get(used..).unwrap_or_default();
        // The line break written after each terminator.
        while rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
            rest = &rest[1..];
        }
    }
});
