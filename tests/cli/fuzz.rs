//! Hostile inputs, replayed through the code paths of both fuzz targets
//! (`fuzz/fuzz_targets/`): the reader's blocks, read in pieces of every
//! size, must give the input back, and a whole `Scanner::scan` must end
//! with findings or an `Err`, never a panic.
//!
//! Every file in `tests/data/fuzz/` has a test here named for what the
//! input is: crashes the fuzzer found, and hand-made inputs. When
//! `fuzz/corpus/` exists (after `cargo fuzz run`), its files are replayed
//! too.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use scrub837::model::Transaction;
use scrub837::reader::{Block, BlockKind, ReaderBuilder};
use scrub837::scan::{Counts, Scanner};
use scrub837::{Error, ErrorKind, Finding, RuleId};

use crate::util::{data, root, sample};

/// A source that hands out at most `step` bytes per `read`, as the framer
/// target's does.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// One block as the reader gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockDigest {
    kind: BlockKind,
    offset: u64,
    segments: u64,
    ended: bool,
    len: usize,
}

/// What reading an input block by block gave.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reading {
    blocks: Vec<BlockDigest>,
    /// Every block's bytes, concatenated.
    bytes: Vec<u8>,
    /// The error that stopped the reading, shown.
    error: Option<String>,
    /// Whether that error was `NotX12`.
    not_x12: bool,
}

/// Reads `input` asking for `chunk` bytes at a time and getting at most
/// `step`, checking what the framer target checks: offsets and segment
/// numbers follow on, spans tile each block, and the blocks give back the
/// input (all of it, or a prefix when reading fails).
fn read_blocks(input: &[u8], chunk: usize, step: usize) -> Reading {
    let src = Trickle { data: input, step };
    let mut rdr = ReaderBuilder::new().chunk_size(chunk).from_reader(src, "t");
    let mut block = Block::new();
    let mut reading = Reading {
        blocks: Vec::new(),
        bytes: Vec::new(),
        error: None,
        not_x12: false,
    };
    let mut segments = 0;
    loop {
        match rdr.read_block(&mut block, &mut |f| drop(f.to_string())) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                reading.not_x12 = matches!(e.kind(), ErrorKind::NotX12 { .. });
                reading.error = Some(e.to_string());
                break;
            }
        }
        assert_eq!(block.offset(), reading.bytes.len() as u64, "block offset");
        assert_eq!(block.position().segment, segments + 1, "segment number");
        let mut at = 0;
        for s in block.spans() {
            assert_eq!(s.start, at, "spans are contiguous");
            assert!(s.start <= s.content_start && s.content_start <= s.content_end);
            assert!(s.content_end <= s.end && s.end <= block.bytes().len());
            at = s.end;
        }
        assert_eq!(at, block.bytes().len(), "spans cover the block");
        segments += block.segment_count();
        reading.bytes.extend_from_slice(block.bytes());
        reading.blocks.push(BlockDigest {
            kind: block.kind(),
            offset: block.offset(),
            segments: block.segment_count(),
            ended: block.is_ended(),
            len: block.bytes().len(),
        });
    }
    if reading.error.is_none() {
        assert!(
            reading.bytes == input,
            "the blocks do not reproduce the input (chunk {chunk}, step {step})"
        );
    } else {
        assert!(
            input.starts_with(&reading.bytes),
            "the blocks are not a prefix of the input (chunk {chunk}, step {step})"
        );
    }
    reading
}

/// The framer target's path, for every piece size from 1 to 15 bytes and
/// for whole reads: the outcome must not depend on how the bytes arrive.
/// Returns the outcome of a whole read with the default chunk size.
fn replay_reader(input: &[u8]) -> Reading {
    let whole = read_blocks(input, 256 << 10, usize::MAX);
    for step in (1..=15).chain([usize::MAX]) {
        for chunk in [16, 52, 76] {
            let r = read_blocks(input, chunk, step);
            assert_eq!(r, whole, "chunk {chunk}, step {step} reads differently");
        }
    }
    whole
}

