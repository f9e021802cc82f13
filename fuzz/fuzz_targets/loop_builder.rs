//! One whole scan over arbitrary bytes: reader, envelope checks, loop
//! builder and claim model, with every model accessor the rules use; then
//! every transaction through the loop builders of both guides with and
//! without their step memo, which must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scrub837::grammar::builder::{LoopBuilder, LoopVisitor};
use scrub837::grammar::{Grammar, Grammars, SegmentNode};
use scrub837::lex::Segment;
use scrub837::model::Transaction;
use scrub837::reader::{Block, BlockKind, ReaderBuilder};
use scrub837::scan::Scanner;

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
    assert!(tx.lines().len() >= tx.claims().map(|c| c.lines().len()).sum::<usize>());
}

/// The builder's events: (what, loop, segment number, node address).
#[derive(Default)]
struct Events(Vec<(u8, usize, u64, usize)>);

impl<'a> LoopVisitor<'a> for Events {
    fn open(&mut self, _: &Grammar, l: usize, s: &Segment<'a>) {
        self.0.push((0, l, s.position().segment, 0));
    }
    fn segment(&mut self, _: &Grammar, l: usize, s: &Segment<'a>, n: Option<&SegmentNode>) {
        let node = n.map_or(0, |n| n as *const SegmentNode as usize);
        self.0.push((1, l, s.position().segment, node));
    }
    fn close(&mut self, _: &Grammar, l: usize) {
        self.0.push((2, l, 0, 0));
    }
}

fn events(b: &mut LoopBuilder<'_>, block: &Block) -> (Vec<(u8, usize, u64, usize)>, Vec<String>) {
    let mut e = Events::default();
    let mut f = Vec::new();
    for s in block.segments() {
        b.feed(&s, &mut e, &mut |x| f.push(format!("{x:?}")));
    }
    b.finish(&mut e, &mut |x| f.push(format!("{x:?}")));
    (e.0, f)
}

fuzz_target!(|data: &[u8]| {
    let mut findings = 0u64;
    let mut claims = 0u64;
    let result = Scanner::new().max_transaction_bytes(1 << 16).scan(
        data,
        "fuzz",
        &mut |f| {
            findings += 1;
            let _ = f.to_string();
        },
        &mut |tx| {
            claims += tx.claim_count() as u64;
            walk(tx);
        },
    );
    match result {
        Ok(counts) => assert_eq!(counts.claims, claims, "counted claims"),
        Err(e) => {
            let _ = (e.to_string(), e.position());
        }
    }
    // The memo against the general search, one builder per guide kept
    // across the input's transactions (as a scan keeps them).
    let g = Grammars::structure();
    let mut memo = [
        LoopBuilder::new(&g.professional, "fuzz"),
        LoopBuilder::new(&g.institutional, "fuzz"),
    ];
    let mut general = [
        LoopBuilder::new(&g.professional, "fuzz").without_memo(),
        LoopBuilder::new(&g.institutional, "fuzz").without_memo(),
    ];
    let mut rdr = ReaderBuilder::new()
        .max_transaction_bytes(1 << 16)
        .from_reader(data, "fuzz");
    let mut block = Block::new();
    while let Ok(true) = rdr.read_block(&mut block, &mut |_| {}) {
        if block.kind() != BlockKind::Transaction {
            continue;
        }
        for k in 0..2 {
            assert_eq!(
                events(&mut memo[k], &block),
                events(&mut general[k], &block),
                "the memo places segments as the general search does"
            );
        }
    }
});
