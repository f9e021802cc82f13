//! One pass over one input: reader, envelopes, loop builder and claim model.
//!
//! [`Scanner::scan`] streams an input block by block. Every structure
//! finding goes to the caller's sink; every transaction that could be read
//! as an 837 is handed to the caller's callback as a borrowed
//! [`Transaction`], valid only during the call (its bytes are the reader's
//! reused block). Counts come back at the end.
//!
//! [`Scanner::scan_findings`] gives the findings alone and, with
//! [`Scanner::jobs`] above one, builds transactions on worker threads while
//! the calling thread reads; the findings still reach the sink in file
//! order, the same sequence a one-thread scan gives.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use crate::codes::CodeLists;
use crate::envelope::EnvelopeChecker;
use crate::error::Result;
use crate::finding::{Finding, Position, RuleId};
use crate::grammar::builder::LoopBuilder;
use crate::grammar::{Form, Grammar, Grammars};
use crate::model::{build_transaction, check_balances, check_transaction, Transaction};
use crate::reader::{Block, BlockKind, ReaderBuilder};

/// What one or more scans read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Inputs read (those that could not be read at all included).
    pub files: u64,
    /// ISA segments.
    pub interchanges: u64,
    /// ST segments.
    pub transactions: u64,
    /// 2300 loops read into the model.
    pub claims: u64,
    /// 2400 loops read into the model.
    pub service_lines: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.files += o.files;
        self.interchanges += o.interchanges;
        self.transactions += o.transactions;
        self.claims += o.claims;
        self.service_lines += o.service_lines;
    }
}

/// Reads inputs and checks their structure.
///
/// ```
/// use scrub837::scan::Scanner;
/// let input = include_bytes!("../samples/837p-clean.edi");
/// let mut findings = Vec::new();
/// let mut claims = 0;
/// let counts = Scanner::new()
///     .scan(&input[..], "837p-clean.edi", &mut |f| findings.push(f), &mut |tx| claims += tx.claim_count())
///     .unwrap();
/// assert!(findings.is_empty());
/// assert_eq!(counts.claims as usize, claims);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    reader: ReaderBuilder,
    max_findings_per_rule: Option<u64>,
    /// External code lists; `None`: the bundled ones.
    codes: Option<Arc<CodeLists>>,
    skip_elements: bool,
    /// Threads of [`Scanner::scan_findings`]; 0 and 1 both mean the
    /// calling thread alone.
    jobs: usize,
}

/// Watches a scan: every block as the reader hands it over, and every
/// finding. [`crate::ack::AckRecorder`] is one.
pub trait ScanObserver {
    /// A block: one envelope segment, or a whole transaction.
    fn block(&mut self, block: &Block);
    /// A finding, before the per-rule cap.
    fn finding(&mut self, finding: &Finding);
}

/// The default cap on findings of one rule in one input: plenty for any
/// real file, and it keeps a file of a million empty segments from
/// becoming a million findings in memory.
pub const DEFAULT_MAX_FINDINGS_PER_RULE: u64 = 100_000;

impl Scanner {
    /// A scanner with the default limits.
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// The largest transaction held in memory (see
    /// [`ReaderBuilder::max_transaction_bytes`]).
    pub fn max_transaction_bytes(mut self, n: usize) -> Scanner {
        self.reader = self.reader.max_transaction_bytes(n);
        self
    }

    /// The most findings of one rule reported for one input (default
    /// [`DEFAULT_MAX_FINDINGS_PER_RULE`]); the rest are counted in one
    /// `limit-exceeded` finding at the first one left out.
    pub fn max_findings_per_rule(mut self, n: u64) -> Scanner {
        self.max_findings_per_rule = Some(n.max(1));
        self
    }

    /// Checks elements against these external code lists (default: the
    /// bundled lists, [`CodeLists::bundled`]).
    pub fn code_lists(mut self, lists: Arc<CodeLists>) -> Scanner {
        self.codes = Some(lists);
        self
    }

    /// Whether to check elements (usage, type, length, codes, relational
    /// conditions) as well as loops and segments. On by default.
    pub fn element_checks(mut self, on: bool) -> Scanner {
        self.skip_elements = !on;
        self
    }

