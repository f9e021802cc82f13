//! `gen837`: a synthetic ANSI X12 5010 837 generator for benchmarks and scale tests.
//!
//! ```text
//! cargo run --release --example gen837 -- --kind I --claims 1000000 --seed 7 [-o FILE]
//! cargo run --release --example gen837 -- --kind P --bytes 1G -o /tmp/big837p.txt
//! ```
//!
//! Options (output goes to standard output unless `-o FILE` is given):
//!
//! * `--kind P|I` - 837P (`005010X222A1`) or 837I (`005010X223A2`). Default `P`.
//! * `--claims N` - total number of claims (CLM segments) to write, or
//! * `--bytes SIZE` - keep writing whole claims until the output reaches SIZE bytes
//!   (suffixes `K`, `M`, `G`, `T` are powers of 1024; `KB`/`KiB` etc. are accepted too).
//!   One of `--claims` and `--bytes` is required.
//! * `--seed S` - PRNG seed (default 1). The output is a pure function of the arguments.
//! * `--claims-per-transaction K` - claims per ST..SE (default 1000; a transaction is closed
//!   at the first subscriber boundary at or after K claims).
//! * `--transactions-per-group G` - ST..SE sets per GS..GE group (default 50).
//! * `--line-break none|lf|crlf` - what follows each segment terminator (default `lf`).
//! * `--separators CHARS` - four characters: element, component, repetition, terminator
//!   (default `*:^~`, e.g. `|>^~`). Letters, digits, blank, `-` and `.` are refused because
//!   they occur in the data; CR or LF only as the terminator, with `--line-break none`.
//! * `--stats` - print counts of what was generated (claims, S-code mix) to standard error.
//! * `-h`, `--help` - print the usage to standard error and exit with status 2, as bad
//!   arguments do.
//!
//! Only the standard library is used (a splitmix64 PRNG, hand-written argument parsing and
//! number formatting). The output is streamed through a 4 MiB `BufWriter`; memory stays at a
//! few MB whatever the size, and 1 GiB takes a few seconds.
//!
//! The file is one interchange (ISA..IEA, ISA15 `T`), with GS..GE groups of ST..SE
//! transactions, all created 2026-01-05. Each transaction has its header (BHT, 1000A
//! submitter, 1000B receiver), then billing providers (2000A with PRV, 2010AA with N3, N4 and
//! REF*EI; a pool of 200 with valid NPIs), each with a run of subscribers (2000B: SBR,
//! 2010BA with N3, N4, DMG, 2010BB payer). Control numbers and counts (SE01, GE01, IEA01) are
//! exact, HL numbering restarts at 1 per transaction, LX restarts at 1 per claim and CLM02 is
//! the sum of the line charges, amounts in the shortest decimal form (`300`, `12.5`). Segment
//! order follows the pyx12 maps, and pyx12 accepts the output without errors.
//!
//! Content mix (roughly realistic oncology billing):
//!
//! * Every subscriber has a member id unique in the file (2010BA NM109: `W` on 837P, `H` on
//!   837I, then 9 digits), so 1M claims hold some 300 000 patients. About 1 subscriber in 4
//!   is not the patient: the claims then belong to one (sometimes two) dependents in 2000C
//!   loops (PAT01 19 or 01, 2010CA with N3, N4, DMG).
//! * A patient has 1 to about 14 ordinary claims, dated over 2024-2025 in chemotherapy-cycle
//!   steps of 1 to 4 weeks, each with 1-6 service lines: infusions (96413, 96415, 96417,
//!   96367, 96375), drugs (J9271, J9035, J9045, J9267, J1100, J2505), visits (99214, 99215),
//!   labs (85025, 80053, 36415), injections (96372) and radiation (77412); one cancer
//!   diagnosis per patient (ABK) plus 0-2 others (ABF). 837P claims are POS 11 or 22, half of
//!   them with a 2310B rendering provider. 837I claims are bill type 13x or 85x with DTP*434
//!   (RD8), CL1 and a 2310A attending provider; each line has its revenue code (0335, 0260,
//!   0636, 0510, 0300, 0301, 0333), some lines are revenue-code-only pharmacy lines (0250),
//!   and about 3% of lines have no DTP*472 (the statement period gives their date).
//!   A quarter of ordinary claims carry a REF*G1 prior authorization.
//! * About 1 claim in 30 carries an S-code (`HC:S0353` or `HC:S0354`, charge 300, 1 unit).
//!   About 2.2% of subscribers' patients are in the care-coordination program: one S0353
//!   claim followed by 0-8 S0354 claims spaced 30-39 days apart (about 1 gap in 20 is 22-29
//!   days, which breaks the 30-day rule), all under the program payer (BCBSMA; other
//!   patients have it 90% of the time). About 88% of S-code claims are stand-alone (the
//!   S-code is the only line); 12% mix it with 1-3 other lines. On 837I about 90% of S-code
//!   lines use revenue code 0960, 6% the retired 0980 and 4% another code (0510, 0940,
//!   0761). About 92% of S-code claims carry the patient's authorization in REF*G1.
//! * Claims are originals (frequency 1); after about 1.5% of them a replacement (7) and after
//!   about 0.7% a void (8) of the same claim follows, with the same CLM01 and a REF*F8 payer
//!   claim number. No patient has two original S0353 claims.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

// ---------------------------------------------------------------------------------------
// Tuning of the content mix (per mille unless noted).

/// Patients enrolled in the care-coordination program (S0353 then monthly S0354).
const SCODE_PATIENT_PER_MILLE: u64 = 22;
/// S-code claims that also carry other (non S-code) lines.
const MIXED_PER_MILLE: u64 = 120;
/// S-code claims with a claim-level REF*G1 prior authorization.
const AUTH_PER_MILLE: u64 = 920;
/// 837I S-code lines with revenue code 0980 / another wrong code (the rest use 0960).
const REV_0980_PER_MILLE: u64 = 60;
const REV_OTHER_PER_MILLE: u64 = 40;
/// S0354 gaps that are shorter than 30 days.
const SHORT_GAP_PER_MILLE: u64 = 50;
/// Original claims followed by a replacement (7) / a void (8) of themselves.
const REPLACE_PER_MILLE: u64 = 15;
const VOID_PER_MILLE: u64 = 7;
/// Subscribers whose claims belong to a dependent (2000C).
const DEPENDENT_PER_MILLE: u64 = 250;
/// 837I lines without their own DTP*472.
const NO_LINE_DATE_PER_MILLE: u64 = 30;

/// Day 0 is 2024-01-01; the last date of service is day 730, 2025-12-31.
const LAST_DAY: u16 = 730;
/// Charge of an S-code line, in cents.
const SCODE_CHARGE: u64 = 30_000;

