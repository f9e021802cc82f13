//! Reading the ISA: the fixed-width segment that names the delimiters.
//!
//! The element separator is byte 3. The ISA is then walked field by field on
//! that separator rather than by fixed offsets, so an ISA whose fields are
//! not padded to their widths is still read (and reported) when the
//! separators are unambiguous. ISA16 is the byte after the 16th separator
//! and the terminator the byte after it.

use nom::bytes::streaming::{tag_no_case, take, take_till};
use nom::IResult;

use super::Delimiters;

/// The fixed widths of ISA01 through ISA16.
pub const FIELD_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];

/// The length of a correctly padded ISA, terminator included.
pub const ISA_LEN: usize = 106;

/// Longest ISA accepted before giving up: fields are short, so anything
/// longer is not an ISA.
const MAX_ISA_LEN: usize = 512;

/// What reading an ISA found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isa {
    /// The delimiters the ISA declares.
    pub delimiters: Delimiters,
    /// Length of the ISA content, from `I` up to the terminator (exclusive):
    /// 105 in a well-formed ISA.
    pub content_len: usize,
    /// The fields (ISA01..ISA16) whose length differs from the standard
    /// width, as (1-based field number, actual length).
    pub bad_widths: Vec<(usize, usize)>,
    /// Why ISA11 was not taken as the repetition separator, when it wasn't
    /// and should have been usable.
    pub repetition_note: Option<&'static str>,
    /// ISA12, the interchange control version (`00501`).
    pub version: [u8; 5],
}

impl Isa {
    /// Whether every field has its standard width.
    pub fn is_padded(&self) -> bool {
        self.bad_widths.is_empty() && self.content_len + 1 == ISA_LEN
    }
}

/// The result of [`read_isa`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsaStatus {
    /// A usable ISA.
    Complete(Isa),
    /// More bytes are needed.
    Partial,
    /// Not an ISA, or one whose delimiters cannot be told; says why.
    Invalid(&'static str),
}

/// Whether `buf` starts like an ISA segment (`ISA` and a separator).
pub fn looks_like_isa(buf: &[u8]) -> bool {
    buf.len() >= 4 && buf[..3].eq_ignore_ascii_case(b"ISA") && !buf[3].is_ascii_alphanumeric()
}

struct RawIsa<'a> {
    element: u8,
    fields: [&'a [u8]; 15],
    component: u8,
    terminator: u8,
}

fn parse_isa(input: &[u8]) -> IResult<&[u8], RawIsa<'_>> {
    let (mut input, _) = tag_no_case(&b"ISA"[..])(input)?;
    let (rest, sep) = take(1usize)(input)?;
    input = rest;
    let element = sep[0];
    let mut fields: [&[u8]; 15] = [&[]; 15];
    for f in fields.iter_mut() {
        let (rest, value) = take_till(|b| b == element)(input)?;
        // take_till stopped at the separator: step over it. (A byte, not a
        // char: a separator above 0x7F is not one UTF-8 character.)
        let (rest, _) = take(1usize)(rest)?;
        *f = value;
        input = rest;
    }
    let (input, isa16) = take(1usize)(input)?;
    let (input, term) = take(1usize)(input)?;
    Ok((
        input,
        RawIsa {
            element,
            fields,
            component: isa16[0],
            terminator: term[0],
        },
    ))
}

