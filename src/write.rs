//! Writing segments back: untouched ones byte for byte, edited ones with
//! the input's own separators, terminator and line break.
//!
//! A segment's bytes in a [`Block`](crate::reader::Block) are its lead
//! (blanks or line breaks before it), its content and its tail (terminator
//! and line break). An edit replaces the content only, so the lead and the
//! tail - the file's layout - stay as they were.

use crate::lex::framer::Span;
use crate::lex::Delimiters;

/// The content of a segment with element `n` (1-based) set to `value`;
/// missing elements before it are added empty.
///
/// ```
/// use scrub837::lex::Delimiters;
/// use scrub837::write::with_element;
/// let d = Delimiters::STANDARD;
/// assert_eq!(with_element(b"CLM*A1*450***11:B:1", d, 2, b"150"), b"CLM*A1*150***11:B:1");
/// assert_eq!(with_element(b"LX*3", d, 1, b"1"), b"LX*1");
/// assert_eq!(with_element(b"REF*D9", d, 2, b"X"), b"REF*D9*X");
/// ```
pub fn with_element(content: &[u8], delims: Delimiters, n: usize, value: &[u8]) -> Vec<u8> {
    let sep = delims.element;
    let mut out = Vec::with_capacity(content.len() + value.len());
    let mut parts = content.split(|b| *b == sep);
    out.extend_from_slice(parts.next().unwrap_or(&[]));
    let mut i = 0;
    for part in parts.by_ref() {
        i += 1;
        out.push(sep);
        out.extend_from_slice(if i == n { value } else { part });
    }
    while i < n {
        i += 1;
        out.push(sep);
        if i == n {
            out.extend_from_slice(value);
        }
    }
    out
}

/// Appends the segment at `span` of `bytes` to `out`, whole.
pub fn copy_segment(out: &mut Vec<u8>, bytes: &[u8], span: &Span) {
    out.extend_from_slice(&bytes[span.start..span.end]);
}

/// Appends the segment at `span` of `bytes` to `out` with its content
/// replaced by `content`: the lead and tail are the original's.
pub fn replace_segment(out: &mut Vec<u8>, bytes: &[u8], span: &Span, content: &[u8]) {
    out.extend_from_slice(&bytes[span.start..span.content_start]);
    out.extend_from_slice(content);
    out.extend_from_slice(&bytes[span.content_end..span.end]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::framer::{frame, Frame};

    #[test]
    fn replace_keeps_lead_and_tail() {
        let buf = b"\n  CLM*A*100~\r\nX";
        let Frame::Complete(span) = frame(buf, b'~', true) else {
            panic!()
        };
        let mut out = Vec::new();
        replace_segment(&mut out, buf, &span, b"CLM*A*50");
        assert_eq!(out, b"\n  CLM*A*50~\r\n");
        let mut same = Vec::new();
        copy_segment(&mut same, buf, &span);
        assert_eq!(same, &buf[..span.end]);
    }

    #[test]
    fn with_element_other_separators() {
        let d = Delimiters {
            element: b'|',
            component: b'>',
            repetition: Some(b'^'),
            segment: b'~',
        };
        assert_eq!(
            with_element(b"SV2|0980|HC>S0354|300|UN|1", d, 1, b"0960"),
            b"SV2|0960|HC>S0354|300|UN|1"
        );
    }
}
