//! Decoding one Logpush batch (an HTTP body or a bucket object) as a stream: optional gunzip
//! (detected from `Content-Encoding` or the gzip magic bytes), the uncompressed-size limit, the
//! split into records in bounded memory, the validation upload, and the transform of every record
//! into a document handed to `out` (the spool). Nothing here holds more than one record.

use std::io::{self, BufRead, BufReader, Read};

use cfship_ndjson::{Kind, Mode, Reader};

use crate::datasets::DataStream;
use crate::spool::SpoolError;
use crate::transform::{Doc, RecordTransform};

/// What the sender says about the body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `Content-Encoding: gzip` / `x-gzip`: must be gzip.
    Gzip,
    /// No `Content-Encoding` (or `identity`): gzip when it starts with the gzip magic bytes
    /// (a bucket object, or a sender that does not label its body), plain NDJSON otherwise.
    Sniff,
}

/// Size limits of one batch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Uncompressed bytes (Cloudflare's `max_upload_bytes` reaches 1 GB).
    pub max_body_bytes: u64,
    /// One record; a longer one becomes a `pipeline_error` document with its first bytes.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 2 << 30,
            max_record_bytes: 1 << 20,
        }
    }
}

/// What a decoded batch contained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Documents produced (records, including `pipeline_error` ones).
    pub docs: u64,
    /// Of which `pipeline_error` documents.
    pub errors: u64,
    /// It was Cloudflare's validation upload (`{"content":"tests"}`) or the `test` probe:
    /// nothing was produced.
    pub probe: bool,
    /// Uncompressed bytes read.
    pub bytes: u64,
    pub gzip: bool,
}

/// Why a batch was refused as a whole (nothing of it may be kept).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the body is empty: no records")]
    Empty,
    #[error("Content-Encoding says gzip but the body does not start with the gzip magic bytes (first bytes {0})")]
    NotGzip(String),
    #[error("the gzip stream is corrupt or cut short after {after} uncompressed bytes: {reason}")]
    Gzip { after: u64, reason: String },
    #[error("the body is larger than the limit of {0} uncompressed bytes")]
    TooLarge(u64),
    #[error("the body is not NDJSON: {0}")]
    NotNdjson(String),
    #[error("reading the body failed after {after} bytes: {reason}")]
    Read { after: u64, reason: String },
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl BatchError {
    /// The sender's fault (4xx) rather than ours or the network's.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            BatchError::Empty
                | BatchError::NotGzip(_)
                | BatchError::Gzip { .. }
                | BatchError::TooLarge(_)
                | BatchError::NotNdjson(_)
        )
    }
}

/// Marks errors of the underlying transport so they are not reported as gzip corruption.
struct Tagged<R> {
    inner: R,
    failed: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
    }
}

/// Counts uncompressed bytes and enforces the limit.
struct Counted<R> {
    inner: R,
    n: u64,
    max: u64,
    over: bool,
    failed: std::rc::Rc<std::cell::Cell<bool>>,
    /// First decode error (kept: RecordSplitter reports errors as io::Error).
    error: Option<io::Error>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(k) => {
                self.n += k as u64;
                if self.n > self.max {
                    self.over = true;
                    return Err(io::Error::other("body too large"));
                }
                Ok(k)
            }
            Err(e) => {
                self.error = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter()
        .take(8)
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_probe(bytes: &[u8]) -> bool {
    let t = bytes.trim_ascii();
    if t == b"test" {
        return true;
    }
    matches!(
        serde_json::from_slice::<serde_json::Value>(t),
        Ok(serde_json::Value::Object(m)) if m.len() == 1 && m.get("content").and_then(|v| v.as_str()) == Some("tests")
    )
}

/// One document of a batch, borrowed from the decoder's buffers for the time of the call.
#[derive(Debug, Clone, Copy)]
pub struct DocParts<'a> {
    pub index: &'a str,
    pub id: &'a str,
    /// One line of compact JSON.
    pub source: &'a [u8],
    /// `Some(reason)` for a `pipeline_error` document.
    pub error: Option<&'a str>,
}

impl DocParts<'_> {
    /// An owned [`Doc`].
    pub fn to_doc(&self) -> Doc {
        Doc {
            index: self.index.to_string(),
            id: self.id.to_string(),
            source: String::from_utf8_lossy(self.source).into_owned(),
            error: self.error.map(str::to_string),
        }
    }
}

