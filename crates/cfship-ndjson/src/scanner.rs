//! The core: a resumable state machine that finds record boundaries in a window of bytes the caller
//! owns. It never copies or allocates; the front ends ([`crate::Reader`], [`crate::Splitter`]) own
//! the buffer and hand out slices of it.
//!
//! Protocol: the caller keeps a window `w` whose first byte is at stream offset [`Scanner::base`].
//! It calls [`Scanner::step`] with the whole window (bytes appended since the last call included);
//! positions in the returned [`Span`] are indices into that window. Before dropping the first `n`
//! bytes of the window (to reuse the space), the caller calls [`Scanner::shift`]`(n)` with
//! `n <= `[`Scanner::keep_from`]`()`: bytes from `keep_from` on belong to the item in progress.

use crate::{Error, Kind, Mode};

/// At most this many bytes of a strict stream's non-JSON trailer are kept; more is an error.
pub const MAX_TRAILER: usize = 512;
/// Characters of offending text quoted in an error message.
pub const DISPLAY_BYTES: usize = 120;

/// One item found in the window: `window[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// 1-based line (LF bytes outside strings before the item, plus one).
    pub line: u64,
    /// Stream offset of the item's first byte.
    pub offset: u64,
}

/// What [`Scanner::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Item(Span),
    /// The window is scanned to its end; append bytes (or pass `eof = true`) and call again.
    NeedMore,
    /// The stream ended cleanly; every later call returns `End` as well.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Between,
    Record,
    Garbage,
    /// Strict: non-JSON text at top level, kept until the end of the stream.
    Trailer,
    /// Lenient, after an oversize record: follow its structure without keeping bytes.
    SkipRecord,
    /// Lenient, after an oversize garbage line: skip to the next LF.
    SkipLine,
    Done,
}

const OTHER: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;
const NEWLINE: u8 = 4;

/// Byte classes outside strings.
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b'"' as usize] = QUOTE;
    t[b'{' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b'}' as usize] = CLOSE;
    t[b']' as usize] = CLOSE;
    t[b'\n' as usize] = NEWLINE;
    t
};

/// Where scanning a value stopped.
enum Stop {
    /// The value closed; index just after its last byte.
    Closed(usize),
    /// Lenient: a raw LF at this index cut the value.
    Newline(usize),
    /// The slice ended inside the value.
    Exhausted,
}

/// The record scanner. See the module documentation for the calling protocol.
#[derive(Clone, Debug)]
pub struct Scanner {
    mode: Mode,
    max: usize,
    validate: bool,
    state: State,
    depth: u32,
    in_string: bool,
    escape: bool,
    /// Next byte to look at (window index).
    pos: usize,
    /// First byte of the item in progress (window index).
    start: usize,
    start_line: u64,
    line: u64,
    base: u64,
    records: u64,
}

impl Scanner {
    /// `max_record`: the largest accepted record in bytes (at least 1); it bounds the bytes a
    /// front end keeps for one record.
    pub fn new(mode: Mode, max_record: usize) -> Self {
        Scanner {
            mode,
            max: max_record.max(1),
            validate: false,
            state: State::Between,
            depth: 0,
            in_string: false,
            escape: false,
            pos: 0,
            start: 0,
            start_line: 1,
            line: 1,
            base: 0,
            records: 0,
        }
    }

