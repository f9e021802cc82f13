//! Cutting one segment off the front of a buffer.
//!
//! [`frame`] is pure: it looks at bytes, never reads or allocates, and either
//! returns the [`Span`] of the first segment or says it needs more input
//! ([`Frame::Partial`]). `Partial` is not an error: the caller reads more and
//! asks again. At end of input (`eof`) there is no `Partial`.
//!
//! A span covers every byte from where the previous segment ended to the end
//! of this one, so the spans of a file concatenate back to the file:
//!
//! ```text
//!   \r\n  NM1*85*2*ACME~\r\n
//!   ^     ^            ^  ^
//!   start content   content end
//!                   _end
//! ```
//!
//! Blanks and line breaks before the content are the segment's *lead*; the
//! terminator and one line break after it are its *tail*. Blanks that only
//! run to the end of the input also join the tail of the last segment.

/// The byte ranges of one framed segment, relative to the framed buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte of the lead (the previous segment's end).
    pub start: usize,
    /// First byte of the segment id.
    pub content_start: usize,
    /// One past the last content byte (the terminator's position).
    pub content_end: usize,
    /// One past the tail.
    pub end: usize,
    /// Whether the segment ended with its terminator (the last segment of a
    /// file may not).
    pub terminated: bool,
}

impl Span {
    /// The span moved by `by` bytes.
    pub fn shifted(self, by: usize) -> Span {
        Span {
            start: self.start + by,
            content_start: self.content_start + by,
            content_end: self.content_end + by,
            end: self.end + by,
            terminated: self.terminated,
        }
    }

    /// The lead holds a line break: a blank line sits before the segment
    /// (the line break that ends the previous segment is in its tail).
    pub fn lead_has_line_break(&self, buf: &[u8]) -> bool {
        buf[self.start..self.content_start]
            .iter()
            .any(|&b| b == b'\n' || b == b'\r')
    }

    /// The lead holds a space or tab: the segment is indented.
    pub fn lead_has_blank(&self, buf: &[u8]) -> bool {
        buf[self.start..self.content_start]
            .iter()
            .any(|&b| b == b' ' || b == b'\t')
    }
}

/// The result of framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole segment.
    Complete(Span),
    /// More bytes are needed to know where the segment ends.
    Partial,
    /// Nothing but blanks and line breaks remain (only at end of input);
    /// holds how many.
    Blank(usize),
}

/// Whether `b` may surround segments, given the terminator in use.
#[inline]
pub fn is_blank(b: u8, terminator: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n') && b != terminator
}