// ---------------------------------------------------------------------------------------
// PRNG: splitmix64.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------
// Static tables.

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
    "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
    "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
    "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
    "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
    "RIVERA", "CAMPBELL", "MITCHELL", "CARTER", "ROBERTS", "OCONNOR", "MURPHY", "SULLIVAN",
    "KELLY", "WALSH", "CHEN", "WANG", "PATEL", "SILVA", "COSTA",
];

#[rustfmt::skip]
const FEMALE_NAMES: &[&str] = &[
    "MARY", "PATRICIA", "JENNIFER", "LINDA", "ELIZABETH", "BARBARA", "SUSAN", "JESSICA",
    "SARAH", "KAREN", "LISA", "NANCY", "BETTY", "MARGARET", "SANDRA", "ASHLEY", "KIMBERLY",
    "EMILY", "DONNA", "MICHELLE", "CAROL", "AMANDA", "MELISSA", "DEBORAH", "STEPHANIE",
    "REBECCA", "SHARON", "LAURA", "CYNTHIA", "KATHLEEN",
];

#[rustfmt::skip]
const MALE_NAMES: &[&str] = &[
    "JAMES", "ROBERT", "JOHN", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH", "THOMAS",
    "CHARLES", "CHRISTOPHER", "DANIEL", "MATTHEW", "ANTHONY", "MARK", "DONALD", "STEVEN",
    "PAUL", "ANDREW", "JOSHUA", "KENNETH", "KEVIN", "BRIAN", "GEORGE", "TIMOTHY", "RONALD",
    "EDWARD", "JASON", "JEFFREY", "RYAN",
];

#[rustfmt::skip]
const INITIALS: &[&str] = &[
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "W",
];

/// City, state, ZIP5.
const CITIES: &[(&str, &str, &str)] = &[
    ("BOSTON", "MA", "02115"),
    ("WORCESTER", "MA", "01608"),
    ("SPRINGFIELD", "MA", "01103"),
    ("LOWELL", "MA", "01852"),
    ("CAMBRIDGE", "MA", "02139"),
    ("BROCKTON", "MA", "02301"),
    ("QUINCY", "MA", "02169"),
    ("NEWTON", "MA", "02458"),
    ("FRAMINGHAM", "MA", "01702"),
    ("PITTSFIELD", "MA", "01201"),
    ("NEW BEDFORD", "MA", "02740"),
    ("FALL RIVER", "MA", "02720"),
    ("LYNN", "MA", "01901"),
    ("SALEM", "MA", "01970"),
    ("PLYMOUTH", "MA", "02360"),
    ("PROVIDENCE", "RI", "02903"),
    ("HARTFORD", "CT", "06103"),
    ("NASHUA", "NH", "03060"),
    ("PORTLAND", "ME", "04101"),
    ("BURLINGTON", "VT", "05401"),
];

const STREETS: &[&str] = &[
    "MAIN ST",
    "ELM ST",
    "OAK AVE",
    "WASHINGTON ST",
    "PARK AVE",
    "MAPLE ST",
    "HIGHLAND AVE",
    "BEACON ST",
    "CENTRAL ST",
    "PLEASANT ST",
    "SCHOOL ST",
    "WATER ST",
    "CHESTNUT ST",
    "UNION ST",
];

const PRACTICE_SUFFIXES: &[&str] = &[
    "ONCOLOGY ASSOCIATES",
    "HEMATOLOGY ONCOLOGY",
    "CANCER CARE PC",
    "ONCOLOGY GROUP",
    "CANCER SPECIALISTS",
];

const HOSPITAL_SUFFIXES: &[&str] = &[
    "MEDICAL CENTER",
    "GENERAL HOSPITAL",
    "CANCER INSTITUTE",
    "COMMUNITY HOSPITAL",
    "REGIONAL HOSPITAL",
];

/// ICD-10-CM principal diagnoses (malignancies), without the decimal point: any patient.
#[rustfmt::skip]
const CANCER_DX: &[&str] = &[
    "C3411", "C3412", "C3490", "C189", "C182", "C20", "C250", "C259", "C169", "C679", "C8330",
    "C9000", "C9110", "C220", "C641", "C439",
];
/// Female patients only (breast, ovary, endometrium).
const CANCER_DX_FEMALE: &[&str] = &["C50911", "C50912", "C50411", "C561", "C541"];
/// Male patients only (prostate).
const CANCER_DX_MALE: &[&str] = &["C61"];

/// Secondary diagnoses commonly billed with chemotherapy.
#[rustfmt::skip]
const OTHER_DX: &[&str] = &[
    "Z5111", "Z5112", "D6481", "R110", "E860", "R5383", "D701", "Z9221",
];

/// Payers: name, id, SBR09. The first one runs the S-code program.
const PAYERS: &[(&str, &str, &str)] = &[
    ("BLUE CROSS BLUE SHIELD OF MASSACHUSETTS", "BCBSMA", "BL"),
    ("AETNA", "60054", "CI"),
    ("UNITEDHEALTHCARE", "87726", "CI"),
];

struct Proc {
    code: &'static str,
    modifier: &'static str,
    rev: &'static str,
    /// Charge per unit, in cents.
    price: u64,
    umin: u64,
    umax: u64,
}

const fn proc(
    code: &'static str,
    modifier: &'static str,
    rev: &'static str,
    price: u64,
    umin: u64,
    umax: u64,
) -> Proc {
    Proc {
        code,
        modifier,
        rev,
        price,
        umin,
        umax,
    }
}

const P_96413: usize = 0;
const P_96415: usize = 1;
const P_96417: usize = 2;
const P_96367: usize = 3;
const P_96375: usize = 4;
const P_J9271: usize = 5;
const P_J9035: usize = 6;
const P_J9045: usize = 7;
const P_J9267: usize = 8;
const P_J1100: usize = 9;
const P_J2505: usize = 10;
const P_96372: usize = 11;
const P_99214: usize = 12;
const P_99215: usize = 13;
const P_85025: usize = 14;
const P_80053: usize = 15;
const P_36415: usize = 16;
const P_77412: usize = 17;

const PROCS: &[Proc] = &[
    proc("96413", "", "0335", 45_000, 1, 1),
    proc("96415", "", "0335", 9_550, 1, 3),
    proc("96417", "", "0335", 21_000, 1, 1),
    proc("96367", "", "0260", 8_525, 1, 1),
    proc("96375", "", "0260", 6_240, 1, 2),
    proc("J9271", "JZ", "0636", 5_863, 100, 200),
    proc("J9035", "JZ", "0636", 8_137, 30, 80),
    proc("J9045", "", "0636", 1_240, 6, 16),
    proc("J9267", "", "0636", 18, 150, 350),
    proc("J1100", "", "0636", 35, 4, 20),
    proc("J2505", "", "0636", 492_550, 1, 1),
    proc("96372", "", "0260", 4_500, 1, 1),
    proc("99214", "", "0510", 18_500, 1, 1),
    proc("99215", "", "0510", 25_000, 1, 1),
    proc("85025", "", "0300", 3_275, 1, 1),
    proc("80053", "", "0301", 4_810, 1, 1),
    proc("36415", "", "0300", 1_250, 1, 1),
    proc("77412", "", "0333", 62_000, 1, 1),
];

