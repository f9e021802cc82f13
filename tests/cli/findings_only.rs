//! `check_transaction` (the findings without the model, what `validate`
//! runs) against `build_transaction` plus `check_balances` (the model the
//! rules read): the same findings in the same order, the same counts, on
//! every file the tests hold and on random edits of the samples.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use scrub837::codes::CodeLists;
use scrub837::grammar::builder::LoopBuilder;
use scrub837::grammar::{Form, Grammar, Grammars};
use scrub837::model::{build_transaction, check_balances, check_transaction};
use scrub837::reader::{Block, BlockKind, Reader};
use scrub837::Finding;

use crate::util::{data, root, samples};

/// Every `.edi` file under `dir`, subfolders included.
fn all_edi(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("readable entry").path();
        if p.is_dir() {
            all_edi(&p, out);
        } else if p.extension().is_some_and(|x| x == "edi") {
            out.push(p);
        }
    }
}

fn builders(elements: bool) -> (LoopBuilder<'static>, LoopBuilder<'static>) {
    let g = Grammars::embedded();
    let mut p = LoopBuilder::new(&g.professional, "t");
    let mut i = LoopBuilder::new(&g.institutional, "t");
    if elements {
        let codes = Arc::new(CodeLists::bundled().clone());
        p = p.with_element_checks(codes.clone());
        i = i.with_element_checks(codes);
    }
    (p, i)
}

fn grammar_of(block: &Block) -> Option<&'static Grammar> {
    let g = Grammars::embedded();
    let st = block.first()?;
    let guide = st.value(3);
    if guide.starts_with(b"005010X222") {
        Some(&g.professional)
    } else if guide.starts_with(b"005010X223") {
        Some(&g.institutional)
    } else {
        None
    }
}

/// Per transaction: the findings and counts of both ways. Returns how many
/// transactions were compared.
fn compare(bytes: &[u8], elements: bool) -> Result<usize, String> {
    // Two sets of builders: the element checker says some things once per
    // input, so each way needs its own.
    let (mut prof, mut inst) = builders(elements);
    let (mut lean_prof, mut lean_inst) = builders(elements);
    let mut rdr = Reader::new(bytes, "t");
    let mut block = Block::new();
    let mut compared = 0;
    while let Ok(true) = rdr.read_block(&mut block, &mut |_| {}) {
        if block.kind() != BlockKind::Transaction {
            continue;
        }
        let Some(g) = grammar_of(&block) else {
            continue;
        };
        let (builder, lean_builder) = if g.form == Form::Professional {
            (&mut prof, &mut lean_prof)
        } else {
            (&mut inst, &mut lean_inst)
        };
        let mut full: Vec<Finding> = Vec::new();
        let tx = build_transaction(&block, builder, &mut |f| full.push(f));
        check_balances(&tx, builder.label(), &mut |f| full.push(f));
        let (claims, lines) = (tx.claim_count() as u64, tx.lines().len() as u64);
        let mut lean: Vec<Finding> = Vec::new();
        let counts = check_transaction(&block, lean_builder, &mut |f| lean.push(f));
        if full != lean {
            return Err(format!(
                "findings differ at {:?}:\nfull {full:#?}\nlean {lean:#?}",
                block.position()
            ));
        }
        if (counts.claims, counts.service_lines) != (claims, lines) {
            return Err(format!(
                "counts differ: {counts:?} against {claims} claims, {lines} lines"
            ));
        }
        compared += 1;
    }
    Ok(compared)
}

#[test]
fn findings_only_matches_the_model_on_every_fixture() {
    let mut files = samples();
    all_edi(&root().join("tests/data"), &mut files);
    assert!(files.len() > 100, "fixtures found: {}", files.len());
    let mut transactions = 0;
    let mut with_findings = 0;
    for path in &files {
        let bytes = std::fs::read(path).expect("readable fixture");
        for elements in [true, false] {
            transactions += compare(&bytes, elements)
                .unwrap_or_else(|e| panic!("{} (elements {elements}): {e}", path.display()));
        }
        let mut n = 0;
        let (mut p, _) = builders(false);
        let mut rdr = Reader::new(&bytes[..], "t");
        let mut block = Block::new();
        while let Ok(true) = rdr.read_block(&mut block, &mut |_| {}) {
            if block.kind() == BlockKind::Transaction && grammar_of(&block).is_some() {
                check_transaction(&block, &mut p, &mut |_| n += 1);
            }
        }
        with_findings += usize::from(n > 0);
    }
    // The comparison saw transactions, and files where the model finds
    // something (bad dates, amounts, balances) as well as clean ones.
    assert!(transactions > 200, "{transactions}");
    assert!(with_findings > 10, "{with_findings}");
}

#[test]
fn findings_only_reports_model_findings() {
    // Each of these files is there for a finding the model makes.
    for (name, rule) in [
        ("bad-date.edi", "bad-date"),
        ("claim-balance.edi", "claim-balance"),
    ] {
        let bytes = std::fs::read(data(name)).expect("fixture");
        let (mut p, _) = builders(true);
        let mut rdr = Reader::new(&bytes[..], name);
        let mut block = Block::new();
        let mut seen = Vec::new();
        while let Ok(true) = rdr.read_block(&mut block, &mut |_| {}) {
            if block.kind() == BlockKind::Transaction {
                check_transaction(&block, &mut p, &mut |f| seen.push(f.rule.to_string()));
            }
        }
        assert!(seen.iter().any(|r| r == rule), "{name}: {seen:?}");
    }
}

/// An edit of a sample: a byte changed, dropped or doubled somewhere.
fn edited() -> impl Strategy<Value = Vec<u8>> {
    let files: Vec<Vec<u8>> = samples()
        .iter()
        .map(|p| std::fs::read(p).expect("sample"))
        .collect();
    (
        0..files.len(),
        any::<prop::sample::Index>(),
        0u8..3,
        any::<u8>(),
    )
        .prop_map(move |(f, at, how, byte)| {
            let mut b = files[f].clone();
            let i = at.index(b.len());
            // Bytes the values are made of, so the edits reach dates and
            // amounts more often than random bytes would.
            let byte = b"0123456789.-*:~ABCDHT"[usize::from(byte) % 21];
            match how {
                0 => b[i] = byte,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, byte),
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn findings_only_matches_the_model_on_edited_samples(bytes in edited()) {
        for elements in [true, false] {
            if let Err(e) = compare(&bytes, elements) {
                prop_assert!(false, "elements {}: {}", elements, e);
            }
        }
    }
}
