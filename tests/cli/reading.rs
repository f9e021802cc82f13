//! The reader: every delimiter and line-break style, the tolerance list,
//! lossless framing.

use proptest::prelude::*;
use scrub837::reader::{Block, ReaderBuilder};
use scrub837::scan::Scanner;
use scrub837::{Finding, RuleId};

use crate::util::{data, findings_of, sample, samples};

/// What a file reads as: counts and the claims' ids, totals and line codes.
fn digest(input: &[u8]) -> (scrub837::scan::Counts, Vec<String>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut claims = Vec::new();
    let counts = Scanner::new()
        .scan(input, "t", &mut |f| findings.push(f), &mut |tx| {
            for c in tx.claims() {
                let codes: Vec<String> = c
                    .lines()
                    .iter()
                    .map(|l| {
                        l.procedure
                            .map(|p| String::from_utf8_lossy(p.code).into_owned())
                            .unwrap_or_default()
                    })
                    .collect();
                claims.push(format!(
                    "{}={:?}:{}",
                    String::from_utf8_lossy(c.id),
                    c.total,
                    codes.join(",")
                ));
            }
        })
        .expect("reads");
    (counts, claims, findings)
}

fn blocks_concat(input: &[u8], chunk: usize) -> Vec<u8> {
    let mut r = ReaderBuilder::new()
        .chunk_size(chunk)
        .from_reader(input, "t");
    let mut b = Block::new();
    let mut out = Vec::new();
    while r.read_block(&mut b, &mut |_| {}).expect("reads") {
        out.extend_from_slice(b.bytes());
    }
    out
}

const BASE: &str = "837p-clean.edi";

/// Files that say the same as the base sample in another shape read the same.
#[test]
fn tolerated_shapes_read_like_the_base() {
    let base = std::fs::read(sample(BASE)).unwrap();
    let (counts, claims, findings) = digest(&base);
    assert!(findings.is_empty());
    assert_eq!(claims.len(), 2);
    // (file, the lenient-read findings it must carry)
    let shapes: &[(&str, usize)] = &[
        ("crlf.edi", 0),
        ("cr-only.edi", 0),
        ("newline-terminator.edi", 0),
        ("no-line-breaks.edi", 0),
        ("errata-x222a2.edi", 0),
        ("bom.edi", 1),
        ("leading-blanks.edi", 1),
        ("blank-lines.edi", 1),
        ("indented.edi", 1),
        ("no-final-terminator.edi", 1),
        ("lowercase-ids.edi", 1),
        ("trailing-separator.edi", 1),
        ("isa-unpadded.edi", 1),
    ];
    for (file, lenient) in shapes {
        let input = std::fs::read(data(file)).unwrap();
        let (c, cl, f) = digest(&input);
        assert_eq!((c, &cl), (counts, &claims), "{file}");
        assert_eq!(f.len(), *lenient, "{file}: {f:#?}");
        assert!(
            f.iter().all(|x| x.rule == RuleId::LenientRead),
            "{file}: {f:#?}"
        );
    }
}

#[test]
fn pipe_separators_and_several_interchanges() {
    let input = std::fs::read(data("two-interchanges-different-separators.edi")).unwrap();
    let (counts, claims, findings) = digest(&input);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(counts.interchanges, 2);
    assert_eq!(claims.len(), 4);
    let (_, pipe_claims, _) = digest(&std::fs::read(sample("837p-multi-transaction.edi")).unwrap());
    assert!(
        pipe_claims.iter().all(|c| !c.contains('|')),
        "{pipe_claims:?}"
    );
}

#[test]
fn not_x12_is_an_error_with_a_position() {
    for input in [
        &b"hello"[..],
        b"",
        b"   \n",
        b"\xEF\xBB\xBFname,amount\n",
        b"GS*HC*A~",
    ] {
        let e = Scanner::new()
            .scan(input, "t", &mut |_| {}, &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(e.kind(), scrub837::ErrorKind::NotX12 { .. }),
            "{e}"
        );
    }
}