/// Reads the ISA at the start of `buf`; `eof` says no bytes follow `buf`.
///
/// ```
/// use scrub837::lex::isa::{read_isa, IsaStatus};
/// let isa = b"ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240105*0930*^*00501*000000101*0*P*:~";
/// let IsaStatus::Complete(i) = read_isa(isa, true) else { panic!() };
/// assert_eq!(i.delimiters, scrub837::lex::Delimiters::STANDARD);
/// assert!(i.is_padded());
/// assert_eq!(read_isa(&isa[..50], false), IsaStatus::Partial);
/// ```
pub fn read_isa(buf: &[u8], eof: bool) -> IsaStatus {
    if buf.len() < 4 {
        return if eof {
            IsaStatus::Invalid("no ISA segment at the start of the interchange")
        } else {
            IsaStatus::Partial
        };
    }
    if !looks_like_isa(buf) {
        return IsaStatus::Invalid("no ISA segment at the start of the interchange");
    }
    let window = &buf[..buf.len().min(MAX_ISA_LEN)];
    let raw = match parse_isa(window) {
        Ok((_, raw)) => raw,
        Err(nom::Err::Incomplete(_)) if !eof && buf.len() < MAX_ISA_LEN => {
            return IsaStatus::Partial
        }
        Err(_) => return IsaStatus::Invalid("the ISA segment is incomplete"),
    };
    let (e, c, s) = (raw.element, raw.component, raw.terminator);
    if e.is_ascii_alphanumeric() || c.is_ascii_alphanumeric() || s.is_ascii_alphanumeric() {
        return IsaStatus::Invalid(
            "the ISA does not declare usable separators (is ISA16 missing?)",
        );
    }
    if e == c || e == s || c == s {
        return IsaStatus::Invalid("the ISA declares the same byte for two separators");
    }
    let mut bad_widths = Vec::new();
    let mut content_len = 4;
    for (i, f) in raw.fields.iter().enumerate() {
        if f.len() != FIELD_WIDTHS[i] {
            bad_widths.push((i + 1, f.len()));
        }
        content_len += f.len() + 1;
    }
    content_len += 1; // ISA16
    let isa12 = raw.fields[11].trim_ascii();
    let mut version = [b' '; 5];
    for (v, b) in version.iter_mut().zip(isa12) {
        *v = *b;
    }
    let isa11 = raw.fields[10];
    // ISA11 is the repetition separator from 00501 on; before, it is the
    // standards id `U`. A letter or digit, or a clash, disables repetition.
    let (repetition, repetition_note) = if isa12 < &b"00501"[..] {
        (None, None)
    } else if isa11.len() != 1 {
        (None, Some("ISA11 is not one character"))
    } else if isa11[0].is_ascii_alphanumeric() || isa11[0] == b' ' {
        (
            None,
            Some("ISA11 is a letter, digit or blank, not a separator"),
        )
    } else if [e, c, s].contains(&isa11[0]) {
        (None, Some("ISA11 repeats another separator"))
    } else {
        (Some(isa11[0]), None)
    };
    IsaStatus::Complete(Isa {
        delimiters: Delimiters {
            element: e,
            component: c,
            repetition,
            segment: s,
        },
        content_len,
        bad_widths,
        repetition_note,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[u8] = b"ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *240105*0930*^*00501*000000101*0*P*:~";

    fn complete(buf: &[u8]) -> Isa {
        match read_isa(buf, true) {
            IsaStatus::Complete(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn standard_isa() {
        assert_eq!(GOOD.len(), ISA_LEN);
        let i = complete(GOOD);
        assert_eq!(i.content_len, 105);
        assert!(i.is_padded());
        assert_eq!(&i.version, b"00501");
    }

    #[test]
    fn pipe_separators() {
        let buf: Vec<u8> = GOOD
            .iter()
            .map(|&b| match b {
                b'*' => b'|',
                b':' => b'>',
                b => b,
            })
            .collect();
        let i = complete(&buf);
        assert_eq!(i.delimiters.element, b'|');
        assert_eq!(i.delimiters.component, b'>');
    }

    #[test]
    fn unpadded_isa_is_read_and_reported() {
        let i = complete(b"ISA*00**00**ZZ*SUB*ZZ*REC*240105*0930*^*00501*101*0*P*:~GS");
        assert!(!i.is_padded());
        assert_eq!(i.delimiters, Delimiters::STANDARD);
        assert!(i.bad_widths.contains(&(2, 0)));
        assert!(i.bad_widths.contains(&(13, 3)));
    }

    #[test]
    fn version_4010_uses_no_repetition() {
        let buf = GOOD.to_vec();
        let s = String::from_utf8(buf)
            .unwrap()
            .replace("*^*00501*", "*U*00401*");
        let i = complete(s.as_bytes());
        assert_eq!(i.delimiters.repetition, None);
        assert_eq!(i.repetition_note, None);
    }

    #[test]
    fn letter_repetition_is_disabled() {
        let s = String::from_utf8(GOOD.to_vec())
            .unwrap()
            .replace("*^*00501*", "*U*00501*");
        let i = complete(s.as_bytes());
        assert_eq!(i.delimiters.repetition, None);
        assert!(i.repetition_note.is_some());
    }

    #[test]
    fn invalid_isas() {
        assert!(matches!(read_isa(b"GS*HC*X~", true), IsaStatus::Invalid(_)));
        assert!(matches!(read_isa(b"ISA*00*", true), IsaStatus::Invalid(_)));
        assert_eq!(read_isa(b"ISA*00*", false), IsaStatus::Partial);
        assert!(matches!(read_isa(b"ISA", false), IsaStatus::Partial));
        // ISA16 missing: the terminator slot holds a letter.
        assert!(matches!(
            read_isa(
                b"ISA*00**00**ZZ*S*ZZ*R*240105*0930*^*00501*101*0*P*~GS*HC",
                true
            ),
            IsaStatus::Invalid(_)
        ));
        let long = [b"ISA*".as_slice(), &[b'x'; 600]].concat();
        assert!(matches!(read_isa(&long, false), IsaStatus::Invalid(_)));
    }
}