const CHEMO_DRUGS: &[usize] = &[P_J9271, P_J9035, P_J9045, P_J9267];
const WRONG_SCODE_REVS: &[&str] = &["0510", "0940", "0761"];

// ---------------------------------------------------------------------------------------
// Configuration and argument parsing.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    P,
    I,
}

enum Limit {
    Claims(u64),
    Bytes(u64),
}

struct Config {
    kind: Kind,
    limit: Limit,
    seed: u64,
    claims_per_tx: u64,
    tx_per_group: u64,
    line_break: &'static [u8],
    seps: [u8; 4],
    out: Option<String>,
    stats: bool,
}

const USAGE: &str = "\
usage: gen837 --kind P|I (--claims N | --bytes SIZE) [options]

Writes a synthetic, valid X12 5010 837P (005010X222A1) or 837I (005010X223A2) file.

  --kind P|I                      professional or institutional (default P)
  --claims N                      number of claims to write
  --bytes SIZE                    write whole claims until the output reaches SIZE
                                  (e.g. 200M, 1G; K/M/G/T are powers of 1024)
  --seed S                        PRNG seed (default 1); same arguments, same bytes
  --claims-per-transaction K      claims per ST..SE (default 1000)
  --transactions-per-group G      ST..SE per GS..GE (default 50)
  --line-break none|lf|crlf       after each segment terminator (default lf)
  --separators CHARS              element, component, repetition, terminator
                                  (default '*:^~', e.g. '|>^~')
  --stats                         print what was generated to standard error
  -o FILE                         output file (default: standard output)
  -h, --help                      this text
";

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_size(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    let n = parse_u64(&s[..digits])?;
    let mult: u64 = match s[digits..].to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut kind = Kind::P;
    let mut claims = None;
    let mut bytes = None;
    let mut seed = 1u64;
    let mut claims_per_tx = 1000u64;
    let mut tx_per_group = 50u64;
    let mut line_break: &'static [u8] = b"\n";
    let mut seps = *b"*:^~";
    let mut out = None;
    let mut stats = false;

    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg, None),
        };
        match name {
            "-h" | "--help" => return Err(String::new()),
            "--stats" => {
                stats = true;
                continue;
            }
            "--kind"
            | "--claims"
            | "--bytes"
            | "--seed"
            | "--claims-per-transaction"
            | "--transactions-per-group"
            | "--line-break"
            | "--separators"
            | "-o"
            | "--output" => {}
            _ => return Err(format!("unknown argument {arg:?}")),
        }
        let value = match inline {
            Some(v) => v,
            None => {
                if i >= args.len() {
                    return Err(format!("{name} needs a value"));
                }
                i += 1;
                args[i - 1].clone()
            }
        };
        let bad = || format!("bad value for {name}: {value:?}");
        match name {
            "--kind" => {
                kind = match value.as_str() {
                    "P" | "p" | "837P" => Kind::P,
                    "I" | "i" | "837I" => Kind::I,
                    _ => return Err(bad()),
                }
            }
            "--claims" => claims = Some(parse_u64(&value).filter(|&n| n > 0).ok_or_else(bad)?),
            "--bytes" => bytes = Some(parse_size(&value).filter(|&n| n > 0).ok_or_else(bad)?),
            "--seed" => seed = parse_u64(&value).ok_or_else(bad)?,
            "--claims-per-transaction" => {
                claims_per_tx = parse_u64(&value).filter(|&n| n > 0).ok_or_else(bad)?
            }
            "--transactions-per-group" => {
                tx_per_group = parse_u64(&value).filter(|&n| n > 0).ok_or_else(bad)?
            }
            "--line-break" => {
                line_break = match value.as_str() {
                    "none" => b"",
                    "lf" => b"\n",
                    "crlf" => b"\r\n",
                    _ => return Err(bad()),
                }
            }
            "--separators" => {
                let b = value.as_bytes();
                if b.len() != 4 {
                    return Err(format!("--separators needs 4 characters, got {value:?}"));
                }
                seps = [b[0], b[1], b[2], b[3]];
            }
            "-o" | "--output" => out = Some(value),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }

    for (k, &s) in seps.iter().enumerate() {
        if s == b'\r' || s == b'\n' {
            if k != 3 || !line_break.is_empty() {
                return Err("CR or LF can only be the terminator, with --line-break none".into());
            }
        } else if !s.is_ascii_graphic() || s.is_ascii_alphanumeric() || s == b'-' || s == b'.' {
            return Err(format!(
                "separator {:?} is not allowed (letters, digits, blank, '-' and '.' occur in the data)",
                s as char
            ));
        }
        if seps[..k].contains(&s) {
            return Err(format!("separators must differ: {:?}", s as char));
        }
    }
    let limit = match (claims, bytes) {
        (Some(n), None) => Limit::Claims(n),
        (None, Some(b)) => Limit::Bytes(b),
        (None, None) => return Err("one of --claims or --bytes is required".into()),
        (Some(_), Some(_)) => return Err("--claims and --bytes exclude each other".into()),
    };
    if claims_per_tx > 1_000_000_000 || tx_per_group > 999_999_999 {
        return Err("--claims-per-transaction / --transactions-per-group too large".into());
    }
    Ok(Config {
        kind,
        limit,
        seed,
        claims_per_tx,
        tx_per_group,
        line_break,
        seps,
        out,
        stats,
    })
}

// ---------------------------------------------------------------------------------------
// Number and date formatting.

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    let mut m = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    let start = i.min(tmp.len() - width.min(20));
    buf.extend_from_slice(&tmp[start..]);
}

/// Cents as the shortest decimal: 30000 -> 300, 1250 -> 12.5, 1205 -> 12.05.
fn push_amount(buf: &mut Vec<u8>, cents: u64) {
    push_u64(buf, cents / 100);
    let c = cents % 100;
    if c != 0 {
        buf.push(b'.');
        buf.push(b'0' + (c / 10) as u8);
        if c % 10 != 0 {
            buf.push(b'0' + (c % 10) as u8);
        }
    }
}

fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// CCYYMMDD for days 0..=LAST_DAY counted from 2024-01-01.
fn date_table() -> Vec<[u8; 8]> {
    let (mut y, mut m, mut d) = (2024u32, 1u32, 1u32);
    let mut out = Vec::with_capacity(LAST_DAY as usize + 1);
    for _ in 0..=LAST_DAY {
        let mut s = [0u8; 8];
        let v = [
            y / 1000,
            y / 100 % 10,
            y / 10 % 10,
            y % 10,
            m / 10,
            m % 10,
            d / 10,
            d % 10,
        ];
        for (dst, digit) in s.iter_mut().zip(v) {
            *dst = b'0' + digit as u8;
        }
        out.push(s);
        d += 1;
        if d > days_in_month(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    out
}

/// A random D8 birth date between the given years.
fn birth_date(rng: &mut Rng, from_year: u32, to_year: u32) -> [u8; 8] {
    let y = rng.range(from_year as u64, to_year as u64) as u32;
    let m = rng.range(1, 12) as u32;
    let d = rng.range(1, days_in_month(y, m) as u64) as u32;
    let mut s = [0u8; 8];
    let v = [
        y / 1000,
        y / 100 % 10,
        y / 10 % 10,
        y % 10,
        m / 10,
        m % 10,
        d / 10,
        d % 10,
    ];
    for (dst, digit) in s.iter_mut().zip(v) {
        *dst = b'0' + digit as u8;
    }
    s
}

/// A 10-digit NPI whose last digit is the Luhn check digit over "80840" + the first nine.
fn make_npi(rng: &mut Rng) -> String {
    let mut digits = [0u8; 9];
    digits[0] = 1 + rng.below(2) as u8;
    for d in digits.iter_mut().skip(1) {
        *d = rng.below(10) as u8;
    }
    let mut sum = 24u32; // the 80840 prefix
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = d as u32;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    let check = (10 - sum % 10) % 10;
    let mut s: String = digits.iter().map(|&d| (b'0' + d) as char).collect();
    s.push((b'0' + check as u8) as char);
    s
}

// ---------------------------------------------------------------------------------------
// Segment writer.

struct Out {
    w: BufWriter<Box<dyn Write>>,
    seg: Vec<u8>,
    es: u8,
    cs: u8,
    end: Vec<u8>,
    bytes: u64,
    /// Segments since (and including) the current ST.
    segs: u64,
}

impl Out {
    fn begin(&mut self, tag: &[u8]) {
        self.seg.clear();
        self.seg.extend_from_slice(tag);
    }
    /// Next element.
    fn e(&mut self, v: &[u8]) {
        self.seg.push(self.es);
        self.seg.extend_from_slice(v);
    }
    fn e_num(&mut self, n: u64) {
        self.seg.push(self.es);
        push_u64(&mut self.seg, n);
    }
    fn e_amt(&mut self, cents: u64) {
        self.seg.push(self.es);
        push_amount(&mut self.seg, cents);
    }
    /// `n` empty elements.
    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.seg.push(self.es);
        }
    }
    /// Next component of the current element.
    fn c(&mut self, v: &[u8]) {
        self.seg.push(self.cs);
        self.seg.extend_from_slice(v);
    }
    /// Append raw bytes to the current element.
    fn raw(&mut self, v: &[u8]) {
        self.seg.extend_from_slice(v);
    }
    fn finish(&mut self) -> io::Result<()> {
        self.seg.extend_from_slice(&self.end);
        self.w.write_all(&self.seg)?;
        self.bytes += self.seg.len() as u64;
        self.segs += 1;
        Ok(())
    }
    /// A whole segment of plain elements.
    fn segment(&mut self, tag: &[u8], elements: &[&[u8]]) -> io::Result<()> {
        self.begin(tag);
        for e in elements {
            self.e(e);
        }
        self.finish()
    }
}

// ---------------------------------------------------------------------------------------
// Generated entities.

struct Person {
    last: &'static str,
    first: &'static str,
    middle: &'static str,
    npi: String,
}

struct Provider {
    name: String,
    npi: String,
    tin: String,
    street: String,
    city: usize,
    zip4: String,
}

#[derive(Clone, Copy)]
struct Line {
    /// Procedure code (empty for a revenue-code-only 837I line).
    code: &'static str,
    modifier: &'static str,
    rev: &'static str,
    charge: u64,
    units: u64,
    day: u16,
    dated: bool,
    scode: bool,
}

