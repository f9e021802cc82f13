//! `validate --ack` over arbitrary bytes: a scan with the element checks and
//! an acknowledgment recorder, then the 999/TA1 written. Besides "no panic":
//! the acknowledgment is X12 again, every ST..SE counts its own segments and
//! every interchange closes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scrub837::ack::{AckOptions, AckRecorder};
use scrub837::scan::Scanner;

fuzz_target!(|data: &[u8]| {
    let mut rec = AckRecorder::new();
    let scanned = Scanner::new().max_transaction_bytes(1 << 16).scan_observed(
        data,
        "fuzz",
        &mut |_| {},
        &mut |_| {},
        &mut rec,
    );
    if scanned.is_err() {
        return;
    }
    let mut out = Vec::new();
    rec.write(&AckOptions::fixed(1, "20260101", "1200"), &mut out)
        .expect("writing to memory");
    if out.is_empty() {
        return;
    }
    assert!(out.len() > 106 && out.starts_with(b"ISA"), "{out:?}");
    let (e, t) = (out[3], out[105]);
    let mut in_st: Option<u64> = None;
    let mut isa = 0i64;
    for seg in out.split(|b| *b == t).map(|s| s.trim_ascii()).filter(|s| !s.is_empty()) {
        let id = seg.split(|b| *b == e).next().unwrap_or_default();
        match id {
            b"ISA" => isa += 1,
            b"IEA" => isa -= 1,
            b"ST" => in_st = Some(1),
            b"SE" => {
                let n = in_st.take().expect("SE closes an ST") + 1;
                let se01 = seg.split(|b| *b == e).nth(1).unwrap_or_default();
                assert_eq!(se01, n.to_string().as_bytes(), "SE01 counts ST..SE");
            }
            _ => {
                if let Some(n) = in_st.as_mut() {
                    *n += 1;
                }
            }
        }
    }
    assert_eq!(isa, 0, "every ISA has its IEA");
    assert!(in_st.is_none(), "every ST has its SE");
});