    /// Strict mode only: also parse every complete object (serde `IgnoredAny`) and fail the stream
    /// with [`Error::Invalid`] if it is not JSON. Off by default (see docs/ndjson-scanner.md).
    pub fn validate(mut self, on: bool) -> Self {
        self.validate = on;
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn max_record(&self) -> usize {
        self.max
    }

    /// Complete records found so far (garbage and cut records not counted).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Stream offset of window index 0.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Stream offset of the next byte to scan.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Window bytes before this index are no longer needed.
    pub fn keep_from(&self) -> usize {
        match self.state {
            State::Record | State::Garbage | State::Trailer => self.start,
            _ => self.pos,
        }
    }

    /// The caller dropped the first `n` window bytes (`n <= keep_from()`).
    pub fn shift(&mut self, n: usize) {
        debug_assert!(n <= self.keep_from());
        let n = n.min(self.keep_from());
        self.pos -= n;
        self.start = self.start.saturating_sub(n);
        self.base += n as u64;
    }

    fn span(&self, kind: Kind, end: usize) -> Span {
        Span {
            kind,
            start: self.start,
            end,
            line: self.start_line,
            offset: self.base + self.start as u64,
        }
    }

    /// Scans on from the last position; `eof`: no bytes will be appended to `w` any more.
    pub fn step(&mut self, w: &[u8], eof: bool) -> Result<Step, Error> {
        let strict = self.mode == Mode::Strict;
        loop {
            match self.state {
                State::Done => return Ok(Step::End),
                State::Between => {
                    let mut i = self.pos;
                    while i < w.len() {
                        match w[i] {
                            b' ' | b'\t' | b'\r' => i += 1,
                            b'\n' => {
                                self.line += 1;
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    self.pos = i;
                    if i == w.len() {
                        if eof {
                            self.state = State::Done;
                            return Ok(Step::End);
                        }
                        return Ok(Step::NeedMore);
                    }
                    self.start = i;
                    self.start_line = self.line;
                    match w[i] {
                        b'{' => self.begin_record(),
                        b'[' if !strict => self.begin_record(),
                        _ if strict => self.state = State::Trailer,
                        _ => {
                            self.state = State::Garbage;
                            self.pos += 1;
                        }
                    }
                }
                State::Record => {
                    let limit = w.len().min(self.start + self.max);
                    match self.scan_value(&w[..limit], !strict) {
                        Stop::Closed(end) => {
                            self.pos = end;
                            self.state = State::Between;
                            if self.validate && strict {
                                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(
                                    &w[self.start..end],
                                ) {
                                    self.state = State::Done;
                                    return Err(Error::Invalid {
                                        record: self.records + 1,
                                        offset: self.base + self.start as u64,
                                        reason: e.to_string(),
                                    });
                                }
                            }
                            self.records += 1;
                            return Ok(Step::Item(self.span(Kind::Record, end)));
                        }
                        Stop::Newline(j) => {
                            self.pos = j + 1;
                            self.line += 1;
                            self.state = State::Between;
                            return Ok(Step::Item(self.span(Kind::Unterminated, j)));
                        }
                        Stop::Exhausted => {
                            if self.pos - self.start >= self.max {
                                if strict {
                                    self.state = State::Done;
                                    return Err(Error::TooLarge {
                                        record: self.records + 1,
                                        offset: self.base + self.start as u64,
                                        limit: self.max,
                                    });
                                }
                                self.state = State::SkipRecord;
                                return Ok(Step::Item(
                                    self.span(Kind::Oversize, self.start + self.max),
                                ));
                            }
                            if !eof {
                                return Ok(Step::NeedMore);
                            }
                            if strict {
                                self.state = State::Done;
                                return Err(Error::Cut {
                                    record: self.records + 1,
                                    offset: self.base + self.start as u64,
                                    len: w.len() - self.start,
                                });
                            }
                            self.state = State::Between;
                            return Ok(Step::Item(self.span(Kind::Unterminated, w.len())));
                        }
                    }
                }
                State::SkipRecord => match self.scan_value(w, true) {
                    Stop::Closed(end) => {
                        self.pos = end;
                        self.state = State::Between;
                    }
                    Stop::Newline(j) => {
                        self.pos = j + 1;
                        self.line += 1;
                        self.state = State::Between;
                    }
                    Stop::Exhausted => {
                        if eof {
                            self.state = State::Done;
                            return Ok(Step::End);
                        }
                        return Ok(Step::NeedMore);
                    }
                },
                State::Garbage => {
                    // A garbage line longer than `max` is oversize: look at most max+1 bytes far.
                    let limit = w.len().min(self.start + self.max + 1);
                    match memchr::memchr(b'\n', &w[self.pos..limit]) {
                        Some(off) => {
                            let lf = self.pos + off;
                            self.pos = lf + 1;
                            self.line += 1;
                            self.state = State::Between;
                            let mut end = lf;
                            while end > self.start && w[end - 1] == b'\r' {
                                end -= 1;
                            }
                            return Ok(Step::Item(self.span(Kind::Garbage, end)));
                        }
                        None => {
                            self.pos = limit;
                            if self.pos - self.start > self.max {
                                self.state = State::SkipLine;
                                return Ok(Step::Item(
                                    self.span(Kind::Oversize, self.start + self.max),
                                ));
                            }
                            if !eof {
                                return Ok(Step::NeedMore);
                            }
                            self.state = State::Between;
                            return Ok(Step::Item(self.span(Kind::Garbage, w.len())));
                        }
                    }
                }
                State::SkipLine => match memchr::memchr(b'\n', &w[self.pos..]) {
                    Some(off) => {
                        self.pos += off + 1;
                        self.line += 1;
                        self.state = State::Between;
                    }
                    None => {
                        self.pos = w.len();
                        if eof {
                            self.state = State::Done;
                            return Ok(Step::End);
                        }
                        return Ok(Step::NeedMore);
                    }
                },
                State::Trailer => {
                    let have = w.len() - self.start;
                    if have >= MAX_TRAILER {
                        self.state = State::Done;
                        return Err(Error::Garbage {
                            records: self.records,
                            offset: self.base + self.start as u64,
                            text: display(&w[self.start..]),
                        });
                    }
                    self.pos = w.len();
                    if !eof {
                        return Ok(Step::NeedMore);
                    }
                    self.state = State::Done;
                    return Err(Error::Trailer {
                        records: self.records,
                        offset: self.base + self.start as u64,
                        text: String::from_utf8_lossy(&w[self.start..]).trim().to_string(),
                    });
                }
            }
        }
    }

    fn begin_record(&mut self) {
        self.state = State::Record;
        self.depth = 1;
        self.in_string = false;
        self.escape = false;
        self.pos += 1;
    }

    /// Follows a value's structure from `self.pos` to the end of `w` (or until it closes, or, with
    /// `lf_cuts`, until a raw LF). Strings are skipped with memchr.
    #[inline]
    fn scan_value(&mut self, w: &[u8], lf_cuts: bool) -> Stop {
        let mut i = self.pos;
        loop {
            if self.in_string {
                if self.escape {
                    if i >= w.len() {
                        self.pos = i;
                        return Stop::Exhausted;
                    }
                    if lf_cuts && w[i] == b'\n' {
                        return Stop::Newline(i);
                    }
                    self.escape = false;
                    i += 1;
                }
                let found = if lf_cuts {
                    memchr::memchr3(b'"', b'\\', b'\n', &w[i..])
                } else {
                    memchr::memchr2(b'"', b'\\', &w[i..])
                };
                match found {
                    None => {
                        self.pos = w.len();
                        return Stop::Exhausted;
                    }
                    Some(off) => {
                        let j = i + off;
                        match w[j] {
                            b'"' => self.in_string = false,
                            b'\\' => self.escape = true,
                            _ => return Stop::Newline(j),
                        }
                        i = j + 1;
                    }
                }
            } else {
                while i < w.len() {
                    let b = w[i];
                    i += 1;
                    match CLASS[b as usize] {
                        OTHER => {}
                        QUOTE => {
                            self.in_string = true;
                            break;
                        }
                        OPEN => self.depth += 1,
                        CLOSE => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                return Stop::Closed(i);
                            }
                        }
                        _ => {
                            if lf_cuts {
                                return Stop::Newline(i - 1);
                            }
                            self.line += 1;
                        }
                    }
                }
                if !self.in_string {
                    self.pos = i;
                    return Stop::Exhausted;
                }
            }
        }
    }
}

/// Offending bytes for an error message: at most [`DISPLAY_BYTES`], lossy UTF-8, with a marker when
/// cut.
pub fn display(bytes: &[u8]) -> String {
    let cut = bytes.len() > DISPLAY_BYTES;
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(DISPLAY_BYTES)]).into_owned();
    if cut {
        s.push('…');
    }
    s
}
