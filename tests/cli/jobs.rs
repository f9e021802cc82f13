//! `validate --jobs N`: transactions are checked on N threads, and the
//! findings, their order, the counts and the acknowledgment must be those of
//! one thread, on every fixture, broken and fuzzed ones included.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use scrub837::ack::{AckOptions, AckRecorder};
use scrub837::scan::{Counts, Scanner};
use scrub837::Finding;

use crate::util::{root, run, s, sample};

/// Every input under `samples/` and `tests/data/` (all folders), sorted.
fn fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "edi" || x == "txt") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("samples"), &mut files);
    walk(&root().join("tests/data"), &mut files);
    files.sort();
    assert!(files.len() > 150, "only {} fixtures found", files.len());
    files
}

/// What a library scan gives: the findings in the order the sink got them,
/// the counts or the error, and the 999/TA1 of an observed scan.
#[derive(Debug, PartialEq)]
struct Scanned {
    findings: Vec<Finding>,
    end: Result<Counts, String>,
    ack: Option<Vec<u8>>,
}

fn ack_options() -> AckOptions {
    AckOptions {
        control_number: 41,
        date: "20240501".into(),
        time: "1200".into(),
        show_phi: false,
    }
}

fn scan(scanner: &Scanner, input: impl Read, observed: bool) -> Scanned {
    let mut findings = Vec::new();
    let mut recorder = AckRecorder::new();
    let observer = observed.then_some(&mut recorder as &mut dyn scrub837::scan::ScanObserver);
    let end = scanner
        .scan_findings(input, "t.edi", &mut |f| findings.push(f), observer)
        .map_err(|e| e.to_string());
    let ack = observed.then(|| {
        let mut out = Vec::new();
        recorder.write(&ack_options(), &mut out).expect("to a Vec");
        out
    });
    Scanned { findings, end, ack }
}

/// Scans `input` on one thread and on 2 to 4: the same each time.
fn assert_same_on_threads(scanner: &Scanner, input: &[u8], what: &str) -> Scanned {
    let one = scan(&scanner.clone().jobs(1), input, true);
    for jobs in 2..=4 {
        for observed in [true, false] {
            let many = scan(&scanner.clone().jobs(jobs), input, observed);
            let want = |s: &Scanned| (s.findings.len(), s.end.clone());
            assert_eq!(want(&one), want(&many), "{what}, {jobs} threads");
            for (i, (a, b)) in one.findings.iter().zip(&many.findings).enumerate() {
                assert_eq!(a, b, "{what}, {jobs} threads: finding {i}");
            }
            if observed {
                assert_eq!(one.ack, many.ack, "{what}, {jobs} threads: the ack");
            }
        }
    }
    one
}

#[test]
fn jobs_scan_every_fixture_as_one_thread_does() {
    for file in fixtures() {
        let input = std::fs::read(&file).expect("fixture reads");
        let what = file.display().to_string();
        assert_same_on_threads(&Scanner::new(), &input, &what);
        // A cap of one finding per rule: which one is kept, and where the
        // limit-exceeded finding sits, depend on the order.
        assert_same_on_threads(&Scanner::new().max_findings_per_rule(1), &input, &what);
    }
}

/// A file of `n` copies of the 837P sample's transaction, each with a claim
/// total that differs from its lines, and a date that is no date every
/// third copy.
fn many_claim_balances(n: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(sample("837p-clean.edi")).expect("sample");
    let at = |id: &str| text.find(&format!("\n{id}*")).expect("segment there") + 1;
    let (st, ge) = (at("ST"), at("GE"));
    let mut out = text[..st].to_string();
    for k in 0..n {
        let tx = text[st..ge].replace("CLM*LBO240402SANT01*11345*", "CLM*LBO240402SANT01*11346*");
        out += &if k % 3 == 0 {
            tx.replace("20240402", "20240230")
        } else {
            tx
        };
    }
    (out + &text[ge..]).into_bytes()
}

