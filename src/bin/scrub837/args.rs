//! Command-line flags, and their resolution into a [`Config`].

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
EXIT STATUS:
    0  no error finding
    1  at least one error finding (or a warning under --deny warnings)
    2  an input could not be read as X12, or the arguments are wrong;
       the other inputs are still read and reported";

/// Reads X12 837P/837I claim files and scrubs them before submission.
#[derive(Debug, Parser)]
#[command(name = "scrub837", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the loop tree of an 837 file with segment positions.
    ///
    /// The tree follows the envelopes (interchange, group, transaction) and
    /// the implementation guide's loops. A segment that fits nowhere is
    /// printed where it was met, marked unplaced. This is a data dump: it
    /// prints the file's contents as they are, PHI included.
    #[command(after_help = AFTER_HELP)]
    Parse(ParseArgs),
    /// Check syntax, envelopes and loop structure.
    ///
    /// Reports every finding of the reader, the envelope checks and the loop
    /// builder: envelope counts and control numbers, segments out of place,
    /// missing or repeated too often, HL hierarchy, bad dates, claim totals
    /// that differ from their lines, and what the reader tolerated.
    #[command(after_help = AFTER_HELP)]
    Validate(ValidateArgs),
    /// Check structure and the S-code policy rules.
    ///
    /// Runs everything `validate` does, then the policy's rules: stand-alone
    /// S-code claims, revenue codes, units, authorizations, timely filing,
    /// and the frequency rules over every input together, in order of date
    /// of service (so an S0353 billed twice across two files is found).
    #[command(after_help = AFTER_HELP)]
    Check(CheckArgs),
    /// List the S-code service lines as CSV or JSON.
    ///
    /// One row per S0353/S0354 line: file, claim id, form, code, modifiers,
    /// revenue code, charge, units, date of service, authorization number
    /// and frequency code. No PHI.
    #[command(after_help = AFTER_HELP)]
    Extract(ExtractArgs),
    /// Split mixed claims into stand-alone S-code claims; fix revenue codes.
    ///
    /// An original claim (frequency 1) that holds S-code lines and other
    /// services is split: each S-code line moves to a new claim of its own
    /// right after the original, with a copy of the claim header and a new
    /// patient control number; totals, LX numbers and trailer counts are
    /// recomputed. On 837I, S-code lines get the policy's revenue code
    /// (0960). Every segment the fix does not change is written back byte
    /// for byte. Replacements, voids and claims with claim-level payments of
    /// another payer are reported as not fixed. The output is written to a
    /// temporary file and renamed into place, or not at all.
    ///
    /// Exit status: 0 when everything found was fixed, 1 when something was
    /// left for review (listed in the report), 2 on errors (nothing written).
    Fix(FixArgs),
    /// Manage the history store: import, list, forget, stats.
    History(HistoryArgs),
    /// Print the embedded default policy (a starting point for --policy).
    Policy,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The 837 file to fix; `-` is standard input.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Where to write the fixed file; `-` is standard output.
    ///
    /// A file is written to a temporary file in the same folder and renamed
    /// into place, with owner-only permissions; on any error the target is
    /// left untouched.
    #[arg(
        short,
        long,
        value_name = "OUTPUT",
        required_unless_present = "dry_run"
    )]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Leave 837I revenue codes as they are.
    #[arg(long)]
    pub no_revenue_fix: bool,

    /// Write the claims made by splits to this file, as a separate
    /// interchange, instead of after their originals.
    ///
    /// For offices that send S-code claims apart. Each moved claim sits
    /// under copies of its billing provider, subscriber and patient levels;
    /// the interchange's ISA13, GS06 and ST02 start at --control-number.
    #[arg(long, value_name = "FILE", requires = "control_number")]
    pub scode_out: Option<PathBuf>,

    /// The first control number of the --scode-out interchange (ISA13,
    /// GS06, ST02), 1 to 999999999; use one your trading partner has not
    /// seen from you.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=999_999_999))]
    pub control_number: Option<u64>,

    /// Report the changes without writing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Report format.
    #[arg(long, value_enum, default_value_t = TreeFormatArg::Text)]
    pub format: TreeFormatArg,

    /// Write the report to this file instead of standard output (standard
    /// error when the fixed X12 goes to standard output).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// The largest transaction held in memory, in bytes (K, M, G accepted).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_transaction_limit)]
    pub max_transaction_bytes: usize,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// A policy file (TOML) to use instead of the embedded default.
    ///
    /// `scrub837 policy` prints the default, with every key explained.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Carelon approvals, CSV or JSON: auth_number, member_id, valid_from,
    /// valid_to.
    ///
    /// CSV needs a header row (extra columns are allowed); JSON is an array
    /// of objects with the same keys. Dates are YYYY-MM-DD. With it, the
    /// auth-unknown, auth-member-mismatch and auth-window rules run.
    #[arg(long, value_name = "FILE")]
    pub auth: Option<PathBuf>,

    /// The filing date for timely-filing (YYYY-MM-DD).
    ///
    /// Default: each transaction's creation date (BHT04).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,

    /// The history store of earlier runs (SQLite; created on first use).
    ///
    /// The frequency rules then see each patient's S-code lines recorded by
    /// earlier runs. The store keeps a keyed hash of each patient, never a
    /// member id, name or birth date; the key comes from
    /// SCRUB837_HISTORY_KEY or a key file PATH.key created beside it.
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,

    /// Record this run's S-code lines that have no error finding into the
    /// history store (their own or their claim's).
    #[arg(long, requires = "history")]
    pub record: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The history store.
    #[arg(long, value_name = "PATH", global = true)]
    pub history: Option<PathBuf>,

    #[command(subcommand)]
    pub action: HistoryAction,
}

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Load past claims (e.g. billed before scrub837 was adopted): every
    /// S-code line of the files, voids and replacements applied, no rules.
    Import {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List the recorded lines per patient hash.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TreeFormatArg::Text)]
        format: TreeFormatArg,
    },
    /// Remove the lines of a claim (one the payer denied).
    Forget {
        /// The claim's patient control number (CLM01).
        #[arg(long, value_name = "ID")]
        claim: String,
    },
    /// Counts and the key fingerprint.
    Stats {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TreeFormatArg::Text)]
        format: TreeFormatArg,
    },
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = RowFormatArg::Csv)]
    pub format: RowFormatArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RowFormatArg {
    /// A header row, then one row per line.
    Csv,
    /// One JSON array of objects.
    Json,
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date like 2024-03-31"))
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files or directories to read; `-` is standard input.
    ///
    /// Directories are walked in sorted order (hidden entries skipped).
    /// Without paths, standard input is read when it is not a terminal.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The largest transaction (ST..SE) held in memory, in bytes.
    ///
    /// A larger transaction is a `limit-exceeded` finding and is not read.
    /// Suffixes K, M and G are accepted.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_transaction_limit)]
    pub max_transaction_bytes: usize,

    /// Check an external code list: NAME=FILE, repeatable.
    ///
    /// FILE holds one code a line (the first field of a CSV line counts;
    /// `#` lines are comments). NAME is one of: icd10-cm, icd10-pcs, hcpcs,
    /// taxonomy, zip, revenue, remark_code, or a bundled list to replace
    /// (states, country, currency, pos). Without it, those elements are
    /// checked for type and length only.
    #[arg(long = "code-list", value_name = "NAME=FILE", value_parser = parse_code_list)]
    pub code_lists: Vec<(String, PathBuf)>,
}