/// Every model accessor the rules use, as the loop_builder target calls
/// them.
fn walk(tx: &Transaction<'_>) {
    for claim in tx.claims() {
        let _ = (
            claim.subscriber(),
            claim.patient(),
            claim.billing_provider(),
        );
        let _ = (
            claim.dates().len(),
            claim.diagnoses().len(),
            claim.date(b"434"),
        );
        let _ = claim.line_total().map(|a| a.to_string());
        for line in claim.lines() {
            assert_eq!(line.claim, claim.index(), "a line points at its claim");
            let _ = claim.service_date(line);
            let _ = line.procedure.map(|p| p.modifiers().count());
        }
    }
}

/// What a whole scan gave.
struct Scan {
    result: Result<Counts, Error>,
    /// Sorted by segment and offset.
    findings: Vec<Finding>,
}

impl Scan {
    fn counts(&self) -> Counts {
        match &self.result {
            Ok(c) => *c,
            Err(e) => panic!("the input should read: {e}"),
        }
    }

    fn error(&self) -> &Error {
        match &self.result {
            Ok(c) => panic!("the input should not read, but gave {c:?}"),
            Err(e) => e,
        }
    }

    fn rules(&self) -> Vec<(RuleId, u64, u64)> {
        self.findings
            .iter()
            .map(|f| (f.rule, f.segment, f.offset))
            .collect()
    }

    fn count(&self, rule: RuleId) -> usize {
        self.findings.iter().filter(|f| f.rule == rule).count()
    }
}

/// The loop_builder target's path: one scan with a 64 KiB transaction
/// limit, walking every transaction's model.
fn replay_scan(input: &[u8]) -> Scan {
    let mut findings = Vec::new();
    let mut claims = 0;
    let result = Scanner::new().max_transaction_bytes(1 << 16).scan(
        input,
        "t",
        &mut |f| findings.push(f),
        &mut |tx| {
            claims += tx.claim_count() as u64;
            walk(tx);
        },
    );
    if let Ok(c) = &result {
        assert_eq!(c.claims, claims, "counted claims");
    }
    findings.sort_by_key(|f| (f.segment, f.offset));
    Scan { result, findings }
}

/// A fixture in `tests/data/fuzz/`.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(data(&format!("fuzz/{name}"))).expect("the fixture exists")
}

/// Both paths over one fixture.
fn replay(name: &str) -> (Reading, Scan) {
    let input = fixture(name);
    (replay_reader(&input), replay_scan(&input))
}

// Crashes the fuzzer found.

/// framer target, first run: an element separator of 0x80 or above made
/// `parse_isa` match it with `nom::character::char`, which consumes the
/// char's UTF-8 length (2 bytes), so slicing past a one-byte rest panicked
/// (`range start index 2 out of range for slice of length 1`). This is the
/// shortest form: `ISA`, then 0xFF twice.
#[test]
fn isa_non_ascii_element_separator_cut_is_not_x12() {
    let (reading, scan) = replay("isa-non-ascii-element-separator-cut.edi");
    assert!(reading.not_x12, "{:?}", reading.error);
    assert!(reading.blocks.is_empty());
    assert!(matches!(scan.error().kind(), ErrorKind::NotX12 { .. }));
}

/// The same crash in a whole interchange (ISA, GS, GE, IEA) whose element
/// separator is 0xFF: read in small pieces, some piece ends on a separator.
/// Whether such an ISA is accepted is the reader's call; it must be the
/// same call for any piece size, and never a panic.
#[test]
fn isa_non_ascii_element_separator_reads_the_same_in_any_piece_size() {
    let (reading, scan) = replay("isa-non-ascii-element-separator.edi");
    match &scan.result {
        Ok(counts) => {
            assert!(reading.error.is_none());
            assert_eq!((counts.interchanges, counts.transactions), (1, 0));
        }
        Err(e) => {
            assert!(reading.not_x12, "{:?}", reading.error);
            assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }), "{e}");
        }
    }
}

/// framer target, after the reader gained a fast path for runs of plain
/// segments: a segment inside a transaction that starts `ISA` and a
/// separator other than the interchange's (`ISA\x13ISA*00*...`) was an
/// ordinary segment to the fast path (whole reads) but a new interchange to
/// the general path (small reads), so blocks depended on the read size. Both
/// now take it for an ISA.
#[test]
fn isa_with_another_separator_inside_a_transaction_reads_the_same_in_any_piece_size() {
    let (reading, _) = replay("isa-with-another-separator-inside-a-transaction.edi");
    let input = fixture("isa-with-another-separator-inside-a-transaction.edi");
    let at = input
        .windows(4)
        .position(|w| w == b"ISA\x13")
        .expect("the inner ISA") as u64;
    // The transaction before it is cut there, not ended.
    let cut = &reading.blocks[2];
    assert_eq!(cut.kind, BlockKind::Transaction);
    assert!(!cut.ended);
    assert_eq!(cut.offset + cut.len as u64, at);
}

