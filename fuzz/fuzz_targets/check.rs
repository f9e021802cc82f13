//! A whole check run over arbitrary bytes: structure, claim rules and the
//! history pass, given as two inputs so the cross-file rules run too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scrub837::check::{CheckOptions, Checker};

fuzz_target!(|data: &[u8]| {
    let mut run = Checker::new(CheckOptions::default());
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let _ = run.check(&data[..cut], "a");
    let _ = run.check(&data[cut..], "b");
    let out = run.finish();
    // Findings come by input, then by segment.
    assert!(out.findings.windows(2).all(|w| (&*w[0].file, w[0].segment) <= (&*w[1].file, w[1].segment)));
});
