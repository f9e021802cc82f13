//! `scrub837 parse`: the loop tree as JSON or indented text, streamed.
//!
//! JSON shape (every node has a `type`):
//!
//! ```text
//! {"schema_version": 1, "file": "a.edi", "children": [
//!   {"type": "interchange", "children": [
//!     {"type": "segment", "id": "ISA", "segment": 1, "offset": 0, "elements": [...]},
//!     {"type": "group", "children": [
//!       {"type": "segment", "id": "GS", ...},
//!       {"type": "transaction", "form": "837P", "guide": "005010X222A1", "children": [
//!         {"type": "loop", "id": "ST", "name": "Transaction set", "children": [...]}]},
//!       {"type": "segment", "id": "GE", ...}]},
//!     {"type": "segment", "id": "IEA", ...}]}],
//!  "findings": [...]}
//! ```
//!
//! An element is a string, or an array of strings when it is a composite. A
//! segment that fits nowhere carries `"unplaced": true`.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use scrub837::envelope::EnvelopeChecker;
use scrub837::grammar::builder::{LoopBuilder, LoopVisitor};
use scrub837::grammar::{Grammar, Grammars, SegmentNode};
use scrub837::lex::Segment;
use scrub837::reader::{Block, BlockKind, ReaderBuilder};
use scrub837::{Finding, Severity};

use crate::args::{ParseArgs, TreeFormatArg};
use crate::inputs::Input;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Interchange,
    Group,
    Other,
}

struct TreeWriter<W: Write> {
    out: W,
    json: bool,
    /// Open nodes: their level and whether a child was written yet.
    stack: Vec<(Level, bool)>,
    error: Option<io::Error>,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

impl<W: Write> TreeWriter<W> {
    fn emit(&mut self, f: impl FnOnce(&mut W) -> io::Result<()>) {
        if self.error.is_none() {
            if let Err(e) = f(&mut self.out) {
                self.error = Some(e);
            }
        }
    }

    fn indent(&self) -> String {
        "  ".repeat(self.stack.len().saturating_sub(1))
    }

    /// Writes the comma (JSON) before a new child of the innermost node.
    fn child(&mut self) {
        let first = match self.stack.last_mut() {
            Some((_, seen)) => !std::mem::replace(seen, true),
            None => true,
        };
        if self.json && !first {
            self.emit(|w| w.write_all(b","));
        }
    }

    fn open(&mut self, level: Level, json_head: String, text_head: String) {
        self.child();
        let ind = self.indent();
        let json = self.json;
        self.emit(|w| {
            if json {
                write!(w, "\n{json_head},\"children\":[")
            } else {
                writeln!(w, "{ind}{text_head}")
            }
        });
        self.stack.push((level, false));
    }

    fn close(&mut self) {
        if self.stack.len() <= 1 {
            return;
        }
        self.stack.pop();
        if self.json {
            self.emit(|w| w.write_all(b"]}"));
        }
    }

    fn close_to(&mut self, level: Level) {
        while self.stack.len() > 1 && self.stack.last().is_some_and(|(l, _)| *l != level) {
            self.close();
        }
    }

    fn is_open(&self, level: Level) -> bool {
        self.stack.iter().any(|(l, _)| *l == level)
    }

    fn segment(&mut self, seg: &Segment<'_>, unplaced: bool) {
        self.child();
        let ind = self.indent();
        let json = self.json;
        let pos = seg.position();
        self.emit(|w| {
            if json {
                let elements: Vec<serde_json::Value> = seg
                    .elements()
                    .map(|e| {
                        // ISA16 *is* the component separator: never split the ISA.
                        if e.is_composite() && !seg.is(b"ISA") {
                            serde_json::Value::from(e.components().map(text).collect::<Vec<_>>())
                        } else {
                            serde_json::Value::from(text(e.as_bytes()))
                        }
                    })
                    .collect();
                let mut obj = serde_json::json!({
                    "type": "segment",
                    "id": text(seg.id_bytes()),
                    "segment": pos.segment,
                    "offset": pos.offset,
                    "elements": elements,
                });
                if unplaced {
                    obj["unplaced"] = serde_json::Value::Bool(true);
                }
                w.write_all(b"\n")?;
                serde_json::to_writer(&mut *w, &obj)?;
                Ok(())
            } else {
                let mark = if unplaced { "  (unplaced)" } else { "" };
                writeln!(
                    w,
                    "{ind}{}  [segment {} @ byte {}]{mark}",
                    text(seg.as_bytes()),
                    pos.segment,
                    pos.offset
                )
            }
        });
    }