/// Frames the first segment of `buf`, ended by `terminator`.
///
/// `eof` says no bytes follow `buf`; without it a segment whose terminator,
/// line break or trailing blanks might continue past `buf` is `Partial`.
///
/// ```
/// use scrub837::lex::framer::{frame, Frame};
/// let buf = b"ST*837*0001~\nBHT*0019~";
/// let Frame::Complete(s) = frame(buf, b'~', false) else { panic!() };
/// assert_eq!(&buf[s.content_start..s.content_end], b"ST*837*0001");
/// assert_eq!(s.end, 13);
/// let rest = &buf[s.end..];
/// assert_eq!(frame(rest, b'~', false), Frame::Partial);
/// assert!(matches!(frame(rest, b'~', true), Frame::Complete(_)));
/// ```
pub fn frame(buf: &[u8], terminator: u8, eof: bool) -> Frame {
    let content_start = buf
        .iter()
        .position(|&b| !is_blank(b, terminator))
        .unwrap_or(buf.len());
    if content_start == buf.len() {
        return if eof {
            Frame::Blank(buf.len())
        } else {
            Frame::Partial
        };
    }
    let content_end = match memchr::memchr(terminator, &buf[content_start..]) {
        Some(n) => content_start + n,
        None if !eof => return Frame::Partial,
        None => {
            // The last segment lacks its terminator: trailing blanks are tail.
            let mut end = buf.len();
            while end > content_start && is_blank(buf[end - 1], terminator) {
                end -= 1;
            }
            return Frame::Complete(Span {
                start: 0,
                content_start,
                content_end: end,
                end: buf.len(),
                terminated: false,
            });
        }
    };
    let mut end = content_end + 1;
    // With a line-feed terminator, a CR before it belongs to the tail.
    let content_end =
        if terminator == b'\n' && content_end > content_start && buf[content_end - 1] == b'\r' {
            content_end - 1
        } else {
            content_end
        };
    // One line break after the terminator is the segment's own.
    if terminator != b'\n' {
        match buf.get(end) {
            None if !eof => return Frame::Partial,
            Some(b'\r') if terminator != b'\r' => {
                end += 1;
                match buf.get(end) {
                    None if !eof => return Frame::Partial,
                    Some(b'\n') => end += 1,
                    _ => {}
                }
            }
            Some(b'\n') => end += 1,
            _ => {}
        }
    }
    // Blanks that run to the end of the input belong to the last segment;
    // before the end of input, more blanks may follow in the next read.
    let rest_blank = buf[end..].iter().all(|&b| is_blank(b, terminator));
    if rest_blank {
        if !eof {
            return Frame::Partial;
        }
        end = buf.len();
    }
    Frame::Complete(Span {
        start: 0,
        content_start,
        content_end,
        end,
        terminated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(buf: &[u8], f: Frame) -> &[u8] {
        match f {
            Frame::Complete(s) => &buf[s.content_start..s.content_end],
            other => panic!("{other:?}"),
        }
    }

    macro_rules! frames_to {
        ($name:ident, $buf:expr, $term:expr, $eof:expr, $content:expr, $end:expr) => {
            #[test]
            fn $name() {
                let buf: &[u8] = $buf;
                let f = frame(buf, $term, $eof);
                assert_eq!(content(buf, f), $content);
                let Frame::Complete(s) = f else {
                    unreachable!()
                };
                assert_eq!(s.end, $end);
            }
        };
    }

    frames_to!(plain, b"GS*HC~GE", b'~', false, b"GS*HC", 6);
    frames_to!(lf_after, b"GS*HC~\nGE", b'~', false, b"GS*HC", 7);
    frames_to!(crlf_after, b"GS*HC~\r\nGE", b'~', false, b"GS*HC", 8);
    frames_to!(cr_only_after, b"GS*HC~\rGE", b'~', false, b"GS*HC", 7);
    frames_to!(indented, b"\n  GS*HC~GE", b'~', false, b"GS*HC", 9);
    frames_to!(newline_terminator, b"GS*HC\nGE", b'\n', false, b"GS*HC", 6);
    frames_to!(
        newline_terminator_crlf,
        b"GS*HC\r\nGE",
        b'\n',
        false,
        b"GS*HC",
        7
    );
    frames_to!(unterminated_at_eof, b"IEA*1*1\n", b'~', true, b"IEA*1*1", 8);
    frames_to!(
        trailing_blanks_join_tail,
        b"IEA*1*1~\n\n  \n",
        b'~',
        true,
        b"IEA*1*1",
        13
    );

    #[test]
    fn partial_cases() {
        assert_eq!(frame(b"GS*HC", b'~', false), Frame::Partial);
        assert_eq!(frame(b"GS*HC~", b'~', false), Frame::Partial);
        assert_eq!(frame(b"GS*HC~\r", b'~', false), Frame::Partial);
        assert_eq!(frame(b"GS*HC~\n  ", b'~', false), Frame::Partial);
        assert_eq!(frame(b"  ", b'~', false), Frame::Partial);
        assert_eq!(frame(b"", b'~', false), Frame::Partial);
    }

    #[test]
    fn blank_at_eof() {
        assert_eq!(frame(b" \r\n", b'~', true), Frame::Blank(3));
        assert_eq!(frame(b"", b'~', true), Frame::Blank(0));
    }

    #[test]
    fn empty_segment_is_complete() {
        let f = frame(b"~GE", b'~', false);
        assert_eq!(content(b"~GE", f), b"");
    }
}