    /// How many threads [`Scanner::scan_findings`] builds transactions on
    /// (default 1: the calling thread alone, no threads started).
    ///
    /// Above one, the calling thread reads and checks envelopes while `n`
    /// worker threads build transactions; a few blocks per worker are in
    /// memory at a time. [`Scanner::scan`] and [`Scanner::scan_observed`]
    /// always run on the calling thread: their callback borrows each
    /// transaction from the block being read.
    ///
    /// ```
    /// use scrub837::scan::Scanner;
    /// let input = include_bytes!("../samples/837p-multi-transaction.edi");
    /// let (mut one, mut two) = (Vec::new(), Vec::new());
    /// let a = Scanner::new().scan_findings(&input[..], "a", &mut |f| one.push(f), None).unwrap();
    /// let b = Scanner::new().jobs(2).scan_findings(&input[..], "a", &mut |f| two.push(f), None).unwrap();
    /// assert_eq!((a, one), (b, two));
    /// ```
    pub fn jobs(mut self, n: usize) -> Scanner {
        self.jobs = n.max(1);
        self
    }

    /// Scans one input for its findings alone, on [`Scanner::jobs`]
    /// threads, telling `observer` (when given) what
    /// [`Scanner::scan_observed`] would. The findings, the observer's calls
    /// and the counts are the same, in the same order, whatever the number
    /// of threads.
    ///
    /// # Errors
    ///
    /// As [`Scanner::scan`]: findings made before the error have reached
    /// `sink`.
    ///
    /// # Panics
    ///
    /// Only if building a transaction panics (a bug): the panic is passed on
    /// to the calling thread once the other threads have stopped, as a scan
    /// on the calling thread would have panicked.
    pub fn scan_findings<R: Read>(
        &self,
        rdr: R,
        label: impl Into<Arc<str>>,
        sink: &mut dyn FnMut(Finding),
        observer: Option<&mut dyn ScanObserver>,
    ) -> Result<Counts> {
        let how = if self.jobs <= 1 {
            How::Here(None)
        } else {
            How::Threads(self.jobs, &Builders::build)
        };
        self.scan_inner(rdr, label.into(), sink, how, observer)
    }

