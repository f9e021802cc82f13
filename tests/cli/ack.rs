//! `validate --ack` against pyx12, on the implementation-guide corpus and
//! the samples: pyx12 must accept every 999 (or TA1) scrub837 writes, and
//! the verdicts (IK5 per transaction, AK9 per group) must equal those of
//! the 999 pyx12 writes for the same input, except for the files of the
//! disagreement table in `docs/pyx12-comparison.md`, where the tools
//! already disagree on whether the file has an error.

use std::path::{Path, PathBuf};

use crate::ig::{corpus, disagreement_table, name};
use crate::pyx12::{require_python, said_ok, x12valid};
use crate::util::{root, run, s, samples};

/// The verdict segments of an acknowledgment: `IK5*A`, `AK9*R`, `TA1*R`
/// (first two elements), in order. Separators come from its ISA.
fn verdicts(ack: &[u8]) -> Vec<String> {
    assert!(
        ack.len() > 106 && ack.starts_with(b"ISA"),
        "not an ISA: {ack:?}"
    );
    let (e, t) = (ack[3], ack[105]);
    ack.split(|b| *b == t)
        .map(|seg| seg.trim_ascii())
        .filter_map(|seg| {
            let parts: Vec<&[u8]> = seg.split(|b| *b == e).collect();
            let want = match parts[0] {
                b"IK5" | b"AK9" => 1,
                b"TA1" => 4,
                _ => return None,
            };
            let v = parts.get(want).copied().unwrap_or_default();
            Some(format!(
                "{}*{}",
                String::from_utf8_lossy(parts[0]),
                String::from_utf8_lossy(v)
            ))
        })
        .collect()
}

/// Runs x12valid on a copy of `file` in `dir`: (its words said OK, the 999
/// it wrote beside the copy, if any).
fn pyx12(python: &Path, file: &Path, dir: &Path) -> (bool, Option<Vec<u8>>) {
    let (copy, text) = x12valid(python, file, dir, &[]);
    assert!(
        !text.contains("Traceback"),
        "pyx12 crashed on {}:\n{text}",
        file.display()
    );
    let ok = said_ok(&copy, &text);
    let ack = [
        PathBuf::from(format!("{}.997", copy.display())),
        copy.with_extension("997"),
    ]
    .into_iter()
    .find_map(|p| std::fs::read(p).ok());
    (ok, ack)
}

struct Compared {
    file: String,
    ours: Vec<String>,
    theirs: Option<Vec<String>>,
    pyx12_accepts_ours: bool,
}

fn compare(python: &Path, file: &Path) -> Compared {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours_path = dir.path().join("ours.999");
    let out = run(&[
        "validate",
        "--ack",
        s(&ours_path),
        "--ack-control-number",
        "1",
        s(file),
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = std::fs::read(&ours_path).expect("validate --ack wrote the file");
    let theirs_dir = tempfile::tempdir().expect("temp dir");
    let (_, theirs) = pyx12(python, file, theirs_dir.path());
    let check_dir = tempfile::tempdir().expect("temp dir");
    let (accepts, _) = pyx12(python, &ours_path, check_dir.path());
    Compared {
        file: name(file),
        ours: verdicts(&ours),
        theirs: theirs.as_deref().map(verdicts),
        pyx12_accepts_ours: accepts,
    }
}

const DOC: &str = "docs/pyx12-comparison.md";

/// The files of the "999 verdicts" table of the comparison document.
fn verdict_table() -> Vec<String> {
    let text = std::fs::read_to_string(root().join(DOC)).expect("the comparison document");
    let start = text
        .find("## 999 verdicts")
        .expect("a `## 999 verdicts` section");
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn pyx12_accepts_our_999s_and_gives_the_same_verdicts() {
    let Some(python) = require_python() else {
        return;
    };
    let mut files = corpus();
    files.extend(samples());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<Compared> = std::thread::scope(|sc| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                let python = &python;
                sc.spawn(move || part.iter().map(|f| compare(python, f)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    let table = disagreement_table();
    let listed = verdict_table();
    let mut problems = Vec::new();
    for c in &results {
        if !c.pyx12_accepts_ours {
            problems.push(format!("{}: pyx12 rejects the 999 scrub837 wrote", c.file));
        }
        let exempt = table.contains_key(&c.file);
        let differ = c.theirs.as_ref().is_some_and(|t| *t != c.ours);
        match (exempt, differ, listed.contains(&c.file)) {
            (false, true, false) => problems.push(format!(
                "{}: verdicts differ: scrub837 {:?}, pyx12 {:?}; list it under \"999 verdicts\" in {DOC} with the reason",
                c.file, c.ours, c.theirs
            )),
            (_, false, true) => problems.push(format!(
                "{}: listed under \"999 verdicts\" but the verdicts agree: remove the row",
                c.file
            )),
            _ => {}
        }
        // Every acknowledgment says something about the input.
        assert!(
            !c.ours.is_empty(),
            "{}: no verdict in scrub837's ack",
            c.file
        );
    }
    // The comparison must have had something to compare.
    let compared = results.iter().filter(|c| c.theirs.is_some()).count();
    assert!(
        compared * 2 > results.len(),
        "pyx12 wrote a 999 for only {compared} files"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A clean file is accepted, a broken element is named in IK3/IK4 with its
/// standard codes, and a broken interchange trailer draws a TA1 instead.
#[test]
fn ack_content_for_clean_broken_and_envelope_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ack = |file: &Path| {
        let p = dir.path().join("a.999");
        let out = run(&[
            "validate",
            "--ack",
            s(&p),
            "--ack-control-number",
            "42",
            s(file),
        ]);
        assert!(matches!(out.status.code(), Some(0 | 1)));
        let text = String::from_utf8(std::fs::read(&p).expect("ack written")).expect("ascii");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the ack is owner-only");
        }
        text
    };
    let clean = ack(&root().join("samples/837p-clean.edi"));
    assert!(clean.contains("IEA*1*000000042~"), "{clean}");
    assert!(clean.contains("GS*FA*"), "{clean}");
    assert!(clean.contains("AK1*HC*4101*005010X222A1~"), "{clean}");
    assert!(
        clean.contains("IK5*A~") && clean.contains("AK9*A*1*1*1~"),
        "{clean}"
    );
    let bad = ack(&root().join("tests/data/ig/p-code-invalid-clm05-2.edi"));
    assert!(
        bad.contains("IK5*R*5~") && bad.contains("AK9*R*1*1*0~"),
        "{bad}"
    );
    let ik4 = bad.lines().find(|l| l.starts_with("IK4")).expect("an IK4");
    assert!(ik4.starts_with("IK4*5:2*1332*7*"), "{ik4}");
    let ta1 = ack(&root().join("tests/data/control-iea02-mismatch.edi"));
    assert!(ta1.contains("*R*001~") && !ta1.contains("ST*999"), "{ta1}");
}

#[test]
fn ack_needs_exactly_one_input_and_writes_nothing_otherwise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("a.999");
    let a = root().join("samples/837p-clean.edi");
    let out = run(&["validate", "--ack", s(&p), s(&a), s(&a)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one input"));
    assert!(!p.exists());
    let out = run(&[
        "validate",
        "--ack",
        s(&p),
        s(&root().join("tests/data/not-x12.txt")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!p.exists(), "no acknowledgment of an input that is not X12");
}
