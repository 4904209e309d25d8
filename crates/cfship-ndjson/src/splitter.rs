//! Push front end for async (or any) readers: the caller appends bytes to [`Splitter::buffer_mut`]
//! (e.g. with tokio's `AsyncReadExt::read_buf`) and takes items as [`Bytes`]. Records lying inside
//! one read are slices of that read's allocation (reference-counted, no copy); only the part of a
//! record that spans reads is moved, once, when the buffer is re-reserved.

use crate::scanner::{Scanner, Step};
use crate::{Error, Kind, Mode};
use bytes::{Buf, Bytes, BytesMut};

/// One item as owned, shared bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedItem {
    pub kind: Kind,
    pub bytes: Bytes,
    pub line: u64,
    pub offset: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Splitter {
    scanner: Scanner,
    buf: BytesMut,
    chunk: usize,
    eof: bool,
}

impl Splitter {
    /// Reads of at least 64 KiB.
    pub fn new(mode: Mode, max_record: usize) -> Self {
        Self::with_scanner(Scanner::new(mode, max_record), 64 * 1024)
    }

    /// `chunk`: the spare capacity [`Splitter::buffer_mut`] guarantees.
    pub fn with_scanner(scanner: Scanner, chunk: usize) -> Self {
        Splitter {
            scanner,
            buf: BytesMut::new(),
            chunk: chunk.max(1),
            eof: false,
        }
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Stream offset of the next byte to scan.
    pub fn offset(&self) -> u64 {
        self.scanner.offset()
    }

    /// The buffer to append the next bytes to, with at least `chunk` bytes of spare capacity.
    /// Only append; bytes already in it belong to the splitter.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < self.chunk {
            self.buf.reserve(self.chunk);
        }
        &mut self.buf
    }

    /// Appends a copy of `bytes` (for callers that do not read into [`Splitter::buffer_mut`]).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer_mut().extend_from_slice(bytes);
    }

    /// No more bytes will come: the next calls of [`Splitter::next_item`] report what is left.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// The next item from what was appended, `Ok(None)` when more bytes are needed (or, after
    /// [`Splitter::finish`], at the clean end).
    pub fn next_item(&mut self) -> Result<Option<OwnedItem>, Error> {
        match self.scanner.step(&self.buf, self.eof)? {
            Step::Item(s) => {
                let take = self.scanner.keep_from();
                let chunk = self.buf.split_to(take).freeze();
                self.scanner.shift(take);
                Ok(Some(OwnedItem {
                    kind: s.kind,
                    bytes: chunk.slice(s.start..s.end),
                    line: s.line,
                    offset: s.offset,
                }))
            }
            Step::NeedMore | Step::End => {
                let k = self.scanner.keep_from();
                if k > 0 {
                    self.buf.advance(k);
                    self.scanner.shift(k);
                }
                Ok(None)
            }
        }
    }

    /// Appends the bytes of every item available now to `out`. Meant for strict streams, where
    /// every item is a record; in lenient mode use [`Splitter::next_item`] to see the kinds.
    pub fn drain_records(&mut self, out: &mut Vec<Bytes>) -> Result<(), Error> {
        while let Some(item) = self.next_item()? {
            debug_assert!(self.scanner.mode() == Mode::Lenient || item.kind == Kind::Record);
            out.push(item.bytes);
        }
        Ok(())
    }

    /// Bytes held (the unscanned input plus the record in progress).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}
