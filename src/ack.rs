//! Acknowledgments: the 999 (005010X231A1) and the TA1 for one input.
//!
//! An [`AckRecorder`] watches a scan ([`crate::scan::ScanObserver`]): it
//! notes each envelope segment and transaction as the reader hands it over,
//! and files every finding under the interchange, group or transaction whose
//! segments it names. [`AckRecorder::write`] then writes, per interchange:
//!
//! - a TA1 with `R` and its note code, in place of the 999, when the
//!   interchange envelope itself is broken (ISA13, IEA01, IEA02, a missing
//!   IEA, an unsupported ISA12);
//! - else a 999: one `ST*999` per functional group, with AK1 echoing the GS,
//!   AK2 each ST, IK3/IK4 for each segment and element error with the
//!   standard codes, IK5 `A` or `R`, and AK9 with the group's counts; plus a
//!   TA1 with `A` before it when ISA14 asked for one.
//!
//! Warnings (`lenient-read`) and the claim-balance check, which is not a
//! syntax rule of X12, do not reject anything. Values that may be PHI are
//! left out of IK404 unless asked for.
//!
//! ```
//! use scrub837::ack::{AckOptions, AckRecorder};
//! use scrub837::scan::Scanner;
//!
//! let input = std::fs::read("samples/837p-clean.edi").unwrap();
//! let mut rec = AckRecorder::new();
//! Scanner::new()
//!     .scan_observed(&input[..], "clean", &mut |_| {}, &mut |_| {}, &mut rec)
//!     .unwrap();
//! let mut out = Vec::new();
//! rec.write(&AckOptions::fixed(1, "20260101", "1200"), &mut out).unwrap();
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("ST*999*0001*005010X231A1~"));
//! assert!(text.contains("IK5*A~"));
//! assert!(text.contains("AK9*A*1*1*1~"));
//! ```

use std::io::{self, Write};

use crate::finding::{Finding, RuleId};
use crate::lex::{Delimiters, Segment, SegmentId};
use crate::reader::{Block, BlockKind};
use crate::scan::ScanObserver;

/// The most IK3 loops kept per transaction; the verdict counts them all.
pub const MAX_SEGMENT_ERRORS: usize = 500;

/// How the acknowledgment is stamped.
#[derive(Clone, Debug)]
pub struct AckOptions {
    /// ISA13 of the first interchange written; the next ones count up.
    /// GS06 uses the same numbers.
    pub control_number: u32,
    /// `CCYYMMDD`.
    pub date: String,
    /// `HHMM`.
    pub time: String,
    /// Copy values marked as PHI into IK404.
    pub show_phi: bool,
}

