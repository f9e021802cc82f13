//! fix over arbitrary bytes: no panic, and whatever it writes for input that
//! reads as X12 reads as X12 again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scrub837::fix::{fix, FixOptions};
use scrub837::scan::Scanner;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    if fix(data, "f", &mut out, &FixOptions::default()).is_ok() {
        assert!(Scanner::new().scan(&out[..], "out", &mut |_| {}, &mut |_| {}).is_ok(), "fix wrote what cannot be read");
    }
});
