//! Front end over `std::io::Read`: one buffer, filled in large reads and reused; items are slices
//! of it.

use crate::scanner::{Scanner, Span, Step};
use crate::{Error, Kind, Mode};
use std::io::{self, Read};

/// One item borrowed from a [`Reader`]'s buffer (valid until the reader is used again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub kind: Kind,
    pub bytes: &'a [u8],
    /// 1-based line where the item starts.
    pub line: u64,
    /// Byte offset in the input where the item starts.
    pub offset: u64,
}

/// Items found in one buffer fill, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    buf: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Batch<'a> {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Item `i` (`i < len()`).
    pub fn get(&self, i: usize) -> Item<'a> {
        item(self.buf, &self.spans[i])
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Item<'a>> + '_ {
        self.spans.iter().map(|s| item(self.buf, s))
    }
}

fn item<'a>(buf: &'a [u8], s: &Span) -> Item<'a> {
    Item {
        kind: s.kind,
        bytes: &buf[s.start..s.end],
        line: s.line,
        offset: s.offset,
    }
}

/// Splits what `R` yields into items. Memory: one buffer of `capacity` bytes, grown only while one
/// record needs more (never beyond `max_record + capacity`).
pub struct Reader<R> {
    inner: R,
    scanner: Scanner,
    buf: Vec<u8>,
    filled: usize,
    chunk: usize,
    eof: bool,
    spans: Vec<Span>,
    /// An error found after the items of the last batch; returned by the next call.
    pending: Option<Error>,
}

impl<R: Read> Reader<R> {
    /// A reader with a 64 KiB buffer.
    pub fn new(inner: R, mode: Mode, max_record: usize) -> Self {
        Self::with_capacity(inner, mode, max_record, 64 * 1024)
    }

    /// `capacity`: bytes read ahead (and so the size of a [`Batch`]).
    pub fn with_capacity(inner: R, mode: Mode, max_record: usize, capacity: usize) -> Self {
        Self::with_scanner(inner, Scanner::new(mode, max_record), capacity)
    }

    pub fn with_scanner(inner: R, scanner: Scanner, capacity: usize) -> Self {
        Reader {
            inner,
            scanner,
            buf: Vec::new(),
            filled: 0,
            chunk: capacity.max(1),
            eof: false,
            spans: Vec::new(),
            pending: None,
        }
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Size of the buffer (it grows only while one record needs more than `capacity`).
    pub fn buffer_size(&self) -> usize {
        self.buf.len()
    }

    /// Drops consumed bytes, makes room for at least `chunk` more and reads until the buffer is full
    /// or the input ends.
    fn fill(&mut self) -> io::Result<()> {
        let keep = self.scanner.keep_from();
        if keep > 0 {
            self.buf.copy_within(keep..self.filled, 0);
            self.filled -= keep;
            self.scanner.shift(keep);
        }
        if self.buf.len() < self.filled + self.chunk {
            // Zeroed once; reused from then on.
            self.buf.resize(self.filled + self.chunk, 0);
        }
        while self.filled < self.buf.len() {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next item, or `None` at the end of the input. In strict mode every item is a record and
    /// anything else is an error; in lenient mode only reading can fail.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Item<'_>, Error>> {
        loop {
            match self.scanner.step(&self.buf[..self.filled], self.eof) {
                Err(e) => return Some(Err(e)),
                Ok(Step::End) => return None,
                Ok(Step::Item(s)) => return Some(Ok(item(&self.buf, &s))),
                Ok(Step::NeedMore) => {
                    if let Err(e) = self.fill() {
                        return Some(Err(e.into()));
                    }
                }
            }
        }
    }

    /// Up to `max_items` items from what is buffered (reading more only when nothing is
    /// buffered); an empty batch at the end of the input. An error comes after the items found
    /// before it.
    pub fn next_batch(&mut self, max_items: usize) -> Result<Batch<'_>, Error> {
        self.spans.clear();
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let max_items = max_items.max(1);
        loop {
            let step = match self.scanner.step(&self.buf[..self.filled], self.eof) {
                Ok(s) => s,
                Err(e) if self.spans.is_empty() => return Err(e),
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            };
            match step {
                Step::End => break,
                Step::Item(s) => {
                    self.spans.push(s);
                    if self.spans.len() >= max_items {
                        break;
                    }
                }
                Step::NeedMore => {
                    if !self.spans.is_empty() {
                        break;
                    }
                    self.fill()?;
                }
            }
        }
        Ok(Batch {
            buf: &self.buf[..self.filled],
            spans: &self.spans,
        })
    }
}