/// Parses `NAME=FILE`.
pub fn parse_code_list(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("{s:?} is not NAME=FILE")),
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,

    /// When to colour text output.
    ///
    /// `auto` colours only when standard output is a terminal, NO_COLOR is
    /// unset and TERM is not `dumb`. JSON and CSV are never coloured.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,

    /// Show names, member ids and birth dates in findings.
    ///
    /// Without it, values that are protected health information are
    /// printed as `***`.
    #[arg(long)]
    pub show_phi: bool,

    /// Fail (exit 1) on warnings too: `--deny warnings`.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub deny: Option<DenyArg>,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The file to print; `-` is standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Output format: JSON, or an indented text tree.
    #[arg(long, value_enum, default_value_t = TreeFormatArg::Json)]
    pub format: TreeFormatArg,

    /// The largest transaction held in memory, in bytes (K, M, G accepted).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_transaction_limit)]
    pub max_transaction_bytes: usize,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub report: ReportArgs,

    /// Also write an X12 999 acknowledgment (005010X231A1) for the input
    /// to FILE: IK3/IK4 for each segment and element error, IK5 and AK9
    /// verdicts; a TA1 in its place when the interchange envelope is
    /// broken. One input only. Written atomically, owner-only.
    #[arg(long, value_name = "FILE")]
    pub ack: Option<PathBuf>,

    /// ISA13 (and GS06) of the acknowledgment; default: from the clock.
    #[arg(long, value_name = "N", requires = "ack", value_parser = clap::value_parser!(u32).range(1..=999_999_999))]
    pub ack_control_number: Option<u32>,

    /// Threads that check transactions, 1 to 64 (default: the cores, at most 8).
    ///
    /// The main thread reads each input and checks its envelopes while N
    /// threads check its transactions; the report and the acknowledgment
    /// are the same whatever N is. `--jobs 1` does everything on one
    /// thread. Inputs are still read one after another.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_JOBS))]
    pub jobs: Option<u16>,
}

/// The most `--jobs` accepted.
const MAX_JOBS: i64 = 64;
/// The most threads used by default: more rarely pay, as one thread reads.
const DEFAULT_JOBS_CAP: usize = 8;