    /// Scans one input, telling `observer` of every block the reader hands
    /// over (before the block's own findings) and of every finding (before
    /// the per-rule cap): what an acknowledgment needs.
    ///
    /// # Errors
    ///
    /// As [`Scanner::scan`].
    pub fn scan_observed<R: Read>(
        &self,
        rdr: R,
        label: impl Into<Arc<str>>,
        sink: &mut dyn FnMut(Finding),
        on_transaction: &mut dyn FnMut(&Transaction<'_>),
        observer: &mut dyn ScanObserver,
    ) -> Result<Counts> {
        let how = How::Here(Some(on_transaction));
        self.scan_inner(rdr, label.into(), sink, how, Some(observer))
    }

    /// Scans one input.
    ///
    /// # Errors
    ///
    /// When the input cannot be read or is not X12; findings made before the
    /// error have reached `sink`.
    pub fn scan<R: Read>(
        &self,
        rdr: R,
        label: impl Into<Arc<str>>,
        sink: &mut dyn FnMut(Finding),
        on_transaction: &mut dyn FnMut(&Transaction<'_>),
    ) -> Result<Counts> {
        self.scan_inner(
            rdr,
            label.into(),
            sink,
            How::Here(Some(on_transaction)),
            None,
        )
    }

    fn scan_inner<R: Read>(
        &self,
        rdr: R,
        label: Arc<str>,
        sink: &mut dyn FnMut(Finding),
        how: How<'_>,
        observer: Option<&mut dyn ScanObserver>,
    ) -> Result<Counts> {
        // Both the finding sink and the block loop tell the observer.
        let observer = RefCell::new(observer);
        let max = self
            .max_findings_per_rule
            .unwrap_or(DEFAULT_MAX_FINDINGS_PER_RULE);
        let mut seen = vec![0u64; RuleId::ALL.len()];
        let mut first_left_out: Vec<Option<Position>> = vec![None; RuleId::ALL.len()];
        // The element checkers say some things once; there is one checker
        // per form (and per worker thread), and the input hears it once.
        let mut said_once = false;
        let mut capped = |f: Finding| {
            if crate::validate::is_said_once(&f) && std::mem::replace(&mut said_once, true) {
                return;
            }
            let i = f.rule as usize;
            if let Some(o) = observer.borrow_mut().as_deref_mut() {
                o.finding(&f);
            }
            seen[i] += 1;
            if seen[i] <= max {
                sink(f);
            } else if first_left_out[i].is_none() {
                first_left_out[i] = Some(f.position());
            }
        };
        let result = match how {
            How::Here(on_transaction) => {
                self.scan_all(rdr, label.clone(), &mut capped, on_transaction, &observer)
            }
            How::Threads(n, work) => {
                self.scan_threads(rdr, label.clone(), n, work, &mut capped, &observer)
            }
        };
        for (i, at) in first_left_out.iter().enumerate() {
            if let Some(at) = at {
                let rule = RuleId::ALL[i];
                sink(Finding::new(
                    RuleId::LimitExceeded,
                    label.clone(),
                    *at,
                    format!("{} more {rule} finding(s) in this file were not listed (at most {max} per rule)", seen[i] - max),
                ));
            }
        }
        result
    }

    fn scan_all<R: Read>(
        &self,
        rdr: R,
        label: Arc<str>,
        sink: &mut dyn FnMut(Finding),
        on_transaction: Option<&mut dyn FnMut(&Transaction<'_>)>,
        observer: &RefCell<Option<&mut dyn ScanObserver>>,
    ) -> Result<Counts> {
        let mut on_transaction = on_transaction;
        let mut reader = self.reader.from_reader(rdr, label.clone());
        let mut envelope = EnvelopeChecker::new(label.clone());
        let mut block = Block::new();
        let mut builders = Builders::new(&label, self.element_codes());
        let mut counts = Counts {
            files: 1,
            ..Counts::default()
        };
        // The reader's findings about a block wait until the observer has
        // seen the block, so they can be filed under it.
        let mut pending: Vec<Finding> = Vec::new();
        loop {
            let more = reader.read_block(&mut block, &mut |f| pending.push(f));
            if let Ok(true) = more {
                if let Some(o) = observer.borrow_mut().as_deref_mut() {
                    o.block(&block);
                }
            }
            pending.drain(..).for_each(&mut *sink);
            if !more? {
                break;
            }
            let grammar: Option<&Grammar> = envelope.block(&block, sink);
            if block.kind() != BlockKind::Transaction {
                continue;
            }
            let Some(grammar) = grammar else { continue };
            let builder = builders.get(grammar.form);
            // Without a callback nobody reads the model: its findings only.
            let Some(on_transaction) = on_transaction.as_deref_mut() else {
                let n = check_transaction(&block, builder, sink);
                counts.claims += n.claims;
                counts.service_lines += n.service_lines;
                continue;
            };
            let tx = build_transaction(&block, builder, sink);
            check_balances(&tx, &label, sink);
            counts.claims += tx.claim_count() as u64;
            counts.service_lines += tx.lines().len() as u64;
            on_transaction(&tx);
        }
        envelope.finish(sink);
        let e = envelope.counts();
        counts.interchanges = e.interchanges;
        counts.transactions = e.transactions;
        Ok(counts)
    }
}

/// Where a scan builds transactions.
enum How<'a> {
    /// On the calling thread, each handed to the callback.
    /// `None`: no one reads the model, only its findings are made.
    Here(Option<&'a mut dyn FnMut(&Transaction<'_>)>),
    /// On this many worker threads, each running the function on a block.
    Threads(usize, &'a (dyn Fn(&mut Builders, &mut Job) + Sync)),
}

/// The loop builders of one thread, one per form, with the scan's
/// element-check settings.
struct Builders {
    professional: LoopBuilder<'static>,
    institutional: LoopBuilder<'static>,
}

impl Builders {
    fn new(label: &Arc<str>, codes: Option<Arc<CodeLists>>) -> Builders {
        // Only element checks read the element definitions.
        let grammars = match codes {
            Some(_) => Grammars::embedded(),
            None => Grammars::structure(),
        };
        let mut professional = LoopBuilder::new(&grammars.professional, label.clone());
        let mut institutional = LoopBuilder::new(&grammars.institutional, label.clone());
        if let Some(codes) = codes {
            professional = professional.with_element_checks(codes.clone());
            institutional = institutional.with_element_checks(codes);
        }
        Builders {
            professional,
            institutional,
        }
    }

    fn get(&mut self, form: Form) -> &mut LoopBuilder<'static> {
        match form {
            Form::Professional => &mut self.professional,
            Form::Institutional => &mut self.institutional,
        }
    }

    /// A worker's part: what the one-thread scan does with a transaction
    /// after the envelope checker (the callback aside).
    fn build(&mut self, job: &mut Job) {
        let Some(form) = job.form else { return };
        let Job {
            block,
            findings,
            claims,
            lines,
            ..
        } = job;
        let n = check_transaction(block, self.get(form), &mut |f| findings.push(f));
        *claims = n.claims;
        *lines = n.service_lines;
    }
}

impl Scanner {
    /// The code lists to check elements against, `None` without element
    /// checks.
    fn element_codes(&self) -> Option<Arc<CodeLists>> {
        if self.skip_elements {
            return None;
        }
        Some(
            self.codes
                .clone()
                .unwrap_or_else(|| Arc::new(CodeLists::bundled().clone())),
        )
    }

