//! Crashes the fuzzer found, replayed as named tests (filled in by the fuzz work).