    /// An envelope or stray segment outside transactions.
    fn envelope(&mut self, seg: &Segment<'_>) {
        let id = seg.id_bytes().to_ascii_uppercase();
        match id.as_slice() {
            b"ISA" => {
                self.close_to(Level::Other);
                self.open(
                    Level::Interchange,
                    "{\"type\":\"interchange\"".into(),
                    "interchange".into(),
                );
                self.segment(seg, false);
            }
            b"GS" => {
                if self.is_open(Level::Group) {
                    self.close_to(Level::Interchange);
                    self.close();
                }
                self.open(Level::Group, "{\"type\":\"group\"".into(), "group".into());
                self.segment(seg, false);
            }
            b"GE" if self.is_open(Level::Group) => {
                self.segment(seg, false);
                while self.is_open(Level::Group) {
                    self.close();
                }
            }
            b"IEA" if self.is_open(Level::Interchange) => {
                while self.is_open(Level::Group) {
                    self.close();
                }
                self.segment(seg, false);
                while self.is_open(Level::Interchange) {
                    self.close();
                }
            }
            _ => self.segment(seg, true),
        }
    }
}

impl<'a, W: Write> LoopVisitor<'a> for TreeWriter<W> {
    fn open(&mut self, g: &Grammar, l: usize, _seg: &Segment<'a>) {
        let def = &g.loops[l];
        let head = serde_json::json!({"type": "loop", "id": def.id, "name": def.name}).to_string();
        let json_head = head[..head.len() - 1].to_string();
        self.open(
            Level::Other,
            json_head,
            format!("loop {} ({})", def.id, def.name),
        );
    }

    fn segment(&mut self, _g: &Grammar, _l: usize, seg: &Segment<'a>, node: Option<&SegmentNode>) {
        TreeWriter::segment(self, seg, node.is_none());
    }

    fn close(&mut self, _g: &Grammar, _l: usize) {
        TreeWriter::close(self);
    }
}

pub fn run(a: &ParseArgs) -> anyhow::Result<ExitCode> {
    let input = if a.file.as_os_str() == "-" {
        Input::Stdin
    } else {
        Input::File(a.file.clone())
    };
    let label = input.label();
    let rdr = input
        .open()
        .with_context(|| format!("{label}: cannot open"))?;
    let json = a.format == TreeFormatArg::Json;
    let stdout = io::stdout();
    let mut w = TreeWriter {
        out: BufWriter::new(stdout.lock()),
        json,
        stack: vec![(Level::Other, false)],
        error: None,
    };
    if json {
        let head = serde_json::json!({"schema_version": 1, "file": label}).to_string();
        w.emit(|o| write!(o, "{},\"children\":[", &head[..head.len() - 1]));
    }
    let mut findings: Vec<Finding> = Vec::new();
    let result = walk(rdr, &label, a.max_transaction_bytes, &mut w, &mut findings);
    w.close_to(Level::Other);
    while w.stack.len() > 1 {
        w.close();
    }
    findings.sort_by_key(|f| (f.segment, f.offset));
    let failed = match &result {
        Ok(()) => false,
        Err(e) => {
            eprintln!("scrub837: {label}: {e:#}");
            true
        }
    };
    if json {
        let list = serde_json::to_string(&findings)?;
        w.emit(|o| writeln!(o, "],\"findings\":{list}}}"));
    } else {
        for f in &findings {
            let line = f.to_string();
            w.emit(|o| writeln!(o, "finding: {line}"));
        }
    }
    if let Some(e) = w.error.take() {
        return Err(e.into());
    }
    w.out.flush()?;
    Ok(if failed {
        ExitCode::from(2)
    } else if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn walk<W: Write>(
    rdr: Box<dyn io::Read>,
    label: &str,
    max: usize,
    w: &mut TreeWriter<W>,
    findings: &mut Vec<Finding>,
) -> anyhow::Result<()> {
    let mut reader = ReaderBuilder::new()
        .max_transaction_bytes(max)
        .from_reader(rdr, label);
    let mut envelope = EnvelopeChecker::new(label);
    let grammars = Grammars::structure();
    let mut block = Block::new();
    let mut sink = |f: Finding| findings.push(f);
    let mut professional = LoopBuilder::new(&grammars.professional, label);
    let mut institutional = LoopBuilder::new(&grammars.institutional, label);
    while reader.read_block(&mut block, &mut sink)? {
        let grammar = envelope.block(&block, &mut sink);
        if block.kind() != BlockKind::Transaction {
            if let Some(seg) = block.first() {
                w.envelope(&seg);
            }
            continue;
        }
        let head = match grammar {
            Some(g) => serde_json::json!({"type": "transaction", "form": g.form.as_str(), "guide": g.guide}),
            None => serde_json::json!({"type": "transaction", "form": null, "guide": null}),
        }
        .to_string();
        let text_head = match grammar {
            Some(g) => format!("transaction {} {}", g.form, g.guide),
            None => "transaction (not read as an 837)".to_string(),
        };
        w.open(Level::Other, head[..head.len() - 1].to_string(), text_head);
        match grammar {
            Some(g) => {
                let builder = if std::ptr::eq(g, &grammars.professional) {
                    &mut professional
                } else {
                    &mut institutional
                };
                builder.reset();
                for seg in block.segments() {
                    builder.feed(&seg, w, &mut sink);
                }
                builder.finish(w, &mut sink);
            }
            None => {
                for seg in block.segments() {
                    w.segment(&seg, true);
                }
            }
        }
        w.close();
    }
    envelope.finish(&mut sink);
    Ok(())
}