/// check target (corpus replay): an ISA whose terminator is a space, and a
/// last stray segment after which one more space followed. The reader took
/// that space for trailing blanks already in a tail and dropped it; it is
/// now kept as a last empty segment, so the blocks still add up to the input
/// (`replay` checks that for every read size).
#[test]
fn a_blank_terminator_then_a_trailing_blank_loses_no_byte() {
    let (reading, scan) = replay("blank-terminator-then-trailing-blank.edi");
    assert_eq!(
        reading.bytes,
        fixture("blank-terminator-then-trailing-blank.edi")
    );
    assert!(reading.error.is_none());
    assert!(scan.result.is_ok());
}

// Hand-made inputs.

#[test]
fn empty_input_is_not_x12() {
    let (reading, scan) = replay("empty.edi");
    assert!(reading.not_x12 && reading.blocks.is_empty());
    let e = scan.error();
    assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }));
    assert_eq!(e.position(), None);
    assert!(scan.findings.is_empty());
}

#[test]
fn bom_then_garbage_is_not_x12() {
    let (reading, scan) = replay("bom-then-garbage.edi");
    assert!(reading.not_x12 && reading.blocks.is_empty());
    let e = scan.error();
    assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }));
    // The error points past the BOM, where the ISA should be.
    assert_eq!(e.position().map(|p| (p.segment, p.offset)), Some((1, 3)));
    // The BOM itself was tolerated before the garbage stopped the read.
    assert_eq!(scan.rules(), [(RuleId::LenientRead, 1, 0)]);
}

#[test]
fn isa_only_reads_with_a_missing_iea() {
    let (reading, scan) = replay("isa-only.edi");
    assert_eq!(reading.blocks.len(), 1);
    assert_eq!(reading.blocks[0].kind, BlockKind::Segment);
    let counts = scan.counts();
    assert_eq!((counts.interchanges, counts.transactions), (1, 0));
    assert_eq!(scan.rules(), [(RuleId::SegmentMissing, 1, 0)]);
    assert!(scan.findings[0].message.contains("IEA"));
}

#[test]
fn isa_truncated_after_separator_is_not_x12() {
    let (reading, scan) = replay("isa-truncated-after-separator.edi");
    assert!(reading.not_x12 && reading.blocks.is_empty());
    let e = scan.error();
    assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }));
    assert_eq!(e.position().map(|p| (p.segment, p.offset)), Some((1, 0)));
}

/// All 16 ISA fields are there, but not the terminator after ISA16.
#[test]
fn isa_truncated_before_terminator_is_not_x12() {
    let (reading, scan) = replay("isa-truncated-before-terminator.edi");
    assert!(reading.not_x12 && reading.blocks.is_empty());
    let e = scan.error();
    assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }));
    assert_eq!(e.position().map(|p| (p.segment, p.offset)), Some((1, 0)));
}

#[test]
fn isa_terminator_equal_to_element_separator_is_not_x12() {
    let (reading, scan) = replay("isa-terminator-equals-element-separator.edi");
    assert!(reading.not_x12 && reading.blocks.is_empty());
    let e = scan.error();
    assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }));
    assert!(e.to_string().contains("same byte"), "{e}");
}

/// 4000 empty segments between GS and ST, 100 more inside the transaction:
/// one `segment-syntax` finding each, and the claims still read.
#[test]
fn terminator_run_gives_one_syntax_finding_per_empty_segment() {
    let (reading, scan) = replay("terminator-run.edi");
    // ISA, GS, 4000 empty segments, the transaction, GE, IEA.
    assert_eq!(reading.blocks.len(), 4005);
    let tx = &reading.blocks[4002];
    assert_eq!(
        (tx.kind, tx.segments, tx.ended),
        (BlockKind::Transaction, 152, true)
    );
    let counts = scan.counts();
    assert_eq!((counts.claims, counts.service_lines), (2, 7));
    assert_eq!(scan.count(RuleId::SegmentSyntax), 4100);
    // The first empty segment sits right after GS's terminator.
    assert_eq!(scan.rules()[0], (RuleId::SegmentSyntax, 3, 167));
    // SE01 still says 52.
    let se = scan
        .findings
        .iter()
        .find(|f| f.rule == RuleId::EnvelopeCount)
        .expect("an envelope-count finding");
    assert_eq!(se.element.as_deref(), Some("SE01"));
    assert_eq!(scan.findings.len(), 4101);
}

