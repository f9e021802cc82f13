//! Turning path arguments into inputs: files, walked directories, stdin.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input, labelled `-`.
    Stdin,
    /// A file, labelled by its path as given (or as found in a directory).
    File(PathBuf),
}

impl Input {
    /// The label findings carry.
    pub fn label(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Opens the input for reading.
    pub fn open(&self) -> io::Result<Box<dyn Read>> {
        Ok(match self {
            Input::Stdin => Box::new(io::stdin().lock()),
            Input::File(p) => Box::new(File::open(p)?),
        })
    }
}

/// Opens each input in turn and hands it, with its label, to `read`
/// (through the progress bar). A failure to open or read is printed with
/// the input's label and the other inputs are still read; returns how many
/// failed.
pub fn read_each(
    inputs: &[Input],
    progress: &crate::progress::Progress,
    mut read: impl FnMut(Box<dyn Read>, &str) -> scrub837::Result<()>,
) -> u64 {
    let mut failed = 0;
    for input in inputs {
        let label = input.label();
        let result = input
            .open()
            .with_context(|| format!("{label}: cannot open"))
            .and_then(|rdr| {
                read(progress.wrap(rdr, &label), &label).with_context(|| label.clone())
            });
        if let Err(e) = result {
            failed += 1;
            eprintln!("scrub837: {e:#}");
        }
    }
    progress.finish();
    failed
}

/// File name extensions read when a directory is walked (any case); files
/// without an extension are read too. A file named on the command line is
/// always read, whatever its name.
pub const WALKED_EXTENSIONS: &[&str] = &["edi", "x12", "837", "dat", "txt"];

/// Resolves path arguments: `-` is standard input, a directory is walked in
/// sorted order (hidden entries skipped, see [`WALKED_EXTENSIONS`]), and no
/// path at all means standard input when it is not a terminal. Files a walk
/// skips are counted in a note on stderr, never skipped silently.
pub fn resolve(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    if paths.is_empty() {
        if crate::stdin_is_terminal() {
            bail!("no input: give one or more files or directories, or `-` for standard input");
        }
        return Ok(vec![Input::Stdin]);
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
        } else if p.is_dir() {
            let mut skipped = 0;
            walk(p, &mut out, &mut skipped)
                .with_context(|| format!("{}: cannot list the directory", p.display()))?;
            if skipped > 0 {
                eprintln!(
                    "scrub837: {}: skipped {skipped} file(s) not named like X12 (*.{} or no extension); name them to read them",
                    p.display(),
                    WALKED_EXTENSIONS.join(", *.")
                );
            }
        } else {
            // A missing file is reported when it is opened, so the others
            // are still read.
            out.push(Input::File(p.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Input>, skipped: &mut usize) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out, skipped)?;
        } else if e.is_file() {
            let x12_name = e
                .extension()
                .is_none_or(|x| WALKED_EXTENSIONS.iter().any(|w| x.eq_ignore_ascii_case(w)));
            if x12_name {
                out.push(Input::File(e));
            } else {
                *skipped += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_sorted_without_hidden_entries() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        for name in [
            "b.edi",
            "a.edi",
            ".hidden.edi",
            "sub/c.edi",
            "README.md",
            "d",
        ] {
            std::fs::write(d.path().join(name), b"x").unwrap();
        }
        let got = resolve(&[d.path().to_path_buf(), PathBuf::from("-")]).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|i| match i {
                Input::File(p) => p.strip_prefix(d.path()).unwrap().display().to_string(),
                Input::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(names, ["a.edi", "b.edi", "d", "sub/c.edi", "-"]);
    }
}
