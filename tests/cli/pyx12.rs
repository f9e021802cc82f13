//! pyx12, an independent 837 validator, as an oracle: every sample must pass
//! it too. `.ci/run` installs it in `.venv`; set `SCRUB837_PYX12_PYTHON` to
//! a Python that has `pyx12` to use another. Without it the tests fail under
//! `CI` and are skipped (with a note) elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{data, root, samples};

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SCRUB837_PYX12_PYTHON").map(PathBuf::from),
        Some(root().join(".venv/bin/python")),
    ];
    for c in candidates.into_iter().flatten() {
        let ok = Command::new(&c)
            .args(["-c", "import pyx12"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(c);
        }
    }
    None
}

pub fn require_python() -> Option<PathBuf> {
    let p = python();
    if p.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "pyx12 is required under CI: run .ci/run, or set SCRUB837_PYX12_PYTHON"
        );
        eprintln!("note: pyx12 not found (.venv/bin/python or SCRUB837_PYX12_PYTHON); skipping outside CI");
    }
    p
}

/// One x12valid run on a copy of `file` in `dir` (it writes its 999, and
/// with `-J` its JSON, beside its input): the copy's path, and its stdout
/// and stderr together, where its words are.
pub fn x12valid(python: &Path, file: &Path, dir: &Path, args: &[&str]) -> (PathBuf, String) {
    let copy = dir.join(file.file_name().expect("file name"));
    std::fs::copy(file, &copy).expect("copy");
    let out = Command::new(python)
        .args(["-m", "pyx12.scripts.x12valid"])
        .args(args)
        .arg(&copy)
        .current_dir(dir)
        .output()
        .expect("pyx12 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (copy, text)
}

/// Whether x12valid's words say `FILE: OK` for the copy it ran on.
pub fn said_ok(copy: &Path, text: &str) -> bool {
    let ok_line = format!("{}: OK", copy.display());
    text.lines().any(|l| l.trim() == ok_line)
}

/// pyx12's verdict on `file`: `Ok(())` when clean, else its error lines.
///
/// x12valid's exit status says nothing, and it says nothing for a missing
/// path, so the verdict is read from its words: `FILE: OK`, and no ERROR
/// or Failure line.
pub fn pyx12_verdict(python: &Path, file: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (copy, text) = x12valid(python, file, dir.path(), &[]);
    let bad = text
        .lines()
        .any(|l| l.contains(" ERROR ") || l.contains("Failure") || l.contains("Traceback"));
    if said_ok(&copy, &text) && !bad {
        Ok(())
    } else {
        Err(text)
    }
}

#[test]
fn pyx12_accepts_every_sample() {
    let Some(py) = require_python() else { return };
    let files = samples();
    assert!(files.len() >= 12);
    for f in files {
        if let Err(text) = pyx12_verdict(&py, &f) {
            panic!("pyx12 rejects {}:\n{text}", f.display());
        }
    }
}

/// The oracle is not vacuous: it rejects what scrub837 rejects.
#[test]
fn pyx12_rejects_broken_envelopes_too() {
    let Some(py) = require_python() else { return };
    for name in [
        "envelope-se01-wrong.edi",
        "control-ge02-mismatch.edi",
        "segment-out-of-place.edi",
        "bad-date.edi",
    ] {
        let verdict = pyx12_verdict(&py, &data(name));
        assert!(verdict.is_err(), "pyx12 accepted {name}");
        let scrub = crate::util::run(&["validate", crate::util::s(&data(name))]);
        assert_eq!(scrub.status.code(), Some(1), "{name}");
    }
}