    /// [`Scanner::scan_all`] with transactions built on `n` threads: this
    /// thread reads and runs the envelope checker in file order, sends each
    /// transaction to the workers, and passes every block's findings on in
    /// file order as the blocks come back.
    fn scan_threads<R: Read>(
        &self,
        rdr: R,
        label: Arc<str>,
        n: usize,
        work: &(dyn Fn(&mut Builders, &mut Job) + Sync),
        sink: &mut dyn FnMut(Finding),
        observer: &RefCell<Option<&mut dyn ScanObserver>>,
    ) -> Result<Counts> {
        let codes = self.element_codes();
        let (to_workers, from_here) = mpsc::channel::<Job>();
        let from_here = Mutex::new(from_here);
        let stopped = std::thread::scope(|s| {
            // Dropped when this closure returns, before the threads are
            // joined: the workers then see the channel closed, or no one
            // listening, and end.
            let to_workers = to_workers;
            let (to_here, from_workers) = mpsc::channel::<Done>();
            let mut started = 0;
            for _ in 0..n {
                let (from_here, to_here) = (&from_here, to_here.clone());
                let builders = || Builders::new(&label, codes.clone());
                let spawned = std::thread::Builder::new()
                    .name("scrub837-scan".into())
                    .spawn_scoped(s, move || worker(from_here, to_here, builders(), work));
                // Fewer threads than asked (the system refused one) still work.
                started += usize::from(spawned.is_ok());
            }
            // Only the workers hold senders now: when all are gone, `recv`
            // says so instead of waiting for ever.
            drop(to_here);
            if started == 0 {
                return Ok(self.scan_all(rdr, label.clone(), sink, None, observer));
            }
            // A block per worker, the one being read, one to spare, and up
            // to four more waiting (for a worker, or for an earlier block):
            // more only cost memory, each holding the read buffer its bytes
            // are in (four reads' worth, or half as much again as its
            // transaction) and its records.
            let mut order = InOrder::new(started + 2 + started.min(4));
            let mut reader = self.reader.from_reader(rdr, label.clone());
            let mut envelope = EnvelopeChecker::new(label.clone());
            let end = loop {
                let mut job = match order.spare() {
                    Some(job) => job,
                    None => {
                        // All blocks are out: the front one is at a worker.
                        order.wait(&from_workers)?;
                        order.emit(sink, observer);
                        continue;
                    }
                };
                let more = reader.read_block(&mut job.block, &mut |f| job.findings.push(f));
                if !matches!(more, Ok(true)) {
                    // Everything read before goes first, as on one thread;
                    // this read's findings come without a block.
                    order.finish(&from_workers, sink, observer)?;
                    job.findings.drain(..).for_each(&mut *sink);
                    order.recycle(job);
                    break more;
                }
                let grammar = envelope.block(&job.block, &mut |f| job.findings.push(f));
                match grammar {
                    Some(g) if job.block.kind() == BlockKind::Transaction => {
                        job.form = Some(g.form);
                        order.sent(&mut job);
                        // The receiver outlives this loop; the send fails
                        // only if it is gone, and then so are the workers.
                        if to_workers.send(job).is_err() {
                            return Err(Stop::Broken("the scan's worker threads are gone"));
                        }
                    }
                    _ => order.push(job),
                }
                // Take in what is ready, without waiting.
                while let Ok(done) = from_workers.try_recv() {
                    order.returned(done)?;
                }
                order.emit(sink, observer);
            };
            Ok(end.map(|_| {
                envelope.finish(sink);
                let e = envelope.counts();
                Counts {
                    files: 1,
                    interchanges: e.interchanges,
                    transactions: e.transactions,
                    claims: order.claims,
                    service_lines: order.lines,
                }
            }))
        });
        match stopped {
            Ok(result) => result,
            Err(Stop::Panicked(payload)) => panic::resume_unwind(payload),
            Err(Stop::Broken(what)) => panic!("threaded scan: {what}"),
        }
    }
}

/// Why a threaded scan stopped before the end of its input.
enum Stop {
    /// A worker panicked, with this payload.
    Panicked(Box<dyn Any + Send>),
    /// An invariant of the scan itself broke (a bug).
    Broken(&'static str),
}

/// A block on its way through a threaded scan, with its findings so far.
/// Recycled, so that its buffers are reused.
#[derive(Debug, Default)]
struct Job {
    /// The position in the file, in blocks read.
    seq: u64,
    block: Block,
    /// The reader's and the envelope checker's findings, then the
    /// worker's.
    findings: Vec<Finding>,
    /// The form of a transaction to build; `None`: nothing to build.
    form: Option<Form>,
    claims: u64,
    lines: u64,
}

/// The most block bytes out in a threaded scan before the reader waits
/// (one more block may be read past it): with the per-worker count, what
/// bounds its memory, at a small multiple of a one-thread scan's.
const OUT_BYTES: usize = 16 << 20;

/// A job whose block held more than this is dropped, not kept for reuse.
const KEEP_BYTES: usize = 4 << 20;

/// A built block, or the panic that stopped its worker.
type Done = std::thread::Result<Job>;

/// One worker: builds the blocks it is sent until the channel closes or
/// the calling thread stops listening.
fn worker(
    jobs: &Mutex<Receiver<Job>>,
    done: Sender<Done>,
    mut builders: Builders,
    work: &(dyn Fn(&mut Builders, &mut Job) + Sync),
) {
    loop {
        // Waiting with the lock held is fine: the other workers would
        // otherwise wait on the channel itself. `recv` never panics, so the
        // lock cannot be poisoned; take it anyway if it is.
        let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(mut job) = next else { return };
        // A panic is sent back to be raised on the calling thread, which
        // would otherwise wait for this block for ever.
        let built = panic::catch_unwind(AssertUnwindSafe(|| work(&mut builders, &mut job)));
        let failed = built.is_err();
        if done.send(built.map(|()| job)).is_err() || failed {
            return;
        }
    }
}

/// The calling thread's side of a threaded scan: the blocks in file order,
/// some still at a worker, passed on from the front as they are complete.
///
/// Invariant after [`InOrder::emit`]: the queue is empty or its front is at
/// a worker, so a thread waiting for a spare block waits for a worker.
struct InOrder {
    /// Entry `i` is block `front + i`; `None` while at a worker.
    queue: VecDeque<Option<Job>>,
    front: u64,
    at_workers: usize,
    spares: Vec<Job>,
    /// Jobs made so far, and the most there may be: what bounds memory.
    made: usize,
    limit: usize,
    /// Bytes of the blocks out (read, not yet passed on): few jobs of huge
    /// transactions must not hold many times what one thread would.
    out_bytes: usize,
    claims: u64,
    lines: u64,
}

impl InOrder {
    fn new(limit: usize) -> InOrder {
        InOrder {
            queue: VecDeque::with_capacity(limit),
            front: 0,
            at_workers: 0,
            spares: Vec::with_capacity(limit),
            made: 0,
            limit,
            out_bytes: 0,
            claims: 0,
            lines: 0,
        }
    }