impl AckOptions {
    /// Stamped now (UTC), with a control number from the clock: seconds
    /// since the start of the year, so two runs a second apart differ.
    pub fn now() -> AckOptions {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let now = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
        let year_start = chrono::NaiveDate::from_ymd_opt(now.year(), 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(0, |t| t.and_utc().timestamp());
        let control = (now.timestamp() - year_start).clamp(1, 999_999_999);
        AckOptions {
            control_number: control as u32,
            date: now.format("%Y%m%d").to_string(),
            time: now.format("%H%M").to_string(),
            show_phi: false,
        }
    }

    /// Fixed stamps, for reproducible output.
    pub fn fixed(control_number: u32, date: &str, time: &str) -> AckOptions {
        AckOptions {
            control_number,
            date: date.to_string(),
            time: time.to_string(),
            show_phi: false,
        }
    }
}

use chrono::Datelike;

#[derive(Clone, Debug)]
struct ElementError {
    element: u8,
    component: u8,
    reference: Box<str>,
    code: &'static str,
    value: Option<String>,
}

#[derive(Clone, Debug)]
struct SegmentError {
    id: String,
    position: u64,
    loop_id: Option<Box<str>>,
    code: &'static str,
    elements: Vec<ElementError>,
}

#[derive(Clone, Debug, Default)]
struct Transaction {
    st01: String,
    st02: String,
    st03: String,
    first: u64,
    /// How many segments it has (ST..SE).
    len: u64,
    codes: Vec<&'static str>,
    segments: Vec<SegmentError>,
    errors: usize,
}

#[derive(Clone, Debug, Default)]
struct Group {
    gs01: String,
    gs02: String,
    gs03: String,
    gs06: String,
    gs08: String,
    position: u64,
    ge: Option<(u64, String)>,
    codes: Vec<&'static str>,
    transactions: Vec<Transaction>,
}

#[derive(Clone, Debug, Default)]
struct Interchange {
    sender: (String, String),
    receiver: (String, String),
    control: String,
    /// ISA09 and ISA10, echoed in TA102 and TA103.
    date: String,
    time: String,
    usage: String,
    ta1_requested: bool,
    position: u64,
    iea: Option<u64>,
    delims: Delimiters,
    notes: Vec<&'static str>,
    groups: Vec<Group>,
}

/// Collects what a 999 and TA1 need while a scan runs.
#[derive(Clone, Debug, Default)]
pub struct AckRecorder {
    interchanges: Vec<Interchange>,
    /// The segment ids of the transaction last read, for IK301: its
    /// findings follow it. Only the last is kept, so memory stays bounded.
    ids: Vec<Option<SegmentId>>,
    ids_first: u64,
}

/// An echoed value, as printable ASCII: the acknowledgment must stay X12
/// (and the ISA its fixed width) whatever bytes the input held there.
fn text(v: &[u8]) -> String {
    v.trim_ascii()
        .iter()
        .map(|&b| printable(b) as char)
        .collect()
}

/// The first `n` characters of `s` (all ASCII: see [`text`]).
fn first_chars(s: &str, n: usize) -> &str {
    s.get(..n).unwrap_or(s)
}

/// `b`, or `?` for a byte outside the character set.
fn printable(b: u8) -> u8 {
    if (0x20..0x7F).contains(&b) {
        b
    } else {
        b'?'
    }
}

impl AckRecorder {
    /// An empty recorder.
    pub fn new() -> AckRecorder {
        AckRecorder::default()
    }

    fn interchange(&mut self) -> &mut Interchange {
        if self.interchanges.is_empty() {
            self.interchanges.push(Interchange::default());
        }
        self.interchanges.last_mut().expect("just ensured")
    }

    fn group(&mut self) -> &mut Group {
        let i = self.interchange();
        if i.groups.is_empty() {
            i.groups.push(Group::default());
        }
        i.groups.last_mut().expect("just ensured")
    }

    fn envelope_segment(&mut self, seg: &Segment<'_>) {
        let at = seg.position().segment;
        let id = seg.id_bytes().to_ascii_uppercase();
        match id.as_slice() {
            b"ISA" => {
                let f = seg.fields::<16>();
                self.interchanges.push(Interchange {
                    sender: (text(f.get(5)), text(f.get(6))),
                    receiver: (text(f.get(7)), text(f.get(8))),
                    control: text(f.get(13)),
                    date: text(f.get(9)),
                    time: text(f.get(10)),
                    usage: text(f.get(15)),
                    ta1_requested: f.get(14).trim_ascii() == b"1",
                    position: at,
                    delims: seg.delimiters(),
                    ..Interchange::default()
                });
            }
            b"GS" => {
                let f = seg.fields::<8>();
                let g = Group {
                    gs01: text(f.get(1)),
                    gs02: text(f.get(2)),
                    gs03: text(f.get(3)),
                    gs06: text(f.get(6)),
                    gs08: text(f.get(8)),
                    position: at,
                    ..Group::default()
                };
                self.interchange().groups.push(g);
            }
            b"GE" => {
                let ge01 = text(seg.value(1));
                self.group().ge = Some((at, ge01));
            }
            b"IEA" => self.interchange().iea = Some(at),
            _ => {}
        }
    }

