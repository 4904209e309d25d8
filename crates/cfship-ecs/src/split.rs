//! Splits a byte stream into raw records: one JSON value per line, or values written back to
//! back without separators (as Cloudflare and its mocks stream them), in bounded memory.
//!
//! Nothing is dropped: text that is not a JSON object or array (up to the end of its line), a
//! value cut short by a newline or the end of input, and a record larger than the limit are all
//! returned as items, so the caller can turn them into error documents.

use std::io::{self, BufRead};

/// One raw record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitItem {
    /// The record's bytes (for an oversize record: its first `max_record_bytes`).
    pub bytes: Vec<u8>,
    /// 1-based line number where the record starts.
    pub line: u64,
    /// The record was longer than the limit; the rest of its line was skipped.
    pub oversize: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Between,
    Value,
    Garbage,
    Skip,
}

/// Iterator over the records of a reader.
pub struct RecordSplitter<R> {
    reader: R,
    st: State,
    done: bool,
}

struct State {
    max: usize,
    line: u64,
    mode: Mode,
    depth: u32,
    in_string: bool,
    escape: bool,
    buf: Vec<u8>,
    start_line: u64,
}

impl<R: BufRead> RecordSplitter<R> {
    pub fn new(reader: R, max_record_bytes: usize) -> Self {
        RecordSplitter {
            reader,
            st: State {
                max: max_record_bytes.max(16),
                line: 1,
                mode: Mode::Between,
                depth: 0,
                in_string: false,
                escape: false,
                buf: Vec::new(),
                start_line: 1,
            },
            done: false,
        }
    }
}

impl State {
    fn take(&mut self, oversize: bool) -> SplitItem {
        let bytes = std::mem::take(&mut self.buf);
        SplitItem {
            bytes,
            line: self.start_line,
            oversize,
        }
    }

    /// Feeds one byte; returns a finished record if this byte completed one.
    #[inline]
    fn step(&mut self, b: u8) -> Option<SplitItem> {
        let mut out = None;
        match self.mode {
            Mode::Between => match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'{' | b'[' => {
                    self.mode = Mode::Value;
                    self.depth = 1;
                    self.in_string = false;
                    self.escape = false;
                    self.start_line = self.line;
                    self.buf.push(b);
                }
                _ => {
                    self.mode = Mode::Garbage;
                    self.start_line = self.line;
                    self.buf.push(b);
                }
            },
            Mode::Value => {
                if b == b'\n' {
                    // A raw newline never occurs inside one record: this one was cut short.
                    self.mode = Mode::Between;
                    return Some(self.take(false));
                }
                self.buf.push(b);
                if self.in_string {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                } else {
                    match b {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                self.mode = Mode::Between;
                                out = Some(self.take(false));
                            }
                        }
                        _ => {}
                    }
                }
            }
            Mode::Garbage => {
                if b == b'\n' {
                    self.mode = Mode::Between;
                    let mut item = self.take(false);
                    while item.bytes.last() == Some(&b'\r') {
                        item.bytes.pop();
                    }
                    return Some(item);
                }
                self.buf.push(b);
            }
            Mode::Skip => {
                if b == b'\n' {
                    self.mode = Mode::Between;
                }
            }
        }
        if out.is_none()
            && self.buf.len() > self.max
            && matches!(self.mode, Mode::Value | Mode::Garbage)
        {
            self.buf.truncate(self.max);
            self.mode = Mode::Skip;
            out = Some(self.take(true));
        }
        out
    }
}

impl<R: BufRead> Iterator for RecordSplitter<R> {
    type Item = io::Result<SplitItem>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            let st = &mut self.st;
            if chunk.is_empty() {
                self.done = true;
                if matches!(st.mode, Mode::Value | Mode::Garbage) && !st.buf.is_empty() {
                    st.mode = Mode::Between;
                    return Some(Ok(st.take(false)));
                }
                return None;
            }
            let n = chunk.len();
            for (i, &b) in chunk.iter().enumerate() {
                let item = st.step(b);
                if b == b'\n' {
                    st.line += 1;
                }
                if let Some(item) = item {
                    self.reader.consume(i + 1);
                    return Some(Ok(item));
                }
            }
            self.reader.consume(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &str, max: usize) -> Vec<(String, u64, bool)> {
        RecordSplitter::new(input.as_bytes(), max)
            .map(|r| {
                let r = r.unwrap();
                (String::from_utf8(r.bytes).unwrap(), r.line, r.oversize)
            })
            .collect()
    }

    #[test]
    fn newline_delimited_and_back_to_back() {
        let got = split(
            "{\"a\":1}\n{\"b\":\"}{\"}{\"c\":[1,{\"d\":2}]}\r\n\n  {\"e\":\"\\\"}\"}",
            1 << 20,
        );
        let texts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                r#"{"a":1}"#,
                r#"{"b":"}{"}"#,
                r#"{"c":[1,{"d":2}]}"#,
                r#"{"e":"\"}"}"#
            ]
        );
        assert_eq!(got[0].1, 1);
        assert_eq!(got[3].1, 4);
    }

    #[test]
    fn garbage_and_truncated_records_are_items_not_losses() {
        let got = split("not json\n{\"a\":1\n{\"b\":2}\n{\"c\":", 1 << 20);
        let texts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            texts,
            vec!["not json", r#"{"a":1"#, r#"{"b":2}"#, r#"{"c":"#]
        );
    }

    #[test]
    fn oversize_records_are_cut_and_the_rest_of_the_line_skipped() {
        let big = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}", "x".repeat(100));
        let got = split(&big, 32);
        assert_eq!(got.len(), 2);
        assert!(got[0].2);
        assert_eq!(got[0].0.len(), 32);
        assert_eq!(got[1].0, r#"{"b":1}"#);
        assert_eq!(got[1].1, 2);
    }

    #[test]
    fn works_across_small_buffers() {
        let input = "{\"a\":1}{\"b\":2}\n{\"c\":3}";
        let reader = io::BufReader::with_capacity(3, input.as_bytes());
        let got: Vec<String> = RecordSplitter::new(reader, 1024)
            .map(|r| String::from_utf8(r.unwrap().bytes).unwrap())
            .collect();
        assert_eq!(got, vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
    }
}