    /// A job to read into, unless all are out or the blocks out hold
    /// [`OUT_BYTES`] already.
    fn spare(&mut self) -> Option<Job> {
        if self.out_bytes >= OUT_BYTES {
            return None;
        }
        if let Some(job) = self.spares.pop() {
            return Some(job);
        }
        if self.made < self.limit {
            self.made += 1;
            return Some(Job::default());
        }
        None
    }

    fn recycle(&mut self, mut job: Job) {
        if job.block.bytes().len() > KEEP_BYTES {
            // Its buffers stay as large as the largest block it held: let
            // them go, and make a new job when one is needed.
            self.made -= 1;
            return;
        }
        job.findings.clear();
        job.form = None;
        job.claims = 0;
        job.lines = 0;
        self.spares.push(job);
    }

    fn next_seq(&self) -> u64 {
        self.front + self.queue.len() as u64
    }

    /// Queues a block that needs no worker.
    fn push(&mut self, mut job: Job) {
        self.out_bytes += job.block.bytes().len();
        job.seq = self.next_seq();
        self.queue.push_back(Some(job));
    }

    /// Holds the next place for a block sent to a worker; call before the
    /// send, which takes the job.
    fn sent(&mut self, job: &mut Job) {
        self.out_bytes += job.block.bytes().len();
        job.seq = self.next_seq();
        self.queue.push_back(None);
        self.at_workers += 1;
    }