#[test]
fn segment_ids_of_one_and_four_chars_are_syntax_findings() {
    let (_, scan) = replay("segment-ids-one-and-four-chars.edi");
    let counts = scan.counts();
    assert_eq!((counts.claims, counts.service_lines), (2, 7));
    assert_eq!(
        scan.rules(),
        [
            (RuleId::SegmentSyntax, 5, 237),
            (RuleId::SegmentSyntax, 6, 242),
            (RuleId::EnvelopeCount, 56, 1497),
        ]
    );
}

/// A transaction straight inside the ISA: no group names its version, so
/// no claims are read from it.
#[test]
fn st_without_gs_is_out_of_place() {
    let (reading, scan) = replay("st-without-gs.edi");
    let kinds: Vec<BlockKind> = reading.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BlockKind::Segment,
            BlockKind::Transaction,
            BlockKind::Segment
        ]
    );
    let counts = scan.counts();
    assert_eq!((counts.transactions, counts.claims), (1, 0));
    assert_eq!(
        scan.rules(),
        [
            (RuleId::SegmentOutOfPlace, 2, 107),
            (RuleId::EnvelopeCount, 54, 1433),
        ]
    );
}

#[test]
fn se_without_st_is_out_of_place() {
    let (reading, scan) = replay("se-without-st.edi");
    assert!(reading.blocks.iter().all(|b| b.kind == BlockKind::Segment));
    assert_eq!(scan.counts().transactions, 0);
    assert_eq!(
        scan.rules(),
        [
            (RuleId::SegmentOutOfPlace, 3, 168),
            (RuleId::EnvelopeCount, 4, 179),
        ]
    );
}

/// The first 10 segments of the clean sample (the transaction stops after
/// the 2010AA NM1), then the whole clean sample: the new ISA cuts off the
/// open transaction, group and interchange.
#[test]
fn nested_isa_cuts_the_open_transaction() {
    let (reading, scan) = replay("nested-isa-in-transaction.edi");
    let tx: Vec<&BlockDigest> = reading
        .blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Transaction)
        .collect();
    assert_eq!(tx.len(), 2);
    assert!(!tx[0].ended && tx[1].ended);
    assert_eq!(tx[0].segments, 8);
    let counts = scan.counts();
    assert_eq!(
        (counts.interchanges, counts.transactions, counts.claims),
        (2, 2, 2)
    );
    let missing_se = scan
        .findings
        .iter()
        .find(|f| f.rule == RuleId::SegmentMissing && f.message.contains("SE segment"))
        .expect("the cut transaction lacks its SE");
    // Reported where the gap is noticed: the last segment before the cut.
    assert_eq!((missing_se.segment, missing_se.offset), (10, 416));
    // The group and the interchange are reported at their headers.
    let envelope: Vec<(u64, u64)> = scan
        .findings
        .iter()
        .filter(|f| {
            f.rule == RuleId::SegmentMissing
                && (f.message.contains("GE") || f.message.contains("IEA"))
        })
        .map(|f| (f.segment, f.offset))
        .collect();
    assert_eq!(envelope, [(1, 0), (2, 107)]);
    // The second interchange reuses the first one's ISA13.
    assert!(scan
        .findings
        .iter()
        .any(|f| f.rule == RuleId::ControlNumberMismatch
            && f.segment == 11
            && f.element.as_deref() == Some("ISA13")));
}

