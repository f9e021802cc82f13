//! Helpers: run the binary, find fixtures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    root().join("tests/data").join(name)
}

/// A path under `samples`.
pub fn sample(name: &str) -> PathBuf {
    root().join("samples").join(name)
}

/// Every `.edi` file in `samples/`, sorted.
pub fn samples() -> Vec<PathBuf> {
    edi_files("samples")
}

/// Every `.edi` file in the repository folder `dir`, sorted.
pub fn edi_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}/: {e}"))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "edi"))
        .collect();
    v.sort();
    v
}

/// The scrub837 binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scrub837"))
}

/// Runs scrub837 with `args`, stdin empty.
pub fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scrub837 runs")
}

/// Runs scrub837 with `args` and `input` on stdin.
pub fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scrub837 starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("scrub837 ends");
    writer.join().expect("writer thread");
    out
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Validates `input` (bytes) through the library and returns the findings.
pub fn findings_of(input: &[u8]) -> Vec<scrub837::Finding> {
    let mut f = Vec::new();
    scrub837::scan::Scanner::new()
        .scan(input, "t.edi", &mut |x| f.push(x), &mut |_| {})
        .expect("input reads as X12");
    f.sort_by_key(|x| (x.segment, x.offset));
    f
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