    /// Puts a block back in its place, or passes a worker's panic on.
    fn returned(&mut self, done: Done) -> std::result::Result<(), Stop> {
        let job = done.map_err(Stop::Panicked)?;
        let slot = usize::try_from(job.seq - self.front)
            .ok()
            .and_then(|i| self.queue.get_mut(i))
            .filter(|slot| slot.is_none());
        match slot {
            Some(slot) => {
                *slot = Some(job);
                self.at_workers -= 1;
                Ok(())
            }
            None => Err(Stop::Broken("a block came back out of its place")),
        }
    }

    /// Waits for one block from the workers.
    fn wait(&mut self, from: &Receiver<Done>) -> std::result::Result<(), Stop> {
        match from.recv() {
            Ok(done) => self.returned(done),
            // Every worker is gone without saying why.
            Err(_) => Err(Stop::Broken("the worker threads stopped")),
        }
    }

    /// Waits for every block at the workers and passes all on.
    fn finish(
        &mut self,
        from: &Receiver<Done>,
        sink: &mut dyn FnMut(Finding),
        observer: &RefCell<Option<&mut dyn ScanObserver>>,
    ) -> std::result::Result<(), Stop> {
        while self.at_workers > 0 {
            self.wait(from)?;
        }
        self.emit(sink, observer);
        Ok(())
    }