    /// Where finding `f` belongs, by its segment number.
    fn file(&mut self, f: &Finding) {
        let at = f.segment;
        let Some(i) = self
            .interchanges
            .iter_mut()
            .rev()
            .find(|i| i.position <= at)
        else {
            return;
        };
        if at == i.position || i.iea == Some(at) {
            if let Some(note) = ta1_note(f, at == i.position) {
                i.notes.push(note);
            }
            return;
        }
        let Some(g) = i.groups.iter_mut().rev().find(|g| g.position <= at) else {
            return;
        };
        if at == g.position || g.ge.as_ref().is_some_and(|(p, _)| *p == at) {
            if let Some(code) = group_code(f) {
                g.codes.push(code);
            }
            return;
        }
        let Some(t) = g.transactions.iter_mut().rev().find(|t| t.first <= at) else {
            return;
        };
        let offset = at - t.first;
        if offset >= t.len.max(1) {
            return;
        }
        if let Some(code) = transaction_code(f) {
            t.codes.push(code);
            return;
        }
        let Some((code, element)) = segment_error(f) else {
            return;
        };
        t.errors += 1;
        let position = offset + 1;
        let id = f
            .ack
            .as_ref()
            .and_then(|a| a.segment_id)
            .or_else(|| {
                let i = at.checked_sub(self.ids_first)?;
                self.ids.get(usize::try_from(i).ok()?).copied().flatten()
            })
            .map(|id| id.to_string())
            .unwrap_or_default();
        let loop_id = f.ack.as_ref().and_then(|a| a.loop_id.clone());
        let existing = t
            .segments
            .iter_mut()
            .find(|s| s.position == position && s.id == id && element.is_some() && s.code == "8");
        match (existing, element) {
            (Some(s), Some(e)) => s.elements.push(e),
            (_, element) => {
                if t.segments.len() < MAX_SEGMENT_ERRORS {
                    t.segments.push(SegmentError {
                        id,
                        position,
                        loop_id,
                        code,
                        elements: element.into_iter().collect(),
                    });
                }
            }
        }
    }

    /// Writes the acknowledgments of every interchange read.
    ///
    /// # Errors
    ///
    /// When `out` fails.
    pub fn write(&self, opts: &AckOptions, out: &mut dyn Write) -> io::Result<()> {
        let mut control = opts.control_number;
        for i in &self.interchanges {
            if i.control.is_empty() {
                continue;
            }
            write_interchange(i, opts, control, out)?;
            control = control.wrapping_add(1) % 1_000_000_000;
        }
        Ok(())
    }

    /// The verdict per transaction, in input order: (ST02, accepted).
    pub fn verdicts(&self) -> Vec<(String, bool)> {
        self.interchanges
            .iter()
            .flat_map(|i| &i.groups)
            .flat_map(|g| &g.transactions)
            .map(|t| (t.st02.clone(), t.accepted()))
            .collect()
    }
}

impl Transaction {
    fn accepted(&self) -> bool {
        self.codes.is_empty() && self.errors == 0
    }
}

impl ScanObserver for AckRecorder {
    fn block(&mut self, block: &Block) {
        match block.kind() {
            BlockKind::Segment => {
                if let Some(seg) = block.first() {
                    self.envelope_segment(&seg);
                }
            }
            BlockKind::Transaction => {
                let segs = block.segments();
                let Some(st) = segs.clone().next() else {
                    return;
                };
                let f = st.fields::<3>();
                let t = Transaction {
                    st01: text(f.get(1)),
                    st02: text(f.get(2)),
                    st03: text(f.get(3)),
                    first: st.position().segment,
                    len: segs.len() as u64,
                    ..Transaction::default()
                };
                self.ids.clear();
                self.ids.extend(segs.map(|s| s.id()));
                self.ids_first = t.first;
                let ended = block.is_ended();
                let g = self.group();
                g.transactions.push(t);
                if !ended {
                    let t = g.transactions.last_mut().expect("just pushed");
                    t.codes.push("2");
                }
            }
        }
    }