/// Decodes one batch from `body` and hands each document to `out`. On `Err`, whatever `out`
/// received must be discarded (the caller drops the spool segment).
pub fn decode_batch<R: Read>(
    body: R,
    encoding: Encoding,
    limits: Limits,
    ds: &DataStream,
    transform: &dyn RecordTransform,
    now_ms: i64,
    out: &mut dyn FnMut(DocParts<'_>) -> Result<(), SpoolError>,
) -> Result<BatchSummary, BatchError> {
    let index = transform.index(ds);
    // Each document is written into this one buffer, then handed over borrowed.
    let mut source = Vec::with_capacity(8 << 10);
    let failed = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut raw = BufReader::with_capacity(
        64 << 10,
        Tagged {
            inner: body,
            failed: failed.clone(),
        },
    );
    let head = match raw.fill_buf() {
        Ok(h) => h,
        Err(e) => {
            return Err(BatchError::Read {
                after: 0,
                reason: e.to_string(),
            })
        }
    };
    if head.is_empty() {
        return Err(BatchError::Empty);
    }
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    if encoding == Encoding::Gzip && !gzip {
        return Err(BatchError::NotGzip(hex_prefix(head)));
    }
    let inner: Box<dyn Read + '_> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut counted = Counted {
        inner,
        n: 0,
        max: limits.max_body_bytes,
        over: false,
        failed: failed.clone(),
        error: None,
    };
    let mut summary = BatchSummary {
        gzip,
        ..BatchSummary::default()
    };
    let mut valid_objects = 0u64;
    let mut first: Option<(Kind, Vec<u8>, u64)> = None;
    let mut first_reason: Option<String> = None;
    let mut seen = 0u64;
    {
        let mut emit = |kind: Kind,
                        bytes: &[u8],
                        line: u64,
                        summary: &mut BatchSummary|
         -> Result<(), BatchError> {
            source.clear();
            let info = record_doc(
                kind,
                bytes,
                line,
                ds,
                transform,
                limits,
                now_ms,
                &mut source,
            );
            if info.error.is_some() {
                summary.errors += 1;
                if first_reason.is_none() {
                    first_reason = info.error.clone();
                }
            } else {
                valid_objects += 1;
            }
            summary.docs += 1;
            out(DocParts {
                index: &index,
                id: info.id.as_str(),
                source: &source,
                error: info.error.as_deref(),
            })?;
            Ok(())
        };
        let mut framed = ArrayFraming::new(&mut counted);
        let mut reader = Reader::new(&mut framed, Mode::Lenient, limits.max_record_bytes);
        // lenient mode: only reading fails (the cause is kept by `Counted`)
        while let Some(Ok(item)) = reader.next() {
            seen += 1;
            if seen == 1 {
                // held back until we know it is not the validation upload
                first = Some((item.kind, item.bytes.to_vec(), item.line));
                continue;
            }
            if let Some((k, b, l)) = first.take() {
                emit(k, &b, l, &mut summary)?;
            }
            emit(item.kind, item.bytes, item.line, &mut summary)?;
        }
        drop(reader);
        let failed_read = failed.get() || counted.over || counted.error.is_some();
        if !failed_read && seen == 1 {
            if let Some((k, b, l)) = first.take() {
                if matches!(k, Kind::Record | Kind::Garbage) && is_probe(&b) {
                    summary.probe = true;
                } else {
                    emit(k, &b, l, &mut summary)?;
                }
            }
        }
    }
    summary.bytes = counted.n;
    if counted.over {
        return Err(BatchError::TooLarge(limits.max_body_bytes));
    }
    if let Some(e) = counted.error.take() {
        if counted.failed.get() {
            return Err(BatchError::Read {
                after: counted.n,
                reason: e.to_string(),
            });
        }
        if gzip {
            return Err(BatchError::Gzip {
                after: counted.n,
                reason: e.to_string(),
            });
        }
        return Err(BatchError::Read {
            after: counted.n,
            reason: e.to_string(),
        });
    }
    if seen == 0 {
        return Err(BatchError::Empty);
    }
    if !summary.probe && valid_objects == 0 {
        // nothing in it parsed: refuse it whole when it does not even look like JSON
        let looks_json = first_reason
            .as_deref()
            .is_some_and(|r| !r.starts_with("not JSON"));
        if !looks_json {
            return Err(BatchError::NotNdjson(
                first_reason.unwrap_or_else(|| "no JSON object found".into()),
            ));
        }
    }
    Ok(summary)
}