/// Invalid UTF-8 in a name is kept as bytes; in a segment id it is a
/// syntax finding.
#[test]
fn non_utf8_bytes_are_kept_raw() {
    let input = fixture("non-utf8-bytes.edi");
    assert!(std::str::from_utf8(&input).is_err());
    replay_reader(&input);
    let mut last_names = Vec::new();
    let mut findings = Vec::new();
    Scanner::new()
        .scan(&input[..], "t", &mut |f| findings.push(f), &mut |tx| {
            for c in tx.claims() {
                last_names.push(c.subscriber().last_name.to_vec());
            }
        })
        .expect("reads");
    assert_eq!(
        last_names,
        [b"SANT\xc3\x28RO".to_vec(), b"SANT\xc3\x28RO".to_vec()]
    );
    let scan = replay_scan(&input);
    // The name's bytes are outside the X12 character set: an element
    // finding for each element that holds them.
    assert_eq!(
        scan.rules(),
        [
            (RuleId::ElementSyntax, 16, 586),
            (RuleId::ElementSyntax, 16, 586),
            (RuleId::SegmentSyntax, 17, 635)
        ]
    );
}

/// The clean sample with `\r` as the segment terminator and no line
/// breaks: a legal choice, read with no findings.
#[test]
fn cr_only_terminators_read_like_the_clean_sample() {
    let input = fixture("cr-only-terminators.edi");
    let reading = replay_reader(&input);
    assert_eq!(reading.blocks.len(), 5);
    let mut rdr = ReaderBuilder::new().from_reader(&input[..], "t");
    let mut block = Block::new();
    assert!(rdr.read_block(&mut block, &mut |_| {}).expect("reads"));
    assert_eq!(block.delimiters().segment, b'\r');
    let scan = replay_scan(&input);
    assert!(scan.findings.is_empty(), "{:#?}", scan.findings);
    let clean = std::fs::read(sample("837p-clean.edi")).expect("sample");
    assert_eq!(scan.counts(), replay_scan(&clean).counts());
}