#[test]
fn jobs_keep_the_per_rule_cap_in_file_order() {
    let input = many_claim_balances(150);
    let scanner = Scanner::new().max_findings_per_rule(5);
    let one = assert_same_on_threads(&scanner, &input, "150 claim balances, cap 5");
    let of = |rule: &'static str| one.findings.iter().filter(move |f| f.rule.as_str() == rule);
    let kept: Vec<u64> = of("claim-balance").map(|f| f.segment).collect();
    assert_eq!(kept.len(), 5);
    assert!(
        kept.windows(2).all(|w| w[0] < w[1]),
        "the first five: {kept:?}"
    );
    let limit: Vec<&Finding> = of("limit-exceeded")
        .filter(|f| f.message.contains("claim-balance"))
        .collect();
    assert_eq!(limit.len(), 1, "{limit:#?}");
    assert!(
        limit[0].message.starts_with("145 more claim-balance"),
        "{}",
        limit[0].message
    );
    assert!(limit[0].segment > kept[4], "at the sixth");
}

/// Gives `data` in reads of 1000 bytes, then fails.
struct FailsAfter(io::Cursor<Vec<u8>>);

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1000);
        match self.0.read(&mut buf[..n])? {
            0 => Err(io::Error::other("the device went away")),
            n => Ok(n),
        }
    }
}

#[test]
fn jobs_end_on_a_read_error_as_one_thread_does() {
    let input = many_claim_balances(60);
    for cut in [
        500,
        input.len() / 4,
        input.len() / 2,
        input.len() - 10,
        input.len(),
    ] {
        let data = &input[..cut];
        let one = scan(
            &Scanner::new(),
            FailsAfter(io::Cursor::new(data.to_vec())),
            true,
        );
        assert!(
            one.end
                .as_ref()
                .is_err_and(|e| e.contains("the device went away")),
            "{:?}",
            one.end
        );
        for jobs in 2..=4 {
            let scanner = Scanner::new().jobs(jobs);
            let many = scan(&scanner, FailsAfter(io::Cursor::new(data.to_vec())), true);
            assert_eq!(one, many, "cut at {cut}, {jobs} threads");
        }
    }
}

/// Runs `validate` with `args` and `--jobs N`: exit code, stdout, stderr and
/// the acknowledgment it wrote.
fn validate(
    file: &Path,
    jobs: usize,
    args: &[&str],
) -> (Option<i32>, String, String, Option<Vec<u8>>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ack = dir.path().join("out.999");
    let jobs = jobs.to_string();
    let mut all = vec!["validate", "--jobs", &jobs, "--format", "jsonl"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--ack", s(&ack), "--ack-control-number", "7", s(file)]);
    let out = run(&all);
    let ack = std::fs::read(&ack).ok().map(|a| unstamp(&a));
    let stderr = String::from_utf8_lossy(&out.stderr).replace(s(file), "FILE");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        ack,
    )
}

/// The acknowledgment with its date and time (ISA09-10, GS04-05) blanked:
/// they come from the clock, which may turn a minute between two runs.
/// Each interchange's own element separator (its ISA's fourth byte) splits
/// its ISA and GS: an ack of several interchanges may use several.
fn unstamp(ack: &[u8]) -> Vec<u8> {
    if ack.len() < 106 {
        return ack.to_vec();
    }
    let t = ack[105];
    let blank = |seg: &[u8], e: u8, fields: &[usize]| -> Vec<u8> {
        let parts: Vec<&[u8]> = seg.split(|b| *b == e).collect();
        let kept: Vec<&[u8]> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| if fields.contains(&i) { &b""[..] } else { p })
            .collect();
        kept.join(&e)
    };
    let mut e = ack[3];
    ack.split(|b| *b == t)
        .map(|seg| match seg.trim_ascii_start() {
            s if s.starts_with(b"ISA") && s.len() > 3 => {
                e = s[3];
                blank(seg, e, &[9, 10])
            }
            s if s.starts_with(b"GS") => blank(seg, e, &[4, 5]),
            _ => seg.to_vec(),
        })
        .collect::<Vec<_>>()
        .join(&t)
}

#[test]
fn unstamp_blanks_every_interchange_under_its_own_separators() {
    let ack = |time: &str| {
        format!(
            "ISA*00*          *00*          *ZZ*BCBSMA         *ZZ*A              *261128*{time}*^*00501*000000007*0*P*:~\n\
             GS*FA*BCBSMA*A*20261128*{time}*7*X*005010X231A1~\n\
             ISA|00|          |00|          |ZZ|BCBSMA         |ZZ|B              |261128|{time}|^|00501|000000008|0|P|>~\n\
             GS|FA|BCBSMA|B|20261128|{time}|8|X|005010X231A1~\n"
        )
        .into_bytes()
    };
    let (early, late) = (ack("1139"), ack("1140"));
    assert_eq!(early[105], b'~', "a fixed-width first ISA");
    assert_ne!(early, late);
    assert_eq!(unstamp(&early), unstamp(&late));
    // Only the stamps go: another control number still shows.
    let other = String::from_utf8(ack("1139"))
        .unwrap()
        .replace("|000000008|", "|000000009|");
    assert_ne!(unstamp(&early), unstamp(other.as_bytes()));
}