    /// Passes on the complete blocks at the front, as the one-thread scan
    /// does: the block to the observer, then its findings.
    fn emit(
        &mut self,
        sink: &mut dyn FnMut(Finding),
        observer: &RefCell<Option<&mut dyn ScanObserver>>,
    ) {
        while let Some(mut job) = self.queue.front_mut().and_then(Option::take) {
            self.queue.pop_front();
            self.front += 1;
            if let Some(o) = observer.borrow_mut().as_deref_mut() {
                o.block(&job.block);
            }
            job.findings.drain(..).for_each(&mut *sink);
            self.claims += job.claims;
            self.lines += job.lines;
            self.out_bytes -= job.block.bytes().len();
            self.recycle(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// Logs blocks and findings, as seen by the observer and by the sink,
    /// in one sequence.
    struct Log<'a>(&'a RefCell<Vec<String>>);

    impl ScanObserver for Log<'_> {
        fn block(&mut self, b: &Block) {
            let (kind, at, len) = (b.kind(), b.position(), b.bytes().len());
            let seen = format!("block {kind:?} {at:?} {len} bytes {}", b.segment_count());
            self.0.borrow_mut().push(seen);
        }
        fn finding(&mut self, f: &Finding) {
            self.0.borrow_mut().push(format!("observed {f:?}"));
        }
    }

    /// Everything a scan tells its caller, in order, and how it ends.
    fn trace(scanner: &Scanner, input: impl Read) -> Trace {
        let log = RefCell::new(Vec::new());
        let mut observer = Log(&log);
        let end = scanner.scan_findings(
            input,
            "t.edi",
            &mut |f| log.borrow_mut().push(format!("sunk {f:?}")),
            Some(&mut observer),
        );
        (log.into_inner(), end.map_err(|e| e.to_string()))
    }

    type Trace = (Vec<String>, std::result::Result<Counts, String>);

    /// Fails at the first difference, not with both traces whole.
    fn assert_same(one: &Trace, many: &Trace, what: &str) {
        for (i, (a, b)) in one.0.iter().zip(&many.0).enumerate() {
            assert_eq!(a, b, "{what}: event {i}");
        }
        assert_eq!(one.0.len(), many.0.len(), "{what}: events");
        assert_eq!(one.1, many.1, "{what}: the end");
    }

    /// Scans `input` on 1 to 4 threads: the same trace each time.
    fn same_on_threads(scanner: Scanner, input: &[u8]) -> Vec<String> {
        let one = trace(&scanner.clone().jobs(1), input);
        for n in 2..=4 {
            assert_same(
                &one,
                &trace(&scanner.clone().jobs(n), input),
                &format!("{n} threads"),
            );
        }
        one.0
    }

    /// `sample` with its one transaction repeated `n` times, each copy
    /// changed by `vary(copy, text)`.
    fn repeated(sample: &[u8], n: usize, vary: impl Fn(usize, String) -> String) -> String {
        let text = String::from_utf8_lossy(sample);
        let at = |id: &str| text.find(&format!("\n{id}*")).expect("segment there") + 1;
        let (st, ge) = (at("ST"), at("GE"));
        let mut out = text[..st].to_string();
        for k in 0..n {
            out += &vary(k, text[st..ge].to_string());
        }
        out + &text[ge..]
    }

    /// An interchange of 837P and 837I transactions with findings of many
    /// kinds: padded values (said once per input), claim totals,
    /// dates, control numbers and counts.
    fn busy_input() -> Vec<u8> {
        let p = repeated(include_bytes!("../samples/837p-clean.edi"), 40, |k, tx| {
            let tx = if k % 3 == 1 {
                tx.replace("SANTORO", "SANTORO ")
            } else {
                tx
            };
            let tx = if k % 4 == 2 {
                tx.replace("*11345*", "*11346*")
            } else {
                tx
            };
            if k % 5 == 3 {
                tx.replace("20240402", "20240431")
            } else {
                tx
            }
        });
        let i = repeated(include_bytes!("../samples/837i-clean.edi"), 30, |k, tx| {
            if k % 4 == 1 {
                tx.replace("ABERNATHY", "ABERNATHY  ")
            } else {
                tx
            }
        });
        // The 837I group inside the 837P interchange.
        let at = |text: &str, id: &str| text.find(&format!("\n{id}*")).expect("segment there") + 1;
        let (gs, iea) = (at(&i, "GS"), at(&i, "IEA"));
        let at = at(&p, "IEA");
        format!("{}{}{}", &p[..at], &i[gs..iea], &p[at..]).into_bytes()
    }

    #[test]
    fn threads_give_the_same_trace_on_samples() {
        for sample in [
            &include_bytes!("../samples/837p-multi-transaction.edi")[..],
            include_bytes!("../samples/837-two-interchanges.edi"),
            include_bytes!("../samples/837-two-groups.edi"),
            include_bytes!("../samples/837i-mixed-scode.edi"),
        ] {
            same_on_threads(Scanner::new(), sample);
        }
    }

    #[test]
    fn threads_give_the_same_trace_on_many_findings() {
        let input = busy_input();
        let trace = same_on_threads(Scanner::new(), &input);
        let said = |what: &str| trace.iter().filter(|l| l.contains(what)).count();
        // The input is as busy as meant: each of these is in the trace.
        // Padded values in both forms, said once for the input.
        assert_eq!(
            said("sunk Finding { rule: LenientRead"),
            1,
            "once per input"
        );
        assert!(said("rule: ClaimBalance") >= 10);
        assert_eq!(said("block Transaction"), 70);
        same_on_threads(Scanner::new().element_checks(false), &input);
        // The reader's lenient-read findings (an unpadded ISA) stay.
        let text = String::from_utf8(input).expect("text");
        let unpadded = text.replacen("LANTERNBAY01   ", "LANTERNBAY01", 1);
        let trace = same_on_threads(Scanner::new(), unpadded.as_bytes());
        assert!(trace.iter().any(|l| l.contains("the ISA is not padded")));
    }

    #[test]
    fn threads_keep_the_per_rule_cap() {
        let input = busy_input();
        let trace = same_on_threads(Scanner::new().max_findings_per_rule(3), &input);
        let sunk = |what: &str| {
            trace
                .iter()
                .filter(|l| l.starts_with(&format!("sunk Finding {{ rule: {what}")))
                .count()
        };
        assert_eq!(sunk("ClaimBalance"), 3);
        let left_out = |rule: &str| {
            trace.iter().any(|l| {
                l.starts_with("sunk Finding { rule: LimitExceeded")
                    && l.contains(&format!(" more {rule} finding(s)"))
            })
        };
        assert!(left_out("claim-balance"), "{trace:#?}");
    }

    /// Gives `data` a few bytes at a time, then fails.
    struct FailsAt {
        data: Vec<u8>,
        at: usize,
    }

    impl Read for FailsAt {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at >= self.data.len() {
                return Err(io::Error::other("the disk is on fire"));
            }
            let n = buf.len().min(97).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn threads_fail_as_one_thread_does() {
        let input = busy_input();
        for cut in [100, input.len() / 3, input.len() / 2, input.len()] {
            let rdr = |jobs| {
                let r = FailsAt {
                    data: input[..cut].to_vec(),
                    at: 0,
                };
                trace(&Scanner::new().jobs(jobs), r)
            };
            let one = rdr(1);
            assert!(
                one.1.as_ref().is_err_and(|e| e.contains("on fire")),
                "{:?}",
                one.1
            );
            for n in 2..=4 {
                assert_same(&one, &rdr(n), &format!("cut at {cut}, {n} threads"));
            }
        }
        // Junk after a good interchange: whatever one thread says.
        let mut junk = include_bytes!("../samples/837p-multi-transaction.edi").to_vec();
        junk.extend_from_slice(b"\n\x00\x01 this is not X12 at all \xff\xfe~~~ISA*\n");
        same_on_threads(Scanner::new(), &junk);
        // A segment too long to hold, inside a transaction and between two.
        let text = String::from_utf8(busy_input()).expect("text");
        let long = format!("NTE*ADD*{}~\n", "A".repeat(9000));
        let se = text.match_indices("\nSE*").nth(20).expect("21 SEs").0 + 1;
        let after = se + text[se..].find('\n').expect("a line end") + 1;
        for at in [se, after] {
            let input = format!("{}{long}{}", &text[..at], &text[at..]);
            let scanner = Scanner::new().max_transaction_bytes(8192);
            let events = same_on_threads(scanner.clone(), input.as_bytes());
            let end = trace(&scanner, input.as_bytes()).1;
            assert!(end.is_err_and(|e| e.contains("longer than the limit")));
            assert!(events.len() > 100, "findings before the error are kept");
        }
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let input = busy_input();
        let panicky = |b: &mut Builders, job: &mut Job| {
            if job.seq == 9 {
                panic!("worker fell over");
            }
            b.build(job);
        };
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            Scanner::new().scan_inner(
                &input[..],
                "t".into(),
                &mut |_| {},
                How::Threads(2, &panicky),
                None,
            )
        }));
        let payload = caught.expect_err("the panic is passed on");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker fell over"));
    }

