//! Documents encoded once as `_bulk` lines, in one shared buffer.
//!
//! Each document is `{"<op>":{"_index":<index>,"_id":<id>}}\n<source>\n`, appended by
//! [`BulkDocsBuilder`] (the transform writes the source straight after its action line, see
//! [`BulkDocsBuilder::push_with`]); [`BulkDocs`] is the frozen result. A bulk request of
//! consecutive documents is a slice of that buffer (no copy without compression, one gzip pass
//! with it); the documents of a partial retry are re-sliced out of the same bytes, never encoded
//! again.

use std::borrow::Cow;
use std::io::Write as _;
use std::ops::Range;

use bytes::Bytes;
use serde_json::Value;

use crate::bulk::IndexRequest;

/// The length of cfship's document ids (the base64 of a SHA-1 digest): [`BulkDocsBuilder::push_with`]
/// reserves this many bytes for the id, which is known only once the source is written.
pub const ID_LEN: usize = 28;

/// Where one document's pieces are in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    /// Start of the action line.
    start: usize,
    /// The index name and the id inside their quotes (escaped JSON text).
    index: (usize, usize),
    id: (usize, usize),
    /// Whether the index or the id needed escaping (the text in the buffer is not the raw value).
    escaped: bool,
    /// Start of the source (after the action line's `\n`).
    source: usize,
    /// One past the source's trailing `\n`.
    end: usize,
}

impl Item {
    fn shifted(mut self, by: isize) -> Item {
        let s = |v: usize| v.wrapping_add_signed(by);
        self.start = s(self.start);
        self.index = (s(self.index.0), s(self.index.1));
        self.id = (s(self.id.0), s(self.id.1));
        self.source = s(self.source);
        self.end = s(self.end);
        self
    }
}

/// Documents ready for `_bulk`: cheap to clone (the bytes are shared).
#[derive(Clone, Debug, Default)]
pub struct BulkDocs {
    buf: Bytes,
    items: Vec<Item>,
    /// Documents whose source is not one JSON object: never sent, dead-lettered with the reason.
    refused: Vec<(IndexRequest, String)>,
}

/// One document of a [`BulkDocs`].
#[derive(Clone, Copy, Debug)]
pub struct DocRef<'a> {
    docs: &'a BulkDocs,
    item: Item,
}

fn unescape(text: &[u8]) -> Cow<'_, str> {
    // The builder wrote valid escaped JSON string content.
    let mut quoted = Vec::with_capacity(text.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(text);
    quoted.push(b'"');
    Cow::Owned(serde_json::from_slice::<String>(&quoted).unwrap_or_default())
}

fn verbatim(text: &[u8]) -> Cow<'_, str> {
    // Written from a `&str` without escapes: valid UTF-8.
    String::from_utf8_lossy(text)
}

impl<'a> DocRef<'a> {
    fn text(&self, r: (usize, usize)) -> Cow<'a, str> {
        let b = &self.docs.buf[r.0..r.1];
        if self.item.escaped {
            unescape(b)
        } else {
            verbatim(b)
        }
    }

    /// The index (or data stream) the document goes to.
    pub fn index(&self) -> Cow<'a, str> {
        self.text(self.item.index)
    }

    /// The document `_id` (empty: Elasticsearch chooses one).
    pub fn id(&self) -> Cow<'a, str> {
        self.text(self.item.id)
    }

    /// The source: one line of compact JSON.
    pub fn source(&self) -> &'a [u8] {
        &self.docs.buf[self.item.source..self.item.end - 1]
    }

    /// The source as shared bytes (no copy).
    pub fn source_bytes(&self) -> Bytes {
        self.docs.buf.slice(self.item.source..self.item.end - 1)
    }

    /// An owned copy.
    pub fn to_request(&self) -> IndexRequest {
        IndexRequest {
            index: self.index().into_owned(),
            id: self.id().into_owned(),
            source: self.source_bytes(),
        }
    }
}