type Run = (Option<i32>, String, String, Option<Vec<u8>>);

/// Fails at the first line that differs, not with both reports whole.
fn assert_same_run(one: &Run, many: &Run, what: &str) {
    for (i, (a, b)) in one.1.lines().zip(many.1.lines()).enumerate() {
        assert_eq!(a, b, "{what}: report line {}", i + 1);
    }
    assert_eq!(
        one.1.lines().count(),
        many.1.lines().count(),
        "{what}: report lines"
    );
    assert_eq!(
        (one.0, &one.2),
        (many.0, &many.2),
        "{what}: exit code and stderr"
    );
    let text = |ack: &Option<Vec<u8>>| {
        ack.as_deref()
            .map(|a| String::from_utf8_lossy(a).into_owned())
    };
    assert_eq!(text(&one.3), text(&many.3), "{what}: the ack");
}

#[test]
fn validate_jobs_report_every_fixture_as_one_thread_does() {
    // One run over all fixtures (the library test above compares them one
    // by one, in the sink's order; a debug binary takes a third of a second
    // to start).
    let dirs = [root().join("samples"), root().join("tests/data")];
    let run_all = |jobs: &str| {
        let mut args = vec!["validate", "--format", "jsonl", "--jobs", jobs];
        args.extend(dirs.iter().map(|d| s(d)));
        let out = run(&args);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr),
            None,
        )
    };
    let one = run_all("1");
    assert!(one.1.lines().count() > 1000, "{}", one.1.len());
    assert!(
        one.2.contains("not-x12.txt"),
        "an input that is not X12: {}",
        one.2
    );
    for jobs in ["2", "3", "4"] {
        assert_same_run(&one, &run_all(jobs), &format!("--jobs {jobs}"));
    }
}

#[test]
fn validate_jobs_ack_as_one_thread_does() {
    let mut files: Vec<PathBuf> = fixtures()
        .into_iter()
        .filter(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            f.starts_with(root().join("samples")) || name.starts_with("ack-")
        })
        .collect();
    files.push(root().join("tests/data/two-interchanges-different-separators.edi"));
    files.push(root().join("tests/data/envelope-se01-wrong.edi"));
    assert!(files.len() > 15);
    std::thread::scope(|sc| {
        for part in files.chunks(files.len().div_ceil(2)) {
            sc.spawn(move || {
                for file in part {
                    let one = validate(file, 1, &[]);
                    assert!(one.3.is_some(), "{}: no ack", file.display());
                    for jobs in 2..=4 {
                        let what = format!("{}, --jobs {jobs}", file.display());
                        assert_same_run(&one, &validate(file, jobs, &[]), &what);
                    }
                }
            });
        }
    });
}

#[test]
fn validate_jobs_stop_on_a_segment_too_long_as_one_thread_does() {
    let text = String::from_utf8(many_claim_balances(40)).expect("text");
    let long = format!("NTE*ADD*{}~\n", "A".repeat(6000));
    let se = text.match_indices("\nSE*").nth(25).expect("26 SEs").0 + 1;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("long.edi");
    std::fs::write(&file, format!("{}{long}{}", &text[..se], &text[se..])).expect("written");
    let limit = ["--max-transaction-bytes", "4K"];
    let one = validate(&file, 1, &limit);
    assert_eq!(one.0, Some(2), "{one:?}");
    assert!(one.2.contains("longer than the limit"), "{}", one.2);
    assert!(
        one.1.contains("\"claim-balance\""),
        "findings before the error are reported"
    );
    for jobs in 2..=4 {
        assert_same_run(
            &one,
            &validate(&file, jobs, &limit),
            &format!("--jobs {jobs}"),
        );
    }
}

#[test]
fn validate_jobs_flag_is_checked() {
    let f = sample("837p-clean.edi");
    for bad in ["0", "65", "two"] {
        let out = run(&["validate", "--jobs", bad, s(&f)]);
        assert_eq!(out.status.code(), Some(2), "--jobs {bad}");
    }
    let help = run(&["validate", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("-j, --jobs <N>"));
}