#[test]
fn reading_is_lossless_for_every_sample_and_fixture() {
    let mut files = samples();
    files.extend(
        std::fs::read_dir(crate::util::root().join("tests/data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "edi")),
    );
    for p in files {
        let input = std::fs::read(&p).unwrap();
        for chunk in [16, 97, 4096] {
            assert!(
                blocks_concat(&input, chunk) == input,
                "{} (chunk {chunk})",
                p.display()
            );
        }
    }
}

#[test]
fn findings_do_not_depend_on_the_read_size() {
    for name in [
        "truncated-transaction.edi",
        "junk-between-interchanges.edi",
        "indented.edi",
        "segment-out-of-place.edi",
    ] {
        let input = std::fs::read(data(name)).unwrap();
        let whole = findings_of(&input);
        let mut small = Vec::new();
        let mut r = ReaderBuilder::new()
            .chunk_size(16)
            .from_reader(&input[..], "t.edi");
        let mut b = Block::new();
        while r.read_block(&mut b, &mut |f| small.push(f)).unwrap() {}
        let lenient: Vec<_> = whole
            .iter()
            .filter(|f| f.rule == RuleId::LenientRead)
            .cloned()
            .collect();
        small.sort_by_key(|x| (x.segment, x.offset));
        assert_eq!(small, lenient, "{name}");
    }
}

/// Segments for a generated interchange: (id, elements).
fn interchange(body: &[(String, Vec<String>)], d: (char, char, char, char), brk: &str) -> Vec<u8> {
    let (e, c, r, s) = d;
    let isa = format!("ISA{e}00{e}          {e}00{e}          {e}ZZ{e}SENDER         {e}ZZ{e}RECEIVER       {e}240105{e}0930{e}{r}{e}00501{e}000000101{e}0{e}P{e}{c}{s}{brk}");
    let mut out = isa.into_bytes();
    for (id, els) in body {
        out.extend_from_slice(id.as_bytes());
        for el in els {
            out.push(e as u8);
            out.extend_from_slice(el.as_bytes());
        }
        out.push(s as u8);
        out.extend_from_slice(brk.as_bytes());
    }
    out
}

fn element(c: char) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('A'),
            Just('Z'),
            Just('0'),
            Just('9'),
            Just(' '),
            Just(c)
        ],
        0..6,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn body(c: char) -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just("GS"),
                Just("ST"),
                Just("NM1"),
                Just("CLM"),
                Just("SE"),
                Just("GE"),
                Just("IEA")
            ],
            proptest::collection::vec(element(c), 0..5),
        )
            .prop_map(|(id, els)| (id.to_string(), els)),
        0..30,
    )
}