impl BulkDocs {
    /// Documents that will be sent (the refused ones not counted).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.refused.is_empty()
    }

    /// Documents refused at encoding (their source is not one JSON object), with the reason.
    pub fn refused(&self) -> &[(IndexRequest, String)] {
        &self.refused
    }

    pub fn get(&self, i: usize) -> Option<DocRef<'_>> {
        self.items.get(i).map(|&item| DocRef { docs: self, item })
    }

    /// The documents that will be sent, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = DocRef<'_>> + '_ {
        self.items.iter().map(|&item| DocRef { docs: self, item })
    }

    /// Every document, refused ones included (their original requests), as owned requests.
    pub fn to_requests(&self) -> Vec<IndexRequest> {
        let mut v: Vec<IndexRequest> = self.iter().map(|d| d.to_request()).collect();
        v.extend(self.refused.iter().map(|(r, _)| r.clone()));
        v
    }

    /// Bytes each document adds to a bulk body.
    pub(crate) fn wire_lens(&self) -> Vec<usize> {
        self.items.iter().map(|i| i.end - i.start).collect()
    }

    /// Total bytes of the documents' bulk lines.
    pub fn wire_len(&self) -> usize {
        self.items.iter().map(|i| i.end - i.start).sum()
    }

    /// The documents `r` (indices), sharing the bytes; refused documents stay behind.
    pub(crate) fn slice(&self, r: Range<usize>) -> BulkDocs {
        BulkDocs {
            buf: self.buf.clone(),
            items: self.items[r].to_vec(),
            refused: Vec::new(),
        }
    }

    /// The documents at `picked` (indices, in order), sharing the bytes.
    pub(crate) fn pick(&self, picked: &[usize]) -> BulkDocs {
        BulkDocs {
            buf: self.buf.clone(),
            items: picked.iter().map(|&i| self.items[i]).collect(),
            refused: Vec::new(),
        }
    }

    /// Splits into two halves at document `at` (both sharing the bytes).
    pub(crate) fn split_at(&self, at: usize) -> (BulkDocs, BulkDocs) {
        (self.slice(0..at), self.slice(at..self.items.len()))
    }

    /// Takes the refused documents out.
    pub(crate) fn take_refused(&mut self) -> Vec<(IndexRequest, String)> {
        std::mem::take(&mut self.refused)
    }

    /// Runs of consecutive bytes covering the documents, in order.
    fn runs(&self) -> Vec<Range<usize>> {
        let mut runs: Vec<Range<usize>> = Vec::new();
        for it in &self.items {
            match runs.last_mut() {
                Some(r) if r.end == it.start => r.end = it.end,
                _ => runs.push(it.start..it.end),
            }
        }
        runs
    }

    /// The request body (gzipped at `level` unless it is 0) and its uncompressed length. Without
    /// compression a body of consecutive documents is a slice of the shared buffer.
    pub(crate) fn body(&self, level: u32) -> (Bytes, usize) {
        let runs = self.runs();
        let len: usize = runs.iter().map(|r| r.len()).sum();
        if level > 0 {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(len / 8 + 64),
                flate2::Compression::new(level.min(9)),
            );
            let ok = runs
                .iter()
                .all(|r| enc.write_all(&self.buf[r.clone()]).is_ok());
            // Writing into a Vec cannot fail; fall back to the plain body if it somehow does.
            if let (true, Ok(z)) = (ok, enc.finish()) {
                return (Bytes::from(z), len);
            }
        }
        match runs.as_slice() {
            [] => (Bytes::new(), 0),
            [one] => (self.buf.slice(one.clone()), len),
            many => {
                let mut raw = Vec::with_capacity(len);
                for r in many {
                    raw.extend_from_slice(&self.buf[r.clone()]);
                }
                (Bytes::from(raw), len)
            }
        }
    }
}

impl From<Vec<IndexRequest>> for BulkDocs {
    fn from(reqs: Vec<IndexRequest>) -> Self {
        let bytes = reqs
            .iter()
            .map(|r| r.source.len() + r.index.len() + r.id.len() + 40)
            .sum();
        let mut b = BulkDocsBuilder::with_capacity(reqs.len(), bytes);
        for r in reqs {
            b.push(r);
        }
        b.finish()
    }
}

/// Appends documents' bulk lines to one buffer; [`finish`](Self::finish) freezes it.
#[derive(Debug)]
pub struct BulkDocsBuilder {
    op: &'static str,
    buf: Vec<u8>,
    items: Vec<Item>,
    refused: Vec<(IndexRequest, String)>,
}