/// Files in `tests/data/fuzz/` each have a test in this file.
#[test]
fn every_fuzz_fixture_has_a_test() {
    const COVERED: &[&str] = &[
        "ack-empty-last-qualifier-element.edi",
        "ack-interchanges-with-other-separators.edi",
        "ack-non-ascii-receiver-id.edi",
        "ack-question-mark-terminator.edi",
        "blank-terminator-then-trailing-blank.edi",
        "bom-then-garbage.edi",
        "cr-only-terminators.edi",
        "empty.edi",
        "isa-non-ascii-element-separator-cut.edi",
        "isa-non-ascii-element-separator.edi",
        "isa-only.edi",
        "isa-terminator-equals-element-separator.edi",
        "isa-truncated-after-separator.edi",
        "isa-truncated-before-terminator.edi",
        "isa-with-another-separator-inside-a-transaction.edi",
        "nested-isa-in-transaction.edi",
        "non-utf8-bytes.edi",
        "se-without-st.edi",
        "segment-ids-one-and-four-chars.edi",
        "st-without-gs.edi",
        "terminator-run.edi",
    ];
    let mut files: Vec<String> = std::fs::read_dir(data("fuzz"))
        .expect("tests/data/fuzz exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    assert_eq!(files, COVERED);
}

// The fuzz corpus.

/// The framer target itself: the first byte picks the chunk size and the
/// most one read returns.
fn framer_target(data: &[u8]) {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let chunk = 16 + usize::from(knob & 0x0f) * 4;
    let step = match knob >> 4 {
        0 => usize::MAX,
        n => usize::from(n),
    };
    read_blocks(input, chunk, step);
}

/// Every file under `fuzz/corpus/<target>/`, sorted.
fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return files;
    };
    for target in targets {
        let target = target.expect("readable entry").path();
        if !target.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&target).expect("readable corpus") {
            let f = f.expect("readable entry").path();
            if f.is_file() {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

/// Runs every corpus file (of either target) through both targets' paths,
/// and names every file that panicked.
#[test]
fn replays_fuzz_corpus_when_present() {
    let files = corpus_files(&root().join("fuzz/corpus"));
    let mut failed = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).expect("readable corpus file");
        let ok = catch_unwind(AssertUnwindSafe(|| {
            framer_target(&bytes);
            read_blocks(&bytes, 256 << 10, usize::MAX);
            replay_scan(&bytes);
        }))
        .is_ok();
        if !ok {
            failed.push(f.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} corpus files panicked:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

/// Found by the `ack` target: an HL whose qualifier element (HL03) is the
/// empty last element of a segment of eight bytes or more. The loop
/// builder's one-load qualifier read shifted by the full word width there
/// (a panic in debug builds, a wrong word in release); it now leaves that
/// case to the general read. The HL still fits nowhere, as before.
#[test]
fn empty_last_qualifier_element_is_read_as_empty() {
    let input = fixture("ack-empty-last-qualifier-element.edi");
    let scan = replay_scan(&input);
    let out_of_place: Vec<u64> = scan
        .findings
        .iter()
        .filter(|f| f.rule == scrub837::RuleId::SegmentOutOfPlace)
        .map(|f| f.segment)
        .collect();
    assert_eq!(out_of_place.first(), Some(&8), "{:#?}", scan.findings);
    let out = crate::util::run(&[
        "validate",
        crate::util::s(&data("fuzz").join("ack-empty-last-qualifier-element.edi")),
    ]);
    assert_eq!(out.status.code(), Some(1), "findings, not a crash");
}

/// `validate --ack` on a fixture in `tests/data/fuzz/`, which has findings
/// (exit 1): the acknowledgment's bytes.
fn ack_of_fixture(name: &str) -> Vec<u8> {
    let input = data("fuzz").join(name);
    let dir = tempfile::tempdir().expect("temp dir");
    let ack = dir.path().join("a.999");
    let out = crate::util::run(&[
        "validate",
        "--ack",
        crate::util::s(&ack),
        crate::util::s(&input),
    ]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::read(&ack).expect("ack written")
}

/// Found by the `ack` target: a broken interchange whose terminator is `?`,
/// with bytes in its ISA that cannot be echoed. They were echoed as `?` in
/// the TA1, which ended the segment early. Echoed bytes now stand in with a
/// byte the ack does not use as a separator (`#` here), and the TA1's date
/// and time are cut to their six and four characters.
#[test]
fn ack_stand_in_bytes_are_never_separators() {
    let bytes = ack_of_fixture("ack-question-mark-terminator.edi");
    assert_eq!(
        bytes[105], b'?',
        "the ack ends its segments as the input does"
    );
    let (e, t) = (bytes[3], bytes[105]);
    let segments: Vec<Vec<&[u8]>> = bytes
        .split(|b| *b == t)
        .map(|s| s.trim_ascii())
        .filter(|s| !s.is_empty())
        .map(|s| s.split(|b| *b == e).collect())
        .collect();
    let ids: Vec<&[u8]> = segments.iter().map(|s| s[0]).collect();
    assert_eq!(
        ids,
        [&b"ISA"[..], b"TA1", b"IEA"],
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let ta1 = &segments[1];
    assert_eq!(ta1.len(), 6, "TA101..TA105");
    assert!(
        ta1[2].len() <= 6 && ta1[3].len() <= 4,
        "TA102 a date, TA103 a time, at most"
    );
    assert_eq!(ta1[4], b"R");
}

/// Found by the `ack` target: a receiver id with a byte above 0x7F was
/// echoed through a lossy UTF-8 conversion, so the 999's ISA lost its fixed
/// width (the terminator was no longer byte 105). Echoed values are now
/// printable ASCII, `?` for anything else.
#[test]
fn ack_of_a_non_ascii_isa_id_keeps_the_isa_fixed_width() {
    let bytes = ack_of_fixture("ack-non-ascii-receiver-id.edi");
    assert!(bytes.is_ascii(), "the ack is ASCII");
    assert_eq!(bytes[105], b'~', "ISA is 106 bytes");
    assert!(bytes.starts_with(b"ISA*00*"));
    let isa = std::str::from_utf8(&bytes[..106]).expect("ascii");
    assert!(isa.contains("*ZZ*BCBSMA  ?      *"), "{isa}");
}

/// From the `ack` target: a file whose second interchange declares other
/// separators (`&` ends its segments). Each acknowledgment interchange is
/// written with its input's separators, and each closes with its IEA.
#[test]
fn ack_answers_each_interchange_in_its_own_separators() {
    let bytes = ack_of_fixture("ack-interchanges-with-other-separators.edi");
    let text = String::from_utf8(bytes).expect("ascii");
    let isas: Vec<usize> = text.match_indices("ISA*").map(|(i, _)| i).collect();
    assert_eq!(isas.len(), 2, "{text}");
    let second = &text[isas[1]..];
    assert_eq!(
        &second[105..106],
        "&",
        "the second ISA ends in its own terminator"
    );
    assert!(
        second.contains("IEA*0*") && second.trim_end().ends_with('&'),
        "{second}"
    );
    assert!(text[..isas[1]].trim_end().ends_with("~"));
}