struct Claim {
    id: u64,
    lines: Vec<Line>,
    dx: [&'static str; 3],
    ndx: usize,
    auth: Option<u64>,
    freq: u8,
    place: &'static str,
    doctor: usize,
    rendering: bool,
    admit_type: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum VisitKind {
    S0353,
    S0354,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Visit {
    day: u16,
    kind: VisitKind,
}

/// What the patient's claims share.
struct PatientCtx {
    dx: &'static str,
    auth: u64,
}

#[derive(Default)]
struct Stats {
    interchanges: u64,
    groups: u64,
    transactions: u64,
    subscribers: u64,
    dependents: u64,
    patients: u64,
    scode_patients: u64,
    claims: u64,
    lines: u64,
    scode_claims: u64,
    mixed_claims: u64,
    scode_lines: u64,
    s0353_lines: u64,
    s0354_lines: u64,
    rev_0960: u64,
    rev_0980: u64,
    rev_other: u64,
    scode_no_auth: u64,
    short_gaps: u64,
    replacements: u64,
    voids: u64,
}

struct Gen {
    cfg: Config,
    rng: Rng,
    out: Out,
    dates: Vec<[u8; 8]>,
    providers: Vec<Provider>,
    doctors: Vec<Person>,
    claims_written: u64,
    claim_seq: u64,
    subscriber_seq: u64,
    patient_seq: u64,
    member_offset: u64,
    stats: Stats,
    visits: Vec<Visit>,
    claim: Claim,
    version: &'static [u8],
}

impl Gen {
    fn new(cfg: Config, w: Box<dyn Write>) -> Gen {
        let mut rng = Rng::new(cfg.seed);
        let mut providers = Vec::with_capacity(200);
        for _ in 0..200 {
            let city = rng.below(CITIES.len() as u64) as usize;
            let suffix = match cfg.kind {
                Kind::P => rng.pick(PRACTICE_SUFFIXES),
                Kind::I => rng.pick(HOSPITAL_SUFFIXES),
            };
            providers.push(Provider {
                name: format!("{} {}", CITIES[city].0, suffix),
                npi: make_npi(&mut rng),
                tin: format!("{}", rng.range(100_000_000, 899_999_999)),
                street: format!("{} {}", rng.range(1, 2999), rng.pick(STREETS)),
                city,
                zip4: format!("{:04}", rng.range(1, 9999)),
            });
        }
        let mut doctors = Vec::with_capacity(1000);
        for _ in 0..1000 {
            let female = rng.chance(500);
            let last = rng.pick(LAST_NAMES);
            let names = if female { FEMALE_NAMES } else { MALE_NAMES };
            let first = rng.pick(names);
            let middle = if rng.chance(300) {
                rng.pick(INITIALS)
            } else {
                ""
            };
            doctors.push(Person {
                last,
                first,
                middle,
                npi: make_npi(&mut rng),
            });
        }
        let member_offset = rng.below(1_000_000_000);
        let mut end = vec![cfg.seps[3]];
        end.extend_from_slice(cfg.line_break);
        let out = Out {
            w: BufWriter::with_capacity(4 << 20, w),
            seg: Vec::with_capacity(512),
            es: cfg.seps[0],
            cs: cfg.seps[1],
            end,
            bytes: 0,
            segs: 0,
        };
        let version: &'static [u8] = match cfg.kind {
            Kind::P => b"005010X222A1",
            Kind::I => b"005010X223A2",
        };
        Gen {
            cfg,
            rng,
            out,
            dates: date_table(),
            providers,
            doctors,
            claims_written: 0,
            claim_seq: 0,
            subscriber_seq: 0,
            patient_seq: 0,
            member_offset,
            stats: Stats::default(),
            visits: Vec::with_capacity(64),
            claim: Claim {
                id: 0,
                lines: Vec::with_capacity(16),
                dx: ["", "", ""],
                ndx: 1,
                auth: None,
                freq: b'1',
                place: "11",
                doctor: 0,
                rendering: false,
                admit_type: 3,
            },
            version,
        }
    }

    fn done(&self) -> bool {
        match self.cfg.limit {
            Limit::Claims(n) => self.claims_written >= n,
            Limit::Bytes(b) => self.out.bytes >= b,
        }
    }

    fn run(&mut self) -> io::Result<()> {
        let ctrl = self.cfg.seed % 999_999_999 + 1;
        self.isa(ctrl)?;
        self.stats.interchanges = 1;
        let mut groups = 0u64;
        let mut st_ctl = 0u64;
        loop {
            groups += 1;
            let o = &mut self.out;
            o.begin(b"GS");
            o.e(b"HC");
            o.e(b"SCRUB837GEN");
            o.e(b"BCBSMA");
            o.e(b"20260105");
            o.e(b"1200");
            o.e_num(groups);
            o.e(b"X");
            o.e(self.version);
            o.finish()?;
            // The interchange holds at least one group, a group at least one transaction, a
            // transaction at least one billing provider, and so on: the limit is checked only
            // after the first of each (with --bytes, an envelope header alone may cross it).
            let mut sets = 0u64;
            loop {
                sets += 1;
                st_ctl += 1;
                self.transaction(st_ctl)?;
                if sets >= self.cfg.tx_per_group || self.done() {
                    break;
                }
            }
            let o = &mut self.out;
            o.begin(b"GE");
            o.e_num(sets);
            o.e_num(groups);
            o.finish()?;
            self.stats.transactions += sets;
            if self.done() {
                break;
            }
        }
        self.stats.groups = groups;
        let o = &mut self.out;
        o.begin(b"IEA");
        o.e_num(groups);
        o.seg.push(o.es);
        push_padded(&mut o.seg, ctrl, 9);
        o.finish()?;
        o.w.flush()
    }

    fn isa(&mut self, ctrl: u64) -> io::Result<()> {
        let [es, cs, rs, _] = self.cfg.seps;
        let o = &mut self.out;
        o.begin(b"ISA");
        o.e(b"00");
        o.e(b"          ");
        o.e(b"00");
        o.e(b"          ");
        o.e(b"ZZ");
        o.e(b"SCRUB837GEN    ");
        o.e(b"ZZ");
        o.e(b"BCBSMA         ");
        o.e(b"260105");
        o.e(b"1200");
        o.e(&[rs]);
        o.e(b"00501");
        o.seg.push(es);
        push_padded(&mut o.seg, ctrl, 9);
        o.e(b"0");
        o.e(b"T");
        o.e(&[cs]);
        debug_assert_eq!(o.seg.len(), 105);
        o.finish()
    }

    fn transaction(&mut self, st_ctl: u64) -> io::Result<()> {
        let version = self.version;
        let o = &mut self.out;
        o.segs = 0;
        o.begin(b"ST");
        o.e(b"837");
        o.seg.push(o.es);
        push_padded(&mut o.seg, st_ctl, 4);
        o.e(version);
        o.finish()?;
        o.begin(b"BHT");
        o.e(b"0019");
        o.e(b"00");
        o.seg.push(o.es);
        o.raw(b"B");
        push_padded(&mut o.seg, st_ctl, 6);
        o.e(b"20260105");
        o.e(b"1200");
        o.e(b"CH");
        o.finish()?;
        o.begin(b"NM1");
        o.e(b"41");
        o.e(b"2");
        o.e(b"SCRUB837 SYNTHETIC BILLING");
        o.skip(4);
        o.e(b"46");
        o.e(b"SCRUB837GEN");
        o.finish()?;
        o.segment(b"PER", &[b"IC", b"EDI DESK", b"TE", b"6175550100"])?;
        o.begin(b"NM1");
        o.e(b"40");
        o.e(b"2");
        o.e(b"BLUE CROSS BLUE SHIELD OF MASSACHUSETTS");
        o.skip(4);
        o.e(b"46");
        o.e(b"BCBSMA");
        o.finish()?;

        let mut hl = 0u64;
        let mut tx_claims = 0u64;
        let k = self.cfg.claims_per_tx;
        loop {
            // 2000A billing provider with a run of subscribers.
            hl += 1;
            let bp_hl = hl;
            let prov = self.rng.below(self.providers.len() as u64) as usize;
            self.billing_provider(bp_hl, prov)?;
            let block = 1 + self.rng.below(k.min(400));
            let mut block_claims = 0;
            loop {
                let before = self.claims_written;
                self.subscriber(&mut hl, bp_hl)?;
                let n = self.claims_written - before;
                block_claims += n;
                tx_claims += n;
                if block_claims >= block || tx_claims >= k || self.done() {
                    break;
                }
            }
            if tx_claims >= k || self.done() {
                break;
            }
        }

        let o = &mut self.out;
        let count = o.segs + 1;
        o.begin(b"SE");
        o.e_num(count);
        o.seg.push(o.es);
        push_padded(&mut o.seg, st_ctl, 4);
        o.finish()
    }

    fn billing_provider(&mut self, hl: u64, prov: usize) -> io::Result<()> {
        let kind = self.cfg.kind;
        let p = &self.providers[prov];
        let o = &mut self.out;
        o.begin(b"HL");
        o.e_num(hl);
        o.skip(1);
        o.e(b"20");
        o.e(b"1");
        o.finish()?;
        let taxonomy: &[u8] = match kind {
            Kind::P => b"207RX0202X",
            Kind::I => b"282N00000X",
        };
        o.segment(b"PRV", &[b"BI", b"PXC", taxonomy])?;
        o.begin(b"NM1");
        o.e(b"85");
        o.e(b"2");
        o.e(p.name.as_bytes());
        o.skip(4);
        o.e(b"XX");
        o.e(p.npi.as_bytes());
        o.finish()?;
        o.segment(b"N3", &[p.street.as_bytes()])?;
        let (city, state, zip) = CITIES[p.city];
        o.begin(b"N4");
        o.e(city.as_bytes());
        o.e(state.as_bytes());
        o.e(zip.as_bytes());
        o.raw(p.zip4.as_bytes());
        o.finish()?;
        o.segment(b"REF", &[b"EI", p.tin.as_bytes()])
    }

    fn name_segments(
        &mut self,
        qual: &[u8],
        female: bool,
        id: Option<u64>,
        birth: [u8; 8],
        last: &'static str,
    ) -> io::Result<()> {
        let member_prefix: &[u8] = match self.cfg.kind {
            Kind::P => b"W",
            Kind::I => b"H",
        };
        let rng = &mut self.rng;
        let first = if female {
            rng.pick(FEMALE_NAMES)
        } else {
            rng.pick(MALE_NAMES)
        };
        let middle = if rng.chance(400) {
            rng.pick(INITIALS)
        } else {
            ""
        };
        let house = rng.range(1, 999);
        let street = rng.pick(STREETS);
        let (city, state, zip) = rng.pick(CITIES);
        let zip4 = rng.range(1, 9999);
        let o = &mut self.out;
        o.begin(b"NM1");
        o.e(qual);
        o.e(b"1");
        o.e(last.as_bytes());
        o.e(first.as_bytes());
        if let Some(id) = id {
            o.e(middle.as_bytes());
            o.skip(2);
            o.e(b"MI");
            o.seg.push(o.es);
            o.raw(member_prefix);
            push_padded(&mut o.seg, id, 9);
        } else if !middle.is_empty() {
            o.e(middle.as_bytes());
        }
        o.finish()?;
        o.begin(b"N3");
        o.seg.push(o.es);
        push_u64(&mut o.seg, house);
        o.raw(b" ");
        o.raw(street.as_bytes());
        o.finish()?;
        o.begin(b"N4");
        o.e(city.as_bytes());
        o.e(state.as_bytes());
        o.e(zip.as_bytes());
        push_padded(&mut o.seg, zip4, 4);
        o.finish()?;
        o.begin(b"DMG");
        o.e(b"D8");
        o.e(&birth);
        o.e(if female { b"F" } else { b"M" });
        o.finish()
    }

    /// One 2000B subscriber, with its claims or its dependents' claims.
    fn subscriber(&mut self, hl: &mut u64, parent: u64) -> io::Result<()> {
        self.subscriber_seq += 1;
        self.stats.subscribers += 1;
        // Member id: a bijection of the subscriber counter, unique in the file.
        let member =
            (self.subscriber_seq.wrapping_mul(387_420_489) + self.member_offset) % 1_000_000_000;
        let scode = self.rng.chance(SCODE_PATIENT_PER_MILLE);
        let payer = if scode || self.rng.chance(900) {
            0
        } else {
            1 + self.rng.below(PAYERS.len() as u64 - 1) as usize
        };
        let dependents = if self.rng.chance(DEPENDENT_PER_MILLE) {
            if self.rng.chance(150) {
                2
            } else {
                1
            }
        } else {
            0
        };
        *hl += 1;
        let sub_hl = *hl;
        let group = 10_000 + self.rng.below(90_000);
        let female = self.rng.chance(550);
        let birth = birth_date(&mut self.rng, 1940, 1998);
        let last = self.rng.pick(LAST_NAMES);
        let o = &mut self.out;
        o.begin(b"HL");
        o.e_num(sub_hl);
        o.e_num(parent);
        o.e(b"22");
        o.e(if dependents > 0 { b"1" } else { b"0" });
        o.finish()?;
        o.begin(b"SBR");
        o.e(b"P");
        o.e(if dependents > 0 { b"" } else { b"18" });
        o.seg.push(o.es);
        o.raw(b"GRP");
        push_u64(&mut o.seg, group);
        o.skip(5);
        o.e(PAYERS[payer].2.as_bytes());
        o.finish()?;
        self.name_segments(b"IL", female, Some(member), birth, last)?;
        let (pname, pid, _) = PAYERS[payer];
        let o = &mut self.out;
        o.begin(b"NM1");
        o.e(b"PR");
        o.e(b"2");
        o.e(pname.as_bytes());
        o.skip(4);
        o.e(b"PI");
        o.e(pid.as_bytes());
        o.finish()?;

        if dependents == 0 {
            return self.patient_claims(scode, female);
        }
        for d in 0..dependents {
            if d > 0 && self.done() {
                break;
            }
            self.stats.dependents += 1;
            *hl += 1;
            let child = self.rng.chance(700);
            let dfemale = self.rng.chance(500);
            let dbirth = if child {
                birth_date(&mut self.rng, 2000, 2016)
            } else {
                birth_date(&mut self.rng, 1945, 1998)
            };
            let o = &mut self.out;
            o.begin(b"HL");
            o.e_num(*hl);
            o.e_num(sub_hl);
            o.e(b"23");
            o.e(b"0");
            o.finish()?;
            o.segment(b"PAT", &[if child { b"19" } else { b"01" }])?;
            self.name_segments(b"QC", dfemale, None, dbirth, last)?;
            // Only the first dependent can be in the S-code program.
            self.patient_claims(scode && d == 0, dfemale)?;
        }
        Ok(())
    }

    /// Plans the visits of one patient and writes their claims (at least one).
    fn patient_claims(&mut self, scode: bool, female: bool) -> io::Result<()> {
        self.patient_seq += 1;
        self.stats.patients += 1;
        let rng = &mut self.rng;
        let visits = &mut self.visits;
        visits.clear();
        let n_other = match rng.below(100) {
            0..=34 => 1,
            35..=54 => 2,
            55..=69 => 3,
            70..=79 => 4,
            80..=94 => rng.range(5, 8),
            _ => rng.range(9, 14),
        };
        let start = if scode {
            self.stats.scode_patients += 1;
            let m = rng.below(9); // S0354 claims after the S0353
            let span = (m * 35) as u16;
            let d0 = rng.below((LAST_DAY.saturating_sub(span) + 1) as u64) as u16;
            visits.push(Visit {
                day: d0,
                kind: VisitKind::S0353,
            });
            let mut day = d0;
            for _ in 0..m {
                let short = rng.chance(SHORT_GAP_PER_MILLE);
                day += if short {
                    rng.range(22, 29)
                } else {
                    rng.range(30, 39)
                } as u16;
                if day > LAST_DAY {
                    break;
                }
                self.stats.short_gaps += short as u64;
                visits.push(Visit {
                    day,
                    kind: VisitKind::S0354,
                });
            }
            d0.saturating_sub(rng.below(60) as u16)
        } else {
            rng.below(LAST_DAY as u64 + 1) as u16
        };
        let mut day = start;
        for i in 0..n_other {
            if i > 0 {
                day += rng.range(7, 28) as u16;
            }
            if day > LAST_DAY {
                break;
            }
            visits.push(Visit {
                day,
                kind: VisitKind::Other,
            });
        }
        visits.sort_unstable();

        let dx = match (rng.below(3), female) {
            (0, true) => rng.pick(CANCER_DX_FEMALE),
            (0, false) => rng.pick(CANCER_DX_MALE),
            _ => rng.pick(CANCER_DX),
        };
        let ctx = PatientCtx {
            dx,
            auth: (self.patient_seq.wrapping_mul(1_162_261_467) + 7_777_777) % 10_000_000_000,
        };
        for i in 0..self.visits.len() {
            if i > 0 && self.done() {
                break;
            }
            let v = self.visits[i];
            self.build_claim(&ctx, v);
            self.write_claim()?;
            let r = self.rng.below(1000);
            if r < REPLACE_PER_MILLE + VOID_PER_MILLE && !self.done() {
                self.claim.freq = if r < REPLACE_PER_MILLE { b'7' } else { b'8' };
                self.write_claim()?;
            }
        }
        Ok(())
    }

    fn push_line(&mut self, p: usize, day: u16) {
        let pr = &PROCS[p];
        let units = self.rng.range(pr.umin, pr.umax);
        self.claim.lines.push(Line {
            code: pr.code,
            modifier: pr.modifier,
            rev: pr.rev,
            charge: pr.price * units,
            units,
            day,
            dated: true,
            scode: false,
        });
    }

    /// Lines of an ordinary oncology claim (1-6 lines).
    fn other_lines(&mut self, day: u16, max: usize) {
        let rng = &mut self.rng;
        let mut picks = [0usize; 8];
        let mut n = 0;
        let mut add = |p: usize| {
            if n < picks.len() {
                picks[n] = p;
                n += 1;
            }
        };
        match rng.below(100) {
            0..=44 => {
                add(P_96413);
                if rng.chance(600) {
                    add(P_96415);
                }
                if rng.chance(300) {
                    add(P_96417);
                }
                add(rng.pick(CHEMO_DRUGS));
                if rng.chance(300) {
                    add(rng.pick(CHEMO_DRUGS));
                }
                if rng.chance(400) {
                    add(rng.pick(&[P_J1100, P_96367, P_96375]));
                }
            }
            45..=69 => {
                add(if rng.chance(700) { P_99214 } else { P_99215 });
                let cbc = rng.chance(500);
                let cmp = rng.chance(300);
                if cbc {
                    add(P_85025);
                }
                if cmp {
                    add(P_80053);
                }
                if cbc || cmp {
                    add(P_36415);
                }
            }
            70..=79 => {
                add(P_85025);
                if rng.chance(500) {
                    add(P_80053);
                }
                add(P_36415);
            }
            80..=91 => {
                add(P_96372);
                add(P_J2505);
            }
            _ => {
                add(P_77412);
                if rng.chance(300) {
                    add(P_99214);
                }
            }
        }
        let spread = rng.chance(150);
        let rev_only = self.cfg.kind == Kind::I && rng.chance(200);
        let take = n.min(max);
        for &p in &picks[..take] {
            let d = if spread {
                (day + self.rng.below(3) as u16).min(LAST_DAY)
            } else {
                day
            };
            self.push_line(p, d);
        }
        if rev_only && self.claim.lines.len() < 6 {
            let charge = self.rng.range(5, 80) * 100 + self.rng.below(4) * 25;
            self.claim.lines.push(Line {
                code: "",
                modifier: "",
                rev: "0250",
                charge,
                units: 1,
                day,
                dated: true,
                scode: false,
            });
        }
    }

    fn build_claim(&mut self, ctx: &PatientCtx, v: Visit) {
        self.claim_seq += 1;
        let kind = self.cfg.kind;
        let rng = &mut self.rng;
        let c = &mut self.claim;
        c.id = self.claim_seq;
        c.lines.clear();
        c.freq = b'1';
        c.dx[0] = ctx.dx;
        c.ndx = rng.range(1, 3) as usize;
        for k in 1..c.ndx {
            c.dx[k] = rng.pick(OTHER_DX);
        }
        if c.ndx == 3 && c.dx[1] == c.dx[2] {
            c.ndx = 2;
        }
        c.doctor = rng.below(self.doctors.len() as u64) as usize;
        c.rendering = rng.chance(500);
        c.admit_type = if rng.chance(900) { 3 } else { 1 };
        c.place = match kind {
            Kind::P => {
                if rng.chance(850) {
                    "11"
                } else {
                    "22"
                }
            }
            Kind::I => {
                if rng.chance(900) {
                    "13"
                } else {
                    "85"
                }
            }
        };
        match v.kind {
            VisitKind::Other => {
                c.auth = if rng.chance(250) {
                    Some(ctx.auth + 1)
                } else {
                    None
                };
                self.other_lines(v.day, 6);
            }
            VisitKind::S0353 | VisitKind::S0354 => {
                c.auth = if rng.chance(AUTH_PER_MILLE) {
                    Some(ctx.auth)
                } else {
                    None
                };
                let rev = if kind == Kind::I {
                    let r = rng.below(1000);
                    if r < REV_0980_PER_MILLE {
                        "0980"
                    } else if r < REV_0980_PER_MILLE + REV_OTHER_PER_MILLE {
                        rng.pick(WRONG_SCODE_REVS)
                    } else {
                        "0960"
                    }
                } else {
                    ""
                };
                let s = Line {
                    code: if v.kind == VisitKind::S0353 {
                        "S0353"
                    } else {
                        "S0354"
                    },
                    modifier: "",
                    rev,
                    charge: SCODE_CHARGE,
                    units: 1,
                    day: v.day,
                    dated: true,
                    scode: true,
                };
                if rng.chance(MIXED_PER_MILLE) {
                    self.other_lines(v.day, 3);
                    let at = self.rng.below(self.claim.lines.len() as u64 + 1) as usize;
                    self.claim.lines.insert(at, s);
                } else {
                    c.lines.push(s);
                }
            }
        }
        if kind == Kind::I {
            for l in self.claim.lines.iter_mut() {
                l.dated = !self.rng.chance(NO_LINE_DATE_PER_MILLE);
            }
        }
    }

    fn write_claim(&mut self) -> io::Result<()> {
        let kind = self.cfg.kind;
        let c = &self.claim;
        let st = &mut self.stats;
        st.claims += 1;
        st.lines += c.lines.len() as u64;
        let n_s = c.lines.iter().filter(|l| l.scode).count() as u64;
        if n_s > 0 {
            st.scode_claims += 1;
            st.scode_lines += n_s;
            if n_s < c.lines.len() as u64 {
                st.mixed_claims += 1;
            }
            if c.auth.is_none() {
                st.scode_no_auth += 1;
            }
            for l in c.lines.iter().filter(|l| l.scode) {
                if l.code == "S0353" {
                    st.s0353_lines += 1;
                } else {
                    st.s0354_lines += 1;
                }
                if kind == Kind::I {
                    match l.rev {
                        "0960" => st.rev_0960 += 1,
                        "0980" => st.rev_0980 += 1,
                        _ => st.rev_other += 1,
                    }
                }
            }
        }
        match c.freq {
            b'7' => st.replacements += 1,
            b'8' => st.voids += 1,
            _ => {}
        }
        self.claims_written += 1;

        let total: u64 = c.lines.iter().map(|l| l.charge).sum();
        let kind_letter: &[u8] = match kind {
            Kind::P => b"CP",
            Kind::I => b"CI",
        };
        let o = &mut self.out;
        let dates = &self.dates;
        // CLM
        o.begin(b"CLM");
        o.e(kind_letter);
        push_padded(&mut o.seg, c.id, 9);
        o.e_amt(total);
        o.skip(2);
        o.e(c.place.as_bytes());
        match kind {
            Kind::P => {
                o.c(b"B");
                o.c(&[c.freq]);
                o.e(b"Y");
            }
            Kind::I => {
                o.c(b"A");
                o.c(&[c.freq]);
                o.skip(1);
            }
        }
        o.e(b"A");
        o.e(b"Y");
        o.e(b"Y");
        o.finish()?;
        if kind == Kind::I {
            let from = c.lines.iter().map(|l| l.day).min().unwrap_or(0);
            let to = c.lines.iter().map(|l| l.day).max().unwrap_or(0);
            o.begin(b"DTP");
            o.e(b"434");
            o.e(b"RD8");
            o.e(&dates[from as usize]);
            o.raw(b"-");
            o.raw(&dates[to as usize]);
            o.finish()?;
            o.begin(b"CL1");
            o.e_num(c.admit_type as u64);
            o.e(b"1");
            o.e(b"01");
            o.finish()?;
        }
        if let Some(auth) = c.auth {
            o.begin(b"REF");
            o.e(b"G1");
            o.seg.push(o.es);
            o.raw(b"PA");
            push_padded(&mut o.seg, auth, 10);
            o.finish()?;
        }
        if c.freq != b'1' {
            o.begin(b"REF");
            o.e(b"F8");
            o.seg.push(o.es);
            o.raw(b"ICN26");
            push_padded(&mut o.seg, c.id, 11);
            o.finish()?;
        }
        match kind {
            Kind::P => {
                o.begin(b"HI");
                o.e(b"ABK");
                o.c(c.dx[0].as_bytes());
                for dx in &c.dx[1..c.ndx] {
                    o.e(b"ABF");
                    o.c(dx.as_bytes());
                }
                o.finish()?;
            }
            Kind::I => {
                o.begin(b"HI");
                o.e(b"ABK");
                o.c(c.dx[0].as_bytes());
                o.finish()?;
                if c.ndx > 1 {
                    o.begin(b"HI");
                    for dx in &c.dx[1..c.ndx] {
                        o.e(b"ABF");
                        o.c(dx.as_bytes());
                    }
                    o.finish()?;
                }
            }
        }
        let doc = &self.doctors[c.doctor];
        let provider_loop: Option<&[u8]> = match kind {
            Kind::P if c.rendering => Some(b"82"),
            Kind::P => None,
            Kind::I => Some(b"71"),
        };
        if let Some(q) = provider_loop {
            o.begin(b"NM1");
            o.e(q);
            o.e(b"1");
            o.e(doc.last.as_bytes());
            o.e(doc.first.as_bytes());
            o.e(doc.middle.as_bytes());
            o.skip(2);
            o.e(b"XX");
            o.e(doc.npi.as_bytes());
            o.finish()?;
        }
        for (i, l) in c.lines.iter().enumerate() {
            o.begin(b"LX");
            o.e_num(i as u64 + 1);
            o.finish()?;
            match kind {
                Kind::P => {
                    o.begin(b"SV1");
                    o.e(b"HC");
                    o.c(l.code.as_bytes());
                    if !l.modifier.is_empty() {
                        o.c(l.modifier.as_bytes());
                    }
                    o.e_amt(l.charge);
                    o.e(b"UN");
                    o.e_num(l.units);
                    o.skip(2);
                    o.e(b"1");
                    if !l.scode {
                        for k in 2..=c.ndx {
                            o.c(&[b'0' + k as u8]);
                        }
                    }
                }
                Kind::I => {
                    o.begin(b"SV2");
                    o.e(l.rev.as_bytes());
                    if l.code.is_empty() {
                        o.skip(1);
                    } else {
                        o.e(b"HC");
                        o.c(l.code.as_bytes());
                        if !l.modifier.is_empty() {
                            o.c(l.modifier.as_bytes());
                        }
                    }
                    o.e_amt(l.charge);
                    o.e(b"UN");
                    o.e_num(l.units);
                }
            }
            o.finish()?;
            if l.dated {
                o.begin(b"DTP");
                o.e(b"472");
                o.e(b"D8");
                o.e(&dates[l.day as usize]);
                o.finish()?;
            }
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("gen837: {msg}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let w: Box<dyn Write> = match &cfg.out {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("gen837: cannot create {path}: {e}");
                return ExitCode::from(1);
            }
        },
        None => Box::new(io::stdout().lock()),
    };
    let stats = cfg.stats;
    let mut g = Gen::new(cfg, w);
    if let Err(e) = g.run() {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("gen837: write error: {e}");
        return ExitCode::from(1);
    }
    if stats {
        let s = &g.stats;
        let pct = |n: u64, d: u64| {
            if d == 0 {
                0.0
            } else {
                100.0 * n as f64 / d as f64
            }
        };
        eprintln!(
            "bytes {}  interchanges {}  groups {}  transactions {}",
            g.out.bytes, s.interchanges, s.groups, s.transactions
        );
        eprintln!(
            "subscribers {}  dependents {}  patients {}  s-code patients {}",
            s.subscribers, s.dependents, s.patients, s.scode_patients
        );
        eprintln!(
            "claims {}  lines {}  replacements(7) {}  voids(8) {}",
            s.claims, s.lines, s.replacements, s.voids
        );
        eprintln!(
            "s-code claims {} ({:.2}% of claims, 1 in {:.1})  stand-alone {}  mixed {} ({:.1}% of s-code claims)  without REF*G1 {} ({:.1}%)",
            s.scode_claims,
            pct(s.scode_claims, s.claims),
            if s.scode_claims == 0 { 0.0 } else { s.claims as f64 / s.scode_claims as f64 },
            s.scode_claims - s.mixed_claims,
            s.mixed_claims,
            pct(s.mixed_claims, s.scode_claims),
            s.scode_no_auth,
            pct(s.scode_no_auth, s.scode_claims),
        );
        eprintln!(
            "s-code lines {}  S0353 {}  S0354 {}  S0354 gaps under 30 days {}",
            s.scode_lines, s.s0353_lines, s.s0354_lines, s.short_gaps
        );
        if g.cfg.kind == Kind::I {
            eprintln!(
                "s-code revenue codes: 0960 {}  0980 {}  other {} ({:.1}% wrong)",
                s.rev_0960,
                s.rev_0980,
                s.rev_other,
                pct(s.rev_0980 + s.rev_other, s.scode_lines)
            );
        }
    }
    ExitCode::SUCCESS
}