impl Default for BulkDocsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends `s` as a JSON string's content (no quotes); true when something was escaped.
fn write_escaped(out: &mut Vec<u8>, s: &str) -> bool {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(s.as_bytes());
        return false;
    }
    let start = out.len();
    // serde_json writes the quotes too: drop them.
    if serde_json::to_writer(&mut *out, s).is_ok() && out.len() >= start + 2 {
        out.pop();
        out.remove(start);
    }
    true
}

/// Whether `source` can go on one bulk line as it is: one JSON object without raw line breaks.
fn one_line_object(source: &[u8]) -> bool {
    let t = source.trim_ascii();
    t.first() == Some(&b'{')
        && t.last() == Some(&b'}')
        && memchr::memchr2(b'\n', b'\r', source).is_none()
}

impl BulkDocsBuilder {
    /// `create` documents (what cfship indexes with).
    pub fn new() -> Self {
        Self::with_capacity(0, 0)
    }

    /// Room for `docs` documents of `bytes` bytes in all.
    pub fn with_capacity(docs: usize, bytes: usize) -> Self {
        BulkDocsBuilder {
            op: "create",
            buf: Vec::with_capacity(bytes),
            items: Vec::with_capacity(docs),
            refused: Vec::new(),
        }
    }

    /// Documents sent with another bulk operation (`index` for the dead-letter index).
    pub(crate) fn with_op(mut self, op: &'static str) -> Self {
        self.op = op;
        self
    }