impl ValidateArgs {
    /// `--jobs`, or the cores available (at most [`DEFAULT_JOBS_CAP`]).
    pub fn jobs(&self) -> usize {
        match self.jobs {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(DEFAULT_JOBS_CAP),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One finding a line, grouped by file and claim, with a summary.
    Text,
    /// One JSON object with schema_version, findings and summary.
    Json,
    /// One JSON object per line, tagged by type.
    Jsonl,
    /// A header row, then one row per finding.
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TreeFormatArg {
    /// The loop tree as JSON.
    Json,
    /// The loop tree as indented text.
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when writing to a terminal.
    Auto,
    /// Always colour text output.
    Always,
    /// Never colour.
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DenyArg {
    /// Warnings count as failures.
    Warnings,
}

/// Parses `64M`, `1G`, `4096`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1usize << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 4096, 512K, 64M or 1G"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// `--max-transaction-bytes`: a [`parse_size`] from 1K to 1G (a transaction
/// is held in memory, and the reader keeps its offsets in 31 bits; 1G reads
/// as the reader's limit, a byte less).
pub fn parse_transaction_limit(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        n if n < 1 << 10 => Err(format!("{s:?} is below the least limit, 1K")),
        n if n > 1 << 30 => Err(format!("{s:?} is above the greatest limit, 1G")),
        n => Ok(n),
    }
}

/// What a report-making command resolved its flags to.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub format: scrub837::report::Format,
    pub color: bool,
    pub show_phi: bool,
    pub deny_warnings: bool,
}

impl ReportArgs {
    pub fn resolve(&self) -> ReportConfig {
        use scrub837::report::Format;
        let format = match self.format {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        };
        let color = format == Format::Text
            && match self.color {
                ColorArg::Always => true,
                ColorArg::Never => false,
                ColorArg::Auto => {
                    std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none()
                        && std::env::var("TERM").map_or(true, |t| t != "dumb")
                }
            };
        ReportConfig {
            format,
            color,
            show_phi: self.show_phi,
            deny_warnings: self.deny == Some(DenyArg::Warnings),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn check_flags_parse() {
        let cli = Cli::try_parse_from([
            "scrub837",
            "check",
            "--policy",
            "p.toml",
            "--auth",
            "a.csv",
            "--as-of",
            "2024-03-01",
            "x.edi",
        ])
        .unwrap();
        let Command::Check(c) = cli.command else {
            panic!()
        };
        assert_eq!(c.as_of, chrono::NaiveDate::from_ymd_opt(2024, 3, 1));
        assert!(c.policy.policy.is_some() && c.auth.is_some());
        assert!(Cli::try_parse_from(["scrub837", "check", "--as-of", "03/01/2024", "x"]).is_err());
        assert!(Cli::try_parse_from(["scrub837", "extract", "--format", "json", "x"]).is_ok());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_transaction_limit("1G"), Ok(1 << 30));
        assert_eq!(parse_transaction_limit("1K"), Ok(1024));
        assert!(parse_transaction_limit("2G").is_err());
        assert!(parse_transaction_limit("100").is_err());
    }

    #[test]
    fn validate_flags_parse() {
        let cli = Cli::try_parse_from([
            "scrub837",
            "validate",
            "--format",
            "jsonl",
            "--deny",
            "warnings",
            "--show-phi",
            "a.edi",
            "-",
        ])
        .unwrap();
        let Command::Validate(v) = cli.command else {
            panic!()
        };
        assert_eq!(v.input.paths.len(), 2);
        let c = v.report.resolve();
        assert!(c.deny_warnings && c.show_phi && !c.color);
        assert!(Cli::try_parse_from(["scrub837", "validate", "--format", "xml"]).is_err());
        assert!(
            Cli::try_parse_from(["scrub837", "validate", "--color", "always"])
                .unwrap()
                .command_is_validate()
        );
    }

    #[test]
    fn jobs_flag() {
        let jobs = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["scrub837", "validate"], args].concat())?;
            let Command::Validate(v) = cli.command else {
                panic!("validate parses as validate")
            };
            Ok::<_, clap::Error>(v.jobs())
        };
        assert_eq!(jobs(&["--jobs", "1"]).unwrap(), 1);
        assert_eq!(jobs(&["-j", "3", "a.edi"]).unwrap(), 3);
        assert_eq!(jobs(&["-j64"]).unwrap(), 64);
        let default = jobs(&[]).unwrap();
        assert!((1..=DEFAULT_JOBS_CAP).contains(&default), "{default}");
        assert!(jobs(&["--jobs", "0"]).is_err());
        assert!(jobs(&["--jobs", "65"]).is_err());
        assert!(jobs(&["--jobs", "many"]).is_err());
        assert!(Cli::try_parse_from(["scrub837", "check", "--jobs", "2", "x"]).is_err());
    }

    impl Cli {
        fn command_is_validate(&self) -> bool {
            matches!(self.command, Command::Validate(_))
        }
    }
}
