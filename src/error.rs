//! The error type: what stops work on an input.
//!
//! Problems *in* a file are [`Finding`](crate::Finding)s. An [`Error`] means
//! the work cannot go on: the input cannot be read, is not X12 at all, or a
//! configuration (a grammar map) is broken.

use std::fmt;
use std::io;

use crate::finding::Position;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the input failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The input is not X12: no usable ISA where one must be.
    #[error("not an X12 interchange: {reason}")]
    NotX12 {
        /// Why the bytes are not X12.
        reason: String,
    },
    /// A single segment exceeds the configured size limit and cannot be
    /// framed without holding unbounded input.
    #[error("a segment is longer than the limit of {limit} bytes")]
    SegmentTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// An embedded or user-supplied grammar map is invalid.
    #[error("grammar map {guide}: {message}")]
    Grammar {
        /// The guide the map is for.
        guide: String,
        /// What is wrong with it.
        message: String,
    },
}

/// An error with the position in the input where it happened, when known.
///
/// ```
/// use scrub837::{Error, ErrorKind};
/// let e = Error::not_x12("the input is empty", None);
/// assert!(matches!(e.kind(), ErrorKind::NotX12 { .. }));
/// assert_eq!(e.to_string(), "not an X12 interchange: the input is empty");
/// ```
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    position: Option<Position>,
}

impl Error {
    /// An error of `kind` at `position`.
    pub fn new(kind: ErrorKind, position: Option<Position>) -> Error {
        Error(Box::new(Inner { kind, position }))
    }

    /// Input that is not X12.
    pub fn not_x12(reason: impl Into<String>, position: Option<Position>) -> Error {
        Error::new(
            ErrorKind::NotX12 {
                reason: reason.into(),
            },
            position,
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Where in the input, when known.
    pub fn position(&self) -> Option<Position> {
        self.0.position
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.0.position {
            write!(f, "{p}: ")?;
        }
        write!(f, "{}", self.0.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::new(ErrorKind::Io(e), None)
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