    /// Documents added (refused ones included).
    pub fn len(&self) -> usize {
        self.items.len() + self.refused.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Documents refused so far.
    pub(crate) fn refused_len(&self) -> usize {
        self.refused.len()
    }

    /// Bytes buffered.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Writes the action line up to the id's content; returns the item so far.
    fn action_head(&mut self, index: &str) -> Item {
        let start = self.buf.len();
        self.buf.extend_from_slice(b"{\"");
        self.buf.extend_from_slice(self.op.as_bytes());
        self.buf.extend_from_slice(b"\":{\"_index\":\"");
        let i0 = self.buf.len();
        let escaped = write_escaped(&mut self.buf, index);
        let i1 = self.buf.len();
        Item {
            start,
            index: (i0, i1),
            id: (i1, i1),
            escaped,
            source: 0,
            end: 0,
        }
    }

    /// Appends a document whose source is `source` (compacted when it is JSON on several lines;
    /// refused when it is not one JSON object).
    pub fn push_parts(&mut self, index: &str, id: &str, source: &[u8]) {
        if !one_line_object(source) {
            let req = IndexRequest {
                index: index.to_string(),
                id: id.to_string(),
                source: Bytes::copy_from_slice(source),
            };
            self.push(req);
            return;
        }
        self.push_valid(index, id, source);
    }

    fn push_valid(&mut self, index: &str, id: &str, source: &[u8]) {
        let mut item = self.action_head(index);
        self.buf.extend_from_slice(b"\"");
        if !id.is_empty() {
            self.buf.extend_from_slice(b",\"_id\":\"");
            let d0 = self.buf.len();
            item.escaped |= write_escaped(&mut self.buf, id);
            item.id = (d0, self.buf.len());
            self.buf.extend_from_slice(b"\"");
        }
        self.buf.extend_from_slice(b"}}\n");
        item.source = self.buf.len();
        self.buf.extend_from_slice(source);
        self.buf.push(b'\n');
        item.end = self.buf.len();
        self.items.push(item);
    }

    /// Appends a document (compacted when its source is JSON on several lines; refused, for the
    /// dead letter, when it is not one JSON object).
    pub fn push(&mut self, req: IndexRequest) {
        if one_line_object(&req.source) {
            self.push_valid(&req.index, &req.id, &req.source);
            return;
        }
        match serde_json::from_slice::<Value>(&req.source) {
            Ok(v @ Value::Object(_)) => match serde_json::to_vec(&v) {
                Ok(compact) => self.push_valid(&req.index, &req.id, &compact),
                Err(e) => self
                    .refused
                    .push((req, format!("cannot serialise source: {e}"))),
            },
            Ok(_) => self
                .refused
                .push((req, "source is not a JSON object".to_string())),
            Err(e) => self
                .refused
                .push((req, format!("source is not valid JSON: {e}"))),
        }
    }

    /// Appends a document whose source `write` appends to the buffer, straight after the action
    /// line; `write` returns the document's id (and whatever the caller wants back), or `None`
    /// when there is no document after all (what it appended is dropped, `None` is returned).
    /// Room for an id of [`ID_LEN`] bytes is reserved before the source and filled in afterwards
    /// (an id of another length moves the source once). A source that is not one JSON object on
    /// one line is taken out again and handled as [`push`](Self::push) does.
    pub fn push_with<I: AsRef<str>, R>(
        &mut self,
        index: &str,
        write: impl FnOnce(&mut Vec<u8>) -> Option<(I, R)>,
    ) -> Option<R> {
        let mark = self.buf.len();
        let mut item = self.action_head(index);
        self.buf.extend_from_slice(b"\",\"_id\":\"");
        let d0 = self.buf.len();
        self.buf.extend_from_slice(&[b'-'; ID_LEN]);
        self.buf.extend_from_slice(b"\"}}\n");
        item.source = self.buf.len();
        let Some((id, r)) = write(&mut self.buf) else {
            self.buf.truncate(mark);
            return None;
        };
        let id = id.as_ref();
        let source = item.source;
        if !one_line_object(&self.buf[source..]) {
            let src = self.buf.split_off(source);
            let index_text = index.to_string();
            self.buf.truncate(mark);
            self.push(IndexRequest {
                index: index_text,
                id: id.to_string(),
                source: Bytes::from(src),
            });
            return Some(r);
        }
        if id.is_empty() {
            // no id: Elasticsearch chooses one (the action line says nothing about it)
            let src = self.buf.split_off(source);
            self.buf.truncate(mark);
            self.push_valid(index, "", &src);
            return Some(r);
        }
        self.buf.push(b'\n');
        item.end = self.buf.len();
        let plain = id.len() == ID_LEN && !id.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        if plain {
            self.buf[d0..d0 + ID_LEN].copy_from_slice(id.as_bytes());
            item.id = (d0, d0 + ID_LEN);
        } else {
            let mut text = Vec::with_capacity(id.len());
            item.escaped |= write_escaped(&mut text, id);
            let delta = text.len() as isize - ID_LEN as isize;
            self.buf.splice(d0..d0 + ID_LEN, text.iter().copied());
            item.id = (d0, d0 + text.len());
            item.source = item.source.wrapping_add_signed(delta);
            item.end = item.end.wrapping_add_signed(delta);
        }
        self.items.push(item);
        Some(r)
    }

    /// Appends every document of `docs` (copying their bytes).
    pub fn extend(&mut self, docs: &BulkDocs) {
        for d in docs.iter() {
            let base = self.buf.len() as isize - d.item.start as isize;
            self.buf
                .extend_from_slice(&docs.buf[d.item.start..d.item.end]);
            self.items.push(d.item.shifted(base));
        }
        self.refused.extend(docs.refused.iter().cloned());
    }

    /// The documents, frozen.
    pub fn finish(self) -> BulkDocs {
        BulkDocs {
            buf: Bytes::from(self.buf),
            items: self.items,
            refused: self.refused,
        }
    }

    /// Takes what is buffered, leaving the builder empty (its operation kept).
    pub fn take(&mut self) -> BulkDocs {
        let op = self.op;
        std::mem::replace(self, BulkDocsBuilder::new().with_op(op)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(index: &str, id: &str, src: &str) -> IndexRequest {
        IndexRequest {
            index: index.into(),
            id: id.into(),
            source: Bytes::from(src.to_string()),
        }
    }

    #[test]
    fn encodes_action_lines_and_sources() {
        let mut b = BulkDocsBuilder::new();
        b.push(req("logs-a", "abc", "{\"a\":1}"));
        b.push(req("logs-a", "", "{\n  \"b\": 2\n}"));
        b.push(req("logs-a", "x", "[1]"));
        b.push(req("logs-a", "y", "{nope"));
        b.push(req("we\"ird", "q\\\n", "{}"));
        let d = b.finish();
        assert_eq!(d.len(), 3);
        assert_eq!(d.refused().len(), 2);
        let (body, len) = d.body(0);
        assert_eq!(len, body.len());
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "{\"create\":{\"_index\":\"logs-a\",\"_id\":\"abc\"}}\n{\"a\":1}\n\
             {\"create\":{\"_index\":\"logs-a\"}}\n{\"b\":2}\n\
             {\"create\":{\"_index\":\"we\\\"ird\",\"_id\":\"q\\\\\\n\"}}\n{}\n"
        );
        // every action line is what serde_json writes
        for (line, want) in body.split(|b| *b == b'\n').step_by(2).zip([
            serde_json::json!({"create":{"_index":"logs-a","_id":"abc"}}),
            serde_json::json!({"create":{"_index":"logs-a"}}),
            serde_json::json!({"create":{"_index":"we\"ird","_id":"q\\\n"}}),
        ]) {
            assert_eq!(serde_json::from_slice::<Value>(line).unwrap(), want);
        }
        let back: Vec<_> = d.iter().map(|r| r.to_request()).collect();
        assert_eq!(back[0], req("logs-a", "abc", "{\"a\":1}"));
        assert_eq!(back[1], req("logs-a", "", "{\"b\":2}"));
        assert_eq!(back[2], req("we\"ird", "q\\\n", "{}"));
        assert!(d.refused()[0].1.contains("not a JSON object"));
        assert!(d.refused()[1].1.contains("not valid JSON"));
    }

    #[test]
    fn push_with_fills_the_id_in_after_the_source() {
        let mut b = BulkDocsBuilder::new();
        let id28 = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let r = b.push_with("i", |buf| {
            buf.extend_from_slice(b"{\"n\":1}");
            Some((id28, 7))
        });
        assert_eq!(r, Some(7));
        // no document after all: nothing stays
        let none = b.push_with("i", |buf| {
            buf.extend_from_slice(b"{\"dropped\":1}");
            None::<(&str, ())>
        });
        assert!(none.is_none());
        // ids of other lengths and ids needing escapes move the source
        b.push_with("i", |buf| {
            buf.extend_from_slice(b"{\"n\":2}");
            Some(("short", ()))
        });
        b.push_with("i", |buf| {
            buf.extend_from_slice(b"{\"n\":3}");
            Some(("a\"b".repeat(20), ()))
        });
        // not an object: refused, the buffer as it was
        b.push_with("i", |buf| {
            buf.extend_from_slice(b"[3]");
            Some(("z", ()))
        });
        b.push_with("i", |buf| {
            buf.extend_from_slice(b"{\"n\":4}");
            Some((id28, ()))
        });
        let d = b.finish();
        let mut want = BulkDocsBuilder::new();
        want.push(req("i", id28, "{\"n\":1}"));
        want.push(req("i", "short", "{\"n\":2}"));
        want.push(req("i", &"a\"b".repeat(20), "{\"n\":3}"));
        want.push(req("i", id28, "{\"n\":4}"));
        let want = want.finish();
        assert_eq!(d.body(0).0, want.body(0).0);
        assert_eq!(d.to_requests()[..4], want.to_requests()[..]);
        assert_eq!(d.refused().len(), 1);
        assert_eq!(d.refused()[0].0, req("i", "z", "[3]"));
    }

    #[test]
    fn slices_and_picks_share_bytes_and_gzip_roundtrips() {
        use std::io::Read as _;
        let reqs: Vec<_> = (0..5)
            .map(|i| req("i", &format!("id{i}"), &format!("{{\"n\":{i}}}")))
            .collect();
        let d = BulkDocs::from(reqs.clone());
        let (whole, _) = d.body(0);
        let (first, _) = d.slice(0..2).body(0);
        assert!(whole.starts_with(&first));
        let picked = d.pick(&[1, 3]);
        assert_eq!(picked.to_requests(), vec![reqs[1].clone(), reqs[3].clone()]);
        let (raw, len) = picked.body(0);
        assert_eq!(raw.len(), len);
        let (z, zlen) = picked.body(1);
        assert_eq!(zlen, len);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, raw.to_vec());
        let (a, b) = d.split_at(2);
        assert_eq!(a.len() + b.len(), 5);
        let mut again = BulkDocsBuilder::new();
        again.extend(&b);
        again.extend(&a);
        let again = again.finish();
        assert_eq!(again.to_requests()[0], reqs[2]);
        assert_eq!(again.to_requests()[4], reqs[1]);
        assert_eq!(again.wire_len(), d.wire_len());
    }
}