    fn finding(&mut self, f: &Finding) {
        if f.severity == crate::finding::Severity::Error {
            self.file(f);
        }
    }
}

/// TA105 for an error at the ISA (`at_isa`) or IEA.
fn ta1_note(f: &Finding, at_isa: bool) -> Option<&'static str> {
    Some(match (f.rule, at_isa, f.element.as_deref()) {
        (_, true, Some("ISA09")) => "014",
        (_, true, Some("ISA10")) => "015",
        (_, true, Some("ISA14")) => "019",
        (_, true, Some("ISA15")) => "020",
        (RuleId::ControlNumberMismatch, true, _) => "025",
        (RuleId::ControlNumberMismatch, false, _) => "001",
        (RuleId::EnvelopeCount, _, _) => "021",
        (RuleId::UnsupportedVersion, _, _) => "017",
        (RuleId::SegmentMissing, _, _) => "023",
        (RuleId::SegmentSyntax, _, Some("ISA13")) => "018",
        (RuleId::SegmentSyntax | RuleId::SegmentOutOfPlace, _, _) => "022",
        _ => return None,
    })
}

/// AK905 for an error at the GS or GE.
fn group_code(f: &Finding) -> Option<&'static str> {
    Some(match f.rule {
        // A bad GS04/GS05 stamp has no AK905 code of its own.
        RuleId::BadDate | RuleId::ElementSyntax => return None,
        RuleId::UnsupportedVersion => "2",
        RuleId::SegmentMissing => "3",
        RuleId::ControlNumberMismatch if f.element.as_deref() == Some("GS06") => "19",
        RuleId::ControlNumberMismatch => "4",
        RuleId::EnvelopeCount => "5",
        RuleId::SegmentSyntax | RuleId::SegmentOutOfPlace | RuleId::CodeInvalid => "6",
        _ => return None,
    })
}

/// IK502 for an error of the transaction as a whole.
fn transaction_code(f: &Finding) -> Option<&'static str> {
    Some(match (f.rule, f.element.as_deref()) {
        (RuleId::EnvelopeCount, _) => "4",
        (RuleId::ControlNumberMismatch, Some("ST02")) => "23",
        (RuleId::ControlNumberMismatch, _) => "3",
        (RuleId::UnsupportedVersion, _) => "1",
        (RuleId::LimitExceeded, _) => "5",
        _ => return None,
    })
}

/// IK304 and, for element errors, the IK4 of a segment-level finding.
fn segment_error(f: &Finding) -> Option<(&'static str, Option<ElementError>)> {
    let value = |f: &Finding| {
        f.value
            .as_ref()
            .filter(|_| !f.value_is_phi)
            .map(|v| v.chars().take(99).collect::<String>())
    };
    if let Some(a) = f.ack.as_deref() {
        if a.element > 0 {
            return Some((
                "8",
                Some(ElementError {
                    element: a.element,
                    component: a.component,
                    reference: a.reference.clone(),
                    code: a.code,
                    value: value(f),
                }),
            ));
        }
        return Some((a.code, None));
    }
    let element_of = |code: &'static str| {
        let name = f.element.as_deref()?;
        let digits: String = name
            .rsplit_once('-')
            .map_or(name, |(_, e)| e)
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let digits = if digits.len() > 2 {
            &digits[digits.len() - 2..]
        } else {
            &digits
        };
        let element: u8 = digits.parse().ok()?;
        Some(ElementError {
            element,
            component: 0,
            reference: "".into(),
            code,
            value: value(f),
        })
    };
    Some(match f.rule {
        RuleId::SegmentOutOfPlace => ("2", None),
        RuleId::SegmentSyntax => ("1", None),
        RuleId::SegmentMissing => ("3", None),
        RuleId::RepeatExceeded => ("5", None),
        RuleId::Hierarchy => match element_of("I12") {
            Some(e) => ("8", Some(e)),
            None => ("8", None),
        },
        RuleId::BadDate => ("8", element_of("8")),
        RuleId::CodeInvalid => ("8", element_of("7")),
        RuleId::ElementSyntax => ("8", element_of("6")),
        RuleId::ElementMissing => ("8", element_of("1")),
        RuleId::ElementNotUsed => ("8", element_of("I10")),
        _ => return None,
    })
}