/// A body framed as one JSON array (a Logpush job with `batch_prefix: "["`, `batch_suffix: "]"`,
/// `record_delimiter: ","`, which Elastic's HTTP endpoint input also accepts) read as NDJSON: the
/// outer brackets are dropped and each comma between top-level elements becomes a newline, so
/// every element is one record. Byte for byte, streaming (strings and nesting tracked, nothing
/// buffered); a body that does not start with `[` passes through unchanged.
struct ArrayFraming<R> {
    inner: R,
    /// `None` until the first non-blank byte decided the framing.
    array: Option<bool>,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The closing `]` was seen: what follows passes through unchanged (blanks are skipped by
    /// the reader; anything else becomes records or error documents, never silently dropped).
    closed: bool,
}

impl<R: Read> ArrayFraming<R> {
    fn new(inner: R) -> Self {
        ArrayFraming {
            inner,
            array: None,
            depth: 0,
            in_string: false,
            escaped: false,
            closed: false,
        }
    }

    /// Rewrites `buf[..n]` in place; returns the new length.
    fn reframe(&mut self, buf: &mut [u8], n: usize) -> usize {
        let mut w = 0;
        for r in 0..n {
            let c = buf[r];
            let keep = match self.array {
                None if c.is_ascii_whitespace() => Some(c),
                None if c == b'[' => {
                    self.array = Some(true);
                    None
                }
                None => {
                    self.array = Some(false);
                    Some(c)
                }
                Some(false) => Some(c),
                Some(true) if self.closed => Some(c),
                Some(true) if self.in_string => {
                    if self.escaped {
                        self.escaped = false;
                    } else if c == b'\\' {
                        self.escaped = true;
                    } else if c == b'"' {
                        self.in_string = false;
                    }
                    Some(c)
                }
                Some(true) => match c {
                    b'"' => {
                        self.in_string = true;
                        Some(c)
                    }
                    b'{' | b'[' => {
                        self.depth += 1;
                        Some(c)
                    }
                    b'}' | b']' if self.depth > 0 => {
                        self.depth -= 1;
                        Some(c)
                    }
                    b']' => {
                        self.closed = true;
                        Some(b'\n')
                    }
                    b',' if self.depth == 0 => Some(b'\n'),
                    _ => Some(c),
                },
            };
            if let Some(k) = keep {
                buf[w] = k;
                w += 1;
            }
        }
        w
    }
}

impl<R: Read> Read for ArrayFraming<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // NDJSON (the common case) and whatever follows an array's `]` are not looked at per byte.
        if self.array == Some(false) || self.closed {
            return self.inner.read(buf);
        }
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let w = self.reframe(buf, n);
            // a read that only dropped bytes (the leading `[`) must not look like EOF
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

/// The document of one record: the transform's, or an error document for what cannot reach it
/// (not UTF-8, over the size limit, cut short, not even the start of a JSON value).
#[allow(clippy::too_many_arguments)]
fn record_doc(
    kind: Kind,
    bytes: &[u8],
    line: u64,
    ds: &DataStream,
    transform: &dyn RecordTransform,
    limits: Limits,
    now_ms: i64,
    out: &mut Vec<u8>,
) -> cfship_ecs::DocInfo {
    // One UTF-8 validation per record; the lossy copy only for the rare record that fails it.
    let (text, utf8) = match std::str::from_utf8(bytes) {
        Ok(s) => (std::borrow::Cow::Borrowed(s), true),
        Err(_) => (String::from_utf8_lossy(bytes), false),
    };
    let reason = match kind {
        Kind::Record if !utf8 => {
            format!("not JSON: record at line {line} is not valid UTF-8 (kept with replacement characters)")
        }
        Kind::Record => return transform.transform_into(ds, &text, now_ms, out),
        Kind::Oversize => format!(
            "record at line {line} is larger than the limit of {} bytes (its first bytes are kept)",
            limits.max_record_bytes
        ),
        Kind::Garbage => format!(
            "not JSON: line {line} does not start a JSON object ({:?})",
            text.chars().take(40).collect::<String>()
        ),
        Kind::Unterminated => format!(
            "record at line {line} {}",
            kind.problem().unwrap_or("is cut short")
        ),
    };
    transform.error_document_into(ds, &text, &reason, now_ms, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::find;
    use crate::transform::RawTransform;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn run(body: &[u8], enc: Encoding) -> (Result<BatchSummary, BatchError>, Vec<Doc>) {
        let ds = find("http_request").unwrap();
        let t = RawTransform::new("default");
        let mut docs = Vec::new();
        let r = decode_batch(body, enc, Limits::default(), ds, &t, 0, &mut |d| {
            docs.push(d.to_doc());
            Ok(())
        });
        (r, docs)
    }

    #[test]
    fn gzip_and_plain_ndjson_with_a_bad_record() {
        let body = b"{\"a\":1}\n{\"a\":2}\n{\"a\":\n{\"a\":3}\n";
        for (b, enc) in [
            (gz(body), Encoding::Gzip),
            (gz(body), Encoding::Sniff),
            (body.to_vec(), Encoding::Sniff),
        ] {
            let (r, docs) = run(&b, enc);
            let s = r.unwrap();
            assert_eq!((s.docs, s.errors, s.probe), (4, 1, false));
            assert_eq!(docs.len(), 4);
            assert!(
                docs[2].source.contains("pipeline_error"),
                "{}",
                docs[2].source
            );
            assert_eq!(
                docs[0].index,
                "logs-cloudflare_logpush.http_request-default"
            );
        }
    }

    #[test]
    fn a_body_framed_as_one_json_array_gives_one_document_per_element() {
        // Elements with nested arrays/objects, commas and brackets inside strings, escaped quotes,
        // blanks and newlines around the delimiters; gzipped and plain; read in tiny chunks too.
        let body = br#" [ {"a":1,"b":[1,2,{"c":"x,]"}]} ,
{"a":"q\"],["},{"a":3}]
"#;
        for b in [gz(body), body.to_vec()] {
            let (r, docs) = run(&b, Encoding::Sniff);
            let s = r.unwrap();
            assert_eq!((s.docs, s.errors), (3, 0), "{docs:?}");
            let got: Vec<serde_json::Value> = docs
                .iter()
                .map(|d| {
                    let v: serde_json::Value = serde_json::from_str(&d.source).unwrap();
                    serde_json::from_str(v["event"]["original"].as_str().unwrap()).unwrap()
                })
                .collect();
            assert_eq!(got[0]["b"][2]["c"], "x,]");
            assert_eq!(got[1]["a"], "q\"],[");
            assert_eq!(got[2]["a"], 3);
        }
        // the same through one-byte reads (the state survives read boundaries)
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut out = Vec::new();
        ArrayFraming::new(OneByte(body))
            .read_to_end(&mut out)
            .unwrap();
        let lines: Vec<&str> = std::str::from_utf8(&out)
            .unwrap()
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        // NDJSON is untouched, including a record that holds an array
        let nd = b"{\"a\":[1,2]}\n{\"a\":2}\n";
        let mut out = Vec::new();
        ArrayFraming::new(&nd[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, nd);
        // what follows the closing `]` is not dropped: it becomes records / error documents
        let (r, docs) = run(b"[{\"a\":1}]\n{\"a\":2}\n[3]\n", Encoding::Sniff);
        let s = r.unwrap();
        assert_eq!(docs.len(), s.docs as usize);
        assert_eq!((s.docs, s.errors), (3, 1), "{docs:?}");
        // a malformed element is one error document, the others are kept
        let (r, docs) = run(br#"[{"a":1},{"a":,{"a":3}]"#, Encoding::Sniff);
        let s = r.unwrap();
        assert_eq!(docs.len(), s.docs as usize);
        assert!(s.errors >= 1 && s.docs >= 2, "{s:?}");
    }

    #[test]
    fn validation_upload_is_a_probe() {
        for b in [
            gz(b"{\"content\":\"tests\"}"),
            gz(b"{\"content\":\"tests\"}\n"),
            b"test".to_vec(),
        ] {
            let (r, docs) = run(&b, Encoding::Sniff);
            assert!(r.unwrap().probe);
            assert!(docs.is_empty());
        }
        // two records, one of them looking like the probe: both are data
        let (r, docs) = run(
            b"{\"content\":\"tests\"}\n{\"content\":\"tests\"}\n",
            Encoding::Sniff,
        );
        assert_eq!(r.unwrap().docs, 2);
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn refused_bodies_name_the_reason() {
        let (r, _) = run(b"", Encoding::Sniff);
        assert!(matches!(r, Err(BatchError::Empty)));
        let (r, _) = run(b"{\"a\":1}\n", Encoding::Gzip);
        let e = r.unwrap_err();
        assert!(e.to_string().contains("gzip magic"), "{e}");
        let full = gz(&b"{\"a\":1}\n".repeat(10_000));
        let (r, _) = run(&full[..full.len() / 2], Encoding::Gzip);
        let e = r.unwrap_err();
        assert!(matches!(e, BatchError::Gzip { .. }), "{e}");
        assert!(e.is_client_error());
        let (r, _) = run(b"<html>hello</html>\nworld\n", Encoding::Sniff);
        let e = r.unwrap_err();
        assert!(e.to_string().contains("not NDJSON"), "{e}");
        let (r, _) = run(&[0u8, 159, 146, 150, 10], Encoding::Sniff);
        assert!(matches!(r, Err(BatchError::NotNdjson(_))));
    }

    #[test]
    fn size_limit_and_oversize_record() {
        let ds = find("dns").unwrap();
        let t = RawTransform::new("default");
        let body = gz(&b"{\"a\":1}\n".repeat(1000));
        let limits = Limits {
            max_body_bytes: 100,
            max_record_bytes: 1 << 20,
        };
        let r = decode_batch(
            &body[..],
            Encoding::Gzip,
            limits,
            ds,
            &t,
            0,
            &mut |_| Ok(()),
        );
        assert!(matches!(r, Err(BatchError::TooLarge(100))));
        let mut big = b"{\"a\":\"".to_vec();
        big.extend(std::iter::repeat_n(b'x', 5000));
        big.extend(b"\"}\n{\"b\":1}\n");
        let limits = Limits {
            max_body_bytes: 1 << 20,
            max_record_bytes: 1000,
        };
        let mut docs = Vec::new();
        let s = decode_batch(&big[..], Encoding::Sniff, limits, ds, &t, 0, &mut |d| {
            docs.push(d.to_doc());
            Ok(())
        })
        .unwrap();
        assert_eq!((s.docs, s.errors), (2, 1));
        assert!(docs[0]
            .error
            .as_deref()
            .unwrap()
            .contains("larger than the limit"));
    }

    #[test]
    fn same_record_same_id() {
        let (_, a) = run(b"{\"a\":1}\n{\"b\":2}\n", Encoding::Sniff);
        let (_, b) = run(&gz(b"{\"a\":1}\n{\"b\":2}\n"), Encoding::Sniff);
        assert_eq!(
            a.iter().map(|d| &d.id).collect::<Vec<_>>(),
            b.iter().map(|d| &d.id).collect::<Vec<_>>()
        );
        assert_ne!(a[0].id, a[1].id);
    }
}