fn delimiters() -> impl Strategy<Value = (char, char, char, char)> {
    prop_oneof![
        Just(('*', ':', '^', '~')),
        Just(('|', '>', '^', '~')),
        Just(('*', ':', '^', '\n')),
        Just(('+', ':', '!', '\''))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Writing the framed segments back reproduces the input byte for byte,
    /// whatever the separators, line breaks and read size.
    #[test]
    fn framed_segments_write_back_exactly(
        d in delimiters(),
        parts in (delimiters(), body(':')).prop_map(|(_, b)| b),
        brk in prop_oneof![Just(""), Just("\n"), Just("\r\n"), Just("\r")],
        chunk in 16usize..300,
        drop_last in any::<bool>(),
    ) {
        let brk = if d.3 == '\n' { "" } else { brk };
        let mut input = interchange(&parts, d, brk);
        if drop_last && input.len() > 120 {
            // A last segment without its terminator.
            while input.last().is_some_and(|b| *b == b'\n' || *b == b'\r') { input.pop(); }
            input.pop();
        }
        let mut r = ReaderBuilder::new().chunk_size(chunk).from_reader(&input[..], "p");
        let mut b = Block::new();
        let mut out = Vec::new();
        let mut rebuilt = Vec::new();
        while r.read_block(&mut b, &mut |_| {}).unwrap() {
            out.extend_from_slice(b.bytes());
            // Every segment's content is a slice of the block at its span.
            for (seg, span) in b.segments().zip(b.spans()) {
                prop_assert_eq!(seg.as_bytes(), &b.bytes()[span.content_start..span.content_end]);
                rebuilt.extend_from_slice(&b.bytes()[span.start..span.end]);
            }
        }
        prop_assert!(out == input);
        prop_assert!(rebuilt == input);
    }

    /// Scanning never panics on arbitrary segment soup.
    #[test]
    fn scanning_generated_interchanges_never_panics(d in delimiters(), parts in body(':')) {
        let input = interchange(&parts, d, "\n");
        let _ = Scanner::new().scan(&input[..], "p", &mut |_| {}, &mut |_| {});
    }
}

#[test]
fn every_prefix_of_a_valid_interchange_reads_without_panic_or_loss() {
    let input = std::fs::read(sample("837i-clean.edi")).unwrap();
    for n in (0..input.len()).step_by(7) {
        let prefix = &input[..n];
        let mut r = ReaderBuilder::new().chunk_size(64).from_reader(prefix, "t");
        let mut b = Block::new();
        let mut out = Vec::new();
        loop {
            match r.read_block(&mut b, &mut |_| {}) {
                Ok(true) => out.extend_from_slice(b.bytes()),
                Ok(false) => {
                    assert!(out == prefix, "prefix {n}");
                    break;
                }
                Err(_) => {
                    // Only a prefix too short to hold the ISA is not X12.
                    assert!(n < 106, "prefix {n}");
                    break;
                }
            }
        }
    }
}

#[test]
fn findings_of_one_rule_are_capped_per_file() {
    let input = std::fs::read(data("fuzz/terminator-run.edi")).unwrap();
    let mut f = Vec::new();
    Scanner::new()
        .max_findings_per_rule(1000)
        .scan(&input[..], "t", &mut |x| f.push(x), &mut |_| {})
        .unwrap();
    let syntax = f.iter().filter(|x| x.rule == RuleId::SegmentSyntax).count();
    assert_eq!(syntax, 1000);
    let cap: Vec<_> = f
        .iter()
        .filter(|x| x.rule == RuleId::LimitExceeded)
        .collect();
    assert_eq!(cap.len(), 1);
    let all = findings_of(&input)
        .iter()
        .filter(|x| x.rule == RuleId::SegmentSyntax)
        .count();
    assert!(
        cap[0]
            .message
            .starts_with(&format!("{} more segment-syntax", all - 1000)),
        "{}",
        cap[0].message
    );
    // Empty segments are worded alike inside and outside transactions.
    assert!(f
        .iter()
        .filter(|x| x.rule == RuleId::SegmentSyntax)
        .all(|x| x.message == "an empty segment (two terminators in a row)"));
}

#[test]
fn a_segment_over_the_limit_is_refused_whatever_the_read_size() {
    let text = std::fs::read_to_string(sample(BASE))
        .unwrap()
        .replace("N3*400 MERIDIAN WAY", &format!("N3*{}", "A".repeat(5000)));
    for chunk in [16, 1 << 20] {
        let mut r = ReaderBuilder::new()
            .max_transaction_bytes(1024)
            .chunk_size(chunk)
            .from_reader(text.as_bytes(), "t");
        let mut b = Block::new();
        let err = loop {
            match r.read_block(&mut b, &mut |_| {}) {
                Ok(true) => continue,
                Ok(false) => panic!("chunk {chunk}: read to the end"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err.kind(),
                scrub837::ErrorKind::SegmentTooLong { limit: 1024 }
            ),
            "chunk {chunk}: {err}"
        );
    }
}