/// Writes segments with an interchange's separators, counting them.
struct SegmentWriter<'w> {
    out: &'w mut dyn Write,
    d: Delimiters,
    count: u64,
}

impl SegmentWriter<'_> {
    /// Writes a segment of text parts, each made safe to echo.
    fn segment(&mut self, parts: &[&str]) -> io::Result<()> {
        let clean: Vec<Vec<u8>> = parts.iter().map(|p| self.clean(p.as_bytes())).collect();
        let refs: Vec<&[u8]> = clean.iter().map(Vec::as_slice).collect();
        self.raw(&refs)
    }

    /// Values echoed from the input (IK404) may hold any byte, even a
    /// separator: outside the character set or a separator, it is
    /// [`SegmentWriter::stand_in`]. Byte for byte, so widths hold.
    fn clean(&self, p: &[u8]) -> Vec<u8> {
        let stand_in = self.stand_in();
        p.iter()
            .map(|&b| match printable(b) {
                b'?' => stand_in,
                x if self.is_separator(x) => stand_in,
                x => x,
            })
            .collect()
    }

    fn is_separator(&self, b: u8) -> bool {
        b == self.d.element
            || b == self.d.segment
            || b == self.d.component
            || Some(b) == self.d.repetition
    }

    /// The byte that stands for one that cannot be echoed: `?`, unless the
    /// interchange uses `?` as a separator (then the first of `#_.-` that
    /// it does not use; four separators cannot take all five).
    fn stand_in(&self) -> u8 {
        b"?#_.-"
            .iter()
            .copied()
            .find(|&b| !self.is_separator(b))
            .unwrap_or(b'?')
    }

    /// Writes a segment of parts as they are (separators included).
    fn raw(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        // Drop trailing empty elements, as X12 asks.
        let n = parts
            .iter()
            .rposition(|p| !p.is_empty())
            .map_or(0, |i| i + 1);
        for (i, p) in parts[..n].iter().enumerate() {
            if i > 0 {
                self.out.write_all(&[self.d.element])?;
            }
            self.out.write_all(p)?;
        }
        self.out.write_all(&[self.d.segment, b'\n'])?;
        self.count += 1;
        Ok(())
    }
}

fn pad(s: &str, n: usize) -> String {
    format!("{s:<n$}").chars().take(n).collect()
}

fn write_interchange(
    i: &Interchange,
    opts: &AckOptions,
    control: u32,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut d = i.delims;
    let ctl = format!("{control:09}");
    // No repetition separator declared: `^`, unless the input uses it.
    let rep = d
        .repetition
        .unwrap_or(if [d.element, d.segment, d.component].contains(&b'^') {
            b'!'
        } else {
            b'^'
        });
    // What ISA11 declares is a separator of the ack, whatever the input
    // declared: echoed values must not hold it.
    d.repetition = Some(rep);
    let mut w = SegmentWriter { out, d, count: 0 };
    // The ack is a test when the input is; anything else (even a bad
    // ISA15) is answered as production.
    let usage = if i.usage == "T" { "T" } else { "P" };
    // The ids are echoed too: cleaned byte for byte, so the ISA keeps its
    // fixed width and no id byte reads as a separator.
    let (blank, r0, r1, s0, s1) = (
        pad("", 10),
        w.clean(pad(&i.receiver.0, 2).as_bytes()),
        w.clean(pad(&i.receiver.1, 15).as_bytes()),
        w.clean(pad(&i.sender.0, 2).as_bytes()),
        w.clean(pad(&i.sender.1, 15).as_bytes()),
    );
    let isa: [&[u8]; 17] = [
        b"ISA",
        b"00",
        blank.as_bytes(),
        b"00",
        blank.as_bytes(),
        &r0,
        &r1,
        &s0,
        &s1,
        opts.date.as_bytes().get(2..).unwrap_or_default(),
        opts.time.as_bytes(),
        &[rep],
        b"00501",
        ctl.as_bytes(),
        b"0",
        usage.as_bytes(),
        &[d.component],
    ];
    w.raw(&isa)?;
    let broken = i.notes.first().copied();
    if broken.is_some() || i.ta1_requested {
        let (code, note) = match broken {
            Some(n) => ("R", n),
            None => ("A", "000"),
        };
        // TA102/TA103 are a date of six and a time of four: a broken ISA's
        // longer values are cut to fit.
        let (date, time) = (first_chars(&i.date, 6), first_chars(&i.time, 4));
        w.segment(&["TA1", &pad(&i.control, 9), date, time, code, note])?;
    }
    if broken.is_none() && !i.groups.is_empty() {
        let sender = &i.groups[0].gs03;
        let receiver = &i.groups[0].gs02;
        w.segment(&[
            "GS",
            "FA",
            sender,
            receiver,
            &opts.date,
            &opts.time,
            &control.to_string(),
            "X",
            "005010X231A1",
        ])?;
        for (n, g) in i.groups.iter().enumerate() {
            write_999(&mut w, g, n + 1)?;
        }
        w.segment(&["GE", &i.groups.len().to_string(), &control.to_string()])?;
    }
    w.segment(&[
        "IEA",
        if broken.is_none() && !i.groups.is_empty() {
            "1"
        } else {
            "0"
        },
        &ctl,
    ])?;
    Ok(())
}