    #[test]
    fn blocks_out_are_bounded() {
        let mut order = InOrder::new(3);
        let jobs: Vec<Job> = std::iter::from_fn(|| order.spare()).collect();
        assert_eq!(jobs.len(), 3);
        for mut job in jobs {
            order.sent(&mut job);
            assert!(order.spare().is_none());
            order.returned(Ok(job)).ok().expect("in its place");
        }
        let mut sunk = 0;
        order.emit(&mut |_| sunk += 1, &RefCell::new(None));
        assert_eq!((order.queue.len(), order.spares.len(), sunk), (0, 3, 0));
        assert!(order.spare().is_some());
    }

    #[test]
    fn bytes_out_are_bounded_and_huge_blocks_not_kept() {
        // Transactions of 5 MB: four fill the budget of 16 MiB.
        let sample = String::from_utf8_lossy(include_bytes!("../samples/837p-clean.edi"));
        let isa_gs = &sample[..sample.find("\nST*").expect("an ST") + 1];
        let mut input = isa_gs.to_string();
        for _ in 0..6 {
            input += "ST*837*0001*005010X222A1~\n";
            input += &format!("NTE*ADD*{}~\n", "A".repeat(90)).repeat(50_000);
            input += "SE*50002*0001~\n";
        }
        let mut rdr = ReaderBuilder::new()
            .max_transaction_bytes(64 << 20)
            .from_reader(input.as_bytes(), "t");
        let mut order = InOrder::new(100);
        let mut sent = 0;
        while let Some(mut job) = order.spare() {
            assert!(rdr.read_block(&mut job.block, &mut |_| {}).expect("reads"));
            if job.block.kind() == BlockKind::Transaction {
                assert!(job.block.bytes().len() > KEEP_BYTES);
                order.sent(&mut job);
                sent += 1;
                order.returned(Ok(job)).ok().expect("in its place");
            } else {
                order.push(job);
            }
        }
        assert_eq!(sent, 4, "{} bytes out", order.out_bytes);
        order.emit(&mut |_| {}, &RefCell::new(None));
        assert_eq!(order.out_bytes, 0);
        // The two envelope blocks are kept, the four huge ones let go.
        assert_eq!((order.made, order.spares.len()), (2, 2));
    }
}
