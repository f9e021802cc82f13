//! A progress bar on stderr for long runs, only when stderr is a terminal.

use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressStyle};

use crate::inputs::Input;

/// Runs shorter than this many bytes (and files) get no bar.
const MIN_BYTES: u64 = 64 << 20;
const MIN_FILES: usize = 50;

/// The bar, or nothing.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar over the total size of `inputs` when the run looks long and
    /// stderr is a terminal.
    pub fn new(inputs: &[Input]) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let total: u64 = inputs
            .iter()
            .map(|i| match i {
                Input::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
                Input::Stdin => 0,
            })
            .sum();
        if total < MIN_BYTES && inputs.len() < MIN_FILES {
            return Progress(None);
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }

    /// Counts what `rdr` reads.
    pub fn wrap(&self, rdr: Box<dyn Read>, label: &str) -> Box<dyn Read> {
        match &self.0 {
            Some(bar) => {
                bar.set_message(label.to_string());
                Box::new(bar.wrap_read(rdr))
            }
            None => rdr,
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