fn write_999(w: &mut SegmentWriter<'_>, g: &Group, n: usize) -> io::Result<()> {
    let start = w.count;
    let st02 = format!("{n:04}");
    w.segment(&["ST", "999", &st02, "005010X231A1"])?;
    w.segment(&["AK1", &g.gs01, &g.gs06, &g.gs08])?;
    let mut accepted = 0usize;
    for t in &g.transactions {
        w.segment(&["AK2", &t.st01, &t.st02, &t.st03])?;
        for s in &t.segments {
            // IK303 holds at most four characters: 2300 and 2400 fit, the
            // lettered loop ids (2010BB) and the root do not, and go unsaid.
            let loop_id = s
                .loop_id
                .as_deref()
                .filter(|l| l.len() <= 4 && *l != "ST")
                .unwrap_or("");
            w.segment(&["IK3", &s.id, &s.position.to_string(), loop_id, s.code])?;
            for e in &s.elements {
                let mut at = e.element.to_string().into_bytes();
                if e.component > 0 {
                    at.push(w.d.component);
                    at.extend(e.component.to_string().bytes());
                }
                let reference = w.clean(e.reference.as_bytes());
                let value = w.clean(e.value.as_deref().unwrap_or("").as_bytes());
                w.raw(&[b"IK4", &at, &reference, e.code.as_bytes(), &value])?;
            }
        }
        if t.accepted() {
            accepted += 1;
            w.segment(&["IK5", "A"])?;
        } else {
            let mut codes: Vec<&str> = t.codes.clone();
            if t.errors > 0 {
                codes.push("5");
            }
            codes.dedup();
            codes.truncate(5);
            let mut parts = vec!["IK5", "R"];
            parts.extend(codes);
            w.segment(&parts)?;
        }
    }
    let received = g.transactions.len();
    // AK902 is what the GE says was sent; AK903 what arrived.
    let included =
        g.ge.as_ref()
            .map_or(received.to_string(), |(_, n)| n.clone());
    if !g.codes.is_empty() {
        accepted = 0;
    }
    let verdict = if accepted == received && received > 0 {
        "A"
    } else if accepted > 0 {
        "P"
    } else {
        "R"
    };
    let (received, accepted) = (received.to_string(), accepted.to_string());
    let mut parts = vec!["AK9", verdict, &included, &received, &accepted];
    parts.extend(g.codes.iter().take(5).copied());
    w.segment(&parts)?;
    let count = (w.count - start + 1).to_string();
    w.segment(&["SE", &count, &st02])
}
