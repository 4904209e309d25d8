//! # cfship-ndjson — one record scanner
//!
//! Splits a byte stream of JSON records — one per line (NDJSON), or written back to back without
//! separators, as Cloudflare streams them — into records, in bounded memory, without parsing them.
//! The scanner follows only the structure (strings, escapes, nesting depth); the bytes of a string
//! are skipped with `memchr`. Records are handed out as borrowed slices of a buffer the front end
//! reuses (or, for [`Splitter`], as `Bytes` sharing one allocation per chunk): no allocation per
//! record in steady state, and at most `max_record` bytes carried over between chunks.
//!
//! Two modes ([`Mode`]):
//! * **strict** (Cloudflare Logpull / Logpush streams): only `{…}` objects; a cut object at the end
//!   of the stream, text that is not JSON (Cloudflare's `Error streaming data` trailer) or an
//!   object over the limit fail the stream with an [`Error`] naming what and where.
//! * **lenient** (files): `{…}` and `[…]` values; a raw LF ends a value (a value cut short
//!   becomes an [`Kind::Unterminated`] item), text that is not JSON becomes a [`Kind::Garbage`]
//!   item (up to its LF), a record over the limit a [`Kind::Oversize`] item with its first bytes.
//!   Nothing is dropped silently.
//!
//! Front ends: [`Reader`] over any `std::io::Read` (items and batches borrowed from its buffer) and
//! [`Splitter`], a push API for async readers (read into [`Splitter::buffer_mut`], take records as
//! `Bytes`). The core, [`Scanner`], does no I/O and owns no buffer. Design and guarantees:
//! `docs/ndjson-scanner.md` in the repository.
//!
//! ```
//! use cfship_ndjson::{Error, Kind, Mode, Reader, Splitter};
//!
//! // A network stream, strict: records as `Bytes`, a trailer fails the stream.
//! let mut s = Splitter::new(Mode::Strict, 4 << 20);
//! let mut out = Vec::new();
//! s.push(b"{\"a\":1}\n{\"b\":");
//! s.drain_records(&mut out)?;
//! s.push(b"2}\nError streaming data\n");
//! s.drain_records(&mut out)?;
//! assert_eq!(out, [&b"{\"a\":1}"[..], b"{\"b\":2}"]);
//! s.finish();
//! match s.drain_records(&mut out) {
//!     Err(Error::Trailer { text, offset, records }) => {
//!         assert_eq!((text.as_str(), offset, records), ("Error streaming data", 16, 2))
//!     }
//!     other => panic!("{other:?}"),
//! }
//!
//! // A file, lenient: bad parts come back as error items, with their line.
//! let mut r = Reader::new(&b"{\"a\":1}\nnot json\n{\"b\":"[..], Mode::Lenient, 16 << 20);
//! let mut seen = Vec::new();
//! while let Some(item) = r.next() {
//!     let item = item?;
//!     seen.push((item.kind, item.line));
//! }
//! assert_eq!(seen, [(Kind::Record, 1), (Kind::Garbage, 2), (Kind::Unterminated, 3)]);
//! # Ok::<(), Error>(())
//! ```

#![deny(unreachable_pub)]

mod reader;
mod scanner;
mod splitter;

pub use reader::{Batch, Item, Reader};
pub use scanner::{display, Scanner, Span, Step, DISPLAY_BYTES, MAX_TRAILER};
pub use splitter::{OwnedItem, Splitter};

/// How the stream is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A network stream of JSON objects: anything else fails the stream.
    Strict,
    /// A file: everything becomes an item, bad parts as error items.
    Lenient,
}

/// What an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A complete `{…}` (or, lenient, `[…]`) value. Its structure is balanced; whether it is valid
    /// JSON is for the parser to say.
    Record,
    /// Lenient: text at top level that does not start a value, up to its line's end (the LF and
    /// any CRs before it not included).
    Garbage,
    /// Lenient: a value cut short by a raw LF (not included) or by the end of the input.
    Unterminated,
    /// Lenient: a record or garbage line longer than the limit; the item holds its first
    /// `max_record` bytes, the rest of it is skipped.
    Oversize,
}

impl Kind {
    /// Why an item of this kind is not a record (`None` for a record).
    pub fn problem(self) -> Option<&'static str> {
        match self {
            Kind::Record => None,
            Kind::Garbage => Some("is not a JSON object or array"),
            Kind::Unterminated => {
                Some("is cut short (a JSON value not closed before the line or input ends)")
            }
            Kind::Oversize => Some("is larger than the record size limit"),
        }
    }
}

/// Why a strict stream failed, or reading failed. Offsets are bytes from the start of the stream
/// (for a compressed body: of the decompressed bytes); record numbers are 1-based.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the input failed: {0}")]
    Io(#[from] std::io::Error),
    /// Text that is not JSON after the last complete object, up to the end of the stream
    /// (trimmed, lossy UTF-8, at most [`MAX_TRAILER`] bytes), such as `Error streaming data`.
    #[error(
        "the stream ends with non-JSON text {text:?} at byte {offset}, after {records} objects"
    )]
    Trailer {
        text: String,
        offset: u64,
        records: u64,
    },
    /// [`MAX_TRAILER`] bytes or more of non-JSON text at top level.
    #[error("non-JSON data in the stream at byte {offset}, after {records} objects: {text:?}")]
    Garbage {
        text: String,
        offset: u64,
        records: u64,
    },
    /// The stream ended inside object number `record`.
    #[error("the stream ended inside object #{record} (it starts at byte {offset}; {len} bytes of it arrived)")]
    Cut {
        record: u64,
        offset: u64,
        len: usize,
    },
    /// Object number `record` is larger than the limit.
    #[error("object #{record} at byte {offset} is larger than the limit of {limit} bytes")]
    TooLarge {
        record: u64,
        offset: u64,
        limit: usize,
    },
    /// With validation on: object number `record` is not valid JSON.
    #[error("object #{record} at byte {offset} is not valid JSON: {reason}")]
    Invalid {
        record: u64,
        offset: u64,
        reason: String,
    },
}

#[cfg(test)]
mod tests;
